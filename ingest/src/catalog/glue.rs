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
use crate::storage::TableKind;
use async_trait::async_trait;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::SystemTime;
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
    database: String,
    descriptors: Mutex<HashMap<TableKind, Value>>,
}

impl GlueCatalog {
    /// Resolves region, credentials and endpoint; makes no request.
    pub async fn new(options: &GlueOptions) -> Result<Self, IngestError> {
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
        let endpoint = options
            .endpoint_url
            .clone()
            .unwrap_or_else(|| format!("https://glue.{region}.amazonaws.com"));
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(setup(&format!(
                "endpoint {endpoint:?} must be an http:// or https:// URL"
            )));
        }
        Ok(GlueCatalog {
            http: reqwest::Client::new(),
            endpoint,
            region,
            credentials,
            database: options.database.clone(),
            descriptors: Mutex::new(HashMap::new()),
        })
    }

    /// One call of Glue's JSON API.
    async fn call(&self, operation: &'static str, body: &Value) -> Result<Value, IngestError> {
        let body = serde_json::to_vec(body).map_err(IngestError::encode("a Glue request"))?;
        let credentials = self.credentials.provide_credentials().await.map_err(|e| {
            self.setup(
                operation,
                format!("no usable AWS credentials ({e}); set AWS credentials or the function's role"),
            )
        })?;
        let identity = credentials.into();
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
                    SignableBody::Bytes(&body),
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
            .body(body)
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
            return Ok(value);
        }
        let code = error_code(&value);
        let message = value
            .get("message")
            .or_else(|| value.get("Message"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        Err(self.classify(operation, status.as_u16(), code, &message))
    }

    fn setup(&self, operation: &'static str, message: String) -> IngestError {
        IngestError::CatalogSetup {
            operation,
            database: self.database.clone(),
            message,
        }
    }

    /// A failed call as ours: a fix for what a person must change, retryable or not otherwise.
    fn classify(&self, operation: &'static str, status: u16, code: &str, message: &str) -> IngestError {
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
            | "MissingAuthenticationToken" => {
                Some("the AWS credentials were refused: check them, or the function's role")
            }
            _ => None,
        };
        if let Some(fix) = fix {
            return self.setup(operation, format!("{fix} ({code}: {message})"));
        }
        IngestError::Catalog {
            operation,
            database: self.database.clone(),
            message: format!("HTTP {status} {code}: {message}"),
            retryable: status >= 500 || is_transient_code(code),
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
            .filter(|d| d.get("Location").and_then(Value::as_str).is_some())
            .cloned()
            .ok_or_else(|| {
                self.setup(
                    "GetTable",
                    format!("table {} has no storage location", table.dir()),
                )
            })?;
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
                        200,
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
            | "ResourceNumberLimitExceededException"
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
