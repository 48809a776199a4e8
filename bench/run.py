"""End-to-end benchmark: our pipeline next to DuckDB and a parse-only floor on one generated
input, the Lambda-shaped figures, and the cost per million events. Writes
bench/out/results.md (and results.json) and prints the Markdown.

    make bench                       # builds the dist-profile binaries (LTO, as shipped), then runs this
    .venv/bin/python bench/run.py --events 50000 --profile debug   # a quick check

Needs the dist-profile binaries (`cargo build --profile dist -p ingest --features io --bins --examples`), taskset
and /usr/bin/time (GNU time, for peak RSS), and the pinned duckdb from requirements.txt.
Every figure is measured on this machine by this script except where the output says
"assumed" (the S3 latency in the Lambda cost model) or quotes a list price.
"""

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb

import cost

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def parse_time_v(stderr):
    """Peak RSS (MB), wall and CPU seconds from GNU time's -v report."""

    def field(label):
        m = re.search(rf"{re.escape(label)}: (.+)", stderr)
        return m.group(1).strip() if m else None

    wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss)") or "0:0"
    seconds = 0.0
    for part in wall.split(":"):
        seconds = seconds * 60 + float(part)
    return {
        "peak_rss_mb": int(field("Maximum resident set size (kbytes)") or 0) / 1024,
        "wall_s": seconds,
        "cpu_s": float(field("User time (seconds)") or 0) + float(field("System time (seconds)") or 0),
    }


def measured(cmd, cores, env=None):
    """Runs cmd pinned to `cores` under /usr/bin/time -v; returns its stdout and the figures."""
    full = ["taskset", "-c", cores, "/usr/bin/time", "-v"] + cmd
    proc = subprocess.run(full, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return proc.stdout, parse_time_v(proc.stderr)


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            total += os.path.getsize(os.path.join(root, name))
    return total


def fresh_dir(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def generate_input(binary, events, seed, out_dir):
    path = os.path.join(out_dir, f"input-{events}-seed{seed}.jsonl")
    if not os.path.exists(path):
        log(f"generating {events:,} events into {path}")
        tmp = path + ".tmp.jsonl"
        subprocess.run([binary, "generate", "--events", str(events), "--seed", str(seed), "--output", tmp],
                       check=True, capture_output=True)
        os.replace(tmp, path)
    lines = 0
    with open(path, "rb") as f:
        for _ in f:
            lines += 1
    return {"path": path, "bytes": os.path.getsize(path), "lines": lines}


def run_ours(binary, input_path, out_dir, cores):
    lake = fresh_dir(os.path.join(out_dir, f"lake-{cores.replace(',', '')}"))
    log(f"ingest run, cores {cores}")
    stdout, figures = measured([binary, "run", "--input", input_path, "--lake", lake, "--summary", "json"], cores)
    summary = json.loads(stdout)
    tables = {name: dir_bytes(os.path.join(lake, name)) for name in ("events", "duplicates", "quarantine", "_ledger")}
    event_types = {key.split("/")[1] for key in summary["rows_per_partition"] if key.startswith("events/")}
    return {
        **figures,
        "seconds": summary["seconds"],
        "records": summary["records_in"],
        "written": summary["written"],
        "duplicates": summary["duplicates"],
        "quarantined": summary["quarantined"],
        "files": summary["files"],
        "event_types": len(event_types),
        "events_bytes": tables["events"],
        "total_bytes": sum(tables.values()),
        "bytes_by_table": tables,
    }


def run_duckdb(python, input_path, out_dir, threads, cores):
    output = os.path.join(out_dir, f"duckdb-{threads}")
    shutil.rmtree(output, ignore_errors=True)
    log(f"duckdb, {threads} thread(s), cores {cores}")
    job = os.path.join(REPO, "bench", "duckdb_job.py")
    stdout, figures = measured([python, job, input_path, output, str(threads)], cores)
    result = json.loads(stdout)
    return {**figures, "seconds": result["seconds"], "written": result["rows"],
            "events_bytes": dir_bytes(output), "total_bytes": dir_bytes(output), "version": result["duckdb"]}


def run_floor(example, input_path):
    log("parse floor")
    stdout, figures = measured([example, input_path], "0")
    return {**figures, **json.loads(stdout)}


def run_latency(example, batches, batch_size, warm_uuids):
    log(f"Lambda latency probe: {batches} events of {batch_size:,} records, ledger warm with {warm_uuids:,}")
    cmd = [example, "latency", "--batches", str(batches), "--batch-size", str(batch_size),
           "--warm-uuids", str(warm_uuids)]
    stdout, figures = measured(cmd, "0")
    return {**figures, **json.loads(stdout)}


def run_requests(example, sizes, batches, warm_uuids, shards):
    log(f"request-count probe: sizes {sizes}, {batches} batches each")
    cmd = [example, "requests", "--sizes", ",".join(str(s) for s in sizes), "--batches", str(batches),
           "--warm-uuids", str(warm_uuids), "--shards", str(shards)]
    stdout, _ = measured(cmd, "0")
    return json.loads(stdout)


class RuntimeApi(BaseHTTPRequestHandler):
    """Just enough of Lambda's runtime API: notes when the first `invocation/next` arrives
    and holds the request (the function is then ready and waiting for work)."""

    arrived = None
    release = None

    def do_GET(self):
        if self.path.endswith("/runtime/invocation/next"):
            RuntimeApi.arrived_at = time.monotonic()
            RuntimeApi.arrived.set()
            RuntimeApi.release.wait(30)
        self.send_response(503)
        self.end_headers()

    def log_message(self, *args):
        pass


def lambda_start(binary, out_dir, runs):
    """Process start to the first GET .../runtime/invocation/next, one core."""
    lake = fresh_dir(os.path.join(out_dir, "lambda-start-lake"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        **os.environ,
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "eventlake-bench",
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "EVENTLAKE_LAKE_URL": lake,
    }
    times = []
    log(f"Lambda start-to-ready, {runs} runs (+1 that creates the lake)")
    for i in range(runs + 1):
        RuntimeApi.arrived, RuntimeApi.release = threading.Event(), threading.Event()
        started = time.monotonic()
        proc = subprocess.Popen(["taskset", "-c", "0", binary], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ok = RuntimeApi.arrived.wait(30)
        proc.kill()
        _, stderr = proc.communicate()
        RuntimeApi.release.set()
        if not ok:
            server.shutdown()
            sys.exit(f"the Lambda binary never asked for an invocation:\n{stderr.decode()[-2000:]}")
        if i > 0:
            times.append((RuntimeApi.arrived_at - started) * 1e3)
    server.shutdown()
    return {"runs": runs, "median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times)}


def file_size(path):
    return os.path.getsize(path) if os.path.exists(path) else None


def machine():
    cores = os.cpu_count()
    with open("/proc/meminfo") as f:
        mem_kb = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
    model = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        m = re.search(r"model name\s*: (.+)", f.read())
        if m:
            model = m.group(1).strip()
    os_name = "Linux"
    if os.path.exists("/etc/os-release"):
        with open("/etc/os-release") as f:
            m = re.search(r'PRETTY_NAME="(.+)"', f.read())
            if m:
                os_name = m.group(1)
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return {"cores": cores, "memory_gib": mem_kb / 1024 / 1024, "cpu": model, "os": os_name,
            "kernel": platform.release(), "rustc": rustc, "python": platform.python_version(),
            "duckdb": duckdb.__version__}


def mb(n):
    return f"{n / 1e6:,.1f} MB"


def render(r):
    inp = r["input"]
    out = []
    add = out.append
    m = r["machine"]
    add("# eventlake benchmark results")
    add("")
    add(f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gib']:.0f} GiB, {m['os']}, {m['rustc']}, "
        f"Python {m['python']}, DuckDB {m['duckdb']}. Binaries: `{r['profile']}` profile.")
    add("")
    add(f"Input: {inp['lines']:,} records ({mb(inp['bytes'])}, {inp['bytes'] / inp['lines']:.0f} bytes each) "
        f"from `ingest generate --events {r['events']} --seed {r['seed']}`: 100 event names (21 event types), "
        "5% re-sends, 0.2% invalid.")
    add("")
    add("## End to end: JSON Lines in, deduplicated partitioned Parquet out")
    add("")
    add("| run | cores | seconds | records/s | records/s per core | MB/s | peak RSS | events table | all output |")
    add("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = [(f"ours: `ingest run` (rows written: {r['ours']['1']['written']:,})", "1", r["ours"]["1"]),
            ("ours: `ingest run`", "2", r["ours"].get("2")),
            (f"DuckDB {m['duckdb']} (rows written: {r['duckdb']['1']['written']:,})", "1", r["duckdb"]["1"]),
            (f"DuckDB {m['duckdb']}", "2", r["duckdb"].get("2"))]
    for label, cores, x in rows:
        if x is None:
            continue
        rate = inp["lines"] / x["seconds"]
        add(f"| {label} | {cores} | {x['seconds']:.2f} | {rate:,.0f} | {rate / int(cores):,.0f} "
            f"| {inp['bytes'] / 1e6 / x['seconds']:,.1f} | {x['peak_rss_mb']:,.0f} MB | {mb(x['events_bytes'])} "
            f"| {mb(x['total_bytes'])} |")
    f = r["floor"]
    add(f"| parse floor: serde_json → IgnoredAny, every line | 1 | {f['seconds']:.2f} "
        f"| {f['lines_per_second']:,.0f} | {f['lines_per_second']:,.0f} | {f['mb_per_second']:,.1f} "
        f"| {f['peak_rss_mb']:,.0f} MB | — | — |")
    add(f"| for reference: serde_json → `Value` (a map per record, which `decode` no longer builds), every line | 1 | {f['value_seconds']:.2f} "
        f"| {f['value_lines_per_second']:,.0f} | {f['value_lines_per_second']:,.0f} "
        f"| {inp['bytes'] / 1e6 / f['value_seconds']:,.1f} | — | — | — |")
    add("")
    add("Seconds are the job alone: `ingest run`'s own timer, the DuckDB `COPY` statement, the floor's parse "
        "pass (reading the file and splitting lines alone took "
        f"{f['read_only_seconds']:.2f} s). Wall clock with process start: "
        + ", ".join(f"ours {c} core(s) {r['ours'][c]['wall_s']:.2f} s" for c in sorted(r["ours"]))
        + ", " + ", ".join(f"DuckDB {c} thread(s) {r['duckdb'][c]['wall_s']:.2f} s" for c in sorted(r["duckdb"]))
        + ". DuckDB's peak RSS includes the Python interpreter. 'All output' for ours is the events, "
        "duplicates and quarantine tables plus the ledger and batch manifests: "
        + ", ".join(f"{k} {mb(v)}" for k, v in r["ours"]["1"]["bytes_by_table"].items()) + ".")
    add("")
    add("| ratio | 1 core | 2 cores | target |")
    add("|---|---:|---:|---|")
    ratio = {c: r["duckdb"][c]["seconds"] / r["ours"][c]["seconds"] for c in r["ours"] if c in r["duckdb"]}
    add(f"| ours / DuckDB, records/s, same cores and threads | {ratio['1']:.2f}x "
        f"| {ratio.get('2', float('nan')):.2f}x | ≥ 3x |")
    floor_ratio = f["seconds"] / r["ours"]["1"]["seconds"]
    add(f"| ours / parse floor, records/s per core | {floor_ratio:.2f} (1/{1 / floor_ratio:.1f}) | — | ≥ 1/3 |")
    add(f"| ours, peak RSS for {inp['lines']:,} records | {r['ours']['1']['peak_rss_mb']:.0f} MB "
        f"| {r['ours'].get('2', r['ours']['1'])['peak_rss_mb']:.0f} MB | < 300 MB |")
    add("")
    lat = r["latency"]
    add("## Lambda-shaped")
    add("")
    add(f"In process, one core (`taskset -c 0`), warm container whose ledger holds {lat['warm_uuids']:,} uuids of "
        f"the day; {lat['batches']} Kinesis events of {lat['batch_size']:,} records, each with new uuids; in-memory "
        "store (no network).")
    add("")
    add("| figure | p50 | p99 | max |")
    add("|---|---:|---:|---:|")
    with_cp = lat["handle_ms_with_checkpoints"]
    for label, key in (("parse the event JSON (base64 records)", "parse_event_ms"),
                       ("`handle_kinesis_event`", "handle_ms"), ("both", "total_ms"),
                       (f"`handle_kinesis_event`, the {lat['batches'] - with_cp['n']} events that wrote no "
                        "chain checkpoint", "handle_ms_without_checkpoints"),
                       (f"`handle_kinesis_event`, the {with_cp['n']} events that also wrote checkpoints "
                        f"({lat['checkpoints_written']} in all, each chain every 50 commits)",
                        "handle_ms_with_checkpoints")):
        s = lat[key]
        if s["n"] == 0:
            continue
        add(f"| {label} | {s['p50']:.1f} ms | {s['p99']:.1f} ms | {s['max']:.1f} ms |")
    add("")
    start = r["lambda_start"]
    add("| figure | value |")
    add("|---|---|")
    add(f"| one {lat['batch_size']:,}-record event as JSON | {mb(lat['event_json_bytes_mean'])} "
        f"(Lambda's payload limit is 6 MB: {r['cost']['payload_cap']:,} of these records fit) |")
    add(f"| first invocation of a container (loads {lat['warm_uuids']:,} uuids: LIST + checkpoint per chain) "
        f"| {lat['cold_first_invocation_ms']:.0f} ms |")
    if "cold_load_chains_concurrent_ms" in lat:
        add(f"| reading those {lat['cold_chains']} chains where every request takes {lat['request_latency_ms']} ms "
            f"(assumed, as S3 can): one after another / {lat.get('cold_load_chain_reads', 'all')} at a time "
            f"(`Ledger::prefetch`, the processor's `chain_reads`) "
            f"| {lat['cold_load_chains_sequential_ms']:,.0f} ms / {lat['cold_load_chains_concurrent_ms']:,.0f} ms |")
    add(f"| ledger cache after {lat['batches'] + 1} events | {lat['ledger_uuids_after']:,} uuids, "
        f"{lat['ledger_state_mib_after']:.0f} MiB |")
    add(f"| `eventlake-lambda` start to first `GET /runtime/invocation/next` (local directory lake, one core) "
        f"| {start['median_ms']:.1f} ms median of {start['runs']} (min {start['min_ms']:.1f}, "
        f"max {start['max_ms']:.1f}) |")
    for label, size in r["binary_sizes"].items():
        add(f"| {label} | {'not built' if size is None else mb(size)} |")
    add("")
    add("## S3 requests per batch (measured by the counting store)")
    add("")
    req = r["requests"]
    add(f"One shard's records (1 of {r['shards']} hash ranges), warm container, {req['results'][0]['batches']} "
        "batches per size (so checkpoints, one per chain every 50 commits, are amortized); then the first "
        "batch of a new container on the same lake (cold).")
    add("")
    kinds = sorted({k for x in req["results"] for k in list(x["warm"]) + list(x["cold"]) if k != "total"})
    add("| records per batch | " + " | ".join(f"warm {k.upper()}" for k in kinds)
        + " | warm total | files | ledger commits | in-process ms (p50) | cold total | cold "
        + " / ".join(k.upper() for k in kinds) + " |")
    add("|---:|" + "---:|" * (len(kinds) + 6))
    for x in req["results"]:
        warm = " | ".join(f"{x['warm'].get(k, 0):.1f}" for k in kinds)
        cold = " / ".join(f"{x['cold'].get(k, 0):.0f}" for k in kinds)
        add(f"| {x['batch_size']:,} | {warm} | {x['warm']['total']:.1f} | {x['files_per_batch']:.1f} "
            f"| {x['ledger_commits_per_batch']:.1f} | {x['ms_per_batch']['p50']:.1f} | {x['cold']['total']:.0f} "
            f"| {cold} |")
    add("")
    add("## Cost per million events")
    add("")
    add(r["cost_markdown"])
    add("")
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--profile", choices=["dist", "release", "debug"], default="dist",
                        help="cargo profile of the binaries (dist: the LTO build shipped to Lambda)")
    parser.add_argument("--out", default=os.path.join(REPO, "bench", "out"))
    parser.add_argument("--latency-batches", type=int, default=100)
    parser.add_argument("--request-batches", type=int, default=50)
    parser.add_argument("--warm-uuids", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=4, help="shards of the modelled stream")
    parser.add_argument("--start-runs", type=int, default=10)
    args = parser.parse_args()

    target_dir = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    target = os.path.join(target_dir, "debug" if args.profile == "debug" else args.profile)
    binaries = {
        "ingest": os.path.join(target, "ingest"),
        "lambda": os.path.join(target, "eventlake-lambda"),
        "parse_floor": os.path.join(target, "examples", "parse_floor"),
        "lambda_probe": os.path.join(target, "examples", "lambda_probe"),
    }
    missing = [p for p in binaries.values() if not os.path.exists(p)]
    if missing:
        flag = "" if args.profile == "debug" else f" --profile {args.profile}"
        build = f"cargo build{flag} -p ingest --features io --bins --examples"
        sys.exit(f"missing {', '.join(missing)}: run `{build}` (or `make bench`)")
    for tool in ("taskset", "/usr/bin/time"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is required (util-linux taskset, GNU time)")
    os.makedirs(args.out, exist_ok=True)
    cores = os.cpu_count() or 1
    core_sets = {"1": "0"} if cores < 2 else {"1": "0", "2": "0,1"}

    results = {"machine": machine(), "profile": args.profile, "events": args.events, "seed": args.seed,
               "shards": args.shards}
    inp = generate_input(binaries["ingest"], args.events, args.seed, args.out)
    results["input"] = inp
    results["ours"] = {n: run_ours(binaries["ingest"], inp["path"], args.out, c) for n, c in core_sets.items()}
    results["duckdb"] = {n: run_duckdb(sys.executable, inp["path"], args.out, int(n), c)
                         for n, c in core_sets.items()}
    results["floor"] = run_floor(binaries["parse_floor"], inp["path"])
    results["latency"] = run_latency(binaries["lambda_probe"], args.latency_batches, 10_000, args.warm_uuids)

    record_bytes = (inp["bytes"] - inp["lines"]) / inp["lines"]
    per_record_event_bytes = results["latency"]["event_json_bytes_mean"] / results["latency"]["batch_size"]
    payload_cap = cost.LAMBDA_PAYLOAD_LIMIT // int(per_record_event_bytes)
    sizes = sorted({100, 1_000, 10_000} | {s["records"] for s in cost.scenarios(1_000_000, args.shards, payload_cap)})
    results["requests"] = run_requests(binaries["lambda_probe"], sizes, args.request_batches, args.warm_uuids,
                                       args.shards)
    results["lambda_start"] = lambda_start(binaries["lambda"], args.out, args.start_runs)
    results["binary_sizes"] = {
        f"`target/{args.profile}/eventlake-lambda` (x86_64, not stripped)": file_size(binaries["lambda"]),
        "`target/lambda/eventlake-lambda/bootstrap.zip` (arm64, `scripts/build-lambda.sh`)":
            file_size(os.path.join(REPO, "target", "lambda", "eventlake-lambda", "bootstrap.zip")),
    }
    ours = results["ours"]["1"]
    stored_per_million = ours["total_bytes"] * 1_000_000 / inp["lines"]
    # Within an hour every event type shows up, on one date (two around midnight).
    markdown, figures = cost.render(results["requests"]["results"], record_bytes, per_record_event_bytes,
                                    ours["event_types"], stored_per_million, shards=args.shards)
    results["cost"] = figures
    results["cost_markdown"] = markdown

    text = render(results)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
