"""Spark reads the lake as Athena's Glue tables describe it. pyspark (pinned in
requirements.txt) runs on the machine's Java 17, with Hive support and an embedded metastore:
the three tables are created from exactly the columns `ingest schema glue` generates
(terraform/generated/glue_columns.json), partitions found with `MSCK REPAIR TABLE`. Checked
against the ingest summary and DuckDB: rows per partition, typed columns and `extra`; Spark's
own reader without the metastore; the same rows, odd event types and dates included, in Spark,
DuckDB, pyarrow and Apache DataFusion; Hive's Parquet SerDe (every column but the INT64 timestamps,
which it cannot read, as README says); the schema-evolution lake (v1 and v2 files) through a
table of the v2 columns; and what Spark makes of the partition values we refuse."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import terraform_tools as tf
from lake_fixtures import build_lake, ingest
from test_partition_values import ACCEPTED
from test_readers import expected
from test_schema_evolution import EXPECTED as EVOLUTION_EXPECTED
from test_schema_evolution import REGISTRY, V1, V2, write

if shutil.which("java") is None:
    pytest.skip("Spark needs Java 17 on PATH (Debian: apt install openjdk-17-jre-headless)", allow_module_level=True)

from pyspark.sql import SparkSession  # noqa: E402

# pyspark warns that its pandas API is untested with pandas 3; these tests do not use it.
pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas")

TABLES = {"events": ["event_type", "date"], "duplicates": ["event_type", "date"], "quarantine": ["date"]}
# The envelope's timestamps; declared `timestamp` fields are the same Parquet type.
TIMESTAMPS = {"created_datetime", "arrival_time"}


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    home = tmp_path_factory.mktemp("spark")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("eventlake-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(home / "warehouse"))
        .config("spark.hadoop.javax.jdo.option.ConnectionURL", f"jdbc:derby:;databaseName={home}/metastore;create=true")
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={home}")
        .enableHiveSupport()
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def create_tables(spark, database: str, lake: Path, columns: dict) -> None:
    """The Glue tables as Hive DDL: the generated columns, the partition keys, Parquet."""
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {database}")
    for table, keys in TABLES.items():
        cols = ", ".join(f"`{c['name']}` {c['type']}" for c in columns[table])
        parts = ", ".join(f"`{k}` {'date' if k == 'date' else 'string'}" for k in keys)
        spark.sql(
            f"CREATE EXTERNAL TABLE {database}.{table} ({cols}) PARTITIONED BY ({parts}) "
            f"STORED AS PARQUET LOCATION 'file://{lake}/{table}/'"
        )
        spark.sql(f"MSCK REPAIR TABLE {database}.{table}")


# An event type outside the registry, a date before 2024 and one in the future.
ODD_DATES = [
    json.dumps({"event_uuid": "date-1", "event_name": "mystery:thing", "created_at": 978_307_200, "n": 1}),
    json.dumps({"event_uuid": "date-2", "event_name": "payment:order:completed", "created_at": 3_786_912_000}),
]


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    extra = [json.dumps({"event_uuid": f"odd-{i}", "event_name": f"{t}:x", "created_at": 1_793_491_200}) for i, t in enumerate(ACCEPTED)]
    extra += ODD_DATES
    path, summary = build_lake(tmp_path_factory.mktemp("spark-lake"), records=4000, extra_lines=extra)
    create_tables(spark, "lake", path, json.loads(tf.GLUE_COLUMNS.read_text()))
    return path, summary


def spark_counts(spark, table: str) -> Counter:
    type_col = "event_type" if table != "quarantine" else "NULL"
    rows = spark.sql(f"SELECT {type_col}, CAST(date AS STRING), count(*) FROM lake.{table} GROUP BY 1, 2").collect()
    return Counter({(t, d): n for t, d, n in rows})


@pytest.mark.parametrize("table", list(TABLES))
def test_hive_tables_count_what_ingest_wrote_per_partition(spark, lake, table):
    _, summary = lake
    assert spark_counts(spark, table) == expected(summary, table)


def test_typed_columns_and_extra_agree_with_duckdb(spark, lake):
    path, _ = lake
    columns = [c for c in json.loads(tf.GLUE_COLUMNS.read_text())["events"]]
    glob = f"{path}/events/*/*/*.parquet"
    # Two aggregates per column, all in one query per engine (a query per column cost Spark
    # half a minute of planning).
    aggregates = []
    for c in columns:
        name, kind = c["name"], c["type"]
        if kind in ("bigint", "int", "double", "float"):
            aggregates.append(f"count(`{name}`), sum(`{name}`)")
        elif kind == "timestamp":
            aggregates.append(f"count(`{name}`), sum(unix_micros(`{name}`))")
        else:
            aggregates.append(f"count(`{name}`), count(DISTINCT `{name}`)")
    spark_select = ", ".join(aggregates)
    duck_select = spark_select.replace("unix_micros(", "epoch_us(").replace("`", '"')
    got = tuple(spark.sql(f"SELECT {spark_select} FROM lake.events").collect()[0])
    want = duckdb.sql(f"SELECT {duck_select} FROM read_parquet('{glob}', hive_partitioning = true, union_by_name = true)").fetchall()[0]
    assert len(got) == len(want) == 2 * len(columns)
    for i, c in enumerate(columns):
        name, kind = c["name"], c["type"]
        spark_pair, duck_pair = got[2 * i : 2 * i + 2], want[2 * i : 2 * i + 2]
        if kind in ("double", "float"):
            assert spark_pair[0] == duck_pair[0] and spark_pair[1] == pytest.approx(duck_pair[1]), name
        else:
            assert spark_pair == duck_pair, name
    spark_extra = {tuple(r) for r in spark.sql("SELECT event_uuid, extra FROM lake.events").collect()}
    duck_extra = set(duckdb.sql(f"SELECT event_uuid, extra FROM read_parquet('{glob}', hive_partitioning = true, union_by_name = true)").fetchall())
    assert spark_extra == duck_extra


def test_accepted_look_alike_types_read_as_themselves(spark, lake):
    rows = spark.sql("SELECT event_uuid, event_type FROM lake.events WHERE event_uuid LIKE 'odd-%'").collect()
    assert {u: t for u, t in rows} == {f"odd-{i}": t for i, t in enumerate(ACCEPTED)}


def test_sparks_own_reader_sees_the_same_partitions(spark, lake):
    path, summary = lake
    frame = spark.read.option("basePath", str(path / "events")).parquet(str(path / "events"))
    rows = frame.groupBy("event_type", frame["date"].cast("string")).count().collect()
    assert Counter({(t, d): n for t, d, n in rows}) == expected(summary, "events")


def test_hive_serde_reads_all_but_the_int64_timestamps(spark, lake):
    columns = json.loads(tf.GLUE_COLUMNS.read_text())["events"]
    timestamps = {c["name"] for c in columns if c["type"] == "timestamp"}
    assert TIMESTAMPS <= timestamps
    plain = ", ".join(f"`{c['name']}`" for c in columns if c["name"] not in timestamps)
    native = sorted(map(tuple, spark.sql(f"SELECT {plain} FROM lake.events").collect()), key=repr)
    spark.conf.set("spark.sql.hive.convertMetastoreParquet", "false")
    try:
        serde = sorted(map(tuple, spark.sql(f"SELECT {plain} FROM lake.events").collect()), key=repr)
        assert serde == native
        with pytest.raises(Exception, match="LongWritable cannot be cast to .*TimestampWritable"):
            spark.sql("SELECT max(created_datetime) FROM lake.events").collect()
    finally:
        spark.conf.set("spark.sql.hive.convertMetastoreParquet", "true")


def test_schema_evolution_lake_through_a_table_of_the_new_columns(spark, tmp_path):
    lake = tmp_path / "lake"
    write(tmp_path, lake, "v1", V1)
    write(tmp_path, lake, "v2", V2)
    generated = ingest("schema", "glue", "--registry", str(REGISTRY / "v2"))
    assert generated.returncode == 0, generated.stderr
    create_tables(spark, "evolution", lake, json.loads(generated.stdout))
    rows = spark.sql("SELECT event_uuid, coupon, refund_cents FROM evolution.events ORDER BY event_uuid").collect()
    assert [tuple(r) for r in rows] == EVOLUTION_EXPECTED


# What Spark's partition discovery makes of values we refuse (test_partition_values.py has
# DuckDB's and pyarrow's): each alone in a directory, as a query over one type would see it.
SPARK_MISREADS = [
    ("NaN", "double"),
    ("Infinity", "double"),
    ("007", "int"),
    ("1.5", "double"),
    ("__HIVE_DEFAULT_PARTITION__", "void"),
]


@pytest.mark.parametrize(("value", "read_as"), SPARK_MISREADS)
def test_spark_types_the_values_we_refuse(spark, tmp_path, value, read_as):
    from test_partition_values import REFUSED

    directory = tmp_path / f"event_type={value}" / "date=2026-11-30"
    directory.mkdir(parents=True)
    pq.write_table(pa.table({"x": [1]}), directory / "part.parquet")
    frame = spark.read.parquet(str(tmp_path))
    assert dict(frame.dtypes)["event_type"] == read_as
    assert value in REFUSED


ROW = "event_uuid, event_type, CAST(date AS {text}) AS d, created_at, sequence_number, extra"


def test_row_for_row_in_every_reader(spark, lake):
    """Spark (its reader over the Hive table, and spark.read.parquet), DuckDB, pyarrow and
    Apache DataFusion return the same rows, odd types and dates included."""
    from datafusion import SessionContext
    import pyarrow.dataset as ds

    path, _ = lake
    hive = sorted(map(tuple, spark.sql(f"SELECT {ROW.format(text='STRING')} FROM lake.events").collect()))
    frame = spark.read.option("basePath", str(path / "events")).option("mergeSchema", "true").parquet(str(path / "events"))
    frame.createOrReplaceTempView("plain_events")
    plain = sorted(map(tuple, spark.sql(f"SELECT {ROW.format(text='STRING')} FROM plain_events").collect()))
    glob = f"{path}/events/*/*/*.parquet"
    duck = sorted(duckdb.sql(
        f"SELECT {ROW.format(text='VARCHAR')} FROM read_parquet('{glob}', hive_partitioning = true, union_by_name = true)"
    ).fetchall())
    table = ds.dataset(str(path / "events"), format="parquet", partitioning="hive").to_table(
        columns=["event_uuid", "event_type", "date", "created_at", "sequence_number", "extra"]
    )
    arrow = sorted(tuple(str(v) if k == "date" else v for k, v in r.items()) for r in table.to_pylist())
    ctx = SessionContext()
    ctx.sql(f"CREATE EXTERNAL TABLE events STORED AS PARQUET PARTITIONED BY (event_type, date) LOCATION '{path}/events/'").collect()
    fusion = sorted(tuple(r.values()) for r in ctx.sql(f"SELECT {ROW.format(text='VARCHAR')} FROM events").to_arrow_table().to_pylist())
    assert hive == plain == duck == arrow == fusion
    dates = {(u, d) for u, _, d, *_ in hive if u.startswith("date-")}
    assert dates == {("date-1", "2001-01-01"), ("date-2", "2090-01-01")}
    assert ("date-1", "mystery") in {(u, t) for u, t, *_ in hive}
