//! The `ingest` command line: `run` puts JSON Lines through the pipeline into a lake,
//! `generate` writes synthetic events, `produce` puts them on Kinesis, `consume` reads
//! Kinesis into a lake (or replays shard ranges: `--at`, `--failure-record`) and `invoke`
//! feeds Kinesis batches to the Lambda function. Thin: parses arguments, builds clients
//! once, calls the library, prints.

use anyhow::{Context, bail};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use ingest::IngestError;
use ingest::batch::{BatchProcessor, ProcessorConfig};
use ingest::catalog::glue::{GlueCatalog, GlueOptions};
use ingest::catalog::{PartitionCatalog, lake_partitions};
use ingest::display;
use ingest::generate::{GenerateConfig, generate};
use ingest::kinesis::checkpoint::CheckpointStore;
use ingest::kinesis::client::{KinesisOptions, client_region, kinesis_client, stream_arn};
use ingest::kinesis::consumer::{
    BatchSink, ConsumeOptions, ConsumeSummary, Positions, ProcessorSink, StartPosition, consume,
};
use ingest::kinesis::invoker::LambdaInvoker;
use ingest::kinesis::producer::{ProducePolicy, produce};
use ingest::kinesis::replay::{ReplayPlan, parse_failure_records, ranges_for_stream};
use ingest::ledger::policy::{CachePolicy, LeasePolicy};
use ingest::registry_dir::load_or_embedded;
use ingest::run::{Input, RunOptions, input_len, run};
use ingest::storage::{Lake, StoreOptions, StoreRetry};
use schemas::Registry;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Parser)]
#[command(
    name = "ingest",
    version,
    about = "Stream-to-lake pipeline: JSON events in, deduplicated Hive-partitioned Parquet out"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Ingest JSON Lines (plain or .gz, or - for stdin) into a lake
    Run(RunArgs),
    /// Write synthetic events as JSON Lines
    Generate(GenerateArgs),
    /// Put JSON Lines onto a Kinesis stream (partition key: event_uuid)
    Produce(ProduceArgs),
    /// Read a Kinesis stream into a lake (every shard, checkpoints in the lake)
    Consume(ConsumeArgs),
    /// Read a Kinesis stream and invoke the Lambda function with each batch, as the event
    /// source mapping does (for the function under `cargo lambda watch`)
    Invoke(InvokeArgs),
    /// Register every partition the lake holds in a Glue database's tables (once, for a lake
    /// written before its writers registered partitions; idempotent)
    RegisterPartitions(RegisterArgs),
    /// Print the lake's table schemas (glue: Hive types for Terraform's Glue tables)
    Schema {
        #[arg(value_enum, default_value_t = SchemaFormat::Glue)]
        format: SchemaFormat,
        /// Registry directory of *.json documents (default: the registry built into the binary)
        #[arg(long)]
        registry: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SchemaFormat {
    /// Columns in Hive/Athena types, partition keys and event types, as JSON
    Glue,
}

/// Where new partitions are registered (Athena and Spark plan from the Glue catalog).
#[derive(Debug, Clone, clap::Args)]
struct GlueArgs {
    /// Glue database holding the events, duplicates and quarantine tables: every new
    /// partition is registered there before its batch commits
    #[arg(long)]
    glue_database: Option<String>,
    /// Glue-compatible endpoint (defaults to AWS_ENDPOINT_URL_GLUE, then AWS_ENDPOINT_URL,
    /// then Glue in the region)
    #[arg(long, requires = "glue_database")]
    glue_endpoint_url: Option<String>,
}

impl GlueArgs {
    fn options(&self, region: Option<&String>) -> Option<GlueOptions> {
        self.glue_database
            .as_ref()
            .map(|database| glue_options(database, self.glue_endpoint_url.as_ref(), region))
    }
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

#[derive(Debug, clap::Args)]
struct RegisterArgs {
    /// Lake location: s3://bucket/prefix (or a directory)
    #[arg(long)]
    lake: String,
    /// S3-compatible endpoint (defaults to AWS_ENDPOINT_URL)
    #[arg(long)]
    endpoint_url: Option<String>,
    /// AWS region
    #[arg(long)]
    region: Option<String>,
    /// Glue database holding the events, duplicates and quarantine tables
    #[arg(long)]
    glue_database: String,
    /// Glue-compatible endpoint (defaults to AWS_ENDPOINT_URL_GLUE, then AWS_ENDPOINT_URL,
    /// then Glue in the region)
    #[arg(long)]
    glue_endpoint_url: Option<String>,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// JSON Lines file (plain or gzip), or - for standard input
    #[arg(long)]
    input: String,
    /// Lake location: a directory, file:///dir, s3://bucket/prefix or memory://
    #[arg(long)]
    lake: String,
    /// Records per batch: more means fewer, larger files (Kinesis delivers up to 10,000)
    #[arg(long, default_value_t = ingest::run::DEFAULT_BATCH_RECORDS as u32, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch_size: u32,
    /// Input bytes per batch at most (bounds memory: two batches are in memory on two or
    /// more cores, one read ahead; a larger single record is a batch alone)
    #[arg(long, default_value_t = ingest::run::DEFAULT_BATCH_BYTES as u64, value_parser = clap::value_parser!(u64).range(1024..=4 << 30))]
    batch_bytes: u64,
    /// Decode one batch at a time: one batch in memory instead of two, for about 10% more
    /// time on two cores (by default the next batch is read and decoded while one commits,
    /// where the process may use more than one core)
    #[arg(long)]
    no_read_ahead: bool,
    /// Attempts per batch when it fails with a retryable error (store, contention)
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    attempts: u32,
    /// Retries of one S3 request (503 SlowDown, 5xx, connection errors) before the batch fails
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=100))]
    store_retries: u32,
    /// Seconds after a request's first attempt in which it may be retried
    #[arg(long, default_value_t = 180, value_parser = clap::value_parser!(u32).range(1..=3600))]
    store_retry_seconds: u32,
    /// How to print the summary
    #[arg(long, value_enum, default_value_t = SummaryFormat::Table)]
    summary: SummaryFormat,
    /// S3-compatible endpoint (defaults to AWS_ENDPOINT_URL)
    #[arg(long)]
    endpoint_url: Option<String>,
    /// AWS region for s3:// lakes
    #[arg(long)]
    region: Option<String>,
    /// Seconds after which another writer's unfinished claim may be taken over
    #[arg(long, default_value_t = 960)]
    lease_seconds: u32,
    /// Hash buckets per date for a new lake's dedup ledger
    #[arg(long, default_value_t = ingest::ledger::DEFAULT_BUCKETS, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    ledger_buckets: u32,
    /// Memory for cached dedup-ledger state, in MiB; beyond it the least recently used
    /// chains are dropped and read back from the lake when needed
    #[arg(long, default_value_t = ingest::ledger::policy::DEFAULT_CACHE_BYTES >> 20, value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    ledger_cache_mib: u64,
    /// Registry directory of *.json documents (default: the registry built into the binary)
    #[arg(long)]
    registry: Option<PathBuf>,
    #[command(flatten)]
    glue: GlueArgs,
}

#[derive(Debug, clap::Args)]
struct KinesisArgs {
    /// Kinesis stream name
    #[arg(long)]
    stream: String,
    /// Kinesis- and S3-compatible endpoint, e.g. moto (defaults to AWS_ENDPOINT_URL)
    #[arg(long)]
    endpoint_url: Option<String>,
    /// AWS region (defaults to AWS_REGION)
    #[arg(long)]
    region: Option<String>,
}

#[derive(Debug, clap::Args)]
struct ProduceArgs {
    #[command(flatten)]
    kinesis: KinesisArgs,
    /// JSON Lines file (plain or gzip), or - for standard input
    #[arg(long)]
    input: String,
    /// How to print the summary
    #[arg(long, value_enum, default_value_t = SummaryFormat::Table)]
    summary: SummaryFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum From {
    /// The oldest record still in the stream
    TrimHorizon,
    /// Only records put from now on
    Latest,
}

#[derive(Debug, clap::Args)]
struct WalkArgs {
    #[command(flatten)]
    kinesis: KinesisArgs,
    /// Where shards without a checkpoint start
    #[arg(long, value_enum, default_value_t = From::TrimHorizon)]
    from: From,
    /// Replay a shard from this sequence number on (AT_SEQUENCE_NUMBER); repeatable. A replay
    /// reads only the shards it names and neither reads nor writes checkpoints
    #[arg(long = "at", value_name = "SHARD_ID=SEQUENCE", conflicts_with = "from")]
    at: Vec<String>,
    /// Stop replaying a shard named by --at after this sequence number (inclusive)
    #[arg(long, value_name = "SHARD_ID=SEQUENCE", requires = "at")]
    until: Vec<String>,
    /// Replay the batch a Lambda on-failure record describes (the record from the failure
    /// queue, an SNS notification of it, or `aws sqs receive-message` output); repeatable
    #[arg(long, value_name = "FILE", conflicts_with = "from")]
    failure_record: Vec<PathBuf>,
    /// Stop after this many seconds without new records (default: run until Ctrl-C)
    #[arg(long, value_parser = seconds)]
    until_idle: Option<f64>,
    /// Records per GetRecords call (at most 10,000)
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(i32).range(1..=10_000))]
    batch_size: i32,
    /// How to print the summary
    #[arg(long, value_enum, default_value_t = SummaryFormat::Table)]
    summary: SummaryFormat,
}

#[derive(Debug, clap::Args)]
struct ConsumeArgs {
    #[command(flatten)]
    walk: WalkArgs,
    /// Lake location: a directory, file:///dir, s3://bucket/prefix or memory://
    #[arg(long)]
    lake: String,
    /// Name under which shard checkpoints are kept in the lake (default: the stream name)
    #[arg(long)]
    consumer: Option<String>,
    /// Seconds after which another writer's unfinished claim may be taken over
    #[arg(long, default_value_t = 960)]
    lease_seconds: u32,
    /// Memory for cached dedup-ledger state, in MiB; beyond it the least recently used
    /// chains are dropped and read back from the lake when needed
    #[arg(long, default_value_t = ingest::ledger::policy::DEFAULT_CACHE_BYTES >> 20, value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    ledger_cache_mib: u64,
}

#[derive(Debug, clap::Args)]
struct InvokeArgs {
    #[command(flatten)]
    walk: WalkArgs,
    /// The Lambda Invoke API endpoint (cargo lambda watch listens on http://127.0.0.1:9000)
    #[arg(long, default_value = "http://127.0.0.1:9000")]
    lambda_endpoint: String,
    /// Function name in the invoke URL (`_` is cargo lambda watch's default function)
    #[arg(long, default_value = "_")]
    function: String,
    /// Where to keep shard checkpoints: a lake URL (default: memory://, start over each run)
    #[arg(long, default_value = "memory://")]
    checkpoints: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SummaryFormat {
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
struct GenerateArgs {
    /// Records to write, duplicates and invalid ones included
    #[arg(long)]
    events: u64,
    /// Share of records that are exact re-sends of an earlier event (0 to 1)
    #[arg(long, default_value_t = 0.05, value_parser = share)]
    duplicate_rate: f64,
    /// Share of records that are invalid (0 to 1)
    #[arg(long, default_value_t = 0.002, value_parser = share)]
    invalid_rate: f64,
    /// Random seed: the same seed writes the same file
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output file (.gz compresses); standard output when absent
    #[arg(long)]
    output: Option<PathBuf>,
    /// created_at of the first event, Unix seconds
    #[arg(long, default_value_t = GenerateConfig::default().start, value_parser = unix_start)]
    start: i64,
    /// How fast created_at advances: new events per hour of event time (1M/hour spreads
    /// 10M events over 10 hours; 1M/day spreads them over 10 days)
    #[arg(long, default_value_t = 1_000_000.0, value_parser = positive)]
    events_per_hour: f64,
}

/// A share from 0 to 1 (`--duplicate-rate`, `--invalid-rate`).
fn share(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(value) if (0.0..=1.0).contains(&value) => Ok(value),
        _ => Err("must be a number between 0 and 1".into()),
    }
}

/// Unix seconds of a date this lake can partition (`--start`).
fn unix_start(text: &str) -> Result<i64, String> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|s| schemas::PartitionDate::from_unix_seconds(*s).is_some())
        .ok_or_else(|| "must be Unix seconds between 2000-01-01 and 2100-01-01".into())
}

/// A positive number (`--events-per-hour`).
fn positive(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(value) if value.is_finite() && value > 0.0 => Ok(value),
        _ => Err("must be a positive number".into()),
    }
}

/// Seconds, 0 or more (`--until-idle`).
fn seconds(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => Ok(value),
        _ => Err("must be a number of seconds, 0 or more".into()),
    }
}

/// A combination of flags clap cannot check by itself, reported as clap reports the others.
fn usage(message: &str) -> clap::Error {
    Cli::command().error(clap::error::ErrorKind::ArgumentConflict, message)
}

/// Prints `error: ...` on one line and exits: 2 when a person must change something, else 1.
fn fail(error: &anyhow::Error) -> ! {
    if let Some(clap_error) = error.downcast_ref::<clap::Error>() {
        eprintln!("{}", display::clap_line(&clap_error.render().to_string()));
        std::process::exit(display::EXIT_USAGE);
    }
    eprintln!("error: {}", display::one_line(error.as_ref()));
    std::process::exit(display::exit_code(error.as_ref(), display::is_ingest_usage))
}

fn main() {
    let cli = ingest::cli::parse_args::<Cli>();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let result = match cli.command {
        Command::Run(args) => run_command(&args),
        Command::Generate(args) => generate_command(&args),
        Command::Produce(args) => produce_command(&args),
        Command::Consume(args) => consume_command(&args),
        Command::Invoke(args) => invoke_command(&args),
        Command::RegisterPartitions(args) => register_command(&args),
        Command::Schema {
            format: SchemaFormat::Glue,
            registry,
        } => schema_command(registry.as_deref()),
    };
    if let Err(e) = result {
        fail(&e);
    }
}

/// The input, refused early when it names no readable file.
fn input_of(text: &str) -> Result<Input, IngestError> {
    let input = Input::parse(text);
    if let Input::File(path) = &input
        && !path.is_file()
    {
        return Err(IngestError::InputNotFound {
            path: path.display().to_string(),
        });
    }
    Ok(input)
}

/// Opens a lake after its preflight (one quick request: credentials, endpoint, bucket,
/// region and format answer in seconds).
async fn open_lake(url: &str, options: &StoreOptions) -> anyhow::Result<Lake> {
    open_store(url, options, "cannot open lake").await
}

/// Opens a store location (a lake, or where checkpoints are kept) after its preflight;
/// `what` heads the error.
async fn open_store(url: &str, options: &StoreOptions, what: &str) -> anyhow::Result<Lake> {
    let lake = Lake::open(url, options)?;
    Lake::preflight(url, options)
        .await
        .map_err(|e| with_hint(e, &format!("{what} {url}")))?;
    Ok(lake)
}

/// `error` under `what` (unless it names the lake itself), with a retry hint when running
/// again can help.
fn with_hint(error: IngestError, what: &str) -> anyhow::Error {
    let context = match retry_hint(&error) {
        Some(hint) => format!("{what} ({hint})"),
        None if error.names_lake() => return error.into(),
        None => what.to_owned(),
    };
    anyhow::Error::new(error).context(context)
}

fn run_command(args: &RunArgs) -> anyhow::Result<()> {
    let input = input_of(&args.input)?;
    let registry = load_or_embedded(args.registry.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let summary = runtime.block_on(async {
        let options = StoreOptions {
            endpoint_url: args.endpoint_url.clone(),
            region: args.region.clone(),
            retry: StoreRetry {
                max_retries: args.store_retries as usize,
                timeout: std::time::Duration::from_secs(u64::from(args.store_retry_seconds)),
            },
        };
        let lake = open_lake(&args.lake, &options).await?;
        let config = ProcessorConfig {
            lease: LeasePolicy {
                lease_millis: i64::from(args.lease_seconds) * 1000,
            },
            buckets: args.ledger_buckets,
            cache: cache_policy(args.ledger_cache_mib),
            ..ProcessorConfig::default()
        };
        let writer = format!("ingest-run-{}", std::process::id());
        let mut processor = BatchProcessor::open(lake, &registry, &writer, config)
            .await
            .map_err(|e| with_hint(e, &format!("cannot open lake {}", args.lake)))?;
        if let Some(glue) = args.glue.options(args.region.as_ref()) {
            processor = processor.with_catalog(Arc::new(GlueCatalog::new(&glue, &args.lake).await?));
        }
        let bar = progress_bar(input_len(&input));
        let mut on_progress = |records: u64, bytes: u64| {
            if let Some(bar) = &bar {
                bar.set_position(if bar.length().is_some() { bytes } else { records });
            }
        };
        let options = RunOptions {
            batch_size: args.batch_size as usize,
            batch_bytes: usize::try_from(args.batch_bytes).unwrap_or(usize::MAX),
            attempts: args.attempts,
            read_ahead: RunOptions::default().read_ahead && !args.no_read_ahead,
        };
        let summary = run(&mut processor, &input, options, &mut on_progress).await;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let summary =
            summary.map_err(|e| with_hint(e, &format!("ingesting {} into {}", args.input, args.lake)))?;
        anyhow::Ok(summary)
    })?;
    let mut out = std::io::stdout().lock();
    match args.summary {
        SummaryFormat::Json => writeln!(out, "{}", serde_json::to_string(&summary)?)?,
        SummaryFormat::Table => write!(out, "{}", summary.to_table())?,
    }
    if summary.counts.failed > 0 {
        bail!(
            "{} records could not be processed (another writer's claim is still within its lease); run again later",
            summary.counts.failed
        );
    }
    Ok(())
}

fn register_command(args: &RegisterArgs) -> anyhow::Result<()> {
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
    println!(
        "{registered} partitions of {} are registered in Glue database {}",
        args.lake, glue.database
    );
    Ok(())
}

/// Whether running the same command again can succeed, for error messages: said only when
/// it can (the other errors say what to change).
fn retry_hint(error: &IngestError) -> Option<&'static str> {
    if error.is_transient() {
        Some("transient; run the same command again: committed batches are kept, nothing is doubled")
    } else if error.is_retryable() {
        Some("running the same command again is safe: committed batches are kept, nothing is doubled")
    } else {
        None
    }
}

fn progress_bar(len: Option<u64>) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = match len {
        Some(len) => ProgressBar::new(len).with_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {pos} records ({per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    Some(bar)
}

fn generate_command(args: &GenerateArgs) -> anyhow::Result<()> {
    if args.duplicate_rate + args.invalid_rate > 1.0 {
        return Err(usage("--duplicate-rate plus --invalid-rate must not exceed 1").into());
    }
    let registry = Registry::embedded().context("the embedded schema registry is invalid")?;
    let config = GenerateConfig {
        records: args.events,
        duplicate_rate: args.duplicate_rate,
        invalid_rate: args.invalid_rate,
        seed: args.seed,
        start: args.start,
        spacing_seconds: 3600.0 / args.events_per_hour,
    };
    let summary = match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| usage(&format!("cannot create --output {}: {e}", path.display())))?;
            let mut out = std::io::BufWriter::new(file);
            if path.extension().is_some_and(|e| e == "gz") {
                let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
                let summary = generate(&registry, config, &mut gz)?;
                gz.finish()?.flush()?;
                summary
            } else {
                let summary = generate(&registry, config, &mut out)?;
                out.flush()?;
                summary
            }
        }
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let summary = generate(&registry, config, &mut out)?;
            out.flush()?;
            summary
        }
    };
    if args.output.is_some() {
        eprintln!(
            "wrote {} records: {} unique events, {} duplicates, {} invalid",
            summary.records, summary.unique_events, summary.duplicates, summary.invalid
        );
    }
    Ok(())
}

fn schema_command(registry_dir: Option<&Path>) -> anyhow::Result<()> {
    let registry = load_or_embedded(registry_dir)?;
    let glue = schemas::glue::GlueTables::new(&registry);
    println!("{}", serde_json::to_string_pretty(&glue)?);
    Ok(())
}

fn kinesis_options(args: &KinesisArgs) -> KinesisOptions {
    KinesisOptions {
        endpoint_url: args.endpoint_url.clone(),
        region: args.region.clone(),
    }
}

fn produce_command(args: &ProduceArgs) -> anyhow::Result<()> {
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
    let mut out = std::io::stdout().lock();
    match args.summary {
        SummaryFormat::Json => writeln!(out, "{}", serde_json::to_string(&summary)?)?,
        SummaryFormat::Table => write!(out, "{}", summary.to_table())?,
    }
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
    let mut out = std::io::stdout().lock();
    match format {
        SummaryFormat::Json => writeln!(out, "{}", serde_json::to_string(summary)?)?,
        SummaryFormat::Table => write!(out, "{}", summary.to_table())?,
    }
    Ok(())
}

fn cache_policy(mib: u64) -> CachePolicy {
    CachePolicy {
        max_bytes: mib << 20,
        ..CachePolicy::default()
    }
}

fn consume_command(args: &ConsumeArgs) -> anyhow::Result<()> {
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

fn invoke_command(args: &InvokeArgs) -> anyhow::Result<()> {
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
