//! The `ingest` command line: `run` puts JSON Lines through the pipeline into a lake,
//! `generate` writes synthetic events. Thin: parses arguments, builds clients once, calls
//! the library, prints.

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use ingest::batch::{BatchProcessor, ProcessorConfig};
use ingest::generate::{GenerateConfig, generate};
use ingest::ledger::policy::LeasePolicy;
use ingest::run::{Input, RunOptions, input_len, run};
use ingest::storage::{Lake, StoreOptions};
use schemas::Registry;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

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
    /// Print the lake's table schemas (glue: Hive types for Terraform's Glue tables)
    Schema {
        #[arg(value_enum, default_value_t = SchemaFormat::Glue)]
        format: SchemaFormat,
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
    /// Records per batch (Kinesis delivers up to 10,000)
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch_size: u32,
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
    #[arg(long, default_value_t = 0.05)]
    duplicate_rate: f64,
    /// Share of records that are invalid (0 to 1)
    #[arg(long, default_value_t = 0.002)]
    invalid_rate: f64,
    /// Random seed: the same seed writes the same file
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output file (.gz compresses); standard output when absent
    #[arg(long)]
    output: Option<PathBuf>,
    /// created_at of the first event, Unix seconds
    #[arg(long, default_value_t = GenerateConfig::default().start)]
    start: i64,
}

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let result = match cli.command {
        Command::Run(args) => run_command(&args),
        Command::Generate(args) => generate_command(&args),
        Command::Schema {
            format: SchemaFormat::Glue,
        } => schema_command(),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run_command(args: &RunArgs) -> anyhow::Result<()> {
    let input = Input::parse(&args.input);
    if let Input::File(path) = &input
        && !path.is_file()
    {
        bail!(
            "input {} is not a readable file; pass a JSON Lines file or - for stdin",
            path.display()
        );
    }
    let registry = Registry::embedded().context("the embedded schema registry is invalid")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let summary = runtime.block_on(async {
        let options = StoreOptions {
            endpoint_url: args.endpoint_url.clone(),
            region: args.region.clone(),
        };
        let lake = Lake::open(&args.lake, &options)?;
        let config = ProcessorConfig {
            lease: LeasePolicy {
                lease_millis: i64::from(args.lease_seconds) * 1000,
            },
            buckets: args.ledger_buckets,
            ..ProcessorConfig::default()
        };
        let writer = format!("ingest-run-{}", std::process::id());
        let mut processor = BatchProcessor::open(lake, &registry, &writer, config)
            .await
            .with_context(|| format!("cannot open lake {}", args.lake))?;
        let bar = progress_bar(input_len(&input));
        let mut on_progress = |records: u64, bytes: u64| {
            if let Some(bar) = &bar {
                bar.set_position(if bar.length().is_some() { bytes } else { records });
            }
        };
        let options = RunOptions {
            batch_size: args.batch_size as usize,
            ..RunOptions::default()
        };
        let summary = run(&mut processor, &input, options, &mut on_progress).await;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        anyhow::Ok(summary.with_context(|| format!("ingesting {} into {}", args.input, args.lake))?)
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
    for (name, rate) in [
        ("--duplicate-rate", args.duplicate_rate),
        ("--invalid-rate", args.invalid_rate),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            bail!("{name} must be between 0 and 1, got {rate}");
        }
    }
    if args.duplicate_rate + args.invalid_rate > 1.0 {
        bail!("--duplicate-rate plus --invalid-rate must not exceed 1");
    }
    if schemas::PartitionDate::from_unix_seconds(args.start).is_none() {
        bail!(
            "--start must be Unix seconds between 2000-01-01 and 2100-01-01, got {}",
            args.start
        );
    }
    let registry = Registry::embedded().context("the embedded schema registry is invalid")?;
    let config = GenerateConfig {
        records: args.events,
        duplicate_rate: args.duplicate_rate,
        invalid_rate: args.invalid_rate,
        seed: args.seed,
        start: args.start,
        ..GenerateConfig::default()
    };
    let summary = match &args.output {
        Some(path) => {
            let file =
                std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
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

fn schema_command() -> anyhow::Result<()> {
    let registry = Registry::embedded().context("the embedded schema registry is invalid")?;
    let glue = schemas::glue::GlueTables::new(&registry);
    println!("{}", serde_json::to_string_pretty(&glue)?);
    Ok(())
}
