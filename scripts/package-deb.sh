#!/usr/bin/env bash
# Makes the .deb for each board from the release binaries scripts/cross-build.sh built
# (target/cross/<triple>/release/postbooth), with cargo-deb ([package.metadata.deb] in
# Cargo.toml), then prints what is in each package: `dpkg-deb --info`, `--contents`, the
# maintainer scripts, and lintian's findings.
#
# Installs cargo-deb (pinned, --locked) into .tools/ the first time, and lintian with apt.
#
# Usage: scripts/package-deb.sh [aarch64] [armv7]   (default both)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TOOLS="$ROOT/.tools"
# 3.8.0 declares rust-version 1.85, so it builds with the Debian toolchain as well as rustup's.
CARGO_DEB_VERSION="3.8.0"
export CARGO_TARGET_DIR="$ROOT/target/cross"
OUT="$CARGO_TARGET_DIR/debian"

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(aarch64 armv7)

triple() {
    case "$1" in
        aarch64) echo aarch64-unknown-linux-gnu ;;
        armv7) echo armv7-unknown-linux-gnueabihf ;;
        *)
            echo "package-deb.sh: unknown target '$1' (aarch64 or armv7)" >&2
            exit 2
            ;;
    esac
}

if [ -x "$TOOLS/bin/cargo-deb" ] && "$TOOLS/bin/cargo-deb" --version | grep -q "$CARGO_DEB_VERSION"; then
    echo "cargo-deb $CARGO_DEB_VERSION already installed in $TOOLS"
else
    echo "installing cargo-deb $CARGO_DEB_VERSION into $TOOLS (a few minutes, once)"
    # Its own target dir: the boards' CARGO_TARGET_DIR is not for host tools.
    CARGO_TARGET_DIR="$TOOLS/build" cargo install "cargo-deb@$CARGO_DEB_VERSION" --locked --root "$TOOLS"
    rm -rf "$TOOLS/build"
fi

if ! command -v lintian >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y --no-install-recommends lintian ||
        echo "lintian could not be installed; the packages are still listed below"
fi

mkdir -p "$OUT"
for t in "${targets[@]}"; do
    tr=$(triple "$t")
    bin="$CARGO_TARGET_DIR/$tr/release/postbooth"
    if [ ! -x "$bin" ]; then
        echo "package-deb.sh: $bin is missing: run scripts/cross-build.sh $t first" >&2
        exit 1
    fi
    echo
    echo "==== .deb for $tr ===="
    # --no-build: the binary is the one cross-build.sh built and tested; --no-strip: the
    # release profile already stripped it (and the host's strip cannot read ARM binaries).
    deb=$("$TOOLS/bin/cargo-deb" --target "$tr" --no-build --no-strip --output "$OUT" | tail -1)
    echo "$deb"
    dpkg-deb --info "$deb"
    echo "---- contents"
    dpkg-deb --contents "$deb"
    echo "---- postinst"
    dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./postinst
    echo "---- conffiles"
    dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles
    # The unit and the config in the package are the repository's.
    work=$(mktemp -d)
    dpkg-deb -x "$deb" "$work"
    unit=$(find "$work" -name postbooth.service)
    cmp "$unit" systemd/postbooth.service
    cmp "$work/etc/postbooth/config.toml" config/example.toml
    file "$work/usr/bin/postbooth"
    rm -rf "$work"
    if command -v lintian >/dev/null; then
        echo "---- lintian (reported, not enforced)"
        lintian --tag-display-limit 0 "$deb" || true
    fi
done
echo
ls -l "$OUT"/*.deb
