"""Readers we did not write agree with the pipeline: DuckDB and pyarrow, with Hive
partitioning on, see the same rows per (event_type, date) as `ingest run` reports writing,
the same partition values (unusual event types included), and the documented types."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from lake_fixtures import binary, build_lake

UNUSUAL_TYPES = ["web.v2-beta", "A_B", "x-y.z", "lives9"]
HOSTILE_NAMES = ["a/b:c", "../../x:y", "%2e%2e:z", "ünï:code", ":x", "a b:c", "9lives:x"]


def event(uuid: str, name: str) -> str:
    return json.dumps({"event_uuid": uuid, "event_name": name, "created_at": 1793491200, "amount": 2.5})


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    extra = [event(f"unusual-{i}", f"{t}:thing") for i, t in enumerate(UNUSUAL_TYPES)]
    extra += [event(f"hostile-{i}", n) for i, n in enumerate(HOSTILE_NAMES)]
    return build_lake(tmp_path_factory.mktemp("readers"), extra_lines=extra)


def expected(summary: dict, table: str) -> Counter:
    counts = Counter()
    for directory, rows in summary["rows_per_partition"].items():
        parts = directory.split("/")
        if parts[0] != table:
            continue
        values = dict(p.split("=", 1) for p in parts[1:])
        counts[(values.get("event_type"), values["date"])] += rows
    return counts


def duckdb_counts(lake, table: str) -> Counter:
    depth = "*/*" if table != "quarantine" else "*"
    glob = f"{lake}/{table}/{depth}/*.parquet"
    type_col = "event_type" if table != "quarantine" else "NULL"
    rows = duckdb.sql(
        f"SELECT {type_col}, CAST(date AS VARCHAR), count(*) FROM read_parquet('{glob}', hive_partitioning = true) GROUP BY ALL"
    ).fetchall()
    return Counter({(t, d): n for t, d, n in rows})


def pyarrow_counts(lake, table: str) -> Counter:
    dataset = ds.dataset(str(lake / table), format="parquet", partitioning="hive")
    names = ["event_type", "date"] if table != "quarantine" else ["date"]
    grouped = dataset.to_table(columns=names).group_by(names).aggregate([([], "count_all")]).to_pylist()
    return Counter({(g.get("event_type"), str(g["date"])): g["count_all"] for g in grouped})


@pytest.mark.parametrize("table", ["events", "duplicates", "quarantine"])
def test_duckdb_and_pyarrow_agree_with_the_summary(lake, table):
    path, summary = lake
    want = expected(summary, table)
    assert sum(want.values()) == summary[{"events": "written", "duplicates": "duplicates", "quarantine": "quarantined"}[table]]
    assert duckdb_counts(path, table) == want
    assert pyarrow_counts(path, table) == want


def test_summary_invariant(lake):
    _, s = lake
    assert s["records_in"] == s["written"] + s["duplicates"] + s["quarantined"]
    assert s["failed"] == 0


def test_unusual_event_types_round_trip_and_hostile_ones_are_quarantined(lake):
    path, _ = lake
    types = {t for (t, _) in duckdb_counts(path, "events")}
    assert set(UNUSUAL_TYPES) <= types
    assert {t for (t, _) in pyarrow_counts(path, "events")} == types
    reasons = duckdb.sql(
        f"SELECT event_name, reason FROM read_parquet('{path}/quarantine/*/*.parquet', hive_partitioning = true) "
        "WHERE event_uuid LIKE 'hostile-%'"
    ).fetchall()
    assert sorted(n for n, _ in reasons) == sorted(HOSTILE_NAMES)
    assert {r for _, r in reasons} == {"bad_event_name"}
    # Nothing was written outside the three tables and the ledger.
    top = {p.name for p in path.iterdir()}
    assert top <= {"events", "duplicates", "quarantine", "_ledger"}


def test_types_as_documented(lake):
    path, _ = lake
    schema = ds.dataset(str(path / "events"), format="parquet", partitioning="hive").schema
    assert schema.field("created_datetime").type == pa.timestamp("us", tz="UTC")
    assert schema.field("created_at").type == pa.int64()
    assert schema.field("amount").type == pa.float64()
    assert "event_type" not in pq_file_columns(path)
    described = dict(
        (r[0], r[1])
        for r in duckdb.sql(
            f"DESCRIBE SELECT * FROM read_parquet('{path}/events/*/*/*.parquet', hive_partitioning = true)"
        ).fetchall()
    )
    assert described["created_datetime"] == "TIMESTAMP WITH TIME ZONE"
    assert described["date"] == "DATE"


def pq_file_columns(path) -> set[str]:
    import pyarrow.parquet as pq

    first = next((path / "events").rglob("*.parquet"))
    return set(pq.read_schema(first).names)


def test_datafusion_agrees_through_lakeq(lake):
    path, summary = lake
    out = subprocess.run(
        [str(binary("lakeq")), "--lake", str(path), "--format", "json", "sql",
         "SELECT event_type, CAST(date AS VARCHAR) AS d, count(*) AS n FROM events GROUP BY 1, 2"],
        capture_output=True, text=True, check=True,
    ).stdout
    got = Counter({(r["event_type"], r["d"]): r["n"] for r in json.loads(out)})
    assert got == expected(summary, "events")


def readme_datafusion_cli_statements() -> list[str]:
    """The CREATE EXTERNAL TABLE statements of README.md's datafusion-cli block, verbatim."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("With datafusion-cli", 1)[1].split("```sql", 1)[1].split("```", 1)[0]
    statements = [s.strip() for s in block.split(";") if s.strip().startswith("CREATE EXTERNAL TABLE")]
    assert len(statements) == 3, statements
    return statements


@pytest.mark.parametrize("table", ["events", "duplicates", "quarantine"])
def test_readme_datafusion_cli_statements_agree_with_duckdb_and_pyarrow(lake, table, tmp_path):
    path, _ = lake
    (tmp_path / "lake").symlink_to(path)  # the statements read ./lake/...
    type_col = "event_type" if table != "quarantine" else "NULL"
    sql = "; ".join(readme_datafusion_cli_statements()) + (
        f"; SELECT {type_col} AS event_type, date AS d, count(*) AS n FROM {table} GROUP BY 1, 2"
    )
    out = subprocess.run(
        [str(binary("lakeq")), "--bare", "--format", "json", "sql", sql],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    ).stdout
    got = Counter({(r.get("event_type"), r["d"]): r["n"] for r in json.loads(out)})
    assert got == duckdb_counts(path, table) == pyarrow_counts(path, table)
    if table == "events":
        assert {t for t, _ in got} >= set(UNUSUAL_TYPES)


@pytest.mark.parametrize("table", ["events", "duplicates", "quarantine"])
def test_readme_statements_run_verbatim_in_datafusions_own_client(lake, table, tmp_path, monkeypatch):
    """Apache DataFusion's Python package (not lakeq): README's statements as they are."""
    from datafusion import SessionContext

    path, _ = lake
    (tmp_path / "lake").symlink_to(path)
    monkeypatch.chdir(tmp_path)  # the statements read ./lake/...
    ctx = SessionContext()
    for statement in readme_datafusion_cli_statements():
        ctx.sql(statement).collect()
    type_col = "event_type" if table != "quarantine" else "NULL"
    rows = ctx.sql(
        f"SELECT {type_col} AS event_type, CAST(date AS VARCHAR) AS d, count(*) AS n FROM {table} GROUP BY 1, 2"
    ).to_arrow_table().to_pylist()
    got = Counter({(r["event_type"], r["d"]): r["n"] for r in rows})
    assert got == duckdb_counts(path, table)
