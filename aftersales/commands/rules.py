"""CLI: `aftersales rules lint|test` and `aftersales explain` (registered by aftersales/cli.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from aftersales.lakehouse.location import LocationError
from aftersales.policy.explain import ExplainError, explain_case
from aftersales.policy.lint import lint_rules
from aftersales.policy.scenarios import run_scenarios
from aftersales.rulepack import DEFAULT_RULES_DIR, RulePackError, load_rulebook

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

        Problems are listed on stdout, one line each; when any pack is invalid the exit status
        is 1 and stderr has one line: the count and the first problem.

        \b
        Examples:
          aftersales rules lint
          aftersales rules lint --rules /tmp/candidate-rules
        """
        report = lint_rules(rules_dir)
        for problem in report.problems:
            click.echo(problem)
        if not report.ok:
            first = report.problems[0] if report.problems else "see above"
            raise click.ClickException(f"{len(report.problems)} problem(s) in {rules_dir}; first: {first}")
        click.echo(f"ok: {report.packs} packs, {report.rules} rules ({report.policy_rules} policy rules)")

    @rules.command("test")
    @_RULES_OPTION
    @click.option("--pack", "packs", multiple=True, help="Only this pack (repeatable).")
    def test(rules_dir: Path, packs: tuple[str, ...]) -> None:
        """Run the scenario files beside the packs and print rule coverage.

        Scenarios live in rules/<pack>/scenarios/*.yaml (case facts -> expected decision, liable
        party, fired rules). Results go to stdout; exit status 1 when a scenario fails or a rule
        is exercised by none, with one line on stderr naming the first.

        \b
        Examples:
          aftersales rules test
          aftersales rules test --pack sea_local --pack sea_cross_border
        """
        try:
            if packs:  # a misspelt --pack must not pass with 0 scenarios
                known = [p.id for p in load_rulebook(rules_dir).packs]
                unknown = [p for p in dict.fromkeys(packs) if p not in known]
                if unknown:
                    raise click.ClickException(
                        f"no pack {', '.join(unknown)} in {rules_dir} (packs: {', '.join(known)})"
                    )
            report = run_scenarios(rules_dir, list(packs) or None)
        except RulePackError as exc:
            raise click.ClickException(str(exc).splitlines()[0]) from exc
        failures = [
            f"FAIL {r.scenario.pack}/{r.scenario.file}: {r.scenario.name}: {'; '.join(r.problems)}"
            for r in report.failed
        ]
        unexercised = [
            f"not exercised: {pack} {rule_id} v{version}" for pack, rule_id, version in report.uncovered
        ]
        for line in failures:
            click.echo(line)
        for pack, (covered, total) in report.coverage_by_pack().items():
            click.echo(f"{pack}: {covered}/{total} rules exercised")
        for line in unexercised:
            click.echo(line)
        passed = len(report.results) - len(report.failed)
        click.echo(f"{passed}/{len(report.results)} scenarios passed, rule coverage {report.coverage:.1%}")
        if failures or unexercised:
            raise click.ClickException(
                f"{len(report.failed)} scenario(s) failed, {len(report.uncovered)} rule(s) not exercised; "
                f"first: {(failures + unexercised)[0]}"
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
    @click.option(
        "--as-of",
        "as_of",
        metavar="RUN_ID",
        default=None,
        help="Explain as the lake stood right after that run published (time travel; lakes only).",
    )
    @_RULES_OPTION
    def explain(
        case_id: str, db: Path, lang: str, batch_date: dt.datetime | None, as_of: str | None, rules_dir: Path
    ) -> None:
        """Print a case's ruling and its rule trace.

        Under --lang zh every word is Chinese (ids excepted): each rule's Chinese clause replaces its
        English reason; the clauses come from the warehouse's rule_catalog when it has one, else from --rules.

        \b
        Examples:
          aftersales explain 403084933379717803 --db warehouse/aftersales.ducklake
          aftersales explain 403084939288207779 --db warehouse/aftersales.ducklake --lang zh
          aftersales explain AP8802800914432283 --db warehouse/aftersales.ducklake --batch-date 2026-11-27
          aftersales explain 403084933379717803 --db warehouse/aftersales.ducklake --as-of RUN_ID
        """
        day = batch_date.date() if batch_date else None
        try:
            click.echo(explain_case(db, case_id, lang, day, rules_dir, as_of_run=as_of))
        except (ExplainError, LocationError) as exc:
            raise click.ClickException(str(exc)) from exc
