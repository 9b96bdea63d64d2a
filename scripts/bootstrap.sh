#!/usr/bin/env bash
# Make this machine ready to build and test pypanda: the Debian packages the
# build needs (installed with apt-get when missing and we are root) and a
# virtual environment, .venv/, with pypanda installed in editable mode plus
# its test tools.  Idempotent; prints the venv's python as its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[bootstrap] %s\n' "$*" >&2; }

# command -> Debian package
declare -A packages=(
    [gcc]=gcc [make]=make [cmake]=cmake [patch]=patch
    [as]=binutils [ld]=binutils [objcopy]=binutils [nm]=binutils
    [python3]=python3
    [clang]=clang  # the fuzz harnesses (scripts/fuzz.sh): libFuzzer and its sanitizers
    # pypanda.osi: BTF of the OSI probe compiled against linux-headers, for
    # kernels without .BTF (Debian i386; the guest builders' profile.json)
    [pahole]=pahole
)
missing=()
for cmd in "${!packages[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("${packages[$cmd]}")
done
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
# zlib for the block layer's compressed qcow2 clusters; qemu-img and
# qemu-io make the images tests/test_block.py reads
[ -f /usr/include/zlib.h ] || missing+=(zlib1g-dev)
command -v qemu-img >/dev/null 2>&1 && command -v qemu-io >/dev/null 2>&1 || missing+=(qemu-utils)
# xorriso (and its osirrox) reads back the ISO images pypanda/iso9660.py
# writes (tests/test_iso9660.py); make_iso also prefers it when present
command -v xorriso >/dev/null 2>&1 || missing+=(xorriso)
if [ ${#missing[@]} -gt 0 ]; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq "${missing[@]}" >&2
    else
        say "missing packages: ${missing[*]}"
        say "install them with: sudo apt-get install ${missing[*]}"
        exit 1
    fi
fi

venv=.venv
if [ ! -x "$venv/bin/python" ]; then
    say "creating $venv"
    python3 -m venv "$venv"
fi
stamp=$venv/.pypanda-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ]; then
    say "installing pypanda (editable) and its test tools into $venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]' >&2
    touch "$stamp"
fi
echo "$PWD/$venv/bin/python"
