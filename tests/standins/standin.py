"""Shared parts of the camera tool stand-ins (rpicam-vid, rpicam-still, gphoto2).

The stand-ins behave like the real tools as their source describes them (option parsing,
error texts, exit codes, output on stdout) and are steered by the test through files in
$POSTBOOTH_STANDIN_DIR:

  frames/*.jpg     the JPEG frames a camera "sees" (written by the test), used in name order
  still.jpg        what a full-resolution capture returns (else the first frame)
  <tool>.plan      one behaviour per line, consumed one line per run ("ok", "hang",
                   "crash-after 5", "damaged", "no-camera", "in-use", "busy", ...);
                   a missing or empty file means "ok"
  calls.log        written here: one JSON object per event (start, frame, exit, overlap...)
  running/<pid>    one file per camera process alive, to find two at once

Every tool that holds a camera registers under its camera's name ("picam" for rpicam-*,
"dslr" for gphoto2); a second process on the same camera is logged as "overlap" and fails
the way the real tool fails when the camera is taken.
"""
import fcntl
import json
import os
import signal
import sys
import time

DIR = os.environ.get("POSTBOOTH_STANDIN_DIR", "")


def path(*parts):
    return os.path.join(DIR, *parts)


def log(tool, event, **fields):
    if not DIR:
        return
    entry = {"tool": tool, "pid": os.getpid(), "event": event, "t": time.time()}
    entry.update(fields)
    line = (json.dumps(entry) + "\n").encode()
    fd = os.open(path("calls.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def next_plan(tool):
    """Pops this run's behaviour from <tool>.plan ("ok" when there is none)."""
    if not DIR:
        return "ok"
    plan = path(tool + ".plan")
    with open(path("plan.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(plan) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return "ok"
        if not lines:
            return "ok"
        first, rest = lines[0].strip(), lines[1:]
        with open(plan + ".tmp", "w") as f:
            f.write("".join(l + "\n" for l in rest))
        os.replace(plan + ".tmp", plan)
        return first or "ok"


def alive(pid):
    """Running and not a zombie: a killed tool that was not reaped yet holds no camera."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def acquire(tool, camera):
    """Registers this process as holding `camera`; returns the pids that already hold it."""
    if not DIR:
        return []
    os.makedirs(path("running"), exist_ok=True)
    with open(path("running.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        others = []
        for name in os.listdir(path("running")):
            try:
                pid_s, cam = name.split(".", 1)
                pid = int(pid_s)
            except ValueError:
                continue
            if cam == camera and pid != os.getpid() and alive(pid):
                others.append(pid)
        if others:
            log(tool, "overlap", camera=camera, others=others)
            return others
        open(path("running", "%d.%s" % (os.getpid(), camera)), "w").close()
        return []


def release(camera):
    if DIR:
        try:
            os.remove(path("running", "%d.%s" % (os.getpid(), camera)))
        except FileNotFoundError:
            pass


def frames():
    """The JPEG frames the camera sees, in name order."""
    d = path("frames")
    try:
        names = sorted(n for n in os.listdir(d) if n.endswith(".jpg"))
    except FileNotFoundError:
        names = []
    out = []
    for n in names:
        with open(os.path.join(d, n), "rb") as f:
            out.append(f.read())
    return out


def still():
    try:
        with open(path("still.jpg"), "rb") as f:
            return f.read()
    except FileNotFoundError:
        fs = frames()
        return fs[0] if fs else b""


def next_run():
    """A number per run of any stand-in, counting up across runs (for unique frames)."""
    if not DIR:
        return 0
    with open(path("counter.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(path("counter")) as f:
                n = int(f.read().strip() or "0")
        except FileNotFoundError:
            n = 0
        with open(path("counter"), "w") as f:
            f.write(str(n + 1))
        return n


def unique(jpeg, n):
    """Frame number `n` of a camera is never the same picture as another: a real sensor's
    noise sees to that. Here the base-16 digits of n (four) raise the two lowest AC values
    (horizontal and vertical detail) of the luma and then the chroma quantisation table, so
    the decoded pixels of any picture with some detail differ (a different photo, a
    different sha256), while the bytes stay a valid baseline JPEG."""
    b = bytearray(jpeg)
    digits = [(n >> (4 * k)) & 0x0F for k in range(4)]
    i = 2
    while i + 4 <= len(b) and b[i] == 0xFF:
        marker = b[i + 1]
        length = (b[i + 2] << 8) | b[i + 3]
        if marker == 0xDB:
            j = i + 4
            while j < i + 2 + length:
                precision, table = b[j] >> 4, b[j] & 0x0F
                size = 128 if precision else 64
                if precision == 0 and table in (0, 1):
                    for k in (1, 2):
                        b[j + 1 + k] = min(255, b[j + 1 + k] + digits[2 * table + k - 1])
                j += 1 + size
        if marker == 0xDA:
            break
        i += 2 + length
    return bytes(b)


def damage(jpeg):
    """Flips bytes in the middle of the coded data: still SOI..EOI, decodes to garbage."""
    b = bytearray(jpeg)
    mid = len(b) * 2 // 3
    for i in range(mid, min(mid + 64, len(b) - 2)):
        if b[i] != 0xFF and b[i - 1] != 0xFF:
            b[i] ^= 0x5A
    return bytes(b)


def write_out(data, pieces=1, pause=0.0):
    """Writes to stdout in `pieces` writes (a reader sees the frame split across reads)."""
    out = sys.stdout.buffer
    n = max(1, pieces)
    step = max(1, len(data) // n)
    for i in range(0, len(data), step):
        out.write(data[i:i + step])
        out.flush()
        if pause:
            time.sleep(pause)


def on_signals(handler):
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGPIPE, signal.SIGUSR2):
        signal.signal(sig, handler)


def hang(tool):
    log(tool, "hang")
    while True:
        time.sleep(3600)
