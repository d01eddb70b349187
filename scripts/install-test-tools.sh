#!/usr/bin/env bash
# Installs the external tools the test suite runs against into <repo>/.tools.
# s3s-fs is a real S3 server that checks SigV4 signatures, so the S3 media host
# tests prove our signing rather than passing against a mock that accepts anything.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"

# 0.14.1 is pinned: newer releases need a newer rustc than CI may have.
S3S_FS_VERSION="0.14.1"

if [ -x "$TOOLS/bin/s3s-fs" ]; then
    echo "s3s-fs already installed at $TOOLS/bin/s3s-fs"
else
    echo "installing s3s-fs $S3S_FS_VERSION into $TOOLS (takes a few minutes)"
    cargo install "s3s-fs@$S3S_FS_VERSION" --features binary --locked --root "$TOOLS"
fi

# promtool (Debian package prometheus) checks the /metrics exposition and the alert rules in
# contrib/prometheus; mosquitto is the real MQTT broker the MQTT tests start on loopback.
# Quick when present; about 20 s to install on a fresh Debian 12 (apt-get update included).
# The packages' own services are not needed (the tests start their own broker).
need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null 2>&1 || need+=(mosquitto)
command -v mosquitto_sub >/dev/null 2>&1 || need+=(mosquitto-clients)
if [ "${#need[@]}" -gt 0 ]; then
    echo "installing ${need[*]} (apt-get)"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    # A mirror that is mid-sync for another architecture's index must not stop the install.
    $SUDO apt-get update -qq || echo "apt-get update had errors; installing from the lists there are"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
else
    echo "promtool and mosquitto already installed"
fi

# Headless Chromium and its WebDriver for the web page tests (tests/web_browser.rs). Debian's
# packages; quick when already installed.
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    echo "chromium and chromedriver already installed"
elif command -v apt-get >/dev/null; then
    echo "installing chromium and chromium-driver (apt)"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    # A mirror mid-sync for another architecture's index must not stop the install.
    $SUDO apt-get update -qq || echo "apt-get update had errors; installing from the lists there are"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver fonts-dejavu-core >/dev/null
else
    echo "chromium and chromedriver are needed for the web tests: install them" >&2
    exit 1
fi
