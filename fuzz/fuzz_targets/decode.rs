//! One Kinesis record through `ingest::decode::decode`: deterministic, accepted events re-encode to themselves, rejections carry the first failed check.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ingest::fuzzing::check_decode(data));
