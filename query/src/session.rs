//! A DataFusion session over one lake. The three tables are listing tables over the lake's
//! Hive layout with typed partition columns (`event_type` string, `date` DATE), so filters on
//! them prune whole directories. Their file schemas come from the schema registry, so every
//! reader sees one schema even where older files lack newer columns. A query that names an
//! unknown table or column fails with the session's tables or the column's close matches.

use crate::error::QueryError;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::utils::datafusion_strsim::levenshtein;
use datafusion::common::{Column, SchemaError};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use ingest::storage::{Lake, Layout, StoreOptions, TableKind};
use schemas::{Registry, Tables};
use std::sync::Arc;
use url::Url;

/// The lake's tables registered in a DataFusion session.
#[derive(Clone)]
pub struct LakeSession {
    pub ctx: SessionContext,
    /// The lake's root as a URL DataFusion lists (`file:///...` or `s3://bucket/prefix`).
    pub root_url: String,
    pub lake: Lake,
}

impl std::fmt::Debug for LakeSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeSession")
            .field("root_url", &self.root_url)
            .finish_non_exhaustive()
    }
}

impl LakeSession {
    /// Opens a lake by URL (a path, `file://`, or `s3://bucket/prefix`).
    pub async fn open(url: &str, options: &StoreOptions, registry: &Registry) -> Result<Self, QueryError> {
        Self::for_lake(Lake::open(url, options)?, registry).await
    }

    /// A session over an opened lake (its store is used as is, credentials included).
    pub async fn for_lake(lake: Lake, registry: &Registry) -> Result<Self, QueryError> {
        let url = lake.url.clone();
        let url = url.as_str();
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_target_partitions(4);
        let ctx = SessionContext::new_with_config(config);
        let root_url = root_url(url, &lake, &ctx)?;
        let tables = Tables::new(registry);
        let hive = vec![
            ("event_type".to_owned(), DataType::Utf8),
            ("date".to_owned(), DataType::Date32),
        ];
        register(
            &ctx,
            "events",
            &format!("{root_url}events/"),
            tables.events.clone(),
            hive.clone(),
        )
        .await?;
        register(
            &ctx,
            "duplicates",
            &format!("{root_url}duplicates/"),
            tables.duplicates.clone(),
            hive,
        )
        .await?;
        let by_date = vec![("date".to_owned(), DataType::Date32)];
        register(
            &ctx,
            "quarantine",
            &format!("{root_url}quarantine/"),
            tables.quarantine.clone(),
            by_date,
        )
        .await?;
        Ok(LakeSession { ctx, root_url, lake })
    }
}

impl LakeSession {
    /// A session without tables, as datafusion-cli starts; an `s3://` lake's store is
    /// registered so `CREATE EXTERNAL TABLE ... LOCATION 's3://...'` can read it.
    pub fn bare(url: &str, options: &StoreOptions) -> Result<Self, QueryError> {
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_information_schema(true));
        if url.starts_with("s3://") {
            let lake = Lake::open(url, options)?;
            let root_url = root_url(url, &lake, &ctx)?;
            return Ok(LakeSession { ctx, root_url, lake });
        }
        // Local LOCATIONs are read by DataFusion itself, relative to the working directory.
        let lake = Lake::open("memory://", options)?;
        Ok(LakeSession {
            ctx,
            root_url: String::new(),
            lake,
        })
    }

    /// Runs `;`-separated statements in order; the rows of each statement that returns any.
    pub async fn run_statements(&self, sql: &str) -> Result<Vec<Vec<RecordBatch>>, QueryError> {
        let statements = DFParser::parse_sql_with_dialect(sql, &GenericDialect {})
            .map_err(|e| syntax_error(&e).unwrap_or_else(|| e.into()))?;
        let mut results = Vec::new();
        for statement in statements {
            let plan = match self.ctx.state().statement_to_plan(statement.clone()).await {
                Ok(plan) => plan,
                Err(e) => return Err(self.planning_error(&statement, e)),
            };
            let returns_rows = !matches!(plan, LogicalPlan::Ddl(_) | LogicalPlan::Statement(_));
            let batches = self.ctx.execute_logical_plan(plan).await?.collect().await?;
            if returns_rows {
                results.push(batches);
            }
        }
        Ok(results)
    }
}

impl LakeSession {
    /// A planning error in a person's terms: an unknown table with the session's tables, an
    /// unknown column with its close matches; other errors as DataFusion words them.
    fn planning_error(&self, statement: &Statement, error: DataFusionError) -> QueryError {
        let references = self
            .ctx
            .state()
            .resolve_table_references(statement)
            .unwrap_or_default();
        let (known, missing): (Vec<_>, Vec<_>) = references
            .into_iter()
            .partition(|r| self.ctx.table_exist(r.clone()).unwrap_or(true));
        if let DataFusionError::SchemaError(schema_error, _) = error.find_root()
            && let SchemaError::FieldNotFound { field, valid_fields } = schema_error.as_ref()
        {
            let mut tables: Vec<String> = known.iter().map(|r| r.table().to_owned()).collect();
            lake_order(&mut tables);
            return unknown_column(field, valid_fields, tables);
        }
        if let Some(syntax) = syntax_error(&error) {
            return syntax;
        }
        match missing.into_iter().next() {
            Some(reference) => QueryError::UnknownTable {
                name: reference.to_string(),
                tables: self.table_names(),
            },
            None => error.into(),
        }
    }

    /// The session's tables, the lake's three first.
    pub fn table_names(&self) -> Vec<String> {
        let state = self.ctx.state();
        let catalog = &state.config_options().catalog;
        let mut names = self
            .ctx
            .catalog(&catalog.default_catalog)
            .and_then(|c| c.schema(&catalog.default_schema))
            .map(|s| s.table_names())
            .unwrap_or_default();
        lake_order(&mut names);
        names
    }
}

/// Table names sorted with the lake's three first, in their usual order.
fn lake_order(names: &mut [String]) {
    let rank = |name: &String| crate::files::TABLES.iter().position(|t| t.dir() == name);
    names.sort_by_key(|name| (rank(name).unwrap_or(usize::MAX), name.clone()));
}

/// A local lake must be a directory with at least one of the lake's folders in it; a typo in
/// `--lake` is not an empty lake. Other URLs are checked by their first request.
pub fn check_local_lake(url: &str) -> Result<(), QueryError> {
    if url.contains("://") && !url.starts_with("file://") {
        return Ok(());
    }
    let dir = std::path::Path::new(url.strip_prefix("file://").unwrap_or(url));
    if !dir.is_dir() {
        return Err(QueryError::NoLake { url: url.to_owned() });
    }
    let tables = crate::files::TABLES.map(TableKind::dir);
    if !tables
        .iter()
        .chain([&Layout::LEDGER])
        .any(|f| dir.join(f).is_dir())
    {
        return Err(QueryError::NotALake { url: url.to_owned() });
    }
    Ok(())
}

/// `tables`: the query's tables (their aliases are what the columns carry).
fn unknown_column(field: &Column, valid: &[Column], mut tables: Vec<String>) -> QueryError {
    tables.dedup();
    if tables.is_empty() {
        for relation in valid.iter().filter_map(|c| c.relation.as_ref()) {
            if !tables.iter().any(|t| t == relation.table()) {
                tables.push(relation.table().to_owned());
            }
        }
    }
    QueryError::UnknownColumn {
        column: field.flat_name(),
        tables,
        close: close_matches(&field.name, valid.iter().map(|c| c.name.as_str())),
    }
}

/// A statement that does not parse, in the parser's words (DataFusion's own message quotes
/// them twice).
fn syntax_error(error: &DataFusionError) -> Option<QueryError> {
    use datafusion::sql::sqlparser::parser::ParserError;
    let DataFusionError::SQL(parser_error, _) = error.find_root() else {
        return None;
    };
    let message = match parser_error.as_ref() {
        ParserError::ParserError(m) | ParserError::TokenizerError(m) => m.clone(),
        ParserError::RecursionLimitExceeded => "the statement nests too deeply".to_owned(),
    };
    Some(QueryError::SqlSyntax { message })
}

/// Up to five candidates that look like `name`: at most half their letters edited, or one
/// containing the other; nearest first.
fn close_matches<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Vec<String> {
    let name = name.to_lowercase();
    let mut scored: Vec<(usize, &str)> = candidates
        .filter_map(|candidate| {
            let lower = candidate.to_lowercase();
            let distance = levenshtein(&name, &lower);
            let longest = name.chars().count().max(lower.chars().count());
            let contains = name.len() >= 3 && (lower.contains(&name) || name.contains(&lower));
            (distance * 2 <= longest || contains).then_some((distance, candidate))
        })
        .collect();
    scored.sort_unstable();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(5).map(|(_, c)| c.to_owned()).collect()
}

/// The root URL for DataFusion; registers the lake's S3 store under its bucket.
fn root_url(url: &str, lake: &Lake, ctx: &SessionContext) -> Result<String, QueryError> {
    if let Ok(parsed) = Url::parse(url)
        && parsed.scheme() == "s3"
    {
        let host = parsed.host_str().unwrap_or_default();
        let bucket = Url::parse(&format!("s3://{host}")).map_err(|e| QueryError::Output(e.to_string()))?;
        ctx.register_object_store(&bucket, lake.store.clone());
        let prefix = parsed.path().trim_matches('/');
        return Ok(if prefix.is_empty() {
            format!("s3://{host}/")
        } else {
            format!("s3://{host}/{prefix}/")
        });
    }
    if url.starts_with("memory://") {
        // An in-memory lake (tests, fault injection): DataFusion reads the lake's own store.
        let base = Url::parse("memory://lake").map_err(|e| QueryError::Output(e.to_string()))?;
        ctx.register_object_store(&base, lake.store.clone());
        let root = lake.root.as_ref().trim_matches('/');
        return Ok(if root.is_empty() {
            "memory://lake/".to_owned()
        } else {
            format!("memory://lake/{root}/")
        });
    }
    let path = url.strip_prefix("file://").unwrap_or(url);
    let dir = std::fs::canonicalize(path).map_err(|e| {
        QueryError::Lake(ingest::IngestError::LakeUrl {
            url: url.to_owned(),
            message: e.to_string(),
        })
    })?;
    Ok(format!("file://{}/", dir.display()))
}

async fn register(
    ctx: &SessionContext,
    name: &str,
    url: &str,
    schema: SchemaRef,
    partitions: Vec<(String, DataType)>,
) -> Result<(), QueryError> {
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(partitions);
    let config = ListingTableConfig::new(ListingTableUrl::parse(url)?)
        .with_listing_options(options)
        .with_schema(schema);
    ctx.register_table(name, Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_matches_are_few_and_nearest_first() {
        let columns = [
            "amount",
            "amount_cents",
            "order_amount",
            "event_uuid",
            "user_id",
            "event_name",
        ];
        assert_eq!(close_matches("amout", columns.iter().copied()), vec!["amount"]);
        assert_eq!(
            close_matches("amoun", columns.iter().copied()),
            vec!["amount", "amount_cents", "order_amount"]
        );
        assert_eq!(
            close_matches("evnt_uuid", columns.iter().copied()),
            vec!["event_uuid", "event_name"]
        );
        assert!(close_matches("zzz", columns.iter().copied()).is_empty());
    }
}
