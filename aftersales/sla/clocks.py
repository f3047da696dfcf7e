"""SLA clock definitions: the body of every rule in `rules/<pack>/sla.yaml`, validated and flattened.

A clock rule says when an obligation (or a right's window) starts, which event meets it, how
long it runs and for which price bands / weekdays a different length applies. The values are
policy and live only in YAML; this module knows the *vocabulary*: which events exist for which
contract `sla_id` (§3) and how a duration is written.

Body keys of a clock rule (besides the common metadata of `aftersales.rulepack`):

    sla_id:    one of SLA_CATALOGUE (contract §3)
    stage:     optional; names one step of a multi-step clock (e.g. dispatch ready_to_ship and
               handover in SEA). Part of the breach id, so both steps of one order stay apart.
    start:     the event that starts the clock (one of the sla_id's start events)
    end:       event or list of events; the earliest one that happened meets the clock
    void_on:   optional event(s): an unmet clock ends without breach if one happens before the
               due time (order cancelled before its dispatch deadline, request auto-approved by
               the platform up front, buyer cancellation auto-approved in the free window)
    order_types: optional list of "Normal or Pre-order" values the clock applies to (NULL = Normal)
    duration:  {amount, unit, at?, weekday?}  the default length
    bands:     optional list of {when: {...}, duration: {...}}; the first band whose conditions all
               hold wins, else `duration` (also used when a condition's input is unknown).
               Conditions: item_price: {lt|lte|gt|gte: number}; start_weekday: [Mon..Sun]
               (shop-local); chatbots_enabled: true|false.

Duration units:
    hours               elapsed time (contract §4); `at` not allowed
    calendar_days       the same local clock time `amount` days later, or `at` on that day
    business_days       contract §4: the same local clock time on the amount-th business day after
                        the start's date (from 00:00 of the next business day when the start is on
                        a non-business day), or `at` on that day
    next_business_day   `at` on the first business day after the start's date
    next_weekday        `at` on the first `weekday` (Mon..Sun) after the start's date

This module only parses and validates; `install_clock_rules` hands the rules to SQL as the table
`sla_clock_rules`. The due time itself is computed in one place: `models/sla_obligations.sql`
(`due_at`; the local due day of day-based units comes from `models/int_sla_rule_days.sql`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aftersales.rulepack import Rule, RuleBook, RulePackError, load_rulebook

SLA_FILE = "sla.yaml"

# What each contract sla_id measures: the entity its entity_id names, the events a rule may use,
# and whether it is the seller's obligation or a party's right with a closing window.
OBLIGATION = "obligation"  # breach = met late, or unmet when due passes
RIGHT_WINDOW = "right_window"  # breach = exercised after the window closed; lapsing is no breach


@dataclass(frozen=True)
class SlaKind:
    entity: str
    starts: tuple[str, ...]
    ends: tuple[str, ...]
    voids: tuple[str, ...]
    semantics: str


SLA_CATALOGUE: dict[str, SlaKind] = {
    "chat_reply": SlaKind("message", ("buyer_wait_started",), ("seller_reply",), (), OBLIGATION),
    "aftersales_response": SlaKind(
        "request", ("request_created",), ("seller_response",), ("refund", "platform_decision"), OBLIGATION
    ),
    "return_inspection": SlaKind("request", ("return_delivered",), ("seller_inspection",), (), OBLIGATION),
    "cancellation_response": SlaKind(
        "cancellation",
        ("buyer_cancel_requested",),
        ("seller_response", "order_shipped"),
        ("cancelled",),
        OBLIGATION,
    ),
    "dispatch": SlaKind(
        "order",
        ("order_paid", "order_created"),
        ("order_rts", "order_shipped"),
        ("order_cancelled",),
        OBLIGATION,
    ),
    "auto_cancel": SlaKind(
        "order",
        ("order_paid", "order_created"),
        ("order_rts", "order_shipped"),
        ("order_cancelled",),
        OBLIGATION,
    ),
    "appeal_window": SlaKind(
        "appeal", ("appeal_available", "refund"), ("appeal_submitted",), (), RIGHT_WINDOW
    ),
    "dispute_window": SlaKind("request", ("seller_rejected",), ("buyer_dispute",), (), RIGHT_WINDOW),
}

UNITS = ("hours", "calendar_days", "business_days", "next_business_day", "next_weekday")
WEEKDAYS = {"Mon": 1, "Tue": 2, "Wed": 3, "Thu": 4, "Fri": 5, "Sat": 6, "Sun": 7}
PRICE_OPS = ("lt", "lte", "gt", "gte")


@dataclass(frozen=True)
class Duration:
    amount: float
    unit: str
    at: dt.time | None = None
    weekday: int | None = None  # ISO weekday, for next_weekday


@dataclass(frozen=True)
class Band:
    duration: Duration
    price: dict[str, float]  # op -> bound; empty = no price condition
    start_weekdays: tuple[int, ...] | None = None
    chatbots_enabled: bool | None = None


@dataclass(frozen=True)
class ClockRule:
    rule: Rule
    sla_id: str
    stage: str | None
    start: str
    ends: tuple[str, ...]
    voids: tuple[str, ...]
    order_types: tuple[str, ...] | None
    bands: tuple[Band, ...]  # the explicit bands, then the default as a band without conditions

    @property
    def semantics(self) -> str:
        return SLA_CATALOGUE[self.sla_id].semantics


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _parse_time(value: Any, where: str) -> dt.time:
    if isinstance(value, int):  # YAML 1.1 reads 12:00 unquoted as sexagesimal minutes
        return dt.time(value // 60, value % 60)
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError as exc:
        raise RulePackError(f"{where}: at '{value}' is not a local clock time (HH:MM[:SS])") from exc


def parse_duration(raw: Any, where: str) -> Duration:
    if not isinstance(raw, dict):
        raise RulePackError(f"{where}: duration must be a mapping {{amount, unit}}")
    unit = raw.get("unit")
    if unit not in UNITS:
        raise RulePackError(f"{where}: duration unit must be one of {UNITS}, got {unit!r}")
    at = _parse_time(raw["at"], where) if raw.get("at") is not None else None
    weekday = None
    amount = raw.get("amount", 1 if unit in ("next_business_day", "next_weekday") else None)
    if not isinstance(amount, int | float) or isinstance(amount, bool) or amount <= 0:
        raise RulePackError(f"{where}: duration amount must be a positive number, got {amount!r}")
    if unit in ("calendar_days", "business_days") and amount != int(amount):
        raise RulePackError(f"{where}: {unit} needs a whole number of days, got {amount}")
    if unit == "hours" and at is not None:
        raise RulePackError(f"{where}: 'at' makes no sense for elapsed hours")
    if unit in ("next_business_day", "next_weekday"):
        if at is None:
            raise RulePackError(f"{where}: {unit} needs 'at' (local clock time)")
        if amount != 1:
            raise RulePackError(f"{where}: {unit} takes no amount")
    if unit == "next_weekday":
        weekday = WEEKDAYS.get(raw.get("weekday"))
        if weekday is None:
            raise RulePackError(f"{where}: next_weekday needs weekday, one of {list(WEEKDAYS)}")
    return Duration(amount=float(amount), unit=unit, at=at, weekday=weekday)


def _parse_band(raw: Any, where: str) -> Band:
    if not isinstance(raw, dict) or not isinstance(raw.get("when"), dict) or "duration" not in raw:
        raise RulePackError(f"{where}: every band needs 'when' (mapping) and 'duration'")
    when = dict(raw["when"])
    unknown = set(when) - {"item_price", "start_weekday", "chatbots_enabled"}
    if unknown:
        raise RulePackError(f"{where}: unknown band condition(s) {sorted(unknown)}")
    price = when.get("item_price") or {}
    if not isinstance(price, dict) or set(price) - set(PRICE_OPS):
        raise RulePackError(f"{where}: item_price condition takes {PRICE_OPS}, got {price!r}")
    if any(not isinstance(v, int | float) or isinstance(v, bool) for v in price.values()):
        raise RulePackError(f"{where}: item_price bounds must be numbers")
    weekdays = None
    if "start_weekday" in when:
        names = _as_list(when["start_weekday"])
        if not names or any(n not in WEEKDAYS for n in names):
            raise RulePackError(f"{where}: start_weekday takes {list(WEEKDAYS)}, got {names!r}")
        weekdays = tuple(WEEKDAYS[n] for n in names)
    chatbots = when.get("chatbots_enabled")
    if chatbots is not None and not isinstance(chatbots, bool):
        raise RulePackError(f"{where}: chatbots_enabled must be true or false")
    if not price and weekdays is None and chatbots is None:
        raise RulePackError(f"{where}: a band needs at least one condition")
    return Band(
        duration=parse_duration(raw["duration"], where),
        price={k: float(v) for k, v in price.items()},
        start_weekdays=weekdays,
        chatbots_enabled=chatbots,
    )


def _check_price_bands(bands: list[Band], where: str) -> None:
    """Price bands of one rule must not overlap: probe every bound and just around it."""
    priced = [b for b in bands if b.price and b.start_weekdays is None and b.chatbots_enabled is None]
    bounds = sorted({v for b in priced for v in b.price.values()})
    for probe in {p + d for p in bounds for d in (-0.005, 0.0, 0.005)}:
        hits = [b for b in priced if price_matches(b.price, probe)]
        if len(hits) > 1:
            raise RulePackError(f"{where}: price bands overlap at {probe:.3f}")


def price_matches(price: dict[str, float], value: float) -> bool:
    checks = {
        "lt": value < price.get("lt", 0),
        "lte": value <= price.get("lte", 0),
        "gt": value > price.get("gt", 0),
        "gte": value >= price.get("gte", 0),
    }
    return all(checks[op] for op in price)


def parse_clock_rule(rule: Rule) -> ClockRule:
    """Validate the body of one sla.yaml rule; raises RulePackError naming pack and rule."""
    where = f"pack {rule.pack}, {rule.file}, rule {rule.id} v{rule.version}"
    body = rule.body
    known = {"sla_id", "stage", "start", "end", "void_on", "order_types", "duration", "bands"}
    unknown = set(body) - known
    if unknown:
        raise RulePackError(f"{where}: unknown key(s) {sorted(unknown)}")
    sla_id = body.get("sla_id")
    kind = SLA_CATALOGUE.get(sla_id)
    if kind is None:
        raise RulePackError(f"{where}: sla_id must be one of {list(SLA_CATALOGUE)}, got {sla_id!r}")
    start = body.get("start")
    if start not in kind.starts:
        raise RulePackError(f"{where}: start of {sla_id} must be one of {kind.starts}, got {start!r}")
    ends = tuple(_as_list(body.get("end")))
    if not ends or any(e not in kind.ends for e in ends):
        raise RulePackError(f"{where}: end of {sla_id} must be among {kind.ends}, got {list(ends)}")
    voids = tuple(_as_list(body.get("void_on")))
    if any(v not in kind.voids for v in voids):
        raise RulePackError(f"{where}: void_on of {sla_id} must be among {kind.voids}, got {list(voids)}")
    order_types = body.get("order_types")
    if order_types is not None:
        if kind.entity != "order" or not _as_list(order_types):
            raise RulePackError(f"{where}: order_types applies to order clocks only, as a non-empty list")
        order_types = tuple(str(t) for t in _as_list(order_types))
    stage = body.get("stage")
    if stage is not None and (not isinstance(stage, str) or not stage.isidentifier()):
        raise RulePackError(f"{where}: stage must be a short identifier, got {stage!r}")
    if "duration" not in body:
        raise RulePackError(f"{where}: missing duration")
    bands = [_parse_band(b, f"{where}, band {i + 1}") for i, b in enumerate(_as_list(body.get("bands")))]
    _check_price_bands(bands, where)
    bands.append(Band(duration=parse_duration(body["duration"], where), price={}))
    return ClockRule(
        rule=rule,
        sla_id=sla_id,
        stage=stage,
        start=start,
        ends=ends,
        voids=voids,
        order_types=order_types,
        bands=tuple(bands),
    )


def first_competing_pair(items: Iterable, scope: Callable[[Any], tuple]) -> tuple[tuple, Any, Any] | None:
    """The first (scope + (market, program), earlier, later) in force on a common day, or None.

    `items` carry a `.rule`; `scope(item)` names what at most one item may set per market and
    program on any day (a clock, a health metric), within its pack.
    """
    by_key: dict[tuple, list] = {}
    for item in items:
        for m in item.rule.markets:
            for p in item.rule.programs:
                by_key.setdefault((*scope(item), m, p), []).append(item)
    for key, group in by_key.items():
        group.sort(key=lambda i: i.rule.effective_from)
        for a, b in zip(group, group[1:], strict=False):
            if a.rule.effective_to is None or a.rule.effective_to > b.rule.effective_from:
                return key, a, b
    return None


def _check_no_competing_rules(clocks: list[ClockRule]) -> None:
    """At most one clock per (pack, sla_id, stage, market, program) may be in force on a day."""
    clash = first_competing_pair(clocks, lambda c: (c.rule.pack, c.sla_id, c.stage))
    if clash:
        (pack, sla_id, stage, market, program), a, b = clash
        raise RulePackError(
            f"pack {pack}: rules {a.rule.id} v{a.rule.version} and {b.rule.id} v{b.rule.version} "
            f"both set the {sla_id}{'/' + stage if stage else ''} clock for {market}/{program} "
            f"from {b.rule.effective_from}"
        )


def load_clock_rules(rules: Path | str | RuleBook | None = None) -> list[ClockRule]:
    """Every clock rule of every pack, validated (a rules dir, a loaded RuleBook, or the default)."""
    book = rules if isinstance(rules, RuleBook) else load_rulebook(rules)
    clocks = [parse_clock_rule(r) for r in book.all_rules(SLA_FILE)]
    _check_no_competing_rules(clocks)
    return clocks


CLOCK_RULES_DDL = """
    CREATE OR REPLACE TEMP TABLE {table} (
        rule_idx INTEGER, clock_key INTEGER,
        rule_id VARCHAR, rule_version INTEGER, pack_id VARCHAR, market VARCHAR, program VARCHAR,
        effective_from DATE, effective_to DATE, sla_id VARCHAR, entity_kind VARCHAR, semantics VARCHAR,
        stage VARCHAR,
        start_event VARCHAR, end_events VARCHAR[], void_events VARCHAR[], order_types VARCHAR[],
        band_rank INTEGER, price_lt DOUBLE, price_lte DOUBLE, price_gt DOUBLE, price_gte DOUBLE,
        start_isodows INTEGER[], chatbots_enabled BOOLEAN,
        amount DOUBLE, unit VARCHAR, at_time TIME, weekday INTEGER
    )"""


def clock_rule_rows(clocks: list[ClockRule]) -> list[tuple]:
    """One row per (rule version, market, program, band): the shape SQL joins against.

    The first value, `rule_idx`, numbers the rows so that clocks carry a small integer until the
    end instead of the rule's wide columns (lists, strings); the second, `clock_key`, numbers the
    (sla_id, stage) pairs: an entity has at most one clock per key.
    """
    keys = {k: i for i, k in enumerate(sorted({(c.sla_id, c.stage or "") for c in clocks}))}
    rows = []
    for c in clocks:
        r = c.rule
        for m in r.markets:
            for p in r.programs:
                for rank, band in enumerate(c.bands):
                    d = band.duration
                    rows.append(
                        (
                            len(rows),
                            keys[(c.sla_id, c.stage or "")],
                            r.id,
                            r.version,
                            r.pack,
                            m,
                            p,
                            r.effective_from,
                            r.effective_to,
                            c.sla_id,
                            SLA_CATALOGUE[c.sla_id].entity,
                            c.semantics,
                            c.stage,
                            c.start,
                            list(c.ends),
                            list(c.voids),
                            [t.lower() for t in c.order_types] if c.order_types else None,
                            rank,
                            band.price.get("lt"),
                            band.price.get("lte"),
                            band.price.get("gt"),
                            band.price.get("gte"),
                            list(band.start_weekdays) if band.start_weekdays else None,
                            band.chatbots_enabled,
                            d.amount,
                            d.unit,
                            d.at,
                            d.weekday,
                        )
                    )
    return rows


def install_clock_rules(con, clocks: list[ClockRule], table: str = "sla_clock_rules") -> int:
    """Write the flattened clock rules into a TEMP table; returns the number of rows."""
    con.execute(CLOCK_RULES_DDL.format(table=table))
    rows = clock_rule_rows(clocks)
    if rows:  # one statement: executemany costs a round trip per row
        values = ", ".join(f"({', '.join('?' * len(rows[0]))})" for _ in rows)
        con.execute(f"INSERT INTO {table} VALUES {values}", [v for row in rows for v in row])
    return len(rows)


def max_business_days(clocks: list[ClockRule]) -> int:
    """The longest business-day clock, so the calendar is built wide enough."""
    return max(
        (
            int(b.duration.amount)
            for c in clocks
            for b in c.bands
            if b.duration.unit in ("business_days", "next_business_day")
        ),
        default=1,
    )
