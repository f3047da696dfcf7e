"""Seeded mutations of generated Open API dumps: the reader never crashes and accounts for every
record (records read = staged + quarantined + superseded), whatever the bytes (issue #17)."""

from __future__ import annotations

import json
import random
import re
from datetime import date
from pathlib import Path

import duckdb
import pytest

from aftersales.generate import GeneratorSpec, generate_inbox
from aftersales.ingest.api_json import read_api_dumps

BATCH = date(2026, 11, 27)
MUTANTS_PER_FILE = 3


@pytest.fixture(scope="module")
def dumps(tmp_path_factory) -> list[Path]:
    out = tmp_path_factory.mktemp("fuzz") / "inbox"
    generate_inbox(out, GeneratorSpec(shops=1, orders=40, seed=21, batch_date=BATCH, delivery="openapi"))
    return sorted(out.rglob("openapi/*"))


def _truncate(rng, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))]


def _flip(rng, data: bytes) -> bytes:
    i = rng.randrange(len(data))
    return data[:i] + bytes([rng.choice(b'{}[]",:\\\n\x00\xff')]) + data[i + 1 :]


def _lines_shuffled(rng, data: bytes) -> bytes:
    lines = data.split(b"\n")
    i = rng.randrange(len(lines))
    op = rng.choice(("drop", "repeat", "garbage", "swap"))
    if op == "drop":
        del lines[i]
    elif op == "repeat":
        lines.insert(i, lines[i])
    elif op == "garbage":
        lines.insert(i, rng.choice((b"{", b"null", b"42", b'"text"', b"[]", b'{"code": "x"}', b"\xff\xfe")))
    else:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines)


def _retype(rng, data: bytes) -> bytes:
    """A field of the wrong type: a time as text, an id as a number, a list as an object."""
    text = data.decode("utf-8", errors="replace")
    field = rng.choice(
        ("update_time", "create_time", "return_id", "line_items", "images", "sender", "content")
    )
    value = rng.choice(('"soon"', "-1", "1e309", "{}", "[1,2]", "null", '"2026-11-27"', "true"))
    return re.sub(rf'"{field}":\s*("[^"]*"|[-\d.eE]+|\[[^\]]*\]|\{{[^}}]*\}}|null|true|false)',
                  f'"{field}": {value}', text, count=rng.randint(1, 5)).encode()  # fmt: skip


def _wrap(rng, data: bytes) -> bytes:
    try:
        doc = json.loads(data)
    except ValueError:
        return data + b"\n" + data
    return json.dumps(
        rng.choice(([doc, doc], {"code": 0, "data": doc}, [[doc]], {"data": {"orders": doc}}))
    ).encode()


MUTATIONS = (_truncate, _flip, _lines_shuffled, _retype, _wrap)


def test_mutated_dumps_never_crash_and_every_record_is_accounted_for(dumps, tmp_path):
    assert len(dumps) >= 6
    rng = random.Random(17)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    outcomes: dict[str, int] = {}
    count = 0
    for source in dumps:
        original = source.read_bytes()
        for n in range(MUTANTS_PER_FILE):
            mutation = MUTATIONS[count % len(MUTATIONS)]
            count += 1
            mutant = tmp_path / "S1" / f"{source.stem}.{n}{source.suffix}"
            mutant.parent.mkdir(parents=True, exist_ok=True)
            mutant.write_bytes(mutation(rng, original))
            intact = tmp_path / "S1" / source.name
            intact.write_bytes(original)  # an overlapping dump beside the mutant
            read = read_api_dumps(con, "S1", [mutant, intact], BATCH, None, inbox=tmp_path)
            for entry in read.entries:
                superseded = read.superseded.get(entry.index, 0)
                if entry.status == "ingested":
                    assert entry.rows_read == entry.rows_staged + entry.rows_quarantined + superseded, (
                        mutation.__name__,
                        entry,
                    )
                else:
                    assert entry.reason and entry.rows_read == 0
            assert all(q[1] is None or q[1] >= 1 for q in read.quarantine)
            # A quarantined record's raw names its keys or its size, never a value.
            assert all(q[6] is None or q[6].startswith(('{"__keys"', '{"__bytes"')) for q in read.quarantine)
            for kind, table in read.tables.items():
                width = len(read.headers[kind])
                assert len(con.execute(f"DESCRIBE {table}").fetchall()) == 5 + width
                dupes = con.execute(
                    f"SELECT count(*) - count(DISTINCT (__file, __line)) FROM {table}"
                ).fetchone()[0]
                assert dupes == 0
            outcomes[mutation.__name__] = outcomes.get(mutation.__name__, 0) + 1
    assert set(outcomes) == {m.__name__ for m in MUTATIONS}
