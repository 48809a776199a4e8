//! The query library's error type.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum QueryError {
    #[error(transparent)]
    Lake(#[from] ingest::IngestError),

    #[error("{0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),

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
    /// Store hiccups may pass; SQL and configuration errors will not.
    pub fn is_retryable(&self) -> bool {
        match self {
            QueryError::Lake(e) => e.is_retryable(),
            QueryError::DataFusion(datafusion::error::DataFusionError::ObjectStore(_))
            | QueryError::Store(_) => true,
            _ => false,
        }
    }
}
