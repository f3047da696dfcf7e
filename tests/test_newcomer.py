"""Things a newcomer trips on: silent sample-data defaults, defaults missing from --help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from aftersales.settings import warn_if_sample_inbox

ROOT = Path(__file__).resolve().parent.parent


def test_falling_back_to_the_sample_inbox_is_said_loudly(capsys, tmp_path):
    warn_if_sample_inbox(ROOT / "data" / "sample" / "inbox", "run")
    err = capsys.readouterr().err
    assert err.startswith("warning: run uses the bundled SAMPLE inbox") and "AFTERSALES_INBOX" in err
    warn_if_sample_inbox(ROOT / "data" / "sample" / "inbox" / "{date}", "serve")  # a template of it
    assert "SAMPLE" in capsys.readouterr().err
    warn_if_sample_inbox(tmp_path, "run")  # a real inbox: nothing said
    assert capsys.readouterr().err == ""


def test_run_help_shows_the_defaults():
    out = subprocess.run(
        [sys.executable, "-m", "aftersales.cli", "run", "--help"], capture_output=True, text=True, timeout=120
    ).stdout
    flat = " ".join(out.split())
    assert "default: the bundled sample inbox data/sample/inbox, with a warning" in flat
    assert "default warehouse/aftersales.ducklake" in flat
