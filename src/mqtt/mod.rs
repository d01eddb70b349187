//! MQTT: the booth's status (retained), availability (with a last will), events, commands and
//! Home Assistant discovery, under `postbooth/<booth_id>/` ([`messages`] lists the topics).
//! [`settings`] reads `[mqtt]`; [`client`] keeps the connection.

pub mod client;
pub mod messages;
pub mod settings;

use crate::metrics::collect::Sources;
use crate::publish::gate::Gate;
use crate::shoot::Shooter;
use crate::store::Store;
use crate::telemetry::Telemetry;
use crate::ui::Status;
use std::sync::Arc;
use tokio::sync::{watch, Notify};

pub use client::run;

/// The parts of the daemon MQTT reads and commands.
#[derive(Clone)]
pub struct Booth {
    pub telemetry: Arc<Telemetry>,
    pub store: Store,
    pub gate: Arc<Gate>,
    pub status: watch::Receiver<Status>,
    pub shooter: Arc<Shooter>,
    /// Pokes the publisher (after resume or retry).
    pub wake: Arc<Notify>,
    /// Asks for the status to be sent again now (after pause/resume).
    pub refresh: Arc<Notify>,
    /// Reads the token's expiry for the status.
    pub sources: Sources,
}
