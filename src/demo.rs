//! `postbooth demo`: the whole booth in one process with nothing to set up — a temp store, the
//! test-pattern camera, the Graph API simulator, the `serve` media host and the terminal
//! display (the OLED's screens in Unicode blocks when the output is a terminal). Press Enter to
//! shoot (countdown, flash, saved, posted with its QR code), or `--shots N` to shoot N and
//! exit once all are posted.

use crate::config::{CameraKind, Config, DisplayKind, MediaHostKind};
use crate::daemon::Daemon;
use crate::job::JobState;
use crate::sim::{FaultPlan, SimOptions, Simulator};
use std::process::ExitCode;
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Take this many photos, wait until all are posted, then exit.
    #[arg(long)]
    pub shots: Option<u32>,
    /// Print a machine-readable summary on stdout (the display goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Make the simulated Instagram and network misbehave, to watch retries happen.
    #[arg(long)]
    pub faults: bool,
    /// Seed for the fault injection, to replay a run.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Draw the booth's screens in Unicode blocks on stdout even when it is not a terminal
    /// (they are drawn anyway in a terminal). Not with --json.
    #[arg(long, conflicts_with = "json")]
    pub screens: bool,
}

/// The demo's config: the embedded defaults, pointed at a temp dir and the simulator, with
/// short waits so a newcomer sees the flow in seconds.
pub fn demo_config(
    store_dir: &std::path::Path,
    graph_url: &str,
    user_id: &str,
    token_file: &std::path::Path,
    port: u16,
    json: bool,
) -> Config {
    let mut c = Config::default();
    c.instagram.graph_url = graph_url.to_string();
    c.instagram.user_id = Some(user_id.to_string());
    c.instagram.access_token_file = token_file.to_path_buf();
    c.instagram.caption = "postbooth demo #{n} {date} {time} #booth".into();
    c.instagram.request_timeout_secs = 2;
    c.media.host = MediaHostKind::Serve;
    c.media.listen = format!("127.0.0.1:{port}");
    c.media.public_base_url = format!("http://127.0.0.1:{port}");
    c.camera.kind = CameraKind::TestPattern;
    c.display.kind = if json {
        DisplayKind::None
    } else {
        DisplayKind::Terminal
    };
    c.store.dir = store_dir.to_path_buf();
    c.store.min_free_mib = 16;
    c.publish.backoff_base_ms = 100;
    c.publish.backoff_cap_ms = 1500;
    c.publish.poll_interval_ms = 100;
    c.publish.auth_pause_secs = 2;
    // Prometheus metrics on a loopback port the system picks; the demo prints the URL.
    c.metrics.listen = "127.0.0.1:0".into();
    // The guest screen for a person trying the demo; none for scripts (--json) and tests.
    c.web.listen = if json { String::new() } else { web_listen() };
    c.trigger.kinds.push(crate::config::TriggerKind::Web);
    c
}

/// The guest screen's address for the demo: the usual 127.0.0.1:8080, or a free port when
/// something else has that one.
fn web_listen() -> String {
    let usual = "127.0.0.1:8080";
    if std::net::TcpListener::bind(usual).is_ok() {
        return usual.to_string();
    }
    free_port().map_or(usual.to_string(), |p| format!("127.0.0.1:{p}"))
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let dir = tempfile::Builder::new()
        .prefix("postbooth-demo-")
        .tempdir()?;
    let faults = if args.faults {
        FaultPlan::all(0.25, args.seed)
    } else {
        FaultPlan::none()
    };
    let sim_opts = SimOptions {
        faults,
        ..SimOptions::default()
    };
    let (token, user_id) = (sim_opts.token.clone(), sim_opts.user_id.clone());
    let sim = Simulator::start(sim_opts).await?;
    let token_file = dir.path().join("token");
    write_private(&token_file, &token)?;
    let port = free_port()?;
    let config = demo_config(
        &dir.path().join("store"),
        &sim.base_url(),
        &user_id,
        &token_file,
        port,
        args.json,
    );
    let panel: Option<crate::hw::display::Opener> = args.screens.then(|| {
        Box::new(|| {
            Ok(Box::new(crate::hw::display::TerminalPanel {
                out: std::io::stdout(),
            }) as Box<dyn crate::hw::display::Panel>)
        }) as crate::hw::display::Opener
    });
    let daemon = Daemon::start_with_display(config, panel).await?;
    let metrics_url = daemon
        .metrics_addr
        .map(|addr| format!("http://{addr}/metrics"))
        .unwrap_or_default();
    if !args.json {
        eprintln!(
            "postbooth demo: store in {}, simulated Instagram at {}, metrics at {metrics_url}",
            dir.path().display(),
            sim.base_url()
        );
        if let Some(addr) = daemon.web_addr() {
            eprintln!("guest screen: open http://{addr}/ in a browser (touch button included)");
        }
    }
    let code = match args.shots {
        Some(n) => shoot_and_wait(&daemon, &sim, n, args.json, &metrics_url).await?,
        None => {
            interactive(&daemon).await;
            ExitCode::SUCCESS
        }
    };
    daemon.stop().await;
    sim.shutdown().await;
    Ok(code)
}

async fn shoot_and_wait(
    daemon: &Daemon,
    sim: &Simulator,
    shots: u32,
    json: bool,
    metrics_url: &str,
) -> anyhow::Result<ExitCode> {
    let mut ids = Vec::new();
    for _ in 0..shots {
        // As a guest would: the button's countdown and flash on the display. With --json the
        // output is for scripts, so photos are taken at once.
        let job = if json {
            daemon.shoot().await?
        } else {
            daemon.press().await.map_err(anyhow::Error::msg)?
        };
        ids.push(job.id);
    }
    // Wait until every photo is posted (or failed), however many retries the faults cause.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    let jobs = loop {
        let jobs = daemon.store.blocking(|s| s.jobs()).await?;
        if jobs.iter().all(|j| !j.state.is_pending()) || tokio::time::Instant::now() > deadline {
            break jobs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let published = jobs
        .iter()
        .filter(|j| matches!(j.state, JobState::Done { .. }))
        .count();
    if json {
        let summary = serde_json::json!({
            "shots": shots,
            "published": published,
            "metrics_url": metrics_url,
            "jobs": jobs.iter().map(crate::control::summary).collect::<Vec<_>>(),
            "simulator": {
                "publishes_by_image": sim.publishes_by_image(),
                "calls": sim.calls(),
                "faults_injected": sim.faults_injected(),
            },
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("{published} of {shots} photos posted");
        for job in &jobs {
            println!(
                "  {}  {:<10} {}",
                job.id,
                job.state.name(),
                job.state.permalink().unwrap_or("")
            );
        }
    }
    Ok(if published == shots as usize {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn interactive(daemon: &Daemon) {
    eprintln!("Press Enter to take a photo, q then Enter to quit.");
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim() == "q" {
            break;
        }
        if let Err(e) = daemon.press().await {
            eprintln!("not taken: {e}");
        }
    }
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// A loopback port nobody uses right now.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
