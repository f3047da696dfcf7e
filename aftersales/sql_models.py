"""SQL models: one `models/<table>.sql` file per table the batch builds after staging.

A newcomer finds where a table is computed by opening `models/<table>.sql`; this loader is
the only machinery: it reads each file's header, checks the declared `reads` against the
lineage sqlglot derives from the SQL (so the header cannot drift), orders a stage's models by
what they read (graphlib) and runs them as `CREATE OR REPLACE TABLE <model> AS <select>` with
the stage's values bound as DuckDB named parameters (`$batch_date`, `$run_id`, ...).

File format (header lines first, all `--` comments; the remaining comment lines before the
SQL say what a row is and why the table exists)::

    -- model: int_case_lines
    -- stage: score
    -- reads: stg_order_lines, stg_aftersales_requests
    -- materialized: temp            (optional: `table`, the default, or `temp`)
    -- One row per ordered SKU line some case refers to; ...
    SELECT ...

API notes (additions to the brief's API, by MODELS-POLICY; nothing was removed):
- `-- materialized: temp` (optional header): the policy stage's intermediates live only for the
  connection, as the temp tables they replace did, and never land in the work database.
- `SqlModel.materialized` and `SqlModel.parameters` (the `$names` its SQL uses); `run_models`
  binds only those (DuckDB rejects unused named parameters) and fails naming the file when one
  is missing; `run_model(con, model, params)` builds a single model (a re-judge rebuilds only
  `int_case_features`); `run_models` takes an optional `models` mapping (tests, tmp dirs).
- `load_models` also refuses a model that reads a model of a later stage (`STAGES` order) and
  raises `ModelError` (a ValueError) for every problem, naming the file or the cycle.
- Lineage is every table node minus the statement's own CTE names, so a CTE that shadows a
  table hides that table from the lineage; table functions (`range()`) are not relations.
Parsed files are cached per process by (path, mtime, size): ~0.7 s for 31 files, once.
"""

from __future__ import annotations

import graphlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"

# Stages that build tables from models, in batch order; a model may read models of its own or
# an earlier stage only (the stage list in definitions.py runs them in this order).
STAGES: tuple[str, ...] = ("score", "sla", "health", "action_queue")
MATERIALIZATIONS = ("table", "temp")

_HEADER = re.compile(r"^--\s*(model|stage|reads|materialized)\s*:(.*)$")


class ModelError(ValueError):
    """A model file is malformed, its header disagrees with its SQL, or models form a cycle."""


@dataclass(frozen=True)
class SqlModel:
    name: str
    stage: str
    reads: tuple[str, ...]
    meaning: str
    path: Path
    sql: str
    materialized: str = "table"
    parameters: tuple[str, ...] = ()  # named parameters (`$name`) the SQL uses, sorted


def derive_reads(sql: str | exp.Expression) -> tuple[str, ...]:
    """Relations a SELECT reads: sqlglot table nodes minus the statement's own CTE names.

    Table functions (`range(...)`, `pg_timezone_names()`) are not relations and are ignored.
    """
    tree = sqlglot.parse_one(sql, read="duckdb") if isinstance(sql, str) else sql
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    names = {
        t.name for t in tree.find_all(exp.Table) if isinstance(t.this, exp.Identifier) and t.name not in ctes
    }
    return tuple(sorted(names))


def parse_model(path: Path) -> SqlModel:
    """Read one model file; raise ModelError naming the file when it is malformed."""
    text = path.read_text(encoding="utf-8")
    fields: dict[str, str] = {}
    meaning: list[str] = []
    lines = text.splitlines()
    body_start = len(lines)
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("--"):
            body_start = i
            break
        match = _HEADER.match(stripped)
        if match:
            key = match.group(1)
            if key in fields:
                raise ModelError(f"{path}: header `{key}` given twice")
            fields[key] = match.group(2).strip()
        else:
            meaning.append(stripped[2:].strip())
    sql = "\n".join(lines[body_start:]).strip().rstrip(";").strip()
    for key in ("model", "stage", "reads"):
        if key not in fields:
            raise ModelError(f"{path}: header line `-- {key}: ...` missing")
    name, stage = fields["model"], fields["stage"]
    if name != path.stem:
        raise ModelError(f"{path}: header names model {name!r}, file stem is {path.stem!r}")
    if stage not in STAGES:
        raise ModelError(f"{path}: unknown stage {stage!r} (known: {', '.join(STAGES)})")
    materialized = fields.get("materialized", "table")
    if materialized not in MATERIALIZATIONS:
        raise ModelError(f"{path}: materialized must be one of {MATERIALIZATIONS}, not {materialized!r}")
    if not meaning:
        raise ModelError(f"{path}: a comment line saying what a row is and why the table exists is missing")
    if not sql:
        raise ModelError(f"{path}: no SQL after the header")
    try:
        statements = sqlglot.parse(sql, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise ModelError(f"{path}: SQL does not parse: {exc}") from exc
    statements = [s for s in statements if s is not None]
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise ModelError(f"{path}: must hold exactly one SELECT/WITH statement")
    declared = tuple(sorted({r.strip() for r in fields["reads"].split(",") if r.strip()}))
    derived = derive_reads(statements[0])
    if declared != derived:
        missing = sorted(set(derived) - set(declared))
        extra = sorted(set(declared) - set(derived))
        raise ModelError(
            f"{path}: header `reads` disagrees with the SQL: not declared {missing}, declared but not read {extra}"
        )
    return SqlModel(
        name=name,
        stage=stage,
        reads=declared,
        meaning=" ".join(meaning),
        path=path,
        sql=sql,
        materialized=materialized,
        parameters=tuple(sorted({p.name for p in statements[0].find_all(exp.Placeholder) if p.name})),
    )


def _order(models: Mapping[str, SqlModel]) -> list[str]:
    graph = {m.name: [r for r in m.reads if r in models] for m in models.values()}
    try:
        return list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        raise ModelError(f"models read each other in a cycle: {' -> '.join(cycle)}") from exc


_PARSED: dict[tuple[str, int, int], SqlModel] = {}


def _parse_cached(path: Path) -> SqlModel:
    """Parsing with sqlglot costs ~0.1 s a file: a file is parsed again only when it changes."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _PARSED:
        _PARSED[key] = parse_model(path)
    return _PARSED[key]


def load_models(models_dir: Path = MODELS_DIR) -> dict[str, SqlModel]:
    """Every model in `models_dir`, checked: headers, lineage, stage order and no cycles."""
    models = {m.name: m for m in (_parse_cached(p) for p in sorted(models_dir.glob("*.sql")))}
    _order(models)
    rank = {stage: i for i, stage in enumerate(STAGES)}
    for m in models.values():
        later = [r for r in m.reads if r in models and rank[models[r].stage] > rank[m.stage]]
        if later:
            raise ModelError(
                f"{m.path}: stage {m.stage!r} reads {later} built by a later stage "
                f"({', '.join(sorted({models[r].stage for r in later}))})"
            )
    return models


def stage_models(stage: str, models: Mapping[str, SqlModel] | None = None) -> list[SqlModel]:
    """The stage's models in dependency order (what a model reads is built before it)."""
    if stage not in STAGES:
        raise ModelError(f"unknown stage {stage!r} (known: {', '.join(STAGES)})")
    models = load_models() if models is None else models
    return [models[n] for n in _order(models) if models[n].stage == stage]


def run_model(con, model: SqlModel, params: Mapping[str, object]) -> None:
    """Build one model's table on `con` (what it reads must exist), binding the parameters it uses."""
    used = model.parameters
    missing = [p for p in used if p not in params]
    if missing:
        raise ModelError(f"{model.path}: parameters {missing} not given for stage {model.stage!r}")
    kind = "TEMP TABLE" if model.materialized == "temp" else "TABLE"
    con.execute(f"CREATE OR REPLACE {kind} {model.name} AS\n{model.sql}", {p: params[p] for p in used})


def run_models(
    con, stage: str, params: Mapping[str, object], models: Mapping[str, SqlModel] | None = None
) -> list[str]:
    """Build the stage's tables in order on `con`; return their names in build order."""
    built = []
    for model in stage_models(stage, models):
        run_model(con, model, params)
        built.append(model.name)
    return built


def lineage(models: Mapping[str, SqlModel] | None = None) -> dict[str, tuple[str, ...]]:
    """Model -> the relations it reads (models and source tables), models sorted by name."""
    models = load_models() if models is None else models
    return {name: models[name].reads for name in sorted(models)}
