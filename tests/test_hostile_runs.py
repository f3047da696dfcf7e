"""Hostile inboxes, warehouses and concurrent runs (issue #11, defects 8, 11, 12 and 13).

What the inbox can hold besides exports (links in and out, dangling links, FIFOs, sockets), a
warehouse file that is not a DuckDB database, two runs of one batch date at once, and a shop that
is missing from shops.csv or has no data. Each bad thing is built in the test (tmp_path) and the
real code runs on it: real ingest into a real DuckDB work database, real publish, real lock files
held by real processes, and one real `aftersales run` (the run that waited for another).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb
import pytest

from aftersales import pipeline, run_lock
from aftersales.ingest import InboxError, ingest_inbox
from aftersales.ingest.discovery import (
    UnreadableInboxFile,
    UnsafeInboxFile,
    file_identity,
    list_inbox,
    open_inbox_file,
    open_regular,
)
from aftersales.ingest.errors import FileRejected
from aftersales.publish.journal import journal_path
from aftersales.publish.swap import TMP_SUFFIX, WarehouseUnusable, publish_batch
from aftersales.run_record import RunRecord
from aftersales.settings import Settings
from aftersales.sla import compute_seller_health, compute_sla
from aftersales.warehouse_schema import RESULT_DDL, create_result_tables

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample" / "inbox"
BATCH = date(2026, 11, 27)  # the sample inbox's business date
SETTINGS = Settings(pseudonym_key="5f" * 32)
US_SHOP = "USLC5VX9P6"  # listed, with exports
EMPTY_SHOP = "GBLCVH2KQT"  # listed, no exports at all
UNLISTED = "ZZNOTLISTED9"  # a shop folder shops.csv does not list
PLANTED = "Zqx Planted Outsider 4471"  # only ever written outside the inbox


@contextmanager
def deadline(seconds: int):
    """Fail (instead of hanging the suite) if the block blocks, e.g. on a FIFO."""

    def expired(signum, frame):
        raise TimeoutError(f"blocked for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def shops_csv(folder: Path, shop_ids: list[str]) -> None:
    header, *rows = (SAMPLE / "shops.csv").read_text(encoding="utf-8").splitlines()
    keep = [r for r in rows if r.split(",", 1)[0] in shop_ids]
    (folder / "shops.csv").write_text("\n".join([header, *keep]) + "\n", encoding="utf-8")


def outside_export(folder: Path) -> Path:
    """A well-formed appeals export outside the inbox holding a planted value."""
    folder.mkdir(parents=True, exist_ok=True)
    text = (SAMPLE / US_SHOP / "after-sales" / "appeals.csv").read_text(encoding="utf-8-sig")
    path = folder / "appeals.csv"
    path.write_text(text.replace("Returned item shows clear signs of use", PLANTED), encoding="utf-8")
    return path


def all_text(db: Path) -> str:
    """Every value of every table of a DuckDB file, as text (to look for a planted value)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return "\n".join(
            str(con.execute(f'SELECT list(CAST(t AS VARCHAR)) FROM "{name}" AS t').fetchone()[0])
            for name in tables
        )
    finally:
        con.close()


def rows(db: Path, sql: str, params=()) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


# -- defect 8: nothing but regular files in the inbox is read ------------------------------------


@pytest.fixture(scope="module")
def hostile_inbox(tmp_path_factory) -> dict:
    """One shop with one real export, plus every kind of non-regular entry, ingested once."""
    base = tmp_path_factory.mktemp("hostile-inbox")
    inbox = base / "inbox"
    shop = inbox / US_SHOP
    shop.mkdir(parents=True)
    shops_csv(inbox, [US_SHOP])
    shutil.copy(SAMPLE / US_SHOP / "after-sales" / "appeals.csv", shop / "appeals.csv")
    outside = outside_export(base / "outside")
    os.symlink(outside, shop / "outside_link.csv")  # a file outside the inbox
    os.symlink(outside.parent, shop / "outside_folder")  # a folder outside the inbox
    os.symlink("/etc/passwd", shop / "passwd.csv")
    os.symlink("/proc/self/environ", shop / "environ.csv")
    os.symlink("appeals.csv", shop / "inside_link.csv")  # a file inside the inbox
    os.symlink(".", shop / "loop")  # a folder inside the inbox (a loop if followed)
    os.symlink(base / "nowhere.csv", shop / "dangling.csv")
    os.mkfifo(shop / "pipe.csv")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(shop / "socket.csv"))
    work_db = base / "work" / "work.duckdb"
    try:
        with deadline(60):
            summary = ingest_inbox(inbox, work_db, BATCH, "run-hostile", SETTINGS, base / "reports")
    finally:
        listener.close()
    ledger = {
        r[0]: r[1:]
        for r in rows(work_db, "SELECT source_file, status, reason, rows_read, size_bytes FROM file_ledger")
    }
    quarantine = rows(work_db, "SELECT source_file, line_number, reason FROM quarantine")
    return {"base": base, "work_db": work_db, "summary": summary, "ledger": ledger, "quarantine": quarantine}


NOT_REGULAR = {
    "outside_link.csv": "symbolic link",
    "outside_folder": "symbolic link",
    "passwd.csv": "symbolic link",
    "environ.csv": "symbolic link",
    "inside_link.csv": "symbolic link",
    "loop": "symbolic link",
    "dangling.csv": "symbolic link",
    "pipe.csv": "FIFO",
    "socket.csv": "socket",
}


def test_every_non_regular_entry_is_ledgered_skipped_with_a_reason(hostile_inbox):
    ledger = hostile_inbox["ledger"]
    for name, what in NOT_REGULAR.items():
        status, reason, rows_read, _ = ledger[f"{US_SHOP}/{name}"]
        assert status == "skipped" and what in reason and "\n" not in reason, (name, reason)
        assert rows_read == 0
    assert "links are never followed" in ledger[f"{US_SHOP}/passwd.csv"][1]
    # the real export is read once (the link to it is not a second copy), every row accounted for
    status, _, rows_read, _ = ledger[f"{US_SHOP}/appeals.csv"]
    assert status == "ingested" and rows_read == 1
    summary = hostile_inbox["summary"]
    assert summary.files_read == 2 + len(NOT_REGULAR) and summary.files_skipped == len(NOT_REGULAR)
    assert (
        summary.rows_read
        == summary.rows_staged
        + summary.rows_quarantined
        + summary.rows_skipped_description
        + summary.rows_superseded
    )


def test_each_skipped_entry_has_one_file_level_quarantine_row(hostile_inbox):
    by_file: dict[str, list] = {}
    for source_file, line, reason in hostile_inbox["quarantine"]:
        by_file.setdefault(source_file, []).append((line, reason))
    for name in NOT_REGULAR:
        entries = by_file[f"{US_SHOP}/{name}"]
        assert entries == [(None, hostile_inbox["ledger"][f"{US_SHOP}/{name}"][1])]


def test_nothing_outside_the_inbox_is_read(hostile_inbox):
    text = all_text(hostile_inbox["work_db"])
    assert PLANTED not in text
    assert "root:x:0:0" not in text and "PATH=" not in text  # /etc/passwd, /proc/self/environ
    assert PLANTED.encode() not in hostile_inbox["work_db"].read_bytes()
    staged = rows(hostile_inbox["work_db"], "SELECT count(*) FROM stg_appeals")[0][0]
    assert staged == 1


def test_shops_csv_that_is_a_link_or_a_fifo_refuses_the_batch(tmp_path):
    outside = tmp_path / "real_shops.csv"
    shops_csv(tmp_path, [US_SHOP])
    (tmp_path / "shops.csv").rename(outside)
    for make in ("link", "fifo"):
        inbox = tmp_path / f"inbox-{make}"
        inbox.mkdir()
        if make == "link":
            os.symlink(outside, inbox / "shops.csv")
        else:
            os.mkfifo(inbox / "shops.csv")
        with deadline(30):
            with pytest.raises(pipeline.BatchRefused) as refused:
                pipeline.preflight(inbox, ROOT / "rules")
            message = str(refused.value)
            assert "shops.csv" in message and "\n" not in message
            assert ("symbolic link" if make == "link" else "FIFO") in message
            if make == "link":  # the ingest itself refuses it too, when called without preflight
                with pytest.raises(InboxError, match="symbolic link"):
                    ingest_inbox(
                        inbox, tmp_path / "w" / "work.duckdb", BATCH, "r", SETTINGS, tmp_path / "rep"
                    )


def test_open_inbox_file_refuses_links_swaps_and_never_blocks(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "S1").mkdir(parents=True)
    real = inbox / "S1" / "a.csv"
    real.write_text("x\n1\n")
    listing = list_inbox(inbox)
    assert [i.rel for i in listing.files] == ["S1/a.csv"] and not listing.refused
    with open_inbox_file(inbox, "S1/a.csv", listing.identity("S1/a.csv")) as fh:
        assert fh.read() == b"x\n1\n"
    # swapped for another file after listing: refused on the descriptor, not by name
    (inbox / "S1" / "a.new").write_text("y\n2\n")
    os.replace(inbox / "S1" / "a.new", real)
    with pytest.raises(UnsafeInboxFile, match="replaced"):
        open_inbox_file(inbox, "S1/a.csv", listing.identity("S1/a.csv"))
    # swapped for a link (to the file itself or elsewhere), or a link on a folder of the path
    real.unlink()
    os.symlink("/etc/passwd", real)
    with pytest.raises(UnsafeInboxFile, match="link"):
        open_inbox_file(inbox, "S1/a.csv")
    os.symlink(inbox / "S1", inbox / "S2")
    with pytest.raises(UnsafeInboxFile, match="link"):
        open_inbox_file(inbox, "S2/a.csv")
    with pytest.raises(UnsafeInboxFile):
        open_inbox_file(inbox, "../inbox/S1/a.csv")
    # a FIFO swapped in: refused at once, never a blocked open
    real.unlink()
    os.mkfifo(real)
    with deadline(10), pytest.raises(UnsafeInboxFile, match="FIFO"):
        open_inbox_file(inbox, "S1/a.csv")
    # vanished between listing and reading: a FileRejected that is also an OSError (skipped either way)
    real.unlink()
    with pytest.raises(UnreadableInboxFile, match="unreadable file: No such file") as vanished:
        open_inbox_file(inbox, "S1/a.csv")
    assert isinstance(vanished.value, FileRejected) and isinstance(vanished.value, OSError)
    assert vanished.value.errno == errno.ENOENT
    with pytest.raises(UnreadableInboxFile, match="No such file"):
        open_regular(real)


def test_open_regular_checks_the_listed_identity_through_swapped_folders(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "S1").mkdir(parents=True)
    (inbox / "S1" / "a.csv").write_text("x\n1\n")
    listed = list_inbox(inbox).identity("S1/a.csv")
    with open_regular(inbox / "S1" / "a.csv", listed) as fh:
        assert fh.read() == b"x\n1\n" and file_identity(fh) == listed
    # the shop folder swapped for a link to a look-alike folder outside: another inode, refused
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.csv").write_text("x\n1\n")
    (inbox / "S1").rename(tmp_path / "moved")
    os.symlink(outside, inbox / "S1")
    with pytest.raises(UnsafeInboxFile, match="replaced"):
        open_regular(inbox / "S1" / "a.csv", listed)
    os.symlink(outside / "a.csv", inbox / "b.csv")
    with pytest.raises(UnsafeInboxFile, match="symbolic link"):
        open_regular(inbox / "b.csv")


def test_listing_a_very_deep_tree_neither_recurses_nor_follows(tmp_path):
    inbox = tmp_path / "inbox"
    deep = inbox
    deep.mkdir()
    for _ in range(150):
        deep = deep / "d"
        deep.mkdir()
    (deep / "x.csv").write_text("a\n")
    os.symlink(inbox, deep / "up")  # a loop if it were followed
    frames, frame = 0, sys._getframe()
    while frame is not None:
        frames, frame = frames + 1, frame.f_back
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(frames + 60)  # a walk recursing once per folder would fail here
    try:
        listing = list_inbox(inbox)
    finally:
        sys.setrecursionlimit(limit)
    assert [i.rel.count("/") for i in listing.files] == [150]
    assert [i.rel.rsplit("/", 1)[1] for i in listing.refused] == ["up"]


# -- defect 11: a warehouse that is not a DuckDB database is refused before any stage ------------


def garbage_warehouse(folder: Path, how: str) -> Path:
    wh = folder / "wh.duckdb"
    if how == "empty":
        wh.write_bytes(b"")
    elif how == "garbage":
        wh.write_bytes(b"this is not a database\n" * 200)
    elif how == "folder":
        wh.mkdir()
    elif how == "incompatible":  # a DuckDB header with a storage version this DuckDB cannot read
        con = duckdb.connect(str(wh))
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
        con.close()
        data = bytearray(wh.read_bytes())
        data[12:20] = (10**6).to_bytes(8, "little")
        wh.write_bytes(bytes(data))
    return wh


@pytest.mark.parametrize("how", ["empty", "garbage", "folder", "incompatible"])
def test_unusable_warehouse_is_refused_at_preflight_naming_it(tmp_path, how):
    wh = garbage_warehouse(tmp_path, how)
    started = time.monotonic()
    with pytest.raises(pipeline.BatchRefused) as refused:
        pipeline.preflight(SAMPLE, ROOT / "rules", wh)
    message = str(refused.value)
    assert str(wh) in message and "\n" not in message and "tmp" not in message.replace(str(tmp_path), "")
    assert time.monotonic() - started < 5


def test_unusable_warehouse_refusal_in_the_flow_is_journalled_and_holds_no_lock(tmp_path):
    wh = garbage_warehouse(tmp_path, "garbage")
    run_id = pipeline.new_run_id(BATCH)
    paths = pipeline.batch_paths(SAMPLE, wh, ROOT / "rules", tmp_path / "reports", run_id)
    row = RunRecord(run_id, BATCH, paths.inbox).started()
    with pytest.raises(pipeline.BatchRefused, match="not a DuckDB database"):
        pipeline.record_started(paths, row)
    journal = [json.loads(line) for line in journal_path(wh).read_text().splitlines()]
    assert [(j["run_id"], j["status"]) for j in journal] == [(run_id, "failed")]
    assert str(wh) in journal[0]["error"]
    with run_lock.holding(wh, BATCH):  # not left held by the refused run
        pass


def empty_work_db(path: Path) -> Path:
    con = duckdb.connect(str(path))
    create_result_tables(con)
    con.close()
    return path


def leftovers(wh: Path) -> list[str]:
    return sorted(p.name for p in wh.parent.glob(wh.name + TMP_SUFFIX + "*"))


def test_failed_publish_leaves_no_temporary_copy(tmp_path):
    work = empty_work_db(tmp_path / "work.duckdb")
    wh = tmp_path / "wh.duckdb"
    publish_batch(work, wh, BATCH, [])
    before = wh.read_bytes()

    def broken_views(con):
        raise RuntimeError("view refresh failed")

    with pytest.raises(RuntimeError, match="view refresh failed"):
        publish_batch(work, wh, BATCH, [], after_swap_in=broken_views)
    assert leftovers(wh) == [] and wh.read_bytes() == before
    with pytest.raises(duckdb.Error):  # a work database that cannot be attached
        publish_batch(tmp_path / "missing" / "work.duckdb", wh, BATCH, [])
    assert leftovers(wh) == [] and wh.read_bytes() == before
    (tmp_path / "g").mkdir()
    bad = garbage_warehouse(tmp_path / "g", "garbage")
    with pytest.raises(WarehouseUnusable, match=str(bad)):
        publish_batch(work, bad, BATCH, [])
    assert leftovers(bad) == [] and bad.read_bytes() == b"this is not a database\n" * 200


# -- defect 12: one run per batch date and warehouse ---------------------------------------------

HOLDER = textwrap.dedent(
    """
    import sys, time
    from datetime import date
    from pathlib import Path
    from aftersales import pipeline
    lock = pipeline.claim_batch(Path(sys.argv[1]), date.fromisoformat(sys.argv[2]))
    print("held", flush=True)
    time.sleep(float(sys.argv[3]))
    pipeline.release_batch(lock)
    """
)


def start_holder(wh: Path, day: date, hold_s: float) -> subprocess.Popen:
    """A real process holding the run lock of (wh, day) for `hold_s` seconds."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(wh), day.isoformat(), str(hold_s)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def run_cli(
    wh: Path, inbox: Path, rules: Path, reports: Path, *extra: str, env=None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "aftersales.cli", "run", "--inbox", str(inbox), "--db", str(wh)]
        + ["--batch-date", BATCH.isoformat(), "--rules", str(rules), "--report-dir", str(reports), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_second_run_of_a_date_is_refused_naming_the_running_one(tmp_path):
    wh = tmp_path / "wh.duckdb"
    holder = start_holder(wh, BATCH, 60)
    try:
        started = time.monotonic()
        refused = run_cli(wh, SAMPLE, ROOT / "rules", tmp_path / "reports")
        assert refused.returncode == 1
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1, refused.stderr
        assert (
            f"pid {holder.pid}" in lines[0]
            and "already running" in lines[0]
            and "--wait-for-running" in lines[0]
        )
        assert time.monotonic() - started < 30  # refused before any stage (no Prefect start-up)
        assert not wh.exists()  # the warehouse is untouched
        journal = [json.loads(line) for line in journal_path(wh).read_text().splitlines()]
        assert journal[-1]["status"] == "failed" and f"pid {holder.pid}" in journal[-1]["error"]
        # the flow takes the lock too (serve, backfill): its start is refused the same way
        run_id = pipeline.new_run_id(BATCH)
        paths = pipeline.batch_paths(SAMPLE, wh, ROOT / "rules", tmp_path / "reports", run_id)
        row = RunRecord(run_id, BATCH, paths.inbox).started()
        with pytest.raises(pipeline.BatchRefused, match=f"pid {holder.pid}"):
            pipeline.record_started(paths, row)
        # another date on the same warehouse is not blocked by it
        with run_lock.holding(wh, date(2026, 11, 28)):
            pass
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_holder_does_not_block_the_next_run(tmp_path):
    wh = tmp_path / "wh.duckdb"
    holder = start_holder(wh, BATCH, 600)
    with pytest.raises(run_lock.RunInProgress, match=f"pid {holder.pid}"):
        run_lock.acquire(wh, BATCH)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with run_lock.holding(wh, BATCH) as lock:
        assert run_lock.holder(wh, BATCH)["pid"] == os.getpid()
        # re-entrant for this thread (the CLI holds it, then the flow it runs takes it again)
        again = run_lock.acquire(wh, BATCH)
        assert again is lock
        run_lock.release(again)
    assert run_lock.holder(wh, BATCH) == {}


# -- defect 12 (waiting) and 13, end to end in one real run ------------------------------------


@pytest.fixture(scope="module")
def waited_run(tmp_path_factory, prefect_harness) -> dict:
    """A real `aftersales run --wait-for-running` (in this process, on the session's Prefect API)
    started while another process holds the batch date.

    Its inbox: one shop with exports, one listed shop without any, one shop folder shops.csv
    does not list, and a link out of the inbox.
    """
    from click.testing import CliRunner

    from aftersales.cli import cli

    base = tmp_path_factory.mktemp("waited-run")
    inbox = base / "inbox"
    shutil.copytree(SAMPLE / US_SHOP, inbox / US_SHOP)
    shops_csv(inbox, [US_SHOP, EMPTY_SHOP])
    (inbox / UNLISTED).mkdir()
    shutil.copy(SAMPLE / US_SHOP / "after-sales" / "appeals.csv", inbox / UNLISTED / "appeals.csv")
    os.symlink(outside_export(base / "outside"), inbox / US_SHOP / "linked.csv")
    os.symlink("/etc/passwd", inbox / US_SHOP / "passwd.csv")
    os.mkfifo(inbox / US_SHOP / "pipe.csv")  # a run that opened it would hang here
    rules = base / "rules"
    shutil.copytree(ROOT / "rules", rules)  # frozen: the shared tree's rules may change meanwhile
    wh = base / "wh.duckdb"
    args = ["run", "--inbox", str(inbox), "--db", str(wh), "--batch-date", BATCH.isoformat()]
    args += ["--rules", str(rules), "--report-dir", str(base / "reports"), "--wait-for-running"]
    hold_s = 3.0
    holder = start_holder(wh, BATCH, hold_s)
    started = time.monotonic()
    try:
        with deadline(300), pytest.MonkeyPatch.context() as env:
            env.setenv("AFTERSALES_PSEUDONYM_KEY", "5e" * 32)
            done = CliRunner().invoke(cli, args, catch_exceptions=False)
    finally:
        holder.kill()
        holder.wait()
    return {"done": done, "wh": wh, "seconds": time.monotonic() - started, "holder": holder, "hold_s": hold_s}


def test_a_run_that_waits_for_the_running_one_succeeds_after_it(waited_run):
    done = waited_run["done"]
    assert done.exit_code == 0, done.output
    assert f"pid {waited_run['holder'].pid}" in done.stderr and "waiting" in done.stderr
    assert waited_run["seconds"] >= waited_run["hold_s"]
    wh = waited_run["wh"]
    assert rows(wh, "SELECT status FROM runs WHERE batch_date = ?", [BATCH]) == [("success",)]
    assert run_lock.holder(wh, BATCH) == {}  # released at the end of the run
    text = all_text(wh)
    assert PLANTED not in text and "root:x:0:0" not in text
    skipped = dict(rows(wh, "SELECT source_file, reason FROM file_ledger WHERE status = 'skipped'"))
    assert "FIFO" in skipped[f"{US_SHOP}/pipe.csv"] and "symbolic link" in skipped[f"{US_SHOP}/passwd.csv"]
    assert not list(wh.parent.glob(wh.name + TMP_SUFFIX + "*"))


def test_console_names_the_unlisted_shop_folder_and_skipped_files(waited_run):
    out = waited_run["done"].stdout
    assert f"shop folders not listed in shops.csv, not read: {UNLISTED} (1 file)" in out
    assert f"  {UNLISTED}/appeals.csv: shop folder" in out
    assert f"  {US_SHOP}/linked.csv: symbolic link" in out
    assert "skipped files (4):" in out and f"  {US_SHOP}/pipe.csv: a FIFO (named pipe)" in out


def test_a_listed_shop_without_data_has_status_no_data(waited_run):
    health = rows(
        waited_run["wh"],
        "SELECT shop_id, metric, value, status, denominator FROM seller_health WHERE batch_date = ? ORDER BY 1, 2",
        [BATCH],
    )
    empty = [r for r in health if r[0] == EMPTY_SHOP]
    assert len(empty) == 4
    assert all(
        value is None and status == "no_data" and denominator == 0
        for _, _, value, status, denominator in empty
    )
    measured = [r for r in health if r[0] == US_SHOP and r[4] > 0]
    assert measured and all(r[3] in ("ok", "warning", "breach") for r in measured)
    assert all(r[3] == "no_data" for r in health if r[2] is None)


def test_health_status_mirror_says_no_data_without_a_denominator(tmp_path, hostile_inbox):
    """The health stage on an ingested work database with one listed shop and a single appeal."""
    work = tmp_path / "work.duckdb"
    shutil.copy(hostile_inbox["work_db"], work)
    compute_sla(work, BATCH, "run-hostile", ROOT / "rules")  # health reads the SLA stage's obligations
    con = duckdb.connect(str(work))
    con.execute(RESULT_DDL["rulings"])  # and scoring's rulings (empty: this test does not score)
    con.close()
    summary = compute_seller_health(work, BATCH, "run-hostile", ROOT / "rules")
    assert summary.by_status == {"no_data": 4}
    statuses = rows(work, "SELECT DISTINCT value IS NULL, status, denominator FROM seller_health")
    assert statuses == [(True, "no_data", 0)]


def test_console_lists_many_skipped_files_briefly_and_inertly(tmp_path):
    wh = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(wh))
    create_result_tables(con)
    names = [f"{UNLISTED}/f{i:02d}.csv" for i in range(12)] + ["S1/evil\n\x1b[2Jname.csv"]
    for name in names:
        reason = (
            f"shop folder {name.split('/')[0]!r} is not a Shop ID in shops.csv"
            if name.startswith(UNLISTED)
            else "symbolic link to '/etc/passwd': links are never followed"
        )
        con.execute(
            "INSERT INTO file_ledger (batch_date, run_id, source_file, sha256, size_bytes, file_kind, shop_id, encoding, status, reason, rows_read, rows_staged, rows_quarantined, rows_skipped_description) "
            "VALUES (?, 'r1', ?, '', 0, NULL, NULL, NULL, 'skipped', ?, 0, 0, 0, 0)",
            [BATCH, name, reason],
        )
    con.close()
    lines = pipeline.skipped_file_lines(str(wh), BATCH.isoformat(), "r1")
    assert lines[0] == f"shop folders not listed in shops.csv, not read: {UNLISTED} (12 files)"
    assert lines[1] == "skipped files (13):"
    assert len(lines) == 2 + 10 + 1 and lines[-1].startswith("  ... and 3 more")
    assert (
        lines[2] == "  S1/evil\\n\\x1b[2Jname.csv: symbolic link to '/etc/passwd': links are never followed"
    )
    assert all(c.isprintable() for line in lines for c in line)
