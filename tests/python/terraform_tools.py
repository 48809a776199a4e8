"""Helpers for tests/python/test_terraform.py: parse terraform/*.tf with python-hcl2, and run
checkov from its own virtualenv.

checkov lives in .venv/checkov, not in the project venv: checkov pins boto3 and packaging to
versions that conflict with the project's pins, and its bc-python-hcl2 dependency installs
the same top-level `hcl2` package as python-hcl2. Its pinned dependency set is
terraform/requirements-checkov.txt; the venv is (re)built when that file changes.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import hcl2
from hcl2 import SerializationOptions

REPO = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO / "terraform"
GLUE_COLUMNS = TERRAFORM_DIR / "generated" / "glue_columns.json"
CHECKOV_REQUIREMENTS = TERRAFORM_DIR / "requirements-checkov.txt"
CHECKOV_VENV = REPO / ".venv" / "checkov"
INGEST_BIN = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target") / "debug" / "ingest"

_HCL_OPTIONS = SerializationOptions(
    with_comments=True,
    explicit_blocks=False,
    strip_string_quotes=True,
    preserve_heredocs=False,
)


# --- HCL ------------------------------------------------------------------------------------


def parse_file(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        return hcl2.load(f, serialization_options=_HCL_OPTIONS)


class Config:
    """All top-level blocks of terraform/*.tf, keyed like Terraform addresses them."""

    def __init__(self, directory: Path = TERRAFORM_DIR) -> None:
        self.files = sorted(directory.glob("*.tf"))
        self.resources: dict[str, dict[str, dict[str, Any]]] = {}
        self.data: dict[str, dict[str, dict[str, Any]]] = {}
        self.variables: dict[str, dict[str, Any]] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        self.locals: dict[str, Any] = {}
        self.terraform: list[dict[str, Any]] = []
        for path in self.files:
            doc = parse_file(path)
            for block in doc.get("resource", []):
                for rtype, by_name in block.items():
                    for name, body in by_name.items():
                        self.resources.setdefault(rtype, {})[name] = body
            for block in doc.get("data", []):
                for dtype, by_name in block.items():
                    for name, body in by_name.items():
                        self.data.setdefault(dtype, {})[name] = body
            for block in doc.get("variable", []):
                self.variables.update(block)
            for block in doc.get("output", []):
                self.outputs.update(block)
            for block in doc.get("locals", []):
                self.locals.update({k: v for k, v in block.items() if not k.startswith("__")})
            self.terraform.extend(doc.get("terraform", []))

    def resource(self, rtype: str, name: str) -> dict[str, Any]:
        assert rtype in self.resources and name in self.resources[rtype], f"missing resource {rtype}.{name}"
        return self.resources[rtype][name]

    def policy_documents(self) -> dict[str, dict[str, Any]]:
        return self.data.get("aws_iam_policy_document", {})


def block(body: dict[str, Any], name: str) -> dict[str, Any]:
    """The single nested block `name` of a block body."""
    blocks = body.get(name)
    assert isinstance(blocks, list) and len(blocks) == 1, f"expected exactly one {name} block, got {blocks!r}"
    return blocks[0]


def blocks(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = body.get(name, [])
    return value if isinstance(value, list) else [value]


def statements(document: dict[str, Any]) -> Iterator[tuple[dict[str, Any], bool]]:
    """Every statement of a policy document, static or dynamic, with a flag for dynamic."""
    for st in blocks(document, "statement"):
        yield st, False
    for dyn in blocks(document, "dynamic"):
        for label, spec in dyn.items():
            if label == "statement":
                for content in blocks(spec, "content"):
                    yield content, True


def comments(body: dict[str, Any]) -> list[str]:
    return [c.get("value", "") for c in body.get("__comments__", []) + body.get("__inline_comments__", [])]


def ref(expr: Any) -> str:
    """An HCL expression serialized as "${...}" -> its inner text."""
    assert isinstance(expr, str), expr
    m = re.fullmatch(r"\$\{(.*)\}", expr, flags=re.S)
    return m.group(1).strip() if m else expr


# --- checkov --------------------------------------------------------------------------------


def _requirements_digest() -> str:
    return hashlib.sha256(CHECKOV_REQUIREMENTS.read_bytes()).hexdigest()


def ensure_checkov() -> Path:
    """The checkov executable of .venv/checkov, (re)installing it from the pinned file when needed."""
    exe = CHECKOV_VENV / "bin" / "checkov"
    stamp = CHECKOV_VENV / ".requirements.sha256"
    want = _requirements_digest()
    CHECKOV_VENV.parent.mkdir(parents=True, exist_ok=True)
    lock_path = CHECKOV_VENV.parent / ".checkov.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if exe.exists() and stamp.exists() and stamp.read_text().strip() == want:
            return exe
        shutil.rmtree(CHECKOV_VENV, ignore_errors=True)
        python = getattr(sys, "_base_executable", None) or sys.executable
        subprocess.run([python, "-m", "venv", str(CHECKOV_VENV)], check=True, timeout=300)
        pip = [str(CHECKOV_VENV / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "--quiet"]
        subprocess.run(
            [*pip, "install", "-r", str(CHECKOV_REQUIREMENTS)],
            check=True,
            timeout=900,
        )
        stamp.write_text(want + "\n")
        return exe


def run_checkov(var_file: Path | None = None) -> dict[str, Any]:
    """Runs checkov (terraform framework, offline) over terraform/ and returns its JSON report."""
    exe = ensure_checkov()
    cmd = [
        str(exe),
        "--directory", str(TERRAFORM_DIR),
        "--framework", "terraform",
        "--output", "json",
        "--compact",
        "--skip-download",  # offline: no Prisma Cloud guidelines or policies
    ]
    if var_file is not None:
        cmd += ["--var-file", str(var_file)]
    env = dict(os.environ, LOG_LEVEL="ERROR")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    # checkov exits 1 when a check fails; anything else is a crash.
    assert proc.returncode in (0, 1), f"checkov crashed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    report = json.loads(proc.stdout)
    if isinstance(report, list):  # one entry per framework
        report = next(r for r in report if r.get("check_type") == "terraform")
    assert report.get("check_type") == "terraform", f"unexpected checkov report: {str(report)[:500]}"
    return report


def ingest_schema_glue() -> Any:
    proc = subprocess.run(
        [str(INGEST_BIN), "schema", "glue"], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(proc.stdout)
