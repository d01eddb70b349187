//! A power-cut filesystem for tests (LazyFS-style, plus directories): a FUSE mount whose
//! writes, truncates and directory changes are pending until fsync'd (see [`model`] for the
//! exact rules). The test that mounted it holds a [`PowerCut`] handle, the control channel:
//! cut the power now, at the n-th fsync, or on the n-th operation on a path pattern; inject
//! errors (EIO on write or fsync); then [`PowerCut::remount`] starts again from the durable
//! image, which is also written to the backing directory.
//!
//! The FUSE server runs on a thread of the test process (fuser, pure-Rust mount, no libfuse:
//! needs root and /dev/fuse). The code under test runs in a child process and must be killed
//! before the remount, as a power cut would stop it.

#![allow(dead_code)]

mod booth;
pub mod fs;
pub mod model;

pub use booth::PowerCutBooth;
pub use fs::{FaultRule, Op};
pub use model::{CutStyle, Image};

use fs::{Control, PowerCutFs, State};
use model::Model;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `Err(reason)` when this machine cannot mount FUSE filesystems (tests then skip, saying why).
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root: mounting the power-cut FUSE filesystem needs root".into());
    }
    if !Path::new("/dev/fuse").exists() {
        return Some("no /dev/fuse: the power-cut filesystem needs the FUSE kernel module".into());
    }
    None
}

/// Prints why a test is skipped and returns true when FUSE cannot be used here.
pub fn skip(test: &str) -> bool {
    match unavailable() {
        Some(reason) => {
            println!("SKIPPED {test}: {reason}");
            true
        }
        None => false,
    }
}

pub struct PowerCut {
    state: Arc<Mutex<State>>,
    session: Option<fuser::BackgroundSession>,
    pub mountpoint: PathBuf,
    pub backing: PathBuf,
    /// How many times the power was cut and the image remounted.
    pub cuts: u64,
}

impl PowerCut {
    /// Mounts the tree in `backing` (empty if missing) at `mountpoint` (created if missing).
    pub fn mount(backing: &Path, mountpoint: &Path) -> io::Result<PowerCut> {
        let image = if backing.is_dir() {
            load_image(backing)?
        } else {
            Image::empty_dir()
        };
        std::fs::create_dir_all(mountpoint)?;
        let mut pc = PowerCut {
            state: Arc::new(Mutex::new(State {
                model: Model::from_image(&image),
                ctl: Control::default(),
            })),
            session: None,
            mountpoint: mountpoint.to_path_buf(),
            backing: backing.to_path_buf(),
            cuts: 0,
        };
        pc.start()?;
        Ok(pc)
    }

    fn start(&mut self) -> io::Result<()> {
        let mut config = fuser::Config::default();
        config.mount_options = vec![
            fuser::MountOption::FSName("powercut".into()),
            fuser::MountOption::Subtype("powercut".into()),
            fuser::MountOption::DefaultPermissions,
        ];
        config.n_threads = Some(2);
        let fs = PowerCutFs {
            state: self.state.clone(),
        };
        self.session = Some(fuser::spawn_mount(fs, &self.mountpoint, &config)?);
        Ok(())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Cuts the power now: everything not durable is gone (or partly kept, per `style`).
    pub fn cut_now(&self, style: CutStyle) {
        let mut st = self.state();
        st.ctl.style = style;
        st.cut("by the test".into());
    }

    /// Arms a cut when the n-th fsync or fsyncdir (counted from the mount) arrives; that
    /// fsync fails and is not applied.
    pub fn cut_at_sync(&self, n: u64, style: CutStyle) {
        let mut st = self.state();
        st.ctl.style = style;
        st.ctl.cut_at_sync = Some(n);
    }

    /// Arms a cut when the n-th operation `op` (any mutating op if `None`) on a path
    /// matching `pattern` arrives.
    pub fn cut_on_op(&self, op: Option<Op>, pattern: &str, n: u64, style: CutStyle) {
        let mut st = self.state();
        st.ctl.style = style;
        st.ctl.cut_on_op = Some((op, pattern.to_string(), n.max(1)));
    }

    /// Adds an error rule (e.g. EIO on the 1st fsync of `*.jpg`); the power stays on.
    pub fn inject(&self, rule: FaultRule) {
        self.state().ctl.faults.push(rule);
    }

    pub fn clear_faults(&self) {
        self.state().ctl.faults.clear();
    }

    pub fn errors_injected(&self) -> u64 {
        self.state().ctl.errors_injected
    }

    pub fn is_cut(&self) -> bool {
        self.state().ctl.cut_image.is_some()
    }

    pub fn cut_reason(&self) -> Option<String> {
        self.state().ctl.cut_reason.clone()
    }

    /// fsyncs and fsyncdirs answered since the mount.
    pub fn syncs(&self) -> u64 {
        self.state().ctl.syncs
    }

    pub fn sync_log(&self) -> Vec<(String, Op)> {
        self.state().ctl.sync_log.clone()
    }

    /// Polls until the armed cut happened; false after `timeout`.
    pub fn wait_cut(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.is_cut() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.is_cut()
    }

    /// Cuts the power if it is still on, unmounts, writes the durable image to the backing
    /// directory and mounts it again with the power on. Whatever used the mount must be
    /// dead (killed) before this, as it would be after a real power cut.
    pub fn remount(&mut self) -> io::Result<Image> {
        let image = self.stop()?;
        save_image(&image, &self.backing)?;
        let loaded = load_image(&self.backing)?;
        *self.state() = State {
            model: Model::from_image(&loaded),
            ctl: Control::default(),
        };
        self.cuts += 1;
        self.start()?;
        Ok(image)
    }

    /// Unmounts after a (strict) cut if none happened yet; returns the durable image.
    pub fn stop(&mut self) -> io::Result<Image> {
        self.state().cut("unmount".into());
        let image = self
            .state()
            .ctl
            .cut_image
            .clone()
            .expect("cut() froze an image");
        if let Some(session) = self.session.take() {
            lazy_unmount(&self.mountpoint);
            // The mount is already gone; fuser's own unmount then finds nothing, as intended.
            let _ = session.umount_and_join();
        }
        Ok(image)
    }
}

impl Drop for PowerCut {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            lazy_unmount(&self.mountpoint);
            let _ = session.umount_and_join();
        }
    }
}

/// Detaches the mount even if a (killed) process still holds something open in it.
fn lazy_unmount(mountpoint: &Path) {
    let c = std::ffi::CString::new(mountpoint.as_os_str().as_bytes()).expect("no NUL in path");
    // SAFETY: a valid NUL-terminated path; umount2 has no other preconditions.
    unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
}

/// Reads a directory tree into an [`Image`] (regular files, directories, symlinks, sockets).
pub fn load_image(dir: &Path) -> io::Result<Image> {
    let meta = std::fs::symlink_metadata(dir)?;
    let perm = (meta.permissions().mode() & 0o7777) as u16;
    let ft = meta.file_type();
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        let mut entries = BTreeMap::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            entries.insert(entry.file_name(), load_image(&entry.path())?);
        }
        Ok(Image::Dir { perm, entries })
    } else if ft.is_symlink() {
        Ok(Image::Symlink(std::fs::read_link(dir)?.into_os_string()))
    } else if ft.is_socket() {
        Ok(Image::Socket)
    } else {
        Ok(Image::File {
            perm,
            data: std::fs::read(dir)?,
        })
    }
}

/// Replaces the contents of `dir` with `image` (a directory).
pub fn save_image(image: &Image, dir: &Path) -> io::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    write_node(image, dir)
}

fn write_node(image: &Image, path: &Path) -> io::Result<()> {
    match image {
        Image::Dir { perm, entries } => {
            std::fs::create_dir(path)?;
            for (name, child) in entries {
                write_node(child, &path.join(name))?;
            }
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(u32::from(*perm)))
        }
        Image::File { perm, data } => {
            std::fs::write(path, data)?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(u32::from(*perm)))
        }
        Image::Symlink(target) => std::os::unix::fs::symlink(target, path),
        Image::Socket => {
            let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("no NUL");
            // SAFETY: valid path; creates a socket inode like a stale bound socket.
            if unsafe { libc::mknod(c.as_ptr(), libc::S_IFSOCK | 0o600, 0) } != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }
    }
}

/// The names in an image directory, for assertions.
pub fn names(image: &Image, path: &str) -> Vec<OsString> {
    match image.get(path) {
        Some(Image::Dir { entries, .. }) => entries.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod selftest;
