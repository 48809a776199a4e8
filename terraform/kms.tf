# One customer managed key encrypts everything the stack stores: the Kinesis stream, the lake
# and Athena results buckets, the failure queues, the alarm topic, the function's log group and
# environment, and the optional crawler's output. Rotation is on.
#
# Access is granted in two layers: the key policy below delegates to IAM in this account
# (so the function's role, producers and Athena users are granted by their IAM policies), and
# names the AWS services that use the key on our behalf, each scoped by a condition.

resource "aws_kms_key" "main" {
  description             = "${var.name}: Kinesis stream, lake and Athena results buckets, queues, topic, logs"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.main.key_id
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_111:This is a key policy, not an IAM policy: Resource "*" means this key only, and write actions go to the owning account (IAM-delegated) or scoped services.
  #checkov:skip=CKV_AWS_356:This is a key policy, not an IAM policy: AWS requires Resource "*" in key policies, where it means this key.
  #checkov:skip=CKV_AWS_109:This is a key policy: the account root must keep key administration (PutKeyPolicy, grants) or the key becomes unmanageable.
  # In a key policy, Resource "*" means "this key": AWS requires it (a key policy cannot name
  # other resources). Every statement here therefore uses resources = ["*"].

  statement {
    sid    = "AccountAdministersKeyThroughIam"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
    actions = [
      "kms:CancelKeyDeletion",
      "kms:CreateAlias",
      "kms:CreateGrant",
      "kms:DeleteAlias",
      "kms:DescribeKey",
      "kms:DisableKey",
      "kms:DisableKeyRotation",
      "kms:EnableKey",
      "kms:EnableKeyRotation",
      "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus",
      "kms:ListGrants",
      "kms:ListKeyPolicies",
      "kms:ListKeyRotations",
      "kms:ListResourceTags",
      "kms:PutKeyPolicy",
      "kms:RetireGrant",
      "kms:RevokeGrant",
      "kms:RotateKeyOnDemand",
      "kms:ScheduleKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:UpdateAlias",
      "kms:UpdateKeyDescription",
    ]
    resources = ["*"] # key policy: "*" is this key (required by AWS)
  }

  statement {
    sid    = "AccountUsesKeyThroughIam"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
    actions = [
      "kms:Decrypt",
      "kms:Encrypt",
      "kms:GenerateDataKey",
      "kms:GenerateDataKeyWithoutPlaintext",
      "kms:ReEncryptFrom",
      "kms:ReEncryptTo",
    ]
    resources = ["*"] # key policy: "*" is this key (required by AWS)
  }

  statement {
    sid    = "CloudWatchLogsEncryptsStackLogGroups"
    effect = "Allow"
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    actions = [
      "kms:Decrypt",
      "kms:DescribeKey",
      "kms:Encrypt",
      "kms:GenerateDataKey",
      "kms:GenerateDataKeyWithoutPlaintext",
      "kms:ReEncryptFrom",
      "kms:ReEncryptTo",
    ]
    resources = ["*"] # key policy: "*" is this key (required by AWS)
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}",
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws-glue/crawlers-role/${var.name}-*",
      ]
    }
  }

  statement {
    sid    = "CloudWatchAlarmsPublishToEncryptedTopic"
    effect = "Allow"
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"] # key policy: "*" is this key (required by AWS)
    # No condition here, as in AWS's documented policy for alarms on encrypted topics: who
    # may publish is decided by the topic policy (this account's alarms only).
  }
}
