"""The per-case reference engine (`bench/per_case_baseline/` in the checkout), loaded by path.

It is a yardstick, not part of the product: a second rules engine kept outside the `aftersales`
package so it never ships or gets imported by production code. The benchmark and the parity test
run from a checkout, where the folder sits beside the package; it is loaded as the package
`per_case_baseline` (its modules import each other relatively), once per process.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

PACKAGE = "per_case_baseline"
FOLDER = Path(__file__).resolve().parents[2] / "bench" / PACKAGE


def per_case_baseline() -> ModuleType:
    """The reference package; FileNotFoundError outside a checkout (no bench/ folder)."""
    if PACKAGE in sys.modules:
        return sys.modules[PACKAGE]
    init = FOLDER / "__init__.py"
    if not init.is_file():
        raise FileNotFoundError(
            f"the per-case baseline {FOLDER} is missing: run the benchmark from a checkout"
        )
    spec = importlib.util.spec_from_file_location(PACKAGE, init, submodule_search_locations=[str(FOLDER)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[PACKAGE]
        raise
    return module
