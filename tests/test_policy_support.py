"""Helpers for the policy-engine tests: a real DuckDB work database filled by hand, rule-pack copies.

Times are shop-local wall times ("2026-11-25 10:00"), stored as instants in the shop's zone the
way ingestion stores export times. No test functions live here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb

from aftersales.staging import create_staging_tables

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"
BATCH = dt.date(2026, 11, 27)
ZONES = {
    "US": "America/New_York",
    "UK": "Europe/London",
    "TH": "Asia/Bangkok",
    "VN": "Asia/Ho_Chi_Minh",
    "ID": "Asia/Jakarta",
    "MY": "Asia/Kuala_Lumpur",
    "PH": "Asia/Manila",
    "SG": "Asia/Singapore",
}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class StagingDb:
    """A work database with the staging tables, filled one hand-written row at a time."""

    def __init__(self, path: Path):
        self.path = path
        self.zone: dict[str, ZoneInfo] = {}
        self.line = 0
        con = duckdb.connect(str(path))
        create_staging_tables(con)
        con.close()

    def _time(self, shop_id: str, value):
        if value is None or isinstance(value, dt.datetime):
            return value
        return dt.datetime.fromisoformat(value).replace(tzinfo=self.zone[shop_id])

    def insert(self, table: str, shop_id: str, **values) -> None:
        self.line += 1
        con = duckdb.connect(str(self.path))
        try:
            con.execute("SET TimeZone = 'UTC'")
            types = {r[0]: r[1] for r in con.execute(f"DESCRIBE {table}").fetchall()}
            row = {"shop_id": shop_id, **values}
            if "source_file" in types:
                row |= {"source_file": f"{shop_id}/{table}.csv", "line_number": self.line}
            row = {
                k: self._time(shop_id, v) if types[k].startswith("TIMESTAMP") else v for k, v in row.items()
            }
            con.execute(
                f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()),
            )
        finally:
            con.close()

    def shop(self, shop_id: str, market: str, program: str = "local", tz: str | None = None) -> str:
        self.zone[shop_id] = ZoneInfo(tz or ZONES[market])
        con = duckdb.connect(str(self.path))
        try:
            con.execute(
                "INSERT INTO stg_shops VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    shop_id,
                    f"Shop {shop_id}",
                    market,
                    program,
                    "CN" if program == "cross_border" else market,
                    str(self.zone[shop_id]),
                    False,
                ],
            )
        finally:
            con.close()
        return shop_id

    def order(
        self,
        shop_id: str,
        order_id: str,
        *,
        sku_id: str = "SKU1",
        price: float = 40.0,
        amount: float = 45.0,
        **values,
    ) -> None:
        defaults = {
            "paid_time": "2026-11-02 10:00",
            "shipped_time": "2026-11-03 09:00",
            "delivered_time": "2026-11-06 15:00",
            "tracking_id": f"TRK-{order_id}",
            "quantity": 1,
            "order_type": "Normal",
        }
        self.insert(
            "stg_order_lines",
            shop_id,
            order_id=order_id,
            sku_id=sku_id,
            sku_unit_original_price=price,
            sku_subtotal_after_discount=price,
            order_amount=amount,
            **(defaults | values),
        )

    def request(self, shop_id: str, case_id: str, order_id: str, **values) -> None:
        defaults = {"sku_id": "SKU1", "return_type": "Return and refund", "item_price": 40.0}
        self.insert(
            "stg_aftersales_requests",
            shop_id,
            return_order_id=case_id,
            order_id=order_id,
            **(defaults | values),
        )

    def cancellation(self, shop_id: str, case_id: str, order_id: str, **values) -> None:
        self.insert("stg_cancellations", shop_id, cancellation_id=case_id, order_id=order_id, **values)

    def appeal(self, shop_id: str, case_id: str, return_order_id: str, **values) -> None:
        self.insert("stg_appeals", shop_id, appeal_id=case_id, return_order_id=return_order_id, **values)

    def evidence(
        self,
        shop_id: str,
        case_id: str,
        by: str,
        kind: str,
        at: str,
        *,
        size: int = 2048,
        digest: str | None = None,
    ) -> None:
        digest = sha(f"{case_id}/{kind}/{at}") if digest is None else digest
        valid = size > 0 and re.fullmatch(r"[0-9a-fA-F]{64}", digest) is not None
        self.insert(
            "stg_evidence",
            shop_id,
            case_id=case_id,
            submitted_by=by,
            evidence_type=kind,
            uploaded_time=at,
            file_name=f"{case_id}-{kind}.jpg",
            file_size_bytes=size,
            sha256=digest,
            is_valid=valid,
        )

    def query(self, sql: str, params=()) -> list[tuple]:
        con = duckdb.connect(str(self.path), read_only=True)
        try:
            con.execute("SET TimeZone = 'UTC'")
            return con.execute(sql, list(params)).fetchall()
        finally:
            con.close()

    def ruling(self, case_id: str) -> dict:
        con = duckdb.connect(str(self.path), read_only=True)
        try:
            cur = con.execute("SELECT * FROM rulings WHERE case_id = ?", [case_id])
            cols = [d[0] for d in cur.description]
            rows = cur.fetchall()
        finally:
            con.close()
        assert len(rows) == 1, f"{case_id}: {len(rows)} rulings"
        return dict(zip(cols, rows[0], strict=True))

    def hits(self, case_id: str) -> dict[str, tuple]:
        return {
            r[0]: r[1:]
            for r in self.query(
                "SELECT rule_id, rule_version, effect, points, reason, role FROM rule_hits WHERE case_id = ?",
                [case_id],
            )
        }

    def gaps(self, case_id: str) -> list[tuple]:
        return sorted(
            self.query(
                "SELECT party, evidence_type, gap_kind, decisive FROM evidence_gaps WHERE case_id = ?",
                [case_id],
            )
        )


def copy_rules(tmp_path: Path) -> Path:
    """A private copy of the shipped rules directory, to edit in a test."""
    target = tmp_path / "rules"
    shutil.copytree(RULES_DIR, target, ignore=shutil.ignore_patterns("scenarios"))
    return target


def add_policy_rule(rules: Path, pack: str, rule_yaml: str) -> None:
    """Append one rule (YAML text of a list item, indented by two spaces) to a pack's policy.yaml."""
    path = rules / pack / "policy.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + rule_yaml.rstrip() + "\n", encoding="utf-8"
    )
