//! A full disk, for real: the store lives on a small tmpfs mounted by the test (root only;
//! skipped with the reason otherwise). Filling it must refuse new photos with "disk full" (the
//! shot's answer, the display and `doctor`), corrupt nothing, keep publishing, free space by
//! deleting published photos when `store.delete_published` is on, and take photos again by
//! itself once there is room. Filling it to the last byte must not break the store either.

use crate::helper::{eventually, quoted, Booth, DEADLINE, TOKEN};
use postbooth::control::{self, Request};
use postbooth::sim::{SimOptions, Simulator};
use postbooth::store::durable::free_bytes;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use uuid::Uuid;

const MIB: u64 = 1024 * 1024;

/// A tmpfs mounted for one test, unmounted on drop.
pub struct Tmpfs {
    pub path: PathBuf,
}

impl Tmpfs {
    /// `Err(reason)` when it cannot be mounted here.
    pub fn mount(path: &Path, size_mib: u64) -> Result<Tmpfs, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root: mounting a tmpfs needs root".into());
        }
        std::fs::create_dir_all(path).map_err(|e| e.to_string())?;
        let c = |s: &str| std::ffi::CString::new(s).unwrap();
        let target = c(&path.display().to_string());
        let opts = c(&format!("size={}k,mode=0700", size_mib * 1024));
        // SAFETY: valid NUL-terminated strings; mount(2) has no other preconditions.
        let rc = unsafe {
            libc::mount(
                c("tmpfs").as_ptr(),
                target.as_ptr(),
                c("tmpfs").as_ptr(),
                0,
                opts.as_ptr().cast(),
            )
        };
        if rc != 0 {
            return Err(format!(
                "cannot mount a tmpfs: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(Tmpfs {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let c = std::ffi::CString::new(self.path.display().to_string()).unwrap();
        // SAFETY: valid path; detaching a mount we made.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

/// Writes zeros to `path` until `bytes` are written or the disk is full; returns bytes written.
fn fill(path: &Path, bytes: Option<u64>) -> u64 {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 4096];
    let mut written = 0;
    loop {
        let want = match bytes {
            Some(b) if written >= b => break,
            Some(b) => (b - written).min(4096) as usize,
            None => 4096,
        };
        match f.write(&chunk[..want]) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    let _ = f.sync_all();
    written
}

async fn shoot(socket: &Path) -> Result<postbooth::job::Job, String> {
    match control::call(socket, &Request::Shoot).await {
        Ok(Some(resp)) if resp.ok => Ok(resp.jobs.into_iter().next().unwrap()),
        Ok(Some(resp)) => Err(resp.error.unwrap_or_default()),
        other => Err(format!("no answer: {other:?}")),
    }
}

async fn jobs(socket: &Path) -> Vec<postbooth::job::Job> {
    control::call(socket, &Request::List)
        .await
        .ok()
        .flatten()
        .map(|r| r.jobs)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_refuses_photos_corrupts_nothing_keeps_publishing_and_recovers() {
    let work = tempfile::Builder::new()
        .prefix("postbooth-diskfull-")
        .tempdir()
        .unwrap();
    let tmpfs = match Tmpfs::mount(&work.path().join("tmpfs"), 8) {
        Ok(t) => t,
        Err(reason) => {
            println!("SKIPPED disk_full test: {reason}");
            return;
        }
    };
    let store = tmpfs.path.join("store");
    let sim = Simulator::start(SimOptions {
        quota_total: 100_000,
        ..SimOptions::default()
    })
    .await
    .unwrap();
    // Publishing held back at first (the booth's token is refused), so photos pile up.
    sim.set_token("not-the-booth-token");
    let booth = Booth::new(
        &sim.base_url(),
        &[
            ("store", "dir", Some(&quoted(&store.display().to_string()))),
            ("store", "min_free_mib", Some("1")),
            ("store", "delete_published", Some("true")),
            ("display", "kind", Some("\"terminal\"")),
            ("instagram", "caption", Some("\"disk full #{n} {time}\"")),
            ("camera", "width", Some("640")),
            ("camera", "height", Some("640")),
            ("publish", "auth_pause_secs", Some("1")),
        ],
    );
    let mut daemon = booth.start_daemon("daemon");
    let socket = booth.socket();

    let mut acked: BTreeMap<Uuid, (String, u64)> = BTreeMap::new();
    for _ in 0..8 {
        let job = shoot(&socket).await.expect("shots work with room to spare");
        acked.insert(job.id, (job.blob.sha256.clone(), job.blob.size));
    }
    let photo_bytes: u64 = acked.values().map(|(_, size)| size).sum();

    // Leave a bit less than the 1 MiB postbooth keeps free.
    let margin = photo_bytes / 4;
    let free = free_bytes(&store).unwrap();
    fill(&tmpfs.path.join("ballast"), Some(free - (MIB - margin)));
    let err = shoot(&socket).await.expect_err("a shot on a full disk");
    assert!(err.contains("disk full"), "{err}");
    let cli = booth.postbooth(&["shoot"]);
    assert!(!cli.status.success(), "{}", cli.both());
    assert!(cli.both().contains("disk full"), "{}", cli.both());
    let doctor = booth.postbooth(&["doctor"]);
    let line = doctor.failed_check("disk");
    assert!(line.contains("disk full"), "{line}");
    eventually(DEADLINE, "the display to say the disk is full", || async {
        // ui::lines words it ("Disk almost full | No new photos" as of this writing).
        work_file(&booth, "daemon.out")
            .lines()
            .any(|l| {
                l.starts_with("[display] Disk") && l.contains("full") && l.contains("No new photos")
            })
            .then_some(())
    })
    .await;

    // To the last byte: even the queue's own writes fail now. Publishing resumes meanwhile.
    let last_bytes = fill(&tmpfs.path.join("ballast-2"), None);
    sim.set_token(TOKEN);
    assert!(shoot(&socket).await.is_err(), "no shot on a 100% full disk");
    // Give the publisher time to hit ENOSPC a few times, then check it is alive and sane.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        daemon.is_running(),
        "daemon died on ENOSPC:\n{}",
        daemon.log_text()
    );
    // It still answers (the queue itself may be unreadable until sled can reopen it).
    let answer = control::call(&socket, &Request::List).await;
    assert!(matches!(answer, Ok(Some(_))), "{answer:?}");
    std::fs::remove_file(tmpfs.path.join("ballast-2")).unwrap();
    let listed = eventually(DEADLINE, "the queue readable again", || async {
        let listed = jobs(&socket).await;
        (!listed.is_empty()).then_some(listed)
    })
    .await;
    for id in acked.keys() {
        assert!(
            listed.iter().any(|j| j.id == *id),
            "job {id} lost on ENOSPC"
        );
    }

    // Publishing goes on and, with delete_published, frees the photos' space.
    let free_before = free_bytes(&store).unwrap();
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let done = jobs(&socket).await;
        if done.len() == acked.len() && done.iter().all(|j| j.state.name() == "Done") {
            break;
        }
        if std::time::Instant::now() > deadline {
            let log = daemon.log_text();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            panic!(
                "not everything published after the disk had room again: {:?}\n{}",
                done.iter()
                    .map(|j| (j.state.name(), j.last_error.clone()))
                    .collect::<Vec<_>>(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for id in acked.keys() {
        assert!(
            !store.join(format!("photos/{id}.jpg")).exists(),
            "published photo {id} was not deleted"
        );
    }
    let free_after = free_bytes(&store).unwrap();
    assert!(free_after > free_before, "{free_after} <= {free_before}");
    // The operator frees the rest: the booth takes photos again by itself, no restart.
    // (Deleting published photos alone may not cross the 1 MiB line: sled grows its log
    // on every reopen and state change.)
    std::fs::remove_file(tmpfs.path.join("ballast")).unwrap();
    let deadline = std::time::Instant::now() + DEADLINE;
    let new = loop {
        match shoot(&socket).await {
            Ok(job) => break job,
            Err(e) => assert!(
                std::time::Instant::now() < deadline,
                "no shot once space was freed (publishing freed {} KiB, {} KiB free now): {e}",
                free_after.saturating_sub(free_before) / 1024,
                free_bytes(&store).unwrap() / 1024
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    acked.insert(new.id, (new.blob.sha256.clone(), new.blob.size));
    eventually(DEADLINE, "the new photo to be published", || async {
        let done = jobs(&socket).await;
        done.iter().all(|j| j.state.name() == "Done").then_some(())
    })
    .await;

    // Nothing corrupt: published once each with the bytes acknowledged, and the store opens.
    let publishes = sim.publishes_by_image();
    for (id, (sha, _)) in &acked {
        assert_eq!(publishes.get(sha), Some(&1), "job {id}: {publishes:?}");
    }
    assert_eq!(publishes.len(), acked.len(), "{publishes:?}");
    daemon.terminate();
    let listed = booth.list();
    assert_eq!(listed.len(), acked.len(), "{listed:?}");
    println!(
        "disk-full test: {} photos ({} KiB) acknowledged; refused at {} KiB free and at 0 ({} KiB of \
         ballast to the last byte); deleting published photos freed {} KiB; 0 lost, 0 corrupt, 0 duplicated",
        acked.len(),
        photo_bytes / 1024,
        (MIB - margin) / 1024,
        last_bytes / 1024,
        (free_after.saturating_sub(free_before)) / 1024,
    );
    drop(booth);
    sim.shutdown().await;
}

fn work_file(booth: &Booth, name: &str) -> String {
    std::fs::read_to_string(booth.dir.path().join(name)).unwrap_or_default()
}
