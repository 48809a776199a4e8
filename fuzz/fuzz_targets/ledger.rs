//! Ledger objects: commit, checkpoint and manifest decoders, and a checkpoint plus commits applied to a chain.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ingest::fuzzing::check_ledger(data));
