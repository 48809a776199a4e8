//! The ingest library's one error type. Each variant says what failed and where;
//! [`IngestError::is_retryable`] tells callers (the Lambda, the CLI) whether trying the same
//! batch again can succeed, [`IngestError::is_usage`] whether a person must change something
//! first (the binaries exit with 2 for those).

#[cfg(feature = "lake")]
use crate::storage::problem::{StoreProblem, endpoint_of};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum IngestError {
    #[error("invalid lake URL {url:?}: {message}")]
    LakeUrl { url: String, message: String },

    /// A request to the object store failed; `problem` says why in a person's terms. The
    /// store's own text is shown only for the classes that have nothing better to say.
    #[cfg(feature = "lake")]
    #[error("{}", store_message(operation, path, *problem, error))]
    Store {
        operation: &'static str,
        path: String,
        problem: StoreProblem,
        error: object_store::Error,
    },

    /// Found before any request: e.g. no credential source at all (see `Lake::open`).
    #[cfg(feature = "lake")]
    #[error("cannot open lake {url}: {problem}")]
    StoreSetup { url: String, problem: StoreProblem },

    #[cfg(feature = "lake")]
    #[error("cannot configure the S3 client for lake {url}: {message}")]
    S3Client { url: String, message: String },

    #[error(
        "lake {url} was written by a newer eventlake (ledger format {found}; this build reads up to \
         {supported}): upgrade ingest and lakeq"
    )]
    NewerLake { url: String, found: u32, supported: u32 },

    /// Encoding data the pipeline built itself failed (a bug or a resource limit, never
    /// bad input): `what` was being encoded.
    #[error("encoding {what} failed: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error("corrupt ledger object {path}: {message}")]
    CorruptLedger { path: String, message: String },

    #[error("ledger {chain}: gave up after {attempts} conflicting commits")]
    CommitContention { chain: String, attempts: u32 },

    #[error("batch {batch_id} was aborted by another writer after its lease expired")]
    BatchAborted { batch_id: String },

    #[error(transparent)]
    Schema(#[from] schemas::SchemaError),

    #[error("input {path} is not a readable file; pass a JSON Lines file or - for stdin")]
    InputNotFound { path: String },

    #[error("registry directory {dir} does not load: {source}; fix the file or pass another --registry")]
    Registry {
        dir: String,
        #[source]
        source: Box<schemas::SchemaError>,
    },

    #[error("registry directory {dir}: {message}")]
    RegistryDir { dir: String, message: String },

    /// An environment variable (or flag) with a value it does not take.
    #[error("{name}={value:?}: {problem}")]
    BadSetting {
        name: &'static str,
        value: String,
        problem: String,
    },

    #[error("{name} is not set; {hint}")]
    MissingSetting { name: &'static str, hint: &'static str },

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

    /// A Kinesis failure a person must fix (stream name, region, credentials, endpoint,
    /// permissions); `message` says the cause and the fix.
    #[error("Kinesis {operation} on stream {stream}: {message}")]
    KinesisSetup {
        operation: &'static str,
        stream: String,
        message: String,
    },

    #[error("Glue {operation} in database {database}: {message}")]
    Catalog {
        operation: &'static str,
        database: String,
        message: String,
        retryable: bool,
    },

    /// A catalog failure a person must fix (database, table, permissions, credentials);
    /// `message` says the cause and the fix.
    #[error("Glue {operation} in database {database}: {message}")]
    CatalogSetup {
        operation: &'static str,
        database: String,
        message: String,
    },

    #[error("malformed Kinesis event: {0}")]
    BadEvent(String),

    #[error("invoking the function at {url}: {message}")]
    Invoke { url: String, message: String },
}

impl IngestError {
    /// `err` while encoding `what`.
    pub(crate) fn encode<E: std::error::Error + Send + Sync + 'static>(
        what: &'static str,
    ) -> impl FnOnce(E) -> Self {
        move |err| IngestError::Encode {
            what,
            source: Box::new(err),
        }
    }

    /// A failed store request, classified ([`StoreProblem::of`]).
    #[cfg(feature = "lake")]
    pub fn store(operation: &'static str, path: impl std::fmt::Display, error: object_store::Error) -> Self {
        IngestError::Store {
            operation,
            path: path.to_string(),
            problem: StoreProblem::of(&error),
            error,
        }
    }

    /// Whether running the same batch again may succeed: transient store failures (and
    /// unclassified ones) and contention are; credentials, buckets, bad configuration, bad
    /// input files and corrupt state are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            #[cfg(feature = "lake")]
            IngestError::Store { problem, .. } => problem.is_retryable(),
            IngestError::Kinesis { retryable, .. } | IngestError::Catalog { retryable, .. } => *retryable,
            IngestError::CommitContention { .. }
            | IngestError::BatchAborted { .. }
            | IngestError::Invoke { .. }
            | IngestError::Injected(_) => true,
            _ => false,
        }
    }

    /// Whether a person must change something before the same command can work: a flag, a
    /// setting, the environment (credentials), the lake URL, the registry, the binary's
    /// version. The binaries exit with 2 for these and 1 for failures at run time.
    pub fn is_usage(&self) -> bool {
        match self {
            #[cfg(feature = "lake")]
            IngestError::Store { problem, .. } => problem.is_usage(),
            #[cfg(feature = "lake")]
            IngestError::StoreSetup { .. } | IngestError::S3Client { .. } => true,
            IngestError::LakeUrl { .. }
            | IngestError::NewerLake { .. }
            | IngestError::InputNotFound { .. }
            | IngestError::Registry { .. }
            | IngestError::RegistryDir { .. }
            | IngestError::BadSetting { .. }
            | IngestError::MissingSetting { .. }
            | IngestError::Schema(_)
            | IngestError::KinesisSetup { .. }
            | IngestError::CatalogSetup { .. }
            | IngestError::Config(_) => true,
            _ => false,
        }
    }

    /// Whether the message names the lake already (so callers add no "cannot open lake").
    pub fn names_lake(&self) -> bool {
        match self {
            #[cfg(feature = "lake")]
            IngestError::StoreSetup { .. } | IngestError::S3Client { .. } => true,
            IngestError::LakeUrl { .. } | IngestError::NewerLake { .. } => true,
            _ => false,
        }
    }

    /// Whether the failure is known to be passing (a retry is the fix), for messages: an
    /// unclassified store error is retried but not called transient.
    pub fn is_transient(&self) -> bool {
        match self {
            #[cfg(feature = "lake")]
            IngestError::Store { problem, .. } => *problem == StoreProblem::Transient,
            _ => self.is_retryable(),
        }
    }
}

/// A store failure in one line: the cause and the fix when the class is known (the key for
/// denied access, the endpoint when it does not answer), else the store's own text.
#[cfg(feature = "lake")]
fn store_message(operation: &str, path: &str, problem: StoreProblem, error: &object_store::Error) -> String {
    match problem {
        StoreProblem::AccessDenied => format!("access denied to {operation} {path}: {}", problem.fix()),
        StoreProblem::EndpointUnreachable => match endpoint_of(error) {
            Some(endpoint) => format!("no answer from the S3 endpoint {endpoint}: {}", problem.fix()),
            None => problem.to_string(),
        },
        StoreProblem::Transient | StoreProblem::Other => format!(
            "object store {operation} {path}: {}",
            crate::display::one_line(error)
        ),
        _ => problem.to_string(),
    }
}
