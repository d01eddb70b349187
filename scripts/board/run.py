#!/usr/bin/env python3
"""Plays the emulated-board scenarios of scripts/board-test.sh and checks what they show.

The host side of each scenario: the Graph API simulator (`postbooth sim`, one for the whole
run, its report read at the end), one qemu-system-aarch64 per boot with the run folder shared
over 9p, QMP for the button, SIGKILL for power cuts, e2fsck on the store's disk image. The
guest side is scripts/board/init, which prints `BOARD <word> ...` lines on the console.

Prints one summary line at the end, e.g.
`board: 12 shots, 6 presses, 30 power cuts, 0 lost, 0 duplicates, 0 fsck errors`,
and exits non-zero if anything failed, after printing the guest's console and the booth's
log (the disk image stays where it is named).
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

# The daemon's fail points the power-cut scenario stops at: those a single photo passes on
# its way (the carousel, comment, upload and story ones are not configured here). Its own
# list is src/failpoint.rs.
FAILPOINTS = [
    "capture.blob-written",
    "capture.record-written",
    "stage.before-persist",
    "container.created-before-persist",
    "container.finished-before-persist",
    "publish.intent-persisted",
    "publish.response-received",
    "publish.published-persisted",
    "finish.before-persist",
]
# ERROR lines a scenario's booth log may hold: what the booth must say there. Any other ERROR
# line fails the run (a booth that logs errors in normal work hides the ones that matter).
EXPECTED_ERRORS = {
    "unplug": [r"photo not taken error=camera: the camera is missing"],
}
# A process that called abort(): 128 + SIGABRT.
ABORTED = 134
USER_ID = "17841400000000000"
TOKEN = "sim-token"


class Failure(Exception):
    """A scenario showed something wrong; `vm` is the boot whose console to print."""

    def __init__(self, message, vm=None):
        super().__init__(message)
        self.vm = vm


def log(msg):
    print(f"board: {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sim:
    """`postbooth sim` on the host, with its report file."""

    def __init__(self, binary, work):
        self.report_path = work / "sim-report.json"
        self.log_path = work / "sim.log"
        self.proc = subprocess.Popen(
            [str(binary), "sim", "--listen", "127.0.0.1:0", "--report", str(self.report_path)],
            stdout=subprocess.PIPE,
            stderr=open(self.log_path, "w"),
            text=True,
        )
        line = self.proc.stdout.readline()
        # The version is the simulator's (it follows the booth's default): read, not assumed.
        m = re.search(r"at http://127\.0\.0\.1:(\d+)/(v\d+\.\d+)", line)
        if not m:
            raise Failure(f"the simulator did not start: {line!r} (see {self.log_path})")
        self.port = int(m.group(1))
        self.version = m.group(2)

    def stop(self):
        """Stops it; its last act is writing the final report, which is returned."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        return json.loads(self.report_path.read_text())


class VM:
    """One boot of the board. The console is read line by line on a thread."""

    def __init__(self, name, run_dir, args, append, fwd_port, disk=None):
        self.name = name
        self.run_dir = run_dir
        self.qmp_path = run_dir / f"{name}.qmp"
        self.console_path = run_dir / f"console-{name}.log"
        self.lines = []
        self.cond = threading.Condition()
        cmd = [
            "qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a72", "-smp", "2", "-m", "1024",
            "-display", "none", "-no-reboot", "-serial", "stdio", "-monitor", "none",
            "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
            "-kernel", str(args.kernel), "-initrd", str(args.initrd),
            "-append", f"console=ttyAMA0 panic=-1 quiet {append}",
            # The booth's `serve` host, reached by the simulator on the host's loopback.
            "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{fwd_port}-:8088",
            "-device", "virtio-net-device,netdev=n0",
            "-virtfs", f"local,path={run_dir},mount_tag=host0,security_model=none,id=host0",
        ]
        if disk:
            cmd += ["-drive", f"file={disk},format=raw,if=none,id=d0,cache=writeback",
                    "-device", "virtio-blk-device,drive=d0"]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        with open(self.console_path, "wb") as out:
            for raw in self.proc.stdout:
                out.write(raw)
                out.flush()
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                with self.cond:
                    self.lines.append(line)
                    self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def board(self, word):
        """The `BOARD <word> ...` lines so far, as the text after the word."""
        prefix = f"BOARD {word}"
        with self.cond:
            return [l[len(prefix):].strip() for l in self.lines
                    if l.startswith(prefix + " ") or l == prefix]

    def wait_for(self, words, timeout, timeout_ok=False):
        """Waits for a `BOARD <word>` line for any of `words`; returns (word, rest).
        A `BOARD fail` line, the VM stopping or the timeout is a Failure (the timeout returns
        None instead with `timeout_ok`)."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self.cond:
            while True:
                for line in self.lines[seen:]:
                    parts = line.split(" ", 2)
                    if len(parts) >= 2 and parts[0] == "BOARD":
                        if parts[1] == "fail":
                            raise Failure(f"{self.name}: the guest says: {line}", self)
                        if parts[1] in words:
                            return parts[1], (parts[2] if len(parts) > 2 else "")
                seen = len(self.lines)
                if self.proc.poll() is not None and not self.reader.is_alive():
                    raise Failure(f"{self.name}: the VM stopped before BOARD {'/'.join(words)}", self)
                left = deadline - time.monotonic()
                if left <= 0:
                    if timeout_ok:
                        return None
                    raise Failure(f"{self.name}: no BOARD {'/'.join(words)} within {timeout} s", self)
                self.cond.wait(min(left, 0.5))

    def qmp(self, command):
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.qmp_path))
            f = s.makefile("rw")
            json.loads(f.readline())  # the greeting
            for cmd in ({"execute": "qmp_capabilities"}, {"execute": command}):
                f.write(json.dumps(cmd) + "\n")
                f.flush()
                while True:
                    reply = json.loads(f.readline())
                    if "event" in reply:
                        continue
                    if "error" in reply:
                        raise Failure(f"QMP {cmd['execute']}: {reply['error']}", self)
                    break

    def kill(self):
        """A power cut: SIGKILL, nothing in the guest gets to run again."""
        self.proc.kill()
        self.proc.wait()
        self.reader.join(timeout=5)

    def wait_exit(self, timeout):
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Failure(f"{self.name}: the VM did not power off within {timeout} s", self)
        self.reader.join(timeout=5)

    def seconds(self):
        return time.monotonic() - self.started

    def console(self):
        with self.cond:
            return "\n".join(self.lines)


def config_toml(scenario, sim_port, sim_version, fwd_port, store, triggers):
    kinds = ", ".join(f'"{k}"' for k in triggers)
    return f"""# Written by scripts/board/run.py for one scenario on the emulated board.
[instagram]
# "localhost" is the host here: the guest's /etc/hosts says 10.0.2.2 (see scripts/board/init).
graph_url = "http://localhost:{sim_port}/{sim_version}"
user_id = "{USER_ID}"
access_token_file = "/run/token"
# The scenario in the caption: vivid draws the same frames after every boot, so two photos
# can be the same image; a post is matched to its job by image and caption.
caption = "Board test {scenario} #booth {{n}}"
request_timeout_secs = 10

[media]
host = "serve"
public_base_url = "http://127.0.0.1:{fwd_port}"
listen = "0.0.0.0:8088"

[camera]
kind = "v4l2"
device = "/dev/video0"
width = 1280
height = 720

[image]
width = 1080

[trigger]
kinds = [{kinds}]
gpio_chip = "/dev/gpiochip0"
gpio_line = 3
gpio_driver = "gpiocdev"
# QEMU drives the PL061 line high for ~100 ms on system_powerdown; the PL061 has no bias.
bias = "none"
active_low = false
debounce_ms = 30
lockout_ms = 1500
countdown_secs = 0

# No I2C stub in this kernel speaks plain I2C (i2c-stub is SMBus only, and the arm64 kernel
# does not build it), so the screens are written as PNG frames.
[display]
kind = "png"
png_dir = "/run/display"

[store]
dir = "{store}"
min_free_mib = 8

[publish]
backoff_base_ms = 200
backoff_cap_ms = 2000
poll_interval_ms = 200
"""


class Run:
    def __init__(self, args):
        self.args = args
        self.work = args.work / f"run-{time.strftime('%Y%m%d-%H%M%S')}"
        self.work.mkdir(parents=True)
        self.sim = Sim(args.sim, self.work)
        self.seed = args.seed
        self.rng = random.Random(self.seed)
        # Per scenario: acknowledged job ids, and the jobs the booth listed at the end.
        self.acked = {}
        self.jobs = {}
        self.presses = 0
        self.cuts = 0
        self.cuts_at_failpoint = 0
        self.fsck_runs = 0
        self.fsck_errors = 0
        self.rebuilds = 0
        self.repairs = 0
        self.times = []
        self.booth_logs = {}
        self.notes = []
        self.vms = []

    def scenario_dir(self, name, triggers, store):
        d = self.work / name
        d.mkdir()
        (d / "config.toml").write_text(
            config_toml(name, self.sim.port, self.sim.version, self.fwd_port, store, triggers))
        (d / "token").write_text(TOKEN + "\n")
        self.booth_logs[name] = d / "booth.log"
        return d

    def boot(self, name, run_dir, append, disk=None):
        vm = VM(name, run_dir, self.args, append, self.fwd_port, disk)
        self.vms.append(vm)
        return vm

    def collect(self, scenario, vm):
        self.acked.setdefault(scenario, []).extend(vm.board("ack"))
        jobs = [json.loads(j) for j in vm.board("job")]
        if jobs:
            self.jobs[scenario] = jobs

    def booth_log(self, scenario):
        p = self.booth_logs.get(scenario)
        return p.read_text(errors="replace") if p and p.exists() else ""

    # ---- scenarios ----------------------------------------------------------------------

    def camera(self):
        d = self.scenario_dir("camera", ["socket"], "/run/store")
        shots = self.args.shots
        vm = self.boot("camera", d, f"board=camera shots={shots}")
        vm.wait_for(["done"], 120 + 20 * shots)
        vm.wait_exit(30)
        self.collect("camera", vm)
        if len(vm.board("ack")) != shots:
            raise Failure(f"camera: {len(vm.board('ack'))} of {shots} shots acknowledged: "
                          f"{vm.board('shoot-failed')}", vm)
        self.daemon_exited_cleanly("camera", vm)
        formats = re.findall(r"camera streaming format=(\S+)", self.booth_log("camera"))
        if not formats or not all(f.startswith(("YUYV", "NV12")) for f in formats):
            raise Failure(f"camera: expected YUYV or NV12 from vivid, the booth streamed {formats}", vm)
        self.notes.append(f"camera: vivid streamed {formats[0]}")

    def unplug(self):
        d = self.scenario_dir("unplug", ["socket"], "/run/store")
        vm = self.boot("unplug", d, "board=unplug")
        vm.wait_for(["done"], 240)
        vm.wait_exit(30)
        self.collect("unplug", vm)
        booth = self.booth_log("unplug")
        plugged = booth.split("camera missing", 1)
        if len(plugged) < 2:
            raise Failure("unplug: the booth never said the camera is missing", vm)
        if "camera streaming" not in plugged[1]:
            raise Failure("unplug: the camera never streamed again after it came back", vm)
        if vm.board("unplugged") != ["gone"]:
            raise Failure(f"unplug: /dev/video0 after unbind: {vm.board('unplugged')}", vm)
        if not vm.board("daemon-alive"):
            raise Failure("unplug: the daemon was not running after the camera came back", vm)
        acks = vm.board("ack")
        if len(acks) < 2:
            raise Failure(f"unplug: expected a shot before the unplug and one after it, got {acks}", vm)
        failed = vm.board("shoot-failed")
        self.notes.append("unplug: shot while unplugged: " +
                          (f"refused ({failed[0][:120]})" if failed else "taken"))
        self.daemon_exited_cleanly("unplug", vm)

    def button(self):
        d = self.scenario_dir("button", ["gpio", "socket"], "/run/store")
        vm = self.boot("button", d, "board=button")
        vm.wait_for(["ready-for-presses"], 120)
        booth = self.booth_logs["button"]
        if "button ready" not in booth.read_text(errors="replace"):
            time.sleep(2)
        real, locked = self.args.presses, 0
        for i in range(real):
            saved_before = booth.read_text(errors="replace").count("photo saved")
            vm.qmp("system_powerdown")
            self.presses += 1
            if i % 2 == 0:
                # A second press inside the 1.5 s lockout (after the first one's ~100 ms
                # pulse ended): ignored and counted, no photo.
                time.sleep(0.45)
                vm.qmp("system_powerdown")
                self.presses += 1
                locked += 1
            deadline = time.monotonic() + 60
            while booth.read_text(errors="replace").count("photo saved") <= saved_before:
                if time.monotonic() > deadline:
                    raise Failure(f"button: press {i + 1} gave no saved photo within 60 s", vm)
                time.sleep(0.2)
            # Past the lockout before the next real press.
            time.sleep(1.6)
        (d / "presses-done").write_text("")
        vm.wait_for(["done"], 120)
        vm.wait_exit(30)
        self.collect("button", vm)
        self.daemon_exited_cleanly("button", vm)
        log_text = self.booth_log("button")
        m = re.findall(r"button stopped presses=(\d+) locked_out=(\d+)", log_text)
        if not m:
            raise Failure("button: the booth did not log its press counts when it stopped", vm)
        presses, locked_out = map(int, m[-1])
        if (presses, locked_out) != (real, locked):
            raise Failure(f"button: pressed {real} times plus {locked} inside the lockout; the booth "
                          f"counted {presses} presses and {locked_out} locked out", vm)
        jobs = self.jobs.get("button", [])
        if len(jobs) != real:
            raise Failure(f"button: {real} presses gave {len(jobs)} photos", vm)
        # Photos taken by the button are acknowledged by the booth's log, not by `shoot`.
        self.acked.setdefault("button", []).extend(j["id"] for j in jobs)
        self.notes.append(f"button: {real} presses -> {len(jobs)} photos, {locked_out} presses "
                          f"in the lockout ignored and counted")

    def powercut(self):
        d = self.scenario_dir("powercut", ["socket"], "/store")
        img = d / "store.img"
        subprocess.run(["truncate", "-s", "128M", str(img)], check=True)
        subprocess.run(["mkfs.ext4", "-q", "-F", str(img)], check=True)
        self.disk = img
        for n in range(self.args.cuts):
            at_fp = n % 2 == 1
            spec = ""
            if at_fp:
                spec = f"{self.rng.choice(FAILPOINTS)}:{self.rng.randint(1, 3)}"
            vm = self.boot(f"cut{n + 1:03d}", d, f"board=powercut failpoint={spec}", disk=img)
            if n % 4 == 2:
                # Early: a moment after power-on, wherever the boot is (kernel, mount with
                # journal replay, the store opening and repairing, the first photo).
                at = self.rng.uniform(4.5, 10.0)
                vm.wait_for(["daemon-exit"], max(0.0, at - vm.seconds()), timeout_ok=True)
                exits = vm.board("daemon-exit")
                if exits:
                    raise Failure(f"cut {n + 1}: the daemon exited by itself: {exits}", vm)
                word = "early"
            else:
                word, rest = vm.wait_for(["up", "daemon-exit"], 120)
            how = ""
            if word == "early":
                stage = "up" if vm.board("up") else "mounted" if vm.board("mounted") else "booting"
                how = f"early, {vm.seconds():.1f} s after power-on ({stage})"
            elif word == "daemon-exit":
                self.check_abort(vm, rest, spec, n)
                how = f"at {spec} while starting"
            elif at_fp:
                # Shots and publishing go on until the fail point stops the daemon; if it is
                # not reached in time, the cut comes anyway.
                hit = vm.wait_for(["daemon-exit"], self.rng.uniform(4, 8), timeout_ok=True)
                if hit:
                    self.check_abort(vm, hit[1], spec, n)
                    how = f"at {spec}"
                else:
                    how = f"random ({spec} not reached)"
            else:
                delay = self.rng.uniform(0.2, 4.0)
                vm.wait_for(["daemon-exit"], delay, timeout_ok=True)
                exits = vm.board("daemon-exit")
                if exits:
                    raise Failure(f"cut {n + 1}: the daemon exited by itself: {exits}", vm)
                how = f"random, {delay:.1f} s after up"
            vm.kill()
            self.cuts += 1
            if how.startswith("at "):
                self.cuts_at_failpoint += 1
            self.collect("powercut", vm)
            clean = self.fsck(img, replay=True, acked=vm.board("ack"), vm=vm)
            log(f"cut {n + 1}/{self.args.cuts}: {how}; {len(vm.board('ack'))} shots acknowledged; "
                f"fsck {'clean' if clean else 'ERRORS'} ({vm.seconds():.1f} s)")
        vm = self.boot("final", d, "board=powercut final=1", disk=img)
        vm.wait_for(["done"], 240)
        vm.wait_exit(30)
        self.collect("powercut", vm)
        self.daemon_exited_cleanly("powercut", vm)
        self.fsck(img, replay=False)
        self.rebuilds = self.booth_log("powercut").count("rebuil")
        self.repairs = self.booth_log("powercut").count("store repaired on open")

    def check_abort(self, vm, rest, spec, n):
        if not spec or rest.strip() != str(ABORTED):
            raise Failure(f"cut {n + 1}: the daemon exited with status {rest.strip()} "
                          f"(fail point '{spec}')", vm)

    def fsck(self, img, replay, acked=(), vm=None):
        """e2fsck -fn must find nothing wrong. After a cut the journal is replayed first, on a
        copy (the next boot replays the original, as a board would); the photos acknowledged
        in that boot must be on it, whole (their sidecars too)."""
        target = img
        if replay:
            target = img.with_suffix(".fsck.img")
            subprocess.run(["cp", "--sparse=always", str(img), str(target)], check=True)
            subprocess.run(["e2fsck", "-y", "-E", "journal_only", str(target)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        r = subprocess.run(["e2fsck", "-fn", str(target)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        self.fsck_runs += 1
        missing = []
        if acked:
            # debugfs reads the image without mounting it: name and size of each file.
            ls = subprocess.run(["debugfs", "-R", "ls -l /photos", str(target)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
            sizes = {}
            for line in ls.splitlines():
                f = line.split()
                if len(f) >= 9 and f[-1].endswith((".jpg", ".json")):
                    sizes[f[-1]] = int(f[-4])
            missing = [f"{job}{ext}" for job in acked for ext in (".jpg", ".json")
                       if sizes.get(f"{job}{ext}", 0) == 0]
        if replay:
            target.unlink()
        if missing:
            raise Failure(f"acknowledged, but missing or empty on the disk after the cut: {missing}", vm)
        if r.returncode != 0:
            self.fsck_errors += 1
            log(f"e2fsck -fn {img} exited {r.returncode}:\n{r.stdout}")
            return False
        return True

    def daemon_exited_cleanly(self, scenario, vm):
        exits = vm.board("daemon-exit")
        if exits != ["0"]:
            raise Failure(f"{scenario}: the daemon's exit statuses were {exits}, expected one 0 "
                          f"(after SIGTERM at the end)", vm)

    # ---- the whole run ------------------------------------------------------------------

    def verify(self, report):
        """Every acknowledged photo published exactly once, each compliant and not blank.

        A post is matched to its job by image (sha256) and caption: vivid draws the same
        frames after every boot, so two jobs can hold the same image, each to be posted once."""
        posts = {}
        for m in report["media"]:
            key = (m["images"][0] if m["images"] else "", m["caption"])
            posts[key] = posts.get(key, 0) + 1
        pictures = report["pictures"]
        problems = []
        lost = duplicates = 0
        matched = set()
        for scenario in self.acked.keys() | self.jobs.keys():
            jobs = {j["id"]: j for j in self.jobs.get(scenario, [])}
            for job_id in self.acked.get(scenario, []):
                if job_id not in jobs:
                    lost += 1
                    problems.append(f"{scenario}: acknowledged job {job_id} is not in the queue")
            for job in jobs.values():
                key = (job["sha256"], job["caption"])
                matched.add(key)
                n = posts.get(key, 0)
                if job["state"] != "Done" or n == 0:
                    lost += 1
                    problems.append(f"{scenario}: job {job['id']} not published: state "
                                    f"{job['state']}, {n} posts, error {job.get('error')}")
                elif n > 1:
                    duplicates += 1
                    problems.append(f"{scenario}: job {job['id']} published {n} times")
        for key, n in posts.items():
            if key not in matched:
                duplicates += 1
                problems.append(f"posted {n} times but no job holds it: image {key[0]}, caption {key[1]!r}")
        for scenario in self.booth_logs:
            for line in self.booth_log(scenario).splitlines():
                if " ERROR " in line and not any(re.search(p, line) for p in
                                                 EXPECTED_ERRORS.get(scenario, [])):
                    problems.append(f"{scenario}: the booth logged an error: {line[:300]}")
        warnings = sum(l.count(" WARN ") for l in map(self.booth_log, self.booth_logs))
        self.notes.append(f"booth logs: {warnings} WARN lines (each scenario's log is kept "
                          f"with BOARD_KEEP=1)")
        for sha, pic in pictures.items():
            if "error" in pic:
                problems.append(f"image {sha}: {pic['error']}")
            elif pic["refused"]:
                problems.append(f"image {sha}: Instagram would refuse it: {pic['refused']}")
            elif pic["luma_stddev"] < 10 or pic["luma_levels"] < 32:
                problems.append(f"image {sha} looks blank: luma stddev {pic['luma_stddev']}, "
                                f"{pic['luma_levels']} levels")
        spreads = [p["luma_stddev"] for p in pictures.values() if "luma_stddev" in p]
        if spreads:
            self.notes.append(f"posts: {len(report['media'])}, images: {len(pictures)}, luma "
                              f"stddev {min(spreads):.1f}..{max(spreads):.1f}")
        return problems, lost, duplicates


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", type=Path, required=True)
    ap.add_argument("--initrd", type=Path, required=True)
    ap.add_argument("--sim", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--cuts", type=int, default=int(os.environ.get("BOARD_CUTS", "30")))
    ap.add_argument("--shots", type=int, default=int(os.environ.get("BOARD_SHOTS", "4")))
    ap.add_argument("--presses", type=int, default=int(os.environ.get("BOARD_PRESSES", "4")))
    ap.add_argument("--seed", type=int,
                    default=int(os.environ.get("BOARD_SEED", str(int(time.time())))))
    ap.add_argument("--result", type=Path, help="also write the summary line here")
    ap.add_argument("scenarios", nargs="+")
    args = ap.parse_args()

    run = Run(args)
    run.fwd_port = free_port()
    log(f"seed {run.seed} (BOARD_SEED={run.seed} repeats the power-cut choices); "
        f"run folder {run.work}")
    failure = None
    try:
        for name in args.scenarios:
            t0 = time.monotonic()
            log(f"scenario {name}")
            getattr(run, name)()
            run.times.append(f"{name}: {time.monotonic() - t0:.0f} s")
    except Failure as e:
        failure = e
    except Exception as e:  # a bug here, or qemu misbehaving: reported like a failure
        failure = Failure(f"{type(e).__name__}: {e}", run.vms[-1] if run.vms else None)
    for vm in run.vms:
        if vm.proc.poll() is None:
            vm.kill()
    report = run.sim.stop()
    problems, lost, duplicates = run.verify(report)
    for note in run.notes:
        log(note)
    log("time per scenario: " + ", ".join(run.times))
    if run.cuts:
        log(f"power cuts: {run.cuts} ({run.cuts_at_failpoint} at a fail point), "
            f"{run.fsck_runs} e2fsck runs, store repaired on open {run.repairs} times, "
            f"rebuilt {run.rebuilds} times")
    if failure or problems:
        if failure:
            log(f"FAILED: {failure}")
            if failure.vm is not None:
                print(f"==== guest console ({failure.vm.name}) ====")
                print(failure.vm.console())
        for p in problems:
            log(f"FAILED: {p}")
        if problems and (not failure or failure.vm is None):
            # Found at the end: the last boot of each scenario shows how it ended.
            last = {}
            for vm in run.vms:
                last[vm.run_dir.name] = vm
            for vm in last.values():
                print(f"==== guest console ({vm.run_dir.name}: {vm.name}) ====")
                print(vm.console())
        for name, path in run.booth_logs.items():
            if path.exists():
                print(f"==== booth log ({name}, {path}) ====")
                print(path.read_text(errors="replace"))
        if getattr(run, "disk", None):
            log(f"the store's disk image is left at {run.disk}")
    shots = sum(len(a) for a in run.acked.values())
    result = (f"board: {shots} shots, {run.presses} presses, {run.cuts} power cuts, {lost} lost, "
              f"{duplicates} duplicates, {run.fsck_errors} fsck errors")
    if failure or problems or run.fsck_errors:
        result += " (FAILED)"
    print(result, flush=True)
    if args.result:
        args.result.write_text(result + "\n")
    if failure or problems or run.fsck_errors:
        sys.exit(1)
    if not os.environ.get("BOARD_KEEP"):
        shutil.rmtree(run.work, ignore_errors=True)


if __name__ == "__main__":
    main()
