//! What went wrong with the object store, in the terms of what a person does about it: an
//! [`object_store::Error`] is classified by its variant, the S3 error code in its causes
//! (`NoSuchBucket`, `InvalidAccessKeyId`, ...), the status, and transport failures (connection
//! refused, DNS, timeouts). Only [`StoreProblem::Transient`] can pass by itself.

use object_store::client::{HttpError, HttpErrorKind};
use std::error::Error;

/// One class of object store failure, each with its own message and fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreProblem {
    /// No credentials in the environment, and the instance or container credential service
    /// gave none (169.254.169.254 refused, unreachable or disabled).
    NoCredentials,
    /// The server does not accept the credentials (unknown key, bad secret, expired token).
    InvalidCredentials,
    /// The credentials are valid but may not do this.
    AccessDenied,
    NoSuchBucket,
    /// The bucket is in another region than the one requests are signed for.
    WrongRegion,
    /// No answer from the endpoint: connection refused, unknown host.
    EndpointUnreachable,
    /// 5xx answers, SlowDown, throttling, timeouts, dropped connections.
    Transient,
    /// Anything else (its text is shown as it is).
    Other,
}

/// S3 error codes (the `<Code>` of an error answer) and what they mean here.
const CODES: &[(&str, StoreProblem)] = &[
    ("NoSuchBucket", StoreProblem::NoSuchBucket),
    ("InvalidAccessKeyId", StoreProblem::InvalidCredentials),
    ("SignatureDoesNotMatch", StoreProblem::InvalidCredentials),
    ("InvalidToken", StoreProblem::InvalidCredentials),
    ("ExpiredToken", StoreProblem::InvalidCredentials),
    ("TokenRefreshRequired", StoreProblem::InvalidCredentials),
    ("AuthorizationHeaderMalformed", StoreProblem::WrongRegion),
    ("PermanentRedirect", StoreProblem::WrongRegion),
    ("IllegalLocationConstraintException", StoreProblem::WrongRegion),
    ("AccessDenied", StoreProblem::AccessDenied),
    ("AllAccessDisabled", StoreProblem::AccessDenied),
    ("SlowDown", StoreProblem::Transient),
    ("InternalError", StoreProblem::Transient),
    ("ServiceUnavailable", StoreProblem::Transient),
    ("RequestTimeout", StoreProblem::Transient),
];

/// Where object_store asks for temporary credentials: EC2 instance metadata (IMDSv2 token
/// and role), the ECS/EKS container endpoint, STS for a web identity token.
const CREDENTIAL_SERVICES: &[&str] = &[
    "169.254.169.254",
    "/latest/api/token",
    "/latest/meta-data/iam/security-credentials",
    "169.254.170.2",
    "AssumeRoleWithWebIdentity",
    "Failed to read token file",
];

const UNREACHABLE: &[&str] = &[
    "Connection refused",
    "dns error",
    "failed to lookup address",
    "No route to host",
    "Network is unreachable",
];

const TRANSIENT: &[&str] = &[
    "timed out",
    "connection closed before message completed",
    "Connection reset by peer",
    "Broken pipe",
];

impl StoreProblem {
    /// Classifies an error from the object store.
    pub fn of(error: &object_store::Error) -> StoreProblem {
        let text = chain_text(error);
        if CREDENTIAL_SERVICES.iter().any(|s| text.contains(s)) {
            return StoreProblem::NoCredentials;
        }
        if let Some((_, problem)) = CODES.iter().find(|(code, _)| text.contains(code)) {
            return *problem;
        }
        match error {
            object_store::Error::PermissionDenied { .. } => return StoreProblem::AccessDenied,
            object_store::Error::Unauthenticated { .. } => return StoreProblem::InvalidCredentials,
            _ => {}
        }
        Self::by_status(&text)
            .or_else(|| Self::by_transport(error, &text))
            .unwrap_or(StoreProblem::Other)
    }

    /// From the HTTP status object_store quotes (`...status code: 503 Service Unavailable`).
    fn by_status(text: &str) -> Option<StoreProblem> {
        if text.contains("incorrectly configured region") {
            return Some(StoreProblem::WrongRegion);
        }
        let status = quoted_status(text)?;
        match status {
            301 | 307 => Some(StoreProblem::WrongRegion),
            408 | 429 | 500..=599 => Some(StoreProblem::Transient),
            _ => None,
        }
    }

    /// From the transport: a connection that never opened, or one that broke or timed out.
    fn by_transport(error: &object_store::Error, text: &str) -> Option<StoreProblem> {
        let kind = http_error_kind(error);
        let refused = io_kinds(error).any(|k| k == std::io::ErrorKind::ConnectionRefused);
        if refused || UNREACHABLE.iter().any(|s| text.contains(s)) {
            return Some(StoreProblem::EndpointUnreachable);
        }
        match kind {
            Some(HttpErrorKind::Connect) => Some(StoreProblem::EndpointUnreachable),
            Some(HttpErrorKind::Timeout | HttpErrorKind::Interrupted | HttpErrorKind::Request) => {
                Some(StoreProblem::Transient)
            }
            _ => TRANSIENT
                .iter()
                .any(|s| text.contains(s))
                .then_some(StoreProblem::Transient),
        }
    }

    /// Whether the same request may succeed later without anyone changing anything.
    /// Unclassified errors count as retryable, as every store error did before: a batch is
    /// safe to run again, and a lost retry would lose records.
    pub fn is_retryable(self) -> bool {
        matches!(self, StoreProblem::Transient | StoreProblem::Other)
    }

    /// Whether a person must change the credentials, the lake URL, the endpoint, the region
    /// or a policy before anything can work.
    pub fn is_usage(self) -> bool {
        !self.is_retryable()
    }

    /// What went wrong, in a person's terms.
    pub fn cause(self) -> &'static str {
        match self {
            StoreProblem::NoCredentials => "no AWS credentials",
            StoreProblem::InvalidCredentials => {
                "the S3 endpoint refused the AWS credentials (unknown key, wrong secret or expired token)"
            }
            StoreProblem::AccessDenied => "access denied",
            StoreProblem::NoSuchBucket => "the bucket does not exist",
            StoreProblem::WrongRegion => "the bucket is in another region",
            StoreProblem::EndpointUnreachable => "no answer from the S3 endpoint",
            StoreProblem::Transient => "a transient object store failure",
            StoreProblem::Other => "an object store failure",
        }
    }

    /// What to do about it.
    pub fn fix(self) -> &'static str {
        match self {
            StoreProblem::NoCredentials => {
                "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (for a profile: eval \
                 \"$(aws configure export-credentials --format env)\") or run on AWS with an IAM role; \
                 a local server such as moto takes any key, with --endpoint-url \
                 (EVENTLAKE_S3_ENDPOINT_URL for the Lambda)"
            }
            StoreProblem::InvalidCredentials => {
                "check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN"
            }
            StoreProblem::AccessDenied => {
                "the credentials need s3:ListBucket on the bucket and s3:GetObject and s3:PutObject \
                 on the lake's prefix"
            }
            StoreProblem::NoSuchBucket => "check the bucket name in the lake URL, or create the bucket",
            StoreProblem::WrongRegion => "pass --region (or set AWS_REGION) to the bucket's region",
            StoreProblem::EndpointUnreachable => {
                "check --endpoint-url (or AWS_ENDPOINT_URL; EVENTLAKE_S3_ENDPOINT_URL for the Lambda), \
                 the network, and that the server is running"
            }
            StoreProblem::Transient => "run the same command again",
            StoreProblem::Other => "if it persists, check the lake URL, --endpoint-url and --region",
        }
    }
}

impl std::fmt::Display for StoreProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.cause(), self.fix())
    }
}

/// The error and its causes as one text, each layer once.
pub fn chain_text(error: &object_store::Error) -> String {
    crate::display::one_line(error)
}

/// The endpoint (`scheme://host:port`) of the request an error quotes, if any.
pub fn endpoint_of(error: &object_store::Error) -> Option<String> {
    let text = chain_text(error);
    let start = text.find("http://").or_else(|| text.find("https://"))?;
    let rest = &text[start..];
    let host = rest.find("://")? + "://".len();
    let end = rest[host..]
        .find(['/', ' ', '?'])
        .map_or(rest.len(), |i| host + i);
    Some(rest[..end].to_owned())
}

/// The status in `...status code: 503 Service Unavailable...`.
fn quoted_status(text: &str) -> Option<u16> {
    let marker = "status code: ";
    let at = text.find(marker)? + marker.len();
    text[at..].get(..3)?.parse().ok()
}

fn causes<'a>(error: &'a object_store::Error) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(Some(error as &(dyn Error + 'static)), |e| (*e).source())
}

fn http_error_kind(error: &object_store::Error) -> Option<HttpErrorKind> {
    causes(error).find_map(|e| e.downcast_ref::<HttpError>().map(HttpError::kind))
}

fn io_kinds(error: &object_store::Error) -> impl Iterator<Item = std::io::ErrorKind> + '_ {
    causes(error).filter_map(|e| e.downcast_ref::<std::io::Error>().map(std::io::Error::kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(text: &str) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source: text.into(),
        }
    }

    fn not_found(text: &str) -> object_store::Error {
        object_store::Error::NotFound {
            path: "x/_ledger/config.json".into(),
            source: text.into(),
        }
    }

    fn denied(text: &str) -> object_store::Error {
        object_store::Error::PermissionDenied {
            path: "x/_ledger/config.json".into(),
            source: text.into(),
        }
    }

    /// Texts as object_store 0.13 prints them (captured from moto, AWS and closed ports).
    #[test]
    fn real_error_texts_are_classified() {
        use StoreProblem::*;
        let cases = [
            (
                generic(
                    "Error performing PUT http://169.254.169.254/latest/api/token in 1.2ms - Server \
                     returned non-2xx status code: 403 Forbidden: ",
                ),
                NoCredentials,
            ),
            (
                generic(
                    "Error performing PUT http://127.0.0.1:9/latest/api/token in 104ms, after 1 retries, \
                     max_retries: 1, retry_timeout: 10s  - HTTP error: error sending request",
                ),
                NoCredentials,
            ),
            (
                not_found(
                    "Error performing GET http://127.0.0.1:5000/nobucket/x/_ledger/config.json in 3ms - \
                     Server returned non-2xx status code: 404 Not Found: <?xml version=\"1.0\" \
                     encoding=\"UTF-8\"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket \
                     does not exist</Message><BucketName>nobucket</BucketName></Error>",
                ),
                NoSuchBucket,
            ),
            (
                denied(
                    "Error performing GET http://127.0.0.1:5000/lake/x/_ledger/config.json in 2ms - \
                     Server returned non-2xx status code: 403 Forbidden: <?xml version=\"1.0\" \
                     encoding=\"UTF-8\"?><Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access \
                     Key Id you provided does not exist in our records.</Message></Error>",
                ),
                InvalidCredentials,
            ),
            (
                denied(
                    "Error performing GET https://b.s3.us-east-1.amazonaws.com/x in 40ms - Server \
                     returned non-2xx status code: 403 Forbidden: <Error><Code>SignatureDoesNotMatch\
                     </Code></Error>",
                ),
                InvalidCredentials,
            ),
            (
                denied(
                    "Error performing GET https://b.s3.us-east-1.amazonaws.com/x in 40ms - Server \
                     returned non-2xx status code: 403 Forbidden: <Error><Code>AccessDenied</Code>\
                     <Message>Access Denied</Message></Error>",
                ),
                AccessDenied,
            ),
            (
                denied("Server returned non-2xx status code: 403 Forbidden: "),
                AccessDenied,
            ),
            (
                generic(
                    "Error performing list request: Error performing GET \
                     https://s3.us-east-1.amazonaws.com/b?list-type=2 in 90ms - Server returned non-2xx \
                     status code: 400 Bad Request: <Error><Code>AuthorizationHeaderMalformed</Code>\
                     <Message>The authorization header is malformed; the region 'us-east-1' is wrong; \
                     expecting 'eu-west-1'</Message></Error>",
                ),
                WrongRegion,
            ),
            (
                generic(
                    "Error performing GET https://s3.amazonaws.com/b/x in 50ms - Received redirect \
                     without LOCATION, this normally indicates an incorrectly configured region",
                ),
                WrongRegion,
            ),
            (
                generic(
                    "Error performing GET https://s3.amazonaws.com/b/x in 50ms - Server returned non-2xx \
                     status code: 301 Moved Permanently: ",
                ),
                WrongRegion,
            ),
            (
                generic(
                    "Error performing GET http://127.0.0.1:9/lake/x/_ledger/config.json in 101ms, after \
                     1 retries, max_retries: 1, retry_timeout: 10s  - HTTP error: error sending request: \
                     client error (Connect): tcp connect error: Connection refused (os error 111)",
                ),
                EndpointUnreachable,
            ),
            (
                generic(
                    "Error performing GET http://no-such-host.invalid/b/x in 10ms - HTTP error: error \
                     sending request: client error (Connect): dns error: failed to lookup address \
                     information: Name or service not known",
                ),
                EndpointUnreachable,
            ),
            (
                generic(
                    "Error performing PUT http://127.0.0.1:5000/b/x in 3s, after 10 retries - Server \
                     returned non-2xx status code: 503 Service Unavailable: <Error><Code>SlowDown</Code>\
                     </Error>",
                ),
                Transient,
            ),
            (
                generic(
                    "Error performing GET http://h/b/x in 30s - Server returned non-2xx status code: 500 Internal Server Error: ",
                ),
                Transient,
            ),
            (
                generic("Error performing GET http://h/b/x in 30s - HTTP error: operation timed out"),
                Transient,
            ),
            (generic("injected fault on put x"), Other),
        ];
        for (error, expected) in cases {
            assert_eq!(StoreProblem::of(&error), expected, "{error}");
        }
    }

    #[test]
    fn only_transient_and_unknown_failures_are_retryable() {
        use StoreProblem::*;
        for problem in [
            NoCredentials,
            InvalidCredentials,
            AccessDenied,
            NoSuchBucket,
            WrongRegion,
            EndpointUnreachable,
        ] {
            assert!(!problem.is_retryable() && problem.is_usage(), "{problem:?}");
        }
        assert!(Transient.is_retryable() && Other.is_retryable());
    }

    #[test]
    fn the_endpoint_is_read_from_the_request() {
        let error = generic(
            "Error performing GET http://127.0.0.1:9/lake/x in 1ms - HTTP error: error sending request",
        );
        assert_eq!(endpoint_of(&error).as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(endpoint_of(&generic("no url here")), None);
    }
}
