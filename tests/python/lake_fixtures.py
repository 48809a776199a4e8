"""Builds lakes with the real `ingest` binary for the Python tests (independent readers)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Cargo's build directory: ./target unless CARGO_TARGET_DIR moves it.
TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")


def binary(name: str) -> Path:
    path = TARGET / "debug" / name
    if not path.exists():
        raise RuntimeError(f"{path} is missing: build it first with `cargo build --workspace`")
    return path


def ingest(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary("ingest")), *args], input=stdin, capture_output=True, text=True, check=False)


def build_lake(tmp: Path, records: int = 20_000, seed: int = 5, extra_lines: list[str] | None = None) -> tuple[Path, dict]:
    """Generates events (plus `extra_lines`), ingests them, returns (lake dir, summary)."""
    source = tmp / "events.jsonl"
    generated = ingest("generate", "--events", str(records), "--seed", str(seed), "--output", str(source))
    assert generated.returncode == 0, generated.stderr
    if extra_lines:
        with source.open("a") as f:
            for line in extra_lines:
                f.write(line + "\n")
    lake = tmp / "lake"
    ran = ingest("run", "--input", str(source), "--lake", str(lake), "--summary", "json", "--batch-size", "5000")
    assert ran.returncode == 0, ran.stderr
    return lake, json.loads(ran.stdout)
