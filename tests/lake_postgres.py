"""A throw-away PostgreSQL server for the DuckLake catalog tests: Debian's server binaries, loopback only.

Imported by the tests that need it (not conftest): `from lake_postgres import postgres_server`.
The server runs from a fresh `initdb` with trust authentication on 127.0.0.1 and a free port,
fsync off (a test catalog), and is stopped (`pg_ctl stop -m immediate`) and removed afterwards.
PostgreSQL refuses to run as root, so under root the server runs as the `postgres` system user
(created by Debian's package) in a folder it owns. Locally the tests skip, with the reason, when
no server binaries are installed; under CI (`CI` set) a missing server is a failure, because
`.ci/run` installs it (`.ci/ensure-postgres`).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
CATALOG_DB = "aftersales_lake"
CATALOG_USER = "aftersales"


def postgres_bin_dir() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres: on PATH, else Debian's newest /usr/lib/postgresql/N/bin."""
    on_path = shutil.which("initdb")
    candidates = [Path(os.path.realpath(on_path)).parent] if on_path else []
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted((Path(p) for p in versions), key=lambda p: int(p.parent.name), reverse=True)
    for folder in candidates:
        if all((folder / name).is_file() for name in SERVER_BINARIES):
            return folder
    return None


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    dbname: str

    @property
    def conninfo(self) -> str:
        """libpq key=value connection string of the catalog database."""
        return f"host={self.host} port={self.port} user={self.user} dbname={self.dbname}"

    @property
    def lake(self) -> str:
        """The warehouse address of a DuckLake with its catalog in this server."""
        return f"ducklake:postgres:{self.conninfo}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user() -> tuple[list[str], str | None]:
    """Command prefix that drops root to the `postgres` user (PostgreSQL refuses root); none otherwise."""
    if os.geteuid() != 0:
        return [], None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail("running as root and there is no `postgres` system user to run PostgreSQL as")
    setpriv = shutil.which("setpriv")
    if setpriv:
        return [setpriv, "--reuid=postgres", "--regid=postgres", "--init-groups"], "postgres"
    return ["runuser", "-u", "postgres", "--"], "postgres"


def _run(cmd: list[str], log: Path) -> None:
    with open(log, "ab") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=120)
    if proc.returncode != 0:
        pytest.fail(f"{Path(cmd[0] if '/' in cmd[0] else cmd[-1]).name} failed: {log.read_text()[-2000:]}")


@contextmanager
def running_postgres(bin_dir: Path) -> Iterator[PostgresServer]:
    """Start a fresh server on loopback, create the catalog database, yield it, stop and remove it."""
    prefix, server_user = _as_server_user()
    base = Path(tempfile.mkdtemp(prefix="aftersales-pg-"))
    try:
        if server_user:
            shutil.chown(base, server_user, server_user)
        data, log = base / "data", base / "server.log"
        _run(
            [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", CATALOG_USER, "--auth=trust"]
            + ["-E", "UTF8", "--locale=C", "--no-sync"],
            base / "initdb.log",
        )
        port = _start(prefix, bin_dir, data, base, log)
        try:
            server = PostgresServer("127.0.0.1", port, CATALOG_USER, CATALOG_DB)
            createdb = bin_dir / "createdb"
            _run(
                [str(createdb), "-h", server.host, "-p", str(port), "-U", CATALOG_USER, CATALOG_DB],
                base / "createdb.log",
            )
            yield server
        finally:
            subprocess.run(
                [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                timeout=60,
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _start(prefix: list[str], bin_dir: Path, data: Path, base: Path, log: Path) -> int:
    """pg_ctl start on a free loopback port (another process may take the port first: try again)."""
    for _attempt in range(3):
        port = _free_port()
        options = f"-h 127.0.0.1 -p {port} -k {base} -c fsync=off -c full_page_writes=off"
        proc = subprocess.run(
            [
                *prefix,
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "-o",
                options,
                "start",
            ],
            capture_output=True,
            timeout=90,
        )
        if proc.returncode == 0:
            return port
        time.sleep(0.2)
    pytest.fail(f"PostgreSQL did not start: {log.read_text()[-2000:] if log.exists() else proc.stderr}")


@pytest.fixture
def postgres_server() -> Iterator[PostgresServer]:
    """A running PostgreSQL server with an empty catalog database, for one test."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        reason = "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; install Debian's postgresql (.ci/ensure-postgres)"
        if os.environ.get("CI"):
            pytest.fail(reason + " — CI must have them")
        pytest.skip(reason)
    with running_postgres(bin_dir) as server:
        yield server
