#!/usr/bin/env bash
# Build and run the libFuzzer harnesses (clang -fsanitize=fuzzer,address,undefined).
#
#   scripts/fuzz.sh [TARGET|all|path/to/fuzz_NAME.c] [SECONDS]   run (default: all, 60 s each)
#   scripts/fuzz.sh --list                                       the targets, one a line
#   scripts/fuzz.sh --build                                      build every target only
#   scripts/fuzz.sh --seeds [DIR]                                rewrite fuzz/corpus/ (or write DIR) with fuzz_seeds.c
#
# Targets are the harness files: libpanda/devices/**/tests/fuzz_NAME.c (the
# devices and the buses) and libpanda/src/fuzz/fuzz_NAME.c (the snapshot and
# recording-log parsers), libpanda/src/block/fuzz/fuzz_qcow2.c (the qcow2
# reader); fuzz_seeds.c writes the seed corpus and is not one.
# A path to another fuzz_NAME.c builds and runs it as target NAME, linked
# with the same sources.
#
# Everything built and found lives in $FUZZ_DIR (default
# ~/.cache/pypanda/fuzz): bin/ the harnesses, work/TARGET/corpus the corpus
# (the committed fuzz/corpus/TARGET copied in, plus what runs found; the
# repository's copy is never written), crashes/TARGET/ the inputs that
# crashed.  Prints one line per target: its executions and whether it
# crashed; exits 1 if any crashed (the input is kept and the command to
# reproduce it printed), 2 if a harness does not build.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

say() { printf '[fuzz] %s\n' "$*"; }
die() { printf '[fuzz] %s\n' "$*" >&2; exit 2; }

cache=${PYPANDA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pypanda}
dir=${FUZZ_DIR:-$cache/fuzz}
cc=${FUZZ_CC:-clang}
command -v "$cc" >/dev/null 2>&1 ||
    die "no $cc: the harnesses need clang with libFuzzer (install it with: apt-get install clang)"

# The library code under test (what test_devices.py compiles as the devices,
# plus the base layer and the two file-format parsers) and the harnesses.
mapfile -t lib_sources < <( (find libpanda/devices -name '*.c' -not -path '*/tests/*';
    find libpanda/src/base -name '*.c'; echo libpanda/src/snapshot_format.c;
    find libpanda/src/block -name '*.c' -not -path '*/tests/*' -not -path '*/fuzz/*';
    echo libpanda/src/rr_log.c) | LC_ALL=C sort)
mapfile -t harnesses < <(find libpanda/devices libpanda/src/fuzz libpanda/src/block -name 'fuzz_*.c' \
    \( -path '*/tests/*' -o -path 'libpanda/src/fuzz/*' -o -path 'libpanda/src/block/fuzz/*' \) \
    -not -name fuzz_seeds.c | LC_ALL=C sort)
includes=(-I"$root/libpanda/include" -I"$root/libpanda/devices" -I"$root/libpanda/src"
    -I"$root/libpanda/src/fuzz")
cflags=(-std=c11 -O1 -g -Wall -Wextra -Werror -D_GNU_SOURCE -fno-omit-frame-pointer
    -fno-sanitize-recover=all)
# the library code gets the fuzzer's coverage without its main(); a harness
# links libFuzzer's main
lib_san=(-fsanitize=fuzzer-no-link,address,undefined)
bin_san=(-fsanitize=fuzzer,address,undefined)

name_of() { local b; b=$(basename "$1" .c); echo "${b#fuzz_}"; }

# The library objects are rebuilt when any source or header under libpanda/
# (or this script) is newer than the last build: coarse, and quick enough.
build_lib() {
    local objdir=$dir/obj stamp=$dir/obj/.built
    mkdir -p "$objdir"
    if [ -f "$stamp" ] && [ -z "$(find libpanda scripts/fuzz.sh \( -name '*.c' -o -name '*.h' -o -name fuzz.sh \) -newer "$stamp" -print -quit)" ]; then
        return 0
    fi
    local s o pids=() failed=0
    for s in "${lib_sources[@]}"; do
        o=$objdir/$(printf '%s' "${s#libpanda/}" | tr / _).o
        "$cc" "${cflags[@]}" "${lib_san[@]}" "${includes[@]}" -c "$s" -o "$o" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || failed=1; done
    [ "$failed" = 0 ] || die "the library sources do not build with $cc (see above)"
    touch "$stamp"
}

lib_objects() {
    local s
    for s in "${lib_sources[@]}"; do printf '%s\n' "$dir/obj/$(printf '%s' "${s#libpanda/}" | tr / _).o"; done
}

# build_target SOURCE -> the binary's path on stdout
build_target() {
    local src=$1 name bin objs
    name=$(name_of "$src")
    bin=$dir/bin/fuzz_$name
    mkdir -p "$dir/bin"
    mapfile -t objs < <(lib_objects)
    if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ "$dir/obj/.built" -nt "$bin" ]; then
        "$cc" "${cflags[@]}" "${bin_san[@]}" "${includes[@]}" -o "$bin.tmp" "$src" "${objs[@]}" -lz >&2 ||
            die "the harness $src does not build (see above)"
        mv "$bin.tmp" "$bin"
    fi
    echo "$bin"
}

# run_target SOURCE SECONDS: 0 no crash, 1 crashed
run_target() {
    local src=$1 secs=$2 name bin work crashes log
    name=$(name_of "$src")
    bin=$(build_target "$src")
    work=$dir/work/$name
    crashes=$dir/crashes/$name
    mkdir -p "$work/corpus" "$crashes"
    [ -d "fuzz/corpus/$name" ] && cp -R "fuzz/corpus/$name/." "$work/corpus/"
    log=$work/last.log
    local rc=0
    # -timeout: an input that takes seconds is a hang; -rss_limit_mb: a
    # hostile size made something allocate without bound
    "$bin" -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$crashes/" "$work/corpus" >"$log" 2>&1 || rc=$?
    local execs
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    execs=${execs:-0}
    if [ "$rc" = 0 ]; then
        say "$name: $execs executions in ${secs} s, no crash"
        return 0
    fi
    local input
    input=$(sed -n "s/.*Test unit written to \(.*\)$/\1/p" "$log" | tail -1)
    say "$name: CRASHED after $execs executions (exit $rc)"
    grep -E 'ERROR|fuzz invariant|runtime error|SUMMARY' "$log" | head -5 | sed 's/^/[fuzz]   /' || true
    say "  log: $log"
    if [ -n "$input" ]; then
        say "  input kept: $input"
        say "  reproduce: $bin $input"
    fi
    return 1
}

# Runs sharing $dir build one at a time (they would write the same objects).
lock_builds() {
    mkdir -p "$dir"
    exec 9>"$dir/.build-lock"
    flock 9
}

list_targets() {
    local h
    for h in "${harnesses[@]}"; do name_of "$h"; done
}

source_of() {
    local h
    for h in "${harnesses[@]}"; do
        [ "$(name_of "$h")" = "$1" ] && { echo "$h"; return 0; }
    done
    return 1
}

case "${1:-all}" in
--list)
    list_targets
    exit 0
    ;;
--build)
    lock_builds
    build_lib
    for h in "${harnesses[@]}"; do build_target "$h" >/dev/null; done
    say "built ${#harnesses[@]} targets into $dir/bin"
    exit 0
    ;;
--seeds)
    out=${2:-fuzz/corpus}
    lock_builds
    build_lib
    mkdir -p "$dir/bin"
    mapfile -t objs < <(lib_objects)
    "$cc" "${cflags[@]}" "${lib_san[@]}" "${includes[@]}" \
        -o "$dir/bin/fuzz_seeds" libpanda/src/fuzz/fuzz_seeds.c "${objs[@]}" -lz ||
        die "fuzz_seeds.c does not build"
    if [ -n "${2:-}" ]; then
        [ ! -e "$out" ] || die "$out exists: --seeds writes a new folder"
    else
        rm -rf "$out" # the committed corpus is rewritten whole
    fi
    mkdir -p "$(dirname "$out")"
    "$dir/bin/fuzz_seeds" "$out" || die "fuzz_seeds failed"
    say "wrote $out: $(find "$out" -type f | wc -l) seeds"
    exit 0
    ;;
esac

target=${1:-all}
secs=${2:-60}
lock_builds
[[ "$secs" =~ ^[0-9]+$ ]] && [ "$secs" -gt 0 ] || die "SECONDS must be a whole number > 0, not '$secs'"
build_lib
sources=()
if [ "$target" = all ]; then
    sources=("${harnesses[@]}")
elif [[ "$target" == *.c ]]; then
    [ -f "$target" ] || die "no file $target"
    [[ "$(basename "$target")" == fuzz_*.c ]] || die "a harness file is named fuzz_NAME.c, not $(basename "$target")"
    sources=("$(cd "$(dirname "$target")" && pwd)/$(basename "$target")")
else
    src=$(source_of "$target") || die "no target '$target'; the targets: $(list_targets | tr '\n' ' ')"
    sources=("$src")
fi
# build everything first: a harness that does not build fails the run
# before any time is spent fuzzing
for s in "${sources[@]}"; do build_target "$s" >/dev/null; done
flock -u 9
crashed=0
for s in "${sources[@]}"; do
    run_target "$s" "$secs" || crashed=1
done
if [ "$crashed" = 1 ]; then
    say "a target crashed"
    exit 1
fi
say "no crash"
