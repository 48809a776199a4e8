//! A Kinesis client built once from the usual AWS environment (credentials chain, region,
//! `AWS_ENDPOINT_URL`), with optional endpoint and region overrides for S3/Kinesis-compatible
//! servers such as moto. TLS goes through rustls with ring, like object_store's.

use crate::error::IngestError;
use crate::storage::problem::StoreProblem;
use aws_config::{BehaviorVersion, ConfigLoader, Region};
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

/// Overrides for the Kinesis client; everything else comes from the AWS environment.
#[derive(Debug, Clone, Default)]
pub struct KinesisOptions {
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
}

/// The AWS environment's loader (credentials chain, region), over rustls with ring, with an
/// optional region override; the Kinesis client and the Glue catalog start from it.
pub fn aws_loader(region: Option<&String>) -> ConfigLoader {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
    match region {
        Some(region) => loader.region(Region::new(region.clone())),
        None => loader,
    }
}

/// Builds the client. Fails when no region is configured anywhere.
pub async fn kinesis_client(options: &KinesisOptions) -> Result<Client, IngestError> {
    let mut loader = aws_loader(options.region.as_ref());
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
/// (throttling, timeouts, service-side failures) or not (no such stream, bad argument).
/// Failures a person must fix (no or refused credentials, no such stream, access denied, an
/// endpoint that does not answer) say the cause and the fix, and are usage errors.
pub fn kinesis_error<E>(operation: &'static str, stream: &str, err: &SdkError<E>) -> IngestError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let context = aws_sdk_kinesis::error::DisplayErrorContext(err).to_string();
    // A server that answers in another protocol (moto's auth check answers a JSON API in
    // XML) leaves the code only in the raw answer.
    let code = err.code().unwrap_or_else(|| code_in_text(&context));
    if let Some(message) = setup_problem(err, code, &context) {
        return IngestError::KinesisSetup {
            operation,
            stream: stream.to_owned(),
            message,
        };
    }
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
        _ => context,
    };
    IngestError::Kinesis {
        operation,
        stream: stream.to_owned(),
        message,
        retryable,
    }
}

/// Error codes of credentials the service does not accept.
const REFUSED_CREDENTIALS: &[&str] = &[
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "InvalidClientTokenId",
    "ExpiredTokenException",
];

/// Codes recognised in an answer the SDK could not parse.
fn code_in_text(text: &str) -> &'static str {
    let known = ["ResourceNotFoundException", "AccessDeniedException"];
    known
        .into_iter()
        .chain(REFUSED_CREDENTIALS.iter().copied())
        .find(|code| text.contains(&format!("<Code>{code}</Code>")))
        .unwrap_or_default()
}

/// The cause and the fix of a failure no retry can pass, if it is one.
fn setup_problem<E>(err: &SdkError<E>, code: &str, context: &str) -> Option<String> {
    let problem = match code {
        "ResourceNotFoundException" => {
            return Some(
                "the stream does not exist: check --stream and --region (or AWS_REGION), or create the stream"
                    .into(),
            );
        }
        "AccessDeniedException" => {
            return Some(
                "access denied: the credentials need kinesis:ListShards, kinesis:GetShardIterator and \
                 kinesis:GetRecords on the stream (kinesis:PutRecords to produce)"
                    .into(),
            );
        }
        code if REFUSED_CREDENTIALS.contains(&code) => StoreProblem::InvalidCredentials,
        _ => match err {
            SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_)
                if context.contains("credential") || context.contains("169.254.169.254") =>
            {
                StoreProblem::NoCredentials
            }
            SdkError::DispatchFailure(failure)
                if failure.is_io()
                    && ["Connection refused", "dns error", "failed to lookup address"]
                        .iter()
                        .any(|s| context.contains(s)) =>
            {
                return Some(
                    "no answer from the Kinesis endpoint: check --endpoint-url (or AWS_ENDPOINT_URL), \
                     the network, and that the server is running"
                        .into(),
                );
            }
            _ => return None,
        },
    };
    let cause = match problem {
        StoreProblem::InvalidCredentials => {
            "the Kinesis endpoint refused the AWS credentials (unknown key, wrong secret or expired token)"
        }
        other => other.cause(),
    };
    Some(format!("{cause}: {}", problem.fix()))
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
