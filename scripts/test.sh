#!/usr/bin/env bash
# The whole test suite: build libpanda and the reference guest (Debian's
# i386 kernel and busybox, fetched with apt-get once), then pytest (which
# also boots that guest, and builds the manylinux wheel and runs it in a
# fresh venv).  Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python=$(scripts/bootstrap.sh)
./build.sh
"$python" -m pypanda.guest >/dev/null
"$python" -m pypanda.guest debian-i386 >/dev/null    # the disk guest (mmdebstrap; as root)
"$python" -m pypanda.firmware >/dev/null              # Debian's SeaBIOS (apt-get download)
exec "$python" -m pytest "$@"
