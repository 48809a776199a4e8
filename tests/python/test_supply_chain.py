"""Supply chain (SECURITY.md): every locked crate comes from crates.io with a checksum, has
an allowed license, and is on the reviewed list, so no dependency enters unreviewed."""

import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import reviewed_deps  # noqa: E402

CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"

# Permissive licenses only: any package must be usable under at least one of these.
ALLOWED = {
    "0BSD",
    "Apache-2.0",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "BSL-1.0",
    "CC0-1.0",
    "ISC",
    "MIT",
    "Unicode-3.0",
    "Unlicense",
    "Zlib",
}


def license_allows(expression: str) -> bool:
    """Evaluates an SPDX expression (with the old `A/B` form meaning `A OR B`) against
    ALLOWED: OR needs one side allowed, AND both; `X WITH exception` counts as X."""
    text = expression.replace("/", " OR ")
    tokens = re.findall(r"\(|\)|[A-Za-z0-9.+-]+", text)
    position = 0

    def peek():
        return tokens[position] if position < len(tokens) else None

    def take():
        nonlocal position
        position += 1
        return tokens[position - 1]

    def primary() -> bool:
        token = take()
        if token == "(":
            value = disjunction()
            assert take() == ")", f"unbalanced parentheses in {expression!r}"
            return value
        if peek() == "WITH":
            take()
            take()
        return token in ALLOWED

    def conjunction() -> bool:
        value = primary()
        while peek() == "AND":
            take()
            value = primary() and value
        return value

    def disjunction() -> bool:
        value = conjunction()
        while peek() == "OR":
            take()
            value = conjunction() or value
        return value

    result = disjunction()
    assert position == len(tokens), f"trailing tokens in {expression!r}"
    return result


def test_the_license_evaluator_follows_spdx():
    assert license_allows("MIT OR Apache-2.0")
    assert license_allows("MIT/Apache-2.0")
    assert license_allows("(MIT OR Apache-2.0) AND Unicode-3.0")
    assert license_allows("Apache-2.0 WITH LLVM-exception")
    assert not license_allows("GPL-3.0")
    assert not license_allows("MIT AND GPL-3.0")
    assert license_allows("GPL-3.0 OR MIT")
    assert not license_allows("(GPL-3.0 OR AGPL-3.0) AND MIT")


@pytest.fixture(scope="module")
def packages():
    return reviewed_deps.locked_packages()


def test_every_locked_crate_comes_from_crates_io_with_a_checksum():
    lock = tomllib.loads((ROOT / "Cargo.lock").read_text())
    foreign = [
        f"{p['name']} {p['version']} from {p['source']}"
        for p in lock["package"]
        if "source" in p and (p["source"] != CRATES_IO or not p.get("checksum"))
    ]
    assert not foreign, f"crates from elsewhere or without checksum: {foreign}"


def test_every_dependency_has_an_allowed_license(packages):
    refused = [
        f"{p['name']} {p['version']}: {p.get('license')}"
        for p in packages
        if p.get("source") and not license_allows(p.get("license") or "NONE")
    ]
    assert not refused, f"licenses outside SECURITY.md's allowed list: {refused}"


def test_the_reviewed_list_matches_cargo_lock(packages):
    committed = [
        line
        for line in (ROOT / "supply-chain/reviewed.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    current = reviewed_deps.reviewed_lines(packages)
    added = sorted(set(current) - set(committed))
    removed = sorted(set(committed) - set(current))
    assert not added and not removed, (
        "Cargo.lock changed without a review: review the change, then run "
        "`python3 scripts/reviewed_deps.py > supply-chain/reviewed.txt`.\n"
        f"new or bumped: {added[:20]}\ngone: {removed[:20]}"
    )
