//! Writing files so that a power cut cannot take them back: temp name, fsync, rename, fsync
//! the directory. The only place in postbooth that decides what "durable" means for a file.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

/// Writes `bytes` to `dir/name` atomically and durably: a reader (or a reboot) sees either the
/// old file or the whole new one, never a torn one.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    copy_atomic(dir, name, &mut &bytes[..]).map(|_| ())
}

/// Copies everything `from` yields to `dir/name` atomically and durably (a video need not fit
/// in memory; [`write_atomic`] passes its bytes through here). Returns the bytes copied.
pub fn copy_atomic(dir: &Path, name: &str, from: &mut impl io::Read) -> io::Result<u64> {
    let tmp = dir.join(format!("{name}.tmp"));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        let n = io::copy(from, &mut file)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, dir.join(name))?;
        sync_dir(dir)?;
        Ok(n)
    })();
    if result.is_err() {
        // A half-written temp file is never acknowledged; leave nothing behind for recovery to adopt.
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Makes a directory's entries (creates, renames, unlinks) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` (and parents) and makes the new entries durable up to the existing parent.
pub fn create_dir_durable(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir)?;
    let mut cur = Some(dir);
    // fsync the new directory and each parent, so the new names survive a power cut.
    while let Some(d) = cur {
        sync_dir(d)?;
        cur = d.parent().filter(|p| !p.as_os_str().is_empty());
        if cur.is_some_and(|p| p == Path::new("/")) {
            break;
        }
    }
    Ok(())
}

/// Free bytes for an unprivileged writer on the filesystem holding `path`.
pub fn free_bytes(path: &Path) -> io::Result<u64> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path has a NUL byte"))?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is a valid NUL-terminated string and stat a valid out-pointer.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(stat.f_bavail as u64 * stat.f_frsize as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(dir.path(), "a.json", b"one").unwrap();
        write_atomic(dir.path(), "a.json", b"two").unwrap();
        assert_eq!(fs::read(dir.path().join("a.json")).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.json")]);
    }

    #[test]
    fn failed_write_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        assert!(write_atomic(&missing, "a", b"x").is_err());
        assert!(!missing.exists());
    }

    #[test]
    fn free_bytes_reads_the_filesystem() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_bytes(dir.path()).unwrap() > 0);
    }
}
