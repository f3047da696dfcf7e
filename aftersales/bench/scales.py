"""Named benchmark scales and the cache of their generated inboxes (bench/inbox-<scale>/).

A cached inbox is reused only when the generator spec it was made from (sizes, seed, batch date,
bad-row rate) and the generator's source code are the same as now; anything else regenerates
it. Generation runs in a child process so the benchmark process never carries its memory.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from aftersales.generate import GeneratorSpec

# 10x apart in every dimension (order lines, requests, messages, evidence AND shops/files), so
# time(default)/time(small) is pure growth with the same data shape.
SCALES: dict[str, GeneratorSpec] = {
    "tiny": GeneratorSpec(shops=6, orders=2_000),
    "small": GeneratorSpec(shops=20, orders=100_000),
    "default": GeneratorSpec(shops=200, orders=1_000_000),
}
CACHE_FORMAT = 1
GENERATOR_DIR = Path(__file__).resolve().parent.parent / "generate"


@dataclass(frozen=True)
class CachedInbox:
    scale: str
    inbox: Path
    spec: GeneratorSpec
    rows: dict[str, int]
    files: int
    bytes: int
    reused: bool
    generate_seconds: float | None  # None when reused


def generator_fingerprint(root: Path = GENERATOR_DIR) -> str:
    """SHA-256 over the generator's sources: a changed generator may write different bytes."""
    digest = hashlib.sha256()
    for path in sorted(root.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def cache_key(spec: GeneratorSpec) -> dict:
    return {"format": CACHE_FORMAT, "spec": spec.as_dict(), "generator": generator_fingerprint()}


def _generate_child(out: str, spec: GeneratorSpec, report_path: str) -> None:
    from aftersales.generate import generate_inbox

    report = generate_inbox(Path(out), spec, overwrite=True)
    Path(report_path).write_text(json.dumps({"rows": report.rows, "files": len(report.files)}))


def _inbox_size(inbox: Path) -> tuple[int, int]:
    files = [p for p in inbox.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def ensure_inbox(scale: str, cache_root: Path, spec: GeneratorSpec | None = None) -> CachedInbox:
    """The inbox of `scale` under `cache_root/inbox-<scale>/inbox`, generated unless a matching one is cached."""
    spec = spec or SCALES[scale]
    home = Path(cache_root) / f"inbox-{scale}"
    inbox, meta_path = home / "inbox", home / "generator.json"
    key = cache_key(spec)
    if meta_path.is_file() and (inbox / "shops.csv").is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("key") == key:
            files, size = _inbox_size(inbox)
            return CachedInbox(scale, inbox, spec, meta["rows"], files, size, True, None)
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    report_path = home / "generation.json"
    started = time.perf_counter()
    child = multiprocessing.get_context("spawn").Process(
        target=_generate_child, args=(str(inbox), spec, str(report_path)), name=f"generate-{scale}"
    )
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"generating the {scale} inbox failed (exit code {child.exitcode})")
    seconds = round(time.perf_counter() - started, 2)
    generated = json.loads(report_path.read_text())
    report_path.unlink()
    meta_path.write_text(json.dumps({"key": key, "rows": generated["rows"], "seconds": seconds}, indent=2))
    files, size = _inbox_size(inbox)
    return CachedInbox(scale, inbox, spec, generated["rows"], files, size, False, seconds)
