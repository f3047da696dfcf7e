"""Deterministic synthetic inboxes of Seller Center exports (`aftersales generate`).

Public entry points: `generate_inbox(out, GeneratorSpec(...)) -> GenerationReport` writes an
inbox and reports every file, quirk and bad row; `personal_values(inbox)` reads back the
personal values an inbox holds, for leak scans of the warehouse.
"""

from aftersales.generate.personal import personal_values
from aftersales.generate.sample_inbox import GenerationReport, generate_inbox
from aftersales.generate.spec import GeneratorSpec

__all__ = ["GenerationReport", "GeneratorSpec", "generate_inbox", "personal_values"]
