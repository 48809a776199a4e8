#!/usr/bin/env bash
# The project's whole test suite: formatting, lints, Rust tests (unit, integration, against
# moto's S3 on loopback), benchmark compilation, and the Python checks (independent readers,
# Terraform, notebooks), then a bounded fuzz run. Installs what it needs: Python tools into
# ./.venv, cargo the rest (cargo-fuzz into ./.tools).
set -euo pipefail
cd "$(dirname "$0")/.."
export EVENTLAKE_VENV="$PWD/.venv"

started=$(date +%s)
# Each step's header says when it started, so a slow step shows in CI's log.
step() { printf '\n== %s  [%ss]\n' "$*" "$(( $(date +%s) - started ))"; }

step "python tools (.venv)"
scripts/venv.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
# The tests build `ingest` with every feature (it names itself as a dev-dependency with `io`);
# README's first command builds its default, without AWS: lint that build too.
cargo clippy -p ingest --bin ingest -- -D warnings

step "cargo test"
# One build of every test target, and of the benches and examples (compiled, not run: `make
# bench` runs them in release); the unit tests and doc tests; then each crate's
# integration-test binary (one per crate, tests/it), all of them side by side: `cargo test`
# runs them one after another, and each leaves a core idle while its last long tests finish.
cargo test --workspace --lib --tests --benches --examples --no-run
cargo test --workspace --lib
cargo test --workspace --doc
scripts/run-integration-tests.sh
# (The binaries have `test = false` and no example or bench sets `test = true`; one that does
# would need its own line here.)

step "registry evolution check (lakeq schema check against the previous revision)"
# The registry may only grow: see README "Evolve the schema". EVENTLAKE_SCHEMA_BASE compares
# with another revision (say, the branch point of a pull request).
base=${EVENTLAKE_SCHEMA_BASE:-HEAD~1}
if git rev-parse --verify --quiet "$base^{commit}" >/dev/null 2>&1; then
  # The lakeq that `cargo test` just built: `cargo run -p query` alone would resolve other
  # features and rebuild the tree (15 minutes cold).
  "${CARGO_TARGET_DIR:-target}/debug/lakeq" schema check --previous "$base" --current schemas/events
else
  echo "skipped: no revision $base here (a fresh or shallow clone); set EVENTLAKE_SCHEMA_BASE to compare with one"
fi

step "python tests"
# One test file per worker, a worker per core: Spark's JVM and checkov mostly wait. (nproc,
# not xdist's `auto`, which counts physical cores and ignores CPU affinity.)
.venv/bin/python -m pytest tests/python -q -n "$(nproc)" --dist loadfile

step "fuzz targets, bounded (scripts/fuzz.sh; FUZZ_SECONDS per target, SKIP_FUZZ=1 skips)"
# cargo test already replays the seeds and regressions; this builds the libFuzzer targets
# (their own dependency build) and looks for new failures for a short while.
if [ "${SKIP_FUZZ:-0}" = 1 ]; then
  echo "skipped: SKIP_FUZZ=1"
else
  scripts/fuzz.sh
fi

step "done"
