"""DuckDB doing the pipeline's core job, for comparison: read the JSON Lines once, drop invalid
rows (the same envelope rules as ingest/src/decode.rs), keep one row per event_uuid, add
created_datetime / event_type / event_subtype, write zstd Parquet partitioned by event_type
and date. Run by bench/run.py as a separate process (under taskset and /usr/bin/time -v).

Declared payload fields become typed columns, as in our events table (taken from
schemas/events/*.json). DuckDB does less than the pipeline: no `extra` column for undeclared
or mistyped fields, no duplicates or quarantine tables, no lineage columns, no ledger.

Usage: duckdb_job.py INPUT.jsonl OUTPUT_DIR THREADS  (prints one JSON object)
"""

import glob
import json
import os
import sys
import time

import duckdb

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Registry type -> (DuckDB type read from JSON, SQL expression producing the column).
TYPES = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "float": "DOUBLE",
    "boolean": "BOOLEAN",
    "json": "JSON",
    # Unix seconds in the JSON, a UTC timestamp in the lake.
    "timestamp": "BIGINT",
}


def declared_fields():
    fields = {}
    for path in sorted(glob.glob(os.path.join(REPO, "schemas", "events", "*.json"))):
        with open(path) as f:
            for name, kind in json.load(f)["fields"].items():
                fields[name] = kind
    return fields


def quote(name):
    return '"' + name.replace('"', '""') + '"'


def job_sql(input_path, output_dir, fields):
    columns = {"event_uuid": "JSON", "event_name": "JSON", "created_at": "JSON"}
    columns.update({name: TYPES[kind] for name, kind in fields.items()})
    columns_literal = "{" + ", ".join(f"'{n}': '{t}'" for n, t in columns.items()) + "}"
    payload = []
    for name, kind in sorted(fields.items()):
        if kind == "timestamp":
            payload.append(f"to_timestamp({quote(name)}) AS {quote(name)}")
        else:
            payload.append(quote(name))
    payload_sql = ",\n           ".join(payload)
    input_sql = input_path.replace("'", "''")
    output_sql = output_dir.replace("'", "''")
    return f"""
COPY (
    WITH raw AS (
        SELECT * FROM read_json('{input_sql}', format = 'newline_delimited', ignore_errors = true,
                                maximum_object_size = 1048576, columns = {columns_literal})
    ),
    typed AS (
        SELECT * REPLACE (event_uuid ->> '$' AS event_uuid, event_name ->> '$' AS event_name,
                          CAST(created_at AS BIGINT) AS created_at)
        FROM raw
        WHERE json_type(event_uuid) = 'VARCHAR'
          AND json_type(event_name) = 'VARCHAR'
          AND json_type(created_at) IN ('BIGINT', 'UBIGINT')
    ),
    valid AS (
        SELECT * FROM typed
        WHERE length(event_uuid) BETWEEN 1 AND 128
          AND NOT regexp_matches(event_uuid, '[[:cntrl:]]')
          AND regexp_full_match(event_name, '[A-Za-z0-9_.-]{{1,64}}(:[^:]+)*')
          AND created_at >= 946684800 AND created_at < 4102444800
    )
    SELECT DISTINCT ON (event_uuid)
           event_uuid,
           event_name,
           nullif(split_part(event_name, ':', 2), '') AS event_subtype,
           created_at,
           to_timestamp(created_at) AS created_datetime,
           {payload_sql},
           split_part(event_name, ':', 1) AS event_type,
           CAST(to_timestamp(created_at) AS DATE) AS date
    FROM valid
) TO '{output_sql}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (event_type, date))
"""


def main():
    input_path, output_dir, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute("SET TimeZone = 'UTC'")
    # Output order does not matter here; letting DuckDB drop it is its fastest setting.
    con.execute("SET preserve_insertion_order = false")
    sql = job_sql(input_path, output_dir, declared_fields())
    started = time.perf_counter()
    con.execute(sql)
    seconds = time.perf_counter() - started
    rows = con.execute(
        f"SELECT count(*) FROM read_parquet('{output_dir}/*/*/*.parquet')"
    ).fetchone()[0]
    print(json.dumps({"seconds": seconds, "rows": rows, "threads": threads, "duckdb": duckdb.__version__}))


if __name__ == "__main__":
    main()
