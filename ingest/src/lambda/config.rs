//! The function's settings, read once per container from environment variables and checked
//! before the first invocation: a bad value stops the container with a message that names
//! the variable and what it accepts.

use crate::batch::ProcessorConfig;
use crate::catalog::glue::GlueOptions;
use crate::error::IngestError;
use crate::ledger::policy::{CachePolicy, LeasePolicy};
use crate::storage::{Lake, StoreOptions};

pub const LAKE_URL: &str = "EVENTLAKE_LAKE_URL";
pub const LEASE_SECONDS: &str = "EVENTLAKE_LEASE_SECONDS";
pub const LEDGER_BUCKETS: &str = "EVENTLAKE_LEDGER_BUCKETS";
pub const LEDGER_CACHE_MIB: &str = "EVENTLAKE_LEDGER_CACHE_MIB";
pub const PARALLELISM: &str = "EVENTLAKE_PARALLELISM";
pub const ZSTD_LEVEL: &str = "EVENTLAKE_ZSTD_LEVEL";
pub const S3_ENDPOINT_URL: &str = "EVENTLAKE_S3_ENDPOINT_URL";
pub const GLUE_DATABASE: &str = "EVENTLAKE_GLUE_DATABASE";
pub const GLUE_ENDPOINT_URL: &str = "EVENTLAKE_GLUE_ENDPOINT_URL";

/// Everything the function needs, validated.
#[derive(Debug, Clone)]
pub struct LambdaConfig {
    pub lake_url: String,
    pub store: StoreOptions,
    pub processor: ProcessorConfig,
    /// The Glue database whose tables get every new partition, if set.
    pub glue: Option<GlueOptions>,
    /// A `tracing` filter (`RUST_LOG`, default `info`).
    pub log_filter: String,
    /// The EMF dimension and the writer name in ledger commits.
    pub function_name: String,
}

impl LambdaConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, IngestError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads settings through `get`, so tests need not touch the process environment.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, IngestError> {
        let lake_url = get(LAKE_URL)
            .filter(|v| !v.trim().is_empty())
            .ok_or(IngestError::MissingSetting {
                name: LAKE_URL,
                hint: "set it to the lake's root, e.g. s3://my-bucket/lake",
            })?;
        Lake::check_url(&lake_url).map_err(|e| IngestError::BadSetting {
            name: LAKE_URL,
            value: lake_url.clone(),
            problem: match e {
                IngestError::LakeUrl { message, .. } => message,
                other => other.to_string(),
            },
        })?;
        let defaults = ProcessorConfig::default();
        let lease_seconds = number(&get, LEASE_SECONDS, 960, 60..=86_400)?;
        let buckets = number(&get, LEDGER_BUCKETS, u64::from(defaults.buckets), 1..=65_536)?;
        let parallelism = number(&get, PARALLELISM, defaults.parallelism as u64, 1..=256)?;
        // Set by the Lambda service (and by emulators, loosely): read, never refused.
        let function_mib = get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(1024)
            .clamp(128, 10_240);
        let cache_mib = number(
            &get,
            LEDGER_CACHE_MIB,
            default_cache_mib(function_mib),
            1..=10_240,
        )?;
        let zstd_level = number(&get, ZSTD_LEVEL, defaults.parquet.zstd_level as u64, 1..=22)?;
        let endpoint_url = endpoint_url(&get, S3_ENDPOINT_URL, "AWS_ENDPOINT_URL_S3")?;
        let mut processor = ProcessorConfig {
            lease: LeasePolicy {
                lease_millis: lease_seconds as i64 * 1000,
            },
            buckets: buckets as u32,
            parallelism: parallelism as usize,
            cache: CachePolicy {
                max_bytes: cache_mib << 20,
                ..defaults.cache
            },
            ..defaults
        };
        processor.parquet.zstd_level = zstd_level as i32;
        let glue = glue_options(&get)?;
        Ok(LambdaConfig {
            glue,
            lake_url,
            store: StoreOptions {
                endpoint_url,
                region: get("AWS_REGION").filter(|v| !v.is_empty()),
                ..StoreOptions::default()
            },
            processor,
            log_filter: get("RUST_LOG")
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "info".into()),
            function_name: get("AWS_LAMBDA_FUNCTION_NAME")
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "eventlake-lambda".into()),
        })
    }
}

/// A service's endpoint: our setting, then the SDKs' service-specific and general variables;
/// an http(s) URL or none.
fn endpoint_url(
    get: &impl Fn(&str) -> Option<String>,
    setting: &'static str,
    service_variable: &str,
) -> Result<Option<String>, IngestError> {
    let url = get(setting)
        .or_else(|| get(service_variable))
        .or_else(|| get("AWS_ENDPOINT_URL"))
        .filter(|v| !v.is_empty());
    match url {
        Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
            Err(IngestError::BadSetting {
                name: setting,
                value: url,
                problem: "must be an http:// or https:// URL".into(),
            })
        }
        url => Ok(url),
    }
}

/// The Glue catalog's settings: none without a database.
fn glue_options(get: &impl Fn(&str) -> Option<String>) -> Result<Option<GlueOptions>, IngestError> {
    let Some(database) = get(GLUE_DATABASE).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    Ok(Some(GlueOptions {
        database,
        endpoint_url: endpoint_url(get, GLUE_ENDPOINT_URL, "AWS_ENDPOINT_URL_GLUE")?,
        region: get("AWS_REGION").filter(|v| !v.is_empty()),
    }))
}

/// Memory a batch needs besides the ledger cache: a 6 MB event's records, their Arrow arrays
/// and Parquet buffers, the runtime.
const BATCH_RESERVE_MIB: u64 = 384;

/// The function's memory less the batch's reserve, and at least half of it.
fn default_cache_mib(function_mib: u64) -> u64 {
    function_mib
        .saturating_sub(BATCH_RESERVE_MIB)
        .max(function_mib / 2)
}

fn number(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, IngestError> {
    let Some(text) = get(name).filter(|v| !v.trim().is_empty()) else {
        return Ok(default);
    };
    match text.trim().parse::<u64>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(IngestError::BadSetting {
            name,
            value: text,
            problem: format!("must be a whole number from {} to {}", range.start(), range.end()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<LambdaConfig, IngestError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        LambdaConfig::from_vars(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_need_only_the_lake() {
        let c = config(&[(LAKE_URL, "s3://bucket/lake")]).expect("valid");
        assert_eq!(c.lake_url, "s3://bucket/lake");
        assert_eq!(c.processor.lease.lease_millis, 960_000);
        assert_eq!(c.processor.buckets, crate::ledger::DEFAULT_BUCKETS);
        assert_eq!(c.log_filter, "info");
        assert_eq!(c.store.endpoint_url, None);
        assert!(c.glue.is_none(), "no catalog unless a database is named");
        assert_eq!(
            c.processor.cache.max_bytes,
            640 << 20,
            "1,024 MB less the batch's 384"
        );
    }

    #[test]
    fn a_glue_database_turns_the_catalog_on() {
        let c = config(&[
            (LAKE_URL, "s3://b/l"),
            (GLUE_DATABASE, "eventlake"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ])
        .expect("valid");
        let glue = c.glue.expect("catalog");
        assert_eq!(glue.database, "eventlake");
        assert_eq!(glue.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        let bad = config(&[
            (LAKE_URL, "s3://b/l"),
            (GLUE_DATABASE, "d"),
            (GLUE_ENDPOINT_URL, "glue.local"),
        ]);
        assert!(matches!(
            bad,
            Err(IngestError::BadSetting {
                name: GLUE_ENDPOINT_URL,
                ..
            })
        ));
    }

    #[test]
    fn the_ledger_cache_follows_the_function_memory_unless_set() {
        let sized =
            config(&[(LAKE_URL, "s3://b/l"), ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")]).expect("valid");
        assert_eq!(sized.processor.cache.max_bytes, 256 << 20, "at least half");
        let large = config(&[
            (LAKE_URL, "s3://b/l"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "4096"),
        ])
        .expect("valid");
        assert_eq!(
            large.processor.cache.max_bytes,
            3712 << 20,
            "all but the batch's reserve"
        );
        let set = config(&[
            (LAKE_URL, "s3://b/l"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
            (LEDGER_CACHE_MIB, "100"),
        ])
        .expect("valid");
        assert_eq!(set.processor.cache.max_bytes, 100 << 20);
        let err = config(&[(LAKE_URL, "s3://b/l"), (LEDGER_CACHE_MIB, "0")]).expect_err("zero");
        assert!(err.to_string().contains(LEDGER_CACHE_MIB), "{err}");
    }

    #[test]
    fn settings_are_read_and_checked() {
        let c = config(&[
            (LAKE_URL, "s3://b/l"),
            (LEASE_SECONDS, "120"),
            (LEDGER_BUCKETS, "8"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_LAMBDA_FUNCTION_NAME", "ingest-prod"),
        ])
        .expect("valid");
        assert_eq!(c.processor.lease.lease_millis, 120_000);
        assert_eq!(c.processor.buckets, 8);
        assert_eq!(c.store.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(c.function_name, "ingest-prod");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let missing = config(&[]).expect_err("no lake");
        assert!(missing.to_string().contains(LAKE_URL), "{missing}");
        for (name, value) in [
            (LEASE_SECONDS, "10"),
            (LEASE_SECONDS, "ten"),
            (LEDGER_BUCKETS, "0"),
            (ZSTD_LEVEL, "30"),
            (S3_ENDPOINT_URL, "localhost:5000"),
            (LAKE_URL, "ftp://host/lake"),
        ] {
            let err = config(&[(LAKE_URL, "s3://b/l"), (name, value)]).expect_err(value);
            assert!(err.to_string().contains(name), "{err}");
            assert!(!err.is_retryable() && err.is_usage(), "{err}");
        }
    }
}
