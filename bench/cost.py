"""Cost per million events, from measured request counts and timings, at list prices.

Our pipeline: the Kinesis event source mapping invokes the Lambda per shard with up to
`batch_size` records, waiting at most `window` seconds (and never over Lambda's 6 MB payload);
each invocation costs the S3 requests the counting store measured for a batch of that many
records, and Lambda time = measured in-process CPU time + S3 round trips at an assumed latency.

Amazon Data Firehose: the same events through a Firehose stream with dynamic partitioning
(event_type, date) and Parquet conversion into S3. Firehose does not deduplicate, and adding
event_type/event_subtype/created_datetime needs a transform Lambda, which is not priced here:
the comparison flatters Firehose.

Every price below is a list price for us-east-1 as of mid-2025, written down from memory (this
machine has no internet access): verify before relying on them.
"""

import math

PRICES_AS_OF = "mid-2025 (us-east-1 list prices, recalled without internet access; verify before relying)"

PRICES = {
    # S3 Standard requests
    "s3_put_per_1000": 0.005,  # PUT, COPY, POST, LIST
    "s3_get_per_1000": 0.0004,  # GET, SELECT, HEAD and all other requests
    "s3_storage_gb_month": 0.023,  # first 50 TB
    # Lambda, arm64
    "lambda_gb_second_arm64": 0.0000133334,
    "lambda_per_million_requests": 0.20,
    # Kinesis Data Streams, on-demand
    "kinesis_stream_hour": 0.04,
    "kinesis_ingest_gb": 0.08,  # each record rounded up to 1 KB
    "kinesis_retrieval_gb": 0.04,  # standard (shared-throughput) consumers such as Lambda
    # Amazon Data Firehose
    "firehose_ingest_gb": 0.029,  # first 500 TB/month; each record rounded up to 5 KB
    "firehose_format_conversion_gb": 0.018,
    "firehose_dynamic_partitioning_gb": 0.02,
    "firehose_dynamic_partitioning_per_1000_objects": 0.005,
    "firehose_jq_hour": 0.07,
}

GIB = 1024**3
LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024
MILLION = 1_000_000

# The defaults in terraform/variables.tf that the cost depends on (`batch_size`,
# `maximum_batching_window_seconds`, `lambda_memory_mb`); tests/python/test_terraform.py keeps
# them equal.
TERRAFORM_BATCH_SIZE = 10_000
TERRAFORM_WINDOW_S = 60
TERRAFORM_MEMORY_MB = 1024


def records_per_invocation(batch_size, window_s, per_shard_rate, payload_cap):
    """What the event source mapping hands one invocation at a steady per-shard rate. With
    no window it polls each shard about once a second."""
    return max(1, int(min(batch_size, per_shard_rate * max(window_s, 1), payload_cap)))


def scenarios(events_per_hour, shards, payload_cap):
    rate = events_per_hour / 3600 / shards
    out = []
    for batch_size in sorted({100, 1_000, 10_000, TERRAFORM_BATCH_SIZE}):
        for window in sorted({0, 30, TERRAFORM_WINDOW_S, 300}):
            n = records_per_invocation(batch_size, window, rate, payload_cap)
            out.append({"batch_size": batch_size, "window_s": window, "records": n})
    return out


def interpolate(measured, n, field):
    """A per-batch figure at `n` records from the probe's sizes (exact when measured)."""
    points = sorted((m["batch_size"], field(m)) for m in measured)
    for size, value in points:
        if size == n:
            return value
    lower = [p for p in points if p[0] < n]
    upper = [p for p in points if p[0] > n]
    if not lower:
        return points[0][1]
    if not upper:
        return points[-1][1]
    (x0, y0), (x1, y1) = lower[-1], upper[0]
    t = (math.log(n) - math.log(x0)) / (math.log(x1) - math.log(x0))
    return y0 + t * (y1 - y0)


def s3_rounds(puts, files, parallelism=16):
    """Sequential S3 round trips of a batch: ledger commits (16 at a time), the manifest,
    then the data files (16 at a time). Checkpoints are folded into the commits."""
    ledger_puts = max(puts - files - 1, 0)
    return math.ceil(ledger_puts / parallelism) + 1 + math.ceil(files / parallelism)


def warm_count(kind):
    return lambda measurement: measurement["warm"].get(kind, 0.0)


def ours_per_million(measured, n, memory_mb, s3_latency_ms):
    p = PRICES
    invocations = MILLION / n
    puts = interpolate(measured, n, warm_count("put"))
    lists = interpolate(measured, n, warm_count("list"))
    gets = interpolate(measured, n, warm_count("get")) + interpolate(measured, n, warm_count("head"))
    files = interpolate(measured, n, lambda m: m["files_per_batch"])
    cpu_ms = interpolate(measured, n, lambda m: m["ms_per_batch"]["p50"])
    rounds = s3_rounds(puts, files)
    duration_ms = cpu_ms + rounds * s3_latency_ms
    s3_put = invocations * (puts + lists) * p["s3_put_per_1000"] / 1000
    s3_get = invocations * gets * p["s3_get_per_1000"] / 1000
    gb_seconds = invocations * (memory_mb / 1024) * duration_ms / 1000
    lambda_compute = gb_seconds * p["lambda_gb_second_arm64"]
    lambda_requests = invocations * p["lambda_per_million_requests"] / MILLION
    return {
        "records": n,
        "invocations": invocations,
        "puts_per_batch": puts,
        "gets_per_batch": gets,
        "files_per_batch": files,
        "cpu_ms": cpu_ms,
        "duration_ms": duration_ms,
        "s3_requests": s3_put + s3_get,
        "s3_put": s3_put,
        "s3_get": s3_get,
        "lambda": lambda_compute + lambda_requests,
        "total": s3_put + s3_get + lambda_compute + lambda_requests,
    }


def kinesis_per_million(record_bytes, events_per_hour):
    p = PRICES
    billed_gb = MILLION * math.ceil(record_bytes / 1024) * 1024 / GIB
    return {
        "stream_hours": p["kinesis_stream_hour"] * MILLION / events_per_hour,
        "ingest": billed_gb * p["kinesis_ingest_gb"],
        "retrieval": billed_gb * p["kinesis_retrieval_gb"],
    }


def firehose_per_million(record_bytes, partitions, buffer_s, events_per_hour):
    p = PRICES
    billed_gb = MILLION * math.ceil(record_bytes / 5120) * 5120 / GIB
    actual_gb = MILLION * record_bytes / GIB
    hours = MILLION / events_per_hour
    objects = partitions * 3600 / buffer_s * hours
    out = {
        "ingest (5 KB per record)": billed_gb * p["firehose_ingest_gb"],
        "Parquet conversion": billed_gb * p["firehose_format_conversion_gb"],
        "dynamic partitioning (GB)": actual_gb * p["firehose_dynamic_partitioning_gb"],
        "dynamic partitioning (objects)": objects * p["firehose_dynamic_partitioning_per_1000_objects"] / 1000,
        "S3 PUTs of delivered objects": objects * p["s3_put_per_1000"] / 1000,
    }
    out["total"] = sum(out.values())
    out["objects"] = objects
    out["billed_gb"] = billed_gb
    out["actual_gb"] = actual_gb
    return out


def money(x):
    if x == 0:
        return "$0"
    if x < 0.001:
        return f"${x:.6f}"
    return f"${x:.4f}"


def render(measured, record_bytes, lambda_event_bytes_per_record, partitions, stored_bytes_per_million,
           events_per_hour=MILLION, shards=4, memory_mb=TERRAFORM_MEMORY_MB, s3_latency_ms=50, firehose_buffer_s=300):
    """The cost section of results.md, as Markdown."""
    p = PRICES
    payload_cap = LAMBDA_PAYLOAD_LIMIT // max(int(lambda_event_bytes_per_record), 1)
    rows = []
    for s in scenarios(events_per_hour, shards, payload_cap):
        rows.append((s, ours_per_million(measured, s["records"], memory_mb, s3_latency_ms)))
    kinesis = kinesis_per_million(record_bytes, events_per_hour)
    firehose = {b: firehose_per_million(record_bytes, partitions, b, events_per_hour) for b in (60, 300, 900)}
    default = next(o for s, o in rows
                   if s["batch_size"] == TERRAFORM_BATCH_SIZE and s["window_s"] == TERRAFORM_WINDOW_S)
    fh = firehose[firehose_buffer_s]
    shared = kinesis["stream_hours"] + kinesis["ingest"]

    lines = []
    add = lines.append
    add(f"Prices: {PRICES_AS_OF}. S3 Standard: PUT/COPY/POST/LIST ${p['s3_put_per_1000']} per 1,000, "
        f"GET/HEAD ${p['s3_get_per_1000']} per 1,000, storage ${p['s3_storage_gb_month']}/GB-month. "
        f"Lambda arm64: ${p['lambda_gb_second_arm64']:.10f} per GB-s, ${p['lambda_per_million_requests']} per million "
        f"requests. Kinesis on-demand: ${p['kinesis_stream_hour']} per stream-hour, ${p['kinesis_ingest_gb']}/GB in "
        f"and ${p['kinesis_retrieval_gb']}/GB out (records rounded up to 1 KB). Firehose: ingest "
        f"${p['firehose_ingest_gb']}/GB (records rounded up to 5 KB), Parquet conversion "
        f"${p['firehose_format_conversion_gb']}/GB, dynamic partitioning ${p['firehose_dynamic_partitioning_gb']}/GB "
        f"plus ${p['firehose_dynamic_partitioning_per_1000_objects']} per 1,000 objects delivered (JQ processing "
        f"hours, ${p['firehose_jq_hour']}/hour, not included).")
    add("")
    add(f"Load: {events_per_hour:,} events/hour on {shards} shards (on-demand's starting capacity), "
        f"{record_bytes:.0f} bytes per record on average, {partitions} (event_type, date) partitions per hour; "
        f"Lambda {memory_mb} MB, arm64; a batch's Lambda time = its measured in-process time on one core + "
        f"its sequential S3 round trips (ledger commits and files 16 at a time, then the manifest) at an "
        f"**assumed** {s3_latency_ms} ms each. A Kinesis event of our records holds at most {payload_cap:,} "
        f"records under Lambda's 6 MB payload limit.")
    add("")
    add("**Per million events, ours, by batch size and batching window** (request counts measured by the "
        "counting store for a shard's batch of that many records, warm container):")
    add("")
    add("| batch size | window | records per invocation | invocations | S3 PUT+LIST / batch | S3 GET+HEAD / batch "
        "| files / batch | Lambda ms / batch | S3 requests | Lambda | ours, processing | Firehose / ours |")
    add("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s, o in rows:
        add(f"| {s['batch_size']:,} | {s['window_s']} s | {o['records']:,} | {o['invocations']:,.0f} "
            f"| {o['puts_per_batch']:.1f} | {o['gets_per_batch']:.1f} | {o['files_per_batch']:.1f} "
            f"| {o['duration_ms']:.0f} | {money(o['s3_requests'])} | {money(o['lambda'])} | **{money(o['total'])}** "
            f"| {fh['total'] / o['total']:.1f}x |")
    add("")
    add(f"**Ours next to Firehose, per million events** (ours at the Terraform defaults: batch size "
        f"{TERRAFORM_BATCH_SIZE:,}, window {TERRAFORM_WINDOW_S} s → {default['records']:,} records per invocation; "
        f"Firehose buffer interval {firehose_buffer_s} s):")
    add("")
    stream = shared + kinesis["retrieval"]
    add("| line | ours (Kinesis → Lambda) | Firehose reading the same stream | Firehose Direct PUT (no stream) |")
    add("|---|---:|---:|---:|")
    add(f"| Kinesis: stream-hours, ingest, one consumer's retrieval | {money(stream)} | {money(stream)} | — |")
    add(f"| S3 requests (ours: ledger commits, manifest, data files) | {money(default['s3_requests'])} "
        f"| {money(fh['S3 PUTs of delivered objects'])} | {money(fh['S3 PUTs of delivered objects'])} |")
    add(f"| Lambda (requests + GB-s) | {money(default['lambda'])} | — | — |")
    for key in ("ingest (5 KB per record)", "Parquet conversion", "dynamic partitioning (GB)",
                "dynamic partitioning (objects)"):
        add(f"| Firehose {key} | — | {money(fh[key])} | {money(fh[key])} |")
    ours_total = default["total"]
    add(f"| **processing (everything but the stream)** | **{money(ours_total)}** | **{money(fh['total'])}** "
        f"| **{money(fh['total'])}** |")
    add(f"| **total** | **{money(ours_total + stream)}** | **{money(fh['total'] + stream)}** "
        f"| **{money(fh['total'])}** |")
    add("")
    by_buffer = ", ".join(f"{b} s → {money(firehose[b]['total'])}" for b in sorted(firehose))
    add(f"Firehose / ours: processing **{fh['total'] / ours_total:.1f}x**; total with the same stream "
        f"**{(fh['total'] + stream) / (ours_total + stream):.1f}x**; Firehose Direct PUT against our whole "
        f"pipeline **{fh['total'] / (ours_total + stream):.1f}x**. Firehose bills {fh['billed_gb']:.2f} GB per "
        f"million records at 5 KB each for {fh['actual_gb']:.2f} GB of data. Its buffer interval changes "
        f"little: {by_buffer}. Not priced for Firehose: deduplication (it has none), the transform Lambda "
        "that enrichment would need, JQ hours. Not priced for either: KMS (bucket keys), CloudWatch.")
    add("")
    add(f"Storage, not in the totals: every byte the run wrote (three tables, ledger, manifests) is "
        f"{stored_bytes_per_million / 1e6:.0f} MB per million events, "
        f"{money(stored_bytes_per_million / GIB * p['s3_storage_gb_month'])} per month in S3 Standard.")
    return "\n".join(lines), {
        "scenarios": [{**s, **o} for s, o in rows],
        "kinesis": kinesis,
        "firehose": firehose,
        "ours_default_processing": ours_total,
        "firehose_processing": fh["total"],
        "kinesis_stream": stream,
        "payload_cap": payload_cap,
    }
