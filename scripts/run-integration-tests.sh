#!/usr/bin/env bash
# Runs every integration-test binary of the workspace (tests/it of ingest and query) at once,
# each from its crate's directory as `cargo test` would, and prints each one's output when it
# ends. scripts/test.sh runs it after the build: `cargo test` would run them one after another.
# Exits 1 if any failed. Arguments go to every binary (a name filter, --nocapture, ...).
#
#   scripts/run-integration-tests.sh               all integration tests
#   scripts/run-integration-tests.sh erase         the tests whose names contain "erase"
#
# Builds first (a no-op after `cargo test --workspace --no-run`).
set -euo pipefail
cd "$(dirname "$0")/.."

# cargo's own list of the integration-test binaries it built (targets of kind "test", whatever
# their names): "<crate>/<target> <crate dir> <executable>" per line.
binaries=$(cargo test --workspace --tests --no-run --message-format=json | python3 -c '
import json, os, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message.get("executable") \
            and message["target"]["kind"] == ["test"]:
        crate = os.path.basename(os.path.dirname(message["manifest_path"]))
        print(crate + "/" + message["target"]["name"], os.path.dirname(message["manifest_path"]), message["executable"])
')
[ -n "$binaries" ] || { echo "no integration-test binaries found (tests/it/main.rs)" >&2; exit 1; }

logs=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$logs"' EXIT

# One binary's run; its output and exit status go to $logs.
run_binary() {
  local name=$1 dir=$2 executable=$3 status=0
  shift 3
  ( cd "$dir" && "$executable" "$@" ) >"$logs/${name//\//.}" 2>&1 || status=$?
  echo "$status" >"$logs/${name//\//.}.status"
}

started=$(date +%s)
names=()
while read -r name dir executable; do
  names+=("$name")
  echo "integration tests of $name: started"
  run_binary "$name" "$dir" "$executable" "$@" &
done <<<"$binaries"
wait

failed=0
for name in "${names[@]}"; do
  printf '\n== integration tests of %s\n' "$name"
  cat "$logs/${name//\//.}"
  [ "$(cat "$logs/${name//\//.}.status")" = 0 ] || { failed=1; echo "FAILED: the integration tests of $name"; }
done
echo "integration tests: $(( $(date +%s) - started ))s"
exit "$failed"
