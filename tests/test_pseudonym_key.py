"""The local pseudonym key: made once, said once, never half-written, shared by concurrent runs."""

from __future__ import annotations

import logging
import multiprocessing
import os
import stat
from pathlib import Path

from aftersales.settings import Settings, pseudonym_key


def _key_in_child(path: str, out) -> None:
    out.put(pseudonym_key(Settings(pseudonym_key_file=path)).hex())


def test_first_use_creates_a_private_key_and_says_so_once(tmp_path, caplog):
    path = tmp_path / "keys" / "pseudonym.key"
    with caplog.at_level(logging.WARNING, logger="aftersales.settings"):
        first = pseudonym_key(Settings(pseudonym_key_file=str(path)))
        assert len(first) == 32 and [r.levelno for r in caplog.records] == [logging.WARNING]
        assert str(path) in caplog.records[0].getMessage()
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert pseudonym_key(Settings(pseudonym_key_file=str(path))) == first  # stable
        assert len(caplog.records) == 1  # said once
    assert [p.name for p in path.parent.iterdir()] == ["pseudonym.key"]  # no temp file left


def test_concurrent_first_runs_agree_on_one_key(tmp_path):
    path = str(Path(tmp_path) / "pseudonym.key")
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_key_in_child, args=(path, out)) for _ in range(6)]
    for p in procs:
        p.start()
    keys = {out.get(timeout=60) for _ in procs}
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert keys == {Path(path).read_text().strip()}
