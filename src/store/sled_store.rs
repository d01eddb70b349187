//! The job queue in sled 0.34, with the durability sled does not give by itself
//! (DESIGN.md, "sled 0.34.7 does not keep its own promise"): after every flush we fsync the
//! `db` file ourselves, new databases get their files and directories fsync'd, and a
//! half-written snapshot left by a crash is removed before opening.

use super::{durable, JobStore, StoreError};
use crate::job::Job;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use uuid::Uuid;

pub struct SledJobStore {
    db: sled::Db,
    jobs: sled::Tree,
    /// sled's main file; `Db::flush` only `sync_file_range`s it, so we `sync_all` it too.
    db_file: Mutex<File>,
}

impl SledJobStore {
    /// Opens (or creates) the queue in `dir`. An error here means sled will not open; the
    /// caller decides whether to move the directory aside and rebuild.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let fresh = !dir.join("db").exists();
        remove_half_written_snapshots(dir)?;
        let db = sled::Config::new()
            .path(dir)
            .flush_every_ms(Some(500))
            .open()
            .map_err(|e| open_error(dir, e))?;
        let jobs = db.open_tree("jobs").map_err(|e| open_error(dir, e))?;
        if fresh {
            db.flush().map_err(sled_err)?;
            sync_new_database(dir)?;
        }
        let db_file = File::open(dir.join("db"))?;
        Ok(Self {
            db,
            jobs,
            db_file: Mutex::new(db_file),
        })
    }

    /// Makes everything written so far durable.
    fn flush_durably(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(sled_err)?;
        self.db_file
            .lock()
            .expect("db file lock is never poisoned: sync_all does not panic")
            .sync_all()?;
        Ok(())
    }
}

impl JobStore for SledJobStore {
    fn put(&self, job: &Job) -> Result<(), StoreError> {
        let value = serde_json::to_vec(job).expect("jobs serialize");
        self.jobs
            .insert(job.id.as_bytes(), value)
            .map_err(sled_err)?;
        self.flush_durably()
    }

    fn get(&self, id: Uuid) -> Result<Option<Job>, StoreError> {
        match self.jobs.get(id.as_bytes()).map_err(sled_err)? {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }

    fn list(&self) -> Result<Vec<Job>, StoreError> {
        // Keys are UUIDv7 bytes: key order is creation order, oldest first.
        self.jobs
            .iter()
            .values()
            .map(|v| decode(&v.map_err(sled_err)?))
            .collect()
    }

    fn remove(&self, id: Uuid) -> Result<(), StoreError> {
        self.jobs.remove(id.as_bytes()).map_err(sled_err)?;
        self.flush_durably()
    }
}

/// Sorts sled's open errors: another process holding the lock is not damage (moving the
/// directory aside would be a disaster), nor is a permission problem; the rest is.
fn open_error(dir: &Path, e: sled::Error) -> StoreError {
    match e {
        sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
            StoreError::InUse(dir.to_path_buf())
        }
        sled::Error::Io(io) if io.kind() != std::io::ErrorKind::InvalidData => StoreError::Io(io),
        other => StoreError::Corrupt {
            dir: dir.to_path_buf(),
            detail: other.to_string(),
        },
    }
}

fn decode(bytes: &[u8]) -> Result<Job, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::BadRecord(e.to_string()))
}

fn sled_err(e: sled::Error) -> StoreError {
    match e {
        sled::Error::Io(io) => StoreError::Io(io),
        other => StoreError::Sled(other.to_string()),
    }
}

/// sled picks the newest `snap.*` on open, even a `snap.*.generating` a crash left half
/// written, and then refuses to open (sled #1527, #1533). Those files are temporary by
/// definition; without them sled opens with the data intact.
fn remove_half_written_snapshots(dir: &Path) -> Result<(), StoreError> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            tracing::warn!(file = %entry.path().display(), "removing a half-written sled snapshot left by a crash");
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// sled never fsyncs a new database's `conf`, its `blobs/` or the directories: do it once.
fn sync_new_database(dir: &Path) -> Result<(), StoreError> {
    for file in ["conf", "db"] {
        let path: PathBuf = dir.join(file);
        if path.exists() {
            File::open(&path)?.sync_all()?;
        }
    }
    if dir.join("blobs").is_dir() {
        durable::sync_dir(&dir.join("blobs"))?;
    }
    durable::sync_dir(dir)?;
    if let Some(parent) = dir.parent() {
        durable::sync_dir(parent)?;
    }
    Ok(())
}
