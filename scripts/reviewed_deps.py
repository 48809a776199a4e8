#!/usr/bin/env python3
"""Prints the reviewed dependency list: one `name version license` line per package that
Cargo.lock pins, from `cargo metadata`. After reviewing a dependency change, regenerate it:

    python3 scripts/reviewed_deps.py > supply-chain/reviewed.txt

tests/python/test_supply_chain.py fails while the committed list and Cargo.lock disagree.
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def locked_packages() -> list[dict]:
    """Every package of the workspace's dependency graph, as `cargo metadata` reports it."""
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)["packages"]


def reviewed_lines(packages: list[dict]) -> list[str]:
    """The list's lines for the registry packages (workspace members are ours)."""
    lines = {
        f"{p['name']} {p['version']} {(p.get('license') or 'NONE').replace(' ', '_')}"
        for p in packages
        if p.get("source")
    }
    return sorted(lines)


def main() -> int:
    print("# Reviewed dependencies: name version license. Regenerate with")
    print("#   python3 scripts/reviewed_deps.py > supply-chain/reviewed.txt")
    print("# after reviewing what a Cargo.lock change brings in (see SECURITY.md).")
    for line in reviewed_lines(locked_packages()):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
