//! Builds the object store and root prefix from one lake URL: `s3://bucket/prefix`, a plain
//! path or `file:///path` (the local default), `memory://` (tests).

use crate::error::IngestError;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{BackoffConfig, RetryConfig};
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
            Ok(parsed) if parsed.scheme() == "s3" => Self::open_s3(url, &parsed, options),
            Ok(parsed) if parsed.scheme() == "memory" => {
                Ok(Lake::new(Arc::new(InMemory::new()), Path::default(), url))
            }
            Ok(parsed) if parsed.scheme() == "file" => {
                let dir = parsed
                    .to_file_path()
                    .map_err(|()| bad("not a local file path".into()))?;
                Self::open_local(url, &dir)
            }
            Ok(parsed) if parsed.scheme().len() > 1 => Err(bad(format!(
                "unsupported scheme {:?}; use a directory, file://, s3:// or memory://",
                parsed.scheme()
            ))),
            // Plain paths (and Windows drive letters, which parse as one-letter schemes).
            _ => Self::open_local(url, std::path::Path::new(url)),
        }
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

    fn open_s3(url: &str, parsed: &Url, options: &StoreOptions) -> Result<Self, IngestError> {
        let bad = |message: String| IngestError::LakeUrl {
            url: url.to_owned(),
            message,
        };
        let bucket = parsed
            .host_str()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| bad("no bucket name".into()))?;
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
        let store = builder.build().map_err(|e| bad(e.to_string()))?;
        let root = Path::parse(parsed.path().trim_matches('/')).map_err(|e| bad(e.to_string()))?;
        Ok(Lake::new(Arc::new(store), root, url))
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

#[cfg(test)]
mod tests {
    use super::*;

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
