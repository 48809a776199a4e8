#!/usr/bin/env bash
# Runs every integration-test binary of the workspace (tests/it of ingest and query) at once,
# each from its crate's directory as `cargo test` would, and prints each one's output when it
# ends. scripts/test.sh runs it after the build: `cargo test` would run them one after another.
# Exits 1 if any failed. Arguments go to every binary (a name filter, --nocapture, ...).
#
#   scripts/run-integration-tests.sh               all integration tests
#   scripts/run-integration-tests.sh erase         the tests whose names contain "erase"
#
# Builds first (a no-op after scripts/test.sh's build, `cargo test --workspace --lib --tests
# --benches --examples --no-run`).
set -euo pipefail
cd "$(dirname "$0")/.."

# cargo's own list of the integration-test binaries it built (targets of kind "test", whatever
# their names), one per line: "<crate>/<target>", crate directory, executable, tab-separated.
# Compiler errors are rendered to stderr as usual.
binaries=$(cargo test --workspace --tests --no-run --message-format=json-render-diagnostics \
  | python3 -c '
import json, os, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message.get("executable") \
            and message["target"]["kind"] == ["test"]:
        crate_dir = os.path.dirname(message["manifest_path"])
        name = os.path.basename(crate_dir) + "/" + message["target"]["name"]
        print(name, crate_dir, message["executable"], sep="\t")
')
[ -n "$binaries" ] || { echo "no integration-test binaries found (tests/it/main.rs)" >&2; exit 1; }

logs=$(mktemp -d)
declare -A pids
names=()
print_log() { cat "$logs/${1//\//.}" 2>/dev/null || echo "(no output)"; }
# Interrupted (CI's timeout, ^C): stop the test binaries themselves, show what they printed.
on_exit() {
  local name
  for name in "${names[@]}"; do
    if kill "${pids[$name]}" 2>/dev/null; then
      printf '\n== integration tests of %s, stopped\n' "$name"
      print_log "$name"
    fi
  done
  rm -rf "$logs"
}
trap on_exit EXIT

started=$(date +%s)
while IFS=$'\t' read -r name dir executable; do
  names+=("$name")
  echo "integration tests of $name: started"
  # The binary is the job (exec), reading nothing: the list above stays this loop's input.
  ( cd "$dir" && exec "$executable" "$@" ) >"$logs/${name//\//.}" 2>&1 </dev/null &
  pids[$name]=$!
done <<<"$binaries"

failed=0
for name in "${names[@]}"; do
  status=0
  wait "${pids[$name]}" || status=$?
  printf '\n== integration tests of %s\n' "$name"
  print_log "$name"
  [ "$status" = 0 ] || { failed=1; echo "FAILED: the integration tests of $name (exit $status)"; }
done
echo "integration tests: $(( $(date +%s) - started ))s"
exit "$failed"
