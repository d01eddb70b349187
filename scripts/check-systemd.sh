#!/usr/bin/env bash
# Checks systemd/postbooth.service the way systemd itself reads it:
#   1. `systemd-analyze verify`: the unit parses with no warning and its ExecStart binary
#      exists. It runs against a scratch root holding the system's units, the unit at
#      /etc/systemd/system and a built postbooth at /usr/bin/postbooth, where the .deb puts it
#      (systemd 252's verify reports unknown settings as warnings with exit status 0, so any
#      output at all is a failure here);
#   2. `systemd-analyze security --offline=yes`: the overall exposure must be at most 2.5.
# Installs systemd (for systemd-analyze) if it is missing. Prints everything it checks.
#
# Usage: scripts/check-systemd.sh [path/to/postbooth]   (default: target/release/postbooth,
#        else target/debug/postbooth)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UNIT="$ROOT/systemd/postbooth.service"
MAX_EXPOSURE="2.5"

if ! command -v systemd-analyze >/dev/null; then
    echo "installing systemd (for systemd-analyze)"
    if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
    "${SUDO[@]}" apt-get update || echo "apt-get update reported errors; going on"
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y --no-install-recommends systemd
fi
systemd-analyze --version | head -1

bin="${1:-}"
if [ -z "$bin" ]; then
    for candidate in "$ROOT/target/release/postbooth" "$ROOT/target/debug/postbooth"; do
        if [ -x "$candidate" ]; then
            bin="$candidate"
            break
        fi
    done
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "check-systemd: no postbooth binary: run \`cargo build --release\` first or pass its path" >&2
    exit 1
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/usr/lib/systemd" "$scratch/etc/systemd/system" "$scratch/usr/bin"
cp -r /usr/lib/systemd/system "$scratch/usr/lib/systemd/"
cp "$UNIT" "$scratch/etc/systemd/system/postbooth.service"
cp "$bin" "$scratch/usr/bin/postbooth"

echo
echo "==== systemd-analyze verify postbooth.service ===="
set +e
verify_out="$(systemd-analyze verify --root="$scratch" postbooth.service 2>&1)"
verify_rc=$?
set -e
if [ $verify_rc -ne 0 ] || [ -n "$verify_out" ]; then
    echo "$verify_out"
    echo "check-systemd: systemd-analyze verify found problems (exit $verify_rc, output above)" >&2
    exit 1
fi
echo "verify: no warnings, no errors"

echo
echo "==== systemd-analyze security --offline=yes postbooth.service ===="
security_out="$(systemd-analyze security --no-pager --offline=yes "$UNIT" 2>&1)"
echo "$security_out"
exposure="$(echo "$security_out" | sed -n 's/.*Overall exposure level for postbooth.service: \([0-9.]*\).*/\1/p')"
if [ -z "$exposure" ]; then
    echo "check-systemd: no overall exposure level in the output above" >&2
    exit 1
fi
if awk -v e="$exposure" -v max="$MAX_EXPOSURE" 'BEGIN { exit !(e > max) }'; then
    echo "check-systemd: exposure $exposure is above $MAX_EXPOSURE" >&2
    exit 1
fi
echo
echo "systemd unit OK: verify clean, exposure $exposure (limit $MAX_EXPOSURE)"
