//! The read path of eventlake: a DataFusion session over the lake with the `events`,
//! `duplicates` and `quarantine` tables registered as Hive-partitioned listing tables, and
//! the output formats of `lakeq`.

pub mod error;
pub mod output;
pub mod session;

pub use error::QueryError;
pub use output::OutputFormat;
pub use session::LakeSession;
