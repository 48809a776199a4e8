//! The arguments of `ingest`'s AWS commands (`produce`, `consume`, `invoke`,
//! `register-partitions`, `run --glue-database`). Parsed in every build, so `--help` is the
//! same everywhere; a build without the `aws` feature refuses them with how to rebuild.
#![cfg_attr(not(feature = "aws"), allow(dead_code))]

use crate::SummaryFormat;
use clap::ValueEnum;
use std::path::PathBuf;

/// Where new partitions are registered (Athena and Spark plan from the Glue catalog).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct GlueArgs {
    /// Glue database holding the events, duplicates and quarantine tables: every new
    /// partition is registered there before its batch commits
    #[arg(long)]
    pub(crate) glue_database: Option<String>,
    /// Glue-compatible endpoint (defaults to AWS_ENDPOINT_URL_GLUE, then AWS_ENDPOINT_URL,
    /// then Glue in the region)
    #[arg(long, requires = "glue_database")]
    pub(crate) glue_endpoint_url: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RegisterArgs {
    /// Lake location: s3://bucket/prefix (or a directory)
    #[arg(long)]
    pub(crate) lake: String,
    /// S3-compatible endpoint (defaults to AWS_ENDPOINT_URL)
    #[arg(long)]
    pub(crate) endpoint_url: Option<String>,
    /// AWS region
    #[arg(long)]
    pub(crate) region: Option<String>,
    /// Glue database holding the events, duplicates and quarantine tables
    #[arg(long)]
    pub(crate) glue_database: String,
    /// Glue-compatible endpoint (defaults to AWS_ENDPOINT_URL_GLUE, then AWS_ENDPOINT_URL,
    /// then Glue in the region)
    #[arg(long)]
    pub(crate) glue_endpoint_url: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct KinesisArgs {
    /// Kinesis stream name
    #[arg(long)]
    pub(crate) stream: String,
    /// Kinesis- and S3-compatible endpoint, e.g. moto (defaults to AWS_ENDPOINT_URL)
    #[arg(long)]
    pub(crate) endpoint_url: Option<String>,
    /// AWS region (defaults to AWS_REGION)
    #[arg(long)]
    pub(crate) region: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ProduceArgs {
    #[command(flatten)]
    pub(crate) kinesis: KinesisArgs,
    /// JSON Lines file (plain or gzip), or - for standard input
    #[arg(long)]
    pub(crate) input: String,
    /// How to print the summary
    #[arg(long, value_enum, default_value_t = SummaryFormat::Table)]
    pub(crate) summary: SummaryFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum From {
    /// The oldest record still in the stream
    TrimHorizon,
    /// Only records put from now on
    Latest,
}

#[derive(Debug, clap::Args)]
pub(crate) struct WalkArgs {
    #[command(flatten)]
    pub(crate) kinesis: KinesisArgs,
    /// Where shards without a checkpoint start
    #[arg(long, value_enum, default_value_t = From::TrimHorizon)]
    pub(crate) from: From,
    /// Replay a shard from this sequence number on (AT_SEQUENCE_NUMBER); repeatable. A replay
    /// reads only the shards it names and neither reads nor writes checkpoints
    #[arg(long = "at", value_name = "SHARD_ID=SEQUENCE", conflicts_with = "from")]
    pub(crate) at: Vec<String>,
    /// Stop replaying a shard named by --at after this sequence number (inclusive)
    #[arg(long, value_name = "SHARD_ID=SEQUENCE", requires = "at")]
    pub(crate) until: Vec<String>,
    /// Replay the batch a Lambda on-failure record describes (the record from the failure
    /// queue, an SNS notification of it, or `aws sqs receive-message` output); repeatable
    #[arg(long, value_name = "FILE", conflicts_with = "from")]
    pub(crate) failure_record: Vec<PathBuf>,
    /// Stop after this many seconds without new records (default: run until Ctrl-C)
    #[arg(long, value_parser = seconds)]
    pub(crate) until_idle: Option<f64>,
    /// Records per GetRecords call (at most 10,000)
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(i32).range(1..=10_000))]
    pub(crate) batch_size: i32,
    /// How to print the summary
    #[arg(long, value_enum, default_value_t = SummaryFormat::Table)]
    pub(crate) summary: SummaryFormat,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ConsumeArgs {
    #[command(flatten)]
    pub(crate) walk: WalkArgs,
    /// Lake location: a directory, file:///dir, s3://bucket/prefix or memory://
    #[arg(long)]
    pub(crate) lake: String,
    /// Name under which shard checkpoints are kept in the lake (default: the stream name)
    #[arg(long)]
    pub(crate) consumer: Option<String>,
    /// Seconds after which another writer's unfinished claim may be taken over
    #[arg(long, default_value_t = 960)]
    pub(crate) lease_seconds: u32,
    /// Memory for cached dedup-ledger state, in MiB; beyond it the least recently used
    /// chains are dropped and read back from the lake when needed
    #[arg(long, default_value_t = ingest::ledger::policy::DEFAULT_CACHE_BYTES >> 20, value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    pub(crate) ledger_cache_mib: u64,
}

#[derive(Debug, clap::Args)]
pub(crate) struct InvokeArgs {
    #[command(flatten)]
    pub(crate) walk: WalkArgs,
    /// The Lambda Invoke API endpoint (cargo lambda watch listens on http://127.0.0.1:9000)
    #[arg(long, default_value = "http://127.0.0.1:9000")]
    pub(crate) lambda_endpoint: String,
    /// Function name in the invoke URL (`_` is cargo lambda watch's default function)
    #[arg(long, default_value = "_")]
    pub(crate) function: String,
    /// Where to keep shard checkpoints: a lake URL (default: memory://, start over each run)
    #[arg(long, default_value = "memory://")]
    pub(crate) checkpoints: String,
}

/// Seconds, 0 or more (`--until-idle`).
fn seconds(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => Ok(value),
        _ => Err("must be a number of seconds, 0 or more".into()),
    }
}
