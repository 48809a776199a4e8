# Alarms, the optional alarm topic, and a dashboard. The function publishes its own metrics
# as CloudWatch Embedded Metric Format lines: namespace "eventlake", dimension FunctionName,
# metrics RecordsIn, Written, Duplicates, Quarantined, Files, Bytes, LedgerConflicts, DurationMs.

locals {
  emf_namespace = "eventlake"
  emf_dimension = { FunctionName = aws_lambda_function.ingest.function_name }

  alarm_actions = concat(
    var.alarm_topic_enabled ? [aws_sns_topic.alarms[0].arn] : [],
    var.alarm_action_arns,
  )
}

# --- Alarm topic (optional) -----------------------------------------------------------------

resource "aws_sns_topic" "alarms" {
  count             = var.alarm_topic_enabled ? 1 : 0
  name              = "${var.name}-alarms"
  kms_master_key_id = aws_kms_key.main.arn
}

resource "aws_sns_topic_policy" "alarms" {
  count  = var.alarm_topic_enabled ? 1 : 0
  arn    = aws_sns_topic.alarms[0].arn
  policy = data.aws_iam_policy_document.alarms_topic[0].json
}

data "aws_iam_policy_document" "alarms_topic" {
  count = var.alarm_topic_enabled ? 1 : 0

  statement {
    sid     = "CloudWatchAlarmsPublish"
    effect  = "Allow"
    actions = ["sns:Publish"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    resources = [aws_sns_topic.alarms[0].arn]
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${var.name}-*"]
    }
  }

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["sns:Publish"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    resources = [aws_sns_topic.alarms[0].arn]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sns_topic_subscription" "alarm_email" {
  for_each  = var.alarm_topic_enabled ? toset(var.alarm_email_addresses) : toset([])
  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email"
  endpoint  = each.value
}

# --- Alarms -------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "iterator_age" {
  alarm_name          = "${var.name}-stream-iterator-age"
  alarm_description   = "The oldest unread record in ${aws_kinesis_stream.events.name} is older than ${var.iterator_age_alarm_seconds} s: ingestion is falling behind (records expire after ${var.stream_retention_hours} h)."
  namespace           = "AWS/Kinesis"
  metric_name         = "GetRecords.IteratorAgeMilliseconds"
  dimensions          = { StreamName = aws_kinesis_stream.events.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 5
  threshold           = var.iterator_age_alarm_seconds * 1000
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  alarm_name          = "${var.name}-ingest-errors"
  alarm_description   = "The ingest function failed invocations (Lambda retries, bisects, then sends the batch to the failure queue)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.ingest.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = var.lambda_errors_alarm_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "lambda_throttles" {
  alarm_name          = "${var.name}-ingest-throttles"
  alarm_description   = "The ingest function is throttled (account or reserved concurrency): ingestion slows down."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = aws_lambda_function.ingest.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "failure_queue" {
  alarm_name          = "${var.name}-ingest-failed-batches"
  alarm_description   = "Lambda gave up on at least one batch; its shard and sequence range is in ${aws_sqs_queue.failures.name}. Replay it before the stream's retention ends."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.failures.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "quarantine_rate" {
  alarm_name          = "${var.name}-quarantine-rate"
  alarm_description   = "More than ${var.quarantine_rate_alarm_threshold * 100}% of incoming records are quarantined (Quarantined / RecordsIn): a producer sends invalid events."
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  threshold           = var.quarantine_rate_alarm_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "rate"
    expression  = "IF(records_in > 0, quarantined / records_in, 0)"
    label       = "Quarantine rate"
    return_data = true
  }

  metric_query {
    id = "quarantined"
    metric {
      namespace   = local.emf_namespace
      metric_name = "Quarantined"
      dimensions  = local.emf_dimension
      stat        = "Sum"
      period      = 300
    }
  }

  metric_query {
    id = "records_in"
    metric {
      namespace   = local.emf_namespace
      metric_name = "RecordsIn"
      dimensions  = local.emf_dimension
      stat        = "Sum"
      period      = 300
    }
  }
}

# --- Dashboard ----------------------------------------------------------------------------

locals {
  fn = aws_lambda_function.ingest.function_name

  emf_widget = {
    for title, spec in {
      "Records: in, written, duplicates, quarantined" = { metrics = ["RecordsIn", "Written", "Duplicates", "Quarantined"], stat = "Sum" }
      "Files written"                                 = { metrics = ["Files"], stat = "Sum" }
      "Bytes written"                                 = { metrics = ["Bytes"], stat = "Sum" }
      "Ledger commit conflicts"                       = { metrics = ["LedgerConflicts"], stat = "Sum" }
      "Batch duration (ms)"                           = { metrics = ["DurationMs"], stat = "Average" }
      } : title => {
      type   = "metric"
      width  = 12
      height = 6
      properties = {
        title   = title
        region  = local.region
        view    = "timeSeries"
        stacked = false
        period  = 300
        stat    = spec.stat
        metrics = [for m in spec.metrics : [local.emf_namespace, m, "FunctionName", local.fn]]
      }
    }
  }

  dashboard_widgets = concat(
    [
      {
        type   = "metric"
        width  = 12
        height = 6
        properties = {
          title  = "Kinesis: incoming records and iterator age"
          region = local.region
          view   = "timeSeries"
          period = 60
          metrics = [
            ["AWS/Kinesis", "IncomingRecords", "StreamName", aws_kinesis_stream.events.name, { stat = "Sum" }],
            ["AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", "StreamName", aws_kinesis_stream.events.name, { stat = "Maximum", yAxis = "right" }],
          ]
        }
      },
      {
        type   = "metric"
        width  = 12
        height = 6
        properties = {
          title  = "Lambda: invocations, errors, throttles, concurrency"
          region = local.region
          view   = "timeSeries"
          period = 60
          metrics = [
            ["AWS/Lambda", "Invocations", "FunctionName", local.fn, { stat = "Sum" }],
            ["AWS/Lambda", "Errors", "FunctionName", local.fn, { stat = "Sum" }],
            ["AWS/Lambda", "Throttles", "FunctionName", local.fn, { stat = "Sum" }],
            ["AWS/Lambda", "ConcurrentExecutions", "FunctionName", local.fn, { stat = "Maximum", yAxis = "right" }],
          ]
        }
      },
      {
        type   = "metric"
        width  = 12
        height = 6
        properties = {
          title  = "Lambda: duration and iterator age (ms)"
          region = local.region
          view   = "timeSeries"
          period = 60
          metrics = [
            ["AWS/Lambda", "Duration", "FunctionName", local.fn, { stat = "p99" }],
            ["AWS/Lambda", "IteratorAge", "FunctionName", local.fn, { stat = "Maximum", yAxis = "right" }],
          ]
        }
      },
      {
        type   = "metric"
        width  = 12
        height = 6
        properties = {
          title  = "Quarantine rate (Quarantined / RecordsIn)"
          region = local.region
          view   = "timeSeries"
          period = 300
          metrics = [
            [{ expression = "IF(m_in > 0, m_q / m_in, 0)", label = "quarantine rate", id = "rate" }],
            [local.emf_namespace, "Quarantined", "FunctionName", local.fn, { id = "m_q", stat = "Sum", visible = false }],
            [local.emf_namespace, "RecordsIn", "FunctionName", local.fn, { id = "m_in", stat = "Sum", visible = false }],
          ]
        }
      },
      {
        type   = "metric"
        width  = 12
        height = 6
        properties = {
          title  = "Failed batches (on-failure queue)"
          region = local.region
          view   = "timeSeries"
          period = 300
          metrics = [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.failures.name, { stat = "Maximum" }],
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.failures_dlq.name, { stat = "Maximum" }],
          ]
        }
      },
    ],
    values(local.emf_widget),
    [
      {
        type   = "alarm"
        width  = 24
        height = 4
        properties = {
          title = "Alarms"
          alarms = [
            aws_cloudwatch_metric_alarm.iterator_age.arn,
            aws_cloudwatch_metric_alarm.lambda_errors.arn,
            aws_cloudwatch_metric_alarm.lambda_throttles.arn,
            aws_cloudwatch_metric_alarm.failure_queue.arn,
            aws_cloudwatch_metric_alarm.quarantine_rate.arn,
          ]
        }
      },
    ],
  )
}

resource "aws_cloudwatch_dashboard" "main" {
  dashboard_name = var.name
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
