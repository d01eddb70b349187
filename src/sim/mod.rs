//! A Graph API simulator: the parts of the Instagram Graph API postbooth uses, served over real
//! HTTP on loopback, with faults on demand.
//!
//! It fetches and checks `image_url` with the same compliance check the encoder uses, walks
//! containers `IN_PROGRESS → FINISHED → PUBLISHED` (or `EXPIRED`), publishes each container at
//! most once, enforces a rolling publishing quota, answers real error envelopes and usage
//! headers, and counts publishes per image so tests can assert "exactly once".
//!
//! Layout: [`state`] is the account with no I/O, [`api`] names endpoints and answers them,
//! [`faults`] decides misbehaviour, [`http`] owns the sockets.

mod api;
pub mod cli;
mod error;
mod faults;
mod http;
pub mod report;
mod state;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use faults::{Fault, FaultPlan};
pub use state::{SimComment, SimImage, SimMedia, SimMetrics};

use faults::FaultPicker;
use state::SimState;

/// The Graph API version the simulator is addressed with by default (and postbooth's default
/// `instagram.graph_url`): v25.0, usable until 29 July 2028.
pub const GRAPH_VERSION: &str = "v25.0";

/// How a simulator behaves. `Default` is a healthy account on an ephemeral loopback port.
#[derive(Clone, Debug)]
pub struct SimOptions {
    pub listen: SocketAddr,
    /// The only access token accepted.
    pub token: String,
    pub user_id: String,
    /// Publishes allowed per rolling 24 hours.
    pub quota_total: u32,
    /// Whether published Stories count against `quota_total`. Meta's material does not say
    /// clearly; the default (they do) is the cautious one, and quota policy `story` is tested
    /// both ways.
    pub stories_in_quota: bool,
    /// Status GETs answered `IN_PROGRESS` before a container is `FINISHED`.
    pub polls_until_finished: u32,
    /// How long a container is `IN_PROGRESS` after it is created, by the simulator's clock,
    /// as Instagram takes time to fetch and check an image (on top of the polls above).
    pub processing_time: Duration,
    /// Unpublished containers older than this are `EXPIRED`.
    pub container_ttl: Duration,
    /// How old the token is when the simulator starts (it can be refreshed after a day and
    /// expires after 60).
    pub token_age: Duration,
    /// Calls per rolling hour that the usage headers report as 100 %. Meta's documented
    /// budget is about 200 per user per hour; the default is higher so that long tests are
    /// not throttled, and throttling tests set it low.
    pub calls_per_hour: u32,
    /// The Facebook app accepted by `oauth/access_token`.
    pub app_id: String,
    pub app_secret: String,
    /// Containers allowed per rolling 24 hours (Instagram's limit is 400; the soak raises it).
    pub containers_per_day: usize,
    /// The account's clock. `WallClock::follows_tokio()` in a test with paused time makes the
    /// quota window, container expiry and token age follow simulated time.
    pub clock: crate::clock::WallClock,
    pub faults: FaultPlan,
    /// When set, every image fetched from an `image_url` is also written here as
    /// `<sha256>.jpg`, so a check outside this process can look at what was posted
    /// (`postbooth sim --report`).
    pub keep_images: Option<std::path::PathBuf>,
    /// When set, every answer says it was served by this Graph API version
    /// (`facebook-api-version`), as Meta's answers do once the version asked for is retired
    /// and calls go to the next oldest usable one. `None`: the version in the request's path.
    pub served_version: Option<String>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: "sim-token".to_string(),
            user_id: "17841400000000000".to_string(),
            quota_total: 100,
            stories_in_quota: true,
            polls_until_finished: 1,
            processing_time: Duration::ZERO,
            container_ttl: Duration::from_secs(24 * 60 * 60),
            token_age: Duration::from_secs(2 * 24 * 60 * 60),
            calls_per_hour: 100_000,
            app_id: "sim-app".to_string(),
            app_secret: "sim-app-secret".to_string(),
            containers_per_day: state::CONTAINERS_PER_DAY,
            clock: crate::clock::WallClock::System,
            faults: FaultPlan::none(),
            keep_images: None,
            served_version: None,
        }
    }
}

/// What the connection tasks share. Locks are held briefly and never across an await.
pub(crate) struct Shared {
    state: Mutex<SimState>,
    faults: Mutex<FaultPicker>,
    http: reqwest::Client,
    keep_images: Option<std::path::PathBuf>,
    /// `http://ADDR`: where Reel uploads go (the simulator plays the upload host too).
    upload_base: String,
    served_version: Option<String>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, SimState> {
        // A panic while holding the lock leaves counters, not invariants, half-updated.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn faults(&self) -> MutexGuard<'_, FaultPicker> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running simulator. Dropping it stops the server too; `shutdown` also waits for it.
pub struct Simulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Simulator {
    pub async fn start(opts: SimOptions) -> std::io::Result<Simulator> {
        let listener = tokio::net::TcpListener::bind(opts.listen).await?;
        let addr = listener.local_addr()?;
        // Staged images are usually on loopback (the `serve` host, a local S3), which an
        // environment proxy would not reach.
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(api::FETCH_TIMEOUT)
            .build()
            .map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            faults: Mutex::new(FaultPicker::new(opts.faults.clone())),
            keep_images: opts.keep_images.clone(),
            served_version: opts.served_version.clone(),
            state: Mutex::new(SimState::new(opts)),
            http,
            upload_base: format!("http://{addr}"),
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(http::accept_loop(listener, shared.clone(), stopped));
        Ok(Simulator {
            addr,
            shared,
            stop,
            task,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v25.0`: the `graph_url` a client is configured with.
    pub fn base_url(&self) -> String {
        format!("http://{}/{GRAPH_VERSION}", self.addr)
    }

    /// sha256 (hex) of each fetched JPEG that was published → times published.
    pub fn publishes_by_image(&self) -> BTreeMap<String, u32> {
        self.shared.state().publishes_by_image()
    }

    /// Published media, oldest first.
    pub fn media(&self) -> Vec<SimMedia> {
        self.shared.state().media()
    }

    /// Every comment, oldest first.
    pub fn comments(&self) -> Vec<SimComment> {
        self.shared.state().comments()
    }

    /// Refuse every new comment (code 100), as a media with comments turned off does.
    pub fn refuse_comments(&self, refuse: bool) {
        self.shared.state().set_refuse_comments(refuse);
    }

    /// The upload host cuts the connection once when an upload reaches each of these file
    /// offsets: the bytes before the offset arrived and are kept (as on the real host, which
    /// then reports them in `bytes_transferred`), the rest of that request is lost.
    pub fn cut_uploads_at(&self, offsets: impl IntoIterator<Item = u64>) {
        self.shared.state().plan_upload_cuts(offsets);
    }

    /// Body bytes upload requests announced (their Content-Length), over all requests: what
    /// clients sent, including what a cut connection lost.
    pub fn upload_bytes_offered(&self) -> u64 {
        self.shared.state().upload_bytes_offered()
    }

    /// Body bytes the upload host read off the network over all requests, cut ones included.
    pub fn upload_bytes_received(&self) -> u64 {
        self.shared.state().upload_bytes_received()
    }

    /// Requests read, per endpoint name (`create_container`, `container_status`,
    /// `media_publish`, `list_media`, `publishing_limit`, `user`, `media`, `unknown`).
    /// Connections refused by a fault were never read and are not counted.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.shared.state().calls()
    }

    /// How many publishes were refused because the quota was used up (code 9, 2207042).
    pub fn quota_refusals(&self) -> u64 {
        self.shared.state().quota_refusals()
    }

    /// Faults actually applied, per `Fault::name`.
    pub fn faults_injected(&self) -> BTreeMap<String, u64> {
        self.shared.state().faults()
    }

    /// Replaces the random fault plan and reseeds it; scripted faults stay queued.
    pub fn set_faults(&self, plan: FaultPlan) {
        self.shared.faults().set_plan(plan);
    }

    /// The next `times` requests get `fault`, before any random ones. `PublishResponseLost`
    /// waits for the next `media_publish` instead.
    pub fn inject(&self, fault: Fault, times: u32) {
        self.shared.faults().inject(fault, times);
    }

    /// Revokes the current token: it now answers code 190 (subcode 460).
    pub fn set_token(&self, token: &str) {
        self.shared.state().set_token(token);
    }

    /// Moves the simulated account's clock forward: the quota window slides, containers and
    /// tokens age. The booth's own clock is not touched.
    pub fn advance_clock(&self, by: Duration) {
        self.shared.state().advance_clock(by);
    }

    /// The token the account accepts now (after refreshes, the newest).
    pub fn current_token(&self) -> String {
        self.shared.state().current_token().to_string()
    }

    /// Someone comments on a post (`parent` for a reply). Returns the comment id.
    pub fn comment_as(
        &self,
        media_id: &str,
        parent: Option<&str>,
        username: &str,
        text: &str,
    ) -> String {
        let mut state = self.shared.state();
        let now = state.now();
        state.add_comment_by(media_id, parent, username, text, now)
    }

    /// Makes the usage headers report `percent` (`None`: computed from the calls again).
    pub fn force_usage(&self, percent: Option<u32>) {
        self.shared.state().force_usage(percent);
    }

    /// Sets what the insights endpoints report for a post.
    pub fn set_metrics(&self, media_id: &str, metrics: SimMetrics) {
        self.shared.state().set_metrics(media_id, metrics);
    }

    pub fn expire_all_containers(&self) {
        self.shared.state().expire_all();
    }

    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Runs a simulator until `shutdown` completes, in the style of `mini-redis`'s `run`.
pub async fn serve_until(
    opts: SimOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let sim = Simulator::start(opts).await?;
    tracing::info!(base_url = %sim.base_url(), "Graph API simulator listening");
    shutdown.await;
    sim.shutdown().await;
    Ok(())
}

/// Runs a simulator until Ctrl-C, for `postbooth sim --listen ADDR`.
pub async fn serve_forever(opts: SimOptions) -> std::io::Result<()> {
    serve_until(opts, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
