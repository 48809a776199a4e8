//! The ingest library's one error type. Each variant says what failed and where;
//! [`IngestError::is_retryable`] tells callers (the Lambda, the CLI) whether trying the same
//! batch again can succeed.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum IngestError {
    #[error("invalid lake URL {url:?}: {message}")]
    LakeUrl { url: String, message: String },

    #[cfg(feature = "lake")]
    #[error("object store {operation} {path}: {source}")]
    Store {
        operation: &'static str,
        path: String,
        #[source]
        source: object_store::Error,
    },

    #[error("encoding failed: {0}")]
    Encode(String),

    #[error("corrupt ledger object {path}: {message}")]
    CorruptLedger { path: String, message: String },

    #[error("ledger {chain}: gave up after {attempts} conflicting commits")]
    CommitContention { chain: String, attempts: u32 },

    #[error("batch {batch_id} was aborted by another writer after its lease expired")]
    BatchAborted { batch_id: String },

    #[error(transparent)]
    Schema(#[from] schemas::SchemaError),

    #[error("reading {path}: {source}")]
    Input {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{0}")]
    Config(String),

    #[error("injected fault: {0}")]
    Injected(String),

    #[error("Kinesis {operation} on stream {stream}: {message}")]
    Kinesis {
        operation: &'static str,
        stream: String,
        message: String,
        retryable: bool,
    },

    #[error("malformed Kinesis event: {0}")]
    BadEvent(String),

    #[error("invoking the function at {url}: {message}")]
    Invoke { url: String, message: String },
}

impl IngestError {
    pub(crate) fn encode(err: impl std::fmt::Display) -> Self {
        IngestError::Encode(err.to_string())
    }

    #[cfg(feature = "lake")]
    pub(crate) fn store(
        operation: &'static str,
        path: impl std::fmt::Display,
        source: object_store::Error,
    ) -> Self {
        IngestError::Store {
            operation,
            path: path.to_string(),
            source,
        }
    }

    /// Whether running the same batch again may succeed: store and contention errors are
    /// transient; bad configuration, bad input files and corrupt state are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            #[cfg(feature = "lake")]
            IngestError::Store { source, .. } => !matches!(
                source,
                object_store::Error::PermissionDenied { .. }
                    | object_store::Error::Unauthenticated { .. }
                    | object_store::Error::NotSupported { .. }
            ),
            IngestError::Kinesis { retryable, .. } => *retryable,
            IngestError::CommitContention { .. }
            | IngestError::BatchAborted { .. }
            | IngestError::Invoke { .. }
            | IngestError::Injected(_) => true,
            IngestError::LakeUrl { .. }
            | IngestError::Encode(_)
            | IngestError::CorruptLedger { .. }
            | IngestError::Schema(_)
            | IngestError::Input { .. }
            | IngestError::Config(_)
            | IngestError::BadEvent(_) => false,
        }
    }
}
