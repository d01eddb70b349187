//! The daemon: opens the store, starts the publisher, the media host, the control socket and
//! the display, and takes photos when asked. [`Daemon::start`] is what `postbooth run`, the
//! demo and the in-process tests all use.

use crate::config::{Config, DisplayKind, MediaHostKind, TriggerKind};
use crate::control::{self, Request, Response};
use crate::heartbeat::{self, Beat, Heartbeat};
use crate::hw::camera::preview::Preview;
use crate::hw::{self, trigger::Press};
use crate::job::Job;
use crate::media::{s3, serve::ServeHost, MediaHost};
use crate::publish::gate::Gate;
use crate::publish::graph::{GraphClient, Token};
use crate::publish::publisher::{self, Publisher};
use crate::shoot::{ShootError, Shooter};
use crate::store::{Store, StoreError};
use crate::telemetry::Telemetry;
use crate::ui::{self, Screen, Status};
use crate::{metrics, mqtt};
use anyhow::Context;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::task::JoinHandle;
use tracing::{info, warn};

pub struct Daemon {
    pub store: Store,
    pub status: watch::Receiver<Status>,
    shooter: Watched,
    heart: Heartbeat,
    presses: hw::trigger::PressSender,
    button_stop: Arc<AtomicBool>,
    /// The button's thread, waited for on stop: its last act is logging the press counts.
    button: Option<std::thread::JoinHandle<()>>,
    wake: Arc<Notify>,
    preview: Preview,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    _serve: Option<Arc<ServeHost>>,
    pub telemetry: Arc<Telemetry>,
    metrics: metrics::collect::Sources,
    metrics_bearer: Option<Arc<str>>,
    /// Where `/metrics` listens on its own (`metrics.listen`), once bound.
    pub metrics_addr: Option<std::net::SocketAddr>,
    web: Option<crate::web::WebServer>,
}

impl Daemon {
    /// Starts everything. Errors here are set-up problems, said in words.
    pub async fn start(config: Config) -> anyhow::Result<Daemon> {
        Self::start_with_display(config, None).await
    }

    /// [`start`](Self::start), drawing the screens on `panel` instead of the configured
    /// display (the demo's `--screens`).
    pub async fn start_with_display(
        config: Config,
        panel: Option<hw::display::Opener>,
    ) -> anyhow::Result<Daemon> {
        // The display first, so a booth that has to wait for its store says so.
        let (status_tx, status_rx) = watch::channel(Status {
            screen: Screen::Starting,
            ..Status::default()
        });
        let mut tasks = Vec::new();
        let telemetry = Arc::new(Telemetry::default());
        let panel = match panel {
            Some(p) => Some(p),
            None => display(&config)?,
        };
        if let Some(display) = panel {
            let display = watched_display(display, telemetry.clone());
            let (rx, retry) = (
                status_rx.clone(),
                Duration::from_secs(config.display.retry_secs),
            );
            tasks.push(tokio::spawn(async move {
                hw::display::run(display, rx, retry).await;
            }));
        } else if config.display.kind == DisplayKind::Terminal {
            tasks.push(tokio::spawn(ui::terminal::run(status_rx.clone())));
        }
        let (store, report) = open_store(&config).await?;
        status_tx.send_modify(|s| s.screen = Screen::Idle);
        if !report.adopted.is_empty() || !report.missing.is_empty() || report.moved_aside.is_some()
        {
            warn!(adopted = report.adopted.len(), missing = report.missing.len(), moved_aside = ?report.moved_aside, "store repaired on open");
        }
        let token = Token::load(&config.instagram.access_token_file)?;
        let graph = Arc::new(GraphClient::new(
            &config.instagram.graph_url,
            config.user_id(),
            token,
            Duration::from_secs(config.instagram.request_timeout_secs),
        ));
        let (media, serve) = media_host(&config, &store).await?;
        // The live-frame stream: cameras feed it, whoever shows the guests the camera's view
        // subscribes (Daemon::preview).
        let preview = Preview::start(&crate::pipeline::encode::EncodeOptions::from(&config.image));
        // Read before anything starts: a bad token file is a set-up problem, said now.
        let metrics_bearer = match config.metrics.token_file.as_os_str().is_empty() {
            true => None,
            false => Some(metrics::http::load_bearer(&config.metrics.token_file)?),
        };
        // Cameras that watch themselves say on the display (and in the metrics) when they go
        // missing or come back.
        let camera = hw::camera::open(
            &config.camera,
            hw::camera::Context {
                health: {
                    let status = status_tx.clone();
                    let telemetry = telemetry.clone();
                    Arc::new(move |health| camera_health(&status, &telemetry, health))
                },
                preview: preview.tap(),
            },
        )
        .context("cannot open the camera")?;
        info!(camera = %camera.describe(), "camera ready");
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let already_taken = store.jobs()?.len() as u64;
        let shooter = Arc::new(
            Shooter::new(
                camera,
                store.clone(),
                &config,
                status_tx.clone(),
                wake.clone(),
                already_taken,
            )
            .with_telemetry(telemetry.clone()),
        );
        let listener = control::bind(&store.control_socket())?;
        let heart = Heartbeat::new();
        let shooter = Watched {
            shooter,
            beat: heart.register("taking a photo", heartbeat::SHOOT_LIMIT),
        };

        let gate = Arc::new(Gate::new(graph.clone(), &config));
        let publisher = Publisher {
            gate: gate.clone(),
            store: store.clone(),
            graph: graph.clone(),
            media,
            status: status_tx.clone(),
            settings: publisher::Settings::from(&config),
            wake: wake.clone(),
            beat: heart.register(
                "the publisher",
                heartbeat::publisher_limit(Duration::from_secs(
                    config.instagram.request_timeout_secs,
                )),
            ),
            telemetry: telemetry.clone(),
        };
        tasks.push(tokio::spawn(publisher.run(shutdown_rx.clone())));
        let mut metrics_sources = metrics::collect::Sources::new(
            &config,
            telemetry.clone(),
            store.clone(),
            gate.clone(),
            graph.clone(),
        );
        if let Some(settings) = mqtt::settings::Settings::from_config(&config.mqtt)? {
            let (connected_tx, connected_rx) = watch::channel(false);
            metrics_sources.mqtt_connected = Some(connected_rx);
            tasks.push(tokio::spawn(mqtt::run(
                settings,
                mqtt::Booth {
                    telemetry: telemetry.clone(),
                    store: store.clone(),
                    gate: gate.clone(),
                    status: status_rx.clone(),
                    shooter: shooter.shooter.clone(),
                    wake: wake.clone(),
                    refresh: Arc::new(Notify::new()),
                    sources: metrics_sources.clone(),
                },
                connected_tx,
                shutdown_rx.clone(),
            )));
        }
        let metrics_addr = if config.metrics.listen.is_empty() {
            None
        } else {
            let router = metrics::http::router(metrics_sources.clone(), metrics_bearer.clone());
            let (addr, task) =
                metrics::http::serve(&config.metrics.listen, router, shutdown_rx.clone()).await?;
            tasks.push(task);
            Some(addr)
        };
        if config.insights.idle_likes {
            tasks.push(tokio::spawn(crate::insights::idle_likes(
                graph.clone(),
                gate.clone(),
                status_tx.clone(),
                Duration::from_secs(config.insights.refresh_secs),
                shutdown_rx.clone(),
            )));
        }
        if config.publish.review == crate::config::Review::Guest {
            tasks.push(tokio::spawn(crate::review::run_guest_timer(
                store.clone(),
                config.publish.keep_private,
                shutdown_rx.clone(),
            )));
        }
        let reload_token = Arc::new(Notify::new());
        tasks.push(tokio::spawn(crate::publish::token_keeper::run(
            config.clone(),
            graph.clone(),
            status_tx.clone(),
            wake.clone(),
            reload_token.clone(),
            shutdown_rx.clone(),
        )));
        tasks.push(tokio::spawn(serve_control(
            listener,
            reload_token,
            gate.clone(),
            store.clone(),
            shooter.clone(),
            wake.clone(),
            shutdown_rx.clone(),
        )));
        // Presses (the button, the demo) run the countdown sequence; `shoot` on the control
        // socket takes the photo at once.
        let (presses, press_rx) = mpsc::unbounded_channel();
        tasks.push(tokio::spawn({
            let (shooter, status, shutdown) =
                (Arc::clone(&shooter), status_tx.clone(), shutdown_rx.clone());
            let countdown = config.trigger.countdown_secs;
            async move {
                hw::trigger::run_sequence(
                    press_rx,
                    shooter,
                    status,
                    countdown,
                    Duration::from_secs(1),
                    shutdown,
                )
                .await;
            }
        }));
        let button_stop = Arc::new(AtomicBool::new(false));
        if config.trigger.kinds.contains(&TriggerKind::Interval) {
            tasks.push(tokio::spawn({
                let every = Duration::from_secs(config.trigger.interval_secs);
                // Validated at config load.
                let windows = crate::publish::window::parse_all(&config.trigger.interval_windows)
                    .unwrap_or_default();
                let (shooter, telemetry, shutdown) = (
                    Arc::clone(&shooter.shooter),
                    telemetry.clone(),
                    shutdown_rx.clone(),
                );
                async move {
                    hw::interval::run(
                        every,
                        windows,
                        shooter,
                        hw::interval::local_clock(),
                        telemetry,
                        shutdown,
                    )
                    .await;
                }
            }));
        }
        // It notices `button_stop` within a quarter second.
        let button = config.trigger.kinds.contains(&TriggerKind::Gpio).then(|| {
            hw::trigger::spawn_button(config.trigger.clone(), presses.clone(), button_stop.clone())
        });
        tasks.push(tokio::spawn(hw::trigger::run_leds(
            config.trigger.clone(),
            status_rx.clone(),
        )));
        // The web pages. A problem there (port in use, bad public_url) is said naming its key
        // and stops only the pages: the booth goes on taking photos.
        let web = match crate::web::start(crate::web::WebDeps {
            config: config.clone(),
            store: store.clone(),
            status: status_rx.clone(),
            saved: shooter.subscribe_saved(),
            preview: preview.clone(),
            presses: presses.clone(),
            gate: gate.clone(),
            wake: wake.clone(),
            // GET /metrics on the web listener too (the fleet issue's router).
            extra: Some(metrics::http::router(
                metrics_sources.clone(),
                metrics_bearer.clone(),
            )),
        })
        .await
        {
            Ok(web) => web,
            Err(e) => {
                tracing::error!(error = %e, "the web pages are off; the booth goes on");
                None
            }
        };
        // Keep the sender alive for as long as the daemon runs.
        tasks.push(tokio::spawn(async move {
            let mut shutdown = shutdown_rx;
            let _ = shutdown.wait_for(|s| *s).await;
            drop(status_tx);
        }));
        info!(store = %store.root().display(), "postbooth is running");
        Ok(Daemon {
            store,
            status: status_rx,
            shooter,
            heart,
            presses,
            button_stop,
            button,
            wake,
            preview,
            shutdown: shutdown_tx,
            tasks,
            _serve: serve,
            telemetry,
            metrics: metrics_sources,
            metrics_bearer,
            metrics_addr,
            web,
        })
    }

    /// `GET /metrics` (with `metrics.token_file`'s bearer token, if set) as an axum Router,
    /// for another listener (the web screen's) to merge.
    pub fn metrics_router(&self) -> axum::Router {
        metrics::http::router(self.metrics.clone(), self.metrics_bearer.clone())
    }

    /// What `/metrics` would show now.
    pub async fn metrics_snapshot(&self) -> metrics::Snapshot {
        self.metrics.snapshot().await
    }

    /// Where the web pages listen, if they run.
    pub fn web_addr(&self) -> Option<std::net::SocketAddr> {
        self.web.as_ref().map(|w| w.local_addr)
    }

    /// What the QR codes on the guest screen point to, if the web pages run.
    pub fn web_public_url(&self) -> Option<String> {
        self.web.as_ref().map(|w| w.public_url.clone())
    }

    /// Takes a photo; returns once it is durable.
    pub async fn shoot(&self) -> Result<Job, ShootError> {
        self.shooter.shoot().await
    }

    /// The live-frame stream: small JPEGs of what the camera sees, a few per second, while
    /// someone holds a receiver from [`Preview::subscribe`].
    pub fn preview(&self) -> Preview {
        self.preview.clone()
    }

    /// Whether any loop is stuck; what the systemd watchdog pings depend on.
    pub fn heartbeat(&self) -> Heartbeat {
        self.heart.clone()
    }

    /// A receiver that sees `true` once [`stop`](Daemon::stop) begins.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// A button press: the countdown, the flash, then the photo. Returns once it is saved, or
    /// says why there is no photo (another press's sequence was running, the camera...).
    pub async fn press(&self) -> Result<Job, String> {
        let (done, result) = oneshot::channel();
        self.presses
            .send(Press { done: Some(done) })
            .map_err(|_| "the booth is shutting down".to_string())?;
        result
            .await
            .unwrap_or_else(|_| Err("the booth is shutting down".into()))
    }

    /// Pokes the publisher (after a retry, or a renewed token).
    pub fn wake_publisher(&self) {
        self.wake.notify_one();
    }

    /// Stops taking photos, lets a save in progress finish, stops the publisher where it
    /// stands (every state is already durable) and returns.
    pub async fn stop(self) {
        self.button_stop.store(true, Ordering::Relaxed);
        self.shooter.close().await;
        let _ = self.shutdown.send(true);
        self.preview.close();
        // The display task ends when the last status sender is gone; the shooter holds one.
        // Kept until here, it made every stop wait out the display task's whole timeout.
        drop(self.shooter);
        for task in self.tasks {
            if tokio::time::timeout(STOP_WAIT, task).await.is_err() {
                warn!(
                    wait_secs = STOP_WAIT.as_secs(),
                    "a task did not stop in time; stopping without it"
                );
            }
        }
        // Without this wait the process could end before the button's thread logged its
        // press counts (the board test saw that line missing once).
        if let Some(button) = self.button {
            let joined = tokio::task::spawn_blocking(move || button.join());
            if tokio::time::timeout(STOP_WAIT, joined).await.is_err() {
                warn!(
                    wait_secs = STOP_WAIT.as_secs(),
                    "the button did not stop in time; stopping without it"
                );
            }
        }
        let _ = std::fs::remove_file(self.store.control_socket());
        info!("postbooth stopped");
    }
}

/// How long `stop` waits for each task.
const STOP_WAIT: Duration = Duration::from_secs(3);

/// The shooter with its heartbeat: busy while a photo is being taken and saved, so a camera
/// or disk that hangs stops the systemd watchdog pings.
#[derive(Clone)]
struct Watched {
    shooter: Arc<Shooter>,
    beat: Beat,
}

/// Everything else (closing, posting a video) goes straight to the shooter.
impl std::ops::Deref for Watched {
    type Target = Arc<Shooter>;
    fn deref(&self) -> &Arc<Shooter> {
        &self.shooter
    }
}

impl Watched {
    async fn shoot(&self) -> Result<Job, ShootError> {
        let _working = self.beat.working();
        self.shooter.shoot().await
    }
}

/// The camera went missing, got into trouble or came back: say so on the display (and in
/// the metrics).
fn camera_health(status: &ui::StatusSender, telemetry: &Telemetry, health: &hw::camera::Health) {
    use hw::camera::Health;
    telemetry.camera(matches!(health, Health::Ready(_)));
    match health {
        Health::Missing(_) => status.send_modify(|s| s.screen = Screen::CameraMissing),
        Health::Trouble(trouble, _) => {
            status.send_modify(|s| s.screen = Screen::CameraTrouble(*trouble))
        }
        Health::Ready(_) => {
            status.send_if_modified(|s| {
                let was_camera =
                    matches!(s.screen, Screen::CameraMissing | Screen::CameraTrouble(_));
                if was_camera {
                    s.screen = Screen::Idle;
                }
                was_camera
            });
        }
    }
}

/// `open`, telling `telemetry` whether the display answers (`postbooth_display_up`).
fn watched_display(
    mut open: hw::display::Opener,
    telemetry: Arc<Telemetry>,
) -> hw::display::Opener {
    struct Watched {
        inner: Box<dyn hw::display::Panel>,
        telemetry: Arc<Telemetry>,
    }
    impl hw::display::Panel for Watched {
        fn show(&mut self, frame: &ui::canvas::Canvas) -> Result<(), hw::display::DisplayError> {
            let result = self.inner.show(frame);
            self.telemetry.display(result.is_ok());
            result
        }
    }
    Box::new(move || match open() {
        Ok(inner) => Ok(Box::new(Watched {
            inner,
            telemetry: telemetry.clone(),
        }) as Box<dyn hw::display::Panel>),
        Err(e) => {
            telemetry.display(false);
            Err(e)
        }
    })
}

/// The panel the config asks for (`None` for "none", and for "terminal" when the output is
/// not a terminal: the journal gets one line per change instead of pictures).
/// How long a starting daemon waits for a process holding its store (a `queue` command, a
/// `doctor`, a daemon still stopping) before it gives up with the holder's pid.
pub const STORE_WAIT: Duration = Duration::from_secs(30);

/// Opens the store for the daemon: waits (bounded) while a short-lived process holds it,
/// saying so in the log (the display says "Starting" until the store is open), but gives up
/// at once when another daemon answers on the control socket.
async fn open_store(config: &Config) -> anyhow::Result<(Store, crate::store::RecoveryReport)> {
    let store_cfg = config.store.clone();
    let caption = config.instagram.caption.clone();
    let socket = crate::store::control_socket_path(&store_cfg.dir);
    let mut said = false;
    let options = crate::store::OpenOptions {
        wait: STORE_WAIT,
        waiting: Box::new(move |held| {
            if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
                return false;
            }
            if !said {
                said = true;
                let pid = held.pid.map_or("unknown".to_string(), |p| p.to_string());
                warn!(%pid, wait_secs = STORE_WAIT.as_secs(), "the store is held by another postbooth process; waiting for it");
            }
            true
        }),
        adopt_as: match config.publish.review {
            crate::config::Review::Auto => crate::job::JobState::Captured,
            // The guest who could have said yes is long gone: a person decides.
            _ => crate::job::JobState::Held {
                guest_until_ms: None,
            },
        },
        opener: crate::store::Opener::Booth,
        ..crate::store::OpenOptions::default()
    };
    let opened =
        tokio::task::spawn_blocking(move || Store::open_with(&store_cfg, &caption, options))
            .await?;
    opened.map_err(|e| match e {
        StoreError::InUse { .. } => {
            let socket = crate::store::control_socket_path(&config.store.dir);
            if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
                anyhow::anyhow!(control::SocketError::AlreadyRunning(
                    socket.display().to_string()
                ))
            } else {
                anyhow::anyhow!(e)
            }
        }
        other => anyhow::anyhow!(other).context("cannot open the store"),
    })
}

fn display(config: &Config) -> anyhow::Result<Option<hw::display::Opener>> {
    use std::io::IsTerminal;
    Ok(match config.display.kind {
        DisplayKind::None => None,
        DisplayKind::Terminal => {
            if !std::io::stdout().is_terminal() {
                return Ok(None);
            }
            Some(Box::new(|| {
                Ok(Box::new(hw::display::TerminalPanel {
                    out: std::io::stdout(),
                }) as Box<dyn hw::display::Panel>)
            }))
        }
        DisplayKind::Ssd1306 | DisplayKind::Sh1106 => {
            Some(hw::display::i2c_opener(&config.display))
        }
        DisplayKind::Png => {
            let dir = if config.display.png_dir.as_os_str().is_empty() {
                config.store.dir.join("display")
            } else {
                config.display.png_dir.clone()
            };
            Some(Box::new(move || {
                Ok(Box::new(hw::display::png::PngPanel::open(&dir, 1)?)
                    as Box<dyn hw::display::Panel>)
            }))
        }
    })
}

async fn media_host(
    config: &Config,
    store: &Store,
) -> anyhow::Result<(Arc<dyn MediaHost>, Option<Arc<ServeHost>>)> {
    Ok(match config.media.host {
        MediaHostKind::Serve => {
            let listen = config.media.listen.parse()?;
            let host = Arc::new(
                ServeHost::start(
                    listen,
                    store.public_dir(),
                    config.media.public_base_url.clone(),
                )
                .await?,
            );
            (host.clone() as Arc<dyn MediaHost>, Some(host))
        }
        MediaHostKind::S3 => {
            let read = |path: &std::path::Path, key: &str| {
                std::fs::read_to_string(path)
                    .map(|s| s.trim().to_string())
                    .with_context(|| format!("cannot read {key} file {}", path.display()))
            };
            let settings = s3::S3Settings {
                endpoint: config.media.s3_endpoint.clone(),
                bucket: config.media.s3_bucket.clone(),
                region: config.media.s3_region.clone(),
                access_key: read(&config.media.s3_access_key_file, "media.s3_access_key_file")?,
                secret_key: read(&config.media.s3_secret_key_file, "media.s3_secret_key_file")?,
                url_expiry: Duration::from_secs(config.media.s3_url_expiry_secs),
                path_style: true,
            };
            (
                Arc::new(s3::S3Host::new(settings, reqwest::Client::new())?),
                None,
            )
        }
        MediaHostKind::UrlTemplate => {
            anyhow::bail!(
                "media.host = \"url-template\" is not in this build yet: use \"serve\" or \"s3\""
            )
        }
    })
}

/// Answers the control socket until shutdown.
async fn serve_control(
    listener: tokio::net::UnixListener,
    reload_token: Arc<Notify>,
    gate: Arc<Gate>,
    store: Store,
    shooter: Watched,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    warn!(error = %e, "control socket accept failed");
                    continue;
                }
            },
        };
        let (store, shooter, wake, gate) =
            (store.clone(), shooter.clone(), wake.clone(), gate.clone());
        let reload_token = reload_token.clone();
        tokio::spawn(control::handle_connection(
            stream,
            move |request| async move {
                if matches!(request, Request::ReloadToken) {
                    reload_token.notify_one();
                    return Response::count(0);
                }
                answer(request, &store, &shooter, &wake, &gate).await
            },
        ));
    }
}

async fn answer(
    request: Request,
    store: &Store,
    shooter: &Watched,
    wake: &Notify,
    gate: &Gate,
) -> Response {
    match request {
        Request::Shoot => match shooter.shoot().await {
            Ok(job) => Response::jobs(vec![job]),
            Err(e) => Response::error(e),
        },
        Request::List => match store.blocking(|s| s.jobs()).await {
            Ok(jobs) => Response {
                publishing: Some(gate.info()),
                ..Response::jobs(jobs)
            },
            Err(e) => Response::error(e),
        },
        Request::Retry { id, all_failed } => {
            let result = store
                .blocking(move |s| crate::queue_ops::retry(s, id, all_failed))
                .await;
            wake.notify_one();
            match result {
                Ok(n) => Response::count(n),
                Err(e) => Response::error(e),
            }
        }
        Request::PostVideo { path, caption } => match shooter.post_video(path, caption).await {
            Ok(job) => Response::jobs(vec![job]),
            Err(e) => Response::error(format!("{e:#}")),
        },
        Request::Drop { id } => match store.blocking(move |s| s.drop_job(id)).await {
            Ok(job) => Response::jobs(vec![job]),
            Err(e) => Response::error(e),
        },
        Request::Story { id } => {
            let quality = shooter.story_quality();
            let result = store
                .blocking(move |s| crate::queue_ops::add_story(s, id, quality))
                .await;
            wake.notify_one();
            match result {
                Ok(job) => Response::jobs(vec![job]),
                Err(e) => Response::error(format!("{e:#}")),
            }
        }
        Request::Approve { id } => {
            let response = store
                .blocking(move |s| crate::queue_ops::review(s, id, crate::job::Decision::Approve))
                .await;
            wake.notify_one();
            response
        }
        Request::Reject { id } => {
            store
                .blocking(move |s| crate::queue_ops::review(s, id, crate::job::Decision::Reject))
                .await
        }
        Request::ReloadToken => Response::count(0),
    }
}
