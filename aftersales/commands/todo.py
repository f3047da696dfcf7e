"""`aftersales todo`: one shop's action queue, read back from the warehouse (or a work database).

Registered by aftersales/cli.py (COMMAND_MODULES). The queue itself is built by the batch
(`aftersales.actions.queue`); this command only reads the published rows of one batch date.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import click

from aftersales.actions.queue import QUEUE_TABLE
from aftersales.commands.sql import open_warehouse_read_only

# Chinese names of the action kinds (the English output prints the code itself).
ACTION_KINDS_ZH = {
    "chat_reply": "回复聊天",
    "aftersales_response": "处理售后申请",
    "cancellation_response": "处理取消申请",
    "return_inspection": "退货验收",
    "dispatch": "发货",
    "auto_cancel": "防止自动取消",
    "appeal": "申诉",
    "dispute_window": "争议窗口",
    "evidence": "补充证据",
}
_WITHIN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(h|hours?|d|days?)?\s*$", re.IGNORECASE)


class TodoError(LookupError):
    """The queue cannot be read; the message is one line."""


def parse_within(text: str) -> float:
    """'24h', '48 hours', '2d' or a bare number of hours -> hours."""
    m = _WITHIN.match(text or "")
    if not m:
        raise click.BadParameter(f"{text!r}: write hours or days, e.g. 24h, 48h or 2d")
    value = float(m.group(1))
    return value * 24 if (m.group(2) or "h").lower().startswith("d") else value


def load_todo(db: Path | str, shop_id: str, within_hours: float, batch_date: dt.date | None = None) -> tuple:
    """(batch_date, rows, hint): one shop's actions due within `within_hours` of the batch end; the hint is
    non-empty when the shop has no action in any batch (a mistyped id)."""
    path = Path(db)
    con = open_warehouse_read_only(path)  # missing, not a file, not DuckDB: one line naming it
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if QUEUE_TABLE not in tables:
            raise TodoError(f"{path} has no {QUEUE_TABLE} table: run a batch with this version first")
        if batch_date is None:
            latest = "SELECT max(batch_date) FROM action_queue"
            if "runs" in tables:  # the latest published batch, even when it left this shop nothing to do
                latest = f"SELECT coalesce((SELECT max(batch_date) FROM runs WHERE status = 'success'), ({latest}))"
            batch_date = con.execute(latest).fetchone()[0]
            if batch_date is None:
                raise TodoError(f"{path} holds no batch yet")
        cur = con.execute(
            f"SELECT * FROM {QUEUE_TABLE} WHERE batch_date = ? AND shop_id = ? AND hours_left <= ? "
            "ORDER BY due_at_utc, action_kind, entity_id, evidence_type",
            [batch_date, shop_id, within_hours],
        )
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        known = con.execute(f"SELECT count(*) FROM {QUEUE_TABLE} WHERE shop_id = ?", [shop_id]).fetchone()[0]
    finally:
        con.close()
    if not rows and not known:
        shops_hint = ""
        if "rulings" in tables or "sla_open_clocks" in tables:
            shops_hint = ' (check the shop id: `aftersales sql "SELECT DISTINCT shop_id FROM rulings"`)'
        return batch_date, rows, shops_hint
    return batch_date, rows, ""


def format_todo(shop_id: str, batch_date: dt.date, within_hours: float, rows: list[dict], lang: str) -> str:
    """Printable to-do list: one block per action, soonest deadline first."""
    zh = lang == "zh"
    head = (
        f"店铺 {shop_id}：批次 {batch_date} 结束后 {within_hours:g} 小时内到期的待办事项 {len(rows)} 项"
        if zh
        else f"Shop {shop_id}: {len(rows)} action(s) due within {within_hours:g} h of the end of batch {batch_date}"
    )
    lines = [head]
    if not rows:
        lines.append("  （无）" if zh else "  (nothing due)")
    for r in rows:
        left = f"{r['hours_left']:.1f}"
        due_utc = f"{r['due_at_utc']:%Y-%m-%d %H:%M} UTC"
        if zh:
            lines += [
                f"- 截止 {r['due_at_local']}（{due_utc}），剩余 {left} 小时  "
                f"【{ACTION_KINDS_ZH.get(r['action_kind'], r['action_kind'])}】  {r['entity_id']}",
                f"    {r['action_zh']}",
                f"    规则 {r['rule_id']}，来源 {r['source'] or '未知'}",
            ]
        else:
            lines += [
                f"- due {r['due_at_local']} ({due_utc}), {left} h left  [{r['action_kind']}]  {r['entity_id']}",
                f"    {r['action_en']}",
                f"    rule {r['rule_id']}, source {r['source'] or 'unknown'}",
            ]
    return "\n".join(lines)


def register(group: click.Group) -> None:
    @group.command("todo")
    @click.option("--shop", "shop_id", required=True, help="Shop ID (as in shops.csv).")
    @click.option(
        "--within",
        default="24h",
        show_default=True,
        help="Deadline horizon from the batch end: 24h, 48h, 2d.",
    )
    @click.option(
        "--db",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Warehouse (or a run's work database) [default: the `warehouse` setting].",
    )
    @click.option(
        "--batch-date", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Default: the latest batch."
    )
    @click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True)
    def todo(shop_id: str, within: str, db: Path | None, batch_date: dt.datetime | None, lang: str) -> None:
        """What one shop must still do, soonest deadline first, as of the end of the batch date.

        \b
        Examples:
          aftersales todo --shop GBLCVH2KQT --within 24h --db warehouse/aftersales.ducklake
          aftersales todo --shop MYCBAM5CM6 --within 2d --lang zh
        """
        from aftersales.cli import UserError
        from aftersales.settings import load_settings

        hours = parse_within(within)
        path = db or Path(load_settings().warehouse)
        try:
            day, rows, hint = load_todo(path, shop_id, hours, batch_date.date() if batch_date else None)
        except TodoError as exc:
            raise UserError(str(exc)) from exc
        click.echo(format_todo(shop_id, day, hours, rows, lang))
        if hint:
            click.echo(f"shop {shop_id} has no action in {path}{hint}", err=True)
