#!/usr/bin/env bash
# The main job: build libpanda and the reference guest, boot Debian's i386
# kernel to a shell and run an example analysis on it
# (examples/boot_analysis.py).
set -euo pipefail
cd "$(dirname "$0")/.."
python=$(scripts/bootstrap.sh)
./build.sh
"$python" -m pypanda.guest >/dev/null
exec "$python" examples/boot_analysis.py
