#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time and prints, per target, the runs,
# seconds, corpus size and crashes. Installs cargo-fuzz into ./.tools if it is absent.
#
#   scripts/fuzz.sh                 every target, FUZZ_SECONDS (default 20) each
#   scripts/fuzz.sh --long          every target, FUZZ_LONG_SECONDS (default 600) each
#   scripts/fuzz.sh decode ledger   only these targets
#
# The targets run side by side, one per core (FUZZ_JOBS=1 runs them one after another).
#
# The targets build in release mode with debug assertions and overflow checks (cargo fuzz's
# default) against ingest's pure core (no `io` feature), which takes under two minutes cold.
# They are built without a sanitizer: the code under test is safe Rust (unsafe_code is
# forbidden), so AddressSanitizer finds nothing more there and would double the build and
# slow the runs.
# FUZZ_SANITIZER=address brings it back. The corpus grows in fuzz/corpus/<target>/
# (ignored); the committed seeds are fuzz/seeds/<target>/. A crash is saved under
# fuzz/artifacts/<target>/: copy it to fuzz/regressions/<target>/, where `cargo test`
# replays it (ingest/tests/it/fuzz_replay.rs), then fix the bug. Exits 1 if any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

seconds=${FUZZ_SECONDS:-20}
targets=()
for arg in "$@"; do
  case $arg in
    --long) seconds=${FUZZ_LONG_SECONDS:-600} ;;
    -*) echo "unknown option $arg" >&2; exit 2 ;;
    *) targets+=("$arg") ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(decode partition registry ledger)
# Each target once (two runs of one target would share its log and corpus).
mapfile -t targets < <(printf '%s\n' "${targets[@]}" | awk '!seen[$0]++')
jobs_at_once=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
[[ $jobs_at_once =~ ^[1-9][0-9]*$ ]] || { echo "FUZZ_JOBS must be a positive integer, not '$jobs_at_once'" >&2; exit 2; }

# cargo-fuzz passes nightly-only flags (-Z) to rustc; RUSTC_BOOTSTRAP lets stable take them.
export RUSTC_BOOTSTRAP=1
export PATH="$root/.tools/bin:$PATH"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz into .tools/"
  cargo install cargo-fuzz --locked --root "$root/.tools"
fi
# The fuzz build has its own flags, so it never shares artifacts with the workspace's.
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$root/fuzz/target}
flags=(--sanitizer "${FUZZ_SANITIZER:-none}" --fuzz-dir "$root/fuzz")

# One target builds alone; several build together (cargo fuzz build takes one name or none).
only=()
[ ${#targets[@]} -ne 1 ] || only=("${targets[0]}")
start=$(date +%s)
cargo fuzz build "${flags[@]}" "${only[@]}"
echo "fuzz build: $(( $(date +%s) - start ))s"

logs=$(mktemp -d)
# An interrupted run stops the targets still running, then removes their logs.
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$logs"' EXIT

# One target's bounded run; its log and exit status go to $logs. libFuzzer runs one process
# on one core, so as many targets run at once as there are cores (FUZZ_JOBS overrides).
run_target() {
  local target=$1 corpus=fuzz/corpus/$1 artifacts=fuzz/artifacts/$1 status=0
  local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
              -artifact_prefix="$root/$artifacts/")
  [ -f "fuzz/dicts/$target.dict" ] && args+=(-dict="fuzz/dicts/$target.dict")
  cargo fuzz run "${flags[@]}" "$target" "$corpus" "fuzz/seeds/$target" -- "${args[@]}" \
    >"$logs/$target" 2>&1 || status=$?
  echo "$status" >"$logs/$target.status"
}

declare -A artifacts_before
for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
  artifacts_before[$target]=$(find "fuzz/artifacts/$target" -type f | wc -l)
done
# The running targets are counted here, not with `$(jobs -rp | wc -l)`: with that, CI's log of
# 2026-12-03 showed all four targets starting at once. run_target always exits 0 (its status
# goes to its file), so each `wait -n` is one target's end.
running=0
runs_started=$(date +%s)
for target in "${targets[@]}"; do
  if [ "$running" -ge "$jobs_at_once" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  echo "fuzz $target: started (${seconds}s) at +$(( $(date +%s) - runs_started ))s"
  run_target "$target" &
  running=$((running + 1))
done
wait

failed=0
summary=()
for target in "${targets[@]}"; do
  corpus=fuzz/corpus/$target
  artifacts=fuzz/artifacts/$target
  printf '\n== fuzz %s (%ss)\n' "$target" "$seconds"
  status=$(cat "$logs/$target.status" 2>/dev/null || echo 1)
  # libFuzzer's progress lines: the last stat line, its final "Done N runs in S second(s)".
  grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^Done [0-9]+ runs|panicked|^SUMMARY|Test unit written' \
    "$logs/$target" | tail -n 6 || true
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$target" | tail -n 1)
  took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$logs/$target" | tail -n 1)
  crashes=$(( $(find "$artifacts" -type f | wc -l) - ${artifacts_before[$target]} ))
  if [ "$status" -ne 0 ]; then
    failed=1
    tail -n 40 "$logs/$target"
  fi
  summary+=("$(printf '%-10s runs=%-10s seconds=%-4s corpus=%-6s crashes=%s' "$target" \
    "${runs:-?}" "${took:-?}" "$(find "$corpus" -type f | wc -l)" "$crashes")")
done

printf '\n== fuzz summary\n'
printf '%s\n' "${summary[@]}"
exit "$failed"
