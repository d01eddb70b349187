//! Taking a photo: capture a frame, make it compliant, save it durably. Never touches the
//! network, so the booth keeps taking photos with no connection at all.

use crate::hw::camera::{Camera, CaptureError, Frame};
use crate::job::{Job, PostKind};
use crate::pipeline::encode::{self, CompliantJpeg, EncodeError, EncodeOptions};
use crate::pipeline::variants;
use crate::publish::caption::{self, CaptionValues};
use crate::store::{NewFile, NewJob, Store, StoreError};
use crate::ui::{Screen, StatusSender};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tracing::{error, info, warn};

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
            Self::Camera(e) => e
                .trouble()
                .map_or(Screen::CameraMissing, Screen::CameraTrouble),
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
    /// Empty: no first comment.
    first_comment_template: String,
    event: String,
    location: String,
    /// Photos per press: 1, or 2..=10 for one carousel.
    shots: u32,
    countdown: Duration,
    also_story: bool,
    /// publish.review and guest_confirm_secs: the state new photos are saved in.
    review: crate::config::Review,
    guest_confirm_secs: u64,
    /// camera.verify_frames: walk a streaming camera's MJPEG frames.
    verify_frames: bool,
    /// For videos queued through the daemon (`postbooth post --video`).
    instagram: crate::config::InstagramConfig,
    /// `{n}` in captions: photos taken by this booth, counting the ones already in the store.
    counter: AtomicU64,
    status: StatusSender,
    /// Tells the publisher a new photo is waiting.
    wake: Arc<Notify>,
    /// One shot at a time: the lock is held for the whole shot, so shutdown taking it waits for
    /// a save in progress. The value is "closed": no more shots.
    closed: tokio::sync::Mutex<bool>,
    /// The last photo saved, for the guest screen.
    saved: tokio::sync::watch::Sender<Option<Job>>,
    /// Photos saved, capture durations and camera health for `/metrics` and MQTT.
    telemetry: Arc<crate::telemetry::Telemetry>,
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
            first_comment_template: config.instagram.first_comment.clone(),
            event: config.instagram.event.clone(),
            location: config.instagram.location.clone(),
            shots: config.instagram.carousel_shots.max(1),
            countdown: Duration::from_millis(config.instagram.carousel_countdown_ms),
            also_story: config.instagram.also_story,
            review: config.publish.review,
            guest_confirm_secs: config.publish.guest_confirm_secs,
            verify_frames: config.camera.verify_frames,
            instagram: config.instagram.clone(),
            counter: AtomicU64::new(already_taken),
            status,
            wake,
            closed: tokio::sync::Mutex::new(false),
            saved: tokio::sync::watch::Sender::new(None),
            telemetry: Arc::default(),
        }
    }

    /// Records saved photos, capture times and camera failures in `telemetry`.
    pub fn with_telemetry(mut self, telemetry: Arc<crate::telemetry::Telemetry>) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// Is a shot being taken or saved right now?
    pub fn busy(&self) -> bool {
        self.closed.try_lock().is_err()
    }

    /// [`shoot`](Self::shoot), unless a shot is already being taken or saved: then `None` at
    /// once (an interval shot that falls due then is skipped, not queued behind it).
    pub async fn try_shoot(self: &Arc<Self>) -> Option<Result<Job, ShootError>> {
        let closed = self.closed.try_lock().ok()?;
        Some(self.shoot_locked(closed).await)
    }

    /// Takes and saves one photo (or, in carousel mode, every shot of one carousel). Returns
    /// once it is durable: only then is it "Saved".
    pub async fn shoot(self: &Arc<Self>) -> Result<Job, ShootError> {
        let closed = self.closed.lock().await;
        self.shoot_locked(closed).await
    }

    /// A press's countdown began: the camera gets ready for a shutter at its end (see
    /// [`Camera::prepare`]). Await the handle before [`shoot`](Self::shoot), so the shot never
    /// overtakes it.
    pub fn prepare(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || this.camera.lock().expect("camera lock").prepare())
    }

    async fn shoot_locked(
        self: &Arc<Self>,
        closed: tokio::sync::MutexGuard<'_, bool>,
    ) -> Result<Job, ShootError> {
        if *closed {
            return Err(ShootError::ShuttingDown);
        }
        let began = std::time::Instant::now();
        let result = self.take().await;
        match &result {
            Ok(job) => {
                self.telemetry
                    .saved(job.id, job.kind.name(), job.blob.size, began.elapsed());
                info!(job = %job.id, kind = job.kind.name(), photos = job.blobs().len(), bytes = job.blob.size, width = job.blob.width, height = job.blob.height, "photo saved");
                self.status.send_modify(|s| {
                    s.screen = Screen::Saved;
                    if !job.state.is_unapproved() {
                        s.waiting += 1;
                    }
                });
                self.wake.notify_one();
                self.saved.send_replace(Some(job.clone()));
            }
            Err(e) => {
                if matches!(e, ShootError::Camera(_)) {
                    self.telemetry.camera(false);
                }
                error!(error = %e, "photo not taken");
                let screen = e.screen();
                self.status.send_modify(|s| s.screen = screen);
            }
        }
        drop(closed);
        result
    }

    async fn take(self: &Arc<Self>) -> Result<Job, ShootError> {
        let mut shots: Vec<CompliantJpeg> = Vec::new();
        // The first shot's camera frame, kept for its Story copy (made after the photo is saved).
        let mut story_frame: Option<Frame> = None;
        for shot in 0..self.shots {
            if shot > 0 {
                self.countdown(shot as usize + 1).await;
            }
            self.status.send_modify(|s| s.screen = Screen::Saving);
            let this = Arc::clone(self);
            let size = shots.first().map(|j| (j.width, j.height));
            // Runs to the end even if the caller goes away: a save is never left half done.
            let keep_frame = self.also_story && shot == 0;
            let (jpeg, frame) =
                tokio::task::spawn_blocking(move || this.capture_one(size, keep_frame))
                    .await
                    .expect("shooting does not panic")?;
            shots.push(jpeg);
            story_frame = story_frame.or(frame);
        }
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || this.save(shots, story_frame))
            .await
            .expect("saving does not panic")
    }

    /// "Photo 2 of 4 in 3… 2… 1…" between the shots of a carousel.
    async fn countdown(&self, shot: usize) {
        let of = self.shots as usize;
        let mut left = self.countdown;
        while !left.is_zero() {
            let secs = left.as_secs_f64().ceil() as u32;
            self.status
                .send_modify(|s| s.screen = Screen::Countdown { secs, shot, of });
            let step = left.min(Duration::from_secs(1));
            tokio::time::sleep(step).await;
            left -= step;
        }
    }

    /// One compliant JPEG from the camera; a carousel's later shots take the first one's size.
    /// With `keep_frame`, the camera frame is returned too (for the Story copy).
    fn capture_one(
        &self,
        size: Option<(u32, u32)>,
        keep_frame: bool,
    ) -> Result<(CompliantJpeg, Option<Frame>), ShootError> {
        let mut camera = self.camera.lock().expect("camera lock");
        let (mut jpeg, frame) =
            photo_from_camera(camera.as_mut(), &self.encode, self.verify_frames)?;
        let frame = keep_frame.then_some(frame);
        if let Some((w, h)) = size {
            jpeg = variants::same_size(jpeg, w, h, self.encode.quality)?;
        }
        if self.shots > 1 {
            // A folder camera hands out one pending file at a time, so a carousel's shots are
            // moved aside as they are taken (not once the carousel is saved, as single photos
            // are): a crash mid-carousel leaves those files in `taken/`, not in the folder.
            if let Err(e) = camera.commit() {
                error!(error = %e, "could not move the source image aside");
            }
        }
        Ok((jpeg, frame))
    }

    fn save(
        &self,
        shots: Vec<CompliantJpeg>,
        story_frame: Option<Frame>,
    ) -> Result<Job, ShootError> {
        let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        let values = caption_values(n, &self.event, &self.location);
        let caption = caption::render(&self.caption_template, &values);
        let first_comment = (!self.first_comment_template.is_empty())
            .then(|| caption::render(&self.first_comment_template, &values));
        // Checked at queue time too: text Instagram would refuse must never be queued.
        for text in std::iter::once(&caption).chain(first_comment.as_ref()) {
            if let Err(problem) = caption::validate(text) {
                return Err(ShootError::Caption {
                    caption: text.clone(),
                    problem,
                });
            }
        }
        let kind = if shots.len() > 1 {
            PostKind::Carousel { items: Vec::new() }
        } else {
            PostKind::Photo
        };
        let job = self.store.save_job(NewJob {
            files: shots
                .iter()
                .map(|j| NewFile::jpeg(&j.bytes, j.width, j.height))
                .collect(),
            caption,
            kind,
            first_comment,
            state: crate::job::initial_state(
                self.review,
                self.store.now_ms(),
                self.guest_confirm_secs,
            ),
        })?;
        if self.shots == 1 {
            let mut camera = self.camera.lock().expect("camera lock");
            if let Err(e) = camera.commit() {
                // The photo is saved; the source just stays where it was.
                error!(job = %job.id, error = %e, "saved, but could not move the source image aside");
            }
        }
        if self.also_story {
            // The photo is saved whatever happens to its Story copy.
            if let Err(e) = self.save_story(&job, &shots[0], story_frame) {
                error!(job = %job.id, error = %e, "saved, but its Story copy could not be made");
            }
        }
        Ok(job)
    }

    /// The Story copy of a photo: its own job, its own exactly-once record, no caption. Made
    /// from the camera frame (a 9:16 crop of a 16:9 frame has 1.8x the pixels it would have
    /// in the already cropped and resized feed photo), else from the saved photo.
    fn save_story(
        &self,
        of: &Job,
        photo: &CompliantJpeg,
        frame: Option<Frame>,
    ) -> Result<Job, ShootError> {
        let story = match frame {
            Some(frame) => encode::make_story(&frame, &self.encode)?,
            None => variants::story(&photo.bytes, self.encode.quality)?,
        };
        let job = self.store.save_job(NewJob {
            files: vec![NewFile::jpeg(&story.bytes, story.width, story.height)],
            caption: String::new(),
            kind: PostKind::Story {
                of: Some(of.id),
                overflow: false,
            },
            first_comment: None,
            // Held with its photo: a decision about the photo is a decision about its Story.
            state: of.state.clone(),
        })?;
        info!(job = %job.id, photo = %of.id, width = story.width, height = story.height, "story saved");
        self.status.send_modify(|s| s.waiting += 1);
        Ok(job)
    }

    /// Queues an operator's MP4 as a Reel (checked first); the publisher is woken for it.
    pub async fn post_video(
        self: &Arc<Self>,
        path: std::path::PathBuf,
        caption: Option<String>,
    ) -> anyhow::Result<Job> {
        let this = Arc::clone(self);
        let job = tokio::task::spawn_blocking(move || {
            crate::queue_ops::post_video(&this.store, &this.instagram, &path, caption)
        })
        .await
        .expect("queueing a video does not panic")?;
        self.status.send_modify(|s| s.waiting += 1);
        self.wake.notify_one();
        Ok(job)
    }

    /// Sees each photo as soon as it is saved.
    pub fn subscribe_saved(&self) -> tokio::sync::watch::Receiver<Option<Job>> {
        self.saved.subscribe()
    }

    /// The store photos are saved in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Tells the publisher a photo may be posted now (a guest's confirmation).
    pub fn wake_publisher(&self) {
        self.wake.notify_one();
    }

    /// JPEG quality for Story copies made later (`postbooth queue story`).
    pub fn story_quality(&self) -> u8 {
        self.encode.quality
    }

    /// Stops taking photos, after any save in progress has finished.
    pub async fn close(&self) {
        *self.closed.lock().await = true;
    }
}

/// A compliant JPEG from the camera's next frame, and that frame. A frame that cannot be decoded (an MJPEG
/// frame cut short or damaged on the USB cable) is rejected (a folder camera moves the file to
/// `rejected/`, so it does not block the folder) and, for a streaming camera, the next frame is
/// taken, up to [`Camera::frame_retries`] times. With `verify_frames`, a streaming camera's
/// JPEG frames have their coded data walked too ([`EncodeOptions::verify_scan`]), so a frame
/// damaged on the cable never becomes a photo.
pub fn photo_from_camera(
    camera: &mut dyn Camera,
    opts: &EncodeOptions,
    verify_frames: bool,
) -> Result<(CompliantJpeg, Frame), ShootError> {
    let mut retries = camera.frame_retries();
    // A camera that streams frames over USB can deliver damaged ones: walk their scans.
    let opts = &EncodeOptions {
        verify_scan: verify_frames && retries > 0,
        ..opts.clone()
    };
    loop {
        let frame = camera.capture()?;
        match encode::make_compliant(&frame, opts) {
            Ok(jpeg) => return Ok((jpeg, frame)),
            Err(EncodeError::Decode(why)) => {
                if let Err(e) = camera.reject() {
                    error!(error = %e, "could not move the unreadable image aside");
                }
                if retries == 0 {
                    return Err(EncodeError::Decode(why).into());
                }
                retries -= 1;
                warn!(error = %why, retries_left = retries, "damaged frame dropped, taking the next one");
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Caption placeholder values for photo number `n`, in the booth's local time.
pub fn caption_values(n: u64, event: &str, location: &str) -> CaptionValues {
    let now = crate::clock::now();
    CaptionValues {
        date: format!("{:04}-{:02}-{:02}", now.year, now.month, now.day),
        time: format!("{:02}:{:02}", now.hour, now.minute),
        n,
        event: event.to_string(),
        location: location.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Hands out scripted frames and counts rejections.
    struct Script {
        frames: VecDeque<Frame>,
        retries: u32,
        rejected: u32,
    }

    impl Camera for Script {
        fn capture(&mut self) -> Result<Frame, CaptureError> {
            self.frames.pop_front().ok_or(CaptureError::Missing {
                what: "the scripted camera".into(),
                fix: "no frames left".into(),
            })
        }
        fn commit(&mut self) -> Result<(), CaptureError> {
            Ok(())
        }
        fn reject(&mut self) -> Result<(), CaptureError> {
            self.rejected += 1;
            Ok(())
        }
        fn frame_retries(&self) -> u32 {
            self.retries
        }
        fn describe(&self) -> String {
            "script".into()
        }
    }

    fn good() -> Vec<u8> {
        let img = image::RgbImage::from_fn(480, 360, |x, y| image::Rgb([x as u8, y as u8, 90]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(&img)
            .unwrap();
        out
    }

    /// A packet lost in the middle of the scan: still SOI..EOI, decodes without error.
    fn damaged() -> Vec<u8> {
        let g = good();
        let mid = g.len() / 2;
        [&g[..mid], &g[mid + 300..]].concat()
    }

    #[test]
    fn damaged_frames_are_dropped_and_the_next_one_taken() {
        let mut cam = Script {
            frames: [damaged(), good()[..1000].to_vec(), good(), damaged()]
                .map(Frame::Encoded)
                .into(),
            retries: 3,
            rejected: 0,
        };
        let (jpeg, _) = photo_from_camera(&mut cam, &EncodeOptions::default(), true).unwrap();
        assert_eq!((jpeg.width, jpeg.height), (480, 360));
        assert_eq!(cam.rejected, 2);
        assert_eq!(cam.frames.len(), 1, "stopped at the first good frame");
        // camera.verify_frames = false: the damaged frame decodes (garbage and all) and is used.
        let mut unchecked = Script {
            frames: [damaged(), good()].map(Frame::Encoded).into(),
            retries: 3,
            rejected: 0,
        };
        photo_from_camera(&mut unchecked, &EncodeOptions::default(), false).unwrap();
        assert_eq!((unchecked.rejected, unchecked.frames.len()), (0, 1));
    }

    #[test]
    fn only_damaged_frames_give_a_clear_error() {
        let mut cam = Script {
            frames: std::iter::repeat_with(|| Frame::Encoded(damaged()))
                .take(10)
                .collect(),
            retries: 3,
            rejected: 0,
        };
        let err = photo_from_camera(&mut cam, &EncodeOptions::default(), true).unwrap_err();
        assert!(
            matches!(err, ShootError::Encode(EncodeError::Decode(_))),
            "{err}"
        );
        assert!(err.to_string().contains("corrupt"), "{err}");
        assert_eq!(
            (cam.rejected, cam.frames.len()),
            (4, 6),
            "1 try + 3 retries"
        );
        // A folder camera (no retries): the file is rejected once, the press fails.
        let mut folder = Script {
            frames: [good()[..2000].to_vec(), good()].map(Frame::Encoded).into(),
            retries: 0,
            rejected: 0,
        };
        assert!(photo_from_camera(&mut folder, &EncodeOptions::default(), true).is_err());
        assert_eq!((folder.rejected, folder.frames.len()), (1, 1));
    }
}
