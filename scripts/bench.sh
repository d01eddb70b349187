#!/usr/bin/env bash
# The image pipeline benchmark as one command: installs what it compares with (libjpeg-turbo's
# djpeg/cjpeg from Debian, Pillow from PyPI into .tools/bench-venv), builds the release binary
# and runs `postbooth bench`, which prints the table for docs/PERFORMANCE.md.
# Arguments go to `postbooth bench` (e.g. --runs 30, --internals).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

need_apt=()
command -v djpeg >/dev/null && command -v cjpeg >/dev/null || need_apt+=(libjpeg-turbo-progs)
python3 -c "import venv, ensurepip" 2>/dev/null || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "bench.sh: needs ${need_apt[*]}: run as root or: sudo apt-get install ${need_apt[*]}" >&2
        exit 1
    fi
    # A mirror mid-sync can fail one index; the packages are usually still there.
    apt-get update -qq || echo "bench.sh: apt-get update had errors, trying the install anyway" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

VENV=.tools/bench-venv
if ! "$VENV/bin/python" -c "import PIL" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check pillow
fi
echo "libjpeg-turbo: $(dpkg-query -W -f='${Version}' libjpeg-turbo-progs 2>/dev/null || echo '?')," \
    "Pillow $("$VENV/bin/python" -c 'import PIL; print(PIL.__version__)')"

cargo build --release --quiet
exec ./target/release/postbooth bench --python "$VENV/bin/python" "$@"
