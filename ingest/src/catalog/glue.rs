//! The Glue Data Catalog as the lake's [`PartitionCatalog`]: Athena plans from the partitions
//! Glue lists (the Terraform tables have no partition projection, which would hide event
//! types and dates it does not enumerate). Two operations of Glue's JSON API: `GetTable`,
//! once per table and process, for the storage descriptor partitions copy (columns, formats,
//! serde, the table's location), and `BatchCreatePartition`, where `AlreadyExistsException`
//! per partition is success. Requests are signed with SigV4 (aws-sigv4) and sent with
//! reqwest: the generated SDK crate for Glue alone takes 202 s of a cold release build on
//! this project's 2-core machine (aws-sdk-kinesis: 47 s), for two calls.

use super::{Partition, PartitionCatalog};
use crate::error::IngestError;
use crate::kinesis::client::aws_loader;
use crate::ledger::policy::CommitRetryPolicy;
use crate::storage::TableKind;
use async_trait::async_trait;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::time::{Duration, SystemTime};
use tokio::sync::Mutex;

/// Glue accepts at most this many partitions per `BatchCreatePartition`.
const PARTITIONS_PER_CALL: usize = 100;

/// Where the catalog is; credentials and region come from the AWS environment.
#[derive(Debug, Clone, Default)]
pub struct GlueOptions {
    /// The Glue database holding the `events`, `duplicates` and `quarantine` tables.
    pub database: String,
    /// A Glue-compatible endpoint (moto in tests); by default Glue's in the region.
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
}

/// The lake's three tables in one Glue database.
#[derive(Debug)]
pub struct GlueCatalog {
    http: reqwest::Client,
    endpoint: String,
    region: String,
    credentials: SharedCredentialsProvider,
    /// The last credentials, reused until shortly before they expire.
    cached: Mutex<Option<Credentials>>,
    database: String,
    /// The lake's URL: each table's location must be `<lake>/<table>/`.
    lake_url: String,
    descriptors: Mutex<HashMap<TableKind, Value>>,
    retry: CommitRetryPolicy,
}

/// Limits of one request; a slow catalog must not hold a batch until the function's timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Credentials this close to their expiry are fetched again.
const CREDENTIALS_MARGIN: Duration = Duration::from_secs(300);

impl GlueCatalog {
    /// Resolves region, credentials and endpoint for the tables of the lake at `lake_url`;
    /// makes no request.
    pub async fn new(options: &GlueOptions, lake_url: &str) -> Result<Self, IngestError> {
        let config = aws_loader(options.region.as_ref()).load().await;
        let setup = |message: &str| IngestError::CatalogSetup {
            operation: "setup",
            database: options.database.clone(),
            message: message.to_owned(),
        };
        let region = config
            .region()
            .map(|r| r.to_string())
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| setup("no AWS region: set AWS_REGION"))?;
        let credentials = config
            .credentials_provider()
            .ok_or_else(|| setup("no AWS credentials provider: set AWS credentials"))?;
        let endpoint = options.endpoint_url.clone().unwrap_or_else(|| {
            let domain = if region.starts_with("cn-") {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            };
            format!("https://glue.{region}.{domain}")
        });
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(setup(&format!(
                "endpoint {endpoint:?} must be an http:// or https:// URL"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| setup(&format!("cannot build the HTTP client: {e}")))?;
        Ok(GlueCatalog {
            http,
            endpoint,
            region,
            credentials,
            cached: Mutex::new(None),
            database: options.database.clone(),
            lake_url: lake_url.trim_end_matches('/').to_owned(),
            descriptors: Mutex::new(HashMap::new()),
            retry: CommitRetryPolicy {
                max_attempts: 4,
                base_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
            },
        })
    }

    /// One call of Glue's JSON API, retried with backoff while the failure is transient
    /// (throttling, 5xx, no response).
    async fn call(&self, operation: &'static str, body: &Value) -> Result<Value, IngestError> {
        let body = serde_json::to_vec(body).map_err(IngestError::encode("a Glue request"))?;
        let jitter = foldhash::fast::RandomState::default();
        let mut attempt = 1;
        loop {
            match self.call_once(operation, &body).await {
                Err(e) if e.is_retryable() && self.retry.should_retry(attempt + 1) => {
                    tokio::time::sleep(self.retry.backoff(attempt, jitter.hash_one(attempt))).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// Credentials from the environment's chain, reused until shortly before they expire.
    async fn credentials(&self, operation: &'static str) -> Result<Credentials, IngestError> {
        let mut cached = self.cached.lock().await;
        let fresh = |c: &Credentials| {
            c.expiry()
                .is_none_or(|at| at > SystemTime::now() + CREDENTIALS_MARGIN)
        };
        if let Some(credentials) = cached.as_ref().filter(|c| fresh(c)) {
            return Ok(credentials.clone());
        }
        let credentials = self.credentials.provide_credentials().await.map_err(|e| {
            self.setup(
                operation,
                format!("no usable AWS credentials ({e}); set AWS credentials or the function's role"),
            )
        })?;
        *cached = Some(credentials.clone());
        Ok(credentials)
    }

    async fn call_once(&self, operation: &'static str, body: &[u8]) -> Result<Value, IngestError> {
        let identity = self.credentials(operation).await?.into();
        let target = format!("AWSGlue.{operation}");
        let headers = [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target.as_str()),
        ];
        let signed = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("glue")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| self.setup(operation, format!("cannot sign the request: {e}")))
            .and_then(|params| {
                let request = SignableRequest::new(
                    "POST",
                    &self.endpoint,
                    headers.iter().copied(),
                    SignableBody::Bytes(body),
                )
                .map_err(|e| self.setup(operation, format!("cannot sign the request: {e}")))?;
                sign(request, &params.into())
                    .map_err(|e| self.setup(operation, format!("cannot sign the request: {e}")))
            })?;
        let (instructions, _) = signed.into_parts();
        let mut request = self.http.post(&self.endpoint);
        for (name, value) in headers.iter().copied().chain(instructions.headers()) {
            request = request.header(name, value);
        }
        let response = request
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| IngestError::Catalog {
                operation,
                database: self.database.clone(),
                message: format!("no response from {} ({e})", self.endpoint),
                retryable: true,
            })?;
        let status = response.status();
        let text = response.bytes().await.unwrap_or_default();
        let value: Value = serde_json::from_slice(&text).unwrap_or(Value::Null);
        if status.is_success() {
            // An answer that is not a JSON object cannot say which partitions failed.
            return match value {
                Value::Object(_) => Ok(value),
                _ => Err(IngestError::Catalog {
                    operation,
                    database: self.database.clone(),
                    message: format!("HTTP {status} with an unreadable body from {}", self.endpoint),
                    retryable: true,
                }),
            };
        }
        let code = error_code(&value);
        let message = value
            .get("message")
            .or_else(|| value.get("Message"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        Err(self.classify(operation, Some(status.as_u16()), code, &message))
    }

    fn setup(&self, operation: &'static str, message: String) -> IngestError {
        IngestError::CatalogSetup {
            operation,
            database: self.database.clone(),
            message,
        }
    }

    /// A failed call as ours: a fix for what a person must change, retryable or not otherwise.
    fn classify(
        &self,
        operation: &'static str,
        status: Option<u16>,
        code: &str,
        message: &str,
    ) -> IngestError {
        let fix = match code {
            "EntityNotFoundException" => Some(
                "the Glue database or table does not exist: apply the Terraform (terraform/glue.tf) \
                 or pass the database that holds the lake's tables",
            ),
            "AccessDeniedException" => Some(
                "access denied: allow glue:GetTable and glue:BatchCreatePartition on the catalog, \
                 the database and its tables (terraform/iam.tf)",
            ),
            "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "ExpiredTokenException"
            | "IncompleteSignature"
            | "IncompleteSignatureException"
            | "MissingAuthenticationToken"
            | "MissingAuthenticationTokenException" => {
                Some("the AWS credentials were refused: check them, or the function's role")
            }
            "ResourceNumberLimitExceededException" => Some(
                "a Glue quota is reached (partitions per table or account): raise it in Service \
                 Quotas, or compact old partitions away",
            ),
            _ => None,
        };
        if let Some(fix) = fix {
            return self.setup(operation, format!("{fix} ({code}: {message})"));
        }
        let (message, retryable) = match status {
            Some(status) => (
                format!("HTTP {status} {code}: {message}"),
                status >= 500 || status == 429 || is_transient_code(code),
            ),
            None => (format!("{code}: {message}"), is_transient_code(code)),
        };
        IngestError::Catalog {
            operation,
            database: self.database.clone(),
            message,
            retryable,
        }
    }

    /// The table's storage descriptor, read once.
    async fn descriptor(&self, table: TableKind) -> Result<Value, IngestError> {
        let mut cache = self.descriptors.lock().await;
        if let Some(descriptor) = cache.get(&table) {
            return Ok(descriptor.clone());
        }
        let got = self
            .call(
                "GetTable",
                &json!({"DatabaseName": self.database, "Name": table.dir()}),
            )
            .await?;
        let descriptor = got
            .pointer("/Table/StorageDescriptor")
            .cloned()
            .unwrap_or(Value::Null);
        let location = descriptor.get("Location").and_then(Value::as_str).unwrap_or("");
        let expected = format!("{}/{}", self.lake_url, table.dir());
        if location.trim_end_matches('/') != expected {
            return Err(self.setup(
                "GetTable",
                format!(
                    "table {} is at {location:?}, not at {expected}/: pass the database whose tables \
                     cover this lake (or apply the Terraform for this lake)",
                    table.dir()
                ),
            ));
        }
        cache.insert(table, descriptor.clone());
        Ok(descriptor)
    }

    /// A partition's input: the table's descriptor with the partition's location.
    fn partition_input(descriptor: &Value, partition: &Partition) -> Value {
        let mut descriptor = descriptor.clone();
        let base = descriptor
            .get("Location")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_owned();
        descriptor["Location"] = Value::from(format!("{base}/{}", partition.sub_path()));
        json!({"Values": partition.values(), "StorageDescriptor": descriptor})
    }
}

#[async_trait]
impl PartitionCatalog for GlueCatalog {
    async fn register(&self, partitions: &[Partition]) -> Result<(), IngestError> {
        for table in [TableKind::Events, TableKind::Duplicates, TableKind::Quarantine] {
            let of_table: Vec<&Partition> = partitions.iter().filter(|p| p.table == table).collect();
            if of_table.is_empty() {
                continue;
            }
            let descriptor = self.descriptor(table).await?;
            for chunk in of_table.chunks(PARTITIONS_PER_CALL) {
                let inputs: Vec<Value> = chunk
                    .iter()
                    .map(|p| Self::partition_input(&descriptor, p))
                    .collect();
                let body = json!({
                    "DatabaseName": self.database,
                    "TableName": table.dir(),
                    "PartitionInputList": inputs,
                });
                let answer = self.call("BatchCreatePartition", &body).await?;
                let failed = answer
                    .get("Errors")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .find(|e| {
                        e.pointer("/ErrorDetail/ErrorCode").and_then(Value::as_str)
                            != Some("AlreadyExistsException")
                    });
                if let Some(failed) = failed {
                    let code = failed
                        .pointer("/ErrorDetail/ErrorCode")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown error");
                    let message = failed
                        .pointer("/ErrorDetail/ErrorMessage")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    let values = failed.get("PartitionValues").cloned().unwrap_or(Value::Null);
                    return Err(self.classify(
                        "BatchCreatePartition",
                        None,
                        code,
                        &format!("partition {} {values}: {message}", table.dir()),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The error code of a JSON error body: `__type` without its namespace.
fn error_code(body: &Value) -> &str {
    let raw = body
        .get("__type")
        .or_else(|| body.get("code"))
        .and_then(Value::as_str)
        .unwrap_or("");
    raw.rsplit('#').next().unwrap_or(raw)
}

fn is_transient_code(code: &str) -> bool {
    matches!(
        code,
        "ThrottlingException"
            | "InternalServiceException"
            | "OperationTimeoutException"
            | "ConcurrentModificationException"
            | "ServiceUnavailableException"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_lose_their_namespace() {
        assert_eq!(
            error_code(&json!({"__type": "com.amazonaws.glue#EntityNotFoundException"})),
            "EntityNotFoundException"
        );
        assert_eq!(
            error_code(&json!({"__type": "ThrottlingException"})),
            "ThrottlingException"
        );
        assert_eq!(error_code(&Value::Null), "");
    }

    #[test]
    fn a_partition_copies_the_table_descriptor_under_its_own_location() {
        let descriptor =
            json!({"Location": "s3://b/lake/events/", "Columns": [{"Name": "x", "Type": "int"}]});
        let p = Partition::of_file("events/event_type=pay/date=2026-11-30/b.parquet").expect("partition");
        let input = GlueCatalog::partition_input(&descriptor, &p);
        assert_eq!(input["Values"], json!(["pay", "2026-11-30"]));
        assert_eq!(
            input["StorageDescriptor"]["Location"],
            "s3://b/lake/events/event_type=pay/date=2026-11-30/"
        );
        assert_eq!(input["StorageDescriptor"]["Columns"], descriptor["Columns"]);
    }
}
