"""Case assembly: one case per after-sales request, cancellation request and appeal, with features.

The SQL lives in `models/` (stage `score`): staged rows are de-duplicated, joined to their
order (order-level amounts taken once, never summed across SKU lines), SKU line, shop, evidence
and timeline (`int_case_*`), every catalogued feature is computed in `int_case_facts` and the
pack-dependent ones in `int_case_features`, the table rule conditions read. This module does
what the models cannot: it installs the business-day calendar and macros they call and loads
the packs' settings (`reason_classes`, `cancel_reason_classes`, `price_band`, `mall_shops`,
scope) from rules/ as small tables, then runs the models.
"""

from __future__ import annotations

import datetime as dt

from aftersales.local_time import install_shop_local_macro
from aftersales.policy.business_days import create_calendar
from aftersales.policy.features import FEATURE_NAMES
from aftersales.rulepack import RuleBook
from aftersales.sla.market_calendar import MARKET_CALENDARS
from aftersales.sql_models import load_models, run_model, run_models

CASE_TABLE = "int_case_features"
FACTS_TABLE = "int_case_facts"
EVIDENCE_TABLE = "int_case_evidence_items"
BASE_TABLE = "int_case_base"
FEATURE_ROWS_TABLE = "int_case_feature_rows"  # this batch's case_features rows, without run_id


def install_case_macros(con) -> None:
    """Macros the case models and the evidence check share, so each test is written once.

    An evidence item is valid when ingestion flagged it so, it has bytes and a well-formed SHA-256.
    """
    con.execute(
        """
        CREATE OR REPLACE TEMP MACRO evidence_item_valid(is_valid, size_bytes, sha256) AS
            coalesce(is_valid, FALSE) AND coalesce(size_bytes, 0) > 0
            AND coalesce(regexp_full_match(sha256, '[0-9a-fA-F]{64}'), FALSE)
        """
    )


def load_pack_settings(con, book: RuleBook) -> None:
    """Pack scope and the settings case assembly needs, as small temp tables (policy_*)."""
    scope, reasons, cancels, bands, malls = [], [], [], [], []
    for pack in book.packs:
        for m in pack.markets:
            for p in pack.programs:
                scope.append((m, p, pack.id))
        for cls, codes in (pack.settings.get("reason_classes") or {}).items():
            reasons += [(pack.id, code, cls) for code in codes]
        for cls, codes in (pack.settings.get("cancel_reason_classes") or {}).items():
            cancels += [(pack.id, code, cls) for code in codes]
        band = pack.settings.get("price_band") or {}
        if band:
            bands.append((pack.id, float(band["pivot"]), band.get("pivot_band", "low")))
        malls += [(pack.id, str(s)) for s in pack.settings.get("mall_shops") or ()]
    for name, cols, rows in (
        ("policy_pack_scope", "market VARCHAR, program VARCHAR, pack_id VARCHAR", scope),
        ("policy_reason_class", "pack_id VARCHAR, code VARCHAR, cls VARCHAR", reasons),
        ("policy_cancel_class", "pack_id VARCHAR, code VARCHAR, cls VARCHAR", cancels),
        ("policy_price_band", "pack_id VARCHAR, pivot_price DECIMAL(18,2), pivot_band VARCHAR", bands),
        ("policy_mall_shop", "pack_id VARCHAR, shop_id VARCHAR", malls),
    ):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} ({cols})")
        if rows:
            con.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * len(rows[0]))})", rows)


def _calendar_range(con, batch_date: dt.date) -> tuple[dt.date, dt.date]:
    lo = con.execute(
        """
        SELECT least(
            (SELECT min(least(created_time, paid_time)) FROM stg_order_lines),
            (SELECT min(request_time) FROM stg_aftersales_requests),
            (SELECT min(request_time) FROM stg_cancellations),
            (SELECT min(least(appeal_available_time, submitted_time)) FROM stg_appeals))::DATE
        """
    ).fetchone()[0]
    first = (lo or batch_date) - dt.timedelta(days=10)
    return min(first, batch_date - dt.timedelta(days=10)), batch_date + dt.timedelta(days=40)


def build_cases(con, batch_date: dt.date, book: RuleBook) -> int:
    """Build the score stage's models up to `int_case_features` (one row per case); return its size.

    Cases whose shop is missing from the registry cannot be placed in a market and are left out
    (counted by `count_cases_without_shop`).
    """
    # Markets without a contract calendar get none: their business-day features stay NULL.
    markets = [
        r[0]
        for r in con.execute("SELECT DISTINCT market FROM stg_shops").fetchall()
        if r[0] in MARKET_CALENDARS
    ]
    first, last = _calendar_range(con, batch_date)
    create_calendar(con, markets or ["US"], first, last)
    install_case_macros(con)
    install_shop_local_macro(con)
    load_pack_settings(con, book)
    run_models(con, "score", {"batch_date": batch_date})
    columns = tuple(r[0] for r in con.execute(f"DESCRIBE {CASE_TABLE}").fetchall())
    if columns != FEATURE_NAMES:
        missing = sorted(set(FEATURE_NAMES) - set(columns))
        extra = sorted(set(columns) - set(FEATURE_NAMES))
        raise RuntimeError(
            f"case assembly drifted from the feature catalogue: missing {missing}, extra {extra}"
        )
    return con.execute(f"SELECT count(*) FROM {CASE_TABLE}").fetchone()[0]


def apply_pack_settings(con, book: RuleBook) -> None:
    """(Re)build `int_case_features` from `int_case_facts` under `book`'s pack settings.

    Run when stored cases are re-scored under candidate packs (the nightly builds it with the
    other models).
    """
    load_pack_settings(con, book)
    run_model(con, load_models()[CASE_TABLE], {})


def count_cases_without_shop(con) -> int:
    """Requests, cancellations and appeals whose shop is not in the registry (not judged)."""
    return con.execute(
        f"SELECT count(*) FROM {BASE_TABLE} b "
        "WHERE NOT EXISTS (SELECT 1 FROM stg_shops s WHERE s.shop_id = b.shop_id)"
    ).fetchone()[0]
