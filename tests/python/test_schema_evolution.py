"""One lake written with registry v1, then v2 (a new field `coupon` on shop:order:placed and
a new event type `refund`), read across both by readers we did not write: DuckDB needs
`union_by_name = true`, pyarrow a unified schema; rows written before v2 are NULL in the new
columns. lakeq (DataFusion) with `--registry v2` must return the same rows."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from lake_fixtures import ROOT, binary, ingest

REGISTRY = ROOT / "query" / "tests" / "fixtures" / "registry"
CREATED_AT = 1790000000
V1 = [
    ("a1", "shop:order:placed", {"amount": 10.5, "sku": "S1"}),
    ("a2", "shop:order:placed", {"amount": 3.5, "sku": "S2", "coupon": "SPRING"}),
    ("a3", "refund:issued", {"refund_cents": 250}),
]
V2 = [
    ("b1", "shop:order:placed", {"amount": 2.0, "sku": "S5", "coupon": "WINTER"}),
    ("b2", "refund:issued", {"refund_cents": 1000}),
]
# (event_uuid, coupon, refund_cents): v1 rows have NULL in both new columns.
EXPECTED = [("a1", None, None), ("a2", None, None), ("a3", None, None), ("b1", "WINTER", None), ("b2", None, 1000)]


def write(tmp: Path, lake: Path, version: str, events: list) -> None:
    source = tmp / f"{version}.jsonl"
    lines = [json.dumps({"event_uuid": u, "event_name": n, "created_at": CREATED_AT, **p}) for u, n, p in events]
    source.write_text("\n".join(lines) + "\n")
    ran = ingest("run", "--input", str(source), "--lake", str(lake), "--registry", str(REGISTRY / version))
    assert ran.returncode == 0, ran.stderr


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("evolution")
    lake = tmp / "lake"
    write(tmp, lake, "v1", V1)
    write(tmp, lake, "v2", V2)
    return lake


def test_v1_files_lack_the_new_columns(lake):
    schemas = [pq.read_schema(f) for f in sorted((lake / "events").rglob("*.parquet"))]
    with_coupon = [s for s in schemas if "coupon" in s.names]
    assert with_coupon and len(with_coupon) < len(schemas), "both registry versions must have written files"


def test_duckdb_reads_across_versions_with_union_by_name(lake):
    rows = duckdb.sql(
        f"SELECT event_uuid, coupon, refund_cents FROM read_parquet('{lake}/events/*/*/*.parquet', "
        "hive_partitioning = true, union_by_name = true) ORDER BY event_uuid"
    ).fetchall()
    assert rows == EXPECTED


def test_pyarrow_reads_across_versions_with_a_unified_schema(lake):
    discovered = ds.dataset(lake / "events", format="parquet", partitioning="hive")
    unified = pa.unify_schemas([pq.read_schema(f) for f in discovered.files] + [discovered.partitioning.schema])
    dataset = ds.dataset(lake / "events", format="parquet", partitioning="hive", schema=unified)
    rows = dataset.to_table(columns=["event_uuid", "coupon", "refund_cents"]).sort_by("event_uuid").to_pylist()
    assert [(r["event_uuid"], r["coupon"], r["refund_cents"]) for r in rows] == EXPECTED


def test_lakeq_reads_across_versions_with_the_newest_registry(lake):
    ran = subprocess.run(
        [str(binary("lakeq")), "--lake", str(lake), "--registry", str(REGISTRY / "v2"), "--format", "json",
         "sql", "SELECT event_uuid, coupon, refund_cents FROM events ORDER BY event_uuid"],
        capture_output=True, text=True, check=False,
    )
    assert ran.returncode == 0, ran.stderr
    rows = json.loads(ran.stdout)
    assert [(r["event_uuid"], r.get("coupon"), r.get("refund_cents")) for r in rows] == EXPECTED
