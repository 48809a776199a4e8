#!/usr/bin/env bash
# Builds the Lambda function for AWS (arm64, provided.al2023) with cargo lambda and zig from
# the project's .venv: target/lambda/eventlake-lambda/bootstrap.zip, the file Terraform
# deploys (variable lambda_zip_path). Built in the `dist` profile (fat LTO, one codegen unit,
# Cargo.toml): the shipped artifact pays the long build, local release builds do not.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
export PATH="$PWD/.venv/bin:$PATH"
target=aarch64-unknown-linux-gnu
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target"
fi
cargo lambda build --profile dist --arm64 -p ingest --features io --bin eventlake-lambda --output-format zip "$@"
zip=target/lambda/eventlake-lambda/bootstrap.zip
ls -l "$zip"
unzip -l "$zip"
