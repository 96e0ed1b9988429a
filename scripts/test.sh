#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs the Python test tools into .venv (once),
# then runs every Rust test with the external tools required (a missing tool fails, not skips).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${TEST_VENV:-$PWD/.venv}"
requirements=tests/requirements.txt
stamp="$venv/.requirements.sha256"
wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "== installing Python test tools into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  echo "$wanted" > "$stamp"
fi

export TEST_VENV="$venv"
export REQUIRE_EXTERNAL_TESTS=1
echo "== cargo test --workspace"
cargo test --workspace --all-targets "$@"
