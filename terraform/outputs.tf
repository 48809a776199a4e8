output "stream_name" {
  description = "Kinesis stream producers put events on."
  value       = aws_kinesis_stream.events.name
}

output "stream_arn" {
  description = "ARN of the Kinesis stream (producers need kinesis:PutRecord/PutRecords on it)."
  value       = aws_kinesis_stream.events.arn
}

output "kms_key_arn" {
  description = "The stack's KMS key (producers need kms:GenerateDataKey on it; Athena users kms:Decrypt)."
  value       = aws_kms_key.main.arn
}

output "lake_bucket" {
  description = "S3 bucket holding the lake."
  value       = aws_s3_bucket.lake.bucket
}

output "lake_url" {
  description = "The lake's root URL (EVENTLAKE_LAKE_URL; also what lakeq and DuckDB read)."
  value       = local.lake_url
}

output "function_name" {
  description = "Name of the ingest Lambda function."
  value       = aws_lambda_function.ingest.function_name
}

output "function_arn" {
  description = "ARN of the ingest Lambda function."
  value       = aws_lambda_function.ingest.arn
}

output "log_group_name" {
  description = "CloudWatch log group of the function (logs and EMF metrics)."
  value       = aws_cloudwatch_log_group.lambda.name
}

output "failure_queue_url" {
  description = "SQS queue receiving the shard and sequence range of every batch Lambda gave up on."
  value       = aws_sqs_queue.failures.url
}

output "glue_database" {
  description = "Glue database of the lake's tables."
  value       = aws_glue_catalog_database.lake.name
}

output "glue_tables" {
  description = "Glue tables by name (events, duplicates, quarantine)."
  value = {
    events     = "${aws_glue_catalog_database.lake.name}.${aws_glue_catalog_table.events.name}"
    duplicates = "${aws_glue_catalog_database.lake.name}.${aws_glue_catalog_table.duplicates.name}"
    quarantine = "${aws_glue_catalog_database.lake.name}.${aws_glue_catalog_table.quarantine.name}"
  }
}

output "athena_workgroup" {
  description = "Athena workgroup to query the lake with (results SSE-KMS encrypted)."
  value       = aws_athena_workgroup.lake.name
}

output "athena_results_bucket" {
  description = "S3 bucket of the workgroup's query results."
  value       = aws_s3_bucket.athena_results.bucket
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms notify (null when alarm_topic_enabled = false)."
  value       = var.alarm_topic_enabled ? aws_sns_topic.alarms[0].arn : null
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the pipeline."
  value       = aws_cloudwatch_dashboard.main.dashboard_name
}
