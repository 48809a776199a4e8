//! The ingest crate's integration tests, one module a concern, in one test binary so the
//! dependency tree links once (`cargo test -p ingest --test it <module>::` runs one of them).

mod cli;
mod common;
mod cost_shape;
mod dedup_crash;
mod dedup_simulation;
mod errors;
mod fuzz_replay;
mod hostile_input;
mod in_batch_repeats;
mod kinesis_e2e;
mod lambda_handler;
mod ledger_cache;
mod lossless;
mod read_ahead;
mod rerun;
mod store_faults;
mod upgrade;
