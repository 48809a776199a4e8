//! The query crate's integration tests, one module a concern, in one test binary so the
//! dependency tree links once (`cargo test -p query --test it <module>::` runs one of them).

mod common;
mod compact;
mod erase;
mod errors;
mod read_lake;
mod reports_golden;
mod s3_lake;
mod schema_lifecycle;
