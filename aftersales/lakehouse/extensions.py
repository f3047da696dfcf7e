"""The DuckDB extensions a lake needs, installed from their Python wheels, never downloaded.

`duckdb-extension-ducklake`, `-sqlite-scanner` and `-postgres-scanner` (pinned with DuckDB
1.5.5) ship the signed `.duckdb_extension` file inside the package and an empty `__init__.py`.
We INSTALL that file into a project-local `extension_directory` (setting
`duckdb_extension_directory`) once, then LOAD it by name; DuckDB verifies the signature on LOAD.
Connections that use a lake are opened with auto-install and auto-load off, so nothing is ever
fetched from the network and a missing wheel is one clear error naming the package to install.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import duckdb

from aftersales.settings import Settings, load_settings

DUCKLAKE = "ducklake"
SQLITE = "sqlite_scanner"
POSTGRES = "postgres_scanner"
EXTENSIONS_FOR_CATALOG = {"sqlite": (SQLITE, DUCKLAKE), "postgres": (POSTGRES, DUCKLAKE)}


class ExtensionMissing(RuntimeError):
    """The wheel carrying a needed DuckDB extension is not installed in this environment."""


def wheel_package(extension: str) -> str:
    return "duckdb_extension_" + extension


def bundled_extension_file(extension: str) -> Path:
    """The `.duckdb_extension` file inside the installed wheel for this DuckDB version."""
    package = wheel_package(extension)
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ExtensionMissing(
            f"DuckDB extension {extension} is not installed: pip install "
            f"{package.replace('_', '-')}=={duckdb.__version__}"
        )
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "extensions" / f"v{duckdb.__version__}" / f"{extension}.duckdb_extension"
        if candidate.is_file():
            return candidate
    raise ExtensionMissing(
        f"{package.replace('_', '-')} carries no {extension} build for DuckDB {duckdb.__version__}: "
        f"pip install {package.replace('_', '-')}=={duckdb.__version__}"
    )


def connection_config(settings: Settings | None = None) -> dict[str, str]:
    """DuckDB options of any connection that attaches a lake: local extensions only."""
    settings = settings or load_settings()
    return {
        "extension_directory": str(extension_directory(settings)),
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
    }


def _installed_copy(con: duckdb.DuckDBPyConnection, extension: str) -> Path | None:
    row = con.execute(
        "SELECT installed, install_path FROM duckdb_extensions() WHERE extension_name = ?", [extension]
    ).fetchone()
    if row is None or not row[0] or not row[1]:
        return None
    return Path(row[1])


def load_extensions(con: duckdb.DuckDBPyConnection, extensions: tuple[str, ...]) -> None:
    """INSTALL (from the wheel, only when the local copy is missing or differs) and LOAD each extension.

    The connection must have been opened with `connection_config` so that the copy lands in the
    project-local folder. A copy whose size differs from the wheel's (another version, or a copy
    torn by a kill) is replaced with FORCE INSTALL.
    """
    for extension in extensions:
        source = bundled_extension_file(extension)
        installed = _installed_copy(con, extension)
        if installed is None or not installed.is_file() or installed.stat().st_size != source.stat().st_size:
            force = "FORCE " if installed is not None and installed.exists() else ""
            con.execute(f"{force}INSTALL '{source}'")
        con.execute(f"LOAD {extension}")


def extensions_for(catalog_backend: str) -> tuple[str, ...]:
    """The extensions (in load order) a lake with this catalog backend needs."""
    return EXTENSIONS_FOR_CATALOG.get(catalog_backend, ())


def extension_directory(settings: Settings) -> Path:
    """The project-local folder the bundled extensions are installed into ("" = the default)."""
    folder = settings.duckdb_extension_directory or Settings().duckdb_extension_directory
    return Path(folder).expanduser()
