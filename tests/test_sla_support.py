"""A tiny work-database builder for the SLA and health tests: real DuckDB files, hand rows.

Times are written as shop-local wall times ("2026-11-25 10:00") and stored as instants in the
shop's zone, exactly as ingestion stores export times. Rows go in the order given, with rising
line numbers, so a test can put events "out of order in the file".
"""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb

from aftersales.sla import compute_sla
from aftersales.staging import create_staging_tables
from aftersales.warehouse_schema import RESULT_DDL

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"


class WorkDb:
    def __init__(self, path: Path):
        self.path = path
        self.zones: dict[str, ZoneInfo] = {}
        self._line = 1
        self._con = None
        con = duckdb.connect(str(path))
        create_staging_tables(con)
        con.close()

    def at(self, shop_id: str, local: str | None) -> dt.datetime | None:
        return None if local is None else dt.datetime.fromisoformat(local).replace(tzinfo=self.zones[shop_id])

    @contextlib.contextmanager
    def bulk(self):
        """Keep one connection open for many inserts (worlds with dozens of orders)."""
        self._con = duckdb.connect(str(self.path))
        try:
            yield self
        finally:
            self._con.close()
            self._con = None

    def _insert(self, table: str, values: dict) -> None:
        self._line += 1
        values = {**values, "source_file": f"{table}.csv", "line_number": self._line}
        con = self._con or duckdb.connect(str(self.path))
        try:
            cols = ", ".join(values)
            con.execute(
                f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * len(values))})", list(values.values())
            )
        finally:
            if con is not self._con:
                con.close()

    def shop(self, shop_id, market, tz, program="local", chatbots=False):
        self.zones[shop_id] = ZoneInfo(tz)
        con = duckdb.connect(str(self.path))
        try:
            con.execute(
                "INSERT INTO stg_shops VALUES (?, ?, ?, ?, ?, ?, ?)",
                [shop_id, f"{shop_id} store", market, program, market, tz, chatbots],
            )
        finally:
            con.close()
        return self

    def order(
        self,
        shop_id,
        order_id,
        created,
        *,
        paid=None,
        rts=None,
        shipped=None,
        cancelled=None,
        cancel_by=None,
        cancel_reason=None,
        order_type="Normal",
        sku="SKU-1",
        unpaid=False,
    ):
        self._insert(
            "stg_order_lines",
            {
                "shop_id": shop_id,
                "order_id": order_id,
                "sku_id": sku,
                "order_type": order_type,
                "created_time": self.at(shop_id, created),
                "paid_time": None if unpaid else self.at(shop_id, paid or created),
                "rts_time": self.at(shop_id, rts),
                "shipped_time": self.at(shop_id, shipped),
                "cancelled_time": self.at(shop_id, cancelled),
                "cancel_by": cancel_by,
                "cancel_reason": cancel_reason,
            },
        )
        return self

    def request(
        self,
        shop_id,
        return_order_id,
        requested,
        *,
        price,
        order_id=None,
        response=None,
        decision=None,
        reason="Wrong size",
        return_delivered=None,
        inspected=None,
        refund=None,
        dispute=None,
        platform_decision=None,
        return_type="Return and refund",
    ):
        self._insert(
            "stg_aftersales_requests",
            {
                "shop_id": shop_id,
                "return_order_id": return_order_id,
                "order_id": order_id or f"O-{return_order_id}",
                "return_type": return_type,
                "return_reason": reason,
                "request_time": self.at(shop_id, requested),
                "item_price": price,
                "seller_response_time": self.at(shop_id, response),
                "seller_decision": decision,
                "return_delivered_time": self.at(shop_id, return_delivered),
                "seller_inspection_time": self.at(shop_id, inspected),
                "refund_time": self.at(shop_id, refund),
                "buyer_dispute_time": self.at(shop_id, dispute),
                "platform_decision_time": self.at(shop_id, platform_decision),
            },
        )
        return self

    def cancellation(
        self,
        shop_id,
        cancellation_id,
        order_id,
        requested,
        *,
        by="Buyer",
        response=None,
        decision=None,
        cancelled=None,
    ):
        self._insert(
            "stg_cancellations",
            {
                "shop_id": shop_id,
                "cancellation_id": cancellation_id,
                "order_id": order_id,
                "requested_by": by,
                "request_time": self.at(shop_id, requested),
                "seller_response_time": self.at(shop_id, response),
                "seller_decision": decision,
                "cancelled_time": self.at(shop_id, cancelled),
            },
        )
        return self

    def message(
        self,
        shop_id,
        conversation_id,
        message_id,
        role,
        sent,
        *,
        greeting=False,
        order_id="O-1",
        message_type="text",
    ):
        self._insert(
            "stg_messages",
            {
                "shop_id": shop_id,
                "conversation_id": conversation_id,
                "message_id": message_id,
                "order_id": order_id,
                "sender_role": role,
                "message_type": message_type,
                "sent_time": self.at(shop_id, sent),
                "is_greeting": greeting,
                "content_length": 12,
            },
        )
        return self

    def appeal(
        self,
        shop_id,
        appeal_id,
        return_order_id,
        available,
        *,
        submitted=None,
        appeal_type="arbitration_lost",
    ):
        self._insert(
            "stg_appeals",
            {
                "shop_id": shop_id,
                "appeal_id": appeal_id,
                "return_order_id": return_order_id,
                "appeal_type": appeal_type,
                "appeal_available_time": self.at(shop_id, available),
                "submitted_time": self.at(shop_id, submitted),
            },
        )
        return self

    def rows(self, sql: str, params=None, tz: str = "UTC") -> list[dict]:
        """Query the work db; instants come back in `tz` (pass the shop's zone to read local times)."""
        con = duckdb.connect(str(self.path), read_only=True)
        try:
            con.execute(f"SET TimeZone = '{tz}'")
            cur = con.execute(sql, params or [])
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        finally:
            con.close()


def health_inputs(path: Path, batch_date: dt.date, rules_dir: Path = RULES_DIR) -> None:
    """What the health stage reads from the stages before it: the SLA stage's obligations and
    orders (the real stage) and a `rulings` table (empty unless the test filled it)."""
    compute_sla(path, batch_date, "run-sla", rules_dir)
    con = duckdb.connect(str(path))
    try:
        con.execute(RESULT_DDL["rulings"])
    finally:
        con.close()


def local(row_value: dt.datetime | None) -> str | None:
    """An instant read back in the shop's zone, as 'YYYY-MM-DD HH:MM[:SS]' for readable asserts."""
    if row_value is None:
        return None
    fmt = "%Y-%m-%d %H:%M:%S" if row_value.second else "%Y-%m-%d %H:%M"
    return row_value.strftime(fmt)


def test_builder_stores_local_wall_time_as_instant(tmp_path):
    db = WorkDb(tmp_path / "w.duckdb").shop("US-1", "US", "America/Los_Angeles")
    db.order("US-1", "O-1", "2026-11-01 01:30")  # first 01:30 of the DST fall-back night is PDT
    row = db.rows("SELECT created_time FROM stg_order_lines")[0]
    assert row["created_time"] == dt.datetime(2026, 11, 1, 8, 30, tzinfo=dt.UTC)
