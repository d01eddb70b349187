//! `postbooth bench`: how long the image pipeline takes from a camera frame to a compliant
//! 1080-px JPEG, next to libjpeg-turbo's command line tools (`djpeg -scale` + `cjpeg`) and
//! Pillow (`Image.draft` + `resize` + `save`), all measured in the same run on the same frames,
//! with the peak memory (RSS) of each. `scripts/bench.sh` installs the tools it compares with.
//!
//! Each tool runs in its own child process so its peak RSS is its own (`wait4`). postbooth
//! and Pillow loop inside one process and time each run themselves (no interpreter start-up in
//! Pillow's times); djpeg | cjpeg are timed per launch, which adds about a millisecond of
//! process start to theirs. The median of the runs is reported.

use crate::pipeline::encode::{make_compliant, EncodeOptions};
use crate::pipeline::frame::Frame;
use crate::pipeline::frame::{PixelFormat, RawFrame};
use anyhow::{bail, Context};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Timed runs per tool and frame (the median is reported).
    #[arg(long, default_value_t = 15)]
    pub runs: u32,
    /// Folder for the test frames and outputs (default: a temporary folder).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The Python that has Pillow (scripts/bench.sh makes one in .tools/bench-venv).
    #[arg(long, default_value = "python3")]
    pub python: PathBuf,
    /// postbooth only, 2 runs: a quick check that the benchmark works.
    #[arg(long)]
    pub smoke: bool,
    /// Also time the alternatives the pipeline chose between (decoders, resizers, encoders).
    #[arg(long)]
    pub internals: bool,
    /// Internal: time the pipeline on one input (KIND is jpeg or yuyv:WxH) and print the times.
    #[arg(long, hide = true, num_args = 2, value_names = ["KIND", "FILE"])]
    pub worker: Option<Vec<String>>,
}

/// A frame to benchmark.
struct Case {
    name: &'static str,
    file: &'static str,
    width: u32,
    height: u32,
    yuyv: bool,
}

const CASES: [Case; 3] = [
    Case {
        name: "1920x1080 MJPEG (4:2:2, q90)",
        file: "hd.mjpg",
        width: 1920,
        height: 1080,
        yuyv: false,
    },
    Case {
        name: "1920x1080 YUYV",
        file: "hd.yuyv",
        width: 1920,
        height: 1080,
        yuyv: true,
    },
    Case {
        name: "4056x3040 JPEG (12 MP, 4:2:0, q92)",
        file: "12mp.jpg",
        width: 4056,
        height: 3040,
        yuyv: false,
    },
];

/// What one tool measured on one frame.
#[derive(Clone, Copy, Debug)]
struct Measured {
    median_ms: f64,
    peak_rss_kib: u64,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if let Some(w) = &args.worker {
        return worker(&w[0], Path::new(&w[1]), args.runs);
    }
    let tmp;
    let dir = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            d.clone()
        }
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    let runs = if args.smoke { 2 } else { args.runs.max(1) };
    let exe = std::env::current_exe()?;
    let dir_s = dir.to_string_lossy().to_string();
    // Children inherit this process' peak RSS as theirs on Linux (wait4 and getrusage report
    // the larger), so the big test frames are made in a child and this process stays small.
    eprintln!("making test frames in {}", dir.display());
    let (made, _) =
        run_measured(Command::new(&exe).args(["bench", "--worker", "make-inputs", &dir_s]))?;
    print!("{made}");
    if args.internals {
        let (out, _) =
            run_measured(Command::new(&exe).args(["bench", "--worker", "internals", &dir_s]))?;
        print!("{out}");
    }
    let turbo = !args.smoke && have("djpeg") && have("cjpeg");
    let pillow = !args.smoke && pillow_works(&args.python);
    let missing = !(turbo && pillow);
    if !args.smoke && missing {
        eprintln!(
            "note: {} missing: run scripts/bench.sh, which installs them",
            match (turbo, pillow) {
                (false, false) => "libjpeg-turbo-progs (djpeg, cjpeg) and Pillow are",
                (false, true) => "libjpeg-turbo-progs (djpeg, cjpeg) is",
                _ => "Pillow is",
            }
        );
    }
    let script = dir.join("bench_pillow.py");
    std::fs::write(&script, PILLOW_SCRIPT)?;

    println!("{}", machine());
    println!("load average before: {}", loadavg());
    println!(
        "RSS floor (this process at spawn; libjpeg-turbo's figure cannot be below it): {:.1} MiB",
        vm_hwm_kib() as f64 / 1024.0
    );
    println!();
    println!(
        "| frame | postbooth | libjpeg-turbo | Pillow | postbooth ÷ turbo | Pillow ÷ postbooth | peak RSS postbooth | peak RSS turbo | peak RSS Pillow |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for case in &CASES {
        let input = dir.join(case.file);
        let kind = if case.yuyv {
            format!("yuyv:{}x{}", case.width, case.height)
        } else {
            "jpeg".to_string()
        };
        let input_s = input.to_string_lossy().to_string();
        let ours = measure_looping(Command::new(&exe).args([
            "bench",
            "--runs",
            &runs.to_string(),
            "--worker",
            &kind,
            &input_s,
        ]))?;
        let theirs = if turbo {
            Some(measure_turbo(case, &dir, runs)?)
        } else {
            None
        };
        let pil = if pillow {
            Some(measure_looping(Command::new(&args.python).args([
                script.to_string_lossy().as_ref(),
                &kind,
                &input_s,
                &runs.to_string(),
                &dir.join("out-pillow.jpg").to_string_lossy(),
            ]))?)
        } else {
            None
        };
        let ms = |m: Option<Measured>| m.map_or("–".into(), |m| format!("{:.1} ms", m.median_ms));
        let mib = |m: Option<Measured>| {
            m.map_or("–".into(), |m| {
                format!("{:.1} MiB", m.peak_rss_kib as f64 / 1024.0)
            })
        };
        let ratio = |a: Option<Measured>, b: Option<Measured>| match (a, b) {
            (Some(a), Some(b)) => format!("{:.2}×", a.median_ms / b.median_ms),
            _ => "–".into(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            case.name,
            ms(Some(ours)),
            ms(theirs),
            ms(pil),
            ratio(Some(ours), theirs),
            ratio(pil, Some(ours)),
            mib(Some(ours)),
            mib(theirs),
            mib(pil),
        );
    }
    println!();
    println!("load average after: {}", loadavg());
    println!(
        "median of {runs} runs each; postbooth and Pillow timed inside one process per frame, \
         djpeg | cjpeg per launch. libjpeg-turbo: MJPEG/JPEG as djpeg -scale M/8 (the smallest \
         M/8 at least 1080 px wide, no exact resize: its tools have none) | cjpeg -quality 90; \
         YUYV (which cjpeg cannot read) as cjpeg -quality 90 of the frame already converted to \
         PPM at full size."
    );
    Ok(())
}

/// Runs a process that loops over the job itself and prints one time in ms per line.
/// Its peak RSS is the one it reports itself (VmHWM of its own image), else wait4's.
fn measure_looping(cmd: &mut Command) -> anyhow::Result<Measured> {
    let (out, rss) = run_measured(cmd)?;
    let rss = out
        .lines()
        .find_map(|l| l.strip_prefix("rss_kib "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(rss);
    let mut times: Vec<f64> = out
        .lines()
        .filter_map(|l| l.strip_prefix("ms "))
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    if times.is_empty() {
        bail!("{cmd:?} printed no times: {out}");
    }
    Ok(Measured {
        median_ms: median(&mut times),
        peak_rss_kib: rss,
    })
}

/// djpeg -scale | cjpeg, once per run (the tools cannot loop).
fn measure_turbo(case: &Case, dir: &Path, runs: u32) -> anyhow::Result<Measured> {
    let out = dir.join("out-turbo.jpg");
    let cmd = if case.yuyv {
        format!(
            "cjpeg -quality 90 '{}' > '{}'",
            dir.join("hd.ppm").display(),
            out.display()
        )
    } else {
        // The smallest M/8 scale that is still at least 1080 px wide.
        let m = (1080u32 * 8).div_ceil(case.width).clamp(1, 8);
        format!(
            "djpeg -scale {m}/8 '{}' | cjpeg -quality 90 > '{}'",
            dir.join(case.file).display(),
            out.display()
        )
    };
    let mut times = Vec::new();
    let mut rss = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let (_, r) = run_measured(Command::new("sh").args(["-c", &cmd]))?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        rss = rss.max(r);
    }
    Ok(Measured {
        median_ms: median(&mut times),
        peak_rss_kib: rss,
    })
}

/// Runs `cmd` to the end; its stdout and the peak RSS (KiB) of it and the children it waited
/// for (Linux wait4 reports the larger of the two).
fn run_measured(cmd: &mut Command) -> anyhow::Result<(String, u64)> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut out)?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for the child we just spawned; std's Child is not waited on afterwards.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if r != pid {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("{cmd:?} failed (status {status}): {out}");
    }
    Ok((out, usage.ru_maxrss as u64))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn pillow_works(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import PIL"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "machine: {model}, {cores} cores, {}",
        std::env::consts::ARCH
    )
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Peak RSS of this process image in KiB (VmHWM), 0 if unknown.
fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The child side: read the file, make the compliant JPEG, write it; `runs` times. Or make
/// the test frames, or time the internals.
fn worker(kind: &str, input: &Path, runs: u32) -> anyhow::Result<()> {
    match kind {
        "make-inputs" => return make_inputs(input),
        "internals" => return internals(input),
        _ => {}
    }
    let out_path = input.with_extension("out.jpg");
    // MJPEG frames come from a USB camera: their scans are walked, as the booth does.
    let opts = EncodeOptions {
        verify_scan: input.extension().is_some_and(|e| e == "mjpg"),
        ..EncodeOptions::default()
    };
    for _ in 0..runs {
        let start = Instant::now();
        let bytes = std::fs::read(input)?;
        let frame = match kind.strip_prefix("yuyv:") {
            Some(size) => {
                let (w, h) = size.split_once('x').context("yuyv:WxH")?;
                Frame::Raw(RawFrame::new(
                    PixelFormat::Yuyv,
                    w.parse()?,
                    h.parse()?,
                    bytes,
                )?)
            }
            None => Frame::Encoded(bytes),
        };
        let jpeg = make_compliant(&frame, &opts)?;
        drop(frame);
        std::fs::write(&out_path, &jpeg.bytes)?;
        println!("ms {}", start.elapsed().as_secs_f64() * 1000.0);
    }
    println!("rss_kib {}", vm_hwm_kib());
    Ok(())
}

/// Photo-like content: colour waves, a vignette, hard edges and a little sensor noise, so
/// the JPEGs have realistic sizes (flat test patterns decode unrealistically fast).
fn photo(w: u32, h: u32) -> Vec<u8> {
    let mut px = Vec::with_capacity(w as usize * h as usize * 3);
    let (fw, fh) = (w as f32, h as f32);
    for y in 0..h {
        for x in 0..w {
            let (u, v) = (x as f32 / fw, y as f32 / fh);
            let d = ((u - 0.5).powi(2) + (v - 0.5).powi(2)).sqrt();
            let edge = if ((u * 12.0) as u32 + (v * 9.0) as u32) % 7 == 0 {
                -70.0
            } else {
                0.0
            };
            let n = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(2_246_822_519))
                .wrapping_mul(3_266_489_917)
                >> 28;
            let noise = n as f32 - 8.0;
            let c = |f: f32| (f + edge + noise).clamp(0.0, 255.0) as u8;
            px.extend_from_slice(&[
                c(128.0 + 80.0 * (u * 23.0 + v * 7.0).sin()),
                c(128.0 + 80.0 * (v * 17.0 - u * 5.0).cos()),
                c(220.0 - 200.0 * d),
            ]);
        }
    }
    px
}

fn make_inputs(dir: &Path) -> anyhow::Result<()> {
    let encode = |px: &[u8], w: u32, h: u32, q: u8, s: jpeg_encoder::SamplingFactor| {
        let mut out = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut out, q);
        enc.set_sampling_factor(s);
        enc.encode(px, w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
            .map(|_| out)
    };
    let hd = photo(1920, 1080);
    std::fs::write(
        dir.join("hd.mjpg"),
        encode(&hd, 1920, 1080, 90, jpeg_encoder::SamplingFactor::F_2_1)?,
    )?;
    // YUYV as a webcam sends it (limited range), and the same frame as PPM for cjpeg.
    let mut yuyv = Vec::with_capacity(1920 * 1080 * 2);
    for pair in hd.chunks_exact(6) {
        let a = crate::pipeline::yuv::rgb_to_ycbcr([pair[0], pair[1], pair[2]]);
        let b = crate::pipeline::yuv::rgb_to_ycbcr([pair[3], pair[4], pair[5]]);
        let ly = |v: u8| (16.0 + f32::from(v) * 219.0 / 255.0).round() as u8;
        let lc = |a: u8, b: u8| {
            (128.0 + ((f32::from(a) + f32::from(b)) / 2.0 - 128.0) * 224.0 / 255.0).round() as u8
        };
        yuyv.extend_from_slice(&[ly(a[0]), lc(a[1], b[1]), ly(b[0]), lc(a[2], b[2])]);
    }
    let raw = RawFrame::new(PixelFormat::Yuyv, 1920, 1080, yuyv.clone())?;
    let rgb = crate::pipeline::yuv::to_rgb(&raw);
    let mut ppm = b"P6\n1920 1080\n255\n".to_vec();
    ppm.extend_from_slice(rgb.as_raw());
    std::fs::write(dir.join("hd.ppm"), ppm)?;
    std::fs::write(dir.join("hd.yuyv"), yuyv)?;
    drop(hd);
    let big = photo(4056, 3040);
    std::fs::write(
        dir.join("12mp.jpg"),
        encode(&big, 4056, 3040, 92, jpeg_encoder::SamplingFactor::F_2_2)?,
    )?;
    for case in &CASES {
        let len = std::fs::metadata(dir.join(case.file))?.len();
        println!("input {}: {} ({} KiB)", case.file, case.name, len / 1024);
    }
    Ok(())
}

/// Times the alternatives the pipeline chose between, on the same frames.
fn internals(dir: &Path) -> anyhow::Result<()> {
    let time = |name: &str, f: &mut dyn FnMut()| {
        let mut t: Vec<f64> = (0..7)
            .map(|_| {
                let s = Instant::now();
                f();
                s.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        println!("  {name}: {:.1} ms", median(&mut t));
    };
    let big = std::fs::read(dir.join("12mp.jpg"))?;
    let hd = std::fs::read(dir.join("hd.mjpg"))?;
    println!("internals (median of 7):");
    for (label, bytes) in [("12 MP", &big), ("1080p", &hd)] {
        time(
            &format!("{label} decode, zune-jpeg full size (RGB)"),
            &mut || {
                let mut d = zune_jpeg::JpegDecoder::new(&bytes[..]);
                std::hint::black_box(d.decode().unwrap());
            },
        );
        time(
            &format!("{label} decode, jpeg-decoder full size"),
            &mut || {
                let mut d = jpeg_decoder::Decoder::new(&bytes[..]);
                std::hint::black_box(d.decode().unwrap());
            },
        );
        time(
            &format!("{label} decode, jpeg-decoder 1/2 scale"),
            &mut || {
                let mut d = jpeg_decoder::Decoder::new(&bytes[..]);
                d.read_info().unwrap();
                let i = d.info().unwrap();
                d.scale(i.width / 2, i.height / 2).unwrap();
                std::hint::black_box(d.decode().unwrap());
            },
        );
        time(
            &format!("{label} decode, image crate (zune inside)"),
            &mut || {
                std::hint::black_box(image::load_from_memory(bytes).unwrap());
            },
        );
    }
    let img = image::load_from_memory(&hd)?.into_rgb8();
    time(
        "1080p -> 1080x608 resize, image crate CatmullRom",
        &mut || {
            std::hint::black_box(image::imageops::resize(
                &img,
                1080,
                608,
                image::imageops::FilterType::CatmullRom,
            ));
        },
    );
    for (name, filter) in [
        ("CatmullRom", fast_image_resize::FilterType::CatmullRom),
        ("Bilinear", fast_image_resize::FilterType::Bilinear),
        ("Lanczos3", fast_image_resize::FilterType::Lanczos3),
    ] {
        time(
            &format!("1080p -> 1080x608 resize, fast_image_resize {name}"),
            &mut || {
                let src = fast_image_resize::images::ImageRef::new(
                    1920,
                    1080,
                    img.as_raw(),
                    fast_image_resize::PixelType::U8x3,
                )
                .unwrap();
                let mut dst = fast_image_resize::images::Image::new(1080, 608, src.pixel_type());
                let o = fast_image_resize::ResizeOptions::new()
                    .resize_alg(fast_image_resize::ResizeAlg::Convolution(filter));
                fast_image_resize::Resizer::new()
                    .resize(&src, &mut dst, &o)
                    .unwrap();
                std::hint::black_box(dst);
            },
        );
    }
    let small = image::imageops::resize(&img, 1080, 608, image::imageops::FilterType::Triangle);
    time("1080x608 encode q90, image crate", &mut || {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(&small)
            .unwrap();
        std::hint::black_box(out);
    });
    time("1080x608 encode q90 4:2:0, jpeg-encoder", &mut || {
        let mut out = Vec::new();
        let mut e = jpeg_encoder::Encoder::new(&mut out, 90);
        e.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
        e.encode(small.as_raw(), 1080, 608, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        std::hint::black_box(out);
    });
    // What walking a camera frame's scan costs (pipeline::scan): alone, and in the whole job
    // (on a second thread beside the decoder).
    time("1080p MJPEG scan walk (pipeline::scan) alone", &mut || {
        std::hint::black_box(crate::pipeline::scan::check(std::hint::black_box(&hd))).unwrap();
    });
    for verify_scan in [false, true] {
        let opts = EncodeOptions {
            verify_scan,
            ..EncodeOptions::default()
        };
        time(
            &format!("1080p MJPEG make_compliant, scan walked: {verify_scan}"),
            &mut || {
                std::hint::black_box(make_compliant(&Frame::Encoded(hd.clone()), &opts).unwrap());
            },
        );
    }
    println!();
    Ok(())
}

/// The Pillow side: the same job done the way Pillow does it best (draft mode for JPEG,
/// channels resized separately and saved as YCbCr for YUYV).
const PILLOW_SCRIPT: &str = r#"
import sys, time
from PIL import Image

kind, path, runs, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
# Video-range YUV to full range, as the booth does.
ylut = [min(255, max(0, round((v - 16) * 255 / 219))) for v in range(256)]
clut = [min(255, max(0, round((v - 128) * 255 / 224 + 128))) for v in range(256)]

def jpeg():
    im = Image.open(path)
    w, h = im.size
    im.draft("RGB", (1080, (1080 * h + w - 1) // w))
    im = im.convert("RGB").resize((1080, round(1080 * h / w)), Image.BICUBIC)
    im.save(out, quality=90)

def yuyv(w, h):
    data = open(path, "rb").read()
    y = Image.frombytes("LA", (w, h), data).getchannel("L")
    pairs = Image.frombytes("RGBA", (w // 2, h), data)
    size = (1080, round(1080 * h / w))
    y = y.resize(size, Image.BICUBIC).point(ylut)
    u = pairs.getchannel("G").resize(size, Image.BICUBIC).point(clut)
    v = pairs.getchannel("A").resize(size, Image.BICUBIC).point(clut)
    Image.merge("YCbCr", (y, u, v)).save(out, quality=90)

for _ in range(runs):
    start = time.perf_counter()
    if kind.startswith("yuyv:"):
        w, h = map(int, kind[5:].split("x"))
        yuyv(w, h)
    else:
        jpeg()
    print("ms", (time.perf_counter() - start) * 1000, flush=True)

for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print("rss_kib", int(line.split()[1]))
"#;
