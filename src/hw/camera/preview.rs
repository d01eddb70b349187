//! The one live-frame stream: recent preview frames (small JPEGs, a few per second) from
//! whatever camera the booth has, for anything that shows the guests what the camera sees
//! (the web screen).
//!
//! Cameras feed it through a [`PreviewTap`]: streaming cameras *push* ([`PreviewTap::wants`]
//! then [`PreviewTap::offer`]), the others register a *pull* ([`PreviewTap::set_pull`]) that
//! the preview thread calls. Frames are made smaller and encoded on the preview thread, never
//! on the camera's: capture does not slow down when people watch. Nothing at all is copied or
//! encoded while nobody holds a receiver, and one encoded frame is shared by every receiver
//! (an `Arc` in a `tokio::sync::watch`), so a hundred watchers cost what one does.

use crate::pipeline::encode::{make_compliant, EncodeOptions};
use crate::pipeline::frame::Frame;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::watch;

/// Preview frames per second at most: enough to frame a group photo, little CPU on a Pi.
pub const PREVIEW_FPS: u32 = 5;
/// Preview width in pixels (the height follows the photo's aspect).
pub const PREVIEW_WIDTH: u32 = 640;
/// JPEG quality of preview frames.
pub const PREVIEW_QUALITY: u8 = 70;

/// One preview frame: a small JPEG of what the camera saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviewFrame {
    /// A baseline JPEG, [`PREVIEW_WIDTH`] wide, cropped and mirrored as the photos are.
    pub jpeg: bytes::Bytes,
    pub width: u32,
    pub height: u32,
    /// Counts up by one per frame from 1, for as long as the daemon runs.
    pub seq: u64,
    /// When the camera delivered it.
    pub taken: SystemTime,
}

/// What a receiver holds: `None` until the first frame (and while the camera has none to show).
pub type PreviewReceiver = watch::Receiver<Option<Arc<PreviewFrame>>>;

/// A frame source the preview thread asks when it wants a frame (the test pattern, a folder).
pub type Pull = Box<dyn FnMut() -> Pulled + Send>;

/// What a [`Pull`] answered.
pub enum Pulled {
    /// A new frame to show.
    Frame(Frame),
    /// Nothing new: keep showing the last frame.
    Same,
    /// Nothing to show (the folder is empty).
    Nothing,
}

/// The daemon's preview stream. Cheap to clone; hand it to whatever serves previews and call
/// [`subscribe`](Preview::subscribe) once per watcher (a held receiver is what "someone is
/// watching" means, so do not keep one when nobody looks).
#[derive(Clone)]
pub struct Preview {
    inner: Arc<Inner>,
}

/// The camera side of the stream. Cheap to clone.
#[derive(Clone)]
pub struct PreviewTap {
    inner: Arc<Inner>,
}

struct Inner {
    tx: watch::Sender<Option<Arc<PreviewFrame>>>,
    slot: Mutex<Slot>,
    wake: Condvar,
    interval: Duration,
    options: EncodeOptions,
}

#[derive(Default)]
struct Slot {
    /// Handed over by a pushing camera, not yet encoded.
    pending: Option<(Frame, SystemTime)>,
    pull: Option<Pull>,
    /// When the last frame was taken for the preview (pushed or pulled).
    last: Option<Instant>,
    seq: u64,
    closed: bool,
}

impl Preview {
    /// Starts the preview thread. `photo` are the photo's options: previews are cropped,
    /// mirrored and overlaid the same way, only smaller.
    pub fn start(photo: &EncodeOptions) -> Preview {
        Self::with_rate(photo, PREVIEW_FPS)
    }

    /// [`start`](Self::start) at `fps` frames per second (tests).
    pub fn with_rate(photo: &EncodeOptions, fps: u32) -> Preview {
        let (tx, _) = watch::channel(None);
        let inner = Arc::new(Inner {
            tx,
            slot: Mutex::new(Slot::default()),
            wake: Condvar::new(),
            interval: Duration::from_secs(1) / fps.max(1),
            options: EncodeOptions {
                width: PREVIEW_WIDTH,
                quality: PREVIEW_QUALITY,
                verify_scan: false,
                ..photo.clone()
            },
        });
        // The thread ends when the preview is closed, or once nothing refers to it any more.
        let worker = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("preview".into())
            .spawn(move || Inner::run(&worker))
            .expect("spawning the preview thread");
        Preview { inner }
    }

    /// A receiver of the newest preview frame. Hold it only while someone watches.
    pub fn subscribe(&self) -> PreviewReceiver {
        self.inner.tx.subscribe()
    }

    /// The camera side, for the camera backend.
    pub fn tap(&self) -> PreviewTap {
        PreviewTap {
            inner: self.inner.clone(),
        }
    }

    /// Stops the preview thread (the daemon stopping). Receivers see the sender go away.
    pub fn close(&self) {
        let mut slot = self.inner.slot.lock().expect("preview slot");
        slot.closed = true;
        slot.pull = None;
        drop(slot);
        self.inner.wake.notify_all();
    }
}

impl PreviewTap {
    /// A tap that feeds nothing (for cameras opened outside the daemon: `doctor`, tests).
    pub fn none() -> PreviewTap {
        let (tx, _) = watch::channel(None);
        let inner = Arc::new(Inner {
            tx,
            slot: Mutex::new(Slot {
                closed: true,
                ..Slot::default()
            }),
            wake: Condvar::new(),
            interval: Duration::from_secs(1),
            options: EncodeOptions::default(),
        });
        PreviewTap { inner }
    }

    /// Whether a pushing camera should hand over its current frame now: someone is watching
    /// and the last preview frame is at least one interval old. Cheap: call it per frame.
    pub fn wants(&self) -> bool {
        if self.inner.tx.receiver_count() == 0 {
            return false;
        }
        let slot = self.inner.slot.lock().expect("preview slot");
        !slot.closed && slot.last.is_none_or(|t| t.elapsed() >= self.inner.interval)
    }

    /// Whether anyone holds a receiver now (whatever the frame rate): a camera that runs only
    /// for the preview (a DSLR's live view) runs while this is true.
    pub fn has_viewers(&self) -> bool {
        self.inner.tx.receiver_count() > 0 && !self.inner.slot.lock().expect("preview slot").closed
    }

    /// Hands a frame to the preview thread (replacing one not yet encoded). Returns at once.
    pub fn offer(&self, frame: Frame) {
        let mut slot = self.inner.slot.lock().expect("preview slot");
        if slot.closed {
            return;
        }
        slot.last = Some(Instant::now());
        slot.pending = Some((frame, SystemTime::now()));
        drop(slot);
        self.inner.wake.notify_all();
    }

    /// Registers a pull source: the preview thread calls it, at most [`PREVIEW_FPS`] times a
    /// second and only while someone watches. Replaces an earlier one.
    pub fn set_pull(&self, pull: Pull) {
        self.inner.slot.lock().expect("preview slot").pull = Some(pull);
        self.inner.wake.notify_all();
    }

    /// Says there is nothing to show (the camera went away, the folder is empty).
    pub fn clear(&self) {
        self.inner.clear();
    }

    /// Whether the preview has stopped for good (pushing threads may stop too).
    pub fn is_closed(&self) -> bool {
        self.inner.slot.lock().expect("preview slot").closed
    }
}

impl Inner {
    /// The preview thread: waits for a pushed frame, or for the time to pull one, makes it
    /// small, and sends it to every receiver.
    fn run(this: &std::sync::Weak<Inner>) {
        loop {
            let Some(inner) = this.upgrade() else {
                return;
            };
            match inner.next_frame() {
                Next::Closed => return,
                Next::Wait => {}
                Next::Clear => inner.clear(),
                Next::Frame(frame, taken) => inner.publish(&frame, taken),
            }
        }
    }

    fn publish(&self, frame: &Frame, taken: SystemTime) {
        match make_compliant(frame, &self.options) {
            Ok(jpeg) => {
                let seq = {
                    let mut slot = self.slot.lock().expect("preview slot");
                    slot.seq += 1;
                    slot.seq
                };
                self.tx.send_replace(Some(Arc::new(PreviewFrame {
                    jpeg: jpeg.bytes.into(),
                    width: jpeg.width,
                    height: jpeg.height,
                    seq,
                    taken,
                })));
            }
            // A damaged stream frame: the next one comes a fraction of a second later.
            Err(e) => tracing::debug!(error = %e, "preview frame dropped"),
        }
    }

    fn clear(&self) {
        self.tx.send_if_modified(|f| f.take().is_some());
    }

    /// Waits at most one interval for something to do.
    fn next_frame(&self) -> Next {
        let mut slot = self.slot.lock().expect("preview slot");
        if slot.closed {
            return Next::Closed;
        }
        if let Some((frame, taken)) = slot.pending.take() {
            return Next::Frame(frame, taken);
        }
        let watched = self.tx.receiver_count() > 0;
        let due = slot.last.is_none_or(|t| t.elapsed() >= self.interval);
        if watched && due && slot.pull.is_some() {
            slot.last = Some(Instant::now());
            let pull = slot.pull.as_mut().expect("checked above");
            match pull() {
                Pulled::Frame(frame) => return Next::Frame(frame, SystemTime::now()),
                Pulled::Nothing => return Next::Clear,
                Pulled::Same => {}
            }
        }
        // Nobody wakes this thread when a receiver appears: look again within one interval.
        let wait = match slot.last {
            Some(t) if watched => self.interval.saturating_sub(t.elapsed()),
            _ => self.interval,
        }
        .max(Duration::from_millis(1));
        drop(self.wake.wait_timeout(slot, wait).expect("preview slot"));
        Next::Wait
    }
}

enum Next {
    Closed,
    Wait,
    Clear,
    Frame(Frame, SystemTime),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn rgb(w: u32, h: u32, v: u8) -> Frame {
        Frame::Rgb(image::RgbImage::from_pixel(w, h, image::Rgb([v, v, v])))
    }

    fn next(rx: &mut PreviewReceiver) -> Arc<PreviewFrame> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(20), rx.changed())
                .await
                .expect("a preview frame within 20 s")
                .expect("preview open");
        });
        rx.borrow_and_update().clone().expect("a frame")
    }

    /// Nobody watching: a pushing camera is never asked for frames and a pull source is never
    /// called. Once someone watches, frames arrive small, numbered, shared by every receiver.
    #[test]
    fn frames_flow_only_while_someone_watches() {
        let preview = Preview::with_rate(&EncodeOptions::default(), 50);
        let tap = preview.tap();
        let pulls = Arc::new(AtomicU32::new(0));
        let counter = pulls.clone();
        tap.set_pull(Box::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            Pulled::Frame(rgb(1920, 1080, 200))
        }));
        std::thread::sleep(Duration::from_millis(200));
        assert!(!tap.wants(), "nobody watches: no frame wanted");
        assert_eq!(pulls.load(Ordering::SeqCst), 0, "nobody watches: no pull");

        let mut a = preview.subscribe();
        let mut b = preview.subscribe();
        let first = next(&mut a);
        assert_eq!((first.width, first.height), (PREVIEW_WIDTH, 360));
        let img = image::load_from_memory(&first.jpeg).unwrap();
        assert_eq!(img.width(), PREVIEW_WIDTH);
        let later = next(&mut a);
        assert!(later.seq > first.seq);
        // The second watcher sees frames too.
        assert!(next(&mut b).seq >= first.seq);

        drop((a, b));
        // Let a pull already under way finish, then nothing more is pulled.
        std::thread::sleep(Duration::from_millis(200));
        let stopped_at = pulls.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            pulls.load(Ordering::SeqCst),
            stopped_at,
            "no watcher, no pull"
        );
        preview.close();
    }

    /// A pushing camera's frames are rate-limited by `wants` and encoded off its thread;
    /// a damaged frame is dropped without stopping the stream.
    #[test]
    fn pushed_frames_are_rate_limited_and_bad_ones_dropped() {
        let preview = Preview::with_rate(&EncodeOptions::default(), 1);
        let tap = preview.tap();
        let mut rx = preview.subscribe();
        assert!(tap.wants());
        tap.offer(Frame::Encoded(b"not a jpeg".to_vec()));
        assert!(!tap.wants(), "one frame per interval");
        tap.offer(rgb(800, 600, 10));
        let f = next(&mut rx);
        assert_eq!(f.seq, 1, "the damaged frame was not counted");
        assert_eq!((f.width, f.height), (PREVIEW_WIDTH, 480));
        tap.clear();
        assert!(rx.borrow().is_none());
        preview.close();
        assert!(tap.is_closed());
        tap.offer(rgb(800, 600, 10));
        assert!(!tap.wants());
    }
}
