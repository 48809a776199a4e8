//! A Kinesis client built once from the usual AWS environment (credentials chain, region,
//! `AWS_ENDPOINT_URL`), with optional endpoint and region overrides for S3/Kinesis-compatible
//! servers such as moto. TLS goes through rustls with ring, like object_store's.

use crate::error::IngestError;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

/// Overrides for the Kinesis client; everything else comes from the AWS environment.
#[derive(Debug, Clone, Default)]
pub struct KinesisOptions {
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
}

/// Builds the client. Fails when no region is configured anywhere.
pub async fn kinesis_client(options: &KinesisOptions) -> Result<Client, IngestError> {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = &options.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    let config = loader.load().await;
    if config.region().is_none_or(|r| r.as_ref().trim().is_empty()) {
        return Err(IngestError::Config(
            "no AWS region for Kinesis: set AWS_REGION or pass --region".into(),
        ));
    }
    Ok(Client::new(&config))
}

/// The region a client was built for (the Lambda event carries it).
pub fn client_region(client: &Client) -> String {
    client
        .config()
        .region()
        .map_or_else(|| "us-east-1".to_owned(), |r| r.to_string())
}

/// An SDK error as ours: the error code and message, and whether trying again may help
/// (throttling, timeouts, service-side failures) or not (no such stream, bad argument,
/// access denied).
pub fn kinesis_error<E>(operation: &'static str, stream: &str, err: &SdkError<E>) -> IngestError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = err.code().unwrap_or_default();
    let retryable = match err {
        SdkError::ServiceError(_) => matches!(
            code,
            "ProvisionedThroughputExceededException"
                | "LimitExceededException"
                | "KMSThrottlingException"
                | "InternalFailure"
                | "InternalFailureException"
                | "ServiceUnavailable"
                | "ServiceUnavailableException"
        ),
        // The request could not even be built (bad region, bad endpoint): trying again won't help.
        SdkError::ConstructionFailure(_) => false,
        _ => true,
    };
    let message = match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => aws_sdk_kinesis::error::DisplayErrorContext(err).to_string(),
    };
    IngestError::Kinesis {
        operation,
        stream: stream.to_owned(),
        message,
        retryable,
    }
}

/// The error code of an SDK error, when the service sent one.
pub fn error_code<E: ProvideErrorMetadata>(err: &SdkError<E>) -> Option<&str> {
    err.code()
}

/// The stream's ARN (the Lambda event names its source by ARN).
pub async fn stream_arn(client: &Client, stream: &str) -> Result<String, IngestError> {
    let out = client
        .describe_stream_summary()
        .stream_name(stream)
        .send()
        .await
        .map_err(|e| kinesis_error("DescribeStreamSummary", stream, &e))?;
    Ok(out
        .stream_description_summary()
        .map(|s| s.stream_arn().to_owned())
        .unwrap_or_default())
}
