"""Athena sees every partition the pipeline writes. Athena plans from what the Glue tables
declare: with partition projection, from the projection's properties; without, from the
partitions in the catalog. Here moto serves S3 and Glue; the three tables are created as
terraform/glue.tf declares them (its parameters, partition keys and locations, the generated
columns), `ingest run` writes a lake holding an event type the registry does not know, dates
before 2024 and in the future, and registers partitions as the Lambda does; the partitions
Athena would read must equal the lake's partition directories, for all three tables. Also:
a failed registration commits nothing, and `ingest register-partitions` brings a lake
written without the catalog in line."""

from __future__ import annotations

import json
import os
import re

import boto3
import pytest

import terraform_tools as tf
from lake_fixtures import ingest, moto_server

BUCKET = "athena-lake"
PREFIX = "lake"
DATABASE = "eventlake"
TABLES = ["events", "duplicates", "quarantine"]


def event(uuid: str, name: str, created_at: int) -> str:
    return json.dumps({"event_uuid": uuid, "event_name": name, "created_at": created_at})


# An event type outside the registry, a date before 2024 (2001-01-01), one in the future
# (2090-01-01), each also re-sent (so `duplicates` gets those partitions too).
ODD = [
    event("odd-1", "mystery:thing", 1_793_491_200),
    event("odd-2", "payment:order:completed", 978_307_200),
    event("odd-3", "account:created", 3_786_912_000),
]


@pytest.fixture(scope="module")
def aws(tmp_path_factory):
    env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with moto_server() as endpoint:
            yield endpoint
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def client(endpoint: str, service: str):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")


def create_tables_as_terraform_declares(endpoint: str, database: str, lake_url: str) -> None:
    """The Glue database and tables of terraform/glue.tf, with its references resolved."""
    config = tf.Config()
    columns = json.loads(tf.GLUE_COLUMNS.read_text())
    glue = client(endpoint, "glue")
    glue.create_database(DatabaseInput={"Name": database})
    for name in TABLES:
        table = config.resource("aws_glue_catalog_table", name)
        sd = tf.block(table, "storage_descriptor")
        serde = tf.block(sd, "ser_de_info")
        glue.create_table(
            DatabaseName=database,
            TableInput={
                "Name": name,
                "TableType": table["table_type"],
                "Parameters": {k: v.replace("${local.lake_url}", lake_url) for k, v in table["parameters"].items()},
                "PartitionKeys": [{"Name": k["name"], "Type": k["type"]} for k in tf.blocks(table, "partition_keys")],
                "StorageDescriptor": {
                    "Location": sd["location"].replace("${local.lake_url}", lake_url),
                    "Columns": [{"Name": c["name"], "Type": c["type"]} for c in columns[name]],
                    "InputFormat": config.locals["parquet_input_format"],
                    "OutputFormat": config.locals["parquet_output_format"],
                    "SerdeInfo": {"SerializationLibrary": config.locals["parquet_serde"], "Parameters": serde["parameters"]},
                },
            },
        )


def athena_partitions(endpoint: str, database: str) -> dict[str, set[tuple[str, ...]]]:
    """The partitions Athena would plan from: the catalog's, since no table projects."""
    glue = client(endpoint, "glue")
    seen: dict[str, set[tuple[str, ...]]] = {}
    for name in TABLES:
        table = glue.get_table(DatabaseName=database, Name=name)["Table"]
        assert table.get("Parameters", {}).get("projection.enabled") != "true", (
            f"{name}: with projection Athena ignores the catalog's partitions"
        )
        location = table["StorageDescriptor"]["Location"].rstrip("/")
        keys = [k["Name"] for k in table["PartitionKeys"]]
        pages = glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=name)
        seen[name] = set()
        for page in pages:
            for p in page["Partitions"]:
                expected = location + "/" + "".join(f"{k}={v}/" for k, v in zip(keys, p["Values"]))
                assert p["StorageDescriptor"]["Location"] == expected
                assert p["StorageDescriptor"]["Columns"] == table["StorageDescriptor"]["Columns"]
                seen[name].add(tuple(p["Values"]))
    return seen


def lake_partitions(endpoint: str, prefix: str) -> dict[str, set[tuple[str, ...]]]:
    """The partition directories that hold data files, from the object listing."""
    s3 = client(endpoint, "s3")
    found: dict[str, set[tuple[str, ...]]] = {name: set() for name in TABLES}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{prefix}/"):
        for obj in page.get("Contents", []):
            parts = obj["Key"].split("/")[1:]
            if parts[0] in found and parts[-1].endswith(".parquet"):
                found[parts[0]].add(tuple(p.split("=", 1)[1] for p in parts[1:-1]))
    return found


def run(endpoint: str, source, prefix: str, *glue_args: str):
    return ingest(
        "run", "--input", str(source), "--lake", f"s3://{BUCKET}/{prefix}", "--endpoint-url", endpoint,
        "--summary", "json", "--batch-size", "700", *glue_args,
    )


def glue_flags(endpoint: str, database: str) -> list[str]:
    return ["--glue-database", database, "--glue-endpoint-url", endpoint]


@pytest.fixture(scope="module")
def lake(aws, tmp_path_factory):
    endpoint = aws
    client(endpoint, "s3").create_bucket(Bucket=BUCKET)
    create_tables_as_terraform_declares(endpoint, DATABASE, f"s3://{BUCKET}/{PREFIX}")
    tmp = tmp_path_factory.mktemp("athena")
    first, second = tmp / "first.jsonl", tmp / "second.jsonl"
    generated = ingest("generate", "--events", "3000", "--seed", "11", "--output", str(first))
    assert generated.returncode == 0, generated.stderr
    first.write_text(first.read_text() + "\n".join(ODD) + "\n")
    second.write_text("\n".join(ODD) + "\n")
    for source in (first, second):
        ran = run(endpoint, source, PREFIX, *glue_flags(endpoint, DATABASE))
        assert ran.returncode == 0, ran.stderr
    return endpoint


def test_athena_lists_every_partition_the_lake_holds(lake):
    endpoint = lake
    written = lake_partitions(endpoint, PREFIX)
    assert athena_partitions(endpoint, DATABASE) == written
    events = {values for values in written["events"]}
    assert ("mystery", "2026-11-01") in events, "an event type the registry does not know"
    assert ("payment", "2001-01-01") in events, "a date before 2024"
    assert ("account", "2090-01-01") in events, "a date in the future"
    assert {("mystery", "2026-11-01"), ("payment", "2001-01-01"), ("account", "2090-01-01")} <= written["duplicates"]
    assert written["quarantine"], "the generator's invalid records"


def test_a_failed_registration_commits_nothing(lake, tmp_path):
    """Registration comes before the batch commits: when it fails, no file is written."""
    endpoint = lake
    source = tmp_path / "one.jsonl"
    source.write_text(event("lost-1", "mystery:thing", 1_793_491_200) + "\n")
    ran = run(endpoint, source, "elsewhere", *glue_flags(endpoint, "no_such_database"))
    assert ran.returncode == 2, ran.stderr
    assert re.search(r"Glue GetTable in database no_such_database: the Glue database or table does not exist", ran.stderr)
    # Tables that describe another lake are refused too: their partitions would point there.
    ran = run(endpoint, source, "elsewhere", *glue_flags(endpoint, DATABASE))
    assert ran.returncode == 2, ran.stderr
    assert f"table events is at \"s3://{BUCKET}/{PREFIX}/events/\", not at s3://{BUCKET}/elsewhere/events/" in ran.stderr
    assert lake_partitions(endpoint, "elsewhere") == {name: set() for name in TABLES}, "no data file without its partition"


def test_register_partitions_catches_up_a_lake_written_without_the_catalog(lake, tmp_path):
    endpoint = lake
    database = "catching_up"
    create_tables_as_terraform_declares(endpoint, database, f"s3://{BUCKET}/{PREFIX}")
    assert athena_partitions(endpoint, database) == {name: set() for name in TABLES}
    for _ in range(2):  # idempotent
        done = ingest(
            "register-partitions", "--lake", f"s3://{BUCKET}/{PREFIX}", "--endpoint-url", endpoint,
            *glue_flags(endpoint, database),
        )
        assert done.returncode == 0, done.stderr
    assert athena_partitions(endpoint, database) == lake_partitions(endpoint, PREFIX)
