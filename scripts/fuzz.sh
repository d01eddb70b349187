#!/usr/bin/env bash
# Coverage-guided fuzzing of the targets in fuzz/ with cargo-fuzz (libFuzzer), for local runs:
#   ./scripts/fuzz.sh [seconds per target, default 60] [target ...]
# cargo-fuzz needs nightly-only flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
# It also needs a C++ compiler (libFuzzer is built from source) and builds every dependency
# again with sanitizers (several minutes). CI runs the same target functions over the corpus
# plus seeded mutations as ordinary tests instead (tests/fuzz_corpus.rs).
# New inputs that libFuzzer finds go into fuzz/corpus/<target>/; commit the interesting ones.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

secs="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(config graph_answer usage_headers frame_decode)
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz (once)"
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
for t in "${targets[@]}"; do
    echo "==== fuzz $t for ${secs}s ===="
    cargo fuzz run "$t" -- -max_total_time="$secs" -rss_limit_mb=2048
done
