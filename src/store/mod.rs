//! The durable store: photo files and their job records. A photo is "saved" when both are on
//! disk for good; nothing in the store is ever silently deleted.
//!
//! Layout under `store.dir`: `queue/` (sled), `photos/` (`<id>.jpg` + `<id>.json` sidecars),
//! `public/` (what the `serve` media host hands out), `control.sock`.

pub mod blobs;
pub mod durable;
pub mod lock;
pub mod prune;
pub mod sled_store;

use crate::clock::WallClock;
use crate::config::StoreConfig;
use crate::failpoint;
use crate::job::{CarouselItem, FirstComment, Job, JobState, PostKind};
use blobs::BlobDir;
pub use lock::Opener;
use lock::{Held, StoreLock};
use sled_store::SledJobStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use uuid::Uuid;

/// One file of a new job (a JPEG, or a Reel's MP4).
pub struct NewFile<'a> {
    pub bytes: &'a [u8],
    pub width: u32,
    pub height: u32,
    /// File name extension: "jpg" or "mp4".
    pub ext: &'static str,
}

impl<'a> NewFile<'a> {
    pub fn jpeg(bytes: &'a [u8], width: u32, height: u32) -> Self {
        Self {
            bytes,
            width,
            height,
            ext: "jpg",
        }
    }
}

/// What [`Store::save_job`] needs to make a job.
pub struct NewJob<'a> {
    pub files: Vec<NewFile<'a>>,
    pub caption: String,
    pub kind: PostKind,
    pub first_comment: Option<String>,
    /// `Captured`, or `Held` under `publish.review` ([`crate::job::initial_state`]): saved
    /// in it, so a held photo is never for a moment something the publisher may take.
    pub state: JobState,
}

/// The queue of jobs, narrow on purpose so sled stays an implementation detail.
/// Every method returns only once its change is durable. Methods block: call them from
/// `spawn_blocking` (see [`Store::blocking`]).
pub trait JobStore: Send + Sync {
    fn put(&self, job: &Job) -> Result<(), StoreError>;
    fn get(&self, id: Uuid) -> Result<Option<Job>, StoreError>;
    /// Oldest first.
    fn list(&self) -> Result<Vec<Job>, StoreError>;
    fn remove(&self, id: Uuid) -> Result<(), StoreError>;
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    // No `#[from]`/`#[source]` on these two: the message already holds the cause, and a
    // source would make `{:#}` say it twice.
    #[error("disk error in the store: {0}")]
    Io(std::io::Error),
    #[error("disk error in the store at {path}: {error}")]
    File {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("queue database error: {0}")]
    Sled(String),
    #[error("the queue in {dir} is damaged ({detail})")]
    Corrupt { dir: PathBuf, detail: String },
    #[error("the store {} is in use by {}: stop it first (systemctl stop postbooth), or let the running booth answer through its control socket", dir.display(), holder(*pid))]
    InUse { dir: PathBuf, pid: Option<u32> },
    #[error("a job record cannot be read: {0}")]
    BadRecord(String),
    #[error("disk full: {free_mib} MiB free in {dir}, postbooth keeps {min_free_mib} MiB free; publish or remove old photos, or free space on the SD card")]
    DiskFull {
        dir: PathBuf,
        free_mib: u64,
        min_free_mib: u64,
    },
    #[error("photo space full: photos use {used_mib} MiB of the {cap_mib} MiB allowed by store.max_blob_mib")]
    CapReached { used_mib: u64, cap_mib: u64 },
    #[error("there is no store at {0}: start the booth once (postbooth run), or check store.dir")]
    NoStore(PathBuf),
    #[error("no job with id {0}")]
    NotFound(Uuid),
    #[error("job {0} is published; it cannot be retried (that would post it twice)")]
    AlreadyPublished(Uuid),
    #[error("cannot combine these photos into a carousel: {0}")]
    CannotCombine(String),
    #[error("cannot make a Story of job {id}: {why}")]
    CannotMakeStory { id: Uuid, why: String },
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

fn holder(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("postbooth process {pid}"),
        None => "another postbooth process".into(),
    }
}

impl StoreError {
    /// An I/O error on `path`, named in the message: `.map_err(StoreError::at(&path))`.
    pub fn at(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
        move |error| StoreError::File {
            path: path.to_path_buf(),
            error,
        }
    }

    /// A plain disk error named after `path`, where nothing closer named its file.
    fn naming(self, path: &Path) -> StoreError {
        match self {
            Self::Io(error) => Self::File {
                path: path.to_path_buf(),
                error,
            },
            other => other,
        }
    }

    /// An I/O error of either kind (the disk, not the data).
    pub fn is_io(&self) -> bool {
        matches!(self, Self::Io(_) | Self::File { .. })
    }

    /// Short words for the display.
    pub fn short(&self) -> &'static str {
        match self {
            Self::DiskFull { .. } | Self::CapReached { .. } => "Disk full",
            Self::InUse { .. } => "Store busy",
            _ => "Store error",
        }
    }
}

/// What opening the store had to repair, for the journal and `doctor`.
#[derive(Debug, Default, Clone)]
pub struct RecoveryReport {
    /// Photo files found without a record, queued again (from their sidecar where present).
    pub adopted: Vec<Uuid>,
    /// Records whose photo file is gone, marked Failed.
    pub missing: Vec<Uuid>,
    /// Where a damaged queue was moved before rebuilding it from the photo files.
    pub moved_aside: Option<PathBuf>,
}

/// Opens the queue under the store lock. sled's own lock on its files can outlive ours by a
/// moment: a command that just let go of the store lock may still be closing sled (its
/// background threads hold the file until they end). Nobody else can take sled's lock while
/// we hold ours, so it is let go soon: wait for it until `deadline`, as for the store lock.
/// (The power-cut test saw a restarting daemon give up here: "in use by another process".)
fn open_queue(
    dir: &Path,
    create: bool,
    deadline: std::time::Instant,
) -> Result<SledJobStore, StoreError> {
    loop {
        match SledJobStore::open(dir, create) {
            Err(StoreError::InUse { pid: None, .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

struct Inner {
    jobs: Box<dyn JobStore>,
    blobs: BlobDir,
    root: PathBuf,
    min_free_mib: u64,
    max_blob_mib: u64,
    /// `store.keep_done_days` in ms; `None` keeps Done jobs forever.
    keep_done_ms: Option<u64>,
    /// Pruned photos are deleted instead of archived.
    delete_published: bool,
    /// Where recorded times and "now" for pruning come from.
    clock: WallClock,
    /// Held for as long as the store is open, by this process only.
    _lock: StoreLock,
}

/// How [`Store::open_with`] opens the store.
pub struct OpenOptions {
    /// How long to wait for another process to let go of the store (0: not at all).
    pub wait: std::time::Duration,
    /// Told about every try while the store is held by another process; returning `false`
    /// stops waiting.
    pub waiting: Box<dyn FnMut(Held) -> bool + Send>,
    /// Run the clean-ups and repairs (the daemon and commands that change the queue). Without
    /// it (`queue list`, `doctor`), nothing is created, removed, adopted or rebuilt: a store
    /// that needs repair is an error that says to start the booth.
    pub repair: bool,
    pub clock: WallClock,
    /// The state a photo found without record or sidecar is queued in: `Captured` normally;
    /// `Held` where photos are reviewed before posting (`publish.review`), so a photo whose
    /// decision was lost waits for a person instead of being posted.
    pub adopt_as: JobState,
    /// The booth goes first: commands give way to it (see [`lock`]).
    pub opener: Opener,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            wait: std::time::Duration::ZERO,
            waiting: Box::new(|_| true),
            repair: true,
            clock: WallClock::System,
            adopt_as: JobState::Captured,
            opener: Opener::Command,
        }
    }
}

impl OpenOptions {
    /// For commands that only read: no repairs.
    pub fn read_only() -> Self {
        Self {
            repair: false,
            ..Self::default()
        }
    }
}

/// The store as the rest of postbooth sees it. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl Store {
    /// Opens the store, repairing what a crash or power cut can leave behind. A queue that
    /// will not open is moved aside and rebuilt from the photo files rather than leaving the
    /// booth dead. `default_caption` captions adopted photos that have no sidecar. Fails at
    /// once if another process holds the store (see [`Store::open_with`] to wait).
    pub fn open(
        cfg: &StoreConfig,
        default_caption: &str,
    ) -> Result<(Self, RecoveryReport), StoreError> {
        Self::open_with(cfg, default_caption, OpenOptions::default())
    }

    /// [`Store::open`] with the clock that times records and pruning (tests pass one that
    /// follows tokio's paused clock).
    pub fn open_with_clock(
        cfg: &StoreConfig,
        default_caption: &str,
        clock: WallClock,
    ) -> Result<(Self, RecoveryReport), StoreError> {
        Self::open_with(
            cfg,
            default_caption,
            OpenOptions {
                clock,
                ..OpenOptions::default()
            },
        )
    }

    /// Opens the store as `options` say. The store lock comes first: every clean-up and
    /// repair below runs only while this process holds it, so no other process can be
    /// writing the files they remove or rename.
    pub fn open_with(
        cfg: &StoreConfig,
        default_caption: &str,
        mut options: OpenOptions,
    ) -> Result<(Self, RecoveryReport), StoreError> {
        let root = cfg.dir.clone();
        if options.repair {
            durable::create_dir_durable(&root).map_err(StoreError::at(&root))?;
        } else if !root.is_dir() {
            return Err(StoreError::NoStore(root));
        }
        let started = std::time::Instant::now();
        let lock = StoreLock::acquire(&root, options.opener, options.wait, |held| {
            (options.waiting)(held)
        })?;
        let photos = root.join("photos");
        let blobs = if options.repair {
            BlobDir::open(photos.clone())
        } else {
            BlobDir::existing(photos.clone())
        }
        .map_err(|e| e.naming(&photos))?;
        let queue_dir = root.join("queue");
        let mut report = RecoveryReport::default();
        let jobs = match open_queue(&queue_dir, options.repair, started + options.wait) {
            Ok(jobs) => jobs,
            Err(StoreError::Corrupt { detail, .. }) if options.repair => {
                let aside = move_aside(&queue_dir)?;
                tracing::error!(
                    damaged = %aside.display(),
                    %detail,
                    "THE QUEUE DATABASE WOULD NOT OPEN: moved it aside and rebuilding the queue from the photo files"
                );
                report.moved_aside = Some(aside);
                SledJobStore::open(&queue_dir, true)?
            }
            Err(StoreError::Corrupt { dir, detail }) => {
                return Err(StoreError::Corrupt {
                    dir,
                    detail: format!(
                        "{detail}; start the booth (postbooth run) to move it aside and rebuild it"
                    ),
                })
            }
            Err(e) => return Err(e.naming(&queue_dir)),
        };
        let store = Self {
            inner: Arc::new(Inner {
                jobs: Box::new(jobs),
                blobs,
                root,
                min_free_mib: cfg.min_free_mib,
                max_blob_mib: cfg.max_blob_mib,
                keep_done_ms: prune::keep_done_ms(cfg.keep_done_days),
                delete_published: cfg.delete_published,
                clock: options.clock,
                _lock: lock,
            }),
        };
        if options.repair {
            store.reconcile(default_caption, &options.adopt_as, &mut report)?;
        }
        Ok((store, report))
    }

    /// Makes records and photo files agree after a crash: adopt orphan photos, fail records
    /// whose photo is gone. Never deletes a photo.
    fn reconcile(
        &self,
        default_caption: &str,
        adopt_as: &JobState,
        report: &mut RecoveryReport,
    ) -> Result<(), StoreError> {
        let records = self.inner.jobs.list()?;
        let known: std::collections::HashSet<Uuid> = records.iter().map(|j| j.id).collect();
        for found in self.inner.blobs.scan()? {
            if known.contains(&found.id) {
                continue;
            }
            let job = match found.sidecar {
                Some(job) => job,
                None => Job {
                    id: found.id,
                    created_at_ms: found.id.get_timestamp().map_or(0, |t| {
                        let (s, n) = t.to_unix();
                        s * 1000 + u64::from(n) / 1_000_000
                    }),
                    blob: self.inner.blobs.describe(found.id)?,
                    caption: default_caption.to_string(),
                    state: adopt_as.clone(),
                    attempts: 0,
                    restages: 0,
                    last_error: None,
                    kind: crate::job::PostKind::Photo,
                    first_comment: None,
                },
            };
            tracing::warn!(job = %job.id, state = job.state.name(), "adopting a saved photo that had no queue record");
            self.inner.jobs.put(&job)?;
            report.adopted.push(job.id);
        }
        for mut job in records {
            let needs_photo = job.state.is_pending() && !job.state.is_published();
            let missing = job.blobs().into_iter().any(|b| !self.inner.blobs.exists(b));
            if needs_photo && missing {
                tracing::error!(job = %job.id, file = %job.blob.file, "the photo file of a queued job is missing; marking it failed");
                job.advance(&crate::job::Outcome::BlobMissing)
                    .expect("a pending unpublished job can always fail");
                self.inner.jobs.put(&job)?;
                report.missing.push(job.id);
            }
        }
        self.finish_combines()?;
        Ok(())
    }

    /// A crash between saving a combined carousel and dropping the photos it was made of
    /// leaves both: the photos go (their pictures are in the carousel), as long as nothing of
    /// theirs reached Instagram.
    fn finish_combines(&self) -> Result<(), StoreError> {
        let jobs = self.inner.jobs.list()?;
        for job in &jobs {
            let PostKind::Carousel { items } = &job.kind else {
                continue;
            };
            for source in items.iter().filter_map(|i| i.from) {
                let Some(left) = jobs.iter().find(|j| j.id == source) else {
                    continue;
                };
                if matches!(left.state, JobState::Captured | JobState::Staged { .. }) {
                    tracing::warn!(job = %left.id, carousel = %job.id, "removing a photo that was combined into a carousel before a crash");
                    self.drop_job(left.id)?;
                } else {
                    tracing::error!(job = %left.id, carousel = %job.id, state = left.state.name(), "a photo combined into a carousel went on on its own; both are kept");
                }
            }
        }
        Ok(())
    }

    /// Combines waiting photos into one carousel job (quota policy `carousel`: a carousel
    /// counts once against the publishing quota). The photos must be 2..=10 photo jobs that
    /// have no container yet, all the same size; the carousel takes the first one's caption
    /// and first comment. Crash-safe: the carousel (its files are hard links of the photos') is
    /// durable before the photos are dropped, and opening the store finishes a combine a crash
    /// interrupted, so no picture is ever posted both alone and in the carousel.
    pub fn combine_into_carousel(&self, ids: &[Uuid]) -> Result<Job, StoreError> {
        let job = self.write_combined(ids)?;
        failpoint::hit("combine.carousel-saved");
        for id in ids {
            self.drop_job(*id)?;
        }
        Ok(job)
    }

    fn write_combined(&self, ids: &[Uuid]) -> Result<Job, StoreError> {
        let refuse = |why: String| Err(StoreError::CannotCombine(why));
        if !(crate::job::CAROUSEL_MIN..=crate::job::CAROUSEL_MAX).contains(&ids.len()) {
            return refuse(format!("{} photos; a carousel takes 2 to 10", ids.len()));
        }
        let mut sources = Vec::with_capacity(ids.len());
        for id in ids {
            let job = self.get(*id)?;
            if !job.kind.is_photo() {
                return refuse(format!("job {id} is a {}, not a photo", job.kind.name()));
            }
            if !matches!(job.state, JobState::Captured | JobState::Staged { .. }) {
                return refuse(format!(
                    "job {id} is {}; only photos with no container yet can be combined",
                    job.state.name()
                ));
            }
            sources.push(job);
        }
        let size = (sources[0].blob.width, sources[0].blob.height);
        if let Some(odd) = sources
            .iter()
            .find(|j| (j.blob.width, j.blob.height) != size)
        {
            return refuse(format!(
                "job {} is {}x{}, the first is {}x{}; Instagram would crop it",
                odd.id, odd.blob.width, odd.blob.height, size.0, size.1
            ));
        }
        let id = Uuid::now_v7();
        let mut items = Vec::with_capacity(sources.len());
        for (index, source) in sources.iter().enumerate() {
            let name = BlobDir::item_file_name(id, index, "jpg");
            let blob = self.inner.blobs.link(&source.blob, &name)?;
            items.push(CarouselItem {
                from: Some(source.id),
                ..CarouselItem::new(blob)
            });
        }
        let job = Job {
            id,
            created_at_ms: self.now_ms(),
            blob: items[0].blob.clone(),
            caption: sources[0].caption.clone(),
            state: JobState::Captured,
            attempts: 0,
            restages: 0,
            last_error: None,
            kind: PostKind::Carousel { items },
            first_comment: sources[0]
                .first_comment
                .as_ref()
                .map(|c| FirstComment::new(c.text.clone())),
        };
        self.inner.blobs.write_sidecar(&job)?;
        self.inner.jobs.put(&job)?;
        Ok(job)
    }

    /// Quota policy `story`: a waiting feed photo is posted as a Story instead. The job keeps
    /// its id and becomes a Story in one record write, so it is posted once, as one or the
    /// other. Only photos with no container yet; the photo as taken stays on disk beside the
    /// Story copy (`<id>.2.jpg`).
    pub fn turn_into_story(&self, id: Uuid, story: NewFile<'_>) -> Result<Job, StoreError> {
        let mut job = self.get(id)?;
        if !job.kind.is_photo()
            || !matches!(job.state, JobState::Captured | JobState::Staged { .. })
        {
            return Err(StoreError::CannotMakeStory {
                id,
                why: format!(
                    "it is a {} in state {}; only feed photos with no container yet can go to \
                     Stories instead",
                    job.kind.name(),
                    job.state.name()
                ),
            });
        }
        self.check_space(story.bytes.len() as u64)?;
        let file = BlobDir::item_file_name(id, 1, story.ext);
        self.inner.blobs.write_bytes(&file, story.bytes)?;
        job.blob = BlobDir::describe_bytes(file, story.bytes, story.width, story.height);
        job.kind = PostKind::Story {
            of: None,
            overflow: true,
        };
        // Stories have no caption and take no comments; a staged feed photo is not the Story.
        job.caption.clear();
        job.first_comment = None;
        job.state = JobState::Captured;
        // The sidecar first, so a queue rebuilt from the photo files agrees with the record.
        self.inner.blobs.write_sidecar(&job)?;
        failpoint::hit("story.sidecar-written");
        self.inner.jobs.put(&job)?;
        Ok(job)
    }

    /// `postbooth queue story ID`: a Story copy of a saved photo, as its own job with its own
    /// exactly-once record. Each photo gets at most one Story this way.
    pub fn add_story_of(&self, of: Uuid, story: NewFile<'_>) -> Result<Job, StoreError> {
        let refuse = |why: String| Err(StoreError::CannotMakeStory { id: of, why });
        let photo = self.get(of)?;
        if matches!(photo.kind, PostKind::Story { .. } | PostKind::Reel) {
            return refuse(format!("it is a {}, not a photo", photo.kind.name()));
        }
        if let Some(existing) = self
            .jobs()?
            .into_iter()
            .find(|j| matches!(j.kind, PostKind::Story { of: Some(source), .. } if source == of))
        {
            return refuse(format!("it already has one (job {})", existing.id));
        }
        self.save_job(NewJob {
            files: vec![story],
            caption: String::new(),
            kind: PostKind::Story {
                of: Some(of),
                overflow: false,
            },
            first_comment: None,
            state: JobState::Captured,
        })
    }

    /// Now, by the store's clock, in milliseconds since the epoch: every time a record holds.
    pub fn now_ms(&self) -> u64 {
        self.inner.clock.now_ms()
    }

    /// Where pruned photos and their sidecars go (unless `delete_published` is on).
    pub fn archive_dir(&self) -> PathBuf {
        self.inner.root.join("archive")
    }

    /// Prunes `Done` jobs older than `store.keep_done_days` ([`prune::prunable`] decides
    /// which): their photo files and sidecars leave `photos/` (into `archive/`, or deleted when
    /// `delete_published` is on), then their records go. Returns the pruned ids.
    ///
    /// The order is what makes it safe to kill at any instant (fail points
    /// `prune.photos-moved`, `prune.sidecars-moved`, tested in `tests/prune.rs`):
    ///
    /// 1. **Photos out of `photos/` first**, made durable (the archive directory is fsync'd
    ///    before `photos/`, so a power cut between leaves the photo under both names, never
    ///    under none). While the record exists, opening the store never adopts anything of
    ///    this job; once the photo is out, there is nothing left to adopt. A kill here leaves
    ///    a `Done` record without its photo, which is fine for a published job, and the next
    ///    prune (the record is still old enough) goes on from here: every step is idempotent.
    /// 2. **Then the sidecars**: a sidecar alone is ignored on open. Moving it before the
    ///    photo would open a window where a rebuilt queue (sled damaged) finds the photo with
    ///    no sidecar and queues it as new: a second post.
    /// 3. **The record last.** Removing it first would leave a photo without a record, which
    ///    `reconcile` adopts — as `Published` if its sidecar reads well, but as a new
    ///    `Captured` photo, posted again, if the sidecar is gone or torn.
    pub fn prune_done(&self) -> Result<Vec<Uuid>, StoreError> {
        let jobs = self.inner.jobs.list()?;
        let ids = prune::prunable(&jobs, self.now_ms(), self.inner.keep_done_ms);
        if ids.is_empty() {
            return Ok(ids);
        }
        let pruned: Vec<&Job> = jobs.iter().filter(|j| ids.contains(&j.id)).collect();
        let archive = (!self.inner.delete_published).then(|| self.archive_dir());
        if let Some(archive) = &archive {
            durable::create_dir_durable(archive)?;
        }
        // Every file of the job, not just the ones it posted: a file left behind without its
        // record would be adopted on open and posted again.
        let mut photos = Vec::new();
        for job in &pruned {
            photos.extend(self.inner.blobs.files_of(job.id)?);
        }
        self.inner.blobs.take_out(&photos, archive.as_deref())?;
        failpoint::hit("prune.photos-moved");
        let sidecars: Vec<String> = pruned.iter().map(|j| BlobDir::sidecar_name(j.id)).collect();
        self.inner.blobs.take_out(&sidecars, archive.as_deref())?;
        failpoint::hit("prune.sidecars-moved");
        for job in &pruned {
            self.inner.jobs.remove(job.id)?;
            tracing::info!(
                job = %job.id,
                archived = archive.is_some(),
                "pruned a job published more than store.keep_done_days ago"
            );
        }
        Ok(ids)
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Where the `serve` media host publishes staged photos.
    pub fn public_dir(&self) -> PathBuf {
        self.inner.root.join("public")
    }

    pub fn control_socket(&self) -> PathBuf {
        control_socket_path(&self.inner.root)
    }

    pub fn photo_path(&self, job: &Job) -> PathBuf {
        self.inner.blobs.path(&job.blob)
    }

    /// Where one of a job's files is (a carousel has several).
    pub fn blob_path(&self, blob: &crate::job::BlobInfo) -> PathBuf {
        self.inner.blobs.path(blob)
    }

    /// Refuses a new photo of `incoming` bytes if the disk or the configured cap is too full.
    pub fn check_space(&self, incoming: u64) -> Result<(), StoreError> {
        const MIB: u64 = 1024 * 1024;
        let free = durable::free_bytes(self.inner.blobs.dir())?;
        if free < self.inner.min_free_mib * MIB + incoming {
            return Err(StoreError::DiskFull {
                dir: self.inner.root.clone(),
                free_mib: free / MIB,
                min_free_mib: self.inner.min_free_mib,
            });
        }
        if self.inner.max_blob_mib > 0 {
            let used = self.inner.blobs.used_bytes()?;
            if used + incoming > self.inner.max_blob_mib * MIB {
                return Err(StoreError::CapReached {
                    used_mib: used / MIB,
                    cap_mib: self.inner.max_blob_mib,
                });
            }
        }
        Ok(())
    }

    /// Saves a new photo: the JPEG and its sidecar durable first, then the record. Only when
    /// this returns may anyone be told "Saved".
    pub fn save_photo(
        &self,
        jpeg: &[u8],
        width: u32,
        height: u32,
        caption: String,
    ) -> Result<Job, StoreError> {
        self.save_job(NewJob {
            files: vec![NewFile::jpeg(jpeg, width, height)],
            caption,
            kind: PostKind::Photo,
            first_comment: None,
            state: JobState::Captured,
        })
    }

    /// Saves a new job of any kind: every file and the sidecar durable first, then the record.
    /// A carousel's items become [`crate::job::CarouselItem`]s in file order.
    pub fn save_job(&self, new: NewJob<'_>) -> Result<Job, StoreError> {
        let incoming: u64 = new.files.iter().map(|f| f.bytes.len() as u64).sum();
        self.check_space(incoming)?;
        let id = Uuid::now_v7();
        let blobs: Vec<_> = new
            .files
            .iter()
            .enumerate()
            .map(|(index, file)| {
                let name = BlobDir::item_file_name(id, index, file.ext);
                BlobDir::describe_bytes(name, file.bytes, file.width, file.height)
            })
            .collect();
        let first = blobs
            .first()
            .cloned()
            .ok_or_else(|| StoreError::BadRecord("a new job needs at least one file".into()))?;
        let kind = match new.kind {
            PostKind::Carousel { .. } => PostKind::Carousel {
                items: blobs.into_iter().map(CarouselItem::new).collect(),
            },
            other => other,
        };
        let job = Job {
            id,
            created_at_ms: self.now_ms(),
            blob: first,
            caption: new.caption,
            state: JobState::Captured,
            attempts: 0,
            restages: 0,
            last_error: None,
            kind,
            first_comment: new.first_comment.map(FirstComment::new),
        };
        let job = Job {
            state: new.state,
            ..job
        };
        // The sidecar first: a photo file is then never on disk without the words that go
        // with it (caption, first comment, carousel items), so a photo adopted after a crash
        // mid-save is posted as it was meant to be. A sidecar alone is ignored on open.
        self.inner.blobs.write_sidecar(&job)?;
        for (blob, file) in job.blobs().into_iter().zip(&new.files) {
            self.inner.blobs.write_bytes(&blob.file, file.bytes)?;
        }
        failpoint::hit("capture.blob-written");
        self.inner.jobs.put(&job)?;
        failpoint::hit("capture.record-written");
        Ok(job)
    }

    /// Queues an operator's video as a Reel: the file is copied in durably (streamed, not read
    /// into memory), then the sidecar and the record. Check the file first ([`crate::video`]).
    pub fn save_video(
        &self,
        src: &Path,
        caption: String,
        first_comment: Option<String>,
    ) -> Result<Job, StoreError> {
        self.check_space(std::fs::metadata(src)?.len())?;
        let id = Uuid::now_v7();
        let blob = self
            .inner
            .blobs
            .copy_in(&BlobDir::item_file_name(id, 0, "mp4"), src)?;
        let job = Job {
            id,
            created_at_ms: self.now_ms(),
            blob,
            caption,
            state: JobState::Captured,
            attempts: 0,
            restages: 0,
            last_error: None,
            kind: PostKind::Reel,
            first_comment: first_comment.map(FirstComment::new),
        };
        self.inner.blobs.write_sidecar(&job)?;
        self.inner.jobs.put(&job)?;
        Ok(job)
    }

    /// Persists a job's new state. At the two transitions that decide duplicates the sidecar
    /// is rewritten too, so a rebuilt queue cannot forget a possible publish.
    pub fn update(&self, job: &Job) -> Result<(), StoreError> {
        if matches!(
            job.state,
            JobState::PublishIntent { .. } | JobState::Published { .. }
        ) {
            self.inner.blobs.write_sidecar(job)?;
        }
        self.inner.jobs.put(job)
    }

    /// Persists a review decision (approved, rejected, private): the sidecar first, then the
    /// record, so a queue rebuilt from the photo files keeps the decision too.
    pub fn record_review(&self, job: &Job) -> Result<(), StoreError> {
        self.inner.blobs.write_sidecar(job)?;
        failpoint::hit("review.sidecar-written");
        self.inner.jobs.put(job)
    }

    pub fn jobs(&self) -> Result<Vec<Job>, StoreError> {
        self.inner.jobs.list()
    }

    pub fn get(&self, id: Uuid) -> Result<Job, StoreError> {
        self.inner.jobs.get(id)?.ok_or(StoreError::NotFound(id))
    }

    /// Deletes a published job's files; the record stays for history.
    pub fn remove_photo(&self, job: &Job) -> Result<(), StoreError> {
        for blob in job.blobs() {
            self.inner.blobs.remove_photo(blob)?;
        }
        Ok(())
    }

    /// `queue drop`: forget a job and its files. A person asked for it.
    pub fn drop_job(&self, id: Uuid) -> Result<Job, StoreError> {
        let job = self.get(id)?;
        self.inner.jobs.remove(id)?;
        self.inner.blobs.remove_all(id)?;
        Ok(job)
    }

    /// `queue retry`: a failed job starts again from its saved photo.
    pub fn retry(&self, id: Uuid) -> Result<bool, StoreError> {
        let mut job = self.get(id)?;
        if job.state.is_published() {
            return Err(StoreError::AlreadyPublished(id));
        }
        let retried = job.retry();
        if retried {
            self.inner.jobs.put(&job)?;
        }
        Ok(retried)
    }

    /// Runs blocking store work off the async workers.
    pub async fn blocking<T, F>(&self, f: F) -> T
    where
        F: FnOnce(&Store) -> T + Send + 'static,
        T: Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .expect("store work does not panic")
    }
}

pub fn control_socket_path(store_dir: &Path) -> PathBuf {
    store_dir.join("control.sock")
}

/// Renames a damaged queue directory with a timestamp; it is kept for a person to look at.
fn move_aside(queue_dir: &Path) -> Result<PathBuf, StoreError> {
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let aside = queue_dir.with_file_name(format!("queue.damaged-{stamp}"));
    std::fs::rename(queue_dir, &aside).map_err(StoreError::at(queue_dir))?;
    if let Some(parent) = queue_dir.parent() {
        durable::sync_dir(parent)?;
    }
    Ok(aside)
}

#[cfg(test)]
mod tests;
