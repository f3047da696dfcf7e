"""The Prefect API server that schedules the nightly run: reuse one that answers, else start one.

`aftersales serve` needs a Prefect server: the scheduler creates the nightly flow runs and the
serving process picks them up. If one already answers at the configured address
(PREFECT_API_URL, else settings prefect_api_host:prefect_api_port) it is used as is; otherwise
one is started on loopback as a child process (`prefect server start`) in its own process
group, and stopped again when serving ends. A server is only ever started on loopback: one
on another host is somebody else's to run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from aftersales.settings import Settings

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class ServerUnavailable(RuntimeError):
    """No Prefect server answers and none can be started here."""


def api_url(settings: Settings, env: Mapping[str, str] | None = None) -> str:
    """PREFECT_API_URL when set, else the settings' loopback host and port."""
    env = os.environ if env is None else env
    if env.get("PREFECT_API_URL"):
        return env["PREFECT_API_URL"].rstrip("/")
    host = settings.prefect_api_host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.prefect_api_port}/api"


def is_healthy(url: str, timeout_s: float = 2.0) -> bool:
    """True when a Prefect API answers `GET <url>/health` with `true`."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=timeout_s) as resp:
            return resp.status == 200 and resp.read().strip() == b"true"
    except (urllib.error.URLError, OSError, ValueError):
        return False


@dataclass
class PrefectServer:
    """A Prefect API this process uses; `process` is set only when this process started it."""

    url: str
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    started_in_s: float | None = field(default=None, compare=False)

    @property
    def started_here(self) -> bool:
        return self.process is not None

    def stop(self, grace_s: float = 15.0) -> None:
        """Stop a server this process started (SIGTERM to its group, SIGKILL after `grace_s`)."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)


def _log_tail(path: Path | None, lines: int = 15) -> str:
    if path is None or not path.exists():
        return ""
    tail = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    return "\n".join(tail)


def start_server(
    host: str,
    port: int,
    log_path: Path,
    *,
    ui: bool = True,
    timeout_s: float = 90.0,
    env: Mapping[str, str] | None = None,
) -> PrefectServer:
    """Start `prefect server start` on loopback in its own process group and wait until healthy."""
    if host not in LOOPBACK_HOSTS:
        raise ServerUnavailable(f"refusing to start a Prefect server on {host}: only on loopback")
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/api"
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    child_env = {**(os.environ if env is None else env)}
    child_env.pop("PREFECT_API_URL", None)  # the server must not try to talk to itself
    child_env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)]
    cmd.append("--ui" if ui else "--no-ui")
    started = time.monotonic()
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_env,
            start_new_session=True,  # its own group: a Ctrl-C of ours stops it in order, not at once
        )
    server = PrefectServer(url, proc, log_path)
    deadline = started + timeout_s
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ServerUnavailable(
                    f"prefect server exited with status {proc.returncode} before answering on {url}; "
                    f"log {log_path}:\n{_log_tail(log_path)}"
                )
            if is_healthy(url, timeout_s=1.0):
                server.started_in_s = round(time.monotonic() - started, 2)
                return server
            time.sleep(0.25)
        raise ServerUnavailable(
            f"prefect server did not answer on {url} within {timeout_s:.0f}s; log {log_path}"
        )
    except BaseException:  # a timeout, Ctrl-C or SIGTERM while waiting: do not leave it running
        server.stop()
        raise


def ensure_server(
    settings: Settings, log_path: Path, *, ui: bool = True, timeout_s: float = 90.0
) -> PrefectServer:
    """Connect to the configured Prefect API if it answers, else start one on loopback there."""
    url = api_url(settings)
    if is_healthy(url):
        return PrefectServer(url)
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port
    if host not in LOOPBACK_HOSTS or port is None:
        raise ServerUnavailable(
            f"no Prefect API answers at {url}; start it there, or unset PREFECT_API_URL to let "
            "`aftersales serve` start one on loopback"
        )
    if parts.path.rstrip("/") != "/api":
        raise ServerUnavailable(f"cannot start a server for {url}: a local server serves its API at /api")
    return start_server(host, port, log_path, ui=ui, timeout_s=timeout_s)
