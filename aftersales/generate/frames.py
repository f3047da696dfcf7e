"""Columnar in-memory rows of one export kind, before they are rendered as text.

Generated data stays in numpy arrays until the very end so that a million order lines cost
seconds, not minutes. Conventions used by every generator module:

- instants are float64 seconds since the Unix epoch (UTC); NaN means "has not happened";
- money is float64 in minor units (cents, pence, satang...); NaN means empty;
- identifiers are int64 (or `Text` when they carry letters);
- strings are `Text`: integer codes into a vocabulary, code -1 meaning empty. Vocabularies are
  small (enum labels) or shared (the buyer pool), which keeps a million rows cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

EMPTY = -1


@dataclass
class Text:
    """Dictionary-coded strings: `codes[i]` indexes `vocab`, `EMPTY` (-1) is an empty cell."""

    codes: np.ndarray
    vocab: pa.Array

    @classmethod
    def of(cls, codes: np.ndarray, vocab: Sequence[str] | pa.Array) -> Text:
        voc = vocab if isinstance(vocab, pa.Array) else pa.array(list(vocab), type=pa.string())
        return cls(np.asarray(codes, dtype=np.int32), voc)

    @classmethod
    def constant(cls, n: int, value: str | None) -> Text:
        if value is None:
            return cls(np.full(n, EMPTY, dtype=np.int32), pa.array([""], type=pa.string()))
        return cls(np.zeros(n, dtype=np.int32), pa.array([value], type=pa.string()))

    def __len__(self) -> int:
        return len(self.codes)

    def take(self, idx: np.ndarray) -> Text:
        return Text(self.codes[idx], self.vocab)

    def values(self) -> list[str | None]:
        """Python strings (small frames and tests only)."""
        voc = self.vocab.to_pylist()
        return [None if c < 0 else voc[c] for c in self.codes.tolist()]

    def to_arrow(self) -> pa.DictionaryArray:
        indices = pa.array(self.codes, type=pa.int32(), mask=self.codes < 0)
        return pa.DictionaryArray.from_arrays(indices, self.vocab)


Column = np.ndarray | Text


class Frame(dict[str, Column]):
    """Named columns of equal length (a tiny, explicit stand-in for a data frame)."""

    def __len__(self) -> int:  # number of rows, not of columns
        for col in self.values():
            return len(col)
        return 0

    def take(self, idx: np.ndarray) -> Frame:
        return Frame(
            {name: col.take(idx) if isinstance(col, Text) else col[idx] for name, col in self.items()}
        )

    def to_arrow(self) -> pa.Table:
        """Arrow table: float instants become TIMESTAMP WITH TIME ZONE, NaN becomes null."""
        arrays, names = [], []
        for name, col in self.items():
            names.append(name)
            arrays.append(_to_arrow(name, col))
        return pa.Table.from_arrays(arrays, names=names)


def _to_arrow(name: str, col: Column) -> pa.Array:
    if isinstance(col, Text):
        return col.to_arrow()
    if name.startswith("t_"):
        nan = np.isnan(col)
        secs = np.where(nan, 0, np.round(col)).astype(np.int64)
        return pa.array(secs, type=pa.timestamp("s", tz="UTC"), mask=nan)
    if col.dtype.kind == "f":
        return pa.array(col, type=pa.float64(), mask=np.isnan(col))
    return pa.array(col)


def concat(frames: Sequence[Frame]) -> Frame:
    """Row-wise concatenation; `Text` columns must share their vocabulary object or be re-coded."""
    out = Frame()
    for name in frames[0]:
        cols = [f[name] for f in frames]
        if isinstance(cols[0], Text):
            out[name] = _concat_text(cols)
        else:
            out[name] = np.concatenate(cols)
    return out


def _concat_text(cols: Sequence[Text]) -> Text:
    codes, vocab, shift = [], [], 0
    for col in cols:
        codes.append(np.where(col.codes < 0, EMPTY, col.codes + shift).astype(np.int32))
        vocab.append(col.vocab)
        shift += len(col.vocab)
    return Text(np.concatenate(codes), pa.concat_arrays(vocab))
