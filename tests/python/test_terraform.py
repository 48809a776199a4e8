"""terraform/: checkov finds nothing, the wiring the pipeline's guarantees depend on is there,
and the Glue columns are not stale.

Run from the repository root: .venv/bin/python -m pytest tests/python/test_terraform.py -q

No Terraform binary or AWS account is needed. checkov runs from its own venv (.venv/checkov,
built on first use from terraform/requirements-checkov.txt; see terraform_tools.py). The
staleness test needs target/debug/ingest (cargo build -p ingest) and is skipped without it.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import re

import pytest

import terraform_tools as tf
from terraform_tools import block, blocks, comments, ref, statements

EXPECTED_FILES = [
    "versions.tf",
    "variables.tf",
    "kinesis.tf",
    "lambda.tf",
    "iam.tf",
    "s3.tf",
    "kms.tf",
    "glue.tf",
    "athena.tf",
    "monitoring.tf",
    "outputs.tf",
    "terraform.tfvars.example",
    "README.md",
]

# Every optional feature switched on, so checkov also sees the resources behind count = 0.
ALL_FEATURES_TFVARS = """\
access_logging_enabled = true
glue_crawler_enabled   = true
glue_crawler_schedule  = "cron(15 3 * * ? *)"
xray_tracing_enabled   = true
alarm_topic_enabled    = true
alarm_email_addresses  = ["ops@example.com"]
transition_to_ia_days  = 90
stream_mode            = "PROVISIONED"
"""

# Actions AWS allows only with Resource "*" (no resource-level permissions).
STAR_RESOURCE_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "kinesis:ListStreams"}

SKIP_COMMENT = re.compile(r"#\s*checkov:skip=(?P<id>[A-Z0-9_]+)(?::(?P<reason>.*))?$")


@pytest.fixture(scope="module")
def config() -> tf.Config:
    return tf.Config()


# --- checkov --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkov_reports(tmp_path_factory) -> dict[str, dict]:
    var_file = tmp_path_factory.mktemp("tfvars") / "all-features.tfvars"
    var_file.write_text(ALL_FEATURES_TFVARS)
    return {"defaults": tf.run_checkov(), "all-features": tf.run_checkov(var_file)}


@pytest.mark.parametrize("variant", ["defaults", "all-features"])
def test_checkov_has_no_failed_checks(checkov_reports, variant):
    report = checkov_reports[variant]
    summary = report["summary"]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range']}): {c['check_name']}"
        for c in report["results"]["failed_checks"]
    ]
    assert summary["failed"] == 0 and not failed, "checkov failures:\n" + "\n".join(failed)
    assert summary["passed"] > 100, f"checkov ran suspiciously few checks: {summary}"
    assert summary["parsing_errors"] == 0, summary
    print(f"checkov {variant}: passed={summary['passed']} failed={summary['failed']} skipped={summary['skipped']}")


def test_checkov_skips_are_inline_with_a_reason(checkov_reports):
    # Every skip checkov honoured comes from an inline comment with a reason...
    for report in checkov_reports.values():
        for c in report["results"]["skipped_checks"]:
            reason = (c.get("check_result") or {}).get("suppress_comment", "")
            assert reason and reason.strip() not in ("", "No comment provided"), c["check_id"]
    # ...and every inline skip has the form #checkov:skip=CKV_...:one-line reason.
    for path in tf.TERRAFORM_DIR.glob("*.tf"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "checkov:skip" not in line:
                continue
            m = SKIP_COMMENT.search(line.strip())
            assert m, f"{path.name}:{number}: malformed skip: {line.strip()}"
            assert m.group("id").startswith("CKV"), f"{path.name}:{number}"
            assert m.group("reason") and len(m.group("reason").strip()) >= 20, f"{path.name}:{number}: skip without a reason"


# --- Files, versions, variables ----------------------------------------------------------------


def test_files_split_by_concern():
    missing = [f for f in EXPECTED_FILES if not (tf.TERRAFORM_DIR / f).is_file()]
    assert not missing, f"missing in terraform/: {missing}"


def test_versions_are_pinned(config):
    tf_block = config.terraform[0]
    assert tf_block["required_version"].startswith(">= 1.9")
    aws = block(tf_block, "required_providers")["aws"]
    assert aws["source"] == "hashicorp/aws"
    assert re.fullmatch(r">= 5\.\d+, < 6\.0", aws["version"]), aws["version"]


def test_variables_have_description_type_default_and_validation(config):
    for name, var in config.variables.items():
        assert var.get("description"), f"variable {name} has no description"
        assert var.get("type"), f"variable {name} has no type"
        assert "default" in var, f"variable {name} has no default"
        if ref(var["type"]) != "bool":
            assert blocks(var, "validation"), f"variable {name} has no validation"


def test_tfvars_example_sets_only_declared_variables(config):
    example = tf.parse_file(tf.TERRAFORM_DIR / "terraform.tfvars.example")
    unknown = sorted(k for k in example if not k.startswith("__") and k not in config.variables)
    assert not unknown, f"terraform.tfvars.example sets undeclared variables: {unknown}"


def test_tfvars_example_shows_the_defaults_unless_marked(config):
    """The example says "every value shown is the default unless marked": a copy of it must not
    pin a default from before it changed."""
    path = tf.TERRAFORM_DIR / "terraform.tfvars.example"
    example = tf.parse_file(path)
    # Each top-level assignment's text, up to the next one, to find its "# example value" mark.
    text = path.read_text()
    starts = [(m.group(1), m.start()) for m in re.finditer(r"^(\w+)\s*=", text, re.MULTILINE)]
    statements_text = {
        name: text[start : starts[i + 1][1] if i + 1 < len(starts) else len(text)]
        for i, (name, start) in enumerate(starts)
    }
    marked = {name for name, body in statements_text.items() if "# example value" in body}
    assert marked, "the example marks no value as an example: the parse above is wrong"
    differing = {
        name: (value, config.variables[name]["default"])
        for name, value in example.items()
        if not name.startswith("__") and name not in marked and value != config.variables[name]["default"]
    }
    assert not differing, f"terraform.tfvars.example differs from the defaults (shown, default): {differing}"


def _validation_text(config, name: str) -> str:
    return " ".join(ref(v["condition"]) for v in blocks(config.variables[name], "validation"))


# --- Lambda and its event source mapping -----------------------------------------------------


def test_lambda_runtime_and_package(config):
    fn = config.resource("aws_lambda_function", "ingest")
    assert fn["runtime"] == "provided.al2023"
    assert fn["architectures"] == ["arm64"]
    assert fn["handler"] == "bootstrap"
    assert ref(fn["filename"]) == "var.lambda_zip_path"
    assert ref(fn["source_code_hash"]) == "filebase64sha256(var.lambda_zip_path)"
    assert config.variables["lambda_zip_path"]["default"] == "../target/lambda/eventlake-lambda/bootstrap.zip"
    assert ref(fn["timeout"]) == "var.lambda_timeout_seconds"
    assert config.variables["lambda_timeout_seconds"]["default"] == 300
    assert "<= 900" in _validation_text(config, "lambda_timeout_seconds")


def test_lambda_environment(config):
    fn = config.resource("aws_lambda_function", "ingest")
    env = block(fn, "environment")["variables"]
    assert set(env) == {
        "EVENTLAKE_LAKE_URL", "EVENTLAKE_LEASE_SECONDS", "EVENTLAKE_LEDGER_BUCKETS", "EVENTLAKE_GLUE_DATABASE", "RUST_LOG",
    }
    assert ref(env["EVENTLAKE_LAKE_URL"]) == "local.lake_url"
    assert ref(env["EVENTLAKE_GLUE_DATABASE"]) == "aws_glue_catalog_database.lake.name"
    assert config.locals["lake_url"] == "s3://${local.lake_bucket}/${local.lake_prefix}"
    assert config.variables["lake_prefix"]["default"] == "lake"
    assert config.variables["ledger_buckets"]["default"] == 64
    assert config.variables["log_level"]["default"] == "info"
    # The lease defaults to timeout + 60 and is checked against the timeout twice: by the
    # variable's validation and by a precondition on the function.
    assert ref(config.locals["lease_seconds"]) == "coalesce(var.lambda_lease_seconds, var.lambda_timeout_seconds + 60)"
    assert "> var.lambda_timeout_seconds" in _validation_text(config, "lambda_lease_seconds")
    preconditions = [ref(p["condition"]) for p in blocks(block(fn, "lifecycle"), "precondition")]
    assert "local.lease_seconds > var.lambda_timeout_seconds" in preconditions


def test_lambda_log_group_and_tracing(config):
    group = config.resource("aws_cloudwatch_log_group", "lambda")
    assert ref(group["name"]) == "local.log_group_name"
    assert config.locals["log_group_name"] == "/aws/lambda/${local.function_name}"
    assert ref(group["retention_in_days"]) == "var.log_retention_days"
    assert ref(group["kms_key_id"]) == "aws_kms_key.main.arn"
    tracing = block(config.resource("aws_lambda_function", "ingest"), "tracing_config")
    assert "var.xray_tracing_enabled" in ref(tracing["mode"])


def test_event_source_mapping_never_loses_a_batch(config):
    esm = config.resource("aws_lambda_event_source_mapping", "kinesis")
    assert ref(esm["event_source_arn"]) == "aws_kinesis_stream.events.arn"
    assert esm["function_response_types"] == ["ReportBatchItemFailures"]
    assert esm["bisect_batch_on_function_error"] is True
    assert esm["starting_position"] == "TRIM_HORIZON"
    # Bounded retries and record age: variables whose validation forbids -1 (infinite).
    assert ref(esm["maximum_retry_attempts"]) == "var.maximum_retry_attempts"
    retries = _validation_text(config, "maximum_retry_attempts")
    assert ">= 0" in retries and "<= 10000" in retries
    assert ref(esm["maximum_record_age_in_seconds"]) == "var.maximum_record_age_seconds"
    age = _validation_text(config, "maximum_record_age_seconds")
    assert ">= 60" in age and "var.stream_retention_hours * 3600" in age
    # Batch size and parallelization within the Kinesis limits.
    assert ref(esm["batch_size"]) == "var.batch_size"
    assert "<= 10000" in _validation_text(config, "batch_size")
    assert ref(esm["parallelization_factor"]) == "var.parallelization_factor"
    par = _validation_text(config, "parallelization_factor")
    assert ">= 1" in par and "<= 10" in par
    assert ref(esm["maximum_batching_window_in_seconds"]) == "var.maximum_batching_window_seconds"
    # Every batch Lambda gives up on is recorded in an encrypted queue with its own DLQ.
    on_failure = block(block(esm, "destination_config"), "on_failure")
    assert ref(on_failure["destination_arn"]) == "aws_sqs_queue.failures.arn"
    failures = config.resource("aws_sqs_queue", "failures")
    assert ref(failures["kms_master_key_id"]) == "aws_kms_key.main.arn"
    assert "aws_sqs_queue.failures_dlq.arn" in failures["redrive_policy"]
    dlq = config.resource("aws_sqs_queue", "failures_dlq")
    assert ref(dlq["kms_master_key_id"]) == "aws_kms_key.main.arn"
    assert dlq["message_retention_seconds"] == 1209600


def test_cost_model_prices_the_terraform_defaults(config):
    """BENCHMARKS' dollars per million events "at the Terraform defaults" are bench/cost.py's
    figures for its batch size, window and function memory: they must be these variables'."""
    spec = importlib.util.spec_from_file_location("cost", tf.REPO / "bench" / "cost.py")
    cost = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cost)
    assert config.variables["batch_size"]["default"] == cost.TERRAFORM_BATCH_SIZE
    assert config.variables["maximum_batching_window_seconds"]["default"] == cost.TERRAFORM_WINDOW_S
    assert config.variables["lambda_memory_mb"]["default"] == cost.TERRAFORM_MEMORY_MB
    assert inspect.signature(cost.render).parameters["memory_mb"].default == cost.TERRAFORM_MEMORY_MB
    # The defaults are among the scenarios priced, exactly once.
    priced = [(s["batch_size"], s["window_s"]) for s in cost.scenarios(cost.MILLION, 4, 7_663)]
    assert priced.count((cost.TERRAFORM_BATCH_SIZE, cost.TERRAFORM_WINDOW_S)) == 1


def test_kinesis_stream(config):
    stream = config.resource("aws_kinesis_stream", "events")
    assert stream["encryption_type"] == "KMS"
    assert ref(stream["kms_key_id"]) == "aws_kms_key.main.arn"
    assert ref(stream["retention_period"]) == "var.stream_retention_hours"
    assert ref(block(stream, "stream_mode_details")["stream_mode"]) == "var.stream_mode"
    assert config.variables["stream_mode"]["default"] == "ON_DEMAND"


# --- S3 ------------------------------------------------------------------------------------


def _by_bucket(config, rtype: str) -> dict[str, dict]:
    """Resources of `rtype` keyed by the bucket resource they configure."""
    out = {}
    for body in config.resources.get(rtype, {}).values():
        m = re.fullmatch(r"aws_s3_bucket\.(\w+)(\[0\])?\.id", ref(body["bucket"]))
        assert m, body["bucket"]
        out[m.group(1)] = body
    return out


def test_every_bucket_is_hardened(config):
    buckets = config.resources["aws_s3_bucket"]
    assert {"lake", "athena_results", "access_logs"} <= set(buckets)
    pabs = _by_bucket(config, "aws_s3_bucket_public_access_block")
    owners = _by_bucket(config, "aws_s3_bucket_ownership_controls")
    sse = _by_bucket(config, "aws_s3_bucket_server_side_encryption_configuration")
    versioning = _by_bucket(config, "aws_s3_bucket_versioning")
    policies = _by_bucket(config, "aws_s3_bucket_policy")
    lifecycles = _by_bucket(config, "aws_s3_bucket_lifecycle_configuration")
    docs = config.policy_documents()
    for name in buckets:
        pab = pabs[name]
        for flag in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
            assert pab[flag] is True, f"{name}: {flag}"
        assert block(owners[name], "rule")["object_ownership"] == "BucketOwnerEnforced", name
        assert block(versioning[name], "versioning_configuration")["status"] == "Enabled", name
        assert name in lifecycles, f"{name} has no lifecycle rules"
        default = block(block(sse[name], "rule"), "apply_server_side_encryption_by_default")
        if name == "access_logs":
            assert default["sse_algorithm"] == "AES256"  # the only default S3 log delivery supports
        else:
            assert default["sse_algorithm"] == "aws:kms", name
            assert ref(default["kms_master_key_id"]) == "aws_kms_key.main.arn", name
            assert block(sse[name], "rule")["bucket_key_enabled"] is True, name
        # The bucket policy denies every request that is not TLS.
        doc_name = re.fullmatch(r"data\.aws_iam_policy_document\.(\w+)(\[0\])?\.json", ref(policies[name]["policy"])).group(1)
        tls = [
            st
            for st, _ in statements(docs[doc_name])
            if st["effect"] == "Deny"
            and any(
                c["test"] == "Bool" and c["variable"] == "aws:SecureTransport" and c["values"] == ["false"]
                for c in blocks(st, "condition")
            )
        ]
        assert tls, f"{name}: bucket policy does not deny non-TLS requests"
        assert tls[0]["actions"] == ["s3:*"]
        assert block(tls[0], "principals")["identifiers"] == ["*"]
        arn = re.fullmatch(r"\$\{(aws_s3_bucket\.\w+(\[0\])?\.arn)\}", tls[0]["resources"][0])
        assert arn and arn.group(1).startswith(f"aws_s3_bucket.{name}"), tls[0]["resources"]
        assert tls[0]["resources"] == [f"${{{arn.group(1)}}}", f"${{{arn.group(1)}}}/*"], name


def test_lake_lifecycle(config):
    rules = {r["id"]: r for r in blocks(config.resource("aws_s3_bucket_lifecycle_configuration", "lake"), "rule")}
    base = rules["noncurrent-versions-and-uploads"]
    assert ref(block(base, "noncurrent_version_expiration")["noncurrent_days"]) == "var.noncurrent_version_expiration_days"
    assert block(base, "abort_incomplete_multipart_upload")["days_after_initiation"] == 7
    manifests = rules["expire-batch-manifests"]
    assert block(manifests, "filter")["prefix"] == "${local.lake_prefix}/_ledger/batches/"
    assert ref(block(manifests, "expiration")["days"]) == "var.manifest_expiration_days"
    # Manifests must outlive every retry: longer than stream retention + lease.
    text = _validation_text(config, "manifest_expiration_days")
    assert "var.stream_retention_hours * 3600" in text and "var.lambda_lease_seconds" in text
    # Only manifests expire under _ledger/: the chains are the dedup state.
    for rule in rules.values():
        prefix = block(rule, "filter").get("prefix", "")
        assert "_ledger" not in prefix or prefix.endswith("/_ledger/batches/"), rule["id"]
    for table in ("events", "duplicates", "quarantine"):
        ia = rules[f"{table}-to-standard-ia"]
        assert block(ia, "filter")["prefix"] == f"${{local.lake_prefix}}/{table}/"
        assert block(ia, "transition")["storage_class"] == "STANDARD_IA"
        assert "var.transition_to_ia_days == null" in ref(ia["status"])


# --- IAM -------------------------------------------------------------------------------------


def _is_tls_deny(st) -> bool:
    return st["effect"] == "Deny" and any(
        c["variable"] == "aws:SecureTransport" and c["values"] == ["false"] for c in blocks(st, "condition")
    )


def test_every_policy_is_a_policy_document(config):
    # All policies go through aws_iam_policy_document, so the checks below see every statement.
    policy_attrs = {
        ("aws_iam_role", "assume_role_policy"),
        ("aws_iam_role_policy", "policy"),
        ("aws_s3_bucket_policy", "policy"),
        ("aws_sqs_queue_policy", "policy"),
        ("aws_sns_topic_policy", "policy"),
        ("aws_kms_key", "policy"),
    }
    for rtype, attr in policy_attrs:
        for name, body in config.resources.get(rtype, {}).items():
            assert re.fullmatch(r"data\.aws_iam_policy_document\.\w+(\[0\])?\.json", ref(body[attr])), f"{rtype}.{name}.{attr}"
    assert "aws_iam_policy" not in config.resources, "use inline role policies from policy documents"


def test_policy_statements_are_least_privilege(config):
    docs = config.policy_documents()
    key_policy = re.fullmatch(r"data\.aws_iam_policy_document\.(\w+)\.json", ref(config.resource("aws_kms_key", "main")["policy"])).group(1)
    seen = 0
    for doc_name, doc in docs.items():
        for st, _dynamic in statements(doc):
            seen += 1
            where = f"{doc_name}/{st.get('sid', '?')}"
            assert "not_actions" not in st and "not_resources" not in st, where
            actions = st.get("actions")
            assert actions, f"{where}: no actions"
            effect = st.get("effect", "Allow")
            if doc_name.endswith("_assume"):
                assert actions == ["sts:AssumeRole"] and "resources" not in st, where
                continue
            resources = st.get("resources")
            assert resources, f"{where}: names no resources"
            if isinstance(resources, str):  # a for-expression over exact ARNs
                assert '"*"' not in resources and "arn" in resources, f"{where}: {resources}"
                resources = [resources]
            if effect == "Deny":
                # A wildcard only narrows access in a Deny; it is used only for TLS-only policies.
                if any("*" in a for a in actions):
                    assert _is_tls_deny(st), f"{where}: wildcard Deny that is not the TLS-only deny"
            else:
                wild = [a for a in actions if "*" in a]
                assert not wild, f"{where}: wildcard actions {wild}"
                for principal in blocks(st, "principals"):
                    assert "*" not in principal["identifiers"], f"{where}: Allow to everyone"
            if "*" in resources:
                # Resource "*" only where AWS requires it, and commented there.
                assert resources == ["*"], where
                assert doc_name == key_policy or set(actions) <= STAR_RESOURCE_ACTIONS, f"{where}: Resource * for {actions}"
                assert any("requir" in c for c in comments(st)), f"{where}: Resource * without a comment saying AWS requires it"
    assert seen >= 15


def test_lambda_role_grants_exactly_what_the_function_uses(config):
    doc = config.policy_documents()["lambda"]
    by_sid = {st["sid"]: st for st, _ in statements(doc)}
    granted = {a for st in by_sid.values() for a in st["actions"]}
    assert granted == {
        "kinesis:DescribeStream",
        "kinesis:DescribeStreamSummary",
        "kinesis:GetRecords",
        "kinesis:GetShardIterator",
        "kinesis:ListShards",
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "sqs:SendMessage",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
        "glue:GetTable",
        "glue:BatchCreatePartition",
    }
    assert not any("Delete" in a for a in granted), "the function never deletes objects"
    assert by_sid["ReadStream"]["resources"] == ["${aws_kinesis_stream.events.arn}"]
    assert by_sid["ReadWriteLakeObjects"]["resources"] == ["${aws_s3_bucket.lake.arn}/${local.lake_prefix}/*"]
    listing = by_sid["ListLakePrefixes"]
    assert listing["resources"] == ["${aws_s3_bucket.lake.arn}"]
    cond = block(listing, "condition")
    assert cond["test"] == "StringLike" and cond["variable"] == "s3:prefix"
    assert "_ledger/*" in cond["values"] and "local.table_names" in cond["values"]
    assert config.locals["table_names"] == ["events", "duplicates", "quarantine"]
    assert by_sid["UseStackKey"]["resources"] == ["${aws_kms_key.main.arn}"]
    assert by_sid["SendFailedBatchRecords"]["resources"] == ["${aws_sqs_queue.failures.arn}"]
    assert by_sid["WriteLogs"]["resources"] == ["${aws_cloudwatch_log_group.lambda.arn}:*"]
    assert by_sid["RegisterPartitions"]["resources"] == [
        "arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog",
        "${aws_glue_catalog_database.lake.arn}",
        "${aws_glue_catalog_table.events.arn}",
        "${aws_glue_catalog_table.duplicates.arn}",
        "${aws_glue_catalog_table.quarantine.arn}",
    ]
    # X-Ray permissions exist only when tracing is on.
    dynamic = [content for content, is_dynamic in statements(doc) if is_dynamic]
    assert [d["sid"] for d in dynamic] == ["WriteTraces"]
    spec = block(doc, "dynamic")["statement"]
    assert "var.xray_tracing_enabled" in ref(spec["for_each"])


def test_kms_key(config):
    key = config.resource("aws_kms_key", "main")
    assert key["enable_key_rotation"] is True
    assert ref(key["deletion_window_in_days"]) == "var.kms_deletion_window_days"


# --- Glue / Athena -----------------------------------------------------------------------------


def _table(config, name):
    return config.resource("aws_glue_catalog_table", name)


@pytest.mark.parametrize(
    "name,keys",
    [
        ("events", [("event_type", "string"), ("date", "date")]),
        ("duplicates", [("event_type", "string"), ("date", "date")]),
        ("quarantine", [("date", "date")]),
    ],
)
def test_glue_table(config, name, keys):
    table = _table(config, name)
    assert table["name"] == name
    assert table["table_type"] == "EXTERNAL_TABLE"
    assert [(k["name"], k["type"]) for k in blocks(table, "partition_keys")] == keys
    sd = block(table, "storage_descriptor")
    assert sd["location"] == f"${{local.lake_url}}/{name}/"
    locals_ = config.locals
    assert ref(sd["input_format"]) == "local.parquet_input_format"
    assert locals_["parquet_input_format"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    assert locals_["parquet_output_format"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
    assert locals_["parquet_serde"] == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    assert ref(block(sd, "ser_de_info")["serialization_library"]) == "local.parquet_serde"
    columns = block(sd, "dynamic")["columns"]
    assert ref(columns["for_each"]) == f"local.glue_schema.{name}"
    assert ref(locals_["glue_schema"]) == 'jsondecode(file("${path.module}/generated/glue_columns.json"))'

    # No partition projection: with it Athena would list only the event types and dates it
    # enumerates, and ignore the partitions the function registers (test_athena_partitions.py).
    params = table["parameters"]
    assert not [k for k in params if k.startswith("projection.") or k == "storage.location.template"]
    assert params["classification"] == "parquet"


def test_generated_glue_columns_fit_the_tables():
    schema = json.loads(tf.GLUE_COLUMNS.read_text())
    assert set(schema) == {"events", "duplicates", "quarantine", "partition_keys", "event_types"}
    assert schema["partition_keys"] == [{"name": "event_type", "type": "string"}, {"name": "date", "type": "date"}]
    for table in ("events", "duplicates", "quarantine"):
        names = [c["name"] for c in schema[table]]
        assert names and len(names) == len(set(names)), f"{table}: duplicate column names"
        assert not {"event_type", "date"} & set(names), f"{table}: a column is also a partition key"
        assert all(re.fullmatch(r"[a-z_][a-z0-9_]*", n) for n in names), table
    # Event types are partition values: escape-free and read as themselves by every engine.
    assert schema["event_types"] and all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]{0,63}", t) for t in schema["event_types"])


def test_optional_crawler(config):
    crawler = config.resource("aws_glue_crawler", "lake")
    assert "var.glue_crawler_enabled" in ref(crawler["count"])
    assert config.variables["glue_crawler_enabled"]["default"] is False
    configuration = re.sub(r"\s+", " ", crawler["configuration"])
    assert re.search(r"Partitions = \{ ?AddOrUpdateBehavior = \\?\"InheritFromTable", configuration), configuration
    assert re.search(r"Tables += \{ ?AddOrUpdateBehavior = \\?\"MergeNewColumns", configuration), configuration
    assert ref(crawler["role"]) == "aws_iam_role.crawler[0].arn"
    assert ref(crawler["security_configuration"]) == "aws_glue_security_configuration.crawler[0].name"


def test_athena_workgroup(config):
    wg = config.resource("aws_athena_workgroup", "lake")
    conf = block(wg, "configuration")
    assert conf["enforce_workgroup_configuration"] is True
    assert conf["publish_cloudwatch_metrics_enabled"] is True
    result = block(conf, "result_configuration")
    assert "aws_s3_bucket.athena_results.bucket" in result["output_location"]
    enc = block(result, "encryption_configuration")
    assert enc["encryption_option"] == "SSE_KMS"
    assert ref(enc["kms_key_arn"]) == "aws_kms_key.main.arn"
    queries = config.resources["aws_athena_named_query"]
    dup = queries["duplicate_rate_by_day"]["query"].replace('\\"', '"')
    assert '"events"' in dup and '"duplicates"' in dup and "GROUP BY" in dup and "duplicate_rate" in dup
    quarantine = queries["quarantine_by_reason"]["query"].replace('\\"', '"')
    assert '"quarantine"' in quarantine and "GROUP BY reason" in quarantine


# --- Monitoring --------------------------------------------------------------------------------


def test_alarms_and_dashboard(config):
    alarms = config.resources["aws_cloudwatch_metric_alarm"]
    assert alarms["iterator_age"]["metric_name"] == "GetRecords.IteratorAgeMilliseconds"
    assert alarms["lambda_errors"]["metric_name"] == "Errors"
    assert alarms["lambda_throttles"]["metric_name"] == "Throttles"
    assert alarms["failure_queue"]["metric_name"] == "ApproximateNumberOfMessagesVisible"
    assert "aws_sqs_queue.failures.name" in str(alarms["failure_queue"]["dimensions"])
    rate = {q["id"]: q for q in blocks(alarms["quarantine_rate"], "metric_query")}
    assert rate["rate"]["expression"] == "IF(records_in > 0, quarantined / records_in, 0)"
    assert block(rate["quarantined"], "metric")["metric_name"] == "Quarantined"
    assert block(rate["records_in"], "metric")["metric_name"] == "RecordsIn"
    assert config.locals["emf_namespace"] == "eventlake"
    assert "FunctionName" in str(config.locals["emf_dimension"])
    for alarm in alarms.values():
        assert ref(alarm["alarm_actions"]) == "local.alarm_actions"
    topic = config.resource("aws_sns_topic", "alarms")
    assert ref(topic["kms_master_key_id"]) == "aws_kms_key.main.arn"
    text = (tf.TERRAFORM_DIR / "monitoring.tf").read_text()
    for metric in ("RecordsIn", "Quarantined", "Written", "Duplicates", "Files", "Bytes", "LedgerConflicts", "DurationMs"):
        assert f'"{metric}"' in text, f"dashboard lacks {metric}"


def test_outputs(config):
    for name in (
        "stream_name",
        "stream_arn",
        "lake_bucket",
        "function_name",
        "function_arn",
        "glue_database",
        "glue_tables",
        "athena_workgroup",
    ):
        assert name in config.outputs, f"missing output {name}"
        assert config.outputs[name].get("description"), name


# --- Staleness of the generated Glue columns --------------------------------------------------------


def test_glue_columns_json_is_up_to_date():
    if not tf.INGEST_BIN.exists():
        pytest.skip(f"{tf.INGEST_BIN} not built (cargo build -p ingest); cannot check glue_columns.json staleness")
    fresh = tf.ingest_schema_glue()
    stored = json.loads(tf.GLUE_COLUMNS.read_text())
    assert fresh == stored, (
        "terraform/generated/glue_columns.json is stale: regenerate it with\n"
        "  target/debug/ingest schema glue > terraform/generated/glue_columns.json"
    )
