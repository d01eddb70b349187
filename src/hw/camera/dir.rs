//! The folder camera: takes the oldest image file from a folder (for tethered cameras, phones,
//! or feeding a booth by hand), and moves it aside only once the photo is durably saved.

use super::preview::{Pull, Pulled};
use super::{Camera, CaptureError, Context, Frame};
use crate::config::CameraConfig;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Larger files are not photos (or would need more memory than a Pi has to decode).
pub const MAX_FILE_BYTES: u64 = 100 * 1024 * 1024;

/// The folder `camera.dir`; its preview is the photo the next press would take.
pub fn open(cfg: &CameraConfig, ctx: Context) -> Result<Box<dyn Camera>, CaptureError> {
    let camera = DirCamera::new(&cfg.dir);
    ctx.preview.set_pull(camera.preview_pull());
    Ok(Box::new(camera))
}

/// Takes photos from a folder: the oldest `*.jpg`/`*.jpeg`/`*.png` (by modification time, then
/// name). Files starting with "." are skipped, so copy files in under a dot-name and rename
/// them when complete (as rsync does); `taken/` and `rejected/` are where used files go.
pub struct DirCamera {
    dir: PathBuf,
    /// The file handed out by the last capture, not yet committed or rejected.
    pending: Option<PathBuf>,
}

impl DirCamera {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            pending: None,
        }
    }

    /// The waiting image files, oldest first.
    fn waiting(&self) -> Result<Vec<PathBuf>, CaptureError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CaptureError::Missing {
                    what: format!("the camera folder {}", self.dir.display()),
                    fix: "create it or set camera.dir".into(),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
                return Err(CaptureError::Missing {
                    what: format!("the camera folder {} (it is a file)", self.dir.display()),
                    fix: "set camera.dir to a folder".into(),
                })
            }
            Err(source) => return Err(self.io("cannot read folder", &self.dir, source)),
        };
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.io("cannot read folder", &self.dir, e))?;
            let path = entry.path();
            if !is_image_name(&path) {
                continue;
            }
            // fs::metadata follows symlinks; a dangling link or a vanished file is skipped.
            let Ok(meta) = fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            found.push((mtime, entry.file_name(), path));
        }
        found.sort();
        Ok(found.into_iter().map(|(_, _, p)| p).collect())
    }

    /// Moves the pending file into `<dir>/<sub>/`, never overwriting an earlier file there.
    fn move_pending(&mut self, sub: &str) -> Result<(), CaptureError> {
        let Some(src) = self.pending.clone() else {
            return Ok(());
        };
        let dest_dir = self.dir.join(sub);
        fs::create_dir_all(&dest_dir).map_err(|e| self.io("cannot create", &dest_dir, e))?;
        let name = src.file_name().unwrap_or_default().to_os_string();
        let mut dest = dest_dir.join(&name);
        let mut n = 1;
        while dest.exists() {
            // The same name dropped twice: keep both.
            let stem = Path::new(&name)
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy();
            let ext = Path::new(&name)
                .extension()
                .unwrap_or_default()
                .to_string_lossy();
            dest = dest_dir.join(format!("{stem}-{n}.{ext}"));
            n += 1;
        }
        match fs::rename(&src, &dest) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !src.exists() => {
                // Someone removed it already; it cannot be taken twice, which is all we need.
                tracing::warn!(file = %src.display(), "photo file vanished before it was moved to {sub}/");
                self.pending = None;
                return Ok(());
            }
            Err(e) => return Err(self.io("cannot move", &src, e)),
        }
        self.pending = None;
        // Make the move durable: a move lost in a power cut would offer the same file again,
        // i.e. post it twice. Both directory entries changed.
        for d in [&dest_dir, &self.dir] {
            fs::File::open(d)
                .and_then(|f| f.sync_all())
                .map_err(|e| self.io("cannot sync folder", d, e))?;
        }
        Ok(())
    }

    fn io(&self, action: &'static str, path: &Path, source: std::io::Error) -> CaptureError {
        CaptureError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

fn is_image_name(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    if name.starts_with('.') {
        return false;
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    matches!(ext.as_str(), "jpg" | "jpeg" | "png")
}

impl DirCamera {
    /// Preview frames: the photo the next press would take, read again only when it changes;
    /// an empty folder shows nothing.
    fn preview_pull(&self) -> Pull {
        let folder = DirCamera::new(&self.dir);
        let mut shown: Option<(PathBuf, SystemTime, u64)> = None;
        Box::new(move || {
            let Some(path) = folder.waiting().ok().and_then(|w| w.into_iter().next()) else {
                shown = None;
                return Pulled::Nothing;
            };
            let Ok(meta) = fs::metadata(&path) else {
                return Pulled::Same;
            };
            let key = (
                path.clone(),
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                meta.len(),
            );
            if shown.as_ref() == Some(&key) || meta.len() > MAX_FILE_BYTES {
                return Pulled::Same;
            }
            let Ok(bytes) = fs::read(&path) else {
                return Pulled::Same;
            };
            shown = Some(key);
            Pulled::Frame(Frame::Encoded(bytes))
        })
    }
}

impl Camera for DirCamera {
    fn capture(&mut self) -> Result<Frame, CaptureError> {
        // Always rescan: if the last frame was neither committed nor rejected (e.g. the save
        // failed), the same file is still the oldest and is simply offered again.
        let Some(path) = self.waiting()?.into_iter().next() else {
            return Err(CaptureError::NothingWaiting {
                dir: self.dir.clone(),
            });
        };
        let len = fs::metadata(&path)
            .map_err(|e| self.io("cannot read", &path, e))?
            .len();
        if len > MAX_FILE_BYTES {
            self.pending = Some(path.clone());
            return Err(CaptureError::TooLarge { path, bytes: len });
        }
        let bytes = fs::read(&path).map_err(|e| self.io("cannot read", &path, e))?;
        self.pending = Some(path);
        Ok(Frame::Encoded(bytes))
    }

    fn commit(&mut self) -> Result<(), CaptureError> {
        self.move_pending("taken")
    }

    fn reject(&mut self) -> Result<(), CaptureError> {
        self.move_pending("rejected")
    }

    fn describe(&self) -> String {
        match self.waiting() {
            Ok(files) => format!("folder {} ({} waiting)", self.dir.display(), files.len()),
            Err(e) => format!("folder {} ({e})", self.dir.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn bytes(frame: Frame) -> Vec<u8> {
        match frame {
            Frame::Encoded(b) => b,
            other => panic!("expected bytes, got {other:?}"),
        }
    }

    fn write_aged(path: &Path, contents: &[u8], age_secs: u64) {
        fs::write(path, contents).unwrap();
        // A fixed base, so files given the same age get exactly the same mtime.
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 - age_secs);
        fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }

    #[test]
    fn dir_camera_takes_the_oldest_and_commit_moves_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write_aged(&dir.join("new.jpg"), b"new", 10);
        write_aged(&dir.join("old.PNG"), b"old", 100);
        write_aged(&dir.join("b.jpeg"), b"b", 50);
        write_aged(&dir.join("a.jpeg"), b"a", 50); // same age as b: name decides
        write_aged(&dir.join("oldest.txt"), b"not an image", 1000);
        write_aged(&dir.join(".partial.jpg"), b"still copying", 1000);
        fs::create_dir(dir.join("taken")).unwrap();
        write_aged(&dir.join("taken/ancient.jpg"), b"done", 5000);

        let cfg = super::super::test_config(crate::config::CameraKind::Dir, dir);
        let mut cam = open(&cfg, Context::quiet()).unwrap();
        assert_eq!(
            cam.describe(),
            format!("folder {} (4 waiting)", dir.display())
        );
        assert_eq!(bytes(cam.capture().unwrap()), b"old");
        // Not committed: a second capture offers the same file again.
        assert_eq!(bytes(cam.capture().unwrap()), b"old");
        assert!(dir.join("old.PNG").exists(), "not moved before commit");
        cam.commit().unwrap();
        assert!(!dir.join("old.PNG").exists());
        assert_eq!(fs::read(dir.join("taken/old.PNG")).unwrap(), b"old");
        cam.commit().unwrap(); // nothing pending: no-op

        for expected in [&b"a"[..], b"b", b"new"] {
            assert_eq!(bytes(cam.capture().unwrap()), expected);
            cam.commit().unwrap();
        }
        assert!(matches!(
            cam.capture(),
            Err(CaptureError::NothingWaiting { .. })
        ));
        assert_eq!(
            cam.describe(),
            format!("folder {} (0 waiting)", dir.display())
        );
        assert!(dir.join("oldest.txt").exists());
    }

    #[test]
    fn dir_camera_keeps_both_when_a_name_repeats_and_rejects_bad_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut cam = DirCamera::new(dir);
        for content in [&b"one"[..], b"two"] {
            fs::write(dir.join("photo.jpg"), content).unwrap();
            cam.capture().unwrap();
            cam.commit().unwrap();
        }
        assert_eq!(fs::read(dir.join("taken/photo.jpg")).unwrap(), b"one");
        assert_eq!(fs::read(dir.join("taken/photo-1.jpg")).unwrap(), b"two");

        fs::write(dir.join("broken.jpg"), b"garbage").unwrap();
        cam.capture().unwrap();
        cam.reject().unwrap();
        assert!(dir.join("rejected/broken.jpg").exists());
        assert!(matches!(
            cam.capture(),
            Err(CaptureError::NothingWaiting { .. })
        ));
    }

    #[test]
    fn dir_camera_errors_name_the_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let mut empty = DirCamera::new(tmp.path());
        let err = empty.capture().unwrap_err();
        assert!(matches!(err, CaptureError::NothingWaiting { .. }));
        assert!(err.to_string().contains(&tmp.path().display().to_string()));

        let gone = tmp.path().join("nope");
        let mut missing = DirCamera::new(&gone);
        let err = missing.capture().unwrap_err();
        assert!(matches!(err, CaptureError::Missing { .. }));
        let msg = err.to_string();
        assert!(
            msg.contains("nope") && msg.contains("create it or set camera.dir"),
            "{msg}"
        );
        assert!(missing.describe().contains("missing"));

        // A vanished file at commit time is not an error: it can no longer be taken twice.
        fs::write(tmp.path().join("x.jpg"), b"x").unwrap();
        empty.capture().unwrap();
        fs::remove_file(tmp.path().join("x.jpg")).unwrap();
        empty.commit().unwrap();
    }
}
