//! Builds the object store and root prefix from one lake URL: `s3://bucket/prefix`, a plain
//! path or `file:///path` (the local default), `memory://` (tests); and the CLIs' preflight,
//! one quick request that tells a wrong endpoint, bucket, region or credentials in seconds.

use super::layout::Layout;
use super::problem::StoreProblem;
use crate::error::IngestError;
use crate::ledger::document::parse_config;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{BackoffConfig, RetryConfig};
use object_store::{ObjectStore, ObjectStoreExt};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Overrides for the S3 client; everything else comes from the usual AWS environment.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// An S3-compatible endpoint (moto, MinIO). Defaults to `AWS_ENDPOINT_URL` when set.
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
    pub retry: StoreRetry,
}

/// How one S3 request is retried (on 5xx answers such as 503 SlowDown, 429 and connection
/// errors) before its error reaches the batch, which `ingest run` and the Lambda then
/// retry as a whole. Every retry waits exponentially longer (100 ms doubling, at most 15 s,
/// with jitter). A batch error is reported as retryable, never dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreRetry {
    /// Retries of one request after its first attempt (0: none).
    pub max_retries: usize,
    /// No retry starts later than this after the first attempt.
    pub timeout: Duration,
}

impl Default for StoreRetry {
    /// object_store's own defaults, stated here so they are visible and tunable.
    fn default() -> Self {
        StoreRetry {
            max_retries: 10,
            timeout: Duration::from_secs(180),
        }
    }
}

impl StoreRetry {
    /// One retry within 10 s: the CLIs' first request ([`Lake::preflight`]).
    pub const QUICK: StoreRetry = StoreRetry {
        max_retries: 1,
        timeout: Duration::from_secs(10),
    };

    fn config(self) -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(15),
                base: 2.0,
            },
            max_retries: self.max_retries,
            retry_timeout: self.timeout,
        }
    }
}

/// An object store and the prefix of the lake inside it.
#[derive(Debug, Clone)]
pub struct Lake {
    pub store: Arc<dyn ObjectStore>,
    pub root: Path,
    /// The URL the lake was opened from, for messages and for readers.
    pub url: String,
}

impl Lake {
    /// Wraps an existing store (tests, fault injection).
    pub fn new(store: Arc<dyn ObjectStore>, root: Path, url: impl Into<String>) -> Self {
        Lake {
            store,
            root,
            url: url.into(),
        }
    }

    /// Opens a lake from its URL. Local directories are created if missing.
    pub fn open(url: &str, options: &StoreOptions) -> Result<Self, IngestError> {
        match locate(url)? {
            Location::S3 { bucket, root } => Self::open_s3(url, &bucket, root, options),
            Location::Memory => Ok(Lake::new(Arc::new(InMemory::new()), Path::default(), url)),
            Location::Local(dir) => Self::open_local(url, &dir),
        }
    }

    /// Checks a lake URL without opening anything (the Lambda's settings).
    pub fn check_url(url: &str) -> Result<(), IngestError> {
        locate(url).map(|_| ())
    }

    fn open_local(url: &str, dir: &std::path::Path) -> Result<Self, IngestError> {
        let bad = |message: String| IngestError::LakeUrl {
            url: url.to_owned(),
            message,
        };
        std::fs::create_dir_all(dir)
            .map_err(|e| bad(format!("cannot create directory {}: {e}", dir.display())))?;
        let dir = dir
            .canonicalize()
            .map_err(|e| bad(format!("cannot resolve {}: {e}", dir.display())))?;
        let store = LocalFileSystem::new_with_prefix(&dir).map_err(|e| bad(e.to_string()))?;
        Ok(Lake::new(Arc::new(store), Path::default(), url))
    }

    fn open_s3(url: &str, bucket: &str, root: Path, options: &StoreOptions) -> Result<Self, IngestError> {
        if no_credential_source(|name| std::env::var(name).ok()) {
            return Err(IngestError::StoreSetup {
                url: url.to_owned(),
                problem: StoreProblem::NoCredentials,
            });
        }
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_retry(options.retry.config());
        let endpoint = options
            .endpoint_url
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
        if let Some(endpoint) = endpoint {
            builder = builder
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false)
                .with_endpoint(endpoint);
        }
        if let Some(region) = &options.region {
            builder = builder.with_region(region);
        }
        let store = builder.build().map_err(|e| IngestError::S3Client {
            url: url.to_owned(),
            message: e.to_string(),
        })?;
        Ok(Lake::new(Arc::new(store), root, url))
    }

    /// One cheap request before a command starts work: reads `_ledger/config.json` (absent is
    /// fine: a new lake) through a store that retries once within 10 s, so a wrong endpoint,
    /// bucket, region or credentials fail in seconds instead of after the default 10 retries
    /// over 3 minutes; a lake of a newer format is refused ([`Lake::check_format`]).
    pub async fn preflight(url: &str, options: &StoreOptions) -> Result<(), IngestError> {
        let quick = StoreOptions {
            retry: StoreRetry::QUICK,
            ..options.clone()
        };
        Lake::open(url, &quick)?.check_format().await
    }

    /// Refuses a lake that a newer eventlake wrote (its ledger format is newer than this
    /// build's); a lake without a ledger yet is fine.
    pub async fn check_format(&self) -> Result<(), IngestError> {
        let relative = Layout::config();
        let key = self.path(&relative);
        let bytes = match self.store.get(&key).await {
            Ok(got) => got
                .bytes()
                .await
                .map_err(|e| IngestError::store("get", &key, e))?,
            Err(e @ object_store::Error::NotFound { .. })
                if StoreProblem::of(&e) != StoreProblem::NoSuchBucket =>
            {
                return Ok(());
            }
            Err(e) => return Err(IngestError::store("get", &key, e)),
        };
        parse_config(&bytes, &relative, &self.url).map(|_| ())
    }

    /// The full key of a lake-relative path.
    pub fn path(&self, relative: &str) -> Path {
        if self.root.as_ref().is_empty() {
            Path::from(relative)
        } else {
            Path::from(format!("{}/{relative}", self.root))
        }
    }

    /// The lake-relative form of a full key.
    pub fn relative<'a>(&self, full: &'a Path) -> &'a str {
        let full = full.as_ref();
        let root = self.root.as_ref();
        if root.is_empty() {
            full
        } else {
            full.strip_prefix(root)
                .map_or(full, |r| r.trim_start_matches('/'))
        }
    }
}

/// Where a lake URL points, checked without any I/O.
enum Location {
    S3 { bucket: String, root: Path },
    Memory,
    Local(std::path::PathBuf),
}

fn locate(url: &str) -> Result<Location, IngestError> {
    let bad = |message: String| IngestError::LakeUrl {
        url: url.to_owned(),
        message,
    };
    if url.trim().is_empty() {
        return Err(bad(
            "it is empty; pass a directory, file:///dir, s3://bucket/prefix or memory://".into(),
        ));
    }
    match Url::parse(url) {
        Ok(parsed) if parsed.scheme() == "s3" => {
            let bucket = parsed
                .host_str()
                .filter(|b| !b.is_empty())
                .ok_or_else(|| bad("no bucket name".into()))?;
            let root = Path::parse(parsed.path().trim_matches('/')).map_err(|e| bad(e.to_string()))?;
            Ok(Location::S3 {
                bucket: bucket.to_owned(),
                root,
            })
        }
        Ok(parsed) if parsed.scheme() == "memory" => Ok(Location::Memory),
        Ok(parsed) if parsed.scheme() == "file" => parsed
            .to_file_path()
            .map(Location::Local)
            .map_err(|()| bad("not a local file path".into())),
        Ok(parsed) if parsed.scheme().len() > 1 => Err(bad(format!(
            "unsupported scheme {:?}; use a directory, file://, s3:// or memory://",
            parsed.scheme()
        ))),
        // Plain paths (and Windows drive letters, which parse as one-letter schemes).
        _ => Ok(Location::Local(std::path::PathBuf::from(url))),
    }
}

/// Whether no credentials can be found without the EC2 instance metadata service and that
/// service is switched off (`AWS_EC2_METADATA_DISABLED=true`): every request would fail, so
/// opening fails at once. The variables are the ones object_store reads (it reads no
/// profiles); `AWS_SKIP_SIGNATURE=true` needs no credentials.
fn no_credential_source(get: impl Fn(&str) -> Option<String>) -> bool {
    let set = |name: &str| get(name).is_some_and(|v| !v.trim().is_empty());
    let yes = |name: &str| get(name).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let some_source = yes("AWS_SKIP_SIGNATURE")
        || (set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY"))
        || set("AWS_WEB_IDENTITY_TOKEN_FILE")
        || set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        || set("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    yes("AWS_EC2_METADATA_DISABLED") && !some_source
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_credential_source_only_when_metadata_is_off_and_nothing_is_set() {
        let with = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            no_credential_source(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        };
        let off = ("AWS_EC2_METADATA_DISABLED", "true");
        assert!(with(&[off]));
        assert!(
            with(&[off, ("AWS_ACCESS_KEY_ID", "k")]),
            "a key without its secret"
        );
        assert!(!with(&[]), "the metadata service may answer");
        assert!(!with(&[("AWS_EC2_METADATA_DISABLED", "false")]));
        for source in [
            &[("AWS_ACCESS_KEY_ID", "k"), ("AWS_SECRET_ACCESS_KEY", "s")][..],
            &[("AWS_WEB_IDENTITY_TOKEN_FILE", "/t")],
            &[("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/creds")],
            &[("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1/creds")],
            &[("AWS_SKIP_SIGNATURE", "true")],
        ] {
            let vars: Vec<_> = source.iter().copied().chain([off]).collect();
            assert!(!with(&vars), "{source:?}");
        }
    }

    #[test]
    fn urls_map_to_stores() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plain = Lake::open(
            dir.path().join("a").to_str().expect("utf8"),
            &StoreOptions::default(),
        )
        .expect("path");
        assert_eq!(plain.path("events/x"), Path::from("events/x"));
        let file_url = format!("file://{}", dir.path().join("b").display());
        Lake::open(&file_url, &StoreOptions::default()).expect("file url");
        let s3 = Lake::open(
            "s3://bucket/some/prefix",
            &StoreOptions {
                endpoint_url: Some("http://127.0.0.1:1".into()),
                region: Some("us-east-1".into()),
                ..StoreOptions::default()
            },
        )
        .expect("s3");
        assert_eq!(s3.path("events/x").as_ref(), "some/prefix/events/x");
        assert_eq!(s3.relative(&s3.path("events/x")), "events/x");
        assert!(Lake::open("", &StoreOptions::default()).is_err());
        let err = Lake::open("ftp://x/y", &StoreOptions::default()).expect_err("scheme");
        assert!(err.to_string().contains("unsupported scheme"), "{err}");
        assert!(Lake::open("s3:///nobucket", &StoreOptions::default()).is_err());
    }
}
