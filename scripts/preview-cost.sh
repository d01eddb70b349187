#!/usr/bin/env bash
# Shutter-to-saved time through `postbooth shoot` with 0 and with 3 live-preview viewers
# (MJPEG streams of the guest screen), and the daemon's CPU use with 0, 1 and 3 viewers.
# One run; prints medians and the ratio. Usage: scripts/preview-cost.sh [path/to/postbooth]
# (default target/debug/postbooth; the image crates are optimised in the dev profile too).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${1:-$ROOT/target/debug/postbooth}"
SHOTS="${SHOTS:-20}"
CPU_SECS="${CPU_SECS:-20}"
DIR="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$DIR"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WEB=$(free_port); MEDIA=$(free_port)
install -m 600 /dev/null "$DIR/token"; echo "bench-token" > "$DIR/token"
cat > "$DIR/config.toml" <<TOML
[instagram]
user_id = "17841400000000000"
access_token_file = "$DIR/token"
# Nothing listens here: publishing backs off quietly, capture is what is measured.
graph_url = "http://127.0.0.1:9/v25.0"
[media]
listen = "127.0.0.1:$MEDIA"
public_base_url = "http://127.0.0.1:$MEDIA"
[camera]
kind = "test-pattern"
width = 1920
height = 1080
[display]
kind = "none"
[store]
dir = "$DIR/store"
min_free_mib = 1
[web]
listen = "127.0.0.1:$WEB"
TOML
"$BIN" --config "$DIR/config.toml" run 2>"$DIR/daemon.log" &
PID=$!
for _ in $(seq 100); do [ -S "$DIR/store/control.sock" ] && break; sleep 0.1; done
shoot_ms() {
    local t0 t1
    t0=$(date +%s%N); "$BIN" --config "$DIR/config.toml" shoot >/dev/null; t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000000 ))
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
cpu_pct() {
    local a b hz; hz=$(getconf CLK_TCK)
    a=$(cpu_ticks); sleep "$CPU_SECS"; b=$(cpu_ticks)
    awk -v a="$a" -v b="$b" -v hz="$hz" -v s="$CPU_SECS" 'BEGIN {printf "%.1f", (b-a)/hz/s*100}'
}
viewers() {
    for _ in $(seq "$1"); do
        curl --noproxy '*' -sN "http://127.0.0.1:$WEB/preview.mjpg" >/dev/null &
    done
    sleep 2
}
for _ in 1 2 3; do shoot_ms >/dev/null; done   # warm-up
# Shots with and without viewers alternate, so load from other programs on the machine falls
# on both alike.
: > "$DIR/none"; : > "$DIR/three"
for _ in $(seq "$SHOTS"); do
    shoot_ms >> "$DIR/none"
    viewers 3
    shoot_ms >> "$DIR/three"
    kill $(jobs -p | grep -v "^$PID\$") 2>/dev/null || true
    sleep 1
done
none=$(median < "$DIR/none")
three=$(median < "$DIR/three")
cpu0=$(cpu_pct)
viewers 1
cpu1=$(cpu_pct)
viewers 2
cpu3=$(cpu_pct)
echo "shutter-to-saved median of $SHOTS shots: no viewer ${none} ms, 3 preview viewers ${three} ms, ratio $(awk -v a="$three" -v b="$none" 'BEGIN {printf "%.3f", a/b}')"
echo "daemon CPU while idle over ${CPU_SECS} s (100% = one core): 0 viewers ${cpu0}%, 1 viewer ${cpu1}%, 3 viewers ${cpu3}%"
