//! Taking a photo: capture a frame, make it compliant, save it durably. Never touches the
//! network, so the booth keeps taking photos with no connection at all.

use crate::job::Job;
use crate::pipeline::capture::{Camera, CaptureError};
use crate::pipeline::encode::{self, EncodeError, EncodeOptions};
use crate::publish::caption::{self, CaptionValues};
use crate::store::{Store, StoreError};
use crate::ui::{Screen, StatusSender};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use tracing::{error, info};

#[derive(Debug, thiserror::Error)]
pub enum ShootError {
    #[error("camera: {0}")]
    Camera(#[from] CaptureError),
    #[error("the frame could not be made into a photo: {0}")]
    Encode(#[from] EncodeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the booth is shutting down")]
    ShuttingDown,
    /// Config load checks the template with its longest values, so this is a last guard.
    #[error("the caption {caption:?} {problem}: change instagram.caption (or event/location)")]
    Caption { caption: String, problem: String },
}

impl ShootError {
    fn screen(&self) -> Screen {
        match self {
            Self::Camera(_) => Screen::CameraMissing,
            Self::Store(StoreError::DiskFull { .. } | StoreError::CapReached { .. }) => {
                Screen::DiskFull
            }
            Self::Store(_) => Screen::Error("STORE".into()),
            Self::Encode(_) => Screen::Error("FRAME".into()),
            Self::Caption { .. } => Screen::Error("CAPTION".into()),
            Self::ShuttingDown => Screen::Idle,
        }
    }
}

pub struct Shooter {
    camera: Mutex<Box<dyn Camera>>,
    store: Store,
    encode: EncodeOptions,
    caption_template: String,
    event: String,
    location: String,
    /// `{n}` in captions: photos taken by this booth, counting the ones already in the store.
    counter: AtomicU64,
    status: StatusSender,
    /// Tells the publisher a new photo is waiting.
    wake: Arc<Notify>,
    /// One shot at a time: the lock is held for the whole shot, so shutdown taking it waits for
    /// a save in progress. The value is "closed": no more shots.
    closed: tokio::sync::Mutex<bool>,
}

impl Shooter {
    pub fn new(
        camera: Box<dyn Camera>,
        store: Store,
        config: &crate::config::Config,
        status: StatusSender,
        wake: Arc<Notify>,
        already_taken: u64,
    ) -> Self {
        Self {
            camera: Mutex::new(camera),
            store,
            encode: EncodeOptions::from(&config.image),
            caption_template: config.instagram.caption.clone(),
            event: config.instagram.event.clone(),
            location: config.instagram.location.clone(),
            counter: AtomicU64::new(already_taken),
            status,
            wake,
            closed: tokio::sync::Mutex::new(false),
        }
    }

    /// Takes and saves one photo. Returns once the photo is durable: only then is it "Saved".
    pub async fn shoot(self: &Arc<Self>) -> Result<Job, ShootError> {
        let closed = self.closed.lock().await;
        if *closed {
            return Err(ShootError::ShuttingDown);
        }
        self.status.send_modify(|s| s.screen = Screen::Saving);
        let this = Arc::clone(self);
        // Runs to the end even if the caller goes away: a save is never left half done.
        let result = tokio::task::spawn_blocking(move || this.shoot_blocking())
            .await
            .expect("shooting does not panic");
        match &result {
            Ok(job) => {
                info!(job = %job.id, bytes = job.blob.size, width = job.blob.width, height = job.blob.height, "photo saved");
                self.status.send_modify(|s| {
                    s.screen = Screen::Saved;
                    s.waiting += 1;
                });
                self.wake.notify_one();
            }
            Err(e) => {
                error!(error = %e, "photo not taken");
                let screen = e.screen();
                self.status.send_modify(|s| s.screen = screen);
            }
        }
        result
    }

    /// Stops taking photos, after any save in progress has finished.
    pub async fn close(&self) {
        *self.closed.lock().await = true;
    }

    fn shoot_blocking(&self) -> Result<Job, ShootError> {
        let mut camera = self.camera.lock().expect("camera lock");
        let frame = camera.capture()?;
        let jpeg = encode::make_compliant(&frame, &self.encode)?;
        drop(frame);
        let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        let values = caption_values(n, &self.event, &self.location);
        let caption = caption::render(&self.caption_template, &values);
        // Checked at queue time too: a caption Instagram would refuse must never be queued.
        if let Err(problem) = caption::validate(&caption) {
            return Err(ShootError::Caption { caption, problem });
        }
        let job = self
            .store
            .save_photo(&jpeg.bytes, jpeg.width, jpeg.height, caption)?;
        if let Err(e) = camera.commit() {
            // The photo is saved; the source just stays where it was.
            error!(job = %job.id, error = %e, "saved, but could not move the source image aside");
        }
        Ok(job)
    }
}

/// Caption placeholder values for photo number `n`, in the booth's local time.
fn caption_values(n: u64, event: &str, location: &str) -> CaptionValues {
    let now = crate::clock::now();
    CaptionValues {
        date: format!("{:04}-{:02}-{:02}", now.year, now.month, now.day),
        time: format!("{:02}:{:02}", now.hour, now.minute),
        n,
        event: event.to_string(),
        location: location.to_string(),
    }
}
