# Least-privilege roles. Each statement lists only the actions its principal calls, on exact
# resource ARNs. Resource "*" appears only where AWS offers no resource-level permission, and
# each such case is commented.

# --- Ingest function ----------------------------------------------------------------------

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "lambda" {
  name               = "${var.name}-ingest"
  description        = "eventlake ingest function: read the stream, write the lake"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

resource "aws_iam_role_policy" "lambda" {
  name   = "${var.name}-ingest"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.lambda.json
}

data "aws_iam_policy_document" "lambda" {
  # The event source mapping reads the stream with the function's role. (kinesis:ListStreams,
  # the only Kinesis read that needs Resource "*", is not used by the mapping and not granted.)
  statement {
    sid    = "ReadStream"
    effect = "Allow"
    actions = [
      "kinesis:DescribeStream",
      "kinesis:DescribeStreamSummary",
      "kinesis:GetRecords",
      "kinesis:GetShardIterator",
      "kinesis:ListShards",
    ]
    resources = [aws_kinesis_stream.events.arn]
  }

  # Data files, duplicates, quarantine and the ledger: read (GET/HEAD) and create (PUT,
  # conditional If-None-Match). The function never deletes objects.
  statement {
    sid       = "ReadWriteLakeObjects"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${aws_s3_bucket.lake.arn}/${local.lake_prefix}/*"]
  }

  # The ledger lists its chain folders (new commit versions, checkpoints); listing is limited
  # to the ledger and the table prefixes.
  statement {
    sid       = "ListLakePrefixes"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.lake.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values = concat(
        ["${local.lake_prefix}/_ledger/*"],
        [for t in local.table_names : "${local.lake_prefix}/${t}/*"],
      )
    }
  }

  # Every new partition is registered before the batch writing into it commits (Athena plans
  # from the catalog's partitions): the table's storage descriptor once per container, then
  # partitions created (never updated or deleted). Glue authorizes a table call on the
  # catalog, the database and the table.
  statement {
    sid     = "RegisterPartitions"
    effect  = "Allow"
    actions = ["glue:GetTable", "glue:BatchCreatePartition"]
    resources = [
      "arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog",
      aws_glue_catalog_database.lake.arn,
      aws_glue_catalog_table.events.arn,
      aws_glue_catalog_table.duplicates.arn,
      aws_glue_catalog_table.quarantine.arn,
    ]
  }

  # SSE-KMS objects (GenerateDataKey on PUT, Decrypt on GET), the encrypted stream (Decrypt)
  # and the encrypted failure queue (GenerateDataKey + Decrypt on SendMessage).
  statement {
    sid       = "UseStackKey"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
  }

  # The event source mapping sends the record of a failed batch to the on-failure queue.
  statement {
    sid       = "SendFailedBatchRecords"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.failures.arn]
  }

  # Logs (and EMF metrics, which CloudWatch extracts from the log events). The log group is
  # created by Terraform, so logs:CreateLogGroup is not granted.
  statement {
    sid       = "WriteLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda.arn}:*"]
  }

  dynamic "statement" {
    for_each = var.xray_tracing_enabled ? [1] : []
    content {
      sid     = "WriteTraces"
      effect  = "Allow"
      actions = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
      # X-Ray has no resource-level permissions for these actions: AWS requires Resource "*".
      resources = ["*"]
    }
  }
}

# --- Optional Glue crawler ----------------------------------------------------------------

data "aws_iam_policy_document" "crawler_assume" {
  count = var.glue_crawler_enabled ? 1 : 0
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["glue.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "crawler" {
  count              = var.glue_crawler_enabled ? 1 : 0
  name               = "${var.name}-glue-crawler"
  description        = "eventlake Glue crawler: read the table prefixes, update the three tables"
  assume_role_policy = data.aws_iam_policy_document.crawler_assume[0].json
}

resource "aws_iam_role_policy" "crawler" {
  count  = var.glue_crawler_enabled ? 1 : 0
  name   = "${var.name}-glue-crawler"
  role   = aws_iam_role.crawler[0].id
  policy = data.aws_iam_policy_document.crawler[0].json
}

data "aws_iam_policy_document" "crawler" {
  count = var.glue_crawler_enabled ? 1 : 0

  statement {
    sid       = "ReadTableObjects"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = [for t in local.table_names : "${aws_s3_bucket.lake.arn}/${local.lake_prefix}/${t}/*"]
  }

  statement {
    sid       = "ListTablePrefixes"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.lake.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = flatten([for t in local.table_names : ["${local.lake_prefix}/${t}", "${local.lake_prefix}/${t}/*"]])
    }
  }

  # Decrypt the lake's objects; Encrypt/GenerateDataKey for its KMS-encrypted logs.
  statement {
    sid       = "UseStackKey"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
  }

  statement {
    sid    = "UpdateLakeTables"
    effect = "Allow"
    actions = [
      "glue:BatchCreatePartition",
      "glue:BatchGetPartition",
      "glue:BatchUpdatePartition",
      "glue:CreatePartition",
      "glue:GetDatabase",
      "glue:GetPartition",
      "glue:GetPartitions",
      "glue:GetTable",
      "glue:GetTables",
      "glue:UpdatePartition",
      "glue:UpdateTable",
    ]
    resources = concat(
      [
        "arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog",
        aws_glue_catalog_database.lake.arn,
      ],
      [for t in local.table_names : "arn:${local.partition}:glue:${local.region}:${local.account_id}:table/${aws_glue_catalog_database.lake.name}/${t}"],
    )
  }

  # With a security configuration that encrypts CloudWatch logs, Glue writes to
  # /aws-glue/crawlers-role/<role>-<security configuration> and associates the key with it.
  statement {
    sid    = "WriteCrawlerLogs"
    effect = "Allow"
    actions = [
      "logs:AssociateKmsKey",
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:PutLogEvents",
    ]
    resources = [
      "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws-glue/crawlers-role/${var.name}-*",
      "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws-glue/crawlers-role/${var.name}-*:*",
    ]
  }
}
