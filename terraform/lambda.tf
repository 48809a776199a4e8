# The ingest function, its log group, the Kinesis event source mapping and the on-failure
# queue that keeps a record of every batch Lambda gave up on (so no batch vanishes silently).

resource "aws_cloudwatch_log_group" "lambda" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_lambda_function" "ingest" {
  #checkov:skip=CKV_AWS_116:A DLQ only covers asynchronous invokes; this function is invoked synchronously by the Kinesis event source mapping, whose on_failure destination is the failure queue.
  #checkov:skip=CKV_AWS_117:No VPC: the function talks only to S3, Kinesis, KMS, SQS and CloudWatch over TLS with IAM auth; a VPC would add NAT or endpoint cost and no private resource.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile and a signed S3 artifact; the zip is built and deployed by this repository's own pipeline.
  #checkov:skip=CKV_AWS_50:X-Ray is optional by design (var.xray_tracing_enabled); the function reports EMF metrics and structured logs.
  function_name = local.function_name
  description   = "eventlake ingest: Kinesis batches -> deduplicated Hive-partitioned Parquet in ${local.lake_url}"
  role          = aws_iam_role.lambda.arn

  # Built by scripts/build-lambda.sh: cargo lambda build --profile dist --arm64 -p ingest --features io --bin eventlake-lambda --output-format zip
  filename         = var.lambda_zip_path
  source_code_hash = filebase64sha256(var.lambda_zip_path)
  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  handler          = "bootstrap"

  memory_size                    = var.lambda_memory_mb
  timeout                        = var.lambda_timeout_seconds
  reserved_concurrent_executions = var.lambda_reserved_concurrency

  kms_key_arn = aws_kms_key.main.arn # encrypts the environment at rest

  environment {
    variables = {
      EVENTLAKE_LAKE_URL       = local.lake_url
      EVENTLAKE_LEASE_SECONDS  = tostring(local.lease_seconds)
      EVENTLAKE_LEDGER_BUCKETS = tostring(var.ledger_buckets)
      EVENTLAKE_GLUE_DATABASE  = aws_glue_catalog_database.lake.name
      RUST_LOG                 = var.log_level
    }
  }

  logging_config {
    log_format = "Text" # EMF metric lines are printed as JSON on stdout and extracted as they are
    log_group  = aws_cloudwatch_log_group.lambda.name
  }

  tracing_config {
    mode = var.xray_tracing_enabled ? "Active" : "PassThrough"
  }

  lifecycle {
    precondition {
      condition     = local.lease_seconds > var.lambda_timeout_seconds
      error_message = "EVENTLAKE_LEASE_SECONDS must exceed the function timeout, or a claim could be taken over while its writer is still running."
    }
  }

  # The role's policy and the log group must exist before the first invocation.
  depends_on = [aws_iam_role_policy.lambda, aws_cloudwatch_log_group.lambda]
}

resource "aws_lambda_event_source_mapping" "kinesis" {
  event_source_arn  = aws_kinesis_stream.events.arn
  function_name     = aws_lambda_function.ingest.arn
  enabled           = var.event_source_enabled
  starting_position = "TRIM_HORIZON"

  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.maximum_batching_window_seconds
  parallelization_factor             = var.parallelization_factor

  # Partial batch responses: the handler reports the lowest failed sequence number and Lambda
  # retries from there. On a function error Lambda splits the batch in two (bisect) and
  # retries each half. Retries are bounded in count and record age; after that the batch's
  # shard and sequence range goes to the failure queue (the records stay in the stream until
  # its retention ends, for a replay).
  function_response_types        = ["ReportBatchItemFailures"]
  bisect_batch_on_function_error = true
  maximum_retry_attempts         = var.maximum_retry_attempts
  maximum_record_age_in_seconds  = var.maximum_record_age_seconds

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.failures.arn
    }
  }

  # Lambda checks the role's stream and queue permissions when the mapping is created.
  depends_on = [aws_iam_role_policy.lambda]
}

# --- On-failure destination ----------------------------------------------------------------

resource "aws_sqs_queue" "failures" {
  name                              = "${var.name}-ingest-failures"
  message_retention_seconds         = var.failure_queue_retention_seconds
  kms_master_key_id                 = aws_kms_key.main.arn
  kms_data_key_reuse_period_seconds = 300

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.failures_dlq.arn
    maxReceiveCount     = var.failure_queue_max_receive_count
  })
}

resource "aws_sqs_queue" "failures_dlq" {
  name                              = "${var.name}-ingest-failures-dlq"
  message_retention_seconds         = 1209600 # 14 days, the SQS maximum
  kms_master_key_id                 = aws_kms_key.main.arn
  kms_data_key_reuse_period_seconds = 300
}

resource "aws_sqs_queue_redrive_allow_policy" "failures_dlq" {
  queue_url = aws_sqs_queue.failures_dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.failures.arn]
  })
}

resource "aws_sqs_queue_policy" "failures" {
  queue_url = aws_sqs_queue.failures.id
  policy    = data.aws_iam_policy_document.failures_queue.json
}

resource "aws_sqs_queue_policy" "failures_dlq" {
  queue_url = aws_sqs_queue.failures_dlq.id
  policy    = data.aws_iam_policy_document.failures_dlq_queue.json
}

data "aws_iam_policy_document" "failures_queue" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["sqs:*"] # Deny-all for non-TLS requests: a wildcard in a Deny only narrows access.
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    resources = [aws_sqs_queue.failures.arn]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

data "aws_iam_policy_document" "failures_dlq_queue" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["sqs:*"] # Deny-all for non-TLS requests: a wildcard in a Deny only narrows access.
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    resources = [aws_sqs_queue.failures_dlq.arn]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}
