//! The query library's error type. [`QueryError::is_usage`] tells `lakeq` which errors a
//! person must fix (a query, a flag, the lake URL: exit 2) and which failed at run time.

use datafusion::error::DataFusionError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum QueryError {
    #[error(transparent)]
    Lake(#[from] ingest::IngestError),

    #[error(transparent)]
    DataFusion(#[from] DataFusionError),

    #[error("SQL syntax: {message}")]
    SqlSyntax { message: String },

    #[error("unknown table {name}; the tables are {}", tables.join(", "))]
    UnknownTable { name: String, tables: Vec<String> },

    /// A column no table of the query has: its close matches among those tables' columns
    /// (there are hundreds, so not all of them) and how to list them.
    #[error("{}", unknown_column(column, tables, close))]
    UnknownColumn {
        column: String,
        tables: Vec<String>,
        close: Vec<String>,
    },

    #[error("lake {url} is not a directory; pass --lake <dir|s3://bucket/prefix> or set EVENTLAKE_LAKE")]
    NoLake { url: String },

    #[error(
        "{url} is not a lake (it has none of events/, duplicates/, quarantine/, _ledger/); \
         make one with `ingest run --input FILE --lake {url}`, or pass --lake <dir|s3://bucket/prefix>"
    )]
    NotALake { url: String },

    #[error("formatting output: {0}")]
    Output(String),

    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),

    #[error("object store: {0}")]
    Store(String),

    #[error("corrupt compaction journal {path}: {message}")]
    Journal { path: String, message: String },

    #[error("{0}")]
    Usage(String),

    #[error(transparent)]
    Schema(#[from] schemas::SchemaError),

    #[error("git revision {rev}: {message}; pass a directory or a revision that has {dir}")]
    Git {
        rev: String,
        dir: String,
        message: String,
    },

    #[error("writing {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl QueryError {
    /// Whether a person must change something (the query, a flag, the lake, the registry)
    /// before the same command can work.
    pub fn is_usage(&self) -> bool {
        match self {
            QueryError::Lake(e) => e.is_usage(),
            QueryError::DataFusion(e) => matches!(
                e.find_root(),
                DataFusionError::SQL(..)
                    | DataFusionError::Plan(_)
                    | DataFusionError::SchemaError(..)
                    | DataFusionError::NotImplemented(_)
            ),
            QueryError::UnknownTable { .. }
            | QueryError::SqlSyntax { .. }
            | QueryError::UnknownColumn { .. }
            | QueryError::NoLake { .. }
            | QueryError::NotALake { .. }
            | QueryError::Usage(_)
            | QueryError::Schema(_)
            | QueryError::Git { .. } => true,
            _ => false,
        }
    }

    /// Store hiccups may pass; SQL and configuration errors will not.
    pub fn is_retryable(&self) -> bool {
        match self {
            QueryError::Lake(e) => e.is_retryable(),
            QueryError::DataFusion(DataFusionError::ObjectStore(_)) | QueryError::Store(_) => true,
            _ => false,
        }
    }
}

fn unknown_column(column: &str, tables: &[String], close: &[String]) -> String {
    let Some(first) = tables.first() else {
        return format!("unknown column {column}; the query reads no table that could have it");
    };
    let matches = if close.is_empty() {
        "no column has a similar name".to_owned()
    } else {
        format!("close matches: {}", close.join(", "))
    };
    format!(
        "unknown column {column} in {}; {matches} (all columns: lakeq sql \"describe {first}\")",
        tables.join(", ")
    )
}
