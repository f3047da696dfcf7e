"""Configuration: one TOML file with environment-variable overrides.

Precedence (highest first): explicit arguments > `AFTERSALES_<KEY>` environment variables >
the settings file (`AFTERSALES_CONFIG`, else `./aftersales.toml` if present) > defaults.
See `aftersales.example.toml` for every key.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    inbox: str = "data/sample/inbox"
    warehouse: str = "warehouse/aftersales.ducklake"
    rules_dir: str = str(PROJECT_ROOT / "rules")
    report_dir: str = "reports"
    timezone: str = "Asia/Singapore"  # the time zone the nightly schedule runs in
    schedule_cron: str = "0 2 * * *"  # 02:00 every day, processing the previous day
    prefect_api_host: str = "127.0.0.1"
    prefect_api_port: int = 4200
    pseudonym_key: str = ""  # hex; prefer the key file or the env variable
    pseudonym_key_file: str = ".aftersales/pseudonym.key"
    duckdb_memory_limit: str = "1536MB"  # per DuckDB connection of a stage; "" = DuckDB's default
    duckdb_threads: int = 0  # 0 = one per core
    # LAKE-CORE (issue 13): where a PostgreSQL-catalog lake keeps its Parquet files (a `.ducklake`
    # keeps them beside its catalog), and where the bundled DuckDB extensions are installed from
    # their wheels (never downloaded).
    lake_data_path: str = ""
    duckdb_extension_directory: str = str(PROJECT_ROOT / ".aftersales" / "duckdb_extensions")
    # LAKE-OPS (issue 13): `aftersales maintain` expires lake snapshots older than this (time
    # travel reaches back this far), and deletes replaced or orphaned files only once they are
    # this old (a reader may still scan them; a running publish has not committed them yet).
    snapshot_retention_days: int = 30
    lake_file_grace_hours: int = 24
    # Shards (issue 14): shops are split by a stable hash of their Shop ID into about
    # `shops_per_shard` shops each (at most `max_shards`; `shards` > 0 fixes the count), and the
    # shards run on `task_runner` (threads | dask | sequential) with `task_workers` workers
    # (0 = one per core); `dask_address` names an external scheduler (tcp://host:8786), else a
    # LocalCluster is started with `dask_worker_memory` per worker. `on_shard_failure`: "fail"
    # fails the batch naming the shard's shops; "publish-others" publishes the other shards and
    # records the failed shops in `runs`.
    shards: int = 0
    shops_per_shard: int = 100
    max_shards: int = 64
    task_runner: str = "threads"
    task_workers: int = 0
    dask_address: str = ""
    dask_worker_memory: str = "2GiB"
    on_shard_failure: str = "fail"

    def with_overrides(self, **values) -> Settings:
        return replace(self, **{k: v for k, v in values.items() if v is not None})


def _coerce(name: str, value: str):
    kind = {f.name: f.type for f in fields(Settings)}[name]
    return int(value) if kind in ("int", int) else value


def load_settings(path: str | os.PathLike | None = None, env: dict | None = None) -> Settings:
    env = os.environ if env is None else env
    values: dict = {}
    cfg = (
        path
        or env.get("AFTERSALES_CONFIG")
        or ("aftersales.toml" if Path("aftersales.toml").exists() else None)
    )
    if cfg:
        with open(cfg, "rb") as fh:
            doc = tomllib.load(fh)
        known = {f.name for f in fields(Settings)}
        unknown = set(doc) - known
        if unknown:
            raise ValueError(f"{cfg}: unknown settings {sorted(unknown)}")
        values.update(doc)
    for f in fields(Settings):
        key = f"AFTERSALES_{f.name.upper()}"
        if key in env and env[key] != "":
            values[f.name] = _coerce(f.name, env[key])
    return Settings(**values)


def pseudonym_key(settings: Settings) -> bytes:
    """The HMAC key for buyer pseudonyms: setting/env first, else a local key file made once.

    The key file is created with mode 0600 on first use. Keep it (or set
    AFTERSALES_PSEUDONYM_KEY) stable: a new key gives every buyer a new pseudonym, which breaks
    repeat-claim analysis across batches.
    """
    if settings.pseudonym_key:
        return (
            bytes.fromhex(settings.pseudonym_key)
            if _is_hex(settings.pseudonym_key)
            else settings.pseudonym_key.encode()
        )
    path = Path(settings.pseudonym_key_file)
    if not path.exists():
        _create_key_file(path)
    return bytes.fromhex(path.read_text().strip())


def _create_key_file(path: Path) -> None:
    """Write a new random key (mode 0600) and say so once on stderr.

    The key is written to a private temporary file and hard-linked into place, so a concurrent
    run either creates the key or reads the whole key another run created, never a half file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32))
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)
    except FileExistsError:
        return  # another run created it first: use that one
    finally:
        tmp.unlink(missing_ok=True)
    # A warning, not a print: the CLI shows it after a run that goes on, and drops it with the
    # other held logs when the command is refused (a refusal stays one line).
    logging.getLogger(__name__).warning(
        "created a new buyer-pseudonym key in %s (mode 0600). Keep it stable and secret; "
        "set AFTERSALES_PSEUDONYM_KEY to share one key between machines.",
        path,
    )


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
        return len(text) >= 32
    except ValueError:
        return False


def warn_if_sample_inbox(inbox: str | Path, command: str) -> None:
    """Say loudly on stderr when a command falls back to the bundled sample inbox.

    The default `inbox` setting is the demo's sample, so that `make demo` needs no settings; a
    production run or schedule that forgot `--inbox` / `AFTERSALES_INBOX` must not adjudicate
    sample data in silence.
    """
    sample = Path(__file__).resolve().parent.parent / Settings.inbox
    template = str(inbox).split("{", 1)[0]
    try:
        is_sample = Path(template).resolve() == sample.resolve()
    except OSError:
        is_sample = False
    if is_sample:
        sys.stderr.write(
            f"warning: {command} uses the bundled SAMPLE inbox {inbox} (demo data); give --inbox or set "
            "AFTERSALES_INBOX / `inbox` in the settings file for real exports\n"
        )
