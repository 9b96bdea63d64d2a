#!/usr/bin/env bash
# Build pypanda's reference i386 Linux guest from Debian's packages.
#
#   python -m pypanda.guest [--force]   (or scripts/build_guest.sh)
#
# Output directory (created if needed):
#   ${PYPANDA_GUEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pypanda/guest/i386}
# with
#   vmlinuz    the bzImage of Debian's linux-image-<abi>-686-pae:i386 package
#   initrd.gz  gzip'd newc cpio: static i386 busybox (busybox-static:i386),
#              its applet symlinks, /dev nodes, /etc files and /init
#   profile.json the kernel's Linux OSI profile (python -m pypanda.osi.profile:
#              struct offsets, symbols, syscall table), so the guest needs
#              nothing at run time
#   guest.json what was used: kernel release and version string, package
#              names and versions, sha256 of the files, kernel command line
#
# Idempotent: when guest.json exists and both files match the sha256 it
# records, nothing is downloaded or rebuilt (--force rebuilds anyway).  The
# output is byte-reproducible for the same package versions.  Packages are
# fetched with `apt-get download` and unpacked with dpkg-deb, never installed;
# the i386 architecture is added to dpkg when missing (needs root).
#
# Progress goes to stderr; the last line of stdout is the output directory.
set -euo pipefail

FORMAT=2    # bump when the layout of initrd.gz, guest.json or profile.json changes
CMDLINE='console=ttyS0 acpi=off noapic nolapic pci=off i8042.noaux quiet cryptomgr.notests noisapnp 8250.nr_uarts=1'
KERNEL_META=linux-image-686-pae
BUSYBOX_PKG=busybox-static
ARCH=i386

say() { printf '[build_guest] %s\n' "$*" >&2; }
die() { printf '[build_guest] error: %s\n' "$*" >&2; exit 1; }

force=0
for arg in "$@"; do
    case "$arg" in
        --force|-f) force=1 ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *) die "unknown argument: $arg (usage: $0 [--force])" ;;
    esac
done

command -v python3 >/dev/null 2>&1 ||
    die "python3 not found; install it (as root: apt-get install -y python3)"

dest=${PYPANDA_GUEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pypanda/guest/$ARCH}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd -P)

# One build at a time per output directory.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$dest/.lock"
    flock 9
fi

# Exit 0 when guest.json exists, has our format and every file matches it
# (profile.json also has to be a profile of this kernel release).
cache_ok() {
    python3 - "$dest" "$FORMAT" <<'EOF'
import hashlib, json, os, sys
d, fmt = sys.argv[1], int(sys.argv[2])
try:
    with open(os.path.join(d, "guest.json")) as f:
        meta = json.load(f)
    if meta.get("format") != fmt:
        sys.exit(1)
    with open(os.path.join(d, "profile.json")) as f:
        prof = json.load(f)
    if prof.get("format") != 1 or prof.get("release") != meta["kernel_release"]:
        sys.exit(1)
    for name in ("vmlinuz", "initrd.gz", "profile.json"):
        h = hashlib.sha256()
        with open(os.path.join(d, name), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        if h.hexdigest() != meta["sha256"][name]:
            sys.exit(1)
except (OSError, ValueError, KeyError, TypeError, AttributeError):
    sys.exit(1)
EOF
}

if [ "$force" = 0 ] && cache_ok; then
    say "up to date: $dest"
    printf '%s\n' "$dest"
    exit 0
fi

# ---------------------------------------------------------------- tools
need_tool() {  # command, Debian package
    command -v "$1" >/dev/null 2>&1 && return 0
    if [ "$1" = apt-get ] || [ "$1" = apt-cache ]; then
        die "$1 not found: this script needs a Debian-based host with apt (package $2)"
    fi
    die "$1 not found; install it (as root: apt-get install -y $2)"
}
need_tool apt-get apt
need_tool apt-cache apt
need_tool dpkg dpkg
need_tool dpkg-deb dpkg
need_tool gzip gzip
need_tool tar tar
# the OSI profile: Debian's i386 kernel has no BTF, so the struct layouts come
# from a probe compiled against linux-headers and turned into BTF by pahole
need_tool make make
need_tool gcc gcc
need_tool pahole pahole

is_root=0
[ "$(id -u)" = 0 ] && is_root=1

# ------------------------------------------------ i386 in dpkg + apt lists
need_update=0
if [ "$(dpkg --print-architecture)" != "$ARCH" ] &&
   ! dpkg --print-foreign-architectures | grep -x "$ARCH" >/dev/null; then
    if [ "$is_root" = 0 ]; then
        say "dpkg does not know the $ARCH architecture; as root, run:"
        printf '    dpkg --add-architecture %s\n    apt-get update\n' "$ARCH" >&2
        say "then run $0 again"
        exit 1
    fi
    say "adding the $ARCH architecture to dpkg"
    dpkg --add-architecture "$ARCH"
    need_update=1
fi

candidate() {  # package:arch -> candidate version, empty when none
    apt-cache policy "$1" 2>/dev/null |
        awk '$1 == "Candidate:" && $2 != "(none)" && !seen { print $2; seen = 1 }'
}

meta_version=$(candidate "$KERNEL_META:$ARCH")
busybox_version=$(candidate "$BUSYBOX_PKG:$ARCH")
if [ -z "$meta_version" ] || [ -z "$busybox_version" ]; then
    need_update=1
fi
if [ "$need_update" = 1 ]; then
    if [ "$is_root" = 0 ]; then
        say "apt knows no $ARCH candidate for $KERNEL_META or $BUSYBOX_PKG; as root, run:"
        printf '    apt-get update\n' >&2
        say "then run $0 again"
        exit 1
    fi
    say "apt-get update (a partial failure is tolerated if the packages are found)"
    apt-get update >&2 || say "apt-get update reported errors; checking the packages anyway"
    meta_version=$(candidate "$KERNEL_META:$ARCH")
    busybox_version=$(candidate "$BUSYBOX_PKG:$ARCH")
fi
[ -n "$meta_version" ] ||
    die "apt has no candidate for $KERNEL_META:$ARCH (check /etc/apt/sources.list* for Debian main and run apt-get update)"
[ -n "$busybox_version" ] ||
    die "apt has no candidate for $BUSYBOX_PKG:$ARCH (check /etc/apt/sources.list* for Debian main and run apt-get update)"

# ------------------------------------------------- resolve the kernel
kernel_dep=$(apt-cache show --no-all-versions "$KERNEL_META:$ARCH" |
    awk -F': ' '$1 == "Depends" && !seen { print $2; seen = 1 }' | tr ',|' '\n\n' |
    sed -n 's/^ *\(linux-image-[0-9][^ :]*\)\(:[a-z0-9]*\)\{0,1\} *\((= *\([^)]*\))\)\{0,1\}.*$/\1 \4/p' |
    awk 'NR == 1')
kernel_pkg=${kernel_dep%% *}
kernel_pin=${kernel_dep#* }
[ -n "$kernel_pkg" ] || die "could not find the linux-image-<abi> dependency of $KERNEL_META:$ARCH ($meta_version)"
kernel_cand=$(candidate "$kernel_pkg:$ARCH")
[ -n "$kernel_cand" ] || die "apt has no candidate for $kernel_pkg:$ARCH (needed by $KERNEL_META $meta_version); run apt-get update"
kernel_version=${kernel_pin:-$kernel_cand}
say "kernel: $kernel_pkg:$ARCH $kernel_version (from $KERNEL_META $meta_version)"
say "userland: $BUSYBOX_PKG:$ARCH $busybox_version"

# ------------------------------------------------------------ download
work=$(mktemp -d "${TMPDIR:-/tmp}/pypanda-guest.XXXXXX")
trap 'rm -rf "$work"' EXIT
apt_opts=()
[ "$is_root" = 1 ] && apt_opts+=(-o APT::Sandbox::User=root)
say "downloading into $work"
(cd "$work" && apt-get download "${apt_opts[@]}" \
    "$kernel_pkg:$ARCH=$kernel_version" "$BUSYBOX_PKG:$ARCH=$busybox_version" >&2) ||
    die "apt-get download failed (is the Debian mirror reachable? try apt-get update)"

find_deb() {  # package -> path of its downloaded .deb
    local f
    for f in "$work"/*.deb; do
        [ "$(dpkg-deb -f "$f" Package)" = "$1" ] && { printf '%s\n' "$f"; return 0; }
    done
    die "downloaded .deb for $1 not found in $work"
}
kernel_deb=$(find_deb "$kernel_pkg")
busybox_deb=$(find_deb "$BUSYBOX_PKG")
for f in "$kernel_deb" "$busybox_deb"; do
    [ "$(dpkg-deb -f "$f" Architecture)" = "$ARCH" ] || die "$f is not an $ARCH package"
done

# -------------------------------------------------------------- unpack
say "unpacking (dpkg-deb, nothing is installed)"
mkdir -p "$work/kernel" "$work/busybox"
dpkg-deb --fsys-tarfile "$kernel_deb" |
    tar -x -f - -C "$work/kernel" --wildcards './boot/vmlinuz-*' ||
    die "no boot/vmlinuz-* in $kernel_deb"
dpkg-deb -x "$busybox_deb" "$work/busybox"
shopt -s nullglob
vmlinuz=("$work"/kernel/boot/vmlinuz-*)
shopt -u nullglob
[ "${#vmlinuz[@]}" = 1 ] || die "expected one boot/vmlinuz-* in $kernel_deb, found ${#vmlinuz[@]}"
kernel_release=${vmlinuz[0]##*/vmlinuz-}
[ -f "$work/busybox/bin/busybox" ] || die "no bin/busybox in $busybox_deb"

# The applet table is read from the binary itself (below); `busybox --list-full`
# only cross-checks it, or stands in if parsing fails.  Running the i386
# binary needs the host's IA32 emulation, so its failure is not an error.
if "$work/busybox/bin/busybox" --list-full >"$work/list-full" 2>/dev/null; then :; else
    : >"$work/list-full"
fi

# ------------------------------------------- initramfs + guest.json
say "writing initrd (newc cpio, gzip -9 -n)"
mkdir -p "$dest"
out=$(mktemp -d "$dest/.build.XXXXXX")
trap 'rm -rf "$work" "$out"' EXIT
cp "${vmlinuz[0]}" "$out/vmlinuz"

python3 - "$work/busybox/bin/busybox" "$work/list-full" "$out/initrd.cpio" "$out/applets.json" <<'PYEOF'
import json, re, sys

busybox_path, list_full_path, cpio_path, applets_path = sys.argv[1:5]
data = open(busybox_path, "rb").read()

# --- applet names: busybox keeps them as one sorted, NUL-separated string
# ("[\0[[\0acpid\0...") followed by an empty string.
REQUIRED = {"sh", "mount", "cut", "uname", "poweroff", "setsid", "cttyhack"}
NAME = re.compile(rb"^[a-z0-9_.\[\]+-]+$")


def names_from_binary():
    start = data.find(b"[\0[[\0")
    if start < 0:
        return None
    names, pos = [], start
    while True:
        end = data.index(b"\0", pos)
        word = data[pos:end]
        if not word:
            break
        if not NAME.match(word) or len(word) > 32:
            break
        names.append(word.decode())
        pos = end + 1
    if len(names) < 50 or names != sorted(names) or not REQUIRED <= set(names):
        return None
    return names


# Install directories as busybox numbers them (BB_DIR_*).
DIRS = ["", "bin", "sbin", "usr/bin", "usr/sbin"]
ANCHORS = {"sh": 1, "mount": 1, "poweroff": 2, "setsid": 3, "chroot": 4,
           "cut": 3, "uname": 1}


def locs_from_binary(names):
    """Find applet_install_loc[]: two 4-bit BB_DIR_* values per byte."""
    n = len(names)
    size = (n + 1) // 2
    index = {name: i for i, name in enumerate(names)}
    anchors = {index[a]: d for a, d in ANCHORS.items() if a in index}
    if len(anchors) < 5:
        return None
    ok = bytes(b for b in range(256) if (b & 15) < len(DIRS) and (b >> 4) < len(DIRS))
    run = re.compile(b"[" + b"".join(re.escape(bytes([b])) for b in ok) + b"]{%d,}" % size)
    found = set()
    checks = sorted(anchors.items())
    for m in run.finditer(data):
        for off in range(m.start(), m.end() - size + 1):
            if any((data[off + i // 2] >> (4 * (i % 2))) & 15 != d for i, d in checks):
                continue
            table = data[off:off + size]
            locs = [(table[i // 2] >> (4 * (i % 2))) & 15 for i in range(n)]
            if n % 2 and table[-1] >> 4:
                continue
            if all(locs[i] == d for i, d in anchors.items()):
                found.add(tuple(locs))
    if len(found) != 1:
        return None
    return list(found.pop())


def from_list_full():
    try:
        lines = open(list_full_path).read().split()
    except OSError:
        return None
    if not lines:
        return None
    result = []
    for line in lines:
        d, _, name = line.rpartition("/")
        if d not in DIRS or not NAME.match(name.encode()):
            return None
        result.append((name, d))
    return result


names = names_from_binary()
listed = from_list_full()
layout = None
if names is not None:
    locs = locs_from_binary(names)
    if locs is not None:
        layout, method = [(nm, DIRS[l]) for nm, l in zip(names, locs)], "parsed"
        if listed is not None and sorted(listed) != sorted(layout):
            sys.exit("applet table parsed from the binary disagrees with "
                     "`busybox --list-full`; fix the parser in build_guest.sh")
if layout is None and listed is not None:
    layout, method = listed, "list-full"
if layout is None and names is not None:
    print("[build_guest] warning: applet directories unknown, all applets go to /bin",
          file=sys.stderr)
    layout, method = [(nm, "bin") for nm in names], "bin-only"
if layout is None:
    sys.exit("cannot find the applet list in the busybox binary, and running it "
             "(`busybox --list-full`) failed too")
if not REQUIRED <= {nm for nm, _ in layout}:
    sys.exit("busybox lacks applets the guest needs: %s"
             % sorted(REQUIRED - {nm for nm, _ in layout}))
print("[build_guest] %d busybox applets (%s)" % (len(layout), method), file=sys.stderr)

# --- the file tree
INIT = r"""#!/bin/sh
# pypanda reference guest init (written by scripts/build_guest.sh)
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mount -t devtmpfs devtmpfs /dev 2>/dev/null || true
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "GUEST-READY $(cut -d' ' -f1 /proc/uptime)"
if [ -n "${autorun:-}" ]; then
    uname -a
    echo GUEST-DONE
    poweroff -f
fi
while true; do setsid cttyhack /bin/sh -l; done
"""
PROFILE = """export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root
PS1='guest# '
export PS1
"""

S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR = 0o040000, 0o100000, 0o120000, 0o020000
entries = {}  # path -> (mode, body, rdevmajor, rdevminor)


def add_dir(path, perm=0o755):
    parts = path.split("/")
    for i in range(1, len(parts) + 1):
        p = "/".join(parts[:i])
        if p not in entries:
            entries[p] = (S_IFDIR | 0o755, b"", 0, 0)
    entries[path] = (S_IFDIR | perm, b"", 0, 0)


def add(path, mode, body=b"", major=0, minor=0):
    if "/" in path:
        parent = path.rsplit("/", 1)[0]
        if parent not in entries:
            add_dir(parent)
    entries[path] = (mode, body, major, minor)


for d in ("bin", "sbin", "usr/bin", "usr/sbin", "dev", "proc", "sys", "etc", "mnt"):
    add_dir(d)
add_dir("tmp", 0o1777)
add_dir("root", 0o700)
add("bin/busybox", S_IFREG | 0o755, data)
for name, d in layout:
    path = (d + "/" + name) if d else name
    if path in ("bin/busybox", "init"):
        continue
    add(path, S_IFLNK | 0o777, b"/bin/busybox")
add("dev/console", S_IFCHR | 0o600, b"", 5, 1)
add("dev/null", S_IFCHR | 0o666, b"", 1, 3)
add("dev/ttyS0", S_IFCHR | 0o660, b"", 4, 64)
add("etc/passwd", S_IFREG | 0o644, b"root::0:0:root:/root:/bin/sh\n")
add("etc/group", S_IFREG | 0o644, b"root:x:0:\n")
add("etc/profile", S_IFREG | 0o644, PROFILE.encode())
add("init", S_IFREG | 0o755, INIT.encode())

# --- newc writer: fixed inode numbers, uid/gid 0 and mtime 0
MTIME = 0
out = bytearray()


def pad4():
    out.extend(b"\0" * (-len(out) % 4))


def record(ino, mode, nlink, body, major, minor, name):
    fields = (ino, mode, 0, 0, nlink, MTIME, len(body), 0, 0, major, minor,
              len(name) + 1, 0)
    out.extend(b"070701" + b"".join(b"%08X" % f for f in fields))
    out.extend(name.encode() + b"\0")
    pad4()
    out.extend(body)
    pad4()


# parents sort before their children (a "/" sorts after nothing shorter)
for ino, path in enumerate(sorted(entries, key=lambda p: p.split("/")), start=1):
    mode, body, major, minor = entries[path]
    nlink = 2 if mode & 0o170000 == S_IFDIR else 1
    record(ino, mode, nlink, body, major, minor, path)
record(0, 0, 1, b"", 0, 0, "TRAILER!!!")
out.extend(b"\0" * (-len(out) % 512))
with open(cpio_path, "wb") as f:
    f.write(out)
with open(applets_path, "w") as f:
    json.dump({"count": len(layout), "method": method}, f)
PYEOF

gzip -9 -n -c "$out/initrd.cpio" >"$out/initrd.gz"
rm -f "$out/initrd.cpio"

# The OSI profile, from the image alone (cached in ~/.cache/pypanda/osi; the
# linux-headers .debs it needs are fetched with apt-get download).
say "writing profile.json (python -m pypanda.osi.profile)"
pkgroot=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
PYTHONPATH="$pkgroot${PYTHONPATH:+:$PYTHONPATH}" "${PYPANDA_PYTHON:-python3}" -m pypanda.osi.profile \
    "$out/vmlinuz" --out "$out/profile.json" >/dev/null ||
    die "could not build the OSI profile of $kernel_release (see the error above)"

python3 - "$out" "$FORMAT" "$CMDLINE" "$ARCH" \
    "$KERNEL_META" "$meta_version" "$kernel_pkg" "$kernel_release" \
    "$kernel_deb" "$busybox_deb" <<'PYEOF'
import hashlib, json, os, struct, subprocess, sys

(out, fmt, cmdline, arch, meta, meta_version, kernel_pkg, release,
 kernel_deb, busybox_deb) = sys.argv[1:11]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def field(deb, name):
    return subprocess.run(["dpkg-deb", "-f", deb, name], check=True,
                          capture_output=True, text=True).stdout.strip()


# The bzImage setup header holds a pointer to the kernel version string.
with open(os.path.join(out, "vmlinuz"), "rb") as f:
    head = f.read(0x8000)
if head[0x202:0x206] != b"HdrS":
    sys.exit("vmlinuz is not a bzImage (no HdrS setup header)")
(ptr,) = struct.unpack_from("<H", head, 0x20E)
raw = head[ptr + 0x200:ptr + 0x200 + 512]
version_string = raw.split(b"\0", 1)[0].decode("ascii", "replace")
if not version_string.startswith(release):
    sys.exit("bzImage version %r does not match package release %r"
             % (version_string, release))

with open(os.path.join(out, "applets.json")) as f:
    applets = json.load(f)
os.unlink(os.path.join(out, "applets.json"))

packages = []
for deb in (kernel_deb, busybox_deb):
    packages.append({"name": field(deb, "Package"),
                     "version": field(deb, "Version"),
                     "architecture": field(deb, "Architecture"),
                     "deb_sha256": sha256(deb)})
meta_json = {
    "format": int(fmt),
    "builder": "pypanda/data/build_guest.sh",
    "arch": arch,
    "kernel_release": release,
    "kernel_version_string": version_string,
    "kernel_package": kernel_pkg,
    "kernel_meta_package": {"name": meta, "version": meta_version},
    "packages": packages,
    "busybox_applets": applets,
    "sha256": {n: sha256(os.path.join(out, n)) for n in ("vmlinuz", "initrd.gz", "profile.json")},
    "size": {n: os.path.getsize(os.path.join(out, n)) for n in ("vmlinuz", "initrd.gz", "profile.json")},
    "profile": "profile.json",
    "cmdline": cmdline,
    "cmdline_autorun": cmdline + " autorun=1",
    "console": "ttyS0",
    "markers": {"ready": "GUEST-READY", "done": "GUEST-DONE", "prompt": "guest# "},
}
with open(os.path.join(out, "guest.json"), "w") as f:
    json.dump(meta_json, f, indent=2, sort_keys=True)
    f.write("\n")
PYEOF

# Move into place; guest.json last, so an interrupted run is rebuilt next time.
chmod 0644 "$out/vmlinuz" "$out/initrd.gz" "$out/profile.json" "$out/guest.json"
rm -f "$dest/guest.json"
mv -f "$out/vmlinuz" "$dest/vmlinuz"
mv -f "$out/initrd.gz" "$dest/initrd.gz"
mv -f "$out/profile.json" "$dest/profile.json"
mv -f "$out/guest.json" "$dest/guest.json"
cache_ok || die "the files in $dest do not match guest.json after the build"
say "built $kernel_release guest in $dest"
printf '%s\n' "$dest"
