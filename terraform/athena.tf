# Athena: a workgroup whose results are SSE-KMS encrypted in their own bucket (hardened like
# the lake bucket), and saved queries for the lake's two health metrics.

# --- Results bucket -----------------------------------------------------------------------

resource "aws_s3_bucket" "athena_results" {
  #checkov:skip=CKV_AWS_144:Query results are disposable (expired after var.athena_results_expiration_days); replicating them across regions has no use.
  #checkov:skip=CKV2_AWS_62:No event notifications: nothing consumes query-result events.
  bucket        = local.results_bucket
  force_destroy = var.force_destroy_buckets

  lifecycle {
    precondition {
      condition     = length(local.results_bucket) <= 63
      error_message = "The Athena results bucket name is longer than 63 characters; shorten var.name or set var.athena_results_bucket_name."
    }
  }
}

resource "aws_s3_bucket_public_access_block" "athena_results" {
  bucket                  = aws_s3_bucket.athena_results.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "athena_results" {
  bucket = aws_s3_bucket.athena_results.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "athena_results" {
  bucket = aws_s3_bucket.athena_results.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.main.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "athena_results" {
  bucket = aws_s3_bucket.athena_results.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_policy" "athena_results" {
  bucket = aws_s3_bucket.athena_results.id
  policy = data.aws_iam_policy_document.athena_results_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.athena_results]
}

data "aws_iam_policy_document" "athena_results_bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"] # Deny-all for non-TLS requests: a wildcard in a Deny only narrows access.
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    resources = [aws_s3_bucket.athena_results.arn, "${aws_s3_bucket.athena_results.arn}/*"]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "athena_results" {
  bucket = aws_s3_bucket.athena_results.id

  rule {
    id     = "expire-query-results"
    status = "Enabled"
    filter {}
    expiration {
      days = var.athena_results_expiration_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.athena_results]
}

resource "aws_s3_bucket_logging" "athena_results" {
  count         = var.access_logging_enabled ? 1 : 0
  bucket        = aws_s3_bucket.athena_results.id
  target_bucket = aws_s3_bucket.access_logs[0].id
  target_prefix = "athena-results/"
  target_object_key_format {
    partitioned_prefix {
      partition_date_source = "EventTime"
    }
  }
}

# --- Workgroup ----------------------------------------------------------------------------

resource "aws_athena_workgroup" "lake" {
  name        = var.name
  description = "eventlake queries over ${var.glue_database_name} (partitions registered by the function, no crawler)"
  state       = "ENABLED"

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.athena_bytes_scanned_cutoff

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location       = "s3://${aws_s3_bucket.athena_results.bucket}/results/"
      expected_bucket_owner = local.account_id

      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = aws_kms_key.main.arn
      }
    }
  }
}

# --- Saved queries --------------------------------------------------------------------------

locals {
  athena_db = aws_glue_catalog_database.lake.name
}

resource "aws_athena_named_query" "duplicate_rate_by_day" {
  name        = "${var.name}-duplicate-rate-by-day"
  description = "Per created_at date: events kept, duplicates dropped, and duplicates / (events + duplicates), last 30 days."
  workgroup   = aws_athena_workgroup.lake.id
  database    = local.athena_db
  query       = <<-SQL
    WITH e AS (
      SELECT "date", count(*) AS events
      FROM "${local.athena_db}"."events"
      WHERE "date" >= current_date - INTERVAL '30' DAY
      GROUP BY "date"
    ),
    d AS (
      SELECT "date", count(*) AS duplicates
      FROM "${local.athena_db}"."duplicates"
      WHERE "date" >= current_date - INTERVAL '30' DAY
      GROUP BY "date"
    )
    SELECT
      coalesce(e."date", d."date") AS "date",
      coalesce(e.events, 0) AS events,
      coalesce(d.duplicates, 0) AS duplicates,
      CAST(coalesce(d.duplicates, 0) AS double)
        / nullif(coalesce(e.events, 0) + coalesce(d.duplicates, 0), 0) AS duplicate_rate
    FROM e
    FULL OUTER JOIN d ON e."date" = d."date"
    ORDER BY 1 DESC
  SQL
}

resource "aws_athena_named_query" "quarantine_by_reason" {
  name        = "${var.name}-quarantine-by-reason"
  description = "Quarantined records per reason code (and per arrival date), last 7 days."
  workgroup   = aws_athena_workgroup.lake.id
  database    = local.athena_db
  query       = <<-SQL
    SELECT
      reason,
      count(*) AS records,
      count(DISTINCT "date") AS days,
      min(arrival_time) AS first_seen,
      max(arrival_time) AS last_seen
    FROM "${local.athena_db}"."quarantine"
    WHERE "date" >= current_date - INTERVAL '7' DAY
    GROUP BY reason
    ORDER BY records DESC
  SQL
}
