#!/usr/bin/env bash
# Build pypanda's Debian 12 (bookworm) i386 disk guest from Debian's packages.
#
#   python -m pypanda.guest debian-i386 [--force]
#
# Output directory (created if needed), as pypanda.panda.guest_dir("debian-i386"):
#   ${PYPANDA_GUEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pypanda/guest/debian-i386}
# with
#   disk.qcow2   BIOS-bootable 1 GiB disk: MBR with GRUB's boot.img, GRUB's
#                core.img in the MBR gap, one bootable ext4 partition
#                (/dev/sda1, sector 2048 to the end) holding a minbase Debian
#                root: linux-image-686-pae, initramfs-tools, udev, kmod,
#                e2fsprogs, procps, busybox-static; /sbin/init is a small
#                script that gives a root shell on ttyS0 (no login)
#   vmlinuz      the same kernel, for direct boot (-kernel)
#   initrd.img   the same initramfs (MODULES=list: ata_piix, sd_mod, ext4)
#   profile.json the kernel's Linux OSI profile (python -m pypanda.osi.profile:
#                struct offsets, symbols, syscall table)
#   guest.json   what was built: kernel release, package versions, the
#                kernel command line, prompt, sha256 of every file, the
#                sha256 of this script
#
# Idempotent: when guest.json records this script's sha256 and every file
# matches its recorded sha256, nothing is rebuilt (--force rebuilds anyway).
# No loop devices, no mounts of the image: mke2fs -d fills the partition from
# the directory mmdebstrap made.  Timestamps, UUIDs and the hash seed are
# fixed, so the same package versions give the same bytes.  Downloaded .debs
# are kept in ${XDG_CACHE_HOME:-$HOME/.cache}/pypanda/debs/bookworm-i386 so a
# rebuild does not fetch them again.  Needs root (mmdebstrap's root mode and
# apt-get install of missing host tools).
#
# Progress goes to stderr; the last line of stdout is the output directory.
set -euo pipefail

FORMAT=2            # bump when the layout of the directory, guest.json or profile.json changes
NAME=debian-i386
ARCH=i386
SUITE=bookworm
# 2026-01-01T00:00:00Z, pypanda's default RTC base: no file is newer than the guest's clock.
EPOCH=1767225600
DISK_MIB=1024
PART_START=2048     # sectors: 1 MiB, the usual alignment, leaves the MBR gap for core.img
FS_UUID=70797061-6e64-4100-8000-000000000001
FS_HASH_SEED=70797061-6e64-4100-8000-000000000002
DISK_ID=0x70796461
FS_LABEL=debian-i386
PROMPT='debian# '
READY=GUEST-READY
# Same speed-ups as the initramfs guest's line (see README "The kernel command
# line") but without pci=off: the disk controller (PIIX IDE) is a PCI function.
# rootfstype=ext4 spares the initramfs a probe of the root device.
CMDLINE='root=/dev/sda1 rw rootfstype=ext4 console=ttyS0 acpi=off noapic nolapic i8042.noaux quiet cryptomgr.notests noisapnp 8250.nr_uarts=1'
PACKAGES=linux-image-686-pae,initramfs-tools,udev,kmod,e2fsprogs,procps,coreutils,util-linux,mount,busybox-static
INITRD_MODULES='ata_piix sd_mod ext4'
# grub-mkimage: what core.img needs to read grub.cfg and load Linux from an
# ext4 partition on a BIOS disk, and to talk on the serial port.
GRUB_MODULES='biosdisk part_msdos ext2 normal linux serial terminal terminfo configfile search echo test'
GRUB_DIR=/usr/lib/grub/i386-pc

say() { printf '[build_disk_guest] %s\n' "$*" >&2; }
die() { printf '[build_disk_guest] error: %s\n' "$*" >&2; exit 1; }

SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/$(basename "${BASH_SOURCE[0]}")

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
command -v sha256sum >/dev/null 2>&1 ||
    die "sha256sum not found; install it (as root: apt-get install -y coreutils)"

builder_sha=$(sha256sum "$SELF" | cut -d' ' -f1)
cache_base=${XDG_CACHE_HOME:-$HOME/.cache}/pypanda
dest=${PYPANDA_GUEST_DIR:-$cache_base/guest/$NAME}
debcache=$cache_base/debs/$SUITE-$ARCH
mkdir -p "$dest"
dest=$(cd "$dest" && pwd -P)

# One build at a time per output directory.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$dest/.lock"
    flock 9
fi

# Exit 0 when guest.json exists, has our format and builder hash, and every
# file matches it.
cache_ok() {
    python3 - "$dest" "$FORMAT" "$builder_sha" <<'EOF'
import hashlib, json, os, sys
d, fmt, builder = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    with open(os.path.join(d, "guest.json")) as f:
        meta = json.load(f)
    if meta.get("format") != fmt or meta.get("builder_sha256") != builder:
        sys.exit(1)
    with open(os.path.join(d, "profile.json")) as f:
        prof = json.load(f)
    if prof.get("format") != 1 or prof.get("release") != meta["kernel_release"] \
            or "profile.json" not in meta["sha256"]:
        sys.exit(1)
    for name, digest in meta["sha256"].items():
        h = hashlib.sha256()
        with open(os.path.join(d, name), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        if h.hexdigest() != digest:
            sys.exit(1)
except (OSError, ValueError, KeyError, TypeError, AttributeError):
    sys.exit(1)
EOF
}

# PYPANDA_GUEST_DIR names one directory for every guest (as guest_dir() does);
# never overwrite another guest's files there.
other=$(python3 -c 'import json, sys
try:
    print(json.load(open(sys.argv[1])).get("builder", ""))
except (OSError, ValueError, AttributeError):
    pass' "$dest/guest.json")
if [ -n "$other" ] && [ "$other" != pypanda/data/build_disk_guest.sh ]; then
    die "$dest holds another guest (made by $other); point PYPANDA_GUEST_DIR at a directory of its own for $NAME"
fi

if [ "$force" = 0 ] && cache_ok; then
    say "up to date: $dest"
    printf '%s\n' "$dest"
    exit 0
fi

t_start=$SECONDS
step() { say "[$1/7] $2 (at $((SECONDS - t_start)) s)"; }

# ---------------------------------------------------------------- 1. tools
step 1 "host tools"
[ "$(id -u)" = 0 ] ||
    die "building the disk guest needs root (mmdebstrap's root mode owns the files as root); run: sudo python -m pypanda.guest $NAME"
command -v apt-get >/dev/null 2>&1 ||
    die "apt-get not found: this builder needs a Debian-based host"
# command -> Debian package that provides it
# (make, gcc and pahole: the OSI profile's probe, step 7)
tools=(mmdebstrap:mmdebstrap mke2fs:e2fsprogs debugfs:e2fsprogs sfdisk:fdisk
       grub-mkimage:grub-common qemu-img:qemu-utils dpkg-query:dpkg gzip:gzip
       make:make gcc:gcc pahole:pahole)
missing=()
for t in "${tools[@]}"; do
    command -v "${t%%:*}" >/dev/null 2>&1 || missing+=("${t#*:}")
done
[ -f "$GRUB_DIR/boot.img" ] && [ -f "$GRUB_DIR/linux.mod" ] || missing+=(grub-pc-bin)
if [ "${#missing[@]}" -gt 0 ]; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    say "installing host packages: ${missing[*]}"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
        say "apt-get install failed; running apt-get update and trying again"
        apt-get update >&2 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
            die "could not install ${missing[*]}; install them (apt-get install -y ${missing[*]}) and run again"
    fi
fi
for t in "${tools[@]}"; do
    command -v "${t%%:*}" >/dev/null 2>&1 || die "${t%%:*} not found; install it (apt-get install -y ${t#*:})"
done
[ -f "$GRUB_DIR/boot.img" ] || die "$GRUB_DIR/boot.img not found; install it (apt-get install -y grub-pc-bin)"

host_version() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo unknown; }

# ------------------------------------------------------------- 2. mmdebstrap
work=$(mktemp -d "${TMPDIR:-/tmp}/pypanda-disk-guest.XXXXXX")
# mmdebstrap's root mode mounts /dev, /proc and /sys inside the root while it
# runs and unmounts them itself; should one be left (a killed run), removing
# the work directory must not descend into the host's /dev.
cleanup() {
    local d
    for d in "$@"; do
        [ -n "$d" ] && [ -d "$d" ] || continue
        if awk -v p="$d/" 'index($2, p) == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
            say "leaving $d: something is still mounted inside it (see /proc/self/mounts)"
        else
            rm -rf --one-file-system "$d"
        fi
    done
}
trap 'cleanup "$work"' EXIT
root=$work/root
mkdir -p "$debcache" "$work/hooks"
# The .deb cache is shared by builds into other directories.
if command -v flock >/dev/null 2>&1; then
    exec 8>"$debcache.lock"
    flock 8
fi

# Before the kernel is installed, so its postinst builds the small initramfs
# once: only the listed modules, gzip (minbase has no zstd), no busybox in it
# (klibc's tools suffice and keep it small), no resume device to look for.
cat >"$work/hooks/essential10-initramfs.sh" <<EOF
#!/bin/sh
set -eu
mkdir -p "\$1/etc/initramfs-tools/conf.d" "\$1/usr/share/initramfs-tools/modules.d"
printf 'MODULES=list\nCOMPRESS=gzip\nBUSYBOX=n\nRESUME=none\n' >"\$1/etc/initramfs-tools/conf.d/pypanda.conf"
printf '%s\n' $INITRD_MODULES >"\$1/usr/share/initramfs-tools/modules.d/pypanda.conf"
EOF
# While the chroot still has /proc and /dev: list the initramfs to check it.
cat >"$work/hooks/customize10-check.sh" <<EOF
#!/bin/sh
set -eu
for f in "\$1"/boot/initrd.img-*; do
    chroot "\$1" lsinitramfs "/boot/\${f##*/}" >"$work/initrd.list"
done
EOF
chmod +x "$work/hooks"/*.sh

step 2 "mmdebstrap $SUITE $ARCH (minbase + $PACKAGES; log in $work/mmdebstrap.log)"
q() { printf '%q' "$1"; }
# No mirror argument: for a stable suite mmdebstrap then uses deb.debian.org
# with $SUITE-updates and $SUITE-security, so the kernel has the security fixes
# (the same kernel the initramfs guest gets from apt).
if ! SOURCE_DATE_EPOCH=$EPOCH mmdebstrap --mode=root --format=directory --variant=minbase --arch="$ARCH" \
        --include="$PACKAGES" \
        --skip=essential/unlink \
        --setup-hook="mkdir -p \"\$1\"/var/cache/apt/archives/" \
        --setup-hook="sync-in $(q "$debcache") /var/cache/apt/archives/" \
        --hook-dir="$work/hooks" \
        --customize-hook="rm -rf $(q "$work/debs.new") && mkdir -p $(q "$work/debs.new")" \
        --customize-hook="sync-out /var/cache/apt/archives $(q "$work/debs.new")" \
        --customize-hook='rm -f "$1/etc/resolv.conf"; echo debian-i386 >"$1/etc/hostname"' \
        "$SUITE" "$root" >"$work/mmdebstrap.log" 2>&1; then
    tail -n 40 "$work/mmdebstrap.log" >&2
    die "mmdebstrap failed (last lines above); is deb.debian.org reachable?"
fi
# Keep exactly the .debs this build used: the cache does not grow with old versions.
if find "$work/debs.new" -maxdepth 1 -name '*.deb' | grep -q .; then
    rm -rf "$debcache.old"
    mv "$debcache" "$debcache.old"
    mkdir -p "$(dirname "$debcache")"
    mkdir "$debcache"
    find "$work/debs.new" -maxdepth 1 -name '*.deb' -exec mv -t "$debcache" {} +
    rm -rf "$debcache.old"
fi

# Merged /usr (bookworm): /sbin and /bin are relative links into usr/, so the
# paths written below stay inside the root.
for d in bin sbin lib; do
    [ "$(readlink "$root/$d")" = "usr/$d" ] ||
        die "$root/$d is not the merged-/usr link usr/$d; this builder writes through it"
done
shopt -s nullglob
kernels=("$root"/boot/vmlinuz-*)
initrds=("$root"/boot/initrd.img-*)
shopt -u nullglob
[ "${#kernels[@]}" = 1 ] || die "expected one /boot/vmlinuz-* in the root, found ${#kernels[@]}"
release=${kernels[0]##*/vmlinuz-}
[ "${#initrds[@]}" = 1 ] && [ "${initrds[0]}" = "$root/boot/initrd.img-$release" ] ||
    die "expected /boot/initrd.img-$release in the root (did update-initramfs run? see $work/mmdebstrap.log)"
for m in $INITRD_MODULES; do
    grep -q "/$m\.ko" "$work/initrd.list" ||
        die "the initramfs lacks $m.ko: initramfs-tools did not take /usr/share/initramfs-tools/modules.d/pypanda.conf"
done
say "kernel $release, initramfs $(stat -c %s "${initrds[0]}") bytes"

# ------------------------------------------------------------- 3. root tree
step 3 "guest files: /sbin/init, GRUB, fixed timestamps"
cat >"$root/sbin/init" <<EOF
#!/bin/sh
# /sbin/init of pypanda's $NAME guest (written by pypanda/data/build_disk_guest.sh).
# No service manager: a shell as PID 1 reaches the prompt in the fewest
# instructions.  It mounts what the initramfs did not hand over, then keeps a
# root shell (no login) on the serial console.  busybox's poweroff, reboot and
# halt without -f signal PID 1; the traps honour them.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
HOME=/root
# dash has no line editing and 'dumb' keeps programs from sending terminal
# queries or colour escapes that a program reading the console would see.
TERM=dumb
PS1='$PROMPT'
export PATH HOME TERM PS1
cd /
mountpoint -q /proc || mount -t proc -o nosuid,nodev,noexec proc /proc
mountpoint -q /sys || mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mountpoint -q /dev || mount -t devtmpfs -o mode=0755,nosuid devtmpfs /dev
mountpoint -q /run || mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mkdir -p /dev/pts /dev/shm
mountpoint -q /dev/pts || mount -t devpts -o gid=5,mode=620,ptmxmode=000 devpts /dev/pts
# The kernel line says rw; this keeps a line with ro usable too.
mount -o remount,rw / 2>/dev/null || true
cat /etc/hostname >/proc/sys/kernel/hostname 2>/dev/null || true
# Kernel messages would land in the middle of command output on the console;
# dmesg still shows them all.
dmesg -n 1 2>/dev/null || true
trap 'sync; poweroff -f' USR2
trap 'sync; halt -f' USR1
trap 'sync; reboot -f' TERM INT
echo "$READY \$(cut -d' ' -f1 /proc/uptime)"
while :; do
    # -c: the shell's stdin (ttyS0) becomes its controlling terminal, so
    # Ctrl-C and job control work.  In the background so that PID 1 is in
    # 'wait', where the traps run.
    setsid -c /bin/sh -i </dev/ttyS0 >/dev/ttyS0 2>&1 &
    wait \$! || true
done
EOF
chmod 0755 "$root/sbin/init"
# A login shell (sh -l, su -) keeps the known prompt.
printf "PS1='%s'\nTERM=dumb\nexport PS1 TERM\n" "$PROMPT" >"$root/etc/profile.d/pypanda.sh"
printf '/dev/sda1 / ext4 rw,errors=remount-ro 0 1\n' >"$root/etc/fstab"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n' "$NAME" >"$root/etc/hosts"
# No password for root, for a getty or su; the shell on ttyS0 needs no login.
sed -i 's/^root:[^:]*:/root::/' "$root/etc/shadow"
[ -x "$root/bin/busybox" ] || die "busybox-static did not install /bin/busybox"
for cmd in poweroff reboot halt; do
    [ -e "$root/sbin/$cmd" ] || ln -s /bin/busybox "$root/sbin/$cmd"
done

# What grub-install would copy: the platform's modules and lists.
mkdir -p "$root/boot/grub/i386-pc"
cp "$GRUB_DIR"/*.mod "$GRUB_DIR"/*.lst "$root/boot/grub/i386-pc/"
cat >"$root/boot/grub/grub.cfg" <<EOF
# pypanda $NAME: no menu, straight to Linux, everything on the serial port.
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set timeout=0
set default=0
menuentry 'Debian GNU/Linux 12 (bookworm) i386' {
    linux /boot/vmlinuz-$release $CMDLINE
    initrd /boot/initrd.img-$release
}
EOF

# Nothing newer than EPOCH (files written by maintainer scripts and by this
# script carry today's date).  ctime cannot be set here, and atime is not
# worth a pass: both are fixed in the ext4 image below.
find "$root" -newermt "@$EPOCH" -print0 | xargs -0r touch --no-dereference --date="@$EPOCH"

cp "${kernels[0]}" "$work/vmlinuz"
cp "${initrds[0]}" "$work/initrd.img"
dpkg-query --admindir="$root/var/lib/dpkg" -W -f '${Package}\t${Version}\t${Architecture}\n' \
    >"$work/packages.tsv"
size_kib=$(du -sk --apparent-size "$root" | cut -f1)
say "root: $(wc -l <"$work/packages.tsv") packages, $((size_kib / 1024)) MiB"

# ------------------------------------------------------------- 4. ext4
step 4 "ext4 partition (mke2fs -d, no mount)"
total=$((DISK_MIB * 2048))
part_sectors=$((total - PART_START))
# E2FSPROGS_FAKE_TIME: libext2fs uses it for every time it stamps itself
# (superblock, root and lost+found, crtime), so only the copied times differ.
export E2FSPROGS_FAKE_TIME=$EPOCH
mke2fs -q -F -t ext4 -L "$FS_LABEL" -U "$FS_UUID" \
    -E "hash_seed=$FS_HASH_SEED,root_owner=0:0,nodiscard" \
    -d "$root" "$work/part.img" "$((part_sectors / 2))k" >"$work/mke2fs.log" 2>&1 ||
    { tail -n 20 "$work/mke2fs.log" >&2; die "mke2fs -d failed (last lines above)"; }
say "mke2fs done at $((SECONDS - t_start)) s; resetting ctime and atime"
# ctime and atime are copied from the host inode: ctime is always 'now' and
# atime the time of unpacking.  Reset both in the image.  debugfs paths are
# quoted; a path debugfs cannot quote is refused.
python3 - "$root" "$EPOCH" >"$work/times.debugfs" <<'EOF'
import os, sys
root, epoch = sys.argv[1], sys.argv[2]
def emit(rel):
    if any(c in rel for c in '"\n\\'):
        sys.exit("path %r cannot be quoted for debugfs; fix build_disk_guest.sh" % rel)
    for field in ("ctime", "atime"):
        print('sif "%s" %s @%s' % (rel or "/", field, epoch))
emit("")
for dirpath, dirnames, filenames in os.walk(root):
    for name in dirnames + filenames:
        emit("/" + os.path.relpath(os.path.join(dirpath, name), root))
EOF
debugfs -w -f "$work/times.debugfs" "$work/part.img" >"$work/debugfs.log" 2>&1 ||
    { tail -n 20 "$work/debugfs.log" >&2; die "debugfs could not reset ctime and atime"; }
if grep -v '^debugfs' "$work/debugfs.log" | grep -q .; then
    grep -v '^debugfs' "$work/debugfs.log" | head -n 5 >&2
    die "debugfs reported errors while resetting ctime and atime (above)"
fi
say "times reset at $((SECONDS - t_start)) s; e2fsck -fn"
e2fsck -fn "$work/part.img" >"$work/e2fsck.log" 2>&1 ||
    { tail -n 20 "$work/e2fsck.log" >&2; die "e2fsck finds the new ext4 image inconsistent"; }
unset E2FSPROGS_FAKE_TIME
rm -rf "$root"

# ------------------------------------------------------------- 5. disk
step 5 "disk: MBR partition table, GRUB boot.img and core.img"
disk=$work/disk.img
truncate -s "${DISK_MIB}M" "$disk"
printf 'label: dos\nlabel-id: %s\nunit: sectors\n\nstart=%d, size=%d, type=83, bootable\n' \
    "$DISK_ID" "$PART_START" "$part_sectors" | sfdisk -q --no-reread --no-tell-kernel "$disk" >&2 ||
    die "sfdisk could not write the partition table"
dd if="$work/part.img" of="$disk" bs=1M seek=$((PART_START / 2048)) conv=notrunc,sparse status=none
rm -f "$work/part.img"
# The prefix names the partition directly: no 'search' at boot.
grub-mkimage -O i386-pc -o "$work/core.img" -p '(hd0,msdos1)/boot/grub' $GRUB_MODULES ||
    die "grub-mkimage failed"
core_size=$(stat -c %s "$work/core.img")
[ "$core_size" -le $(((PART_START - 1) * 512)) ] ||
    die "core.img ($core_size bytes) does not fit the MBR gap (sectors 1..$((PART_START - 1)))"
# boot.img already points at sector 1 for core.img and grub-mkimage writes
# core.img's own block list, so grub-bios-setup (which wants a device) is not
# needed.  Only boot.img's code (440 bytes) goes in: the disk id and the
# partition table stay.
dd if="$GRUB_DIR/boot.img" of="$disk" bs=440 count=1 conv=notrunc status=none
dd if="$work/core.img" of="$disk" bs=512 seek=1 conv=notrunc status=none

# ------------------------------------------------------------- 6. qcow2
step 6 "qcow2 (qemu-img convert)"
# Uncompressed: a reader needs no zlib and the guest's reads need no inflate.
qemu-img convert -f raw -O qcow2 "$disk" "$work/disk.qcow2" >&2 || die "qemu-img convert failed"
qemu-img check -q "$work/disk.qcow2" >&2 || die "qemu-img check finds disk.qcow2 damaged"
rm -f "$disk"

# ------------------------------------------------------------- 7. guest.json
step 7 "profile.json and guest.json, install into $dest"
# The OSI profile, from the kernel image alone (cached in ~/.cache/pypanda/osi;
# the linux-headers .debs it needs are fetched with apt-get download).
pkgroot=$(cd "$(dirname "$SELF")/../.." && pwd -P)
PYTHONPATH="$pkgroot${PYTHONPATH:+:$PYTHONPATH}" "${PYPANDA_PYTHON:-python3}" -m pypanda.osi.profile \
    "$work/vmlinuz" --out "$work/profile.json" >/dev/null ||
    die "could not build the OSI profile of $release (see the error above)"
python3 - "$work" "$FORMAT" "$NAME" "$ARCH" "$SUITE" "$release" "$CMDLINE" "$PROMPT" "$READY" \
    "$builder_sha" "$EPOCH" "$DISK_MIB" "$PART_START" "$part_sectors" "$FS_UUID" "$FS_LABEL" \
    "$DISK_ID" "$INITRD_MODULES" "$core_size" \
    "mmdebstrap=$(host_version mmdebstrap)" "e2fsprogs=$(host_version e2fsprogs)" \
    "fdisk=$(host_version fdisk)" "grub-pc-bin=$(host_version grub-pc-bin)" \
    "grub-common=$(host_version grub-common)" "qemu-utils=$(host_version qemu-utils)" <<'EOF'
import hashlib, json, os, struct, sys

(work, fmt, name, arch, suite, release, cmdline, prompt, ready, builder_sha, epoch, disk_mib,
 part_start, part_sectors, fs_uuid, fs_label, disk_id, initrd_modules, core_size) = sys.argv[1:20]
host_tools = dict(a.split("=", 1) for a in sys.argv[20:])


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


with open(os.path.join(work, "vmlinuz"), "rb") as f:
    head = f.read(0x8000)
if head[0x202:0x206] != b"HdrS":
    sys.exit("vmlinuz is not a bzImage (no HdrS setup header)")
(ptr,) = struct.unpack_from("<H", head, 0x20E)
version_string = head[ptr + 0x200:ptr + 0x200 + 512].split(b"\0", 1)[0].decode("ascii", "replace")
if not version_string.startswith(release):
    sys.exit("bzImage version %r does not match the kernel release %r" % (version_string, release))

packages = {}
with open(os.path.join(work, "packages.tsv")) as f:
    for line in f:
        pkg, version, parch = line.rstrip("\n").split("\t")
        packages[pkg] = {"version": version, "architecture": parch}
kernel_pkg = "linux-image-" + release

files = ("disk.qcow2", "vmlinuz", "initrd.img", "profile.json")
with open(os.path.join(work, "disk.qcow2"), "rb") as f:
    qhead = f.read(32)
if qhead[:4] != b"QFI\xfb":
    sys.exit("disk.qcow2 has no qcow2 magic")
(virtual_size,) = struct.unpack_from(">Q", qhead, 24)
meta = {
    "format": int(fmt),
    "name": name,
    "builder": "pypanda/data/build_disk_guest.sh",
    "builder_sha256": builder_sha,
    "arch": arch,
    "distribution": {"name": "debian", "suite": suite, "release": "12"},
    "source_date_epoch": int(epoch),
    "kernel_release": release,
    "kernel_version_string": version_string,
    "kernel_package": {"name": kernel_pkg, "version": packages.get(kernel_pkg, {}).get("version")},
    "packages": packages,
    "host_tools": host_tools,
    "image": {
        "file": "disk.qcow2",
        "format": "qcow2",
        "compressed": False,
        "virtual_size": virtual_size,
        "sha256": sha256(os.path.join(work, "disk.qcow2")),
        "partition_table": "mbr",
        "disk_id": disk_id,
        "boot_loader": {"mbr": "grub boot.img", "mbr_gap": "grub core.img",
                        "core_img_bytes": int(core_size), "config": "/boot/grub/grub.cfg"},
        "partitions": [{"number": 1, "device": "/dev/sda1", "start_sector": int(part_start),
                        "sectors": int(part_sectors), "type": "0x83", "bootable": True,
                        "filesystem": "ext4", "uuid": fs_uuid, "label": fs_label}],
    },
    "kernel": "vmlinuz",
    "initrd": "initrd.img",
    "profile": "profile.json",
    "initrd_modules": initrd_modules.split(),
    "cmdline": cmdline,
    "root": "/dev/sda1",
    "console": "ttyS0",
    "init": "/sbin/init (shell script: root shell on ttyS0, no login)",
    "prompt": prompt,
    "markers": {"ready": ready, "prompt": prompt},
    "memory_min": "128M",
    "sha256": {n: sha256(os.path.join(work, n)) for n in files},
    "size": {n: os.path.getsize(os.path.join(work, n)) for n in files},
}
with open(os.path.join(work, "guest.json"), "w") as f:
    json.dump(meta, f, indent=2, sort_keys=True)
    f.write("\n")
EOF

# Move into place; guest.json is removed first and written last, so a reader
# (or an interrupted run) never pairs a new image with an old guest.json.
out=$(mktemp -d "$dest/.build.XXXXXX")
trap 'cleanup "$work" "$out"' EXIT
for f in disk.qcow2 vmlinuz initrd.img profile.json guest.json; do
    mv "$work/$f" "$out/$f"
    chmod 0644 "$out/$f"
done
rm -f "$dest/guest.json"
for f in disk.qcow2 vmlinuz initrd.img profile.json guest.json; do
    mv -f "$out/$f" "$dest/$f"
done
cache_ok || die "the files in $dest do not match guest.json after the build"
say "built $NAME ($release) in $dest in $((SECONDS - t_start)) s"
printf '%s\n' "$dest"
