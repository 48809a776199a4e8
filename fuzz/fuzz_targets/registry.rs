//! Registry documents (NUL-separated): `Registry::from_documents` errs or yields a registry whose invariants hold, whatever the order.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ingest::fuzzing::check_registry(data));
