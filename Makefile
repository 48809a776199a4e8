# Entry points over the project's scripts. `make bench EVENTS=50000` for a quick benchmark run.
# `make bench` and `make lambda` build the `dist` profile (fat LTO, one codegen unit): what
# ships to Lambda is what is measured. Local runs use the plain `release` profile.
.PHONY: bench load lambda test demo fuzz

EVENTS ?= 1000000

bench:
	scripts/venv.sh
	cargo build --profile dist -p ingest --features io --bins --examples
	.venv/bin/python bench/run.py --events $(EVENTS)

lambda:
	scripts/build-lambda.sh

test:
	scripts/test.sh

# Fuzzing for a bounded time (FUZZ_SECONDS per target); `scripts/fuzz.sh --long` for 10 min each.
fuzz:
	scripts/fuzz.sh

demo:
	cargo run --release --bin ingest -- run --input samples/events.jsonl.gz --lake ./lake

# Load runs (bench/load.py): 10M events through `ingest run` with memory sampled (default
# ledger cache, then the ten-day input again under a 256 MiB cache budget), and 200k through
# moto's Kinesis and S3 with 4 shards and two racing consumers. Exact counts checked.
load:
	scripts/venv.sh
	cargo build --release --bins --features ingest/io
	.venv/bin/python bench/load.py
	.venv/bin/python bench/load.py --skip-one-day --skip-kinesis --ledger-cache-mib 256
