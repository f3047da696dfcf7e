"""The analyst and compliance notebooks run top to bottom against a warehouse and draw their charts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from test_views_sample import build_sample_warehouse

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAMES = ("analyst_walkthrough", "compliance")


def load(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_committed_without_outputs(name):
    nb = load(name)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    assert nb.metadata.kernelspec.name == "python3"
    assert any("AFTERSALES_DB" in c.source and "open_warehouse" in c.source for c in code)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    return build_sample_warehouse(tmp_path_factory.mktemp("notebooks") / "wh.duckdb", views=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_read_only_and_draws_every_chart(name, warehouse, monkeypatch):
    monkeypatch.setenv("AFTERSALES_DB", str(warehouse))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend emits the PNGs
    before = hashlib.sha256(warehouse.read_bytes()).hexdigest()
    nb = load(name)
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    images = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.data]
    charts = sum(c.source.count("plt.show()") for c in nb.cells if c.cell_type == "code")
    assert charts >= 4 and len(images) == charts  # every chart drew (no "no data" branch taken)
    printed = "".join(o.text for o in outputs if o.output_type == "stream")
    assert f"warehouse: {warehouse}" in printed and "latest published batch: 2026-11-27" in printed
    # the warehouse was built without views: the notebook added them for its session only
    assert hashlib.sha256(warehouse.read_bytes()).hexdigest() == before
