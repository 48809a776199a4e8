"""The Glue columns Terraform declares (terraform/generated/glue_columns.json) match the
Parquet files the pipeline writes: same column names, in order, with Athena/Hive type names."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lake_fixtures import ROOT, build_lake

HIVE = {
    pa.string(): "string",
    pa.large_string(): "string",
    pa.int64(): "bigint",
    pa.float64(): "double",
    pa.bool_(): "boolean",
    pa.binary(): "binary",
    pa.timestamp("us", tz="UTC"): "timestamp",
}


def hive_columns(path: Path) -> list[dict]:
    return [{"name": f.name, "type": HIVE[f.type]} for f in pq.read_schema(path)]


def test_glue_columns_match_written_parquet(tmp_path):
    lake, _ = build_lake(tmp_path, records=2_000, seed=21, extra_lines=["{not json", "[1]"])
    glue = json.loads((ROOT / "terraform" / "generated" / "glue_columns.json").read_text())
    for table in ["events", "duplicates", "quarantine"]:
        files = sorted((lake / table).rglob("*.parquet"))
        assert files, f"the pipeline wrote no {table} file"
        for f in files[:3]:
            assert hive_columns(f) == glue[table], f"{f} differs from the Glue columns of {table}"
    assert [k["name"] for k in glue["partition_keys"]] == ["event_type", "date"]
