"""Load runs for the hardening figures (SECURITY.md, BENCHMARKS.md "Load"):

1. `ingest run` over N generated events (default 10,000,000) into a local lake, sampling the
   process's resident memory twice a second, once at 1M events/hour of event time (one day:
   the dedup ledger holds the whole day's uuids) and once at 1M events/day (ten days: the
   ledger's cache drops idle days, so memory stays flat). Checks the counts exactly against
   the generator's and the lake's rows with `lakeq`.
2. 200,000 events through moto's Kinesis and S3 on loopback (bench/moto_server.py: the pinned
   moto with its O(N^2) record puts made O(N)): a 4-shard stream, two
   `ingest consume` processes racing over every shard into one lake (each with its own
   checkpoints, so every record is delivered twice), then exact counts: the lake holds
   each unique event once, the second delivery of everything is a retry or a duplicate.

    make load                                       # both, release build
    .venv/bin/python bench/load.py --events 200000 --kinesis-events 20000   # a quick check

Writes bench/out/load.json and prints a Markdown summary.
"""

import argparse
import json
import os
import platform
import re
import socket
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "bench", "out")


def log(message):
    print(f"[load] {message}", file=sys.stderr, flush=True)


def binary(profile, name):
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    path = os.path.join(target, profile, name)
    if not os.path.exists(path):
        cargo_profile = "dev" if profile == "debug" else profile
        sys.exit(f"{path} not found: build it with `cargo build --profile {cargo_profile} --bins --features ingest/io`")
    return path


def generate(ingest, events, per_hour, path):
    """Writes the input file; returns the generator's own counts."""
    if not os.path.exists(path):
        log(f"generating {events:,} events at {per_hour:,.0f}/hour of event time")
        proc = subprocess.run(
            [ingest, "generate", "--events", str(events), "--events-per-hour", str(per_hour),
             "--output", path, "--seed", "7"],
            capture_output=True, text=True, check=True)
        with open(path + ".counts", "w") as f:
            f.write(proc.stderr)
    text = open(path + ".counts").read()
    m = re.search(r"wrote (\d+) records: (\d+) unique events, (\d+) duplicates, (\d+) invalid", text)
    if not m:
        sys.exit(f"unexpected generator output: {text!r}")
    records, unique, dups, invalid = map(int, m.groups())
    return {"records": records, "unique": unique, "duplicates": dups, "invalid": invalid}


class RssSampler(threading.Thread):
    """Samples a process's VmRSS (MiB) every `period` seconds until it exits."""

    def __init__(self, pid, period=0.5):
        super().__init__(daemon=True)
        self.pid, self.period, self.samples = pid, period, []

    def run(self):
        start = time.monotonic()
        while True:
            try:
                with open(f"/proc/{self.pid}/status") as f:
                    status = f.read()
            except OSError:
                return
            m = re.search(r"VmRSS:\s+(\d+) kB", status)
            if m:
                self.samples.append((time.monotonic() - start, int(m.group(1)) / 1024))
            time.sleep(self.period)

    def at_fraction(self, fraction):
        if not self.samples:
            return 0.0
        end = self.samples[-1][0]
        return next(rss for t, rss in self.samples if t >= fraction * end)

    def peak(self):
        return max((rss for _, rss in self.samples), default=0.0)


def lake_rows(lakeq, lake, env=None):
    sql = "select count(*) as rows, count(distinct event_uuid) as uuids from events"
    out = subprocess.run([lakeq, "--lake", lake, "--format", "json", "sql", sql],
                         env=env, capture_output=True, text=True, check=True).stdout
    row = json.loads(out)[0]
    return int(row["rows"]), int(row["uuids"])


def run_ingest(ingest, lakeq, events, per_hour, work, cache_mib=None):
    data = os.path.join(work, f"input-{events}-{int(per_hour)}.jsonl.gz")
    expected = generate(ingest, events, per_hour, data)
    lake = os.path.join(work, f"lake-{events}-{int(per_hour)}")
    subprocess.run(["rm", "-rf", lake], check=True)
    log(f"ingest run: {events:,} events at {per_hour:,.0f}/hour into {lake}")
    started = time.monotonic()
    command = [ingest, "run", "--input", data, "--lake", lake, "--summary", "json"]
    if cache_mib is not None:
        command += ["--ledger-cache-mib", str(cache_mib)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = RssSampler(proc.pid)
    sampler.start()
    stdout, stderr = proc.communicate()
    wall = time.monotonic() - started
    sampler.join()
    if proc.returncode != 0:
        sys.exit(f"ingest run failed: {stderr}")
    summary = json.loads(stdout)
    rows, uuids = lake_rows(lakeq, lake)
    result = {
        "events": events,
        "events_per_hour_of_event_time": per_hour,
        "ledger_cache_mib": cache_mib or "default",
        "expected": expected,
        "summary": {k: summary[k] for k in
                    ("records_in", "written", "duplicates", "quarantined", "failed", "files",
                     "seconds", "events_per_second")},
        "lake_rows": rows,
        "lake_distinct_uuids": uuids,
        "wall_s": round(wall, 1),
        "rss_mib": {f"{int(f * 100)}%": round(sampler.at_fraction(f), 1)
                    for f in (0.1, 0.25, 0.5, 0.75, 1.0)},
        "peak_rss_mib": round(sampler.peak(), 1),
    }
    exact = (summary["records_in"] == expected["records"]
             and summary["written"] == expected["unique"] == rows == uuids
             and summary["duplicates"] == expected["duplicates"]
             and summary["quarantined"] == expected["invalid"]
             and summary["failed"] == 0)
    result["exact"] = exact
    if not exact:
        sys.exit(f"counts do not add up: {json.dumps(result, indent=2)}")
    return result


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_kinesis(ingest, lakeq, events, work, stock_moto=False):
    import boto3

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = ([os.path.join(REPO, ".venv", "bin", "moto_server")] if stock_moto
              else [sys.executable, os.path.join(REPO, "bench", "moto_server.py")])
    moto = subprocess.Popen(server + ["-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1", AWS_ALLOW_HTTP="true")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("moto_server did not start")
                time.sleep(0.2)
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                        region_name="us-east-1")
        session.client("s3", endpoint_url=endpoint).create_bucket(Bucket="load")
        session.client("kinesis", endpoint_url=endpoint).create_stream(StreamName="load", ShardCount=4)
        data = os.path.join(work, f"kinesis-{events}.jsonl.gz")
        expected = generate(ingest, events, 1_000_000, data)
        log(f"produce: {events:,} records onto 4 shards")
        started = time.monotonic()
        produced = json.loads(subprocess.run(
            [ingest, "produce", "--stream", "load", "--input", data, "--summary", "json"],
            env=env, capture_output=True, text=True, check=True).stdout)
        produce_s = time.monotonic() - started
        log("consume: two consumers racing over all 4 shards")
        started = time.monotonic()
        # Different GetRecords sizes cut the shards into different batches, so the two
        # consumers' claims overlap instead of one trailing the other batch for batch.
        consumers = [
            subprocess.Popen([ingest, "consume", "--stream", "load", "--lake", "s3://load/lake",
                              "--consumer", name, "--batch-size", str(size), "--until-idle", "5",
                              "--summary", "json"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for name, size in (("racer-a", 10_000), ("racer-b", 2_500))
        ]
        summaries = []
        for proc in consumers:
            stdout, stderr = proc.communicate()
            if proc.returncode != 0:
                sys.exit(f"consume failed: {stderr}")
            summaries.append(json.loads(stdout))
        consume_s = time.monotonic() - started
        rows, uuids = lake_rows(lakeq, "s3://load/lake", env)
    finally:
        moto.terminate()
        moto.wait()
    fields = ("records_done", "written", "duplicates", "quarantined", "already_committed", "failed",
              "deliveries", "retried_deliveries")
    per_consumer = [{k: s.get(k) for k in fields} for s in summaries]
    total = {k: sum(s.get(k) or 0 for s in summaries) for k in fields}
    result = {
        "events": events,
        "shards": 4,
        "consumers": 2,
        "expected": expected,
        "produced": {k: produced.get(k) for k in ("records", "records_per_shard", "rejected_too_large")},
        "produce_s": round(produce_s, 1),
        "consume_s": round(consume_s, 1),
        "per_consumer": per_consumer,
        "lake_rows": rows,
        "lake_distinct_uuids": uuids,
    }
    # Each consumer delivers every record. Whichever commits a record first gives it its
    # role; every other delivery (the other consumer's, or a consumer's own re-delivery after
    # a partial batch failure) finds it already committed, the same shard and sequence number
    # being a retry, and counts it under the same role. So each consumer's role counts equal
    # the generator's exactly, and at least one delivery of each record is a retry.
    exact = (rows == uuids == expected["unique"]
             and all(c["records_done"] == expected["records"]
                     and c["written"] == expected["unique"]
                     and c["duplicates"] == expected["duplicates"]
                     and c["quarantined"] == expected["invalid"]
                     and c["failed"] == 0
                     for c in per_consumer)
             and total["already_committed"] >= expected["records"])
    result["exact"] = exact
    if not exact:
        sys.exit(f"counts do not add up: {json.dumps(result, indent=2)}")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--kinesis-events", type=int, default=200_000)
    parser.add_argument("--profile", default="release")
    parser.add_argument("--lakeq-profile", default=None,
                        help="build profile of lakeq, which only checks the counts (default: --profile)")
    parser.add_argument("--work", default=os.path.join(OUT, "load"))
    parser.add_argument("--skip-run", action="store_true")
    parser.add_argument("--skip-one-day", action="store_true",
                        help="only the ten-day run (the one-day run shows growth, not a bound)")
    parser.add_argument("--skip-ten-days", action="store_true",
                        help="only the one-day run (issue 17's peak-RSS figure)")
    parser.add_argument("--skip-kinesis", action="store_true")
    parser.add_argument("--ledger-cache-mib", type=int, default=None,
                        help="ingest run's ledger cache budget (default: ingest's own)")
    parser.add_argument("--stock-moto", action="store_true",
                        help="run the unpatched moto_server (O(N^2) puts; see bench/moto_server.py)")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    os.makedirs(OUT, exist_ok=True)
    ingest = binary(args.profile, "ingest")
    version = subprocess.run([ingest, "--version"], capture_output=True, text=True).stdout
    if not args.skip_kinesis and "with AWS" not in version:
        sys.exit(f"{ingest} is built without the Kinesis commands ({version.strip()}): build it with "
                 f"`cargo build --release --bins --features ingest/io`, or pass --skip-kinesis")
    lakeq = binary(args.lakeq_profile or args.profile, "lakeq")
    path = os.path.join(OUT, "load.json")
    results = json.load(open(path)) if os.path.exists(path) else {}
    results.update({
        "machine": f"{os.cpu_count()} cores, {platform.platform()}",
        "load_average_at_start": os.getloadavg()[0],
    })
    suffix = "" if args.ledger_cache_mib is None else f"_cache_{args.ledger_cache_mib}mib"

    def save(name, result):
        results[name + suffix] = result
        with open(path, "w") as f:
            json.dump(results, f, indent=2)
        log(f"{name}: {json.dumps(result)}")

    if not args.skip_run:
        if not args.skip_one_day:
            save("run_one_day", run_ingest(ingest, lakeq, args.events, 1_000_000, args.work,
                                                  args.ledger_cache_mib))
        if not args.skip_ten_days:
            save("run_ten_days", run_ingest(ingest, lakeq, args.events, args.events / 240,
                                            args.work, args.ledger_cache_mib))
    if not args.skip_kinesis:
        save("kinesis", run_kinesis(ingest, lakeq, args.kinesis_events, args.work, args.stock_moto))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
