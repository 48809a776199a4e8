//! `ingest`'s commands that talk to AWS: Kinesis (`produce`, `consume`, `invoke`) and Glue
//! (`register-partitions`, `run --glue-database`). Built with the `aws` feature only.

use crate::aws_args::{
    ConsumeArgs, From, GlueArgs, InvokeArgs, KinesisArgs, ProduceArgs, RegisterArgs, WalkArgs,
};
use crate::{
    SummaryFormat, cache_policy, input_of, open_lake, open_store, print_summary, progress_bar, usage,
    with_hint,
};
use anyhow::{Context, bail};
use ingest::batch::{BatchProcessor, ProcessorConfig};
use ingest::catalog::glue::{GlueCatalog, GlueOptions};
use ingest::catalog::{PartitionCatalog, lake_partitions};
use ingest::display;
use ingest::kinesis::checkpoint::CheckpointStore;
use ingest::kinesis::client::{KinesisOptions, client_region, kinesis_client, stream_arn};
use ingest::kinesis::consumer::{
    BatchSink, ConsumeOptions, ConsumeSummary, Positions, ProcessorSink, StartPosition, consume,
};
use ingest::kinesis::invoker::LambdaInvoker;
use ingest::kinesis::producer::{ProducePolicy, produce};
use ingest::kinesis::replay::{ReplayPlan, parse_failure_records, ranges_for_stream};
use ingest::ledger::policy::LeasePolicy;
use ingest::run::input_len;
use ingest::storage::StoreOptions;
use schemas::Registry;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The Glue catalog `run --glue-database` registers new partitions in, if it names one.
pub(crate) async fn glue_catalog(
    glue: &GlueArgs,
    region: Option<&String>,
    lake: &str,
) -> anyhow::Result<Option<Arc<dyn PartitionCatalog>>> {
    let Some(database) = &glue.glue_database else {
        return Ok(None);
    };
    let options = glue_options(database, glue.glue_endpoint_url.as_ref(), region);
    Ok(Some(Arc::new(GlueCatalog::new(&options, lake).await?)))
}

fn glue_options(database: &str, endpoint_url: Option<&String>, region: Option<&String>) -> GlueOptions {
    GlueOptions {
        database: database.to_owned(),
        endpoint_url: endpoint_url
            .cloned()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL_GLUE").ok())
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            .filter(|v| !v.is_empty()),
        region: region.cloned(),
    }
}

pub(crate) fn register_command(args: &RegisterArgs) -> anyhow::Result<()> {
    let glue = glue_options(
        &args.glue_database,
        args.glue_endpoint_url.as_ref(),
        args.region.as_ref(),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let registered = runtime.block_on(async {
        let options = StoreOptions {
            endpoint_url: args.endpoint_url.clone(),
            region: args.region.clone(),
            ..StoreOptions::default()
        };
        let lake = open_lake(&args.lake, &options).await?;
        let partitions = lake_partitions(&lake).await?;
        GlueCatalog::new(&glue, &args.lake)
            .await?
            .register(&partitions)
            .await?;
        anyhow::Ok(partitions.len())
    })?;
    display::print_result(&format!(
        "{registered} partitions of {} are registered in Glue database {}\n",
        args.lake, glue.database
    ))?;
    Ok(())
}

fn kinesis_options(args: &KinesisArgs) -> KinesisOptions {
    KinesisOptions {
        endpoint_url: args.endpoint_url.clone(),
        region: args.region.clone(),
    }
}

pub(crate) fn produce_command(args: &ProduceArgs) -> anyhow::Result<()> {
    let input = input_of(&args.input)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let summary = runtime.block_on(async {
        let client = kinesis_client(&kinesis_options(&args.kinesis)).await?;
        let bar = progress_bar(input_len(&input));
        let mut on_progress = |records: u64, bytes: u64| {
            if let Some(bar) = &bar {
                bar.set_position(if bar.length().is_some() { bytes } else { records });
            }
        };
        let summary = produce(
            &client,
            &args.kinesis.stream,
            &input,
            ProducePolicy::default(),
            &mut on_progress,
        )
        .await;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        anyhow::Ok(
            summary.with_context(|| format!("producing {} to stream {}", args.input, args.kinesis.stream))?,
        )
    })?;
    print_summary(args.summary, &summary, || summary.to_table())?;
    if summary.rejected_too_large > 0 {
        bail!(
            "{} records are over Kinesis' 1 MiB record limit and were not sent (see the log for their line numbers)",
            summary.rejected_too_large
        );
    }
    Ok(())
}

fn walk_options(args: &WalkArgs) -> ConsumeOptions {
    let until_idle = args.until_idle.map(std::time::Duration::from_secs_f64);
    ConsumeOptions {
        start: match args.from {
            From::TrimHorizon => StartPosition::TrimHorizon,
            From::Latest => StartPosition::Latest,
        },
        until_idle,
        batch_size: args.batch_size,
        ..ConsumeOptions::default()
    }
}

/// The replay `--at`, `--until` and `--failure-record` ask for; `None` for a normal walk.
fn replay_plan(args: &WalkArgs) -> anyhow::Result<Option<ReplayPlan>> {
    let mut failed = Vec::new();
    for path in &args.failure_record {
        let what = path.display().to_string();
        let bytes =
            std::fs::read(path).map_err(|e| usage(&format!("cannot read --failure-record {what}: {e}")))?;
        let batches = parse_failure_records(&what, &bytes)?;
        failed.extend(ranges_for_stream(&what, batches, &args.kinesis.stream)?);
    }
    let plan = ReplayPlan::new(&args.at, &args.until, failed)?;
    Ok((!plan.is_empty()).then_some(plan))
}

/// Runs the shard walker with a progress spinner and Ctrl-C handling, then prints. With a
/// replay plan, reads only its ranges and leaves `checkpoints` alone.
async fn walk(
    args: &WalkArgs,
    client: &aws_sdk_kinesis::Client,
    checkpoints: &CheckpointStore,
    sink: &mut dyn BatchSink,
) -> anyhow::Result<ConsumeSummary> {
    let plan = replay_plan(args)?;
    let positions = match &plan {
        Some(plan) => Positions::Replay(plan),
        None => Positions::Checkpoints(checkpoints),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = Arc::clone(&stop);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.store(true, Ordering::Relaxed);
        }
    });
    let bar = progress_bar(None);
    let mut on_progress = |summary: &ConsumeSummary| {
        if let Some(bar) = &bar {
            bar.set_position(summary.records_done);
        }
    };
    let summary = consume(
        client,
        &args.kinesis.stream,
        positions,
        sink,
        walk_options(args),
        stop,
        &mut on_progress,
    )
    .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    summary.with_context(|| format!("reading stream {}", args.kinesis.stream))
}

fn print_walk_summary(summary: &ConsumeSummary, format: SummaryFormat) -> anyhow::Result<()> {
    print_summary(format, summary, || summary.to_table())
}

pub(crate) fn consume_command(args: &ConsumeArgs) -> anyhow::Result<()> {
    replay_plan(&args.walk)?;
    let registry = Registry::embedded().context("the embedded schema registry is invalid")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let summary = runtime.block_on(async {
        let kinesis = kinesis_options(&args.walk.kinesis);
        let client = kinesis_client(&kinesis).await?;
        let options = StoreOptions {
            endpoint_url: kinesis.endpoint_url.clone(),
            region: kinesis.region.clone(),
            ..StoreOptions::default()
        };
        let lake = open_lake(&args.lake, &options).await?;
        let consumer = args.consumer.as_deref().unwrap_or(&args.walk.kinesis.stream);
        let checkpoints = CheckpointStore::new(lake.clone(), consumer)?;
        let config = ProcessorConfig {
            lease: LeasePolicy {
                lease_millis: i64::from(args.lease_seconds) * 1000,
            },
            cache: cache_policy(args.ledger_cache_mib),
            ..ProcessorConfig::default()
        };
        let writer = format!("ingest-consume-{}", std::process::id());
        let mut processor = BatchProcessor::open(lake, &registry, &writer, config)
            .await
            .map_err(|e| with_hint(e, &format!("cannot open lake {}", args.lake)))?;
        let mut sink = ProcessorSink {
            processor: &mut processor,
        };
        walk(&args.walk, &client, &checkpoints, &mut sink).await
    })?;
    print_walk_summary(&summary, args.walk.summary)
}

pub(crate) fn invoke_command(args: &InvokeArgs) -> anyhow::Result<()> {
    replay_plan(&args.walk)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let summary = runtime.block_on(async {
        let kinesis = kinesis_options(&args.walk.kinesis);
        let client = kinesis_client(&kinesis).await?;
        let stream_arn = stream_arn(&client, &args.walk.kinesis.stream).await?;
        let options = StoreOptions {
            endpoint_url: kinesis.endpoint_url.clone(),
            region: kinesis.region.clone(),
            ..StoreOptions::default()
        };
        let lake = open_store(&args.checkpoints, &options, "cannot open the checkpoint store").await?;
        let checkpoints = CheckpointStore::new(lake, &format!("invoke-{}", args.walk.kinesis.stream))?;
        let mut invoker = LambdaInvoker::new(
            &args.lambda_endpoint,
            &args.function,
            &stream_arn,
            &client_region(&client),
        );
        walk(&args.walk, &client, &checkpoints, &mut invoker).await
    })?;
    print_walk_summary(&summary, args.walk.summary)
}
