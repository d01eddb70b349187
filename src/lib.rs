//! postbooth: a button is pressed, a photo is taken, made Instagram-compliant, saved so a power
//! cut cannot lose it, and published exactly once.
//!
//! Read this file top to bottom to follow a photo:
//! 1. [`config`] says where everything is (`config/default.toml` holds every default).
//! 2. A trigger (the [`control`] socket behind `postbooth shoot`, or Enter in the demo) asks
//!    the [`shoot`] module for a photo: [`pipeline::capture`] gets a frame from the camera and
//!    [`pipeline::encode`] makes it a compliant JPEG.
//! 3. [`store`] writes the JPEG and its [`job`] record durably; only then is it "Saved".
//! 4. The [`publish::publisher`] takes saved jobs oldest first: a [`media`] host stages the
//!    JPEG at a public URL, the [`publish::graph`] client creates a container, polls it and
//!    publishes it, exactly once, persisting each [`job::JobState`] before the next step.
//! 5. [`ui`] turns status events into short words on the display.
//!
//! [`daemon`] wires these together; [`sim`] is the Graph API simulator used by `postbooth demo`
//! and the tests; [`failpoint`] lets crash tests stop the process at every transition.

pub mod clock;
pub mod config;
pub mod control;
pub mod daemon;
pub mod demo;
pub mod doctor;
pub mod failpoint;
pub mod hw;
pub mod job;
pub mod media;
pub mod pipeline;
pub mod publish;
pub mod queue_ops;
pub mod shoot;
pub mod sim;
pub mod store;
pub mod ui;
pub mod video;

use std::future::Future;

/// Runs the booth until `shutdown` completes, then stops cleanly: no new photos, the save in
/// progress finishes, every state already durable.
pub async fn run(config: config::Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let daemon = daemon::Daemon::start(config).await?;
    shutdown.await;
    daemon.stop().await;
    Ok(())
}
