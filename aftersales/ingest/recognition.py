"""Which export kind a header row is: the kind whose known columns best match it."""

from __future__ import annotations

from dataclasses import dataclass

from aftersales.export_kinds import KINDS, Kind, header_key

MIN_RECOGNISED_COLUMNS = 3


@dataclass(frozen=True)
class Recognition:
    kind: Kind
    positions: dict[str, tuple[int, ...]]  # header -> 0-based positions in the file's header row
    missing_required: tuple[str, ...]


def recognise(header: list[str], kinds: tuple[str, ...] | None = None) -> Recognition | None:
    """The export kind whose known columns best match a header row; None when no kind wins.

    A kind wins with at least MIN_RECOGNISED_COLUMNS known columns and strictly more than any
    other kind, so a file missing a required column is still recognised (and skipped with a
    reason naming the column) while ambiguous or foreign headers are not.
    """
    keys = [header_key(h) for h in header]
    scored: list[tuple[int, Recognition]] = []
    for name in kinds or tuple(KINDS):
        kind = KINDS[name]
        positions: dict[str, list[int]] = {}
        for pos, key in enumerate(keys):
            col = kind.header_index.get(key)
            if col is not None:
                positions.setdefault(col.header, []).append(pos)
        missing = tuple(c.header for c in kind.required if c.header not in positions)
        rec = Recognition(kind, {h: tuple(p) for h, p in positions.items()}, missing)
        scored.append((len(positions), rec))
    scored.sort(key=lambda s: -s[0])
    if not scored or scored[0][0] < MIN_RECOGNISED_COLUMNS:
        return None
    if len(scored) > 1 and scored[1][0] == scored[0][0]:
        return None
    return scored[0][1]
