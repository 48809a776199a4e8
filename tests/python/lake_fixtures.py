"""Builds lakes with the real `ingest` binary for the Python tests (independent readers)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Cargo's build directory: ./target unless CARGO_TARGET_DIR moves it.
TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")


def binary(name: str) -> Path:
    path = TARGET / "debug" / name
    if not path.exists():
        raise RuntimeError(f"{path} is missing: build it first with `cargo build --workspace --features ingest/io`")
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


@contextlib.contextmanager
def moto_server():
    """moto's server (S3, Glue, ...) from the project venv on a free loopback port; yields
    its endpoint URL and stops it afterwards."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"moto_server did not start on port {port}")
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)
