"""Partition values read back as the same string in every engine. The rule
(`schemas/src/partition.rs`): an event type starts with a letter, uses `[A-Za-z0-9_.-]`, and
is not `null`, `nan`, `inf`, `infinity` or `epoch` in any case. First, why: a Hive-layout
directory written here without our pipeline shows what the engines on this machine make of
each kind of refused value. Then, that it holds: a lake built by `ingest run` from events of
look-alike types that are accepted, and of refused ones, reads the same in DuckDB, pyarrow
and DataFusion (`lakeq`), and every refused record is in quarantine as `bad_event_name`."""

from __future__ import annotations

import datetime
import json
import subprocess
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from lake_fixtures import binary, build_lake

# What an engine here reads for a partition directory `event_type=<value>` that holds only
# that value (a query over one type, or a lake with one type). Each would be a wrong answer.
MISREAD = [
    ("__HIVE_DEFAULT_PARTITION__", "duckdb", None),
    ("__HIVE_DEFAULT_PARTITION__", "pyarrow", "error"),
    ("007", "pyarrow", 7),
    ("1", "duckdb", 1),
    ("0x10", "duckdb", 16),
    ("2024-01-01", "duckdb", datetime.date(2024, 1, 1)),
    ("epoch", "duckdb", datetime.date(1970, 1, 1)),
    ("Infinity", "duckdb", datetime.date(9999, 12, 31)),
    ("inf", "duckdb", datetime.date(9999, 12, 31)),
    ("-inf", "duckdb", datetime.date(1, 1, 1)),
]
# Refused for engines not run here: DuckDB 1.x reads `null` and `NULL` as NULL, Spark's
# partition inference parses `NaN` and `Infinity` as doubles.
REFUSED = sorted({v for v, _, _ in MISREAD} | {"null", "NULL", "Null", "nan", "NaN", "INF", "EPOCH", "_x", "9lives", "1.5"})
ACCEPTED = ["nullable", "nano", "info", "infinite", "epochs", "true", "false", "e5", "x2024", "a-1", "A.b_c", "Null9"]


def read_alone(tmp: Path, value: str, engine: str):
    root = tmp / f"alone-{engine}-{abs(hash(value))}"
    directory = root / f"event_type={value}" / "date=2026-11-30"
    directory.mkdir(parents=True)
    pq.write_table(pa.table({"x": [1]}), directory / "part.parquet")
    if engine == "duckdb":
        glob = f"{root}/*/*/*.parquet"
        return duckdb.sql(f"SELECT event_type FROM read_parquet('{glob}', hive_partitioning = true)").fetchall()[0][0]
    try:
        return ds.dataset(str(root), format="parquet", partitioning="hive").to_table().column("event_type")[0].as_py()
    except pa.ArrowInvalid:
        return "error"


@pytest.mark.parametrize(("value", "engine", "reads"), MISREAD)
def test_engines_misread_the_values_we_refuse(tmp_path, value, engine, reads):
    assert read_alone(tmp_path, value, engine) == reads
    assert value in REFUSED


@pytest.mark.parametrize("value", ACCEPTED)
@pytest.mark.parametrize("engine", ["duckdb", "pyarrow"])
def test_engines_read_accepted_look_alikes_as_themselves(tmp_path, value, engine):
    assert read_alone(tmp_path, value, engine) == value


def line(uuid: str, event_type: str) -> str:
    return json.dumps({"event_uuid": uuid, "event_name": f"{event_type}:thing", "created_at": 1793491200})


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    extra = [line(f"accepted-{i}", t) for i, t in enumerate(ACCEPTED)]
    extra += [line(f"refused-{i}", t) for i, t in enumerate(REFUSED)]
    path, summary = build_lake(tmp_path_factory.mktemp("partition-values"), records=300, extra_lines=extra)
    return path


def by_uuid_duckdb(lake: Path) -> dict[str, str]:
    rows = duckdb.sql(
        f"SELECT event_uuid, event_type FROM read_parquet('{lake}/events/*/*/*.parquet', hive_partitioning = true) "
        "WHERE event_uuid LIKE 'accepted-%'"
    ).fetchall()
    return dict(rows)


def by_uuid_pyarrow(lake: Path) -> dict[str, str]:
    table = ds.dataset(str(lake / "events"), format="parquet", partitioning="hive").to_table(columns=["event_uuid", "event_type"])
    return {u: t for u, t in zip(*(table.column(c).to_pylist() for c in ["event_uuid", "event_type"])) if u.startswith("accepted-")}


def by_uuid_datafusion(lake: Path) -> dict[str, str]:
    out = subprocess.run(
        [str(binary("lakeq")), "--lake", str(lake), "--format", "json", "sql",
         "SELECT event_uuid, event_type FROM events WHERE event_uuid LIKE 'accepted-%'"],
        capture_output=True, text=True, check=True,
    ).stdout
    return {r["event_uuid"]: r["event_type"] for r in json.loads(out)}


@pytest.mark.parametrize("reader", [by_uuid_duckdb, by_uuid_pyarrow, by_uuid_datafusion])
def test_accepted_types_read_the_same_in_every_engine(lake, reader):
    assert reader(lake) == {f"accepted-{i}": t for i, t in enumerate(ACCEPTED)}


def test_refused_types_are_quarantined_with_their_reason(lake):
    rows = duckdb.sql(
        f"SELECT event_uuid, reason FROM read_parquet('{lake}/quarantine/*/*.parquet', hive_partitioning = true) "
        "WHERE event_uuid LIKE 'refused-%'"
    ).fetchall()
    assert dict(rows) == {f"refused-{i}": "bad_event_name" for i in range(len(REFUSED))}
    written = {p.name.split("=", 1)[1] for p in (lake / "events").iterdir()}
    assert not written & set(REFUSED)
