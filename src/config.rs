//! The configuration: one TOML file, every key defaulted from the embedded `config/default.toml`
//! except the account. Unknown keys and bad values are errors naming the file, line and key.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The built-in defaults, compiled into the binary.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The io error is part of the message, not a `source`: `{:#}` would print it twice.
    #[error("{}", read_problem(path, error))]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// toml's message already names the line, column and key.
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config file {path}: {key} {problem}")]
    Invalid {
        path: PathBuf,
        key: &'static str,
        problem: String,
    },
}

/// What went wrong reading the config file, said once, with what to do about a missing one.
fn read_problem(path: &Path, error: &std::io::Error) -> String {
    if error.kind() == std::io::ErrorKind::NotFound {
        format!(
            "there is no config file at {}: name yours with `--config PATH`, or start from the \
             example config (config/example.toml in the source; the .deb installs it as \
             /etc/postbooth/config.toml); `postbooth print-config` shows every default",
            path.display()
        )
    } else {
        format!("cannot read config file {}: {error}", path.display())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub instagram: InstagramConfig,
    pub media: MediaConfig,
    pub camera: CameraConfig,
    pub image: ImageConfig,
    pub trigger: TriggerConfig,
    pub display: DisplayConfig,
    pub store: StoreConfig,
    pub publish: PublishConfig,
    pub insights: InsightsConfig,
    pub web: WebConfig,
    pub metrics: MetricsConfig,
    pub mqtt: MqttConfig,
}

/// The guest screen and operator console (`src/web`). Checked when the listener starts, not
/// at load: a bad value stops the web pages with an error naming the key, never the booth.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// Address the pages are served on; "" = no web pages.
    pub listen: String,
    /// What QR codes on the guest screen point to (the booth's LAN address, or a tunnel);
    /// "" = `http://<listen>`.
    pub public_url: String,
    /// The operator's argon2 password hash (`postbooth web set-password`), owner-only; "" =
    /// no console.
    pub admin_password_file: PathBuf,
    /// Hours a guest's download link stays valid.
    pub link_hours: u64,
    /// Mirror the live preview (a guest sees themselves as in a mirror).
    pub mirror_preview: bool,
    /// Seconds of idle before the slideshow of recent photos starts; 0 = never.
    pub slideshow_after_secs: u64,
}

/// Prometheus `/metrics` on its own listener (`crate::metrics`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// "" = off.
    pub listen: String,
    /// A 0600 file with the bearer token a scrape must send; "" = none.
    pub token_file: PathBuf,
}

/// Status, events and commands over MQTT (`crate::mqtt`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtt://host:port` or `mqtts://host:port`; "" = off.
    pub url: String,
    /// "" = the hostname.
    pub booth_id: String,
    pub username: String,
    pub password_file: PathBuf,
    pub ca_file: PathBuf,
    /// Home Assistant discovery prefix; "" = no discovery.
    pub discovery_prefix: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsightsConfig {
    /// Show "N likes today" on the idle screen.
    pub idle_likes: bool,
    pub refresh_secs: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstagramConfig {
    pub graph_url: String,
    /// The account; the one key with no default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub access_token_file: PathBuf,
    pub caption: String,
    pub event: String,
    /// Fills `{location}` in the caption.
    pub location: String,
    /// Which login the token comes from; decides how it is refreshed.
    pub login: LoginKind,
    /// Facebook Login only: the app's id and a file with its secret, for `fb_exchange_token`.
    pub app_id: String,
    pub app_secret_file: PathBuf,
    pub request_timeout_secs: u64,
    /// Template for a first comment posted after each post (hashtags keep the caption clean);
    /// empty means none.
    pub first_comment: String,
    /// Also post each photo to Stories, as a separate job (9:16, no caption).
    pub also_story: bool,
    /// Photos per button press: 1 is a single photo, 2..=10 one carousel post.
    pub carousel_shots: u32,
    /// Countdown before each further shot of a carousel.
    pub carousel_countdown_ms: u64,
}

/// How the access token was obtained (README: "Getting a token").
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum LoginKind {
    /// From `graph_url`: graph.facebook.com means Facebook Login, anything else Instagram Login.
    Auto,
    /// Instagram API with Instagram Login (graph.instagram.com).
    Instagram,
    /// Instagram API with Facebook Login (graph.facebook.com, a Page-linked token).
    Facebook,
}

/// What to do when more photos wait than the publishing quota allows today.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum QuotaPolicy {
    /// Post them one by one as the rolling 24-hour window frees posts.
    Wait,
    /// Batch waiting photos of one event into carousels (a carousel counts once).
    Carousel,
    /// Post the overflow to Stories.
    Story,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum MediaHostKind {
    Serve,
    S3,
    UrlTemplate,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    pub host: MediaHostKind,
    pub public_base_url: String,
    pub listen: String,
    pub s3_endpoint: String,
    pub s3_bucket: String,
    pub s3_region: String,
    pub s3_access_key_file: PathBuf,
    pub s3_secret_key_file: PathBuf,
    pub s3_url_expiry_secs: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum CameraKind {
    V4l2,
    Dir,
    TestPattern,
    /// A Pi Camera Module through rpicam-apps (rpicam-vid, rpicam-still).
    Libcamera,
    /// A DSLR or mirrorless camera through the gphoto2 tool.
    Gphoto2,
    /// The first that works: gphoto2, then libcamera, then V4L2.
    Auto,
}

/// Where photos come from on a streaming camera.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum StillMode {
    /// The newest frame of the running stream: no shutter lag.
    Stream,
    /// A full-resolution still (libcamera: rpicam-still, with the stream stopped meanwhile).
    Full,
}

/// A second source for the live view (`camera.preview`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum PreviewSource {
    /// The camera that takes the photos.
    #[serde(rename = "")]
    Same,
    #[serde(rename = "libcamera")]
    Libcamera,
    #[serde(rename = "v4l2")]
    V4l2,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    pub kind: CameraKind,
    pub device: PathBuf,
    pub dir: PathBuf,
    pub width: u32,
    pub height: u32,
    pub warmup_frames: u32,
    /// For "v4l2": walk each MJPEG frame's coded data and take the next frame when it is
    /// damaged (pipeline::scan). Off only for a camera whose every frame it refuses.
    pub verify_frames: bool,
    /// For "libcamera": frames per second of the stream.
    pub framerate: u32,
    /// For "libcamera": JPEG quality of the stream's frames and of stills, 1..=100.
    pub quality: u8,
    /// For "libcamera": "stream" (newest frame) or "full" (a full-resolution still).
    pub still: StillMode,
    /// For "gphoto2": leave each photo on the camera's card too.
    pub keep_on_card: bool,
    /// A second source for the live view while this camera takes the photos.
    pub preview: PreviewSource,
    /// A camera tool that has not finished a photo after this long is killed.
    pub capture_timeout_secs: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageConfig {
    /// Output width in pixels, 320..=1440.
    pub width: u32,
    /// JPEG quality to start from, 1..=100.
    pub quality: u8,
    /// How a photo outside 4:5..1.91:1 is brought inside: cut ("crop") or padded ("pad").
    pub fit: FitKind,
    /// The padding colour for fit = "pad", "#rrggbb".
    pub pad_color: String,
    /// Mirror photos left to right (what a selfie screen shows).
    pub mirror: bool,
    /// A PNG (with alpha) drawn over every photo, stretched to its size; empty for none.
    pub overlay: PathBuf,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum FitKind {
    Crop,
    Pad,
}

impl ImageConfig {
    /// The fit as the encoder takes it (a bad colour, which validation rejects, pads white).
    pub fn fit(&self) -> crate::pipeline::geometry::Fit {
        use crate::pipeline::geometry::Fit;
        match self.fit {
            FitKind::Crop => Fit::Crop,
            FitKind::Pad => Fit::Pad(parse_colour(&self.pad_color).unwrap_or([255; 3])),
        }
    }
}

/// The daemon's options. The overlay was read once by config validation; should it have
/// become unreadable since, photos go on without it (logged) rather than stopping the booth.
impl From<&ImageConfig> for crate::pipeline::encode::EncodeOptions {
    fn from(cfg: &ImageConfig) -> Self {
        Self::from_config(cfg).unwrap_or_else(|e| {
            tracing::error!(error = %e, "taking photos without the overlay");
            Self {
                overlay: None,
                ..Self::from_config(&ImageConfig {
                    overlay: std::path::PathBuf::new(),
                    ..cfg.clone()
                })
                .expect("no file to read without an overlay")
            }
        })
    }
}

/// The photo options the `[image]` config asks for (here, not in the pipeline: image code does
/// not know the config).
pub trait FromImageConfig: Sized {
    /// Reads the overlay file if one is set.
    fn from_config(cfg: &ImageConfig) -> Result<Self, crate::pipeline::encode::EncodeError>;
}

impl FromImageConfig for crate::pipeline::encode::EncodeOptions {
    fn from_config(cfg: &ImageConfig) -> Result<Self, crate::pipeline::encode::EncodeError> {
        let overlay = match &cfg.overlay {
            p if p.as_os_str().is_empty() => None,
            p => Some(std::sync::Arc::new(
                crate::pipeline::compose::Overlay::load(p)?,
            )),
        };
        Ok(Self {
            width: cfg.width,
            quality: cfg.quality,
            fit: cfg.fit(),
            mirror: cfg.mirror,
            overlay,
            verify_scan: false,
        })
    }
}

/// "#rrggbb" (or "rrggbb") to RGB.
pub fn parse_colour(s: &str) -> Option<[u8; 3]> {
    let hex = s.trim().strip_prefix('#').unwrap_or(s.trim());
    if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum TriggerKind {
    Gpio,
    Socket,
    Stdin,
    /// The touch button on the guest screen (`[web]`).
    Web,
    /// A photo every `interval_secs` inside `interval_windows` (`hw::interval`).
    Interval,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerConfig {
    pub kinds: Vec<TriggerKind>,
    pub gpio_chip: PathBuf,
    pub gpio_line: u32,
    pub debounce_ms: u64,
    pub lockout_ms: u64,
    pub gpio_driver: GpioDriver,
    pub bias: GpioBias,
    pub active_low: bool,
    pub countdown_secs: u32,
    /// -1 = no LED.
    pub ready_led_line: i64,
    pub busy_led_line: i64,
    pub interval_secs: u64,
    /// Local-time windows ("09:00-18:00") for interval shots; empty = any time.
    pub interval_windows: Vec<String>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum GpioDriver {
    Gpiocdev,
    Rppal,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum GpioBias {
    PullUp,
    PullDown,
    None,
}

impl TriggerConfig {
    /// An LED line from its config value (-1 = none).
    pub fn led(value: i64) -> Option<u32> {
        u32::try_from(value).ok()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum DisplayKind {
    Ssd1306,
    Sh1106,
    None,
    Terminal,
    Png,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisplayConfig {
    pub kind: DisplayKind,
    pub i2c_bus: PathBuf,
    pub address: u8,
    pub png_dir: PathBuf,
    pub retry_secs: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    pub dir: PathBuf,
    pub min_free_mib: u64,
    pub max_blob_mib: u64,
    pub delete_published: bool,
    /// Days a `Done` job is kept before it is pruned (0 = forever); see `store::prune`.
    pub keep_done_days: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishConfig {
    pub backoff_base_ms: u64,
    pub backoff_cap_ms: u64,
    pub poll_interval_ms: u64,
    pub auth_pause_secs: u64,
    pub quota_policy: QuotaPolicy,
    /// How often to ask Instagram again while the publishing quota is used up.
    pub quota_recheck_secs: u64,
    /// Local-time windows ("09:00-18:00") in which publishing may happen; empty = always.
    pub windows: Vec<String>,
    /// How often a Reel's processing is polled (Meta suggests about once a minute).
    pub video_poll_interval_ms: u64,
    /// Bytes per resumable-upload request for Reels.
    pub upload_chunk_bytes: u64,
    /// Who says yes before a photo is posted.
    pub review: Review,
    /// "guest" review: seconds the guest has to press again to post the photo.
    pub guest_confirm_secs: u64,
    /// "guest" review: keep the photos guests did not post (false deletes them).
    pub keep_private: bool,
}

/// `publish.review`: who says yes before a photo is posted.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Review {
    /// Every saved photo is posted.
    Auto,
    /// Photos are held until the operator approves them (console, `queue approve ID`).
    Operator,
    /// The guest presses again within `guest_confirm_secs` to post; otherwise it stays private.
    Guest,
}

/// Ten years: a larger `store.keep_done_days` is surely a typo (and 0 already means forever).
const MAX_KEEP_DONE_DAYS: u32 = 3650;

/// The embedded defaults as a TOML table, the base every config file is merged onto.
fn default_table() -> toml::Table {
    DEFAULT_TOML
        .parse()
        .expect("config/default.toml is valid TOML")
}

impl Default for Config {
    fn default() -> Self {
        toml::Value::Table(default_table())
            .try_into()
            .expect("config/default.toml names every key")
    }
}

/// Lays `user` over `base`, key by key, so a file only names what it changes.
fn merge(base: &mut toml::Table, user: toml::Table) {
    for (key, value) in user {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(u)) => merge(b, u),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// The line (1-based) where `key` is set under `[section]` in `text`, to point people at it.
fn line_of(text: &str, section: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = header.trim().to_string();
        } else if current == section
            && line
                .split_once('=')
                .is_some_and(|(k, _)| k.trim().trim_matches('"') == key)
        {
            return Some(n + 1);
        }
    }
    None
}

/// The token goes in every request's header: only https, or plain http to this machine
/// (the simulator), keeps it off the wire.
pub fn graph_url_is_private(url: &url::Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

impl Config {
    /// Reads and validates a config file. The account must be set.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        let config = Self::parse(&text, path)?;
        config.validate(path)?;
        Ok(config)
    }

    /// Parses TOML text over the defaults, without validating the values.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let parse_error = |message: String| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        };
        // Syntax errors: toml names the line and column.
        let user: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| parse_error(e.to_string().trim_end().to_string()))?;
        // Unknown sections and keys: named with their line, before merging hides where they were.
        let defaults = default_table();
        for (section, value) in &user {
            let Some(known) = defaults.get(section).and_then(|v| v.as_table()) else {
                return Err(parse_error(format!(
                    "unknown section [{section}]; known sections are {}",
                    defaults.keys().cloned().collect::<Vec<_>>().join(", ")
                )));
            };
            let Some(keys) = value.as_table() else {
                return Err(parse_error(format!(
                    "{section} must be a [{section}] table"
                )));
            };
            for key in keys.keys() {
                if !(known.contains_key(key) || section == "instagram" && key == "user_id") {
                    let line = line_of(text, section, key)
                        .map(|n| format!(" at line {n}"))
                        .unwrap_or_default();
                    return Err(parse_error(format!(
                        "unknown key {section}.{key}{line}; known keys in [{section}] are {}",
                        known.keys().cloned().collect::<Vec<_>>().join(", ")
                    )));
                }
            }
        }
        let mut merged = defaults;
        merge(&mut merged, user);
        toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| {
                // Bad values: toml names the key; add the line it is on.
                let message = e.to_string().trim_end().to_string();
                let line = e
                    .message()
                    .split('`')
                    .nth(1)
                    .and_then(|path| path.rsplit_once('.'))
                    .and_then(|(section, key)| line_of(text, section, key))
                    .map(|n| format!(" (line {n})"))
                    .unwrap_or_default();
                parse_error(format!("{message}{line}"))
            })
    }

    /// Checks what types alone cannot. Each problem names its key and how to fix it.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, problem: String| {
            Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                key,
                problem,
            })
        };
        match &self.instagram.user_id {
            None => {
                return invalid(
                    "instagram.user_id",
                    "is missing: set it to your Instagram professional account id \
                     (a number like \"17841400000000000\")"
                        .into(),
                )
            }
            Some(id) if id.trim().is_empty() || !id.chars().all(|c| c.is_ascii_digit()) => {
                return invalid(
                    "instagram.user_id",
                    format!("is {id:?}: it must be the numeric id of your Instagram account"),
                )
            }
            _ => {}
        }
        match url::Url::parse(&self.instagram.graph_url) {
            Err(e) => {
                return invalid(
                    "instagram.graph_url",
                    format!("is not a URL ({e}): use e.g. \"https://graph.facebook.com/v25.0\""),
                );
            }
            Ok(url) if !graph_url_is_private(&url) => {
                return invalid(
                    "instagram.graph_url",
                    format!(
                        "is {:?}: the access token would cross the network unencrypted; use https:// \
                         (plain http:// is accepted only for a simulator on this machine: localhost, 127.0.0.1, ::1)",
                        self.instagram.graph_url
                    ),
                );
            }
            Ok(_) => {}
        }
        if let Err(problem) = crate::publish::caption::validate_template(
            &self.instagram.caption,
            &self.instagram.event,
            &self.instagram.location,
        ) {
            return invalid("instagram.caption", problem);
        }
        if self.instagram.login == LoginKind::Facebook
            && self.instagram.app_id.is_empty()
                != self.instagram.app_secret_file.as_os_str().is_empty()
        {
            return invalid(
                "instagram.app_id",
                "and instagram.app_secret_file must be set together (both empty is fine: \
                 a Page token from a long-lived user token does not expire)"
                    .into(),
            );
        }
        if self.insights.refresh_secs < 60 {
            return invalid(
                "insights.refresh_secs",
                format!(
                    "is {}: use at least 60 (each refresh is a Graph API call)",
                    self.insights.refresh_secs
                ),
            );
        }
        if self.store.keep_done_days > MAX_KEEP_DONE_DAYS {
            return invalid(
                "store.keep_done_days",
                format!(
                    "is {}: use 0 to keep published jobs forever, or 1 to {MAX_KEEP_DONE_DAYS} days \
                     (30 is good)",
                    self.store.keep_done_days
                ),
            );
        }
        if self.publish.quota_recheck_secs == 0 {
            return invalid(
                "publish.quota_recheck_secs",
                "must be above 0 (900 is a good value)".into(),
            );
        }
        if let Err(problem) = crate::publish::window::parse_all(&self.publish.windows) {
            return invalid("publish.windows", problem);
        }
        if let Err(problem) = crate::publish::window::parse_all(&self.trigger.interval_windows) {
            return invalid("trigger.interval_windows", problem);
        }
        if self.trigger.kinds.contains(&TriggerKind::Interval) && self.trigger.interval_secs < 10 {
            return invalid(
                "trigger.interval_secs",
                format!(
                    "is {}: use at least 10 seconds between interval photos (300 is good)",
                    self.trigger.interval_secs
                ),
            );
        }
        if !self.metrics.listen.is_empty()
            && self.metrics.listen.parse::<std::net::SocketAddr>().is_err()
        {
            return invalid(
                "metrics.listen",
                format!(
                    "is {:?}: use an address and port like \"127.0.0.1:9464\", or \"\" for off",
                    self.metrics.listen
                ),
            );
        }
        if !self.mqtt.url.is_empty() {
            if let Err(problem) = crate::mqtt::settings::parse_url(&self.mqtt.url) {
                return invalid("mqtt.url", problem);
            }
            if self.mqtt.booth_id.contains(['/', '+', '#']) {
                return invalid(
                    "mqtt.booth_id",
                    format!(
                        "is {:?}: it goes into MQTT topics, so it may not contain /, + or #",
                        self.mqtt.booth_id
                    ),
                );
            }
        }
        if let Err(problem) = crate::publish::caption::validate_template(
            &self.instagram.first_comment,
            &self.instagram.event,
            &self.instagram.location,
        ) {
            return invalid("instagram.first_comment", problem);
        }
        let shots = self.instagram.carousel_shots;
        if shots == 0 || shots as usize > crate::job::CAROUSEL_MAX {
            return invalid(
                "instagram.carousel_shots",
                format!(
                    "is {shots}: use 1 for single photos, or 2 to 10 for one carousel post per press"
                ),
            );
        }
        if self.publish.video_poll_interval_ms == 0 {
            return invalid(
                "publish.video_poll_interval_ms",
                "must be above 0 (Meta suggests 60000, once a minute)".into(),
            );
        }
        if !(64 * 1024..=64 * 1024 * 1024).contains(&self.publish.upload_chunk_bytes) {
            return invalid(
                "publish.upload_chunk_bytes",
                format!(
                    "is {}: use 65536 to 67108864 bytes (4194304 is good)",
                    self.publish.upload_chunk_bytes
                ),
            );
        }
        if !(320..=1440).contains(&self.image.width) {
            return invalid(
                "image.width",
                format!(
                    "is {}: Instagram accepts 320 to 1440 pixels wide",
                    self.image.width
                ),
            );
        }
        if !(1..=100).contains(&self.image.quality) {
            return invalid(
                "image.quality",
                format!("is {}: use 1 to 100 (90 is good)", self.image.quality),
            );
        }
        if parse_colour(&self.image.pad_color).is_none() {
            return invalid(
                "image.pad_color",
                format!(
                    "is {:?}: use a colour like \"#ffffff\" (white) or \"#000000\"",
                    self.image.pad_color
                ),
            );
        }
        if !self.image.overlay.as_os_str().is_empty() {
            // Read it now: a booth must not start and then fail at the first photo.
            if let Err(e) = crate::pipeline::compose::Overlay::load(&self.image.overlay) {
                return invalid(
                    "image.overlay",
                    format!("{e}; fix the file or set image.overlay = \"\""),
                );
            }
        }
        if self.camera.width < 64 || self.camera.height < 64 {
            return invalid(
                "camera.width",
                "camera.width and camera.height must be at least 64".into(),
            );
        }
        if self.camera.warmup_frames > 100 {
            return invalid(
                "camera.warmup_frames",
                format!(
                    "is {}: a few frames are enough for exposure to settle (5 is good)",
                    self.camera.warmup_frames
                ),
            );
        }
        if !(1..=100).contains(&self.camera.quality) {
            return invalid(
                "camera.quality",
                format!("is {}: use 1 to 100 (90 is good)", self.camera.quality),
            );
        }
        if !(1..=120).contains(&self.camera.framerate) {
            return invalid(
                "camera.framerate",
                format!("is {}: use 1 to 120 (30 is usual)", self.camera.framerate),
            );
        }
        // A hung capture (timeout, then a port reset) must end well within the shot's
        // watchdog limit (heartbeat::SHOOT_LIMIT, 3 minutes), or systemd would restart the booth.
        if !(1..=120).contains(&self.camera.capture_timeout_secs) {
            return invalid(
                "camera.capture_timeout_secs",
                format!(
                    "is {}: use 1 to 120 seconds (20 leaves a DSLR time to focus)",
                    self.camera.capture_timeout_secs
                ),
            );
        }
        if self.trigger.countdown_secs > 30 {
            return invalid(
                "trigger.countdown_secs",
                format!(
                    "is {}: use 0 to 30 seconds (3 is usual)",
                    self.trigger.countdown_secs
                ),
            );
        }
        if self.trigger.debounce_ms > 1000 {
            return invalid(
                "trigger.debounce_ms",
                format!(
                    "is {}: contact bounce lasts a few ms; use 5 to 100",
                    self.trigger.debounce_ms
                ),
            );
        }
        for (key, value) in [
            ("trigger.ready_led_line", self.trigger.ready_led_line),
            ("trigger.busy_led_line", self.trigger.busy_led_line),
        ] {
            if value < -1 || value > i64::from(u32::MAX) {
                return invalid(
                    key,
                    format!("is {value}: use a line number, or -1 for no LED"),
                );
            }
            if value == i64::from(self.trigger.gpio_line) {
                return invalid(
                    key,
                    format!("is the button's line ({value}): use another line, or -1"),
                );
            }
        }
        if !(0x03..=0x77).contains(&self.display.address) {
            return invalid(
                "display.address",
                format!(
                    "is {:#04x}: I2C addresses are 0x03..0x77 (OLEDs are 0x3C or 0x3D)",
                    self.display.address
                ),
            );
        }
        if self.display.retry_secs == 0 {
            return invalid("display.retry_secs", "must be at least 1".into());
        }
        if self.media.host == MediaHostKind::Serve {
            if let Err(e) = url::Url::parse(&self.media.public_base_url) {
                return invalid(
                    "media.public_base_url",
                    format!("is not a URL ({e}): it is where Instagram fetches photos from"),
                );
            }
            if self.media.listen.parse::<std::net::SocketAddr>().is_err() {
                return invalid(
                    "media.listen",
                    format!(
                        "is {:?}: use an address and port like \"0.0.0.0:8088\"",
                        self.media.listen
                    ),
                );
            }
        }
        if self.media.host == MediaHostKind::S3
            && (self.media.s3_endpoint.is_empty() || self.media.s3_bucket.is_empty())
        {
            return invalid(
                "media.s3_endpoint",
                "and media.s3_bucket must be set when media.host = \"s3\"".into(),
            );
        }
        if self.publish.backoff_base_ms == 0
            || self.publish.backoff_cap_ms < self.publish.backoff_base_ms
        {
            return invalid(
                "publish.backoff_cap_ms",
                "must be at least publish.backoff_base_ms, which must be above 0".into(),
            );
        }
        Ok(())
    }

    /// The login the token comes from, with `auto` decided from `graph_url`.
    pub fn login(&self) -> LoginKind {
        match self.instagram.login {
            LoginKind::Auto if self.instagram.graph_url.contains("graph.facebook.com") => {
                LoginKind::Facebook
            }
            LoginKind::Auto => LoginKind::Instagram,
            other => other,
        }
    }

    /// The account id, once validated.
    pub fn user_id(&self) -> &str {
        self.instagram.user_id.as_deref().unwrap_or_default()
    }

    /// The effective config as TOML, secrets hidden (`print-config`). Secrets live in their
    /// own files, so the config holds only their paths.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/postbooth/config.toml"))
    }

    #[test]
    fn embedded_defaults_name_every_key() {
        // Parsing default.toml must never fall back to Default (that would recurse): compare a
        // fully-written config with the defaults.
        let c = Config::default();
        assert_eq!(c.image.width, 1080);
        assert_eq!(c.display.address, 0x3C);
        assert!(c.instagram.user_id.is_none());
    }

    #[test]
    fn a_file_only_needs_the_account() {
        let c = parse("[instagram]\nuser_id = \"1784\"\n").unwrap();
        c.validate(Path::new("x")).unwrap();
        assert_eq!(c.user_id(), "1784");
        assert_eq!(c.store.dir, PathBuf::from("/var/lib/postbooth"));
    }

    #[test]
    fn malformed_toml_names_file_and_line() {
        let e = parse("[instagram]\nuser_id = \"1\"\ncaption = \n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/etc/postbooth/config.toml"), "{e}");
        assert!(e.contains("line 3"), "{e}");
    }

    #[test]
    fn unknown_key_is_named() {
        let e = parse("[camera]\nkindd = \"dir\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("kindd"), "{e}");
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn bad_enum_value_is_named() {
        let e = parse("[camera]\nkind = \"webcam\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("webcam") && e.contains("test-pattern"), "{e}");
    }

    /// The camera keys of the libcamera and gphoto2 cameras: the contract names parse, bad
    /// values name their key.
    #[test]
    fn new_camera_keys_parse_and_bad_values_are_named() {
        let c = parse(
            "[camera]\nkind = \"gphoto2\"\npreview = \"libcamera\"\nstill = \"full\"\nkeep_on_card = true\n",
        )
        .unwrap();
        assert_eq!(c.camera.kind, CameraKind::Gphoto2);
        assert_eq!(c.camera.preview, PreviewSource::Libcamera);
        assert_eq!(c.camera.still, StillMode::Full);
        assert!(c.camera.keep_on_card);
        assert_eq!(
            parse("[camera]\nkind = \"auto\"\n").unwrap().camera.kind,
            CameraKind::Auto
        );
        assert_eq!(parse("").unwrap().camera.preview, PreviewSource::Same);
        let e = parse("[camera]\npreview = \"dslr\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("preview"), "{e}");
        for (text, key) in [
            (
                "[instagram]\nuser_id = \"1\"\n[camera]\nquality = 0\n",
                "camera.quality",
            ),
            (
                "[instagram]\nuser_id = \"1\"\n[camera]\ncapture_timeout_secs = 600\n",
                "camera.capture_timeout_secs",
            ),
            (
                "[instagram]\nuser_id = \"1\"\n[camera]\nframerate = 0\n",
                "camera.framerate",
            ),
        ] {
            let e = parse(text)
                .unwrap()
                .validate(Path::new("c.toml"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{e}");
        }
    }

    #[test]
    fn missing_user_id_says_what_to_set() {
        let e = parse("")
            .unwrap()
            .validate(Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("instagram.user_id is missing"), "{e}");
    }

    #[test]
    fn out_of_range_width_is_named() {
        let c = parse("[instagram]\nuser_id = \"1\"\n[image]\nwidth = 2000\n").unwrap();
        let e = c.validate(Path::new("c.toml")).unwrap_err().to_string();
        assert!(e.contains("image.width") && e.contains("1440"), "{e}");
    }

    #[test]
    fn caption_templates_are_checked_at_load_naming_the_key() {
        let c = parse("[instagram]\nuser_id = \"1\"\ncaption = \"{event} {evnt}\"\n").unwrap();
        let e = c.validate(Path::new("c.toml")).unwrap_err().to_string();
        assert!(
            e.contains("instagram.caption") && e.contains("{evnt}"),
            "{e}"
        );
        let tags: String = (0..31).map(|i| format!("#t{i} ")).collect();
        let c = parse(&format!(
            "[instagram]\nuser_id = \"1\"\ncaption = \"{{event}}\"\nevent = \"{tags}\"\n"
        ))
        .unwrap();
        let e = c.validate(Path::new("c.toml")).unwrap_err().to_string();
        assert!(
            e.contains("instagram.caption") && e.contains("31 hashtags"),
            "{e}"
        );
    }

    #[test]
    fn interval_triggers_mqtt_and_metrics_keys_are_checked() {
        let e = parse(
            "[instagram]\nuser_id = \"1\"\n[trigger]\nkinds = [\"interval\"]\ninterval_secs = 5\n",
        )
        .unwrap()
        .validate(Path::new("c.toml"))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("trigger.interval_secs") && e.contains("at least 10"),
            "{e}"
        );
        let e = parse("[instagram]\nuser_id = \"1\"\n[trigger]\ninterval_windows = [\"9-5\"]\n")
            .unwrap()
            .validate(Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("trigger.interval_windows"), "{e}");
        let e = parse("[instagram]\nuser_id = \"1\"\n[mqtt]\nurl = \"http://broker\"\n")
            .unwrap()
            .validate(Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("mqtt.url") && e.contains("mqtts://"), "{e}");
        let e = parse("[instagram]\nuser_id = \"1\"\n[metrics]\nlisten = \"9464\"\n")
            .unwrap()
            .validate(Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("metrics.listen"), "{e}");
    }

    #[test]
    fn publish_windows_and_quota_policy_are_checked() {
        let c = parse("[instagram]\nuser_id = \"1\"\n[publish]\nwindows = [\"09:00-25:00\"]\n")
            .unwrap();
        let e = c.validate(Path::new("c.toml")).unwrap_err().to_string();
        assert!(e.contains("publish.windows") && e.contains("25:00"), "{e}");
        for policy in ["wait", "carousel", "story"] {
            let c = parse(&format!(
                "[instagram]\nuser_id = \"1\"\n[publish]\nquota_policy = \"{policy}\"\n"
            ))
            .unwrap();
            c.validate(Path::new("c.toml")).unwrap();
        }
        let e = parse("[instagram]\nuser_id = \"1\"\n[publish]\nquota_policy = \"stories\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("quota_policy") && e.contains("story"), "{e}");
    }

    #[test]
    fn login_kind_follows_the_host_unless_set() {
        let mut c = parse("[instagram]\nuser_id = \"1\"\n").unwrap();
        assert_eq!(c.login(), LoginKind::Facebook);
        c.instagram.graph_url = "https://graph.instagram.com/v21.0".into();
        assert_eq!(c.login(), LoginKind::Instagram);
        c.instagram.login = LoginKind::Facebook;
        assert_eq!(c.login(), LoginKind::Facebook);
    }

    #[test]
    fn post_kind_keys_are_checked() {
        let c = parse("[instagram]\nuser_id = \"1\"\ncarousel_shots = 11\n").unwrap();
        let e = c.validate(Path::new("c.toml")).unwrap_err().to_string();
        assert!(
            e.contains("instagram.carousel_shots") && e.contains("2 to 10"),
            "{e}"
        );
        let c =
            parse("[instagram]\nuser_id = \"1\"\ncarousel_shots = 4\nalso_story = true\n").unwrap();
        c.validate(Path::new("c.toml")).unwrap();
        let tags: String = (0..31).map(|i| format!("#t{i} ")).collect();
        let c = parse(&format!(
            "[instagram]\nuser_id = \"1\"\nfirst_comment = \"{tags}\"\n"
        ))
        .unwrap();
        let e = c.validate(Path::new("c.toml")).unwrap_err().to_string();
        assert!(e.contains("instagram.first_comment"), "{e}");
        let c =
            parse("[instagram]\nuser_id = \"1\"\n[publish]\nupload_chunk_bytes = 10\n").unwrap();
        let e = c.validate(Path::new("c.toml")).unwrap_err().to_string();
        assert!(e.contains("publish.upload_chunk_bytes"), "{e}");
    }

    #[test]
    fn hardware_keys_are_checked_with_their_fix() {
        let check = |extra: &str| {
            parse(&format!("[instagram]\nuser_id = \"1\"\n{extra}"))
                .unwrap()
                .validate(Path::new("c.toml"))
                .map_err(|e| e.to_string())
        };
        check("[trigger]\nready_led_line = 5\nbusy_led_line = 6\nbias = \"pull-down\"\n").unwrap();
        let e = check("[trigger]\ngpio_line = 17\nbusy_led_line = 17\n").unwrap_err();
        assert!(
            e.contains("trigger.busy_led_line") && e.contains("button"),
            "{e}"
        );
        let e = check("[trigger]\ncountdown_secs = 90\n").unwrap_err();
        assert!(e.contains("trigger.countdown_secs"), "{e}");
        let e = check("[display]\naddress = 0x7F\n").unwrap_err();
        assert!(e.contains("display.address") && e.contains("0x3C"), "{e}");
        let e = parse("[trigger]\nbias = \"pullup\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("pull-up"), "{e}");
    }

    #[test]
    fn keep_done_days_is_checked_with_its_fix() {
        let check = |value: &str| {
            parse(&format!(
                "[instagram]\nuser_id = \"1\"\n[store]\nkeep_done_days = {value}\n"
            ))
            .map_err(|e| e.to_string())
            .and_then(|c| c.validate(Path::new("c.toml")).map_err(|e| e.to_string()))
        };
        assert_eq!(Config::default().store.keep_done_days, 30);
        check("0").unwrap();
        check("3650").unwrap();
        let e = check("100000").unwrap_err();
        assert!(
            e.contains("store.keep_done_days") && e.contains("0 to keep"),
            "{e}"
        );
        let e = check("-1").unwrap_err();
        assert!(e.contains("keep_done_days"), "{e}");
    }

    #[test]
    fn print_config_round_trips() {
        let c = parse("[instagram]\nuser_id = \"1\"\n").unwrap();
        let again = parse(&c.to_toml()).unwrap();
        assert_eq!(again.user_id(), "1");
    }
}
