# The lake bucket, and the optional bucket for S3 server access logs. (The Athena results
# bucket, hardened the same way, is in athena.tf.)
#
# Lake object layout under var.lake_prefix (DESIGN.md):
#   events/event_type=<t>/date=<YYYY-MM-DD>/*.parquet
#   duplicates/event_type=<t>/date=<YYYY-MM-DD>/*.parquet
#   quarantine/date=<YYYY-MM-DD>/*.parquet
#   _ledger/...   dedup state: config.json, chain commits, checkpoints, batches/*.manifest

# --- Lake bucket ---------------------------------------------------------------------------

resource "aws_s3_bucket" "lake" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice left to the operator; the lake is versioned and rebuildable from the stream within its retention.
  #checkov:skip=CKV2_AWS_62:No event notifications: nothing consumes object-created events (the function registers partitions in Glue itself, no crawler trigger).
  bucket        = local.lake_bucket
  force_destroy = var.force_destroy_buckets

  lifecycle {
    precondition {
      condition     = length(local.lake_bucket) <= 63
      error_message = "The lake bucket name is longer than 63 characters; shorten var.name or set var.lake_bucket_name."
    }
  }
}

resource "aws_s3_bucket_public_access_block" "lake" {
  bucket                  = aws_s3_bucket.lake.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.main.arn
    }
    # One data key per bucket, not per object: far fewer KMS requests for many small files.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "lake" {
  bucket = aws_s3_bucket.lake.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_policy" "lake" {
  bucket = aws_s3_bucket.lake.id
  policy = data.aws_iam_policy_document.lake_bucket.json

  # The public access block must exist first, or a policy change could race it.
  depends_on = [aws_s3_bucket_public_access_block.lake]
}

data "aws_iam_policy_document" "lake_bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"] # Deny-all for non-TLS requests: a wildcard in a Deny only narrows access.
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    resources = [aws_s3_bucket.lake.arn, "${aws_s3_bucket.lake.arn}/*"]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id

  rule {
    id     = "noncurrent-versions-and-uploads"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
    expiration {
      expired_object_delete_marker = true
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  # Batch manifests are needed only while a retry of their batch can still arrive.
  # The chain commits and checkpoints of the ledger are never expired: dedup depends on them.
  rule {
    id     = "expire-batch-manifests"
    status = "Enabled"
    filter {
      prefix = "${local.lake_prefix}/_ledger/batches/"
    }
    expiration {
      days = var.manifest_expiration_days
    }
  }

  # Optional: old table files to STANDARD_IA (rules stay disabled while the variable is null).
  rule {
    id     = "events-to-standard-ia"
    status = var.transition_to_ia_days == null ? "Disabled" : "Enabled"
    filter {
      prefix = "${local.lake_prefix}/events/"
    }
    transition {
      days          = coalesce(var.transition_to_ia_days, 30)
      storage_class = "STANDARD_IA"
    }
  }

  rule {
    id     = "duplicates-to-standard-ia"
    status = var.transition_to_ia_days == null ? "Disabled" : "Enabled"
    filter {
      prefix = "${local.lake_prefix}/duplicates/"
    }
    transition {
      days          = coalesce(var.transition_to_ia_days, 30)
      storage_class = "STANDARD_IA"
    }
  }

  rule {
    id     = "quarantine-to-standard-ia"
    status = var.transition_to_ia_days == null ? "Disabled" : "Enabled"
    filter {
      prefix = "${local.lake_prefix}/quarantine/"
    }
    transition {
      days          = coalesce(var.transition_to_ia_days, 30)
      storage_class = "STANDARD_IA"
    }
  }

  depends_on = [aws_s3_bucket_versioning.lake]
}

resource "aws_s3_bucket_logging" "lake" {
  count         = var.access_logging_enabled ? 1 : 0
  bucket        = aws_s3_bucket.lake.id
  target_bucket = aws_s3_bucket.access_logs[0].id
  target_prefix = "lake/"
  target_object_key_format {
    partitioned_prefix {
      partition_date_source = "EventTime"
    }
  }
}

# --- Access log bucket (optional) ----------------------------------------------------------

resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_18:This is the access log target; logging it to itself would log its own log deliveries forever.
  #checkov:skip=CKV_AWS_144:Access logs are an audit trail of this region's buckets; cross-region replication is left to the operator.
  #checkov:skip=CKV2_AWS_62:No event notifications: nothing consumes log-delivery events.
  #checkov:skip=CKV_AWS_145:S3 server access log delivery supports only SSE-S3 (AES256) default encryption on the target bucket, not SSE-KMS.
  count         = var.access_logging_enabled ? 1 : 0
  bucket        = local.logs_bucket
  force_destroy = var.force_destroy_buckets

  lifecycle {
    precondition {
      condition     = length(local.logs_bucket) <= 63
      error_message = "The access log bucket name is longer than 63 characters; shorten var.name."
    }
  }
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  count                   = var.access_logging_enabled ? 1 : 0
  bucket                  = aws_s3_bucket.access_logs[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  count  = var.access_logging_enabled ? 1 : 0
  bucket = aws_s3_bucket.access_logs[0].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  count  = var.access_logging_enabled ? 1 : 0
  bucket = aws_s3_bucket.access_logs[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256" # the only default encryption S3 log delivery supports
    }
  }
}

resource "aws_s3_bucket_versioning" "access_logs" {
  count  = var.access_logging_enabled ? 1 : 0
  bucket = aws_s3_bucket.access_logs[0].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  count  = var.access_logging_enabled ? 1 : 0
  bucket = aws_s3_bucket.access_logs[0].id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.access_log_expiration_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.access_logs]
}

resource "aws_s3_bucket_policy" "access_logs" {
  count  = var.access_logging_enabled ? 1 : 0
  bucket = aws_s3_bucket.access_logs[0].id
  policy = data.aws_iam_policy_document.access_logs_bucket[0].json

  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}

data "aws_iam_policy_document" "access_logs_bucket" {
  count = var.access_logging_enabled ? 1 : 0

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"] # Deny-all for non-TLS requests: a wildcard in a Deny only narrows access.
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    resources = [aws_s3_bucket.access_logs[0].arn, "${aws_s3_bucket.access_logs[0].arn}/*"]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  # With BucketOwnerEnforced, log delivery is granted by policy (ACL grants are disabled).
  statement {
    sid     = "S3ServerAccessLogDelivery"
    effect  = "Allow"
    actions = ["s3:PutObject"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    resources = [
      "${aws_s3_bucket.access_logs[0].arn}/lake/*",
      "${aws_s3_bucket.access_logs[0].arn}/athena-results/*",
    ]
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.lake.arn, aws_s3_bucket.athena_results.arn]
    }
  }
}
