//! The `ingest` command line: `run` puts JSON Lines through the pipeline into a lake,
//! `generate` writes synthetic events, `produce` puts them on Kinesis, `consume` reads
//! Kinesis into a lake (or replays shard ranges: `--at`, `--failure-record`) and `invoke`
//! feeds Kinesis batches to the Lambda function. Thin: parses arguments, builds clients
//! once, calls the library, prints.

#[cfg(feature = "aws")]
mod aws;
mod aws_args;

use anyhow::{Context, bail};
use aws_args::{ConsumeArgs, GlueArgs, InvokeArgs, ProduceArgs, RegisterArgs};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use ingest::IngestError;
use ingest::batch::{BatchProcessor, ProcessorConfig};
use ingest::display;
use ingest::generate::{GenerateConfig, generate};
use ingest::ledger::policy::{CachePolicy, LeasePolicy};
use ingest::registry_dir::load_or_embedded;
use ingest::run::{Input, RunOptions, input_len, run};
use ingest::storage::{Lake, StoreOptions, StoreRetry};
use schemas::Registry;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// `ingest --version` says whether this build has the AWS commands (`bench/load.py` checks).
const VERSION: &str = if cfg!(feature = "aws") {
    concat!(env!("CARGO_PKG_VERSION"), " (with AWS: Kinesis, Glue)")
} else {
    concat!(
        env!("CARGO_PKG_VERSION"),
        " (local: run, generate, schema; AWS needs --features ingest/io)"
    )
};

#[derive(Debug, Parser)]
#[command(
    name = "ingest",
    version = VERSION,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SummaryFormat {
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

/// A combination of flags clap cannot check by itself, reported as clap reports the others.
pub(crate) fn usage(message: &str) -> clap::Error {
    Cli::command().error(clap::error::ErrorKind::ArgumentConflict, message)
}

/// Prints `error: ...` on one line and exits: 2 when a person must change something, else 1.
fn fail(error: &anyhow::Error) -> ! {
    if display::is_stdout_closed(error.as_ref()) {
        std::process::exit(0);
    }
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

#[cfg(feature = "aws")]
use aws::{consume_command, glue_catalog, invoke_command, produce_command, register_command};

/// Without the `aws` feature (the default build): the AWS commands and flags say how to get them,
/// before anything is opened.
#[cfg(not(feature = "aws"))]
mod without_aws {
    use super::*;

    fn refused(what: &str, command: &str) -> anyhow::Error {
        usage(&format!(
            "{what} talks to AWS (Kinesis, Glue), which this build of ingest leaves out: build it with \
             `--features ingest/io`, e.g. `cargo run --release --features ingest/io --bin ingest -- {command} ...`"
        ))
        .into()
    }

    pub(crate) fn produce_command(_: &ProduceArgs) -> anyhow::Result<()> {
        Err(refused("`ingest produce`", "produce"))
    }

    pub(crate) fn consume_command(_: &ConsumeArgs) -> anyhow::Result<()> {
        Err(refused("`ingest consume`", "consume"))
    }

    pub(crate) fn invoke_command(_: &InvokeArgs) -> anyhow::Result<()> {
        Err(refused("`ingest invoke`", "invoke"))
    }

    pub(crate) fn register_command(_: &RegisterArgs) -> anyhow::Result<()> {
        Err(refused("`ingest register-partitions`", "register-partitions"))
    }

    /// `run --glue-database`, refused before the lake is opened.
    pub(crate) fn refuse_glue(glue: &GlueArgs) -> anyhow::Result<()> {
        match glue.glue_database {
            Some(_) => Err(refused("--glue-database", "run")),
            None => Ok(()),
        }
    }

    /// No catalog: `refuse_glue` has refused `--glue-database` before the lake was opened.
    pub(crate) async fn glue_catalog(
        glue: &GlueArgs,
        _: Option<&String>,
        _: &str,
    ) -> anyhow::Result<Option<std::sync::Arc<dyn ingest::catalog::PartitionCatalog>>> {
        refuse_glue(glue).map(|()| None)
    }
}
#[cfg(not(feature = "aws"))]
use without_aws::{consume_command, glue_catalog, invoke_command, produce_command, register_command};

/// The input, refused early when it names no readable file.
pub(crate) fn input_of(text: &str) -> Result<Input, IngestError> {
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
pub(crate) async fn open_lake(url: &str, options: &StoreOptions) -> anyhow::Result<Lake> {
    open_store(url, options, "cannot open lake").await
}

/// Opens a store location (a lake, or where checkpoints are kept) after its preflight;
/// `what` heads the error.
pub(crate) async fn open_store(url: &str, options: &StoreOptions, what: &str) -> anyhow::Result<Lake> {
    let lake = Lake::open(url, options)?;
    Lake::preflight(url, options)
        .await
        .map_err(|e| with_hint(e, &format!("{what} {url}")))?;
    Ok(lake)
}

/// `error` under `what` (unless it names the lake itself), with a retry hint when running
/// again can help.
pub(crate) fn with_hint(error: IngestError, what: &str) -> anyhow::Error {
    let context = match retry_hint(&error) {
        Some(hint) => format!("{what} ({hint})"),
        None if error.names_lake() => return error.into(),
        None => what.to_owned(),
    };
    anyhow::Error::new(error).context(context)
}

fn run_command(args: &RunArgs) -> anyhow::Result<()> {
    #[cfg(not(feature = "aws"))]
    without_aws::refuse_glue(&args.glue)?;
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
        if let Some(catalog) = glue_catalog(&args.glue, args.region.as_ref(), &args.lake).await? {
            processor = processor.with_catalog(catalog);
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
    print_summary(args.summary, &summary, || summary.to_table())?;
    if summary.counts.failed > 0 {
        bail!(
            "{} records could not be processed (another writer's claim is still within its lease); run again later",
            summary.counts.failed
        );
    }
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

pub(crate) fn progress_bar(len: Option<u64>) -> Option<ProgressBar> {
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
            let mut out = std::io::BufWriter::new(display::stdout());
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
    display::print_result(&format!("{}\n", serde_json::to_string_pretty(&glue)?))?;
    Ok(())
}

/// Prints a command's summary as `--summary` asks ([`display::print_result`]: a reader that
/// closed the output early does not change the command's outcome).
pub(crate) fn print_summary(
    format: SummaryFormat,
    summary: &impl serde::Serialize,
    table: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    let text = match format {
        SummaryFormat::Json => format!("{}\n", serde_json::to_string(summary)?),
        SummaryFormat::Table => table(),
    };
    Ok(display::print_result(&text)?)
}

pub(crate) fn cache_policy(mib: u64) -> CachePolicy {
    CachePolicy {
        max_bytes: mib << 20,
        ..CachePolicy::default()
    }
}
