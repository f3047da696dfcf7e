"""CLI: `aftersales rules lint|test` and `aftersales explain` (registered by aftersales/cli.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from aftersales.policy.explain import ExplainError, explain_case
from aftersales.policy.lint import lint_rules
from aftersales.policy.scenarios import run_scenarios
from aftersales.rulepack import DEFAULT_RULES_DIR, RulePackError

_RULES_OPTION = click.option(
    "--rules",
    "rules_dir",
    type=click.Path(path_type=Path),
    default=DEFAULT_RULES_DIR,
    show_default=True,
    help="Rules directory (one folder per pack).",
)


def register(group: click.Group) -> None:
    @group.group("rules")
    def rules() -> None:
        """Author and check rule packs.

        \b
        Examples:
          aftersales rules lint
          aftersales rules test --pack us_local
          aftersales rules lint --rules /tmp/candidate-rules
        """

    @rules.command("lint")
    @_RULES_OPTION
    def lint(rules_dir: Path) -> None:
        """Check schema, conditions, overlaps, Chinese clauses, sources and version periods.

        Exit status 1 with one line per problem when any pack is invalid.

        \b
        Examples:
          aftersales rules lint
          aftersales rules lint --rules /tmp/candidate-rules
        """
        report = lint_rules(rules_dir)
        for problem in report.problems:
            click.echo(problem, err=True)
        if not report.ok:
            raise click.ClickException(f"{len(report.problems)} problem(s) in {rules_dir}")
        click.echo(f"ok: {report.packs} packs, {report.rules} rules ({report.policy_rules} policy rules)")

    @rules.command("test")
    @_RULES_OPTION
    @click.option("--pack", "packs", multiple=True, help="Only this pack (repeatable).")
    def test(rules_dir: Path, packs: tuple[str, ...]) -> None:
        """Run the scenario files beside the packs and print rule coverage.

        Scenarios live in rules/<pack>/scenarios/*.yaml (case facts -> expected decision, liable
        party, fired rules). Exit status 1 when a scenario fails or a rule is exercised by none.

        \b
        Examples:
          aftersales rules test
          aftersales rules test --pack sea_local --pack sea_cross_border
        """
        try:
            report = run_scenarios(rules_dir, list(packs) or None)
        except RulePackError as exc:
            raise click.ClickException(str(exc).splitlines()[0]) from exc
        for r in report.failed:
            s = r.scenario
            click.echo(f"FAIL {s.pack}/{s.file}: {s.name}: {'; '.join(r.problems)}", err=True)
        for pack, (covered, total) in report.coverage_by_pack().items():
            click.echo(f"{pack}: {covered}/{total} rules exercised")
        for pack, rule_id, version in report.uncovered:
            click.echo(f"not exercised: {pack} {rule_id} v{version}", err=True)
        passed = len(report.results) - len(report.failed)
        click.echo(f"{passed}/{len(report.results)} scenarios passed, rule coverage {report.coverage:.1%}")
        if report.failed or report.uncovered:
            raise click.ClickException(
                f"{len(report.failed)} scenario(s) failed, {len(report.uncovered)} rule(s) not exercised"
            )

    @group.command("explain")
    @click.argument("case_id")
    @click.option(
        "--db", "db", type=click.Path(path_type=Path), required=True, help="Warehouse or work database."
    )
    @click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True)
    @click.option(
        "--batch-date",
        type=click.DateTime(formats=["%Y-%m-%d"]),
        default=None,
        help="Batch to show (default: the latest that judged the case).",
    )
    def explain(case_id: str, db: Path, lang: str, batch_date: dt.datetime | None) -> None:
        """Print a case's ruling and its rule trace.

        \b
        Examples:
          aftersales explain 403084933379717803 --db warehouse/aftersales.duckdb
          aftersales explain 403084933379717803 --db warehouse/aftersales.duckdb --lang zh
          aftersales explain CX-1001 --db warehouse/aftersales.duckdb --batch-date 2026-11-26
        """
        try:
            click.echo(explain_case(db, case_id, lang, batch_date.date() if batch_date else None))
        except ExplainError as exc:
            raise click.ClickException(str(exc)) from exc
