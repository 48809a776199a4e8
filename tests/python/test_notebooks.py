"""The notebooks in notebooks/: stored clean, and they run top to bottom on a fresh lake.

Run from the repository root: .venv/bin/python -m pytest tests/python/test_notebooks.py -q

Needs target/debug/ingest (cargo build -p ingest) to write the lake. Each notebook is executed
with nbclient in a kernel of this interpreter (the project's .venv), with EVENTLAKE_LAKE
pointing at a small lake made by `ingest generate` + `ingest run` in a temporary directory.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import nbformat
import pytest

from lake_fixtures import binary

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def _load_nbrun():
    spec = importlib.util.spec_from_file_location("eventlake_nbrun", NOTEBOOK_DIR / "nbrun.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


nbrun = _load_nbrun()


def _ids(paths):
    return [p.name for p in paths]


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"
    assert NOTEBOOK_DIR / "lake_tour.ipynb" in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_stored_without_outputs(path):
    """Notebooks are committed clean: no outputs, no execution counts (render.sh writes out/)."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, (
        f"{path.name}: code cells {dirty} have outputs or execution counts; clear them "
        "(e.g. `jupyter nbconvert --clear-output --inplace`)"
    )
    # No stray execution metadata either (timings, widget state).
    for cell in nb.cells:
        assert "execution" not in cell.metadata, f"{path.name}: execution metadata stored"
    assert "widgets" not in nb.metadata, f"{path.name}: widget state stored"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_lake_is_a_parameter(path):
    """The first code cell is papermill's "parameters" cell and reads EVENTLAKE_LAKE."""
    nb = nbformat.read(path, as_version=4)
    first = next(cell for cell in nb.cells if cell.cell_type == "code")
    assert "parameters" in first.metadata.get("tags", []), f"{path.name}: first code cell not tagged parameters"
    assert "EVENTLAKE_LAKE" in first.source


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    try:
        ingest = nbrun.find_ingest()
    except FileNotFoundError as err:
        pytest.fail(str(err))
    root = tmp_path_factory.mktemp("notebook-lake") / "lake"
    totals = nbrun.build_demo_lake(root, events=3000, hours=6, seed=11, ingest=ingest,
                                   workdir=root.parent / "deliveries")
    assert totals["written"] > 0 and totals["duplicates"] > 0 and totals["quarantined"] > 0, totals
    return root


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs(path, lake):
    env = {
        "EVENTLAKE_LAKE": str(lake),
        "EVENTLAKE_LAKEQ": str(binary("lakeq")),  # the compaction section runs the build under test
        # The Athena section must skip without touching the network.
        "EVENTLAKE_ATHENA_WORKGROUP": None,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    nb = nbrun.execute_notebook(path, timeout=300, env=env)  # raises CellExecutionError on any error

    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    plot_cells = [(i, c) for i, c in enumerate(nb.cells) if "plot" in c.metadata.get("tags", [])]
    assert plot_cells, f"{path.name}: no cell tagged plot"
    for i, cell in plot_cells:
        pngs = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        assert pngs, f"{path.name}: plot cell {i} produced no image/png:\n{cell.source[:300]}"

    text = "\n".join(
        o.get("text", "") + json.dumps(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
    if path.name == "lake_tour.ipynb":
        assert "Athena: skipped" in text
        assert "Traceback" not in text
