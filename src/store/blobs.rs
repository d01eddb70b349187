//! Photo files: `<id>.jpg`, and beside each a sidecar `<id>.json` holding the job as it was at
//! the transitions that decide duplicates. If the queue is ever rebuilt, the sidecars give
//! every job back its real state.

use super::{durable, StoreError};
use crate::job::{BlobInfo, Job};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct BlobDir {
    dir: PathBuf,
}

/// A photo file found on disk, with its sidecar if it has one.
pub struct FoundBlob {
    pub id: Uuid,
    pub sidecar: Option<Job>,
}

impl BlobDir {
    /// Opens (creating it if needed) and removes unfinished temp files: call only while
    /// holding the store lock, since another process may be writing them.
    pub fn open(dir: PathBuf) -> Result<Self, StoreError> {
        durable::create_dir_durable(&dir)?;
        let blobs = Self { dir };
        blobs.remove_temp_files()?;
        Ok(blobs)
    }

    /// For a process that only reads: no directory is created, no file removed.
    pub fn existing(dir: PathBuf) -> Result<Self, StoreError> {
        if !dir.is_dir() {
            return Err(StoreError::NoStore(dir));
        }
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn file_name(id: Uuid) -> String {
        format!("{id}.jpg")
    }

    pub fn path(&self, blob: &BlobInfo) -> PathBuf {
        self.dir.join(&blob.file)
    }

    /// File `index` of job `id`: `<id>.jpg` for the first (so a photo job looks as it always
    /// did), `<id>.<n>.jpg` for further carousel items (found again through the sidecar).
    pub fn item_file_name(id: Uuid, index: usize, ext: &str) -> String {
        if index == 0 {
            format!("{id}.{ext}")
        } else {
            format!("{id}.{}.{ext}", index + 1)
        }
    }

    /// Writes the JPEG durably and describes it.
    pub fn write(
        &self,
        id: Uuid,
        jpeg: &[u8],
        width: u32,
        height: u32,
    ) -> Result<BlobInfo, StoreError> {
        self.write_named(&Self::file_name(id), jpeg, width, height)
    }

    /// Writes one file of a job durably under `file` and describes it.
    pub fn write_named(
        &self,
        file: &str,
        jpeg: &[u8],
        width: u32,
        height: u32,
    ) -> Result<BlobInfo, StoreError> {
        let file = file.to_string();
        durable::write_atomic(&self.dir, &file, jpeg)?;
        Ok(BlobInfo {
            file,
            sha256: hex::encode(Sha256::digest(jpeg)),
            size: jpeg.len() as u64,
            width,
            height,
        })
    }

    /// Describes bytes that are to be written under `file`.
    pub fn describe_bytes(file: String, bytes: &[u8], width: u32, height: u32) -> BlobInfo {
        BlobInfo {
            file,
            sha256: hex::encode(Sha256::digest(bytes)),
            size: bytes.len() as u64,
            width,
            height,
        }
    }

    /// Writes bytes durably under `file`.
    pub fn write_bytes(&self, file: &str, bytes: &[u8]) -> Result<(), StoreError> {
        Ok(durable::write_atomic(&self.dir, file, bytes)?)
    }

    /// Copies a file (a Reel's video) in durably under `file`, hashing it on the way.
    pub fn copy_in(&self, file: &str, src: &Path) -> Result<BlobInfo, StoreError> {
        struct Hashing<R> {
            inner: R,
            hasher: Sha256,
        }
        impl<R: std::io::Read> std::io::Read for Hashing<R> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.inner.read(buf)?;
                self.hasher.update(&buf[..n]);
                Ok(n)
            }
        }
        let mut from = Hashing {
            inner: fs::File::open(src)?,
            hasher: Sha256::new(),
        };
        let size = durable::copy_atomic(&self.dir, file, &mut from)?;
        Ok(BlobInfo {
            file: file.to_string(),
            sha256: hex::encode(from.hasher.finalize()),
            size,
            width: 0,
            height: 0,
        })
    }

    /// Gives an existing photo file a second name (a hard link: no copy, no second write of
    /// the bytes), durably. Used when waiting photos are combined into a carousel.
    pub fn link(&self, blob: &BlobInfo, file: &str) -> Result<BlobInfo, StoreError> {
        let target = self.dir.join(file);
        match fs::hard_link(self.path(blob), &target) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
        durable::sync_dir(&self.dir)?;
        Ok(BlobInfo {
            file: file.to_string(),
            ..blob.clone()
        })
    }

    /// `<id>.json`: the sidecar's file name.
    pub fn sidecar_name(id: Uuid) -> String {
        format!("{id}.json")
    }

    /// Records the job's current state beside its photo, atomically and durably.
    pub fn write_sidecar(&self, job: &Job) -> Result<(), StoreError> {
        let json = serde_json::to_vec_pretty(job).expect("jobs serialize");
        durable::write_atomic(&self.dir, &Self::sidecar_name(job.id), &json)?;
        Ok(())
    }

    pub fn exists(&self, blob: &BlobInfo) -> bool {
        self.path(blob).is_file()
    }

    /// Deletes a published photo's file (its record and sidecar stay).
    pub fn remove_photo(&self, blob: &BlobInfo) -> Result<(), StoreError> {
        match fs::remove_file(self.path(blob)) {
            Ok(()) => Ok(durable::sync_dir(&self.dir)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Takes files out of the photo folder durably: renamed into `archive` (fsync'd before
    /// this folder, so a power cut leaves a file under both names rather than none), or
    /// deleted when `archive` is `None`. Files already gone are skipped, so it can be repeated.
    pub fn take_out(&self, files: &[String], archive: Option<&Path>) -> Result<(), StoreError> {
        for file in files {
            let from = self.dir.join(file);
            let result = match archive {
                Some(archive) => fs::rename(&from, archive.join(file)),
                None => fs::remove_file(&from),
            };
            match result {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(archive) = archive {
            durable::sync_dir(archive)?;
        }
        Ok(durable::sync_dir(&self.dir)?)
    }

    /// Every file of job `id` but its sidecar: the files it posts, and any kept beside them
    /// (a photo turned into a Story keeps the photo as taken). Whatever leaves `photos/` for
    /// good must take all of them, or opening the store would adopt the rest as a new photo.
    pub fn files_of(&self, id: Uuid) -> Result<Vec<String>, StoreError> {
        let prefix = format!("{id}.");
        let sidecar = Self::sidecar_name(id);
        let mut files = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) && name != sidecar && !name.ends_with(".tmp") {
                files.push(name);
            }
        }
        files.sort();
        Ok(files)
    }

    /// Removes a dropped job's files (every carousel item, a Reel's video) and sidecar.
    pub fn remove_all(&self, id: Uuid) -> Result<(), StoreError> {
        let prefix = format!("{id}.");
        for entry in fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            if name.to_string_lossy().starts_with(&prefix) {
                let _ = fs::remove_file(self.dir.join(name));
            }
        }
        Ok(durable::sync_dir(&self.dir)?)
    }

    /// Bytes used by photo files, for the optional size cap.
    pub fn used_bytes(&self) -> Result<u64, StoreError> {
        let mut total = 0;
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            total += entry.metadata()?.len();
        }
        Ok(total)
    }

    /// Every photo file on disk, with its sidecar when readable.
    pub fn scan(&self) -> Result<Vec<FoundBlob>, StoreError> {
        let mut found = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            let Some(stem) = name
                .strip_suffix(".jpg")
                .or_else(|| name.strip_suffix(".mp4"))
            else {
                continue;
            };
            // `<id>.<n>.jpg`: a further carousel item, found through its job's sidecar.
            if stem
                .split_once('.')
                .is_some_and(|(id, n)| Uuid::parse_str(id).is_ok() && n.parse::<u32>().is_ok())
            {
                continue;
            }
            let Ok(id) = Uuid::parse_str(stem) else {
                tracing::warn!(file = %name, "ignoring a file in the photo folder that postbooth did not write");
                continue;
            };
            let sidecar = fs::read(self.dir.join(format!("{id}.json")))
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Job>(&bytes).ok())
                .filter(|job| job.id == id);
            if sidecar.is_none() && name.ends_with(".mp4") {
                // Written, but its job never was (a crash before the sidecar): nobody was told
                // it was queued, and a video cannot be described without its record.
                tracing::warn!(file = %name, "ignoring a video with no job record; queue it again with `postbooth post --video`");
                continue;
            }
            found.push(FoundBlob { id, sidecar });
        }
        found.sort_by_key(|b| b.id);
        Ok(found)
    }

    /// Describes a photo file found on disk without a usable sidecar.
    pub fn describe(&self, id: Uuid) -> Result<BlobInfo, StoreError> {
        let file = Self::file_name(id);
        let bytes = fs::read(self.dir.join(&file))?;
        let (width, height) = crate::pipeline::compliance::check_jpeg(&bytes)
            .map(|c| (c.width, c.height))
            .unwrap_or((0, 0));
        Ok(BlobInfo {
            file,
            sha256: hex::encode(Sha256::digest(&bytes)),
            size: bytes.len() as u64,
            width,
            height,
        })
    }

    /// Temp files were never acknowledged to anyone: remove them.
    fn remove_temp_files(&self) -> Result<(), StoreError> {
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "tmp") {
                tracing::info!(file = %path.display(), "removing an unfinished temp file");
                fs::remove_file(&path).map_err(StoreError::at(&path))?;
            }
        }
        Ok(())
    }
}
