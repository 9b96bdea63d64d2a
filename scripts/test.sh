#!/usr/bin/env bash
# The whole test suite: build libpanda, then pytest (which also builds the
# manylinux wheel and runs it in a fresh venv).  Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python=$(scripts/bootstrap.sh)
./build.sh
exec "$python" -m pytest "$@"
