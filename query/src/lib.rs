//! The read path of eventlake: a DataFusion session over the lake with the `events`,
//! `duplicates` and `quarantine` tables registered as Hive-partitioned listing tables, the
//! reports of `lakeq` (duplicates, quality, stats), compaction, and the output formats.

pub mod compact;
pub mod erase;
pub mod error;
pub mod extra;
pub mod files;
pub mod output;
pub mod reports;
pub mod schema;
pub mod session;

pub use error::QueryError;
pub use output::OutputFormat;
pub use session::LakeSession;
