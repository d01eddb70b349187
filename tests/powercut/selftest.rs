//! The power-cut filesystem tested on its own, through real syscalls on a real mount.

use super::{names, skip, CutStyle, FaultRule, Image, Op, PowerCut};
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

fn mounted(test: &str) -> Option<(tempfile::TempDir, PowerCut)> {
    if skip(test) {
        return None;
    }
    let dir = tempfile::Builder::new()
        .prefix("powercut-self-")
        .tempdir()
        .unwrap();
    let pc = PowerCut::mount(&dir.path().join("backing"), &dir.path().join("mnt")).unwrap();
    Some((dir, pc))
}

fn sync_dir(path: &Path) {
    File::open(path).unwrap().sync_all().unwrap();
}

fn file_data(image: &Image, path: &str) -> Option<Vec<u8>> {
    match image.get(path)? {
        Image::File { data, .. } => Some(data.clone()),
        _ => None,
    }
}

#[test]
fn write_without_fsync_is_gone_after_a_cut() {
    let Some((_dir, mut pc)) = mounted("write_without_fsync_is_gone_after_a_cut") else {
        return;
    };
    let m = pc.mountpoint.clone();
    fs::write(m.join("a"), b"not synced").unwrap();
    sync_dir(&m); // the name is durable, the data is not
    assert_eq!(fs::read(m.join("a")).unwrap(), b"not synced", "live view");
    let image = pc.remount().unwrap();
    assert_eq!(file_data(&image, "a").unwrap(), b"");
    assert_eq!(fs::read(m.join("a")).unwrap(), b"", "remounted view");
    assert_eq!(fs::read(pc.backing.join("a")).unwrap(), b"", "backing dir");
}

#[test]
fn write_with_fsync_is_kept_and_later_writes_are_not() {
    let Some((_dir, mut pc)) = mounted("write_with_fsync_is_kept_and_later_writes_are_not") else {
        return;
    };
    let m = pc.mountpoint.clone();
    let mut f = File::create(m.join("a")).unwrap();
    f.write_all(b"synced").unwrap();
    f.sync_all().unwrap();
    sync_dir(&m);
    f.write_all(b" and more").unwrap();
    f.set_len(3).unwrap();
    drop(f);
    pc.remount().unwrap();
    assert_eq!(fs::read(m.join("a")).unwrap(), b"synced");
}

#[test]
fn new_file_without_directory_fsync_is_gone() {
    let Some((_dir, mut pc)) = mounted("new_file_without_directory_fsync_is_gone") else {
        return;
    };
    let m = pc.mountpoint.clone();
    let mut f = File::create(m.join("a")).unwrap();
    f.write_all(b"data").unwrap();
    f.sync_all().unwrap(); // data durable, name not
    fs::create_dir(m.join("d")).unwrap();
    sync_dir(&m.join("d"));
    pc.remount().unwrap();
    assert!(!m.join("a").exists());
    assert!(!m.join("d").exists());
}

#[test]
fn rename_without_directory_fsync_keeps_the_old_name() {
    let Some((_dir, mut pc)) = mounted("rename_without_directory_fsync_keeps_the_old_name") else {
        return;
    };
    let m = pc.mountpoint.clone();
    let mut f = File::create(m.join("a.tmp")).unwrap();
    f.write_all(b"v1").unwrap();
    f.sync_all().unwrap();
    sync_dir(&m);
    fs::rename(m.join("a.tmp"), m.join("a")).unwrap();
    let image = pc.remount().unwrap();
    assert_eq!(names(&image, ""), vec![OsString::from("a.tmp")]);
    assert_eq!(fs::read(m.join("a.tmp")).unwrap(), b"v1");
    // With the directory fsync'd, the rename is kept.
    fs::rename(m.join("a.tmp"), m.join("a")).unwrap();
    sync_dir(&m);
    let image = pc.remount().unwrap();
    assert_eq!(names(&image, ""), vec![OsString::from("a")]);
}

#[test]
fn unlink_without_directory_fsync_comes_back() {
    let Some((_dir, mut pc)) = mounted("unlink_without_directory_fsync_comes_back") else {
        return;
    };
    let m = pc.mountpoint.clone();
    fs::create_dir(m.join("d")).unwrap();
    let mut f = File::create(m.join("d/a")).unwrap();
    f.write_all(b"x").unwrap();
    f.sync_all().unwrap();
    sync_dir(&m.join("d"));
    sync_dir(&m);
    fs::remove_file(m.join("d/a")).unwrap();
    pc.remount().unwrap();
    assert_eq!(fs::read(m.join("d/a")).unwrap(), b"x");
}

#[test]
fn cut_at_the_nth_fsync_fails_it_and_keeps_what_came_before() {
    let Some((_dir, mut pc)) = mounted("cut_at_the_nth_fsync_fails_it_and_keeps_what_came_before")
    else {
        return;
    };
    let m = pc.mountpoint.clone();
    pc.cut_at_sync(3, CutStyle::default());
    let mut f = File::create(m.join("a")).unwrap();
    f.write_all(b"one").unwrap();
    f.sync_all().unwrap(); // sync 1
    sync_dir(&m); // sync 2
    f.write_all(b"two").unwrap();
    let err = f.sync_all().unwrap_err(); // sync 3: the power goes off
    assert_eq!(err.raw_os_error(), Some(libc::EIO));
    assert!(pc.is_cut());
    assert!(
        fs::read(m.join("a")).is_err(),
        "everything fails after a cut"
    );
    drop(f);
    pc.remount().unwrap();
    assert_eq!(fs::read(m.join("a")).unwrap(), b"one");
}

#[test]
fn cut_on_the_nth_op_on_a_path_pattern() {
    let Some((_dir, mut pc)) = mounted("cut_on_the_nth_op_on_a_path_pattern") else {
        return;
    };
    let m = pc.mountpoint.clone();
    pc.cut_on_op(Some(Op::Rename), "*.json", 2, CutStyle::default());
    for (i, name) in ["a", "b"].iter().enumerate() {
        let tmp = m.join(format!("{name}.json.tmp"));
        let mut f = File::create(&tmp).unwrap();
        f.write_all(name.as_bytes()).unwrap();
        f.sync_all().unwrap();
        let r = fs::rename(&tmp, m.join(format!("{name}.json")));
        // The rename counts on both names: the 2nd match is the first rename's target.
        assert_eq!(r.is_err(), i == 1, "{r:?}");
        if r.is_err() {
            break;
        }
    }
    assert!(pc.is_cut());
    let image = pc.remount().unwrap();
    assert!(names(&image, "").is_empty(), "no directory fsync ran");
}

#[test]
fn injected_eio_on_write_and_fsync_leaves_the_power_on() {
    let Some((_dir, pc)) = mounted("injected_eio_on_write_and_fsync_leaves_the_power_on") else {
        return;
    };
    let m = pc.mountpoint.clone();
    pc.inject(FaultRule::new(Op::Write, "*/a", 1, 1, libc::EIO));
    pc.inject(FaultRule::new(Op::Fsync, "*/a", 1, 1, libc::EIO));
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(m.join("a"))
        .unwrap();
    assert_eq!(
        f.write(b"x").unwrap_err().raw_os_error(),
        Some(libc::EIO),
        "1st write"
    );
    f.write_all(b"y").unwrap();
    assert_eq!(f.sync_all().unwrap_err().raw_os_error(), Some(libc::EIO));
    f.sync_all().unwrap();
    assert!(!pc.is_cut());
    assert_eq!(pc.errors_injected(), 2);
    assert_eq!(fs::read(m.join("a")).unwrap(), b"y");
}

#[test]
fn partial_cut_keeps_some_unsynced_writes() {
    let Some((_dir, mut pc)) = mounted("partial_cut_keeps_some_unsynced_writes") else {
        return;
    };
    let m = pc.mountpoint.clone();
    let mut f = File::create(m.join("a")).unwrap();
    f.sync_all().unwrap();
    sync_dir(&m);
    for i in 0..32u8 {
        f.write_all(&[i; 512]).unwrap();
    }
    drop(f);
    pc.cut_now(CutStyle {
        keep_probability: 0.5,
        torn: true,
        seed: 7,
    });
    pc.remount().unwrap();
    let data = fs::read(m.join("a")).unwrap();
    let full: Vec<u8> = (0..32u8).flat_map(|i| [i; 512]).collect();
    // Some writes kept (the file is not empty), some lost or torn (it is not all there).
    assert!(data.iter().any(|&b| b != 0), "nothing kept");
    assert_ne!(data, full, "everything kept");
}

#[test]
fn unix_sockets_can_be_bound_on_the_mount() {
    let Some((_dir, pc)) = mounted("unix_sockets_can_be_bound_on_the_mount") else {
        return;
    };
    let path = pc.mountpoint.join("s.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let client = std::os::unix::net::UnixStream::connect(&path).unwrap();
    let (_server, _) = listener.accept().unwrap();
    drop(client);
}
