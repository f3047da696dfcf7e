"""Quoting of text into DuckDB SQL (string literals and identifiers), shared by ingest and quality."""

from __future__ import annotations


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
