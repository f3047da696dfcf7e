"""Reader fuzzing (issue #11): real sample exports, mutated, through the real `ingest_inbox`.

Each example takes one export of the committed sample inbox, plants distinctive personal values
into its personal-data columns, breaks it one way (`tests/fuzz_mutations.py`: stray quotes,
unquoted delimiters, truncation, line endings, re-encodings, NUL bytes, long lines, duplicated
headers, blank lines, description rows, odd amounts, byte flips), ingests it with a one-shop
shops.csv into a real work DuckDB and checks the README's promises:

- ingestion returns; the file is ingested or skipped with a one-line reason (and one quarantine
  row), skipped only when the mutation can make a bad file (undecodable or binary bytes, or an
  encoding not certain beyond doubt); shops.csv and other shops' files are unaffected;
- every file balances (rows_read = staged + quarantined + skipped description rows) and every
  non-blank physical line of an ingested file is staged or quarantined under its own number;
- amounts no export writes are quarantined naming their column, never staged as a guess; values
  of untouched lines survive exactly (a wrong decoding or shifted record shows up);
- no planted value, nor any 6-character fragment of one, in any VARCHAR/JSON cell of any table
  of the work database, the validation report, files left beside it, logs, stdout/stderr.

Budget: Hypothesis draws the source export and the mutator's seed, derandomized, with
`FUZZ_EXAMPLES` examples per mutation class (env AFTERSALES_FUZZ_EXAMPLES, default 1; about a
second each; `AFTERSALES_FUZZ_EXAMPLES=25` is the heavier nightly profile) and no shrinking
(each step would be an ingestion). A failure prints the `mutate(...)` call that rebuilds its
bytes. The `aftersales run` refusal test is marked slow (a Prefect server starts first).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pytest
from fuzz_mutations import (  # tests/ is on sys.path (pytest's rootdir-relative import mode)
    MUTATORS,
    PLANTED,
    PLANTED_CP1252,
    SAMPLE_INBOX,
    VALUE_CHECKS,
    XLSX_FIRST_SHEET,
    Mutant,
    leak_windows,
    mutate,
    mutation_sources,
    sample_exports,
    shops_csv_line,
)
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from aftersales.ingest import ingest_inbox
from aftersales.ingest.pseudonyms import buyer_pseudonym
from aftersales.settings import Settings

KEY_HEX = "5f" * 32
SETTINGS = Settings(pseudonym_key=KEY_HEX)
KEY = bytes.fromhex(KEY_HEX)
BATCH = date(2026, 11, 27)
FUZZ_EXAMPLES = int(os.environ.get("AFTERSALES_FUZZ_EXAMPLES", "1"))
# Words of DuckDB / Python internals that a reason shown to operations must not carry.
INTERNAL_MARKERS = ("state machine", "INTERNAL", "Traceback", "Error:", "duckdb.")

FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate),  # no shrinking: every step is an ingestion
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- running one mutant ------------------------------------------------------------------------------


@dataclass
class Outcome:
    ledger: list[dict]
    quarantine: list[dict]
    staged: dict[str, dict[str, dict[int, dict]]]  # stg table -> source_file -> line_number -> row
    texts: list[tuple[str, str]]  # (where, text): every text cell, report, leftover file, log line
    summary: object


def _records(con, sql: str, params=()) -> list[dict]:
    cur = con.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _json_strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_json_strings(k), *_json_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _json_strings(v)]
    return []


def database_texts(db: Path) -> list[tuple[str, str]]:
    """Every distinct VARCHAR/JSON cell of every table, plus the strings inside JSON cells."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        columns = con.execute(
            """SELECT schema_name, table_name, column_name FROM duckdb_columns()
               WHERE NOT internal AND data_type IN ('VARCHAR', 'JSON')"""
        ).fetchall()
        texts = []
        for schema, table, column in columns:
            for (value,) in con.execute(
                f'SELECT DISTINCT "{column}"::VARCHAR FROM "{schema}"."{table}" WHERE "{column}" IS NOT NULL'
            ).fetchall():
                texts.append((f"{table}.{column}", value))
                if value[:1] in "{[":
                    with contextlib.suppress(ValueError):
                        texts += [(f"{table}.{column} (JSON)", s) for s in _json_strings(json.loads(value))]
        return texts
    finally:
        con.close()


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        if record.exc_info:
            self.lines.append(logging.Formatter().formatException(record.exc_info))


def ingest_files(folder: Path, files: dict[str, bytes], shops: str) -> Outcome:
    """Write the inbox, ingest it for real, collect everything a leak could hide in."""
    inbox = folder / "inbox"
    for name, data in {"shops.csv": shops.encode(), **files}.items():
        (inbox / name).parent.mkdir(parents=True, exist_ok=True)
        (inbox / name).write_bytes(data)
    work = folder / "work"
    handler = _Lines()
    logger = logging.getLogger("aftersales")
    root = logging.getLogger()
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    root.addHandler(handler)
    out, err = io.StringIO(), io.StringIO()
    try:
        with (
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            warnings.catch_warnings(record=True) as caught,
        ):
            warnings.simplefilter("always")
            summary = ingest_inbox(inbox, work / "work.duckdb", BATCH, "fuzz", SETTINGS, work / "reports")
    finally:
        root.removeHandler(handler)
        logger.setLevel(old_level)
    db = work / "work.duckdb"
    texts = database_texts(db)
    texts += [("log", line) for line in handler.lines]
    texts += [("stdout", out.getvalue()), ("stderr", err.getvalue())]
    texts += [("warning", str(w.message)) for w in caught]
    for path in sorted(work.rglob("*")):
        if path.is_file() and path != db and not path.name.startswith("work.duckdb"):
            texts.append((str(path.relative_to(work)), path.read_bytes().decode("utf-8", errors="replace")))
    leftovers = [p.name for p in work.iterdir() if p.name.startswith(".ingest-")]
    assert not leftovers, f"numbered copies of the inputs left behind: {leftovers}"
    con = duckdb.connect(str(db), read_only=True)
    try:
        ledger = _records(con, "SELECT * FROM file_ledger ORDER BY source_file")
        quarantine = _records(con, "SELECT * FROM quarantine ORDER BY source_file, line_number")
        staged: dict[str, dict[str, dict[int, dict]]] = {}
        for (table,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'stg_%' AND table_name <> 'stg_shops'"
        ).fetchall():
            rows = _records(con, f'SELECT * FROM "{table}"')
            for row in rows:
                staged.setdefault(table, {}).setdefault(row["source_file"], {})[row["line_number"]] = row
    finally:
        con.close()
    return Outcome(ledger, quarantine, staged, texts, summary)


def run_mutant(mutant: Mutant) -> tuple[Outcome, str]:
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        source_file = f"{mutant.shop_id}/{mutant.file_name}"
        outcome = ingest_files(Path(tmp), {source_file: mutant.data}, shops_csv_line(mutant.shop_id))
    return outcome, source_file


# -- the promises ------------------------------------------------------------------------------


def assert_no_leak(texts: list[tuple[str, str]], planted: frozenset[str] | set[str]) -> None:
    windows = {w: value for value in planted for w in leak_windows(value)}
    leaks = [
        (where, value, window, text[:200])
        for where, text in texts
        for window, value in windows.items()
        if window in text
    ]
    assert not leaks, f"personal data in clear: {leaks[:5]}"


def assert_ledger_balances(outcome: Outcome) -> None:
    for row in outcome.ledger:
        assert (
            row["rows_read"]
            == row["rows_staged"]
            + row["rows_quarantined"]
            + row["rows_skipped_description"]
            + row["rows_superseded"]
        ), row
        if row["status"] != "ingested":
            assert row["rows_read"] == row["rows_staged"] == row["rows_quarantined"] == 0, row
    s = outcome.summary
    assert (s.rows_read, s.rows_staged, s.rows_quarantined, s.rows_skipped_description) == tuple(
        sum(r[c] for r in outcome.ledger)
        for c in ("rows_read", "rows_staged", "rows_quarantined", "rows_skipped_description")
    ), (s, outcome.ledger)


def ledger_entries(outcome: Outcome, source_file: str) -> list[dict]:
    """The file's ledger rows: one, or one per sheet (`file.xlsx#Sheet`) for a workbook."""
    return [
        r
        for r in outcome.ledger
        if r["source_file"] == source_file or r["source_file"].startswith(source_file + "#")
    ]


def assert_promises(mutant: Mutant, outcome: Outcome, source_file: str) -> None:
    ledger = {r["source_file"]: r for r in outcome.ledger}
    assert ledger["shops.csv"]["status"] == "ingested", ledger["shops.csv"]
    assert_ledger_balances(outcome)
    entries = ledger_entries(outcome, source_file)
    assert entries, f"{source_file} is missing from file_ledger: {sorted(ledger)}"
    for entry in entries:
        assert_ingested_or_skipped_with_reason(mutant, outcome, entry)
    main = next((e for e in entries if e["source_file"].endswith("#" + XLSX_FIRST_SHEET)), entries[0])
    if main["status"] == "ingested":
        assert_every_line_accounted(mutant, outcome, main["source_file"], entries)
        assert_values_survive(mutant, outcome, main["source_file"])
    assert_no_leak(outcome.texts, mutant.planted)


def _quarantined(outcome: Outcome, source_file: str) -> list[dict]:
    return [q for q in outcome.quarantine if q["source_file"] == source_file]


def assert_ingested_or_skipped_with_reason(mutant: Mutant, outcome: Outcome, entry: dict) -> None:
    assert entry["status"] in ("ingested", "skipped"), entry
    quarantined = _quarantined(outcome, entry["source_file"])
    for q in quarantined:
        assert q["reason"] and q["reason"].strip(), q
        assert not any(m in q["reason"] for m in INTERNAL_MARKERS), q["reason"]
    if entry["status"] == "skipped":
        assert mutant.skip_allowed, (
            f"a {mutant.mutation} breaks rows, not the file, yet it was skipped: {entry}"
        )
        reason = entry["reason"] or ""
        assert reason.strip() and "\n" not in reason, f"a skip needs a one-line reason: {reason!r}"
        assert not any(m in reason for m in INTERNAL_MARKERS), f"internal message as reason: {reason!r}"
        assert [q["line_number"] for q in quarantined] == [None], quarantined


def assert_every_line_accounted(
    mutant: Mutant, outcome: Outcome, source_file: str, entries: list[dict]
) -> None:
    staged_lines = {line for table in outcome.staged.values() for line in table.get(source_file, {})}
    quarantined_lines = {
        q["line_number"] for q in _quarantined(outcome, source_file) if q["line_number"] is not None
    }
    if mutant.other_sheet is None:  # a second sheet's rows may be numbered in their own range
        assert_lines_distinct(mutant, staged_lines, quarantined_lines)
    rows_read = sum(e["rows_read"] for e in entries)
    if mutant.rows_read is not None and rows_read != mutant.rows_read:
        sheet = mutant.other_sheet
        reasons = [q["reason"] or "" for e in entries for q in _quarantined(outcome, e["source_file"])]
        reported = sheet is not None and any(sheet in r for r in reasons)
        assert reported, f"rows read {rows_read}, file has {mutant.rows_read}" + (
            f" and sheet {sheet!r} is not reported" if sheet else ""
        )
    if mutant.data_lines is None:
        return
    required = set(mutant.data_lines)
    skipped_description = sum(
        e["rows_skipped_description"] for e in entries if e["source_file"] == source_file
    )
    if skipped_description and mutant.description_line in required:
        required.discard(mutant.description_line)
    missing = sorted(required - staged_lines - quarantined_lines)
    assert not missing, f"physical lines neither staged nor quarantined (silent loss): {missing[:20]}"


def assert_lines_distinct(mutant: Mutant, staged_lines: set[int], quarantined_lines: set[int]) -> None:
    assert not quarantined_lines - set(range(2, mutant.physical_lines + 1)), (
        f"quarantine line numbers outside the file (2..{mutant.physical_lines}): {sorted(quarantined_lines)}"
    )
    assert not staged_lines & quarantined_lines, (
        f"lines both staged and quarantined: {staged_lines & quarantined_lines}"
    )


def assert_values_survive(mutant: Mutant, outcome: Outcome, source_file: str) -> None:
    quarantined = _quarantined(outcome, source_file)
    _, table, column = VALUE_CHECKS[mutant.kind]
    staged = outcome.staged.get(table, {}).get(source_file, {})
    wrong = {
        line: (staged[line][column], expected)
        for line, expected in mutant.expected_values.items()
        if line in staged and staged[line][column] != expected
    }
    assert not wrong, (
        f"staged values differ from the file (line: staged, file): {dict(list(wrong.items())[:5])}"
    )
    for line, names in mutant.must_not_stage.items():
        assert line not in staged, f"line {line}: an impossible {names[0]} was staged: {staged[line]}"
        reasons = [q["reason"] for q in quarantined if q["line_number"] == line]
        assert any(n in r for n in names for r in reasons), f"line {line}: no reason names {names}: {reasons}"
    for line, username in mutant.usernames.items():
        if line in staged and "buyer_pseudonym" in staged[line]:
            assert staged[line]["buyer_pseudonym"] == buyer_pseudonym(KEY, username), (
                f"line {line}: pseudonym not computed from the file's username {username!r}"
            )


# -- the tests -------------------------------------------------------------------------------------


def test_planted_values_are_absent_from_the_sample_inbox():
    """A leak report is only worth something if no fragment of a planted value occurs naturally."""
    windows = {w for v in (*PLANTED.values(), *PLANTED_CP1252.values()) for w in leak_windows(v)}
    for path in SAMPLE_INBOX.rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode("utf-8", errors="replace")
            if path.suffix == ".csv" and text.count("\x00") > 10:
                text = path.read_bytes().decode("utf-16", errors="replace")
            assert not [w for w in windows if w in text], path
    assert len(sample_exports()) > 30


@pytest.mark.parametrize("mutation", sorted(MUTATORS))
@FUZZ
@given(data=st.data())
def test_mutated_export_keeps_the_promises(mutation, data):
    source = data.draw(st.sampled_from(mutation_sources(mutation)), label="source_file")
    seed = data.draw(st.integers(0, 2**31 - 1), label="seed")
    mutant = mutate(mutation, source, seed)
    note(f"reproduce: {mutant.reproduction()}")
    outcome, source_file = run_mutant(mutant)
    note(f"ledger: {ledger_entries(outcome, source_file)}")
    assert_promises(mutant, outcome, source_file)


# One mutant of each class in one inbox (each in its own shop), beside untouched exports of
# another shop: the untouched files must come out exactly as when ingested alone.
BATCH_SEED = 11
CONTROL_SHOP = "GBLCVH2KQT"


def _registry(shop_ids: set[str]) -> str:
    lines = (SAMPLE_INBOX / "shops.csv").read_text(encoding="utf-8").splitlines()
    return "\n".join([lines[0], *[ln for ln in lines[1:] if ln.split(",")[0] in shop_ids]]) + "\n"


def test_broken_files_cost_no_other_file_its_rows(tmp_path):
    controls = {
        p: (SAMPLE_INBOX / p).read_bytes()
        for p, e in sample_exports().items()
        if e.shop_id == CONTROL_SHOP and len(e.rows) <= 40
    }
    mutants: dict[str, Mutant] = {}
    for mutation in sorted(MUTATORS):
        candidates = [s for s in mutation_sources(mutation) if not s.startswith(CONTROL_SHOP)]
        mutant = mutate(mutation, candidates[BATCH_SEED % len(candidates)], BATCH_SEED)
        mutants[f"{mutant.shop_id}/{mutant.file_name}"] = mutant
    shop_ids = {CONTROL_SHOP} | {m.shop_id for m in mutants.values()}
    alone = ingest_files(tmp_path / "alone", controls, _registry(shop_ids))
    together = ingest_files(
        tmp_path / "together", {**controls, **{p: m.data for p, m in mutants.items()}}, _registry(shop_ids)
    )

    def counts(outcome: Outcome) -> dict:
        return {
            r["source_file"]: (r["status"], r["rows_read"], r["rows_staged"], r["rows_quarantined"])
            for r in outcome.ledger
            if r["source_file"] in controls
        }

    assert len(counts(alone)) == len(controls) >= 5
    assert counts(together) == counts(alone)
    for path in mutants:
        entries = ledger_entries(together, path)
        assert entries and all(e["status"] in ("ingested", "skipped") for e in entries), (path, entries)
    assert_ledger_balances(together)
    assert_no_leak(together.texts, set().union(*(m.planted for m in mutants.values())))


@pytest.mark.slow  # the refusal comes from inside the flow: a Prefect server starts first (about 20 s)
def test_broken_shop_registry_is_refused_in_one_line(tmp_path):
    """`aftersales run` on a shops.csv with an unbalanced quote: exit 1, one line on stderr naming
    shops.csv, no warehouse."""
    lines = (SAMPLE_INBOX / "shops.csv").read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace(",", ',"', 1)  # `GBLCVH2KQT,"Brick Lane Home,UK,...`: swallows the rest
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "shops.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERSALES_")}
    env.update(
        AFTERSALES_PSEUDONYM_KEY=KEY_HEX,
        PREFECT_HOME=str(tmp_path / ".prefect"),
        PREFECT_LOGGING_LEVEL="WARNING",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        GX_ANALYTICS_ENABLED="False",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",  # a loaded CI machine starts it slowly
    )
    env.pop("PREFECT_API_URL", None)
    warehouse = tmp_path / "wh" / "aftersales.duckdb"
    result = subprocess.run(
        [sys.executable, "-m", "aftersales.cli", "run", "--inbox", str(inbox), "--db", str(warehouse),
         "--batch-date", BATCH.isoformat()],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=420,
    )  # fmt: skip
    err = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stderr[-2000:]
    assert len(err) == 1, f"{len(err)} lines on stderr, first ones: {err[:5]}"
    assert err[0].startswith("error: ") and "shops.csv" in err[0], err
    assert not warehouse.exists()
