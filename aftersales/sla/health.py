"""Seller health: SFCR, LDR, chat reply rate and SFRR per shop for one batch (policy.md §I).

Rules live in `rules/<pack>/health.yaml`; the rule version in force on batch_date is used. Every
metric is a ratio over a trailing window of `window_days` shop-local calendar days ending with
batch_date (as of 24:00 local, contract §1), computed in SQL over whole tables:

  sfcr             seller-fault cancelled orders / orders placed in the window (an order
                   cancelled before it was ever paid is not an order and counts nowhere).
                   An order placed (created, shop-local date) in the window is seller-fault
                   cancelled, as of the batch, when one of its lines was cancelled by a party in
                   `seller_fault.cancel_by`; or by the buyer with a reason in
                   `seller_fault.buyer_reasons` (TH: "Late shipment"); or by the system with a reason
                   in `seller_fault.system_reasons` or after one of the order's
                   `seller_fault.system_after_missed` clocks had passed unmet; or when the seller
                   itself requested the cancellation (stg_cancellations).
  ldr              orders whose carrier hand-over came after the dispatch deadline / orders handed
                   over (shipped, shop-local date) in the window. Uses the dispatch clocks met by
                   `order_shipped` (in SEA the hand-over step, not ready-to-ship); orders with no
                   dispatch clock in force (pre-orders, no rule) are in neither count.
  chat_reply_rate  customer-initiated waits answered by their due time / waits whose due time fell
                   in the window and has passed (open waits are not counted yet).
  sfrr             orders with an after-sales request for a seller-fault reason made in the
                   window / orders placed in the window. Reasons in `seller_fault_reasons` always
                   count; reasons in `liability_reasons` (damaged, lost: the platform decides
                   between seller and carrier, row 34) count only when this batch's ruling holds
                   the seller liable.

The clock-based inputs (dispatch and chat clocks, missed deadlines) are the obligations the SLA
stage left in the work database (`obligations.ensure_obligations` rebuilds them when they are
missing or were built for another batch date, rule set or staging content).

Value is a fraction (0.025 = 2.5 %). Status: `no_data` (value NULL) when the metric has no
denominator in its window (a listed shop with no orders, chats or requests: nothing measured is
not the same as meeting the target); `ok` when value meets `target` as written (e.g. "<= 0.025"
vs "< 0.025"); otherwise `breach` when the rule has no `breach` band or value is in it, else
`warning`.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aftersales.rulepack import Rule, RuleBook, RulePackError, load_rulebook
from aftersales.sla.clocks import first_competing_pair, load_clock_rules
from aftersales.sla.obligations import OBLIGATIONS_READ_SQL, ORDERS_TABLE, connect_work_db, ensure_obligations
from aftersales.vocabulary import HEALTH_METRICS
from aftersales.warehouse_schema import RESULT_DDL

HEALTH_FILE = "health.yaml"
METRICS = HEALTH_METRICS
OPS = ("<", "<=", ">", ">=")
LOWER_IS_BETTER = {"<", "<="}
NO_DATA = "no_data"  # status of a metric with no denominator in its window (value NULL)


@dataclass(frozen=True)
class Comparison:
    op: str
    value: float

    def holds(self, x: float) -> bool:
        return {"<": x < self.value, "<=": x <= self.value, ">": x > self.value, ">=": x >= self.value}[
            self.op
        ]


@dataclass(frozen=True)
class HealthRule:
    rule: Rule
    metric: str
    window_days: int
    target: Comparison
    breach: Comparison | None
    cancel_by: tuple[str, ...] = ()
    buyer_reasons: tuple[str, ...] = ()
    system_after_missed: tuple[str, ...] = ()
    system_reasons: tuple[str, ...] = ()
    fault_reasons: tuple[str, ...] = ()
    liability_reasons: tuple[str, ...] = ()

    def status(self, value: float | None) -> str:
        """Python mirror of the SQL status, for documentation and rule tests."""
        if value is None:
            return NO_DATA
        if self.target.holds(value):
            return "ok"
        return "breach" if self.breach is None or self.breach.holds(value) else "warning"


def _comparison(raw: Any, where: str, name: str) -> Comparison:
    if not isinstance(raw, dict) or raw.get("op") not in OPS:
        raise RulePackError(f"{where}: {name} must be {{op: one of {OPS}, value: number}}")
    value = raw.get("value")
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
        raise RulePackError(f"{where}: {name} value must be a fraction between 0 and 1, got {value!r}")
    return Comparison(raw["op"], float(value))


def _labels(raw: Any, where: str, name: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(x, str) and x.strip() for x in raw):
        raise RulePackError(f"{where}: {name} must be a list of labels")
    return tuple(_normalise_label(x) for x in raw)


def _normalise_label(label: str) -> str:
    """Labels compare case-insensitively and with typographic apostrophes folded (SQL: `_label_sql`)."""
    return label.strip().lower().replace("\u2019", "'")


def _label_sql(column: str) -> str:
    return f"replace(lower(trim({column})), '\u2019', '''')"


def parse_health_rule(rule: Rule) -> HealthRule:
    """Validate the body of one health.yaml rule; raises RulePackError naming pack and rule."""
    where = f"pack {rule.pack}, {rule.file}, rule {rule.id} v{rule.version}"
    body = rule.body
    known = {
        "metric",
        "window_days",
        "target",
        "breach",
        "seller_fault",
        "seller_fault_reasons",
        "liability_reasons",
    }
    unknown = set(body) - known
    if unknown:
        raise RulePackError(f"{where}: unknown key(s) {sorted(unknown)}")
    metric = body.get("metric")
    if metric not in METRICS:
        raise RulePackError(f"{where}: metric must be one of {METRICS}, got {metric!r}")
    window = body.get("window_days")
    if not isinstance(window, int) or isinstance(window, bool) or window < 1:
        raise RulePackError(f"{where}: window_days must be a positive integer, got {window!r}")
    target = _comparison(body.get("target"), where, "target")
    breach = _comparison(body["breach"], where, "breach") if body.get("breach") is not None else None
    if breach is not None:
        lower = target.op in LOWER_IS_BETTER
        if (breach.op in LOWER_IS_BETTER) == lower:
            raise RulePackError(f"{where}: breach band must lie on the failing side of the target")
        probe = [target.value, breach.value, (target.value + breach.value) / 2]
        if (
            any(target.holds(x) and breach.holds(x) for x in probe)
            or (lower and breach.value < target.value)
            or (not lower and breach.value > target.value)
        ):
            raise RulePackError(f"{where}: breach band overlaps the target")
    extra: dict[str, tuple[str, ...]] = {}
    if metric == "sfcr":
        fault = body.get("seller_fault")
        if not isinstance(fault, dict) or set(fault) - {
            "cancel_by",
            "buyer_reasons",
            "system_reasons",
            "system_after_missed",
        }:
            raise RulePackError(
                f"{where}: sfcr needs seller_fault {{cancel_by, buyer_reasons?, system_reasons?, system_after_missed?}}"
            )
        extra["cancel_by"] = _labels(fault.get("cancel_by"), where, "seller_fault.cancel_by")
        extra["buyer_reasons"] = _labels(fault.get("buyer_reasons"), where, "seller_fault.buyer_reasons")
        extra["system_reasons"] = _labels(fault.get("system_reasons"), where, "seller_fault.system_reasons")
        missed = tuple(fault.get("system_after_missed") or ())
        if any(m not in ("dispatch", "auto_cancel") for m in missed):
            raise RulePackError(f"{where}: system_after_missed takes dispatch, auto_cancel")
        extra["system_after_missed"] = missed
        if not extra["cancel_by"]:
            raise RulePackError(f"{where}: seller_fault.cancel_by must name at least one party")
    elif "seller_fault" in body:
        raise RulePackError(f"{where}: seller_fault applies to sfcr only")
    if metric == "sfrr":
        extra["fault_reasons"] = _labels(body.get("seller_fault_reasons"), where, "seller_fault_reasons")
        extra["liability_reasons"] = _labels(body.get("liability_reasons"), where, "liability_reasons")
        if not extra["fault_reasons"]:
            raise RulePackError(f"{where}: sfrr needs seller_fault_reasons")
    elif "seller_fault_reasons" in body or "liability_reasons" in body:
        raise RulePackError(f"{where}: reason lists apply to sfrr only")
    return HealthRule(rule=rule, metric=metric, window_days=window, target=target, breach=breach, **extra)


def load_health_rules(rules: Path | str | RuleBook | None = None) -> list[HealthRule]:
    """Every health rule of every pack, validated; one per (pack, metric, market, program) per day."""
    book = rules if isinstance(rules, RuleBook) else load_rulebook(rules)
    parsed = [parse_health_rule(r) for r in book.all_rules(HEALTH_FILE)]
    clash = first_competing_pair(parsed, lambda h: (h.rule.pack, h.metric))
    if clash:
        (pack, metric, market, program), a, b = clash
        raise RulePackError(
            f"pack {pack}: health rules {a.rule.id} v{a.rule.version} and {b.rule.id} "
            f"v{b.rule.version} both set {metric} for {market}/{program} from {b.rule.effective_from}"
        )
    return parsed


HEALTH_RULES_DDL = """
CREATE OR REPLACE TEMP TABLE health_rules (
    rule_id VARCHAR, rule_version INTEGER, market VARCHAR, program VARCHAR, metric VARCHAR,
    window_days INTEGER, target_op VARCHAR, target_value DOUBLE, breach_op VARCHAR, breach_value DOUBLE,
    cancel_by VARCHAR[], buyer_reasons VARCHAR[], system_reasons VARCHAR[], system_after_missed VARCHAR[],
    fault_reasons VARCHAR[], liability_reasons VARCHAR[]
)"""


def install_health_rules(con, rules: list[HealthRule], day: dt.date) -> int:
    """TEMP table `health_rules`: the versions in force on `day`, one row per market/program."""
    con.execute(HEALTH_RULES_DDL)
    rows = [
        (
            h.rule.id,
            h.rule.version,
            m,
            p,
            h.metric,
            h.window_days,
            h.target.op,
            h.target.value,
            h.breach.op if h.breach else None,
            h.breach.value if h.breach else None,
            list(h.cancel_by),
            list(h.buyer_reasons),
            list(h.system_reasons),
            list(h.system_after_missed),
            list(h.fault_reasons),
            list(h.liability_reasons),
        )
        for h in rules
        if h.rule.in_force(day)
        for m in h.rule.markets
        for p in h.rule.programs
    ]
    if rows:
        values = ", ".join(f"({', '.join('?' * 16)})" for _ in rows)
        con.execute(f"INSERT INTO health_rules VALUES {values}", [v for row in rows for v in row])
    return len(rows)


def _cmp(value: str, op: str, bound: str) -> str:
    return (
        f"CASE {op} WHEN '<' THEN {value} < {bound} WHEN '<=' THEN {value} <= {bound} "
        f"WHEN '>' THEN {value} > {bound} WHEN '>=' THEN {value} >= {bound} END"
    )


def _health_sql(has_rulings: bool) -> str:
    liable_seller = (
        "EXISTS (SELECT 1 FROM rulings AS ru WHERE ru.batch_date = CAST($batch_date AS DATE) "
        "AND ru.case_id = q.return_order_id AND ru.liable_party = 'seller')"
        if has_rulings
        else "FALSE"
    )
    return f"""
WITH obligations AS (
    {OBLIGATIONS_READ_SQL}
), base AS (
    SELECT s.shop_id, s.market, s.program, s.timezone, s.as_of, r.*,
           CAST($batch_date AS DATE) - (r.window_days - 1) AS window_start,
           CAST($batch_date AS DATE) AS window_end
    FROM sla_shops AS s JOIN health_rules AS r USING (market, program)
), placed AS (   -- orders placed in each shop's window (denominator of sfcr and sfrr)
    SELECT b.shop_id, b.metric, o.order_id
    FROM base AS b JOIN {ORDERS_TABLE} AS o ON o.shop_id = b.shop_id
    WHERE b.metric IN ('sfcr', 'sfrr')
      AND CAST(timezone(b.timezone, o.created_at) AS DATE) BETWEEN b.window_start AND b.window_end
      AND (o.was_paid OR o.cancelled_at IS NULL)   -- never paid and cancelled: not an order
), missed AS (   -- per order, the earliest due instant of a system_after_missed clock that passed unmet
    SELECT ob.shop_id, ob.entity_id AS order_id, min(ob.due_at) AS first_missed_due
    FROM base AS b
    JOIN obligations AS ob ON ob.shop_id = b.shop_id AND ob.entity_kind = 'order'
    WHERE b.metric = 'sfcr' AND list_contains(b.system_after_missed, ob.sla_id)
      AND (ob.met_at IS NULL OR ob.met_at > ob.due_at)
    GROUP BY ob.shop_id, ob.entity_id
), seller_cancelled AS (
    SELECT DISTINCT b.shop_id, l.order_id
    FROM base AS b
    JOIN stg_order_lines AS l ON l.shop_id = b.shop_id
    LEFT JOIN missed AS ms ON ms.shop_id = l.shop_id AND ms.order_id = l.order_id
    WHERE b.metric = 'sfcr' AND l.cancelled_time <= b.as_of AND (
          list_contains(b.cancel_by, {_label_sql("l.cancel_by")})
       OR ({_label_sql("l.cancel_by")} = 'buyer' AND list_contains(b.buyer_reasons, {_label_sql("l.cancel_reason")}))
       OR ({_label_sql("l.cancel_by")} = 'system' AND list_contains(b.system_reasons, {_label_sql("l.cancel_reason")}))
       OR ({_label_sql("l.cancel_by")} = 'system' AND ms.first_missed_due <= l.cancelled_time))
    UNION
    SELECT b.shop_id, c.order_id
    FROM base AS b
    JOIN stg_cancellations AS c ON c.shop_id = b.shop_id
    WHERE b.metric = 'sfcr' AND {_label_sql("c.requested_by")} = 'seller' AND c.cancelled_time <= b.as_of
), sfcr AS (
    SELECT p.shop_id, 'sfcr' AS metric, count(sc.order_id) AS numerator, count(*) AS denominator
    FROM placed AS p LEFT JOIN seller_cancelled AS sc USING (shop_id, order_id)
    WHERE p.metric = 'sfcr'
    GROUP BY p.shop_id
), ldr AS (
    SELECT b.shop_id, 'ldr' AS metric,
           count(*) FILTER (WHERE ob.met_at > ob.due_at) AS numerator, count(*) AS denominator
    FROM base AS b
    JOIN obligations AS ob
      ON ob.shop_id = b.shop_id AND ob.sla_id = 'dispatch' AND list_contains(ob.end_events, 'order_shipped')
    WHERE b.metric = 'ldr' AND ob.status <> 'void' AND ob.met_at IS NOT NULL
      AND CAST(timezone(b.timezone, ob.met_at) AS DATE) BETWEEN b.window_start AND b.window_end
    GROUP BY b.shop_id
), chat AS (
    SELECT b.shop_id, 'chat_reply_rate' AS metric,
           count(*) FILTER (WHERE ob.met_at <= ob.due_at) AS numerator, count(*) AS denominator
    FROM base AS b
    JOIN obligations AS ob ON ob.shop_id = b.shop_id AND ob.sla_id = 'chat_reply'
    WHERE b.metric = 'chat_reply_rate' AND ob.due_at <= ob.as_of
      AND ob.due_local_date BETWEEN b.window_start AND b.window_end
    GROUP BY b.shop_id
), requests AS (
    SELECT shop_id, return_order_id, any_value(order_id) AS order_id,
           {_label_sql("any_value(return_reason)")} AS reason, min(request_time) AS request_time
    FROM stg_aftersales_requests
    GROUP BY shop_id, return_order_id
), sfrr AS (
    SELECT b.shop_id, 'sfrr' AS metric,
           (SELECT count(DISTINCT q.order_id) FROM requests AS q
            WHERE q.shop_id = b.shop_id AND q.request_time <= b.as_of
              AND CAST(timezone(b.timezone, q.request_time) AS DATE) BETWEEN b.window_start AND b.window_end
              AND (list_contains(b.fault_reasons, q.reason)
                   OR (list_contains(b.liability_reasons, q.reason) AND {liable_seller}))) AS numerator,
           (SELECT count(*) FROM placed AS p WHERE p.shop_id = b.shop_id AND p.metric = 'sfrr') AS denominator
    FROM base AS b
    WHERE b.metric = 'sfrr'
), measured AS (
    SELECT * FROM sfcr UNION ALL SELECT * FROM ldr UNION ALL SELECT * FROM chat UNION ALL SELECT * FROM sfrr
), valued AS (
    SELECT b.*, coalesce(m.numerator, 0) AS numerator, coalesce(m.denominator, 0) AS denominator,
           CAST(m.numerator AS DOUBLE) / nullif(m.denominator, 0) AS value
    FROM base AS b LEFT JOIN measured AS m USING (shop_id, metric)
)
SELECT CAST($batch_date AS DATE) AS batch_date, CAST($run_id AS VARCHAR) AS run_id, shop_id, metric, value,
       target_value AS threshold, window_days,
       CASE WHEN value IS NULL THEN '{NO_DATA}'
            WHEN {_cmp("value", "target_op", "target_value")} THEN 'ok'
            WHEN breach_op IS NULL OR {_cmp("value", "breach_op", "breach_value")} THEN 'breach'
            ELSE 'warning' END AS status,
       numerator, denominator, market, rule_id, rule_version,
       target_op AS comparison, breach_value AS breach_threshold
FROM valued
ORDER BY shop_id, metric
"""


@dataclass(frozen=True)
class HealthSummary:
    batch_date: str
    run_id: str
    shops: int
    rows: int
    by_status: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    obligations: int = 0
    obligations_reused: bool = False  # read from the SLA stage's work tables rather than rebuilt


def compute_seller_health(work_db: Path, batch_date: dt.date, run_id: str, rules_dir: Path) -> HealthSummary:
    """Compute the four health metrics of every shop and replace this batch's seller_health rows."""
    started = time.perf_counter()
    book = load_rulebook(rules_dir)
    clocks = load_clock_rules(book)
    health_rules = load_health_rules(book)
    con = connect_work_db(work_db)
    try:
        build = ensure_obligations(con, batch_date, clocks, run_id)
        install_health_rules(con, health_rules, batch_date)
        has_rulings = bool(
            con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'rulings' "
                "AND table_schema = 'main' AND table_catalog = current_database()"
            ).fetchall()[0][0]
        )
        con.execute("BEGIN TRANSACTION")
        con.execute(RESULT_DDL["seller_health"])
        con.execute("DELETE FROM seller_health WHERE batch_date = ?", [batch_date])
        con.execute(
            f"INSERT INTO seller_health BY NAME {_health_sql(has_rulings)}",
            {"batch_date": batch_date, "run_id": run_id},
        )
        con.execute("COMMIT")
        by_status = dict(
            con.execute(
                "SELECT status, count(*) FROM seller_health WHERE batch_date = ? GROUP BY ALL ORDER BY ALL",
                [batch_date],
            ).fetchall()
        )
        shops = con.execute(
            "SELECT count(DISTINCT shop_id) FROM seller_health WHERE batch_date = ?", [batch_date]
        ).fetchall()[0][0]
    finally:
        con.close()  # an uncommitted transaction (a failure mid-write) is rolled back here
    return HealthSummary(
        batch_date=batch_date.isoformat(),
        run_id=run_id,
        shops=shops,
        rows=sum(by_status.values()),
        by_status=by_status,
        seconds=round(time.perf_counter() - started, 3),
        obligations=build.obligations,
        obligations_reused=build.reused,
    )
