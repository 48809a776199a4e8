# Glue Data Catalog: one database, three external Parquet tables over the lake. Columns come
# from generated/glue_columns.json, the checked-in output of `target/debug/ingest schema glue`
# (regenerate it when the registry changes; tests/python/test_terraform.py fails if it is
# stale).
#
# Partitions: no partition projection. Projection would make Athena enumerate event types
# and dates from table properties and ignore the catalog's partitions, so rows of event types
# it does not list (the pipeline writes every valid type, registered or not) and of dates
# outside its range (created_at is accepted from 2000 to 2099) would be silently missing from
# every query. Instead the function registers each partition in the catalog (GetTable, then
# BatchCreatePartition, idempotent) before the batch that writes into it commits, so every row
# the lake holds is in a partition Athena lists. A lake written before that: run
# `ingest register-partitions` once. No crawler is needed either.

locals {
  glue_schema = jsondecode(file("${path.module}/generated/glue_columns.json"))

  # The partition keys below are written out (the lake layout's public shape); the generated
  # file must agree with them.
  expected_partition_keys = [{ name = "event_type", type = "string" }, { name = "date", type = "date" }]

  parquet_input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
  parquet_output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
  parquet_serde         = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
}

resource "aws_glue_catalog_database" "lake" {
  name        = var.glue_database_name
  description = "eventlake: events, duplicates and quarantine tables over ${local.lake_url}"
}

resource "aws_glue_catalog_table" "events" {
  database_name = aws_glue_catalog_database.lake.name
  name          = "events"
  description   = "One row per event_uuid (first committed occurrence): envelope, lineage, declared fields typed, the rest in extra."
  table_type    = "EXTERNAL_TABLE"

  parameters = {
    "EXTERNAL"            = "TRUE"
    "classification"      = "parquet"
    "parquet.compression" = "ZSTD"
  }

  partition_keys {
    name = "event_type"
    type = "string"
  }
  partition_keys {
    name = "date"
    type = "date"
  }

  storage_descriptor {
    location      = "${local.lake_url}/events/"
    input_format  = local.parquet_input_format
    output_format = local.parquet_output_format

    ser_de_info {
      name                  = "parquet"
      serialization_library = local.parquet_serde
      parameters            = { "serialization.format" = "1" }
    }

    dynamic "columns" {
      for_each = local.glue_schema.events
      content {
        name = columns.value.name
        type = columns.value.type
      }
    }
  }

  lifecycle {
    precondition {
      condition     = jsonencode(local.glue_schema.partition_keys) == jsonencode(local.expected_partition_keys)
      error_message = "generated/glue_columns.json partition_keys differ from the (event_type string, date date) keys declared here."
    }
    precondition {
      condition     = length(setintersection([for c in local.glue_schema.events : c.name], ["event_type", "date"])) == 0
      error_message = "generated/glue_columns.json: an events column is also a partition key (Athena rejects that)."
    }
  }
}

resource "aws_glue_catalog_table" "duplicates" {
  database_name = aws_glue_catalog_database.lake.name
  name          = "duplicates"
  description   = "Every dropped duplicate, whole, with a pointer to the original (original_shard_id, original_sequence_number, original_file)."
  table_type    = "EXTERNAL_TABLE"

  parameters = {
    "EXTERNAL"            = "TRUE"
    "classification"      = "parquet"
    "parquet.compression" = "ZSTD"
  }

  partition_keys {
    name = "event_type"
    type = "string"
  }
  partition_keys {
    name = "date"
    type = "date"
  }

  storage_descriptor {
    location      = "${local.lake_url}/duplicates/"
    input_format  = local.parquet_input_format
    output_format = local.parquet_output_format

    ser_de_info {
      name                  = "parquet"
      serialization_library = local.parquet_serde
      parameters            = { "serialization.format" = "1" }
    }

    dynamic "columns" {
      for_each = local.glue_schema.duplicates
      content {
        name = columns.value.name
        type = columns.value.type
      }
    }
  }

  lifecycle {
    precondition {
      condition     = length(setintersection([for c in local.glue_schema.duplicates : c.name], ["event_type", "date"])) == 0
      error_message = "generated/glue_columns.json: a duplicates column is also a partition key (Athena rejects that)."
    }
  }
}

resource "aws_glue_catalog_table" "quarantine" {
  database_name = aws_glue_catalog_database.lake.name
  name          = "quarantine"
  description   = "Every invalid record: raw bytes, reason code, detail and source position. date = arrival date."
  table_type    = "EXTERNAL_TABLE"

  parameters = {
    "EXTERNAL"            = "TRUE"
    "classification"      = "parquet"
    "parquet.compression" = "ZSTD"
  }

  partition_keys {
    name = "date"
    type = "date"
  }

  storage_descriptor {
    location      = "${local.lake_url}/quarantine/"
    input_format  = local.parquet_input_format
    output_format = local.parquet_output_format

    ser_de_info {
      name                  = "parquet"
      serialization_library = local.parquet_serde
      parameters            = { "serialization.format" = "1" }
    }

    dynamic "columns" {
      for_each = local.glue_schema.quarantine
      content {
        name = columns.value.name
        type = columns.value.type
      }
    }
  }

  lifecycle {
    precondition {
      condition     = !contains([for c in local.glue_schema.quarantine : c.name], "date")
      error_message = "generated/glue_columns.json: a quarantine column is named date, the partition key (Athena rejects that)."
    }
  }
}

# --- Optional crawler ------------------------------------------------------------------------
# Off by default. When on, it crawls the three existing tables (catalog targets), only adds
# columns (MergeNewColumns) and lets partitions inherit the table's schema. The function keeps
# registering partitions; the registry-generated schema stays authoritative (the next
# `terraform apply` restores it).

resource "aws_glue_security_configuration" "crawler" {
  count = var.glue_crawler_enabled ? 1 : 0
  name  = "${var.name}-crawler"

  encryption_configuration {
    cloudwatch_encryption {
      cloudwatch_encryption_mode = "SSE-KMS"
      kms_key_arn                = aws_kms_key.main.arn
    }
    job_bookmarks_encryption {
      job_bookmarks_encryption_mode = "CSE-KMS"
      kms_key_arn                   = aws_kms_key.main.arn
    }
    s3_encryption {
      s3_encryption_mode = "SSE-KMS"
      kms_key_arn        = aws_kms_key.main.arn
    }
  }
}

resource "aws_glue_crawler" "lake" {
  count                  = var.glue_crawler_enabled ? 1 : 0
  name                   = "${var.name}-lake"
  role                   = aws_iam_role.crawler[0].arn
  database_name          = aws_glue_catalog_database.lake.name
  schedule               = var.glue_crawler_schedule
  security_configuration = aws_glue_security_configuration.crawler[0].name

  catalog_target {
    database_name = aws_glue_catalog_database.lake.name
    tables = [
      aws_glue_catalog_table.events.name,
      aws_glue_catalog_table.duplicates.name,
      aws_glue_catalog_table.quarantine.name,
    ]
  }

  schema_change_policy {
    delete_behavior = "LOG"
    update_behavior = "UPDATE_IN_DATABASE"
  }

  configuration = jsonencode({
    Version = 1.0
    CrawlerOutput = {
      Partitions = { AddOrUpdateBehavior = "InheritFromTable" }
      Tables     = { AddOrUpdateBehavior = "MergeNewColumns" }
    }
  })
}
