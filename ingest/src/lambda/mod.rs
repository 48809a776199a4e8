//! The Lambda function's logic as plain functions that the binary and the tests call:
//! settings from the environment, one Kinesis event through the batch processor, the
//! `batchItemFailures` answer, and the metrics line of each invocation.

pub mod config;
pub mod handler;
pub mod metrics;

pub use config::LambdaConfig;
pub use handler::{Invocation, handle_kinesis_event};
pub use metrics::InvocationMetrics;
