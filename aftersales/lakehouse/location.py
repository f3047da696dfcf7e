"""What `--db` names: a single DuckDB file, or a DuckLake (catalog plus Parquet data path).

Parsed in one place so that every command, the publish step and the readers agree:

- `PATH.duckdb` (or any existing DuckDB file): the single-file warehouse, published by swap;
- `PATH.ducklake`, `ducklake:sqlite:PATH` or an existing SQLite file not named `.duckdb`: a
  DuckLake whose catalog is the SQLite file PATH and whose Parquet data files live under
  `PATH.files/` (created by the first publish);
- `ducklake:postgres:<libpq conninfo>`: a DuckLake whose catalog is a PostgreSQL database;
  the data files then live under the `lake_data_path` setting (several machines share it).

Anything else keeps today's meaning, a DuckDB file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from aftersales.settings import Settings, load_settings

LAKE_SUFFIX = ".ducklake"
FILE_SUFFIX = ".duckdb"
DATA_FOLDER_SUFFIX = ".files"
LAKE_PREFIX = "ducklake:"
SQLITE_PREFIX = "ducklake:sqlite:"
POSTGRES_PREFIX = "ducklake:postgres:"
_SQLITE_MAGIC = b"SQLite format 3\x00"


class LocationError(ValueError):
    """`--db` names no warehouse this version can use (one line saying why)."""


@dataclass(frozen=True)
class WarehouseLocation:
    """A parsed `--db`: its kind, what DuckDB ATTACHes, and where a lake's Parquet files live."""

    text: str  # as given (for messages)
    kind: Literal["duckdb_file", "ducklake"]
    catalog: str  # duckdb_file: the absolute file path; ducklake: the `ducklake:...` ATTACH string
    data_path: str | None = None  # ducklake only: folder (or URL) of the Parquet files, ends with "/"

    @classmethod
    def parse(cls, db: str | Path | WarehouseLocation, settings: Settings | None = None) -> WarehouseLocation:
        if isinstance(db, WarehouseLocation):
            return db
        text = str(db).strip()
        if not text:
            raise LocationError("no warehouse given (--db is empty)")
        if text.startswith(POSTGRES_PREFIX):
            settings = settings or load_settings()
            data_path = settings.lake_data_path.strip()
            if not data_path:
                raise LocationError(
                    f"warehouse {cls(text, 'ducklake', text).display} has a PostgreSQL catalog: set lake_data_path "
                    "(AFTERSALES_LAKE_DATA_PATH) to the folder its Parquet files live in"
                )
            if "://" not in data_path:
                data_path = str(Path(data_path).expanduser().resolve())
            return cls(text, "ducklake", text, data_path.rstrip("/") + "/")
        if text.startswith(SQLITE_PREFIX):
            return cls._sqlite_lake(text, Path(text[len(SQLITE_PREFIX) :]))
        if text.startswith(LAKE_PREFIX):
            raise LocationError(
                f"warehouse {text}: only ducklake:sqlite:PATH, PATH.ducklake and ducklake:postgres:CONNINFO "
                "catalogs are supported"
            )
        path = Path(text).expanduser()
        if path.suffix != FILE_SUFFIX and (path.suffix == LAKE_SUFFIX or _is_sqlite_file(path)):
            return cls._sqlite_lake(text, path)
        return cls(text, "duckdb_file", str(path.resolve()))

    @classmethod
    def _sqlite_lake(cls, text: str, catalog_file: Path) -> WarehouseLocation:
        catalog_file = catalog_file.expanduser().resolve()
        data_path = catalog_file.with_name(catalog_file.name + DATA_FOLDER_SUFFIX)
        return cls(text, "ducklake", SQLITE_PREFIX + str(catalog_file), str(data_path) + "/")

    @property
    def is_lake(self) -> bool:
        return self.kind == "ducklake"

    @property
    def catalog_backend(self) -> Literal["duckdb", "sqlite", "postgres"]:
        if not self.is_lake:
            return "duckdb"
        return "postgres" if self.catalog.startswith(POSTGRES_PREFIX) else "sqlite"

    @property
    def catalog_file(self) -> Path | None:
        """The local file holding the tables (DuckDB file) or the catalog (SQLite); None for PostgreSQL."""
        if self.kind == "duckdb_file":
            return Path(self.catalog)
        if self.catalog_backend == "sqlite":
            return Path(self.catalog[len(SQLITE_PREFIX) :])
        return None

    @property
    def sidecar(self) -> Path:
        """The path the publish lock, run locks and attempt journal are named after (`<sidecar>.lock`...).

        Beside the file for a DuckDB or SQLite warehouse (as today); for a PostgreSQL catalog, a
        `_aftersales` entry in the data folder, which every machine publishing to the lake shares.
        """
        if (path := self.catalog_file) is not None:
            return path
        if self.data_path and "://" not in self.data_path:
            return Path(self.data_path) / "_aftersales"
        raise LocationError(f"warehouse {self.display}: lake_data_path must be a local or mounted folder")

    @property
    def exists(self) -> bool:
        """Has anything been published here yet? (PostgreSQL: assumed; the catalog says on ATTACH.)"""
        path = self.catalog_file
        return path.exists() if path is not None else True

    @property
    def display(self) -> str:
        """The location for messages, without a PostgreSQL password."""
        if self.catalog_backend != "postgres":
            return self.text
        return " ".join(p for p in self.text.split() if not p.lower().startswith("password="))


def _is_sqlite_file(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False
