//! `postbooth doctor`: checks everything the booth needs and says, in words, what to fix.

use crate::config::Config;
use crate::publish::errors::ErrorClass;
use crate::publish::graph::{ApiError, GraphClient, Token};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, PartialEq, Eq, Clone, Copy, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, serde::Serialize)]
pub struct Check {
    pub name: &'static str,
    pub verdict: Verdict,
    pub message: String,
}

fn check(name: &'static str, verdict: Verdict, message: impl Into<String>) -> Check {
    Check {
        name,
        verdict,
        message: message.into(),
    }
}

/// Runs every check, prints them, and fails if any failed.
pub async fn run(config_path: &Path) -> ExitCode {
    let checks = checks(config_path).await;
    for c in &checks {
        let mark = match c.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        };
        println!("{mark}  {:<8} {}", c.name, c.message);
    }
    if checks.iter().any(|c| c.verdict == Verdict::Fail) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

pub async fn checks(config_path: &Path) -> Vec<Check> {
    let config = match Config::load(config_path) {
        Ok(c) => c,
        Err(e) => return vec![check("config", Verdict::Fail, e.to_string())],
    };
    let mut out = vec![check(
        "config",
        Verdict::Ok,
        format!("{} is valid", config_path.display()),
    )];
    out.extend(checks_of(&config).await);
    out
}

/// Every check after the config's, for a config already loaded (the running booth's console
/// shows these). Each only reads: the store through the running booth's socket (or opened
/// read-only, never repaired), the camera without taking it from a running booth.
pub async fn checks_of(config: &Config) -> Vec<Check> {
    let mut out = Vec::new();
    out.push(store_check(config).await);
    out.push(disk_check(config));
    out.push(camera_check(config));
    out.extend(hardware_checks(config));
    out.push(clock_check());
    out.extend(windows_check(config));
    match Token::load(&config.instagram.access_token_file) {
        Ok(token) => {
            out.push(token_check(config, &token));
            out.extend(graph_checks(config, token).await);
        }
        Err(e) => out.push(check("token", Verdict::Fail, e.to_string())),
    }
    out
}

async fn store_check(config: &Config) -> Check {
    let socket = crate::store::control_socket_path(&config.store.dir);
    if let Ok(Some(resp)) = crate::control::call(&socket, &crate::control::Request::List).await {
        let failed = resp
            .jobs
            .iter()
            .filter(|j| matches!(j.state, crate::job::JobState::Failed { .. }))
            .count();
        let waiting = resp.jobs.iter().filter(|j| j.state.is_pending()).count();
        let verdict = if failed > 0 {
            Verdict::Warn
        } else {
            Verdict::Ok
        };
        return check("store", verdict, format!("the booth is running: {waiting} waiting, {failed} failed (see `postbooth queue list`)"));
    }
    let cfg = config.store.clone();
    let caption = config.instagram.caption.clone();
    // Only reads: doctor never repairs, and never opens the store behind a starting booth.
    let options = crate::store::OpenOptions {
        wait: Duration::from_secs(5),
        ..crate::store::OpenOptions::read_only()
    };
    match tokio::task::spawn_blocking(move || {
        crate::store::Store::open_with(&cfg, &caption, options)
    })
    .await
    {
        Ok(Ok((store, _))) => {
            let jobs = store.jobs().unwrap_or_default();
            let waiting = jobs.iter().filter(|j| j.state.is_pending()).count();
            let msg = format!(
                "{} opens: {} jobs, {waiting} waiting",
                config.store.dir.display(),
                jobs.len()
            );
            check("store", Verdict::Ok, msg)
        }
        Ok(Err(crate::store::StoreError::NoStore(_))) => check(
            "store",
            Verdict::Ok,
            format!(
                "{} is not made yet: the booth makes it when it first starts",
                config.store.dir.display()
            ),
        ),
        Ok(Err(e)) => check("store", Verdict::Fail, e.to_string()),
        Err(e) => check("store", Verdict::Fail, e.to_string()),
    }
}

fn disk_check(config: &Config) -> Check {
    let dir = if config.store.dir.exists() {
        config.store.dir.clone()
    } else {
        std::path::PathBuf::from("/")
    };
    match crate::store::durable::free_bytes(&dir) {
        Ok(free) => {
            let free_mib = free / (1024 * 1024);
            if free_mib < config.store.min_free_mib {
                check("disk", Verdict::Fail, format!("disk full: {free_mib} MiB free, the booth needs {} MiB; new photos are refused", config.store.min_free_mib))
            } else if free_mib < config.store.min_free_mib * 4 {
                check(
                    "disk",
                    Verdict::Warn,
                    format!("{free_mib} MiB free: almost full"),
                )
            } else {
                check("disk", Verdict::Ok, format!("{free_mib} MiB free"))
            }
        }
        Err(e) => check(
            "disk",
            Verdict::Fail,
            format!("cannot read free space of {}: {e}", dir.display()),
        ),
    }
}

fn camera_check(config: &Config) -> Check {
    if config.camera.kind == crate::config::CameraKind::V4l2 {
        // Opening the device node says whether it is there and allowed, without taking the
        // camera from a running booth.
        let device = &config.camera.device;
        return match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(device)
        {
            Ok(_) => check(
                "camera",
                Verdict::Ok,
                format!("V4L2 {} is there", device.display()),
            ),
            Err(e) => check(
                "camera",
                Verdict::Fail,
                crate::hw::camera::v4l2::live::DeviceError::from_io(
                    &format!("camera {}", device.display()),
                    &e,
                )
                .to_string(),
            ),
        };
    }
    use crate::config::CameraKind;
    use crate::hw::camera::libcamera;
    match config.camera.kind {
        // Asking the tools, never starting a stream: a running booth keeps its camera.
        CameraKind::Libcamera | CameraKind::Auto if libcamera_wanted(config) => {
            return match libcamera::detect() {
                Ok(cams) if !cams.is_empty() => {
                    check("camera", Verdict::Ok, format!("libcamera: {}", cams.join("; ")))
                }
                Ok(_) => check(
                    "camera",
                    Verdict::Fail,
                    "libcamera finds no camera: power off, check the ribbon cable (contacts the                      right way round), make sure /boot/firmware/config.txt has                      camera_auto_detect=1, and that the user running postbooth is in the video                      group (sudo usermod -aG video $USER)",
                ),
                Err(e) => check("camera", Verdict::Fail, e),
            };
        }
        CameraKind::Gphoto2 => return gphoto2_check(),
        _ => {}
    }
    match crate::hw::camera::open(&config.camera, crate::hw::camera::Context::quiet()) {
        Ok(camera) => check("camera", Verdict::Ok, camera.describe()),
        Err(e) => check("camera", Verdict::Fail, e.to_string()),
    }
}

/// Whether the camera check should ask libcamera (kind libcamera, or auto without a DSLR).
fn libcamera_wanted(config: &Config) -> bool {
    config.camera.kind == crate::config::CameraKind::Libcamera
        || crate::hw::camera::gphoto2::detect().map_or(true, |c| c.is_empty())
}

/// A DSLR: listed by `gphoto2 --auto-detect`, then opened briefly (`--summary`) so a camera
/// claimed by another program or asleep is said in words with the fix.
fn gphoto2_check() -> Check {
    use crate::hw::camera::{child, gphoto2};
    let cams = match gphoto2::detect() {
        Ok(c) => c,
        Err(e) => return check("camera", Verdict::Fail, e),
    };
    if cams.is_empty() {
        return check(
            "camera",
            Verdict::Fail,
            gphoto2::classify("*** Error: No camera found. ***").message,
        );
    }
    let Some(tool) = child::find_tool(gphoto2::TOOL) else {
        return check("camera", Verdict::Fail, "gphoto2 is not installed");
    };
    match child::run(
        &tool,
        &["--summary".to_string()],
        std::time::Duration::from_secs(15),
        1 << 20,
    ) {
        Ok(ran) if ran.status.success() => check(
            "camera",
            Verdict::Ok,
            format!("gphoto2: {}", cams.join("; ")),
        ),
        Ok(ran) => check(
            "camera",
            Verdict::Fail,
            format!(
                "{}: {}",
                cams.join("; "),
                gphoto2::classify(&ran.stderr).message
            ),
        ),
        Err(e) => check("camera", Verdict::Fail, format!("{}: {e}", cams.join("; "))),
    }
}

/// The cameras this machine has, the button's GPIO chip and the display's I2C bus.
fn hardware_checks(config: &Config) -> Vec<Check> {
    use crate::config::{DisplayKind, TriggerKind};
    let mut out = Vec::new();
    // Every camera it can see, by kind (or what to install to see them).
    for (kind, seen) in crate::hw::camera::survey() {
        if kind == "v4l2" {
            continue;
        }
        let name = match kind {
            "gphoto2" => "cameras (gphoto2)",
            _ => "cameras (libcamera)",
        };
        out.push(check(
            name,
            Verdict::Ok,
            match seen {
                Ok(cams) if cams.is_empty() => "none found".to_string(),
                Ok(cams) => cams.join("; "),
                Err(why) => why,
            },
        ));
    }
    let cameras = crate::hw::camera::v4l2::survey();
    out.push(if cameras.is_empty() {
        check(
            "cameras",
            if config.camera.kind == crate::config::CameraKind::V4l2 {
                Verdict::Fail
            } else {
                Verdict::Ok
            },
            "no V4L2 cameras (/dev/video*) found",
        )
    } else {
        check("cameras", Verdict::Ok, cameras.join("; "))
    });
    if config.trigger.kinds.contains(&TriggerKind::Gpio) {
        let chip = &config.trigger.gpio_chip;
        out.push(match crate::hw::button::gpio::check_chip(chip) {
            Ok(()) => check(
                "gpio",
                Verdict::Ok,
                format!(
                    "{} opens; button on line {} ({:?})",
                    chip.display(),
                    config.trigger.gpio_line,
                    config.trigger.gpio_driver
                ),
            ),
            Err(e) => check("gpio", Verdict::Fail, e.to_string()),
        });
    }
    if matches!(
        config.display.kind,
        DisplayKind::Ssd1306 | DisplayKind::Sh1106
    ) {
        out.push(
            match crate::hw::display::open_bus(&config.display.i2c_bus) {
                Ok(_) => check(
                    "display",
                    Verdict::Ok,
                    format!(
                        "{} opens; {:?} expected at {:#04x}",
                        config.display.i2c_bus.display(),
                        config.display.kind,
                        config.display.address
                    ),
                ),
                Err(e) => check("display", Verdict::Fail, e.to_string()),
            },
        );
    }
    out
}

fn clock_check() -> Check {
    // TLS certificates and Instagram timestamps need a real clock; a Pi without a network or
    // RTC starts in 1970 or at its last shutdown. Publishing waits while the clock says a
    // time before this binary was built.
    let now = crate::clock::system_ms() / 1000;
    let not_before = crate::publish::gate::not_before_unix();
    match crate::publish::gate::clock_problem(now, not_before) {
        Some(problem) => check("clock", Verdict::Fail, problem),
        None => check(
            "clock",
            Verdict::Ok,
            format!(
                "{} (after this build, {})",
                crate::publish::gate::utc_text(now),
                crate::publish::gate::utc_text(not_before)
            ),
        ),
    }
}

/// The token file, and how long the token has left.
fn token_check(config: &Config, token: &Token) -> Check {
    use crate::publish::token as t;
    let file = &config.instagram.access_token_file;
    let renewal = t::renewal(config);
    let record = t::load_record(file, token);
    let now = crate::clock::system_ms() / 1000;
    let life = t::describe(renewal, &record, now);
    let verdict = match renewal {
        t::Renewal::FacebookPage => Verdict::Ok,
        _ if now >= record.expires_at() => Verdict::Fail,
        _ if record.days_left(now) < t::WARN_DAYS_LEFT => Verdict::Warn,
        _ => Verdict::Ok,
    };
    check(
        "token",
        verdict,
        format!("{} is readable and private; {life}", file.display()),
    )
}

/// Publish windows: are we inside one now?
fn windows_check(config: &Config) -> Option<Check> {
    use crate::publish::window;
    let windows = window::parse_all(&config.publish.windows).ok()?;
    if windows.is_empty() {
        return None;
    }
    let local = crate::clock::now();
    let minute = u32::from(local.hour) * 60 + u32::from(local.minute);
    Some(
        match window::wait_until_open(&windows, minute, local.second.into()) {
            None => check(
                "windows",
                Verdict::Ok,
                format!("inside the publish windows ({})", window::describe(&windows)),
            ),
            Some(wait) => check(
                "windows",
                Verdict::Warn,
                format!(
                    "outside the publish windows ({}): posting waits {} min for the next; capture goes on",
                    window::describe(&windows),
                    wait.as_secs().div_ceil(60)
                ),
            ),
        },
    )
}

/// "N posts left today" from `content_publishing_limit`.
async fn quota_check(graph: &GraphClient) -> Check {
    match graph.publishing_limit().await {
        Ok(q) if q.usage >= q.total => check(
            "quota",
            Verdict::Warn,
            format!(
                "0 posts left today ({} of {} used in the last 24 h): posting waits for the window to slide",
                q.usage, q.total
            ),
        ),
        Ok(q) => check(
            "quota",
            Verdict::Ok,
            format!(
                "{} posts left today ({} of {} used in the last 24 h)",
                q.total - q.usage,
                q.usage,
                q.total
            ),
        ),
        Err(e) => check("quota", Verdict::Warn, explain(graph.base(), &e)),
    }
}

/// The last line of `queue list`: posts left today, from the running booth or from Instagram.
pub async fn posts_left_line(
    config: &Config,
    from_daemon: Option<crate::publish::gate::GateInfo>,
) -> String {
    let mut line = match from_daemon
        .as_ref()
        .and_then(|i| i.posts_left.zip(i.quota_total))
    {
        Some((left, total)) => format!("Posts left today: {left} of {total}"),
        None => match Token::load(&config.instagram.access_token_file) {
            Ok(token) => {
                let graph = GraphClient::new(
                    &config.instagram.graph_url,
                    config.user_id(),
                    token,
                    Duration::from_secs(5),
                );
                match graph.publishing_limit().await {
                    Ok(q) => format!(
                        "Posts left today: {} of {}",
                        q.total.saturating_sub(q.usage),
                        q.total
                    ),
                    Err(e) => format!("Posts left today: unknown ({e})"),
                }
            }
            Err(e) => format!("Posts left today: unknown ({e})"),
        },
    };
    if let Some(why) = from_daemon.and_then(|i| i.waiting_because) {
        line.push_str(&format!("\nPublishing waits: {why}"));
    }
    line
}

async fn graph_checks(config: &Config, token: Token) -> Vec<Check> {
    let graph = GraphClient::new(
        &config.instagram.graph_url,
        config.user_id(),
        token,
        Duration::from_secs(10),
    );
    let mut out = Vec::new();
    match graph.username().await {
        Ok(name) => out.push(check(
            "network",
            Verdict::Ok,
            format!("{} answers; account @{name}", config.instagram.graph_url),
        )),
        Err(e) => {
            out.push(check(
                "network",
                Verdict::Fail,
                explain(&config.instagram.graph_url, &e),
            ));
            return out;
        }
    }
    out.push(api_version_check(&config.instagram.graph_url, &graph));
    out.push(quota_check(&graph).await);
    out
}

/// Which Graph API version answered: a retired version asked for is served by the next oldest
/// one (the `facebook-api-version` header says which), so say which key to change.
fn api_version_check(graph_url: &str, graph: &GraphClient) -> Check {
    let asked = crate::metrics::collect::graph_api_version(graph_url);
    match graph.served_version() {
        Some(served) => check(
            "api",
            Verdict::Warn,
            crate::publish::graph::version_notice(&asked, Some(&served)).unwrap_or_default(),
        ),
        None => check(
            "api",
            Verdict::Ok,
            format!("Graph API {asked} answers as asked (instagram.graph_url)"),
        ),
    }
}

/// An API error in words an operator can act on.
pub fn explain(graph_url: &str, e: &ApiError) -> String {
    match e {
        ApiError::Network(detail) => format!("cannot reach {graph_url} ({detail}): check the network cable or Wi-Fi, and instagram.graph_url"),
        ApiError::CaptivePortal(_) => "the network shows a login web page instead of Instagram (hotel or venue Wi-Fi?): log the booth in to the Wi-Fi".into(),
        other => match other.class() {
            ErrorClass::Auth => format!("Instagram refused the token ({other}): make a new long-lived token and put it in the token file"),
            ErrorClass::RateLimit => format!("Instagram is rate limiting this app ({other}): it will pass"),
            _ => other.to_string(),
        },
    }
}
