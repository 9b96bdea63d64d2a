#!/usr/bin/env bash
# The main job: build libpanda, then run the example analysis
# (examples/bare_machine.py: an x86 program on the bare machine, watched by
# Python callbacks).
set -euo pipefail
cd "$(dirname "$0")/.."
python=$(scripts/bootstrap.sh)
./build.sh
exec "$python" examples/bare_machine.py
