//! A DataFusion session over one lake. The three tables are listing tables over the lake's
//! Hive layout with typed partition columns (`event_type` string, `date` DATE), so filters on
//! them prune whole directories. Their file schemas come from the schema registry, so every
//! reader sees one schema even where older files lack newer columns.

use crate::error::QueryError;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::DFParser;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use ingest::storage::{Lake, StoreOptions};
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
        let statements = DFParser::parse_sql_with_dialect(sql, &GenericDialect {})?;
        let mut results = Vec::new();
        for statement in statements {
            let plan = self.ctx.state().statement_to_plan(statement).await?;
            let returns_rows = !matches!(plan, LogicalPlan::Ddl(_) | LogicalPlan::Statement(_));
            let batches = self.ctx.execute_logical_plan(plan).await?.collect().await?;
            if returns_rows {
                results.push(batches);
            }
        }
        Ok(results)
    }
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
