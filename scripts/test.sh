#!/usr/bin/env bash
# Runs the test suite. First installs the external test tools (s3s-fs, a real S3 server that
# checks signatures) into .tools/ when scripts/install-test-tools.sh is present; it skips
# tools that are already installed, so only the first run is slow.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ -f scripts/install-test-tools.sh ]; then
    bash scripts/install-test-tools.sh
fi

cargo test --all-targets "$@"
