//! Partition values: event types become escape-free `event_type=` segments or are refused; dates exist exactly inside the accepted range.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ingest::fuzzing::check_partition(data));
