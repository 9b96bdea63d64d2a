#!/usr/bin/env bash
# Build pypanda/lib/libpanda_<arch>.so for each ARCH given (default: i386).
#
#   ./build.sh [ARCH ...]
#
# Steps: fetch the Unicorn 2.1.4 sdist (QEMU's TCG) with pip into a cache
# outside the repository and check its sha256; unpack it and apply
# libpanda/engine/patches/{common,target-<arch>}/*.patch in order; build the static engine for
# the arch; compile libpanda's C sources and link them with the engine into
# one shared library that exports only panda_* symbols.  Every step is
# skipped when its inputs have not changed, so a second run is quick.
#
#   ./build.sh --verify-patches
#       apply the patches to a fresh copy of the engine source and report
#       each one; builds nothing.
#
#   ./build.sh --engine-src
#       print the folder of this tree's patched engine source (made if
#       needed).
#
# Environment: PYPANDA_CACHE (default ~/.cache/pypanda), JOBS (default nproc),
# CC (default cc), PYPANDA_PATCH_DIR (default libpanda/engine/patches).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${PYPANDA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pypanda}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
cc=${CC:-cc}

ENGINE_VERSION=2.1.4
ENGINE_SHA256=00567a70e323f749b419cd86bee4f9115beab7ebba32194581c090cbb7c59cff
ENGINE_SDIST=unicorn-$ENGINE_VERSION.tar.gz
patch_dir=${PYPANDA_PATCH_DIR:-$here/libpanda/engine/patches}

say() { printf '[build.sh] %s\n' "$*" >&2; }
die() { printf '[build.sh] error: %s\n' "$*" >&2; exit 1; }

need() { # need TOOL DEBIAN-PACKAGE
    command -v "$1" >/dev/null 2>&1 ||
        die "'$1' is missing: install it (Debian: apt-get install $2)"
}

# guest arch -> the engine's UNICORN_ARCH and its static library
engine_arch_of() {
    case "$1" in
    i386) echo x86 ;;
    *) return 1 ;;
    esac
}

check_tools() {
    need "$cc" gcc
    need cmake cmake
    need make make
    need patch patch
    need sha256sum coreutils
    # the block layer inflates compressed qcow2 clusters with zlib
    echo '#include <zlib.h>' | "$cc" -E - >/dev/null 2>&1 ||
        die "zlib's header is missing: install it (Debian: apt-get install zlib1g-dev)"
    need python3 python3
    python3 -m pip --version >/dev/null 2>&1 ||
        die "'python3 -m pip' is missing: install it (Debian: apt-get install python3-pip)"
}

fetch_engine() {
    mkdir -p "$cache"
    local sdist=$cache/$ENGINE_SDIST
    if [ ! -f "$sdist" ]; then
        say "fetching the engine: pip download unicorn==$ENGINE_VERSION (source)"
        python3 -m pip download --quiet --no-binary :all: --no-deps \
            "unicorn==$ENGINE_VERSION" -d "$cache" ||
            die "pip could not download unicorn==$ENGINE_VERSION's source; check that PyPI is reachable"
    fi
    echo "$ENGINE_SHA256  $sdist" | sha256sum --check --quiet - ||
        die "$sdist does not have the expected sha256; delete it and run again"
}

# The patches in the order they apply: by number, and at one number the
# engine-wide part (common/) before a target's (target-<arch>/).  Every
# target folder applies: each touches only its own target's files.
patch_list() {
    (cd "$patch_dir" && find . -name '*.patch' | while read -r f; do
        printf '%s\t%s\n' "$(basename "$f")" "${f#./}"; done | LC_ALL=C sort | cut -f2)
}

patches_id() { # changes whenever a patch is added, removed, moved or edited
    (cd "$patch_dir" && patch_list | while read -r f; do echo "$f"; cat "$f"; done) |
        sha256sum | cut -c1-16
}

apply_patches() { # apply_patches SRC: every patch, in order
    local p
    while read -r p; do
        say "  applying $p"
        patch -d "$1" -p1 --forward --quiet --no-backup-if-mismatch <"$patch_dir/$p" >&2 ||
            die "patch $p does not apply to unicorn $ENGINE_VERSION"
    done < <(patch_list)
}

verify_patches() {
    local tmp
    tmp=$(mktemp -d)
    trap "rm -rf '$tmp'" EXIT
    tar -xzf "$cache/$ENGINE_SDIST" -C "$tmp" --strip-components=1
    apply_patches "$tmp/src"
    say "all patches in $patch_dir apply"
}

# Unpack and patch the engine source once per patch set.
prepare_source() {
    local id src
    id=$(patches_id)
    src=$cache/engine-$ENGINE_VERSION-$id
    if [ ! -f "$src/.patched" ]; then
        say "unpacking the engine and applying libpanda/engine/patches"
        rm -rf "$src.tmp"
        mkdir -p "$src.tmp"
        tar -xzf "$cache/$ENGINE_SDIST" -C "$src.tmp" --strip-components=1
        apply_patches "$src.tmp/src"
        touch "$src.tmp/.patched"
        rm -rf "$src"
        mv "$src.tmp" "$src"
    fi
    echo "$src"
}

build_engine() { # build_engine SRC UC_ARCH -> prints the build dir
    local src=$1 uarch=$2 bld=$1/build-$2
    if [ ! -f "$bld/CMakeCache.txt" ]; then
        say "configuring the engine for $uarch"
        cmake -S "$src/src" -B "$bld" -DCMAKE_BUILD_TYPE=Release \
            -DUNICORN_ARCH="$uarch" -DBUILD_SHARED_LIBS=OFF \
            -DUNICORN_LEGACY_STATIC_ARCHIVE=ON -DUNICORN_BUILD_TESTS=OFF \
            -DUNICORN_INSTALL=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
            >"$bld.configure.log" 2>&1 ||
            die "cmake failed for the engine; see $bld.configure.log"
    fi
    say "building the engine for $uarch"
    cmake --build "$bld" -j "$jobs" >"$bld.build.log" 2>&1 ||
        die "the engine build failed; see $bld.build.log"
    echo "$bld"
}

build_libpanda() { # build_libpanda ARCH SRC BLD
    local arch=$1 src=$2 bld=$3
    local out=$here/pypanda/lib/libpanda_$arch.so
    # one object folder per source tree: a copy of the tree (a test that
    # adds a device) never mixes its objects with this one's
    local objdir=$cache/obj-$arch-$(basename "$src")-$(printf '%s' "$here" | sha256sum | cut -c1-8)
    # every C file of the library (tests and other arches' files excluded)
    local sources=()
    mapfile -t sources < <(find "$here/libpanda/src" "$here/libpanda/devices" -name '*.c' \
        -not -path '*/tests/*' -not -name 'test_*' -not -name 'fuzz_*' | LC_ALL=C sort)
    mkdir -p "$objdir" "$here/pypanda/lib"
    local cflags=(-std=c11 -O2 -g -fPIC -fvisibility=hidden -Wall -Wextra -Werror=implicit-function-declaration
        -D_GNU_SOURCE -I"$here/libpanda/include" -I"$here/libpanda/devices" -I"$here/libpanda/src"
        -I"$src/src/include")
    local headers
    headers=$(find "$here/libpanda" -name '*.h' -not -path '*/tests/*')
    local objs=() s o rel changed=0
    for s in "${sources[@]}"; do
        case "$(basename "$s")" in arch_*.c) [ "$(basename "$s")" = "arch_$arch.c" ] || continue ;; esac
        rel=${s#"$here"/libpanda/}
        o=$objdir/${rel//\//_}
        o=${o%.c}.o
        objs+=("$o")
        # shellcheck disable=SC2086
        if [ ! -f "$o" ] || [ -n "$(find "$s" $headers -newer "$o" -print -quit)" ]; then
            "$cc" "${cflags[@]}" -c "$s" -o "$o"
            changed=1
        fi
    done
    if [ "$changed" = 1 ] || [ ! -f "$out" ] || [ "$bld/libunicorn.a" -nt "$out" ] ||
        [ "$here/libpanda/src/exports.map" -nt "$out" ] || [ "$(cat "$objdir/.objs" 2>/dev/null)" != "${objs[*]}" ]; then
        say "linking $out"
        "$cc" -shared -o "$out.tmp" "${objs[@]}" "$bld/libunicorn.a" \
            -Wl,--version-script="$here/libpanda/src/exports.map" -Wl,--no-undefined \
            -Wl,-soname,"libpanda_$arch.so" -lpthread -lm -lz
        mv "$out.tmp" "$out"
        printf '%s' "${objs[*]}" >"$objdir/.objs"
    fi
    say "ready: pypanda/lib/libpanda_$arch.so"
}

main() {
    if [ "${1:-}" = --engine-src ]; then   # where this tree's patched engine source is
        need patch patch
        need python3 python3
        fetch_engine
        src=$(prepare_source)
        echo "$src/src"
        return
    fi
    if [ "${1:-}" = --verify-patches ]; then
        need patch patch
        need python3 python3
        fetch_engine
        verify_patches
        return
    fi
    local arches=("$@")
    [ ${#arches[@]} -gt 0 ] || arches=(i386)
    local a
    for a in "${arches[@]}"; do
        engine_arch_of "$a" >/dev/null ||
            die "unknown guest architecture '$a' (this build supports: i386)"
    done
    check_tools
    fetch_engine
    local src bld
    src=$(prepare_source)
    for a in "${arches[@]}"; do
        bld=$(build_engine "$src" "$(engine_arch_of "$a")")
        build_libpanda "$a" "$src" "$bld"
    done
}

main "$@"
