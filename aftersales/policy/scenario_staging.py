"""A scenario's facts written into real staging tables: one shop, order lines, case rows, evidence.

Each scenario gets its own ids (derived from its pack and number); times are shop-local wall
times, turned into instants with the shop's zone as the exports' readers do. Columns are checked
against the staging DDL, so a misspelt column in a scenario file is named, not ignored.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import pandas as pd

from aftersales.rulepack import RulePackError

if TYPE_CHECKING:
    from aftersales.policy.scenarios import Scenario

_STAGING_TYPES: dict[str, dict[str, str]] = {}


def _columns(con, table: str) -> dict[str, str]:
    if table not in _STAGING_TYPES:
        _STAGING_TYPES[table] = {r[0]: r[1] for r in con.execute(f"DESCRIBE {table}").fetchall()}
    return _STAGING_TYPES[table]


class ScenarioRows:
    """Staging rows collected per table and inserted in one statement each (times are shop-local)."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {}

    def add(self, con, table: str, values: dict[str, Any], tz: str, where: str) -> None:
        unknown = set(values) - set(_columns(con, table))
        if unknown:
            raise RulePackError(f"{where}: unknown {table} columns {sorted(unknown)}")
        self.rows.setdefault(table, []).append({**values, "_tz": tz})

    def flush(self, con) -> None:
        for table, rows in self.rows.items():
            types = _columns(con, table)
            names = sorted({k for r in rows for k in r if k != "_tz"})
            frame = pd.DataFrame(
                [
                    {k: (str(r[k]) if k in r and r[k] is not None else None) for k in names}
                    | {"_tz": r["_tz"]}
                    for r in rows
                ],
                dtype=object,
            )
            exprs = [
                f"timezone(_tz, CAST({n} AS TIMESTAMP)) AS {n}"
                if types[n].startswith("TIMESTAMP")
                else f"CAST({n} AS {types[n]}) AS {n}"
                for n in names
            ]
            con.register("scenario_rows", frame)
            con.execute(f"INSERT INTO {table} BY NAME SELECT {', '.join(exprs)} FROM scenario_rows")
            con.unregister("scenario_rows")
        self.rows.clear()


def _sha(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def write_scenario(con, s: Scenario, rows: ScenarioRows) -> None:
    """Insert one scenario's shop, order lines, case rows and evidence into staging tables."""
    spec, p = s.spec, s.prefix
    where = f"pack {s.pack}, {s.file}, scenario '{s.name}'"
    shop = spec["shop"]
    tz = shop.get("timezone", "UTC")
    shop_id, order_id = f"{p}-SHOP", f"{p}-O"
    src = {"source_file": f"scenarios/{s.file}", "line_number": s.number}
    rows.add(
        con,
        "stg_shops",
        {
            "shop_id": shop_id,
            "shop_name": s.name[:40],
            "market": shop["market"],
            "program": shop["program"],
            "ship_from": shop.get("ship_from"),
            "timezone": tz,
            "chatbots_enabled": bool(shop.get("chatbots_enabled", False)),
        },
        tz,
        where,
    )
    if spec.get("order") is not None:
        base = dict(spec["order"])
        lines = spec.get("lines") or [{}]
        for n, line in enumerate(lines, 1):
            row = {"sku_id": f"{p}-SKU{n}", "quantity": 1, **base, **line}
            rows.add(
                con, "stg_order_lines", {"shop_id": shop_id, "order_id": order_id, **row, **src}, tz, where
            )
    request_id = f"{p}-R"
    if spec.get("request"):
        row = {"sku_id": f"{p}-SKU1", **spec["request"]}
        rows.add(
            con,
            "stg_aftersales_requests",
            {"shop_id": shop_id, "return_order_id": request_id, "order_id": order_id, **row, **src},
            tz,
            where,
        )
    if spec.get("cancellation"):
        rows.add(
            con,
            "stg_cancellations",
            {
                "shop_id": shop_id,
                "cancellation_id": f"{p}-C",
                "order_id": order_id,
                **spec["cancellation"],
                **src,
            },
            tz,
            where,
        )
    if spec.get("appeal"):
        rows.add(
            con,
            "stg_appeals",
            {
                "shop_id": shop_id,
                "appeal_id": f"{p}-A",
                "return_order_id": request_id,
                **spec["appeal"],
                **src,
            },
            tz,
            where,
        )
    for n, ev in enumerate(spec.get("evidence") or [], 1):
        target = {"request": request_id, "cancellation": f"{p}-C", "appeal": f"{p}-A"}.get(
            ev.get("case"), s.case_id
        )
        name = f"{p}-E{n}.bin"
        sha = ev.get("sha", "good")
        sha = _sha(name) if sha == "good" else ("not-a-hash" if sha == "bad" else sha)
        size = ev.get("size", 2048)
        valid = bool(size and size > 0 and len(sha) == 64)
        rows.add(
            con,
            "stg_evidence",
            {
                "shop_id": shop_id,
                "case_id": target,
                "submitted_by": ev["by"],
                "evidence_type": ev["type"],
                "uploaded_time": ev.get("at"),
                "file_name": name,
                "file_size_bytes": size,
                "sha256": sha,
                "is_valid": valid,
                **src,
            },
            tz,
            where,
        )
