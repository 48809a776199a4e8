//! `lakeq`: query the lake with SQL. Thin: parses arguments, opens the session, prints.

use anyhow::Context;
use clap::{Parser, Subcommand};
use ingest::storage::StoreOptions;
use query::output::render;
use query::{LakeSession, OutputFormat};
use schemas::Registry;

#[derive(Debug, Parser)]
#[command(name = "lakeq", version, about = "Query the eventlake lake with DataFusion")]
struct Cli {
    /// Lake location: a directory, file:///dir or s3://bucket/prefix
    #[arg(long, env = "EVENTLAKE_LAKE", default_value = "./lake")]
    lake: String,
    /// S3-compatible endpoint (defaults to AWS_ENDPOINT_URL)
    #[arg(long)]
    endpoint_url: Option<String>,
    /// AWS region for s3:// lakes
    #[arg(long)]
    region: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Table, global = true)]
    format: OutputFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one SQL statement over the tables events, duplicates and quarantine
    Sql {
        /// The SQL statement
        query: String,
    },
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let registry = Registry::embedded().context("the embedded schema registry is invalid")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let options = StoreOptions {
            endpoint_url: cli.endpoint_url.clone(),
            region: cli.region.clone(),
        };
        let session = LakeSession::open(&cli.lake, &options, &registry)
            .await
            .with_context(|| format!("cannot open lake {}", cli.lake))?;
        match cli.command {
            Command::Sql { query } => {
                let batches = session.ctx.sql(&query).await?.collect().await?;
                print!("{}", render(&batches, cli.format)?);
            }
        }
        anyhow::Ok(())
    })
}
