"""Everything wires up: every command registers and documents itself, flows and tasks load."""

from __future__ import annotations

import io
import sys

import click
import pytest
from click.testing import CliRunner

from aftersales import progress
from aftersales.cli import COMMAND_MODULES, cli, main

EXPECTED_COMMANDS = {"run", "generate", "rules", "explain", "serve", "backfill", "replay", "export"}


def all_commands(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    found = {}
    for name, command in group.commands.items():
        found[f"{prefix}{name}"] = command
        if isinstance(command, click.Group):
            found.update(all_commands(command, f"{prefix}{name} "))
    return found


def test_every_command_module_is_present_and_registered():
    import importlib

    for name in COMMAND_MODULES:
        assert hasattr(importlib.import_module(name), "register"), name
    assert EXPECTED_COMMANDS <= set(cli.commands)


@pytest.mark.parametrize("path", sorted(all_commands(cli)))
def test_every_command_has_help_with_examples(path):
    result = CliRunner().invoke(cli, [*path.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"`aftersales {path} --help` shows no example"


def test_flows_and_tasks_load():
    from flows.backfill import backfill_batches
    from flows.deployment import scheduled_nightly
    from flows.nightly import FLOW_NAME, nightly_batch
    from tasks import stages

    assert nightly_batch.name == FLOW_NAME
    assert backfill_batches.name and scheduled_nightly.name
    for task_name in ("preflight", "ingest", "score", "sla", "health", "publish", "report"):
        assert getattr(stages, task_name).name == task_name


def test_unknown_option_is_a_usage_error_and_failures_are_one_line(tmp_path, capsys):
    assert main(["run", "--no-such-option"]) == 2
    assert "No such option" in capsys.readouterr().err
    code = main(
        [
            "run",
            "--inbox",
            str(tmp_path / "missing"),
            "--db",
            str(tmp_path / "wh.duckdb"),
            "--batch-date",
            "2026-11-27",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err == [f"error: inbox {tmp_path / 'missing'} does not exist"]
    assert not (tmp_path / "wh.duckdb").exists()


def test_progress_bar_follows_the_steps_a_flow_reports(capsys, monkeypatch):
    with progress.bar(len(progress.NIGHTLY_STAGES), "batch"):
        for stage in progress.NIGHTLY_STAGES:
            progress.advance(stage)
    assert capsys.readouterr().err == ""  # stderr is not a terminal: no stray progress lines

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with progress.bar(len(progress.NIGHTLY_STAGES), "batch"):
        for stage in progress.NIGHTLY_STAGES:
            progress.advance(stage)
    progress.advance("after the bar: nobody listens, nothing happens")
    assert "batch" in terminal.getvalue() and progress.NIGHTLY_STAGES[-1] in terminal.getvalue()
