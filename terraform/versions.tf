# Terraform and provider pins. The configuration is a root module: run `terraform init`,
# `plan` and `apply` in this directory (see README.md).

terraform {
  # 1.9 is the first release whose variable validations may refer to other variables
  # (used for lease > timeout, manifest expiry > stream retention + lease, and so on).
  required_version = ">= 1.9.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.80, < 6.0"
    }
  }
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = merge({ Project = "eventlake", Stack = var.name }, var.tags)
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  # Lake layout (DESIGN.md): <prefix>/{events,duplicates,quarantine}/... and <prefix>/_ledger/...
  lake_prefix    = var.lake_prefix
  lake_bucket    = coalesce(var.lake_bucket_name, "${var.name}-lake-${local.account_id}-${var.aws_region}")
  results_bucket = coalesce(var.athena_results_bucket_name, "${var.name}-athena-${local.account_id}-${var.aws_region}")
  logs_bucket    = "${var.name}-s3logs-${local.account_id}-${var.aws_region}"
  lake_url       = "s3://${local.lake_bucket}/${local.lake_prefix}"
  table_names    = ["events", "duplicates", "quarantine"]

  function_name  = "${var.name}-ingest"
  log_group_name = "/aws/lambda/${local.function_name}"

  # The lease after which an unfinished claim may be taken over; it must outlive any
  # invocation, so it defaults to the function timeout plus a minute.
  lease_seconds = coalesce(var.lambda_lease_seconds, var.lambda_timeout_seconds + 60)
}
