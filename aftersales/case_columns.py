"""The case-feature catalogue and the stored case columns, read from the feature model's SQL.

`models/int_case_facts.sql` is the catalogue: every output column of its final SELECT carries a
trailing `-- TYPE: meaning` comment beside the SQL that computes it, so adding a feature is one
line in one file. This module sits at the top of the package so that both the warehouse schema
(`case_features` columns) and the policy engine (expression validation, lint, replay) look down
at it; it imports nothing from either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import sqlglot

from aftersales.sql_models import MODELS_DIR, ModelError

FEATURE_MODEL = "int_case_facts"
_ENTRY = re.compile(r"^\s*(?P<type>[A-Z]+(?:\(\d+,\s*\d+\))?)\s*:\s*(?P<doc>\S.*?)\s*$")


@dataclass(frozen=True)
class Feature:
    name: str
    sql_type: str
    doc: str


@cache
def read_catalogue(path: Path = MODELS_DIR / f"{FEATURE_MODEL}.sql") -> tuple[Feature, ...]:
    """Features in output order: (column name, `TYPE`, meaning) from each column's comment.

    A column without a catalogue comment, or a name given twice, is an error naming the file
    (the model's header and lineage are checked by `sql_models.load_models`).
    """
    select = sqlglot.parse_one(path.read_text(encoding="utf-8"), read="duckdb")
    features: list[Feature] = []
    for column in select.expressions:
        name = column.alias_or_name
        entries = [m for m in (_ENTRY.match(c) for c in column.comments or ()) if m]
        if not name or len(entries) != 1:
            raise ModelError(
                f"{path}: output column {column.sql()[:60]!r} needs one `-- TYPE: meaning` comment"
            )
        features.append(Feature(name, entries[0]["type"], entries[0]["doc"]))
    names = [f.name for f in features]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ModelError(f"{path}: feature(s) {repeated} given twice")
    return tuple(features)


FEATURES: tuple[Feature, ...] = read_catalogue()
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
FEATURE_TYPES: dict[str, str] = {f.name: f.sql_type for f in FEATURES}
FEATURE_DOCS: dict[str, str] = {f.name: f.doc for f in FEATURES}

# What `case_features` stores besides the features: each case's evidence items (no file names),
# so a replay can re-check evidence completeness under candidate packs.
EVIDENCE_DETAIL_COLUMN = "evidence_detail"
EVIDENCE_ITEM_FIELDS: tuple[tuple[str, str], ...] = (
    ("party", "VARCHAR"),
    ("evidence_type", "VARCHAR"),
    ("uploaded_time", "TIMESTAMPTZ"),
    ("file_size_bytes", "BIGINT"),
    ("sha256", "VARCHAR"),
    ("is_valid", "BOOLEAN"),
)
EVIDENCE_DETAIL_TYPE = "STRUCT(" + ", ".join(f"{n} {t}" for n, t in EVIDENCE_ITEM_FIELDS) + ")[]"
# Leading columns of `case_features`, in their published order; they are features too.
_STORED_KEYS: tuple[tuple[str, str], ...] = (
    ("case_id", "VARCHAR NOT NULL"),
    ("case_kind", "VARCHAR NOT NULL"),
    ("shop_id", "VARCHAR NOT NULL"),
    ("order_id", "VARCHAR"),
    ("market", "VARCHAR NOT NULL"),
    ("program", "VARCHAR NOT NULL"),
    ("request_time", "TIMESTAMPTZ"),
)


def stored_case_columns() -> tuple[tuple[str, str], ...]:
    """`case_features` columns after batch_date and run_id: one typed column per feature.

    Typed columns rather than one JSON document per case: columnar storage compresses them about
    tenfold and a replay reads them back without parsing. A feature added to the catalogue becomes
    a column appended to the warehouse table on the next publish (warehouse_schema adds it).
    """
    keys = {name for name, _ in _STORED_KEYS}
    rest = tuple((f.name, f.sql_type) for f in FEATURES if f.name not in keys and f.name != "batch_date")
    return (*_STORED_KEYS, *rest, (EVIDENCE_DETAIL_COLUMN, EVIDENCE_DETAIL_TYPE))
