//! `lakeq`: the lake's companion CLI: SQL (one statement or an interactive prompt), duplicate
//! and quality metrics, file statistics, compaction, and the registry's lifecycle (`schema
//! suggest`, `schema check`). Thin: parses arguments, opens the session once, calls the
//! library, prints.

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use ingest::display;
use ingest::ledger::policy::LeasePolicy;
use ingest::registry_dir::load_or_embedded;
use ingest::storage::{Lake, StoreOptions, TableKind};
use query::compact::{CompactOptions, compact};
use query::erase::report::audit_report;
use query::erase::{EraseOptions, erase};
use query::output::render;
use query::reports::render::render_report;
use query::reports::{dups, quality, stats};
use query::schema::render::{render_changes, render_suggestions};
use query::schema::source::registry_at;
use query::schema::suggest::{SuggestReport, suggest, write_documents};
use query::session::check_local_lake;
use query::{LakeSession, OutputFormat, QueryError};
use schemas::Registry;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(Debug, Parser)]
#[command(
    name = "lakeq",
    version,
    about = "Query, measure and compact the eventlake lake (DataFusion)"
)]
struct Cli {
    /// Lake location: a directory, file:///dir or s3://bucket/prefix
    #[arg(long, env = "EVENTLAKE_LAKE", default_value = "./lake", global = true)]
    lake: String,
    /// S3-compatible endpoint (defaults to AWS_ENDPOINT_URL)
    #[arg(long, global = true)]
    endpoint_url: Option<String>,
    /// AWS region for s3:// lakes
    #[arg(long, global = true)]
    region: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Table, global = true)]
    format: OutputFormat,
    /// A plain DataFusion session without the lake's tables, as datafusion-cli starts (for
    /// your own CREATE EXTERNAL TABLE statements; s3:// locations use the lake's store)
    #[arg(long, global = true)]
    bare: bool,
    /// Registry directory of *.json documents (default: the registry built into lakeq)
    #[arg(long, global = true)]
    registry: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run SQL over the tables events, duplicates and quarantine (a prompt when no query is given)
    Sql {
        /// SQL statements separated by `;` (each result is printed); omit for a prompt with history
        query: Option<String>,
    },
    /// Duplicate metrics: rates by type and date, delays, most re-sent uuids, residual check
    Dups {
        /// How many of the most re-sent uuids to list
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Exit with status 3 if any event_uuid appears twice in events within a date
        #[arg(long)]
        check: bool,
    },
    /// Input quality: quarantine by reason, unknown types, fields in extra, arrival lag
    Quality,
    /// Files, rows and bytes per table and partition; small files
    Stats {
        /// Files under this size count as small (e.g. 32MiB, 1GB, 500KB)
        #[arg(long, default_value = "32MiB", value_parser = parse_size)]
        small_file_size: u64,
    },
    /// Rewrite small files into large ones, sorted by created_at (ledger-safe, resumable)
    Compact {
        /// Only this table (default: all three)
        #[arg(long, value_parser = ["events", "duplicates", "quarantine"])]
        table: Option<String>,
        /// Only partitions of this event type
        #[arg(long)]
        event_type: Option<String>,
        /// Only partitions of this date (YYYY-MM-DD)
        #[arg(long, value_parser = partition_date)]
        date: Option<String>,
        /// Size to aim for per output file
        #[arg(long, default_value = "128MiB", value_parser = parse_size)]
        target_file_size: u64,
        /// Show what would be compacted, change nothing
        #[arg(long)]
        dry_run: bool,
        /// Seconds after which an unfinished compaction counts as interrupted (finished or undone)
        #[arg(long, default_value_t = 900)]
        takeover_after: u64,
    },
    /// Erase a person's events from every table and keep them out (GDPR Art. 17)
    #[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["predicate", "uuids"])))]
    Erase {
        /// SQL predicate over the columns of events and duplicates, e.g. "account_id = 'a-123'"
        #[arg(long = "where", value_name = "PREDICATE")]
        predicate: Option<String>,
        /// A file of event_uuid values to erase, one a line
        #[arg(long, value_name = "FILE")]
        uuids: Option<PathBuf>,
        /// Why (kept in the audit entry; do not put personal data here)
        #[arg(long, default_value = "")]
        reason: String,
        /// Show the files, rows and manifests it would rewrite, change nothing
        #[arg(long)]
        dry_run: bool,
        /// Refuse if the predicate matches more rows than this
        #[arg(long, default_value_t = 10_000)]
        max_rows: u64,
        /// The writers' lease in seconds: how long a batch in flight is waited for
        #[arg(long, default_value_t = 960)]
        lease: u64,
        /// Seconds after which an unfinished compaction or erasure counts as interrupted
        #[arg(long, default_value_t = 900)]
        takeover_after: u64,
    },
    /// The audit log of erasures: when, why, a hash of the predicate, rows per table
    Erasures,
    /// The registry's lifecycle: suggest documents from extra, check an evolution
    Schema {
        #[command(subcommand)]
        command: SchemaCommand,
    },
}

#[derive(Debug, Subcommand)]
enum SchemaCommand {
    /// Propose registry documents for the fields that landed in extra (--format table|json)
    Suggest {
        /// Only this event name
        #[arg(long)]
        event_name: Option<String>,
        /// Only fields (and unknown event names) seen in at least this many events
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        min_count: u64,
        /// Write the proposed documents into this directory instead of printing them
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Refuse registry changes that would leave written files unreadable (exit 1)
    Check {
        /// The previous registry: a directory, or a git revision of --current
        #[arg(long)]
        previous: String,
        /// The current registry directory
        #[arg(long, default_value = "schemas/events")]
        current: PathBuf,
    },
}

/// `128MiB`, `1GB`, `500KB`, `4096` -> bytes.
fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size; write e.g. 128MiB, 1GB or 4096"))?;
    let multiplier: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "kib" | "k" => 1024.0,
        "mib" | "m" => 1024.0 * 1024.0,
        "gib" | "g" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "unknown size unit {other:?}; use B, KB, MB, GB, KiB, MiB or GiB"
            ));
        }
    };
    let bytes = value * multiplier;
    if !(1.0..=1e15).contains(&bytes) {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(bytes as u64)
}

/// `YYYY-MM-DD` (`compact --date`).
fn partition_date(text: &str) -> Result<String, String> {
    chrono_like_date(text)
        .map(|()| text.to_owned())
        .ok_or_else(|| "must be a date as YYYY-MM-DD".into())
}

/// Whether a cause is something a person must fix (exit 2).
fn is_usage(cause: &(dyn std::error::Error + 'static)) -> bool {
    display::is_ingest_usage(cause)
        || cause
            .downcast_ref::<QueryError>()
            .is_some_and(QueryError::is_usage)
}

fn main() {
    let cli = ingest::cli::parse_args::<Cli>();
    tracing_subscriber_init();
    match run(&cli) {
        Ok(code) => std::process::exit(code),
        Err(e) if display::is_stdout_closed(e.as_ref()) => std::process::exit(0),
        Err(e) => {
            eprintln!("error: {}", display::one_line(e.as_ref()));
            std::process::exit(display::exit_code(e.as_ref(), is_usage));
        }
    }
}

/// Before any command on a lake: a local lake must look like one; then one quick request
/// (credentials, endpoint, bucket, region, the lake's format) answers in seconds.
async fn preflight(url: &str, options: &StoreOptions) -> anyhow::Result<()> {
    check_local_lake(url)?;
    Lake::preflight(url, options).await.map_err(|e| {
        if e.names_lake() {
            anyhow::Error::new(e)
        } else {
            anyhow::Error::new(e).context(format!("cannot open lake {url}"))
        }
    })
}

fn tracing_subscriber_init() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
}

fn run(cli: &Cli) -> anyhow::Result<i32> {
    if let Command::Schema {
        command: SchemaCommand::Check { previous, current },
    } = &cli.command
    {
        return schema_check(previous, current);
    }
    let registry = load_or_embedded(cli.registry.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let options = StoreOptions {
            endpoint_url: cli.endpoint_url.clone(),
            region: cli.region.clone(),
            ..StoreOptions::default()
        };
        let on_lake = matches!(
            cli.command,
            Command::Compact { .. } | Command::Stats { .. } | Command::Erase { .. } | Command::Erasures
        );
        if on_lake || !cli.bare {
            preflight(&cli.lake, &options).await?;
        }
        if on_lake {
            let lake =
                Lake::open(&cli.lake, &options).with_context(|| format!("cannot open lake {}", cli.lake))?;
            return lake_command(cli, &lake, &registry).await;
        }
        let session = if cli.bare {
            LakeSession::bare(&cli.lake, &options)?
        } else {
            LakeSession::open(&cli.lake, &options, &registry)
                .await
                .with_context(|| format!("cannot open lake {}", cli.lake))?
        };
        match &cli.command {
            Command::Sql { query: Some(query) } => {
                for batches in session.run_statements(query).await? {
                    display::print_result(&render(&batches, cli.format)?)?;
                }
            }
            Command::Sql { query: None } => prompt(&session, cli.format).await?,
            Command::Dups { top, check } => {
                let report = dups::dups(&session, *top).await?;
                display::print_result(&render_report(&report.report, cli.format)?)?;
                if *check && report.residual_duplicates > 0 {
                    eprintln!(
                        "error: {} event_uuid values appear more than once in events within a date \
                         (if a compaction was interrupted, run lakeq compact to finish it)",
                        report.residual_duplicates
                    );
                    return Ok(3);
                }
            }
            Command::Quality => {
                let report = quality::quality(&session, &registry).await?;
                display::print_result(&render_report(&report, cli.format)?)?;
            }
            Command::Schema {
                command:
                    SchemaCommand::Suggest {
                        event_name,
                        min_count,
                        out,
                    },
            } => {
                let report = suggest(&session, &registry, event_name.as_deref(), *min_count).await?;
                schema_suggest_output(&report, out.as_deref(), cli.format)?;
            }
            Command::Stats { .. }
            | Command::Compact { .. }
            | Command::Erase { .. }
            | Command::Erasures
            | Command::Schema { .. } => {
                unreachable!("handled above")
            }
        }
        anyhow::Ok(0)
    })
}

/// Prints the suggestions, or writes their documents into `out` and lists the files.
fn schema_suggest_output(
    report: &SuggestReport,
    out: Option<&Path>,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let Some(dir) = out else {
        display::print_result(&render_suggestions(report, format)?)?;
        return Ok(());
    };
    for path in write_documents(report, dir)? {
        display::print_result(&format!("wrote {}\n", path.display()))?;
    }
    if !report.skipped.is_empty() {
        eprintln!(
            "{} fields were left out; run without --out to see why",
            report.skipped.len()
        );
    }
    Ok(())
}

/// `schema check`: 0 when every change from `previous` to `current` is an addition, else 1
/// with one line per refused change.
fn schema_check(previous: &str, current: &Path) -> anyhow::Result<i32> {
    let current_registry = ingest::registry_dir::load(current)
        .with_context(|| format!("--current {} is not a valid registry", current.display()))?;
    let previous_registry = registry_at(previous, current)
        .with_context(|| format!("--previous {previous} is not a valid registry"))?;
    match schemas::evolution::check(&previous_registry, &current_registry) {
        Ok(changes) => {
            display::print_result(&render_changes(&changes))?;
            Ok(0)
        }
        Err(refused) => {
            eprintln!("{refused}");
            Ok(1)
        }
    }
}

async fn lake_command(cli: &Cli, lake: &Lake, registry: &Registry) -> anyhow::Result<i32> {
    match &cli.command {
        Command::Stats { small_file_size } => {
            let report = stats::stats(lake, *small_file_size).await?;
            display::print_result(&render_report(&report, cli.format)?)?;
        }
        Command::Compact {
            table,
            event_type,
            date,
            target_file_size,
            dry_run,
            takeover_after,
        } => {
            let tables = match table.as_deref() {
                Some("events") => vec![TableKind::Events],
                Some("duplicates") => vec![TableKind::Duplicates],
                Some("quarantine") => vec![TableKind::Quarantine],
                _ => query::files::TABLES.to_vec(),
            };
            let options = CompactOptions {
                tables,
                event_type: event_type.clone(),
                date: date.clone(),
                target_file_bytes: *target_file_size,
                dry_run: *dry_run,
                takeover_millis: (*takeover_after as i64).saturating_mul(1000),
                ..CompactOptions::default()
            };
            let bar = std::io::stderr().is_terminal().then(|| {
                ProgressBar::new(0).with_style(
                    ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} partitions",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                )
            });
            let mut on_progress = |done: u64, total: u64| {
                if let Some(bar) = &bar {
                    bar.set_length(total);
                    bar.set_position(done);
                }
            };
            let summary = compact(lake, registry, &options, display::now_millis(), &mut on_progress).await;
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            let summary = summary
                .context("compaction stopped; run it again to finish or undo the interrupted partition")?;
            display::print_result(&render_report(&summary.report()?, cli.format)?)?;
        }
        Command::Erase {
            predicate,
            uuids,
            reason,
            dry_run,
            max_rows,
            lease,
            takeover_after,
        } => {
            let listed = match uuids {
                Some(path) => read_uuids(path)?,
                None => Vec::new(),
            };
            let options = EraseOptions {
                predicate: predicate.clone(),
                uuids: listed,
                dry_run: *dry_run,
                reason: reason.clone(),
                max_rows: *max_rows,
                lease: LeasePolicy {
                    lease_millis: (*lease as i64).saturating_mul(1000),
                },
                takeover_millis: (*takeover_after as i64).saturating_mul(1000),
            };
            let summary = match erase(lake, registry, &options, display::now_millis(), &mut |_, _| {}).await {
                Ok(summary) => summary,
                Err(e) if e.is_usage() => return Err(e.into()),
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context("erasure stopped; run the same command again to finish it"));
                }
            };
            display::print_result(&render_report(&summary.report()?, cli.format)?)?;
            if summary.partitions_busy > 0 {
                eprintln!(
                    "error: {} partitions are held by a compaction or erasure; run the same command again once it ends \
                     (an interrupted one is taken over after --takeover-after, 900 s; pass --takeover-after 0 if none is running)",
                    summary.partitions_busy
                );
                return Ok(1);
            }
        }
        Command::Erasures => {
            let entries = query::erase::audit::list(lake).await?;
            display::print_result(&render_report(&audit_report(&entries)?, cli.format)?)?;
        }
        _ => unreachable!("only stats, compact, erase and erasures"),
    }
    Ok(0)
}

/// `--uuids FILE`: one uuid a line; blank lines and `#` comments skipped.
fn read_uuids(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        QueryError::Usage(format!(
            "--uuids {}: cannot read the file ({e}); pass a file of event_uuid values, one a line",
            path.display()
        ))
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect())
}

fn chrono_like_date(text: &str) -> Option<()> {
    let parts: Vec<&str> = text.split('-').collect();
    let ok = parts.len() == 3
        && parts[0].len() == 4
        && parts[1].len() == 2
        && parts[2].len() == 2
        && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()));
    ok.then_some(())
}

/// The interactive prompt: statements end with `;`; history in ~/.lakeq_history.
async fn prompt(session: &LakeSession, format: OutputFormat) -> anyhow::Result<()> {
    let mut editor = rustyline::DefaultEditor::new()?;
    let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".lakeq_history"));
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    if std::io::stdin().is_terminal() {
        eprintln!("lakeq: tables events, duplicates, quarantine. End statements with ';'. Ctrl-D quits.");
    }
    let mut statement = String::new();
    loop {
        let line = match editor.readline(if statement.is_empty() {
            "lakeq> "
        } else {
            "   ...> "
        }) {
            Ok(line) => line,
            Err(rustyline::error::ReadlineError::Interrupted) => {
                statement.clear();
                continue;
            }
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        statement.push_str(&line);
        statement.push('\n');
        if !line.trim_end().ends_with(';') {
            continue;
        }
        let sql = std::mem::take(&mut statement);
        let _ = editor.add_history_entry(sql.trim());
        match session.run_statements(&sql).await {
            Ok(results) => {
                for batches in results {
                    display::print(&render(&batches, format)?)?;
                }
            }
            Err(e) => eprintln!("error: {}", display::one_line(&e)),
        }
    }
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    Ok(())
}
