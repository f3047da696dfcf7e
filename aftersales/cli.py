"""The `aftersales` command line. Each concept's module registers its own commands.

Exit codes: 0 success (even with quarantined rows); 1 the command could not do its job
(one-line reason on stderr); 2 usage error.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

# Modules exposing `register(group: click.Group) -> None`.
COMMAND_MODULES = (
    "aftersales.commands.run",
    "aftersales.generate.command",
    "aftersales.policy.command",
    "aftersales.commands.orchestration",
    "aftersales.commands.export",
)


class UserError(click.ClickException):
    """An expected failure: printed as one line, exit status 1."""


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--verbose", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Adjudicate marketplace after-sales disputes in a nightly batch.

    \b
    Examples:
      aftersales run --inbox data/sample/inbox --db warehouse/aftersales.duckdb --batch-date 2026-11-27
      aftersales generate --out /tmp/inbox --shops 6 --orders 400 --seed 7
      aftersales rules lint
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    if verbose:
        os.environ["AFTERSALES_VERBOSE"] = "1"


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # not built yet
                continue
            raise
        module.register(cli)


_register_all()


def main(argv: list[str] | None = None) -> int:
    verbose = "--verbose" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="aftersales", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except click.UsageError as exc:
        exc.show()
        return 2
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - the one place that turns failures into one line
        if verbose:
            raise
        click.echo(f"error: {type(exc).__name__}: {exc}".splitlines()[0], err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
