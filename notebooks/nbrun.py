"""Helpers for the notebooks: build a demo lake, execute a notebook, render it to HTML.

Used by notebooks/render.sh and tests/python/test_notebooks.py. Run with the project's venv:

    .venv/bin/python notebooks/nbrun.py demo-lake --lake /tmp/demo-lake
    .venv/bin/python notebooks/nbrun.py render notebooks/lake_tour.ipynb notebooks/out/lake_tour.html

The demo lake is made by the real write path (`ingest generate` + `ingest run`), fed as a series
of hourly delivery files. `ingest run` stamps every record of a file with the file's
modification time as its arrival_time, so each delivery file gets an mtime a little after its
last event was created; some deliveries also carry late re-sends of events from earlier hours.
That gives the notebook's arrival-lag and duplicate-delay views something to show: a lake
ingested from one single file has one arrival_time for every row.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_INGEST = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target") / "debug" / "ingest"
# created_at of the first generated event: the generator's own default (2026-11-01T00:00:00Z).
DEFAULT_START = 1793491200
KERNEL_NAME = "eventlake-venv"


def find_ingest(explicit: str | os.PathLike | None = None) -> Path:
    """The `ingest` binary: explicit path, $EVENTLAKE_INGEST, or target/debug/ingest."""
    candidate = Path(explicit or os.environ.get("EVENTLAKE_INGEST") or DEFAULT_INGEST)
    if not candidate.is_file() or not os.access(candidate, os.X_OK):
        raise FileNotFoundError(
            f"ingest binary not found at {candidate}: build it first with "
            "`cargo build -p ingest` (or set EVENTLAKE_INGEST)"
        )
    return candidate


def _created_at(line: str) -> int | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    created = value.get("created_at")
    if isinstance(created, int) and not isinstance(created, bool) and 946684800 <= created < 4102444800:
        return created
    return None


def build_demo_lake(
    lake: str | os.PathLike,
    *,
    events: int = 20000,
    hours: int = 24,
    seed: int = 7,
    late_resend_rate: float = 0.01,
    start: int = DEFAULT_START,
    ingest: str | os.PathLike | None = None,
    workdir: str | os.PathLike | None = None,
) -> dict:
    """Writes a demo lake at `lake` from `hours` hourly deliveries of `events` records in all.

    Volume follows a day curve (quiet at night, busy in the afternoon). Each hour is one
    `ingest generate` run (its own seed; ~5% in-hour re-sends, ~0.2% invalid records) plus
    late re-sends of events from earlier hours. Returns the summed `ingest run` summaries.
    """
    binary = find_ingest(ingest)
    rng = random.Random(seed)
    weights = [1.0 + 0.7 * math.sin(2 * math.pi * (h - 9) / 24) for h in range(hours)]
    scale = events / sum(weights)
    counts = [max(20, round(w * scale)) for w in weights]

    own_tmp = None
    if workdir is None:
        own_tmp = tempfile.TemporaryDirectory(prefix="eventlake-demo-")
        workdir = own_tmp.name
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    totals: dict = {}
    earlier: list[str] = []  # valid records of earlier hours, candidates for late re-sends
    try:
        for hour, count in enumerate(counts):
            path = work / f"delivery-{hour:03d}.jsonl"
            subprocess.run(
                [
                    str(binary), "generate",
                    "--events", str(count),
                    "--seed", str(seed * 1000 + hour),
                    "--start", str(start + hour * 3600),
                    "--output", str(path),
                ],
                check=True, capture_output=True, text=True,
            )
            lines = path.read_text().splitlines()
            created = [c for c in map(_created_at, lines) if c is not None]
            valid = [line for line in lines if _created_at(line) is not None]
            late = []
            if earlier and late_resend_rate > 0:
                late = rng.sample(earlier, min(len(earlier), max(1, round(count * late_resend_rate))))
            path.write_text("\n".join(lines + late) + "\n")
            # Delivered 5 s to 3 min after the hour's last event; every 6th delivery is stuck
            # for ~40 minutes (a throttled consumer, a retried batch).
            lag = rng.uniform(5, 180) + (2400 if hour % 6 == 5 else 0)
            arrival = (max(created) if created else start + hour * 3600) + lag
            os.utime(path, (arrival, arrival))
            run = subprocess.run(
                [str(binary), "run", "--input", str(path), "--lake", str(lake), "--summary", "json"],
                check=True, capture_output=True, text=True,
            )
            summary = json.loads(run.stdout)
            for key, value in summary.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    totals[key] = totals.get(key, 0) + value
            earlier.extend(valid)
    finally:
        if own_tmp is not None:
            own_tmp.cleanup()
    totals["deliveries"] = len(counts)
    return totals


def _kernel_spec_dir(root: Path) -> Path:
    """A kernelspec running this interpreter (the project's .venv when run from it)."""
    kdir = root / "kernels" / KERNEL_NAME
    kdir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (eventlake .venv)",
        "language": "python",
    }
    (kdir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return kdir


def execute_notebook(path: str | os.PathLike, *, timeout: int = 600, env: dict | None = None):
    """Executes a notebook top to bottom in a kernel of this interpreter; returns the notebook.

    The kernel runs with the notebook's directory as working directory and this process's
    environment updated with `env`. Raises nbclient's CellExecutionError on the first error.
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="eventlake-jupyter-") as jupyter_dir:
        _kernel_spec_dir(Path(jupyter_dir))
        os.environ["JUPYTER_PATH"] = os.pathsep.join(
            p for p in (jupyter_dir, saved.get("JUPYTER_PATH", "")) if p
        )
        for key, value in (env or {}).items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = str(value)
        try:
            client = NotebookClient(
                nb,
                kernel_name=KERNEL_NAME,
                timeout=timeout,
                resources={"metadata": {"path": str(path.parent)}},
            )
            client.execute()
        finally:
            os.environ.clear()
            os.environ.update(saved)
    return nb


def render_html(nb, out: str | os.PathLike) -> Path:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo-lake", help="build a demo lake with target/debug/ingest")
    demo.add_argument("--lake", required=True)
    demo.add_argument("--events", type=int, default=20000)
    demo.add_argument("--hours", type=int, default=24)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--ingest", default=None)
    render = sub.add_parser("render", help="execute a notebook and write it as HTML")
    render.add_argument("notebook")
    render.add_argument("html")
    render.add_argument("--timeout", type=int, default=1800)
    args = parser.parse_args(argv)
    if args.command == "demo-lake":
        totals = build_demo_lake(
            args.lake, events=args.events, hours=args.hours, seed=args.seed, ingest=args.ingest
        )
        print(json.dumps(totals))
    else:
        nb = execute_notebook(args.notebook, timeout=args.timeout)
        print(render_html(nb, args.html))
    return 0


if __name__ == "__main__":
    sys.exit(main())
