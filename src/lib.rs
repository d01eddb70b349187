//! postbooth: a button is pressed, a photo is taken, made Instagram-compliant, saved so a power
//! cut cannot lose it, and published exactly once.
//!
//! Read this file top to bottom to follow a photo:
//! 1. [`config`] says where everything is (`config/default.toml` holds every default).
//! 2. A trigger (the [`control`] socket behind `postbooth shoot`, or Enter in the demo) asks
//!    the [`shoot`] module for a photo: [`hw::camera`] gets a frame from the camera and
//!    [`pipeline::encode`] makes it a compliant JPEG.
//! 3. [`store`] writes the JPEG and its [`job`] record durably; only then is it "Saved".
//! 4. The [`publish::publisher`] takes saved jobs oldest first: a [`media`] host stages the
//!    JPEG at a public URL, the [`publish::graph`] client creates a container, polls it and
//!    publishes it, exactly once, persisting each [`job::JobState`] before the next step.
//! 5. [`ui`] turns status events into short words on the display.
//!
//! [`daemon`] wires these together; [`sim`] is the Graph API simulator used by `postbooth demo`
//! and the tests; [`failpoint`] lets crash tests stop the process at every transition;
//! [`malloc`] keeps glibc's allocator from growing the RSS of a booth that runs for days.

pub mod bench;
pub mod clock;
pub mod config;
pub mod control;
pub mod daemon;
pub mod demo;
pub mod doctor;
pub mod failpoint;
pub mod heartbeat;
pub mod hw;
pub mod insights;
pub mod job;
pub mod malloc;
pub mod media;
pub mod metrics;
pub mod mqtt;
pub mod notify;
pub mod pipeline;
pub mod publish;
pub mod queue_ops;
pub mod review;
pub mod shoot;
pub mod sim;
pub mod store;
pub mod telemetry;
pub mod ui;
pub mod video;
pub mod web;

use std::future::Future;

/// Runs the booth until `shutdown` completes, then stops cleanly: no new photos, the save in
/// progress finishes, every state already durable.
///
/// Under systemd (`NOTIFY_SOCKET` set) it says `READY=1` once the store is open and the camera
/// answered, keeps `STATUS=` up to date, pings the watchdog while no loop is stuck and says
/// `STOPPING=1` when it stops.
pub async fn run(config: config::Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let notifier = std::sync::Arc::new(notify::Notifier::from_env());
    let watchdog = notify::watchdog_interval(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
    .unwrap_or_else(|e| {
        tracing::error!(error = %e, "ignoring the systemd watchdog setting");
        None
    });
    let daemon = match daemon::Daemon::start(config).await {
        Ok(daemon) => daemon,
        Err(e) => {
            notifier.status(&format!("cannot start: {e:#}").replace('\n', " "));
            return Err(e);
        }
    };
    notifier.ready(&notify::status_text(&daemon.status.borrow()));
    let status = notify::spawn_status(notifier.clone(), daemon.status.clone());
    let pinger = watchdog.map(|interval| {
        notify::spawn_watchdog(
            notifier.clone(),
            interval,
            daemon.heartbeat(),
            daemon.shutdown_signal(),
        )
    });
    shutdown.await;
    notifier.stopping();
    status.abort();
    daemon.stop().await;
    if let Some(pinger) = pinger {
        let _ = pinger.await;
    }
    Ok(())
}
