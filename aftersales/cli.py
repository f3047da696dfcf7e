"""The `aftersales` command line. Each concept's module registers its own commands.

Exit codes: 0 success (even with quarantined rows); 1 the command could not do its job
(one-line reason on stderr); 2 usage error.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import click

# Modules exposing `register(group: click.Group) -> None`.
COMMAND_MODULES = (
    "aftersales.commands.run_batch",
    "aftersales.commands.generate",
    "aftersales.commands.rules",
    "aftersales.commands.serve",
    "aftersales.commands.backfill_dates",
    "aftersales.commands.replay_candidate",
    "aftersales.commands.lineage",
    "aftersales.commands.lakehouse_admin",
    "aftersales.commands.export",
    "aftersales.commands.sql",
    "aftersales.commands.todo",
    "aftersales.commands.calibrate",
)


class UserError(click.ClickException):
    """An expected failure: printed as one line, exit status 1."""


VERBOSE_FLAG = "--verbose"
HELD_RECORDS = 100


class DeferredConsole(logging.Handler):
    """Without --verbose, stderr belongs to the command: library log records wait here instead.

    Prefect's engine logs a failing task or flow at ERROR with its traceback (60-90 lines before
    the reason), and Great Expectations sets some of its loggers to INFO. The command reports a
    failure itself, as one line, so what is held is dropped then; after a command that succeeded,
    the held warnings are shown, one line each. Prefect keeps flow and task run logs in its own
    API either way. (Not named with a leading underscore: Prefect's logging set-up leaves the
    root logger alone only when it already has a user handler.)
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.held: list[str] = []
        self.dropped = 0
        self.live = False

    def emit(self, record: logging.LogRecord) -> None:
        if self.live:
            full = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s").format(record)
            click.echo(full, err=True)
            return
        if len(self.held) >= HELD_RECORDS:
            self.dropped += 1
            return
        try:
            text = self.format(record).strip()
        except Exception:  # noqa: BLE001 - a broken log call must not break the command
            text = f"{record.levelname} {record.name}: {record.msg!r}"
        self.held.append(text.splitlines()[0] if text else record.levelname)

    def format(self, record: logging.LogRecord) -> str:
        # The message only: a traceback is --verbose material.
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info = record.exc_text = record.stack_info = None
        try:
            return super().format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved

    def show(self) -> None:
        """Print what was held (after a command that succeeded) and start holding afresh."""
        for line in self.held:
            click.echo(line, err=True)
        if self.dropped:
            click.echo(f"({self.dropped} more log records; run with --verbose to see them)", err=True)
        self.held, self.dropped = [], 0

    def go_live(self) -> None:
        """From now on print each record as it comes, traceback included (a long-running command)."""
        self.show()
        self.live = True


def show_logs_live() -> None:
    """For a command that keeps running once started (`serve`): its logs are its console output."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, DeferredConsole):
            handler.go_live()


@contextmanager
def console(verbose: bool) -> Iterator[DeferredConsole | None]:
    """Route library logging (Prefect, GX, py.warnings) to a DeferredConsole unless verbose.

    Installed before Prefect is imported, so Prefect's console handler never reaches the root
    logger. Afterwards the root logger gets its previous handlers back; when it had none (a
    fresh `aftersales` process) it gets a NullHandler, so records logged while the process
    exits (engine shutdown) are not printed by logging's last-resort handler either.
    """
    if verbose:
        yield None
        return
    held = DeferredConsole()
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    for handler in saved_handlers:
        root.removeHandler(handler)
    root.addHandler(held)
    root.setLevel(logging.WARNING)
    logging.captureWarnings(True)
    try:
        yield held
    finally:
        logging.captureWarnings(False)
        root.removeHandler(held)
        for handler in saved_handlers or [logging.NullHandler()]:
            root.addHandler(handler)
        root.setLevel(saved_level)


def wants_verbose(args: list[str]) -> bool:
    """--verbose anywhere before a `--` separator (before or after the command name)."""
    return VERBOSE_FLAG in (args[: args.index("--")] if "--" in args else args)


def one_line_message(text: str) -> str:
    """The first non-empty line of a message, control characters escaped: a refusal is one line.

    Messages quote file names and cell values from the exports; a carriage return or an escape
    sequence there must not rewrite the terminal line that reports it.
    """
    lines = [line.strip() for line in str(text).split("\n") if line.strip()]
    line = lines[0] if lines else "failed"
    return "".join(
        ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii") for ch in line
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--verbose",
    is_flag=True,
    help="Show full tracebacks and library logs (Prefect, Great Expectations); also accepted after the command.",
)
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Adjudicate marketplace after-sales disputes in a nightly batch.

    \b
    Examples:
      aftersales run --inbox data/sample/inbox --db warehouse/aftersales.ducklake --batch-date 2026-11-27
      aftersales generate --out /tmp/inbox --shops 6 --orders 400 --seed 7
      aftersales rules lint
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    if verbose:
        os.environ["AFTERSALES_VERBOSE"] = "1"


def _set_verbose(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        root = ctx.find_root()
        root.ensure_object(dict)
        root.obj["verbose"] = True
        os.environ["AFTERSALES_VERBOSE"] = "1"


def _accept_verbose_everywhere(command: click.Command) -> None:
    """`aftersales run --verbose ...` works like `aftersales --verbose run ...`, on every command."""
    if not any(VERBOSE_FLAG in getattr(p, "opts", ()) for p in command.params):
        command.params.append(
            click.Option(
                [VERBOSE_FLAG],
                is_flag=True,
                expose_value=False,
                callback=_set_verbose,
                help="Show full tracebacks and library logs on errors (same as `aftersales --verbose`).",
            )
        )
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _accept_verbose_everywhere(sub)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(cli)
    for command in cli.commands.values():
        _accept_verbose_everywhere(command)


_register_all()


def main(argv: list[str] | None = None) -> int:
    args = list(argv if argv is not None else sys.argv[1:])
    verbose = wants_verbose(args)
    with console(verbose) as held:
        status = _invoke(args, verbose)
        if status == 0 and held is not None:
            held.show()
    return status


def _invoke(args: list[str], verbose: bool) -> int:
    try:
        cli.main(args=args, prog_name="aftersales", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except click.exceptions.NoArgsIsHelpError as exc:
        exc.show()  # the help text, asked for by giving no arguments
        return 2
    except click.UsageError as exc:
        # One line too (exit status 2): the reason, and where the usage is.
        command = exc.ctx.command_path if exc.ctx is not None else "aftersales"
        click.echo(f"error: {one_line_message(exc.format_message())} (usage: {command} --help)", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        if verbose and exc.__cause__ is not None:
            traceback.print_exception(exc.__cause__, file=sys.stderr)
        click.echo(f"error: {one_line_message(exc.format_message())}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place that turns failures into one line
        if verbose:
            traceback.print_exception(exc, file=sys.stderr)
        click.echo(
            f"error: {type(exc).__name__}: {one_line_message(str(exc) or type(exc).__name__)}", err=True
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
