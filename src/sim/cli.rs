//! `postbooth sim`: the simulator on its own, so `postbooth run` can be tried end to end
//! without an Instagram account (point `instagram.graph_url` at the URL it prints).

use super::{FaultPlan, SimOptions};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8099")]
    pub listen: SocketAddr,
    /// Accept only the token in this file (default: the token "sim-token").
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// The account id to accept.
    #[arg(long, default_value = "17841400000000000")]
    pub user_id: String,
    /// Fault probability per request, 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    pub faults: f64,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Posts allowed per rolling 24 hours.
    #[arg(long, default_value_t = 100)]
    pub quota: u32,
    /// Answer every call as this Graph API version (e.g. v26.0), as Meta does once the
    /// version a booth asks for is retired: the booth should notice and say which key to change.
    #[arg(long, value_name = "VERSION")]
    pub served_version: Option<String>,
    /// Write what was published to this JSON file (publishes per image, the posts, and each
    /// posted image measured), rewritten as posts arrive; the fetched images are kept in
    /// FILE.images/ for a later look.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let mut opts = SimOptions {
        listen: args.listen,
        user_id: args.user_id.clone(),
        quota_total: args.quota,
        served_version: args.served_version.clone(),
        ..SimOptions::default()
    };
    if let Some(path) = &args.token_file {
        opts.token = std::fs::read_to_string(path)?.trim().to_string();
    }
    if args.faults > 0.0 {
        opts.faults = FaultPlan::all(args.faults, args.seed);
    }
    let keep = args.report.as_ref().map(|r| {
        let mut dir = r.clone().into_os_string();
        dir.push(".images");
        PathBuf::from(dir)
    });
    if let Some(dir) = &keep {
        std::fs::create_dir_all(dir)?;
        opts.keep_images = Some(dir.clone());
    }
    let sim = super::Simulator::start(opts).await?;
    println!(
        "Graph API simulator at {} for user {} (Ctrl-C to stop)",
        sim.base_url(),
        args.user_id
    );
    let (Some(report), Some(keep)) = (args.report, keep) else {
        stopped().await;
        sim.shutdown().await;
        return Ok(());
    };
    let mut pictures = BTreeMap::new();
    let mut written = None;
    let mut tick = tokio::time::interval(REPORT_EVERY);
    let stop = stopped();
    tokio::pin!(stop);
    loop {
        let last = tokio::select! {
            _ = tick.tick() => false,
            _ = &mut stop => true,
        };
        let publishes = sim.publishes_by_image();
        let media = sim.media();
        if written != Some(media.len()) || last {
            super::report::measure_new(&keep, &publishes, &mut pictures);
            let text = serde_json::to_string_pretty(&super::report::render(
                &publishes, &media, &pictures,
            ))?;
            write_atomically(&report, text.as_bytes())?;
            written = Some(media.len());
        }
        if last {
            break;
        }
    }
    sim.shutdown().await;
    Ok(())
}

/// How often the report is brought up to date.
const REPORT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Ctrl-C or SIGTERM (how a script stops it).
async fn stopped() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// A reader never sees half a report.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
