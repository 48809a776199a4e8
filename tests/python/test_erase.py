"""`lakeq erase` as a data engineer runs it, checked by readers that share no code with it:
after erasing a uuid (every copy) and an account (a declared field), DuckDB, pyarrow and
DataFusion (`lakeq sql`) agree that the rows are gone and that every other row is still
there; ingesting the original input again and a file of re-sends of the erased event
afterwards brings none of it back (the re-sends are counted, not stored); `lakeq erasures`
lists both erasures with a hash of the predicate, never the values."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import duckdb
import pyarrow.dataset as ds

from lake_fixtures import binary, build_lake, ingest


def lakeq(lake: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary("lakeq")), "--lake", str(lake), *args], capture_output=True, text=True, check=False)


def duck(lake: Path, table: str, where: str = "true") -> int:
    glob = f"{lake}/{table}/**/*.parquet"
    return duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning = true, union_by_name = true) WHERE {where}"
    ).fetchall()[0][0]


def arrow_rows(lake: Path, table: str) -> list[str]:
    dataset = ds.dataset(str(lake / table), format="parquet", partitioning="hive")
    return dataset.to_table(columns=["event_uuid"]).column("event_uuid").to_pylist()


def datafusion(lake: Path, sql: str) -> int:
    ran = lakeq(lake, "--format", "json", "sql", sql)
    assert ran.returncode == 0, ran.stderr
    return next(iter(json.loads(ran.stdout)[0].values()))


def test_erasure_is_seen_by_every_reader_and_nothing_comes_back(tmp_path):
    lake, summary = build_lake(tmp_path, records=6_000, seed=31)
    uuid = duckdb.sql(
        f"SELECT min(event_uuid) FROM read_parquet('{lake}/duplicates/**/*.parquet', union_by_name = true)"
    ).fetchall()[0][0]
    account = duckdb.sql(
        f"SELECT min(account_id) FROM read_parquet('{lake}/events/**/*.parquet', union_by_name = true) "
        "WHERE account_id IS NOT NULL"
    ).fetchall()[0][0]
    account_uuids = {
        r[0]
        for r in duckdb.sql(
            f"SELECT event_uuid FROM read_parquet('{lake}/events/**/*.parquet', union_by_name = true) "
            f"WHERE account_id = '{account}'"
        ).fetchall()
    }
    erased = account_uuids | {uuid}
    before = {t: sorted(arrow_rows(lake, t)) for t in ("events", "duplicates")}

    listed = tmp_path / "uuids.txt"
    listed.write_text(f"# erasure request 1\n{uuid}\n")
    dry = lakeq(lake, "--format", "json", "erase", "--uuids", str(listed), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert sorted(arrow_rows(lake, "events")) == before["events"], "a dry run changes nothing"

    first = lakeq(lake, "--format", "json", "erase", "--uuids", str(listed), "--reason", "request 1")
    assert first.returncode == 0, first.stderr
    second = lakeq(lake, "--format", "json", "erase", "--where", f"account_id = '{account}'", "--reason", "request 2")
    assert second.returncode == 0, second.stderr

    for table in ("events", "duplicates"):
        expected = sorted(u for u in before[table] if u not in erased)
        assert sorted(arrow_rows(lake, table)) == expected, f"pyarrow, {table}"
        assert duck(lake, table) == len(expected), f"DuckDB, {table}"
        assert datafusion(lake, f"SELECT count(*) AS n FROM {table}") == len(expected), f"DataFusion, {table}"
    quoted = ", ".join(f"'{u}'" for u in sorted(erased))
    assert duck(lake, "events", f"event_uuid IN ({quoted})") == 0
    assert datafusion(lake, f"SELECT count(*) AS n FROM duplicates WHERE event_uuid IN ({quoted})") == 0

    # The original input again, then re-sends of the erased event as new records.
    source = tmp_path / "events.jsonl"
    again = ingest("run", "--input", str(source), "--lake", str(lake), "--summary", "json", "--batch-size", "5000")
    assert again.returncode == 0, again.stderr
    original = next(line for line in source.read_text().splitlines() if uuid in line)
    resends = tmp_path / "resends.jsonl"
    resends.write_text(f"{original}\n{original}\n")
    sent = ingest("run", "--input", str(resends), "--lake", str(lake), "--summary", "json")
    assert sent.returncode == 0, sent.stderr
    counts = json.loads(sent.stdout)
    assert counts["erased_resends"] == 2 and counts["duplicates"] == 2, counts
    for table in ("events", "duplicates"):
        assert sorted(arrow_rows(lake, table)) == sorted(u for u in before[table] if u not in erased), table

    dups = lakeq(lake, "--format", "json", "dups")
    assert dups.returncode == 0, dups.stderr
    assert json.loads(dups.stdout)["erased"] == [{"erasures": 2, "erased_resends": 2}]

    audit = lakeq(lake, "--format", "json", "erasures")
    assert audit.returncode == 0, audit.stderr
    assert uuid not in audit.stdout and account not in audit.stdout, "the audit log holds no personal data"
    entries = json.loads(audit.stdout)["erasures"]
    assert [e["reason"] for e in entries] == ["request 1", "request 2"]
    assert all(e["status"] == "finished" for e in entries)
    assert summary["records_in"] == 6_000
