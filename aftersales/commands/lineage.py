"""CLI: `aftersales lineage` prints or draws which model reads which (registered by aftersales/cli.py)."""

from __future__ import annotations

from pathlib import Path

import click

from aftersales.sql_models import MODELS_DIR, STAGES, ModelError, SqlModel, load_models


def lineage_text(models: dict[str, SqlModel]) -> str:
    """One line per model: `name [stage] <- what it reads`, in batch stage order, then by name."""
    lines = []
    for m in sorted(models.values(), key=lambda m: (STAGES.index(m.stage), m.name)):
        lines.append(f"{m.name} [{m.stage}] <- {', '.join(m.reads) or '(nothing)'}")
    return "\n".join(lines)


def lineage_dot(models: dict[str, SqlModel]) -> str:
    """Graphviz: one cluster per stage; source tables (not models) drawn as plain boxes."""
    out = ["digraph lineage {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
    sources = sorted({r for m in models.values() for r in m.reads if r not in models})
    for name in sources:
        out.append(f'  "{name}" [style=dashed];')
    for stage in (s for s in STAGES if any(m.stage == s for m in models.values())):
        out.append(f'  subgraph "cluster_{stage}" {{')
        out.append(f'    label="{stage}";')
        for m in sorted(models.values(), key=lambda m: m.name):
            if m.stage == stage:
                out.append(f'    "{m.name}";')
        out.append("  }")
    for m in sorted(models.values(), key=lambda m: m.name):
        for r in m.reads:
            out.append(f'  "{r}" -> "{m.name}";')
    out.append("}")
    return "\n".join(out)


def lineage_mermaid(models: dict[str, SqlModel]) -> str:
    """Mermaid flowchart (renders in GitHub markdown): one subgraph per stage."""
    out = ["flowchart LR"]
    sources = sorted({r for m in models.values() for r in m.reads if r not in models})
    for name in sources:
        out.append(f"  {name}[({name})]")
    for stage in (s for s in STAGES if any(m.stage == s for m in models.values())):
        out.append(f"  subgraph {stage}")
        for m in sorted(models.values(), key=lambda m: m.name):
            if m.stage == stage:
                out.append(f"    {m.name}[{m.name}]")
        out.append("  end")
    for m in sorted(models.values(), key=lambda m: m.name):
        for r in m.reads:
            out.append(f"  {r} --> {m.name}")
    return "\n".join(out)


FORMATS = {"text": lineage_text, "dot": lineage_dot, "mermaid": lineage_mermaid}


def register(group: click.Group) -> None:
    @group.command("lineage")
    @click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), default="text", show_default=True)
    @click.option(
        "--models",
        "models_dir",
        type=click.Path(path_type=Path, file_okay=False, exists=True),
        default=MODELS_DIR,
        show_default=True,
        help="Folder of SQL models.",
    )
    def lineage(fmt: str, models_dir: Path) -> None:
        """Show which table each SQL model reads (models/<table>.sql headers, checked against the SQL).

        \b
        Examples:
          aftersales lineage
          aftersales lineage --format dot | dot -Tsvg > lineage.svg
          aftersales lineage --format mermaid
        """
        try:
            models = load_models(models_dir)
        except ModelError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(FORMATS[fmt](models))
