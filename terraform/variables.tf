# Inputs. Every variable has a type, a description, a default where one is sensible, and a
# validation for what AWS or the pipeline would reject later (or, worse, accept and misbehave).

# --- General -----------------------------------------------------------------------------

variable "aws_region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must look like an AWS region name, e.g. eu-west-1."
  }
}

variable "name" {
  description = "Name prefix for every resource (stream, function, buckets, alarms). Lowercase, short: bucket names append account id and region."
  type        = string
  default     = "eventlake"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name))
    error_message = "name must be 3-24 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags applied to every resource (merged into the provider's default_tags)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.tags : length(k) >= 1 && length(k) <= 128 && length(v) <= 256 && !startswith(lower(k), "aws:")])
    error_message = "tags: keys must be 1-128 characters and not start with aws:, values at most 256 characters."
  }
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the module's KMS key is deleted after `terraform destroy` (7-30 days)."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

variable "force_destroy_buckets" {
  description = "Let `terraform destroy` delete non-empty buckets (every object version). Keep false in production; set true only to tear a test stack down."
  type        = bool
  default     = false
}

# --- Kinesis -----------------------------------------------------------------------------

variable "stream_mode" {
  description = "Kinesis capacity mode: ON_DEMAND (scales itself; default) or PROVISIONED (fixed shard count, cheaper at steady load)."
  type        = string
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["ON_DEMAND", "PROVISIONED"], var.stream_mode)
    error_message = "stream_mode must be ON_DEMAND or PROVISIONED."
  }
}

variable "stream_shard_count" {
  description = "Number of shards when stream_mode = PROVISIONED (ignored for ON_DEMAND). One shard takes 1 MB/s or 1000 records/s in."
  type        = number
  default     = 2

  validation {
    condition     = var.stream_shard_count >= 1 && var.stream_shard_count <= 500 && floor(var.stream_shard_count) == var.stream_shard_count
    error_message = "stream_shard_count must be a whole number between 1 and 500."
  }
}

variable "stream_retention_hours" {
  description = "How long Kinesis keeps records (24-8760 hours). A failed batch can be replayed from the stream only within this window."
  type        = number
  default     = 24

  validation {
    condition     = var.stream_retention_hours >= 24 && var.stream_retention_hours <= 8760 && floor(var.stream_retention_hours) == var.stream_retention_hours
    error_message = "stream_retention_hours must be a whole number between 24 and 8760."
  }
}

# --- Lambda ------------------------------------------------------------------------------

variable "lambda_zip_path" {
  description = "Path (relative to this directory) of the zip built by scripts/build-lambda.sh (cargo lambda build --arm64 -p ingest --features io --bin eventlake-lambda --output-format zip)."
  type        = string
  default     = "../target/lambda/eventlake-lambda/bootstrap.zip"

  validation {
    condition     = endswith(var.lambda_zip_path, ".zip")
    error_message = "lambda_zip_path must point to a .zip file."
  }
}

variable "lambda_memory_mb" {
  description = "Function memory in MB (CPU scales with it; 1769 MB = one full vCPU)."
  type        = number
  default     = 1024

  validation {
    condition     = var.lambda_memory_mb >= 128 && var.lambda_memory_mb <= 10240 && floor(var.lambda_memory_mb) == var.lambda_memory_mb
    error_message = "lambda_memory_mb must be a whole number between 128 and 10240."
  }
}

variable "lambda_timeout_seconds" {
  description = "Function timeout in seconds (max 900). The dedup lease must exceed it."
  type        = number
  default     = 300

  validation {
    condition     = var.lambda_timeout_seconds >= 10 && var.lambda_timeout_seconds <= 900 && floor(var.lambda_timeout_seconds) == var.lambda_timeout_seconds
    error_message = "lambda_timeout_seconds must be a whole number between 10 and 900."
  }
}

variable "lambda_reserved_concurrency" {
  description = "Reserved concurrent executions: -1 = unreserved (default), 0 = paused (records wait in the stream, up to its retention), N = cap. Kinesis needs shards x parallelization_factor at most."
  type        = number
  default     = -1

  validation {
    condition     = var.lambda_reserved_concurrency >= -1 && floor(var.lambda_reserved_concurrency) == var.lambda_reserved_concurrency
    error_message = "lambda_reserved_concurrency must be -1 (unreserved) or a whole number >= 0."
  }
}

variable "lambda_lease_seconds" {
  description = "EVENTLAKE_LEASE_SECONDS: after this long an unfinished claim may be taken over by a later occurrence. Must exceed the function timeout. null = timeout + 60."
  type        = number
  default     = null

  validation {
    condition     = var.lambda_lease_seconds == null ? true : (var.lambda_lease_seconds > var.lambda_timeout_seconds && floor(var.lambda_lease_seconds) == var.lambda_lease_seconds)
    error_message = "lambda_lease_seconds must be a whole number greater than lambda_timeout_seconds (a lease shorter than an invocation lets two writers claim the same event)."
  }
}

variable "ledger_buckets" {
  description = "EVENTLAKE_LEDGER_BUCKETS: dedup ledger chains per date (hash buckets of event_uuid). Fixed when the lake is first written (_ledger/config.json); changing it later has no effect on an existing lake."
  type        = number
  default     = 64

  validation {
    condition     = var.ledger_buckets >= 1 && var.ledger_buckets <= 4096 && floor(var.ledger_buckets) == var.ledger_buckets
    error_message = "ledger_buckets must be a whole number between 1 and 4096."
  }
}

variable "log_level" {
  description = "RUST_LOG for the function: a level (error, warn, info, debug, trace) or a tracing filter such as \"info,aws_config=warn\"."
  type        = string
  default     = "info"

  validation {
    condition     = can(regex("^[A-Za-z0-9_:=,.-]+$", var.log_level))
    error_message = "log_level must be a level or a RUST_LOG filter (letters, digits, _ : = , . -)."
  }
}

variable "log_retention_days" {
  description = "Retention of the function's CloudWatch log group, in days (one of the values CloudWatch accepts)."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "xray_tracing_enabled" {
  description = "Turn on AWS X-Ray active tracing for the function (adds xray:PutTraceSegments/PutTelemetryRecords to its role)."
  type        = bool
  default     = false
}

# --- Event source mapping -----------------------------------------------------------------

variable "event_source_enabled" {
  description = "Whether the Kinesis -> Lambda event source mapping polls (false pauses ingestion; records wait in the stream)."
  type        = bool
  default     = true
}

variable "batch_size" {
  description = "Maximum records per invocation (1-10000). Larger batches mean fewer, larger Parquet files and fewer S3 requests per event."
  type        = number
  default     = 10000

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000 && floor(var.batch_size) == var.batch_size
    error_message = "batch_size must be a whole number between 1 and 10000 (the Kinesis event source maximum)."
  }
}

variable "maximum_batching_window_seconds" {
  description = "How long Lambda gathers records before invoking (0-300 s): rows reach the lake up to this much later, in fewer, larger files (at 1M events/hour on 4 shards, 60 s makes about half the files and S3 requests of 30 s; BENCHMARKS.md, Cost)."
  type        = number
  default     = 60

  validation {
    condition     = var.maximum_batching_window_seconds >= 0 && var.maximum_batching_window_seconds <= 300 && floor(var.maximum_batching_window_seconds) == var.maximum_batching_window_seconds
    error_message = "maximum_batching_window_seconds must be a whole number between 0 and 300."
  }
}

variable "parallelization_factor" {
  description = "Concurrent batches per shard (1-10). Safe with the dedup ledger (concurrent writers are part of its guarantee)."
  type        = number
  default     = 1

  validation {
    condition     = var.parallelization_factor >= 1 && var.parallelization_factor <= 10 && floor(var.parallelization_factor) == var.parallelization_factor
    error_message = "parallelization_factor must be a whole number between 1 and 10."
  }
}

variable "maximum_retry_attempts" {
  description = "Retries of a failing batch before its metadata goes to the failure queue (0-10000; unbounded -1 is not allowed, so a poison batch cannot block a shard until the records expire)."
  type        = number
  default     = 10

  validation {
    condition     = var.maximum_retry_attempts >= 0 && var.maximum_retry_attempts <= 10000 && floor(var.maximum_retry_attempts) == var.maximum_retry_attempts
    error_message = "maximum_retry_attempts must be a whole number between 0 and 10000."
  }
}

variable "maximum_record_age_seconds" {
  description = "Records older than this are not retried further; their batch goes to the failure queue (60-604800 s). Must leave time to replay from the stream before retention ends."
  type        = number
  default     = 21600

  validation {
    condition     = var.maximum_record_age_seconds >= 60 && var.maximum_record_age_seconds <= 604800 && var.maximum_record_age_seconds < var.stream_retention_hours * 3600
    error_message = "maximum_record_age_seconds must be between 60 and 604800 and shorter than the stream retention, so a failed batch can still be replayed from the stream."
  }
}

variable "failure_queue_retention_seconds" {
  description = "How long the on-failure queue (and its DLQ) keep failed-batch records (60 s - 14 days)."
  type        = number
  default     = 1209600

  validation {
    condition     = var.failure_queue_retention_seconds >= 60 && var.failure_queue_retention_seconds <= 1209600
    error_message = "failure_queue_retention_seconds must be between 60 and 1209600 (14 days)."
  }
}

variable "failure_queue_max_receive_count" {
  description = "Receives of a failure-queue message before SQS moves it to the failure DLQ."
  type        = number
  default     = 5

  validation {
    condition     = var.failure_queue_max_receive_count >= 1 && var.failure_queue_max_receive_count <= 1000
    error_message = "failure_queue_max_receive_count must be between 1 and 1000."
  }
}

# --- S3 lake ------------------------------------------------------------------------------

variable "lake_bucket_name" {
  description = "Name of the lake bucket. null = \"<name>-lake-<account>-<region>\"."
  type        = string
  default     = null

  validation {
    condition     = var.lake_bucket_name == null ? true : can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.lake_bucket_name))
    error_message = "lake_bucket_name must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)."
  }
}

variable "lake_prefix" {
  description = "Key prefix of the lake inside the bucket (EVENTLAKE_LAKE_URL = s3://<bucket>/<prefix>). No leading or trailing slash."
  type        = string
  default     = "lake"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$", var.lake_prefix))
    error_message = "lake_prefix must be one or more segments of letters, digits, _ or -, separated by single slashes, with no leading or trailing slash."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent (overwritten or deleted) object versions are removed from the lake bucket."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be at least 1."
  }
}

variable "manifest_expiration_days" {
  description = "Days after which batch manifests (<prefix>/_ledger/batches/) expire. A retry can arrive while its records are in the stream, plus a lease, so this must exceed stream retention + lease."
  type        = number
  default     = 14

  validation {
    condition = (
      floor(var.manifest_expiration_days) == var.manifest_expiration_days &&
      var.manifest_expiration_days * 86400 > var.stream_retention_hours * 3600 + coalesce(var.lambda_lease_seconds, var.lambda_timeout_seconds + 60)
    )
    error_message = "manifest_expiration_days must be a whole number of days longer than stream_retention_hours plus the lease (a manifest must outlive every possible retry of its batch)."
  }
}

variable "transition_to_ia_days" {
  description = "Move table files (events, duplicates, quarantine) to STANDARD_IA after this many days; null = never. IA bills at least 128 KB per object and per-GB retrieval, so use it only for large, rarely read partitions."
  type        = number
  default     = null

  validation {
    condition     = var.transition_to_ia_days == null ? true : var.transition_to_ia_days >= 30
    error_message = "transition_to_ia_days must be null or at least 30 (the S3 minimum for STANDARD_IA)."
  }
}

variable "access_logging_enabled" {
  description = "Write S3 server access logs of the lake and Athena results buckets to a separate, hardened log bucket."
  type        = bool
  default     = false
}

variable "access_log_expiration_days" {
  description = "Days S3 server access logs are kept in the log bucket."
  type        = number
  default     = 365

  validation {
    condition     = var.access_log_expiration_days >= 1
    error_message = "access_log_expiration_days must be at least 1."
  }
}

# --- Glue / Athena ------------------------------------------------------------------------

variable "glue_database_name" {
  description = "Glue Data Catalog database holding the events, duplicates and quarantine tables."
  type        = string
  default     = "eventlake"

  validation {
    condition     = can(regex("^[a-z0-9_]{1,255}$", var.glue_database_name))
    error_message = "glue_database_name must be lowercase letters, digits and underscores (Athena-friendly)."
  }
}

variable "glue_crawler_enabled" {
  description = "Create a Glue crawler over the three tables (off by default: the registry-generated schema and the partitions the function registers need no crawler)."
  type        = bool
  default     = false
}

variable "glue_crawler_schedule" {
  description = "Schedule of the optional crawler (a cron() expression), or null for on-demand runs only."
  type        = string
  default     = null

  validation {
    condition     = var.glue_crawler_schedule == null ? true : can(regex("^cron\\(.+\\)$", var.glue_crawler_schedule))
    error_message = "glue_crawler_schedule must be null or a cron(...) expression."
  }
}

variable "athena_results_bucket_name" {
  description = "Name of the Athena results bucket. null = \"<name>-athena-<account>-<region>\"."
  type        = string
  default     = null

  validation {
    condition     = var.athena_results_bucket_name == null ? true : can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.athena_results_bucket_name))
    error_message = "athena_results_bucket_name must be a valid S3 bucket name."
  }
}

variable "athena_results_expiration_days" {
  description = "Days Athena query results are kept."
  type        = number
  default     = 30

  validation {
    condition     = var.athena_results_expiration_days >= 1
    error_message = "athena_results_expiration_days must be at least 1."
  }
}

variable "athena_bytes_scanned_cutoff" {
  description = "Per-query data scan limit of the workgroup, in bytes (Athena bills per TB scanned). null = no limit."
  type        = number
  default     = 107374182400 # 100 GiB

  validation {
    condition     = var.athena_bytes_scanned_cutoff == null ? true : var.athena_bytes_scanned_cutoff >= 10485760
    error_message = "athena_bytes_scanned_cutoff must be null or at least 10485760 (10 MB, the Athena minimum)."
  }
}

# --- Monitoring ---------------------------------------------------------------------------

variable "alarm_topic_enabled" {
  description = "Create a KMS-encrypted SNS topic that every alarm notifies."
  type        = bool
  default     = true
}

variable "alarm_email_addresses" {
  description = "E-mail addresses subscribed to the alarm topic (each must confirm the subscription)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.alarm_email_addresses : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "alarm_email_addresses must be e-mail addresses."
  }
}

variable "alarm_action_arns" {
  description = "Extra alarm action ARNs (existing SNS topics, etc.) in addition to the module's topic."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.alarm_action_arns : can(regex("^arn:aws[a-z-]*:", a))])
    error_message = "alarm_action_arns must be ARNs."
  }
}

variable "iterator_age_alarm_seconds" {
  description = "Alarm when the oldest unread record in the stream is older than this (GetRecords.IteratorAgeMilliseconds maximum)."
  type        = number
  default     = 900

  validation {
    condition     = var.iterator_age_alarm_seconds >= 60 && var.iterator_age_alarm_seconds < var.stream_retention_hours * 3600
    error_message = "iterator_age_alarm_seconds must be at least 60 and shorter than the stream retention (records older than that are already lost)."
  }
}

variable "lambda_errors_alarm_threshold" {
  description = "Alarm when function errors in 5 minutes exceed this, for 2 of 3 periods."
  type        = number
  default     = 0

  validation {
    condition     = var.lambda_errors_alarm_threshold >= 0
    error_message = "lambda_errors_alarm_threshold must be >= 0."
  }
}

variable "quarantine_rate_alarm_threshold" {
  description = "Alarm when Quarantined / RecordsIn (EMF metrics) over 5 minutes exceeds this fraction, for 3 periods."
  type        = number
  default     = 0.01

  validation {
    condition     = var.quarantine_rate_alarm_threshold > 0 && var.quarantine_rate_alarm_threshold <= 1
    error_message = "quarantine_rate_alarm_threshold must be a fraction in (0, 1]."
  }
}
