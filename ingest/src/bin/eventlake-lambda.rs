//! The AWS Lambda entry point: a Kinesis event source mapping invokes it with batches of
//! records. Builds the configuration, the lake's store and the batch processor once per
//! container (the ledger's cache stays warm between invocations), then serves invocations
//! with `ingest::lambda::handle_kinesis_event`, printing one EMF metrics line each.

use aws_lambda_events::event::streams::KinesisEventResponse;
use ingest::IngestError;
use ingest::batch::BatchProcessor;
use ingest::catalog::glue::GlueCatalog;
use ingest::display;
use ingest::kinesis::lambda_event::KinesisBatch;
use ingest::lambda::{LambdaConfig, handle_kinesis_event};
use ingest::storage::Lake;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use schemas::Registry;
use std::sync::Arc;
use tokio::sync::Mutex;

#[tokio::main]
async fn main() {
    if let Err(e) = start().await {
        // An init error: Lambda reports the container as failed and shows this line. The
        // settings are checked first, before the runtime API is contacted.
        eprintln!("error: {}", display::one_line(e.as_ref()));
        std::process::exit(display::exit_code(e.as_ref(), display::is_ingest_usage));
    }
}

async fn start() -> anyhow::Result<()> {
    let config = LambdaConfig::from_env()?;
    let filter =
        tracing_subscriber::EnvFilter::try_new(&config.log_filter).map_err(|e| IngestError::BadSetting {
            name: "RUST_LOG",
            value: config.log_filter.clone(),
            problem: format!("not a tracing filter ({e}); e.g. info or ingest=debug"),
        })?;
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .init();
    let registry = Registry::embedded()?;
    let lake = Lake::open(&config.lake_url, &config.store)?;
    let writer = format!(
        "{}/{}",
        config.function_name,
        std::env::var("AWS_LAMBDA_LOG_STREAM_NAME").unwrap_or_else(|_| std::process::id().to_string())
    );
    let mut processor = BatchProcessor::open(lake, &registry, &writer, config.processor).await?;
    if let Some(glue) = &config.glue {
        processor = processor.with_catalog(Arc::new(GlueCatalog::new(glue, &config.lake_url).await?));
    }
    tracing::info!(lake = %config.lake_url, buckets = processor.ledger().buckets(), "ready");
    let processor = Arc::new(Mutex::new(processor));
    let function_name = Arc::new(config.function_name.clone());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<KinesisBatch>| {
        let processor = Arc::clone(&processor);
        let function_name = Arc::clone(&function_name);
        async move { invoke(&processor, &function_name, &event.payload).await }
    }))
    .await
    .map_err(|e| anyhow::anyhow!("Lambda runtime: {e}"))
}

async fn invoke(
    processor: &Mutex<BatchProcessor>,
    function_name: &str,
    event: &KinesisBatch,
) -> Result<KinesisEventResponse, Diagnostic> {
    let mut processor = processor.lock().await;
    let now = display::now_millis();
    match handle_kinesis_event(&mut processor, event, now).await {
        Ok(invocation) => {
            println!("{}", invocation.metrics.emf_line(function_name, now));
            Ok(invocation.response)
        }
        Err(e) => {
            tracing::error!(error = %e, retryable = e.is_retryable(), "invocation failed");
            Err(Diagnostic {
                error_type: if e.is_retryable() { "Retryable" } else { "Fatal" }.into(),
                error_message: e.to_string(),
            })
        }
    }
}
