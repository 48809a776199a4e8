//! One invocation: a Kinesis event through the batch processor. Records that could not be
//! processed are answered in `batchItemFailures` (the lowest failed sequence number: the
//! event source mapping retries the shard from there); a retryable failure of the whole
//! batch is answered the same way from its first record. Only a malformed event or a
//! non-retryable error fails the invocation itself.

use super::metrics::InvocationMetrics;
use crate::batch::{BatchProcessor, BatchReport};
use crate::error::IngestError;
use crate::kinesis::event::failure_response;
use crate::kinesis::lambda_event::KinesisBatch;
use aws_lambda_events::event::streams::KinesisEventResponse;
use std::time::Instant;

/// The answer to one invocation and what it did.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub response: KinesisEventResponse,
    pub metrics: InvocationMetrics,
}

pub async fn handle_kinesis_event(
    processor: &mut BatchProcessor,
    event: &KinesisBatch,
    now_millis: i64,
) -> Result<Invocation, IngestError> {
    let started = Instant::now();
    let records = event.records()?;
    if records.is_empty() {
        return Ok(Invocation {
            response: failure_response(None),
            metrics: InvocationMetrics::default(),
        });
    }
    let report = match processor.process(records, now_millis).await {
        Ok(report) => report,
        Err(e) if e.is_retryable() => {
            tracing::warn!(error = %e, records = records.len(), "batch failed; asking for a retry");
            BatchReport::all_failed(records.len(), true, &e.to_string())
        }
        Err(e) => return Err(e),
    };
    let lowest = report.lowest_failure(records).map(|source| &source.sequence);
    let metrics = InvocationMetrics::from_report(&report, started.elapsed().as_millis() as u64);
    tracing::info!(
        records = metrics.records_in,
        written = metrics.written,
        duplicates = metrics.duplicates,
        quarantined = metrics.quarantined,
        failed = metrics.failed,
        files = metrics.files,
        retry_from = lowest.map(|s| s.as_str()),
        "batch done"
    );
    Ok(Invocation {
        response: failure_response(lowest),
        metrics,
    })
}
