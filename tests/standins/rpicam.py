"""rpicam-vid and rpicam-still stand-ins: the options of rpicam-apps' core/options.cpp,
core/video_options.hpp and core/still_options.hpp, parsed as boost::program_options does
(--name value, --name=value, -x value, implicit values for flags), its error texts
("ERROR: *** <what> ***" on stderr, exit status 255), MJPEG on stdout."""
import os
import re
import sys
import time

import standin

# name: (short, takes_value, implicit) -- implicit options may stand alone.
COMMON = {
    "help": ("h", False, True), "version": (None, False, True),
    "list-cameras": (None, False, True), "camera": (None, True, False),
    "verbose": ("v", True, True), "config": ("c", True, True), "info-text": (None, True, False),
    "width": (None, True, False), "height": (None, True, False), "timeout": ("t", True, False),
    "output": ("o", True, False), "post-process-file": (None, True, False),
    "post-process-libs": (None, True, False), "nopreview": ("n", False, True),
    "preview": ("p", True, False), "fullscreen": ("f", False, True),
    "qt-preview": (None, False, True), "preview-libs": (None, True, False),
    "preview-backend": (None, True, False), "hflip": (None, False, True),
    "vflip": (None, False, True), "rotation": (None, True, False), "roi": (None, True, False),
    "shutter": (None, True, False), "analoggain": (None, True, False), "gain": (None, True, False),
    "metering": (None, True, False), "exposure": (None, True, False), "ev": (None, True, False),
    "awb": (None, True, False), "awbgains": (None, True, False), "ccm": (None, True, False),
    "flush": (None, False, True), "wrap": (None, True, False), "brightness": (None, True, False),
    "contrast": (None, True, False), "saturation": (None, True, False),
    "sharpness": (None, True, False), "framerate": (None, True, False),
    "denoise": (None, True, False), "viewfinder-width": (None, True, False),
    "viewfinder-height": (None, True, False), "tuning-file": (None, True, False),
    "lores-width": (None, True, False), "lores-height": (None, True, False),
    "lores-par": (None, False, True), "mode": (None, True, False),
    "viewfinder-mode": (None, True, False), "buffer-count": (None, True, False),
    "viewfinder-buffer-count": (None, True, False), "no-raw": (None, False, True),
    "autofocus-mode": (None, True, False), "autofocus-range": (None, True, False),
    "autofocus-speed": (None, True, False), "autofocus-window": (None, True, False),
    "lens-position": (None, True, False), "hdr": (None, True, True),
    "metadata": (None, True, False), "metadata-format": (None, True, False),
    "flicker-period": (None, True, False),
}
VIDEO = {
    "bitrate": ("b", True, False), "profile": (None, True, False), "level": (None, True, False),
    "intra": ("g", True, False), "inline": (None, False, True), "codec": (None, True, False),
    "encoder-libs": (None, True, False), "save-pts": (None, True, False),
    "quality": ("q", True, False), "listen": ("l", False, True), "keypress": ("k", False, True),
    "signal": ("s", False, True), "initial": ("i", True, False), "split": (None, False, True),
    "segment": (None, True, False), "circular": (None, True, True), "frames": (None, True, False),
    "libav-video-codec": (None, True, False), "libav-video-codec-opts": (None, True, False),
    "libav-format": (None, True, False), "libav-audio": (None, False, True),
    "audio-codec": (None, True, False), "audio-source": (None, True, False),
    "audio-device": (None, True, False), "audio-channels": (None, True, False),
    "audio-bitrate": (None, True, False), "audio-samplerate": (None, True, False),
    "av-sync": (None, True, False), "low-latency": (None, False, True),
    "sync": (None, True, False),
}
STILL = {
    "quality": ("q", True, False), "exif": ("x", True, False), "timelapse": (None, True, False),
    "framestart": (None, True, False), "datetime": (None, False, True),
    "timestamp": (None, False, True), "restart": (None, True, False),
    "keypress": ("k", False, True), "signal": ("s", False, True), "thumb": (None, True, False),
    "encoding": ("e", True, False), "raw": ("r", False, True), "latest": (None, True, False),
    "immediate": (None, False, True), "autofocus-on-capture": (None, False, True),
    "zsl": (None, False, True),
}
SENSOR = "/base/soc/i2c0mux/i2c@1/imx708@1a"


class Refused(Exception):
    pass


def parse(argv, table):
    shorts = {s: name for name, (s, _, _) in table.items() if s}
    opts = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        value = None
        if a.startswith("--"):
            name, eq, v = a[2:].partition("=")
            if eq:
                value = v
        elif a.startswith("-") and len(a) >= 2:
            name = shorts.get(a[1])
            if name is None:
                raise Refused("unrecognised option '%s'" % a)
            if len(a) > 2:
                value = a[2:]
        else:
            # A bare word: boost says it is not an option it takes.
            raise Refused("too many positional options have been specified on the command line")
        if name not in table:
            raise Refused("unrecognised option '%s'" % a.split("=")[0])
        _, takes, implicit = table[name]
        if value is None and takes:
            nxt = argv[i + 1] if i + 1 < len(argv) else None
            if nxt is not None and not (nxt.startswith("-") and len(nxt) > 1 and not re.match(r"^-\d", nxt)):
                value = nxt
                i += 1
            elif nxt == "-":
                value = nxt
                i += 1
            elif not implicit:
                raise Refused("the required argument for option '--%s' is missing" % name)
        opts[name] = value if value is not None else "1"
        i += 1
    return opts


def ms(text):
    """rpicam time strings: a number is milliseconds; 's', 'ms', 'us' units."""
    m = re.match(r"^([0-9.]+)\s*(ms|s|sec|us|min)?$", text or "")
    if not m:
        raise Refused("Invalid time string provided: " + str(text))
    v, unit = float(m.group(1)), m.group(2) or "ms"
    return v * {"ms": 1, "s": 1000, "sec": 1000, "us": 0.001, "min": 60000}[unit]


def fail(tool, what, code=255):
    standin.log(tool, "error", said=what)
    sys.stderr.write("ERROR: *** %s ***\n" % what)
    sys.stderr.flush()
    os._exit(code)


def main(tool, table):
    argv = sys.argv[1:]
    try:
        opts = parse(argv, {**COMMON, **table})
    except Refused as e:
        standin.log(tool, "refused", args=argv)
        fail(tool, str(e))
    if "list-cameras" in opts:
        # Lists without holding the camera (options.cpp ignores acquire() there).
        standin.log(tool, "list-cameras")
        if os.path.exists(standin.path("no-picam")):
            print("No cameras available!")
        else:
            print("Available cameras\n-----------------")
            print("0 : imx708 [4608x2592 10-bit RGGB] (%s)" % SENSOR)
            print("    Modes: 'SRGGB10_CSI2P' : 1536x864 [120.13 fps - (768,432)/3072x1728 crop]")
            print("                             2304x1296 [56.03 fps - (0,0)/4608x2592 crop]")
            print("                             4608x2592 [14.35 fps - (0,0)/4608x2592 crop]")
        sys.exit(0)
    plan = standin.next_plan(tool)
    standin.log(tool, "start", args=argv, plan=plan)
    if opts.get("output") != "-":
        fail(tool, "this stand-in writes to stdout only (-o -)")
    # libcamera logs to stderr as it starts, as the real tools do.
    sys.stderr.write("[0:00:00.100000000] [%d]  INFO Camera camera_manager.cpp:327 libcamera v0.3.2\n" % os.getpid())
    sys.stderr.flush()
    time.sleep(0.15)
    if plan == "no-camera" or os.path.exists(standin.path("no-picam")):
        fail(tool, "no cameras available")
    if plan == "in-use" or standin.acquire(tool, "picam"):
        fail(tool, "failed to acquire camera " + SENSOR)

    def stop(signum, frame):
        standin.release("picam")
        standin.log(tool, "exit", signal=signum)
        os._exit(0)

    standin.on_signals(stop)
    if plan == "hang":
        standin.hang(tool)
    return opts, plan


def crash(tool):
    standin.log(tool, "crash")
    standin.release("picam")
    sys.stderr.write("Segmentation fault\n")
    sys.stderr.flush()
    os.kill(os.getpid(), 9)
