use super::*;
use crate::job::Outcome;

fn config(dir: &Path) -> StoreConfig {
    StoreConfig {
        dir: dir.to_path_buf(),
        min_free_mib: 0,
        max_blob_mib: 0,
        delete_published: false,
    }
}

fn jpeg() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(400, 400, image::Rgb([10, 20, 30]));
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
        .encode_image(&img)
        .unwrap();
    out
}

fn open(dir: &Path) -> (Store, RecoveryReport) {
    Store::open(&config(dir), "default caption").unwrap()
}

#[test]
fn saved_photo_survives_reopen_with_its_file_and_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let job = store.save_photo(&jpeg(), 400, 400, "hello".into()).unwrap();
    assert!(store.photo_path(&job).is_file());
    assert!(dir.path().join(format!("photos/{}.json", job.id)).is_file());
    drop(store);
    let (store, report) = open(dir.path());
    assert!(report.adopted.is_empty() && report.missing.is_empty());
    assert_eq!(store.get(job.id).unwrap(), job);
}

#[test]
fn jobs_list_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let ids: Vec<_> = (0..5)
        .map(|n| {
            store
                .save_photo(&jpeg(), 400, 400, format!("{n}"))
                .unwrap()
                .id
        })
        .collect();
    let listed: Vec<_> = store.jobs().unwrap().into_iter().map(|j| j.id).collect();
    assert_eq!(listed, ids);
}

#[test]
fn orphan_photo_is_adopted_with_its_sidecar_state() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let mut job = store.save_photo(&jpeg(), 400, 400, "mine".into()).unwrap();
    job.state = JobState::PublishIntent {
        key: job.blob.sha256.clone(),
        container_id: "c1".into(),
        attempted_at_ms: 5,
    };
    store.update(&job).unwrap();
    drop(store);
    // Lose the whole queue: the sidecar must bring the publish intent back.
    std::fs::remove_dir_all(dir.path().join("queue")).unwrap();
    let (store, report) = open(dir.path());
    assert_eq!(report.adopted, vec![job.id]);
    assert_eq!(store.get(job.id).unwrap().state, job.state);
}

#[test]
fn orphan_photo_without_sidecar_is_adopted_as_captured() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let job = store.save_photo(&jpeg(), 400, 400, "x".into()).unwrap();
    drop(store);
    std::fs::remove_dir_all(dir.path().join("queue")).unwrap();
    std::fs::remove_file(dir.path().join(format!("photos/{}.json", job.id))).unwrap();
    let (store, report) = open(dir.path());
    assert_eq!(report.adopted, vec![job.id]);
    let adopted = store.get(job.id).unwrap();
    assert_eq!(adopted.state, JobState::Captured);
    assert_eq!(adopted.caption, "default caption");
    assert_eq!(adopted.blob.sha256, job.blob.sha256);
    assert_eq!((adopted.blob.width, adopted.blob.height), (400, 400));
}

#[test]
fn record_without_photo_fails_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let job = store.save_photo(&jpeg(), 400, 400, "x".into()).unwrap();
    drop(store);
    std::fs::remove_file(dir.path().join(format!("photos/{}", job.blob.file))).unwrap();
    let (store, report) = open(dir.path());
    assert_eq!(report.missing, vec![job.id]);
    let failed = store.get(job.id).unwrap();
    assert!(matches!(failed.state, JobState::Failed { ref reason } if reason.contains("missing")));
}

#[test]
fn published_job_without_photo_is_fine() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let mut job = store.save_photo(&jpeg(), 400, 400, "x".into()).unwrap();
    job.state = JobState::Published {
        media_id: "m".into(),
        permalink: None,
        published_at_ms: 1,
    };
    store.update(&job).unwrap();
    store.remove_photo(&job).unwrap();
    drop(store);
    let (store, report) = open(dir.path());
    assert!(report.missing.is_empty());
    assert_eq!(store.get(job.id).unwrap().state.name(), "Published");
}

#[test]
fn damaged_queue_is_moved_aside_and_rebuilt_from_photos() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let job = store
        .save_photo(&jpeg(), 400, 400, "keep me".into())
        .unwrap();
    drop(store);
    // Garbage over sled's config and data files.
    for file in ["conf", "db"] {
        std::fs::write(dir.path().join("queue").join(file), vec![0xAB; 4096]).unwrap();
    }
    let (store, report) = open(dir.path());
    let aside = report.moved_aside.expect("moved aside");
    assert!(aside
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("queue.damaged-"));
    assert!(
        aside.is_dir(),
        "the damaged queue is kept for a person to look at"
    );
    let rebuilt = store.get(job.id).unwrap();
    assert_eq!(rebuilt.caption, "keep me");
    assert_eq!(rebuilt.state, JobState::Captured);
}

#[test]
fn half_written_snapshot_is_removed_before_open() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let job = store.save_photo(&jpeg(), 400, 400, "x".into()).unwrap();
    drop(store);
    let snap = dir.path().join("queue/snap.00000000000000A0.generating");
    std::fs::write(&snap, b"half").unwrap();
    let (store, report) = open(dir.path());
    assert!(!snap.exists());
    assert!(report.moved_aside.is_none());
    assert_eq!(store.get(job.id).unwrap().id, job.id);
}

#[test]
fn size_cap_refuses_new_photos_and_keeps_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_blob_mib = 1;
    let (store, _) = Store::open(&cfg, "c").unwrap();
    let big = vec![0u8; 700 * 1024];
    store.save_photo(&big, 400, 400, "1".into()).unwrap();
    let e = store.save_photo(&big, 400, 400, "2".into()).unwrap_err();
    assert!(matches!(e, StoreError::CapReached { .. }), "{e}");
    assert_eq!(e.short(), "Disk full");
    assert_eq!(store.jobs().unwrap().len(), 1);
}

#[test]
fn retry_restarts_failed_and_refuses_published() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let mut job = store.save_photo(&jpeg(), 400, 400, "x".into()).unwrap();
    job.advance(&Outcome::Rejected {
        reason: "bad".into(),
    })
    .unwrap();
    store.update(&job).unwrap();
    assert!(store.retry(job.id).unwrap());
    assert_eq!(store.get(job.id).unwrap().state, JobState::Captured);
    job.state = JobState::Published {
        media_id: "m".into(),
        permalink: None,
        published_at_ms: 1,
    };
    store.update(&job).unwrap();
    assert!(matches!(
        store.retry(job.id),
        Err(StoreError::AlreadyPublished(_))
    ));
}

#[test]
fn drop_removes_record_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let job = store.save_photo(&jpeg(), 400, 400, "x".into()).unwrap();
    store.drop_job(job.id).unwrap();
    assert!(matches!(store.get(job.id), Err(StoreError::NotFound(_))));
    assert!(!store.photo_path(&job).exists());
    drop(store);
    let (_, report) = open(dir.path());
    assert!(report.adopted.is_empty());
}
