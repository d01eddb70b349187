#!/usr/bin/env python3
"""The daemon's memory and bytes written per photo, as docs/PERFORMANCE.md reports them.

Starts the Graph API simulator and `postbooth run` (display and web off), shoots N photos one
after another with `postbooth shoot`, waits until all are posted, then a minute more, and
prints RSS before the first photo, once all are posted and a minute later, the peak (VmHWM),
and the bytes the daemon wrote (/proc/PID/io write_bytes) against the JPEGs it saved.

Two cameras, because they hold a 12 MP photo differently:
  pattern  camera.kind = "test-pattern" at 4000x3000: draws a whole RGB frame (34 MiB), and its
           flat picture compresses to ~50 KB, so fixed costs per photo dominate the bytes;
  folder   camera.kind = "dir" fed a 4056x3040 photo-like JPEG (q92, from `postbooth bench`),
           as a DSLR through gphoto2 or a Pi camera through rpicam-still hands one over.

Usage: scripts/lean-figures.py [--bin target/release/postbooth] [--photos 100]
                               [--camera pattern|folder] [--photo FILE.jpg] [--idle 60]
--photo feeds the folder camera your own photo instead (one from the booth's camera, say):
the bench's photo-like pattern downscales to a smoother JPEG than a real scene does, so the
bytes written per photo depend on the content.
Build the binary as PERFORMANCE.md says (release, LTO off is fine: the figures are memory and
bytes, not time).
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kib(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def write_bytes(pid):
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError(f"no write_bytes in /proc/{pid}/io")


def wait_until(what, check, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", type=Path, default=ROOT / "target/release/postbooth")
    ap.add_argument("--photos", type=int, default=100)
    ap.add_argument("--camera", choices=["pattern", "folder"], default="folder")
    ap.add_argument("--photo", type=Path, help="the folder camera's photo (default: the bench's)")
    ap.add_argument("--idle", type=int, default=60, help="seconds to wait after the last post")
    args = ap.parse_args()
    binary = args.bin.resolve()
    tmp = Path(tempfile.mkdtemp(prefix="lean-figures-"))
    procs = []
    try:
        sim_port, media_port = free_port(), free_port()
        token = tmp / "token"
        token.write_text("sim-token\n")
        token.chmod(0o600)
        sim = subprocess.Popen(
            [binary, "sim", "--listen", f"127.0.0.1:{sim_port}", "--quota", "100000"],
            stdout=subprocess.PIPE, stderr=open(tmp / "sim.log", "w"), text=True)
        procs.append(sim)
        # Its Graph API version follows the booth's default: read, not assumed, so an older
        # build can be measured the same way.
        m = re.search(r"/(v\d+\.\d+)", sim.stdout.readline())
        if not m:
            raise RuntimeError(f"the simulator did not start (see {tmp / 'sim.log'})")
        graph_url = f"http://127.0.0.1:{sim_port}/{m.group(1)}"
        if args.camera == "folder":
            inputs = tmp / "inputs"
            inputs.mkdir()
            if args.photo:
                photo = args.photo.resolve()
            else:
                subprocess.run([binary, "bench", "--smoke", "--dir", inputs], check=True,
                               stdout=subprocess.DEVNULL)
                photo = inputs / "12mp.jpg"
            camera = f'kind = "dir"\ndir = "{tmp / "incoming"}"'
            (tmp / "incoming").mkdir()
        else:
            camera = 'kind = "test-pattern"\nwidth = 4000\nheight = 3000'
        store = tmp / "store"
        config = tmp / "config.toml"
        config.write_text(f"""[instagram]
user_id = "17841400000000000"
access_token_file = "{token}"
graph_url = "{graph_url}"
[media]
listen = "127.0.0.1:{media_port}"
public_base_url = "http://127.0.0.1:{media_port}"
[camera]
{camera}
[display]
kind = "none"
[store]
dir = "{store}"
min_free_mib = 1
""")
        cli = [binary, "--config", config]
        daemon = subprocess.Popen(cli + ["run"], stdout=subprocess.DEVNULL,
                                  stderr=open(tmp / "daemon.log", "w"))
        procs.append(daemon)
        wait_until("the daemon's control socket", (store / "control.sock").exists, 60)
        time.sleep(2)
        rss_before = status_kib(daemon.pid, "VmRSS")
        written_before = write_bytes(daemon.pid)
        jpeg_sizes = {}

        def note_jpegs():
            for f in (store / "photos").glob("*.jpg"):
                jpeg_sizes.setdefault(f.name, f.stat().st_size)

        for n in range(args.photos):
            if args.camera == "folder":
                # Copied in under a dot-name and renamed, as the folder camera asks.
                part = tmp / "incoming" / f".{n:04d}.jpg"
                shutil.copyfile(photo, part)
                part.rename(tmp / "incoming" / f"{n:04d}.jpg")
            subprocess.run(cli + ["shoot"], check=True, stdout=subprocess.DEVNULL)
            note_jpegs()

        def all_posted():
            note_jpegs()
            out = subprocess.run(cli + ["queue", "list", "--json"], check=True,
                                 stdout=subprocess.PIPE, text=True).stdout
            jobs = [json.loads(line) for line in out.splitlines() if line.strip()]
            return len(jobs) == args.photos and all(j["state"] == "Done" for j in jobs)

        wait_until("every photo posted", all_posted, 60 + 5 * args.photos)
        rss_posted = status_kib(daemon.pid, "VmRSS")
        written = write_bytes(daemon.pid) - written_before
        time.sleep(args.idle)
        rss_idle = status_kib(daemon.pid, "VmRSS")
        peak = status_kib(daemon.pid, "VmHWM")
        jpeg_total = sum(jpeg_sizes.values())
        mib = lambda kib: f"{kib / 1024:.1f} MiB"  # noqa: E731
        if args.camera == "folder":
            print(f"camera: folder, {photo.name} ({photo.stat().st_size // 1024} KiB) each time")
        else:
            print("camera: the 4000x3000 test pattern")
        print("| photos | RSS before the first | RSS all posted | "
              f"RSS {args.idle} s later | peak (VmHWM) | bytes written ÷ JPEG |")
        print("|---|---|---|---|---|---|")
        print(f"| {args.photos} | {mib(rss_before)} | {mib(rss_posted)} | {mib(rss_idle)} | "
              f"{mib(peak)} | {written / jpeg_total:.2f}× ({written / 1e6:.1f} MB for "
              f"{jpeg_total / 1e6:.1f} MB of JPEG, {jpeg_total / len(jpeg_sizes) / 1024:.0f} KiB "
              f"each) |")
        daemon.terminate()
        daemon.wait(30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        if os.environ.get("KEEP"):
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
