#!/usr/bin/env bash
# Executes notebooks/lake_tour.ipynb once, with the project's .venv, and writes the run as
# notebooks/out/lake_tour.html (the stored notebook stays without outputs).
#
#   notebooks/render.sh                 the lake in $EVENTLAKE_LAKE, else ./lake
#   notebooks/render.sh LAKE            a directory, file:// URL or s3://bucket/prefix
#   notebooks/render.sh --demo          first builds a demo lake (24 hourly deliveries, made
#                                       with target/debug/ingest) in notebooks/out/demo-lake
#
# s3:// lakes use the usual AWS environment (AWS_PROFILE or keys, AWS_REGION,
# AWS_ENDPOINT_URL). EVENTLAKE_LAKEQ, EVENTLAKE_ATHENA_WORKGROUP and
# EVENTLAKE_ATHENA_DATABASE are passed through to the notebook.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
out="$here/out"

"$repo/scripts/venv.sh"
mkdir -p "$out"

case "${1:-}" in
  --demo)
    lake="$out/demo-lake"
    rm -rf "$lake"
    "$repo/.venv/bin/python" "$here/nbrun.py" demo-lake --lake "$lake"
    ;;
  -h|--help)
    sed -n '2,14p' "$0"; exit 0
    ;;
  "")
    lake="${EVENTLAKE_LAKE:-$repo/lake}"
    ;;
  *)
    lake="$1"
    ;;
esac
# A relative directory is taken from where the command was run, not from notebooks/.
case "$lake" in
  s3://*|file://*|/*) ;;
  *) lake="$PWD/$lake" ;;
esac

EVENTLAKE_LAKE="$lake" "$repo/.venv/bin/python" "$here/nbrun.py" render \
  "$here/lake_tour.ipynb" "$out/lake_tour.html"
