#!/usr/bin/env bash
# Install the repaired wheel into a fresh venv and run examples/bare_machine.py
# with it, away from the source tree and with no compiler on PATH: proves the
# wheel alone (prebuilt .so included) is enough to run guest code.
#
#   bash scripts/test_wheel.sh [WHEEL]   # default: the one wheelhouse/pypanda-*.whl
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD

shopt -s nullglob
if [ $# -ge 1 ]; then
    wheel=$(realpath "$1")
else
    wheels=(wheelhouse/pypanda-*.whl)
    if [ ${#wheels[@]} -ne 1 ]; then
        echo "error: expected one wheelhouse/pypanda-*.whl, got: ${wheels[*]:-none};" \
             "run scripts/build_wheel.sh first" >&2
        exit 1
    fi
    wheel=$root/${wheels[0]}
fi
example=$root/examples/bare_machine.py
if [ ! -f "$example" ]; then
    echo "error: $example not found" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
venv=$tmp/venv
"${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check "$wheel"

# Clean environment: PATH is only the venv's bin/ (python, pip; no cc, as, ld).
# A symlink to the venv's python in some other dir would not do: Python finds
# its venv via pyvenv.cfg next to the unresolved executable path.
run() {
    (cd "$tmp" && env -i HOME="$HOME" LANG=C.UTF-8 PATH="$venv/bin" "$@")
}
for tool in cc gcc clang as ld; do
    if run /bin/sh -c "command -v $tool" >/dev/null; then
        echo "error: $tool is on the test PATH" >&2
        exit 1
    fi
done

# From $tmp (cwd) the repo's pypanda/ is not on sys.path; make sure.
run python -c '
import pathlib, sys, pypanda
f = pathlib.Path(pypanda.__file__).resolve()
venv = pathlib.Path(sys.argv[1]).resolve()
assert venv in f.parents, f"pypanda imported from {f}, not from {venv}"
libs = sorted(p.name for p in (f.parent / "lib").glob("libpanda_*.so"))
assert libs, f"no lib/libpanda_*.so next to {f}"
print("pypanda from", f, "with", ", ".join(libs))
' "$venv"

run python "$example"
echo "test_wheel: OK ($(basename "$wheel"))"
