# The input stream. Producers put JSON events (event_uuid, event_name, created_at, ...);
# they need kinesis:PutRecord(s) on the stream and kms:GenerateDataKey on the key (output
# kms_key_arn), granted by their own IAM policies.

resource "aws_kinesis_stream" "events" {
  name             = "${var.name}-events"
  retention_period = var.stream_retention_hours
  # Shard count only applies to PROVISIONED mode; ON_DEMAND scales shards itself.
  shard_count = var.stream_mode == "PROVISIONED" ? var.stream_shard_count : null

  stream_mode_details {
    stream_mode = var.stream_mode
  }

  encryption_type = "KMS"
  kms_key_id      = aws_kms_key.main.arn

  # Stream-level metrics (incl. GetRecords.IteratorAgeMilliseconds) are free; shard-level
  # enhanced metrics are billed per shard and are not enabled.
}
