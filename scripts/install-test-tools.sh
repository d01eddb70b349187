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
