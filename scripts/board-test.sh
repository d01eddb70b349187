#!/usr/bin/env bash
# The booth on a real Linux kernel: an emulated aarch64 board (qemu-system-aarch64, machine
# `virt`, Debian's arm64 kernel, a busybox initramfs) runs the aarch64 release binary as
# `postbooth run` under the guest's init. The Graph API simulator (`postbooth sim`) runs on
# the host, reached from the guest at 10.0.2.2; it fetches the photos from the booth's `serve`
# host through a hostfwd port. Scenarios (scripts/board/run.py drives them):
#
#   camera   vivid as /dev/video0, camera.kind = "v4l2": shots published exactly once, each
#            compliant and not blank
#   unplug   vivid unbound from its driver while the booth streams, then bound again: the booth
#            says the camera is missing, recovers, and the daemon never exits
#   button   the board's PL061 GPIO line 3 (gpiocdev) pressed from the host with QMP
#            system_powerdown: N presses -> N photos, presses in the lockout ignored and counted
#   powercut the store on an ext4 virtio disk, dirty write-back held in the guest's page cache,
#            the VM SIGKILLed at random moments and at the daemon's fail points, booted again;
#            every cut: the store opens, `e2fsck -fn` is clean after journal replay; in the end
#            every acknowledged photo is published exactly once
#
# The display is display.kind = "png" in every scenario: this kernel has no I2C stub that
# speaks plain I2C (i2c-stub is SMBus only, and the arm64 kernel does not build it), so an
# OLED driver has nothing to talk to.
#
# Usage: scripts/board-test.sh [--no-build] [--install-only] [SCENARIO...]
#   --no-build: use the aarch64 release binary already in target/cross (what .ci/run does
#               right after its ARM step) and target/debug/postbooth for the simulator.
# Environment: BOARD_CUTS (power cuts, default 30), BOARD_SEED (random seed, default: time),
#              BOARD_KEEP (keep target/board/run-* even when everything passed).
#
# Installs (idempotent, skipped when present): apt qemu-system-arm cpio e2fsprogs; the arm64
# kernel and busybox-static:arm64 with `apt-get download` + `dpkg -x` into .tools/board.
set -euo pipefail
{
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TOOLS="$ROOT/.tools/board"
WORK="$ROOT/target/board"
CROSS_BIN="${BOARD_BIN:-$ROOT/target/cross/aarch64-unknown-linux-gnu/release/postbooth}"
HOST_BIN="${BOARD_HOST_BIN:-$ROOT/target/debug/postbooth}"
SYSROOT=/usr/aarch64-linux-gnu
# mkfs.ext4, e2fsck, debugfs, depmod and modprobe live in the sbin folders, which a CI
# runner's PATH (not a login shell's) may leave out: the first CI run of this step failed
# with "No such file or directory: 'mkfs.ext4'".
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

build=1
install_only=0
scenarios=()
for arg in "$@"; do
    case "$arg" in
        --no-build) build=0 ;;
        --install-only) install_only=1 ;;
        camera | unplug | button | powercut) scenarios+=("$arg") ;;
        -h | --help)
            sed -n '2,32p' "$0"
            exit 0
            ;;
        *)
            echo "board-test.sh: unknown argument '$arg' (see --help)" >&2
            exit 2
            ;;
    esac
done
[ ${#scenarios[@]} -gt 0 ] || scenarios=(camera unplug button powercut)

START=$(date +%s)
TIMES=()
phase_name=""
phase_start=0
phase() {
    phase_end
    phase_name="$*"
    phase_start=$(date +%s)
    echo "==== board: $phase_name ===="
}
phase_end() {
    if [ -n "$phase_name" ]; then
        TIMES+=("$(printf '%5ds  %s' "$(($(date +%s) - phase_start))" "$phase_name")")
        phase_name=""
    fi
}
RESULT=""
summary() {
    phase_end
    echo "==== board: time per phase ===="
    printf '%s\n' "${TIMES[@]}"
    echo "board: total $(($(date +%s) - START))s"
    # The result line last, for a person and for a script reading the last line.
    if [ -n "$RESULT" ] && [ -s "$RESULT" ]; then tail -1 "$RESULT"; fi
}
trap summary EXIT

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# ---- install ------------------------------------------------------------------------------
install_apt() {
    local pkgs=(qemu-system-arm cpio e2fsprogs kmod) missing=()
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    local need_update=0
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        as_root dpkg --add-architecture arm64
        need_update=1
    fi
    if [ ${#missing[@]} -eq 0 ] && [ $need_update -eq 0 ]; then
        echo "apt packages already installed"
        return
    fi
    # One index failing to download does not stop the packages from coming (see
    # shared notes on the ARM toolchain): go on, and let the install say what is missing.
    as_root apt-get update || echo "apt-get update reported errors; going on"
    if [ ${#missing[@]} -gt 0 ]; then
        # Without ipxe-qemu's ROMs qemu needs an explicit -netdev, which run.py always gives.
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y --no-install-recommends "${missing[@]}"
    fi
}

# Where the guest's modules (MODULES below) and everything they need live in the kernel's
# module tree; `modprobe --show-depends` below finds a missing one by name.
GUEST_MODULE_TREES=(drivers/media drivers/virtio drivers/block drivers/net/virtio_net.ko
    drivers/net/net_failover.ko net/9p net/core fs/9p fs/ext4 fs/jbd2 fs/mbcache.ko fs/netfs
    fs/fscache crypto lib)

# The arm64 kernel and busybox, unpacked (not installed: they are another architecture's).
install_guest_parts() {
    local kpkg
    kpkg=$(apt-cache depends linux-image-arm64:arm64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^:]*\).*/\1/p' | head -1)
    if [ -z "$kpkg" ]; then
        as_root apt-get update || true
        kpkg=$(apt-cache depends linux-image-arm64:arm64 |
            sed -n 's/^ *Depends: \(linux-image-[0-9][^:]*\).*/\1/p' | head -1)
    fi
    [ -n "$kpkg" ] || { echo "cannot find the arm64 kernel package (linux-image-arm64:arm64)" >&2; exit 1; }
    local want="$kpkg busybox-static"
    if [ -f "$TOOLS/.installed" ] && [ "$(cat "$TOOLS/.installed")" = "$want" ]; then
        echo "guest parts already in $TOOLS ($want)"
        return
    fi
    local dl
    dl=$(mktemp -d)
    # apt-get download drops privileges to _apt, which must be able to write here.
    chmod 755 "$dl"
    (cd "$dl" && apt-get download "$kpkg:arm64" busybox-static:arm64)
    rm -rf "$TOOLS"
    mkdir -p "$TOOLS/kernel" "$TOOLS/busybox"
    # Only the kernel and the module trees the guest's modules come from (about a fifth of
    # the package's 350 MB: a CI disk once ran out while unpacking the rest).
    dpkg-deb --fsys-tarfile "$dl"/linux-image-*.deb |
        tar -x -C "$TOOLS/kernel" --wildcards --no-wildcards-match-slash \
            './boot/vmlinuz-*' './lib/modules/*/modules.*' \
            --wildcards-match-slash "${GUEST_MODULE_TREES[@]/#/./lib/modules/*/kernel/}"
    dpkg -x "$dl"/busybox-static_*.deb "$TOOLS/busybox"
    rm -rf "$dl"
    echo "$want" >"$TOOLS/.installed"
    echo "unpacked $want into $TOOLS"
}

phase "install (apt: qemu-system-arm cpio e2fsprogs; arm64 kernel and busybox)"
install_apt
install_guest_parts
if [ $install_only -eq 1 ]; then exit 0; fi

# ---- binaries -------------------------------------------------------------------------------
if [ $build -eq 1 ]; then
    phase "build: aarch64 release (scripts/cross-build.sh aarch64) and the host simulator"
    ./scripts/cross-build.sh --no-tests --no-deb aarch64
    cargo build --bin postbooth
fi
for b in "$CROSS_BIN" "$HOST_BIN"; do
    [ -x "$b" ] || { echo "board-test.sh: $b is missing (run without --no-build)" >&2; exit 1; }
done

# ---- initramfs ------------------------------------------------------------------------------
phase "initramfs (busybox, modules, postbooth, arm64 libc)"
KVER=$(ls "$TOOLS/kernel/lib/modules" | head -1)
KERNEL=$(ls "$TOOLS/kernel/boot/vmlinuz-"* | head -1)
# depmod writes modules.dep into the unpacked tree itself: a copy of it would double its size.
MODROOT="$TOOLS/kernel"
if [ ! -f "$MODROOT/lib/modules/$KVER/modules.dep" ]; then
    depmod -b "$MODROOT" "$KVER"
fi
# What the guest loads, with everything each needs (modprobe resolves it from modules.dep).
MODULES=(vivid virtio_mmio virtio_blk virtio_net virtio_pci 9p 9pnet_virtio ext4 crc32c_generic)
INITRD_ROOT="$WORK/initrd"
rm -rf "$INITRD_ROOT"
mkdir -p "$INITRD_ROOT"/{bin,sbin,etc,proc,sys,dev,tmp,run,host,store,lib,usr/bin,var}
cp "$TOOLS/busybox/bin/busybox" "$INITRD_ROOT/bin/busybox"
mods=()
for m in "${MODULES[@]}"; do
    # `modprobe --show-depends` prints "insmod PATH" for each module in load order ("builtin
    # NAME" for those compiled in).
    while read -r kind path _; do
        [ "$kind" = insmod ] && mods+=("$path")
    done < <(modprobe -d "$MODROOT" -S "$KVER" --show-depends "$m")
done
for path in $(printf '%s\n' "${mods[@]}" | sort -u); do
    rel=${path#"$MODROOT"/}
    mkdir -p "$INITRD_ROOT/$(dirname "$rel")"
    cp "$path" "$INITRD_ROOT/$rel"
done
cp "$MODROOT/lib/modules/$KVER"/modules.{builtin,builtin.modinfo,order} "$INITRD_ROOT/lib/modules/$KVER/" 2>/dev/null || true
depmod -b "$INITRD_ROOT" "$KVER"
# The release binary is linked against glibc: the guest gets the arm64 libc it needs.
cp "$CROSS_BIN" "$INITRD_ROOT/usr/bin/postbooth"
mkdir -p "$INITRD_ROOT/lib/aarch64-linux-gnu"
for lib in $(aarch64-linux-gnu-readelf -d "$CROSS_BIN" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p') ld-linux-aarch64.so.1; do
    cp -L "$SYSROOT/lib/$lib" "$INITRD_ROOT/lib/$lib"
done
cp scripts/board/init "$INITRD_ROOT/init"
chmod 755 "$INITRD_ROOT/init"
(cd "$INITRD_ROOT" && find . | cpio -o -H newc --quiet | gzip -1 >"$WORK/initrd.cpio.gz")
echo "initramfs: ${#mods[@]} modules, $(du -k "$WORK/initrd.cpio.gz" | cut -f1) KiB, kernel $KVER"

# ---- scenarios ------------------------------------------------------------------------------
phase "scenarios: ${scenarios[*]}"
RESULT="$WORK/result"
rm -f "$RESULT"
python3 scripts/board/run.py --kernel "$KERNEL" --initrd "$WORK/initrd.cpio.gz" \
    --sim "$HOST_BIN" --work "$WORK" --result "$RESULT" "${scenarios[@]}"
exit 0
}
