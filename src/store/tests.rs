use super::*;
use crate::job::Outcome;

fn config(dir: &Path) -> StoreConfig {
    StoreConfig {
        dir: dir.to_path_buf(),
        min_free_mib: 0,
        max_blob_mib: 0,
        delete_published: false,
        keep_done_days: 30,
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

/// A saved photo whose queue and sidecar are both lost: only `photos/<id>.jpg` is left.
fn photo_without_record_or_sidecar() -> (tempfile::TempDir, Job) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let job = store.save_photo(&jpeg(), 400, 400, "x".into()).unwrap();
    drop(store);
    std::fs::remove_dir_all(dir.path().join("queue")).unwrap();
    std::fs::remove_file(dir.path().join(format!("photos/{}.json", job.id))).unwrap();
    (dir, job)
}

#[test]
fn orphan_photo_without_sidecar_is_adopted_as_captured() {
    let (dir, job) = photo_without_record_or_sidecar();
    let (store, report) = open(dir.path());
    assert_eq!(report.adopted, vec![job.id]);
    let adopted = store.get(job.id).unwrap();
    assert_eq!(adopted.state, JobState::Captured);
    assert_eq!(adopted.caption, "default caption");
    assert_eq!(adopted.blob.sha256, job.blob.sha256);
    assert_eq!((adopted.blob.width, adopted.blob.height), (400, 400));
}

#[test]
fn orphan_photo_without_sidecar_waits_for_a_person_where_photos_are_reviewed() {
    let (dir, job) = photo_without_record_or_sidecar();
    let held = JobState::Held {
        guest_until_ms: None,
    };
    let options = OpenOptions {
        adopt_as: held.clone(),
        ..OpenOptions::default()
    };
    let (store, report) = Store::open_with(&config(dir.path()), "c", options).unwrap();
    assert_eq!(report.adopted, vec![job.id]);
    assert_eq!(store.get(job.id).unwrap().state, held);
    assert!(!store.get(job.id).unwrap().state.is_pending());
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

fn waiting_photos(store: &Store, n: usize) -> Vec<Job> {
    (0..n)
        .map(|i| {
            // Different bytes, same size.
            let img = image::RgbImage::from_pixel(400, 400, image::Rgb([i as u8 * 40, 20, 30]));
            let mut out = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
                .encode_image(&img)
                .unwrap();
            store
                .save_photo(&out, 400, 400, format!("photo {i}"))
                .unwrap()
        })
        .collect()
}

#[test]
fn waiting_photos_combine_into_one_carousel_and_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let photos = waiting_photos(&store, 3);
    let ids: Vec<Uuid> = photos.iter().map(|j| j.id).collect();
    let carousel = store.combine_into_carousel(&ids).unwrap();
    let PostKind::Carousel { items } = &carousel.kind else {
        panic!("{:?}", carousel.kind)
    };
    let shas: Vec<_> = items.iter().map(|i| i.blob.sha256.clone()).collect();
    let before: Vec<_> = photos.iter().map(|j| j.blob.sha256.clone()).collect();
    assert_eq!(shas, before, "every photo, in order");
    assert_eq!(carousel.caption, "photo 0");
    for item in items {
        assert!(store.blob_path(&item.blob).is_file());
    }
    let jobs = store.jobs().unwrap();
    assert_eq!(jobs.len(), 1, "only the carousel is left");
    for photo in &photos {
        assert!(!store.photo_path(photo).exists());
    }
    // Reopened, and rebuilt from the sidecars: still one carousel.
    drop(store);
    let (store, report) = open(dir.path());
    assert!(
        report.adopted.is_empty() && report.missing.is_empty(),
        "{report:?}"
    );
    assert_eq!(store.jobs().unwrap(), vec![carousel.clone()]);
    drop(store);
    std::fs::remove_dir_all(dir.path().join("queue")).unwrap();
    let (store, _) = open(dir.path());
    assert_eq!(store.jobs().unwrap().len(), 1);
}

#[test]
fn a_combine_cut_short_by_a_crash_is_finished_on_open_even_from_sidecars() {
    for rebuild in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = open(dir.path());
        let photos = waiting_photos(&store, 2);
        let ids: Vec<Uuid> = photos.iter().map(|j| j.id).collect();
        // Saved, then the crash: the photos were not dropped yet.
        let carousel = store.write_combined(&ids).unwrap();
        assert_eq!(store.jobs().unwrap().len(), 3);
        drop(store);
        if rebuild {
            std::fs::remove_dir_all(dir.path().join("queue")).unwrap();
        }
        let (store, _) = open(dir.path());
        let jobs = store.jobs().unwrap();
        assert_eq!(jobs.len(), 1, "rebuild={rebuild}: {jobs:?}");
        assert_eq!(jobs[0].id, carousel.id);
        for item in carousel.blobs() {
            assert!(
                store.blob_path(item).is_file(),
                "the carousel keeps its files"
            );
        }
    }
}

#[test]
fn only_waiting_same_size_photos_combine() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let photos = waiting_photos(&store, 3);
    let e = store.combine_into_carousel(&[photos[0].id]).unwrap_err();
    assert!(e.to_string().contains("2 to 10"), "{e}");
    let mut moved = photos[1].clone();
    moved.advance(&Outcome::Staged { key: "k".into() }).unwrap();
    moved
        .advance(&Outcome::ContainerCreated {
            container_id: "c".into(),
            at_ms: 1,
        })
        .unwrap();
    store.update(&moved).unwrap();
    let e = store
        .combine_into_carousel(&[photos[0].id, photos[1].id])
        .unwrap_err();
    assert!(e.to_string().contains("ContainerCreated"), "{e}");
    let odd = store.save_photo(&jpeg(), 400, 500, "odd".into()).unwrap();
    let e = store
        .combine_into_carousel(&[photos[0].id, odd.id])
        .unwrap_err();
    assert!(e.to_string().contains("crop"), "{e}");
    assert_eq!(store.jobs().unwrap().len(), 4, "nothing changed");
}

/// Quota policy `story`: the photo job becomes its own Story in one record write; the photo
/// as taken stays on disk under the same id, so reopening adopts nothing and the job stays one
/// Story (posted once, as that).
#[test]
fn a_waiting_photo_turned_into_a_story_stays_one_job_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let photo = store.save_photo(&jpeg(), 400, 400, "hello".into()).unwrap();
    let story_bytes = b"a story jpeg".to_vec();
    let story = store
        .turn_into_story(photo.id, NewFile::jpeg(&story_bytes, 1080, 1920))
        .unwrap();
    assert_eq!(story.id, photo.id);
    assert_eq!(
        story.kind,
        PostKind::Story {
            of: None,
            overflow: true
        }
    );
    assert_eq!(story.caption, "", "Stories have no caption");
    assert_ne!(story.blob.sha256, photo.blob.sha256);
    assert!(
        store.blob_path(&photo.blob).is_file(),
        "the photo as taken is kept"
    );
    assert_eq!(
        std::fs::read(store.photo_path(&story)).unwrap(),
        story_bytes
    );
    drop(store);

    let (store, report) = open(dir.path());
    assert!(report.adopted.is_empty(), "{report:?}");
    let jobs = store.jobs().unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0], story);
    // Once a Story it cannot be turned again, nor can a photo that has a container.
    let err = store
        .turn_into_story(photo.id, NewFile::jpeg(&story_bytes, 1080, 1920))
        .unwrap_err();
    assert!(err.to_string().contains("only feed photos"), "{err}");
    let mut posting = store.save_photo(&jpeg(), 400, 400, "x".into()).unwrap();
    posting.state = JobState::Ready {
        key: "k".into(),
        container_id: "c".into(),
    };
    store.update(&posting).unwrap();
    assert!(store
        .turn_into_story(posting.id, NewFile::jpeg(&story_bytes, 1080, 1920))
        .is_err());
}

/// The sidecar is the record a queue rebuilt after a power cut starts from: it must say Story
/// too, or a rebuilt queue would post the photo to the feed as well.
#[test]
fn a_queue_rebuilt_from_sidecars_keeps_the_story() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let photo = store.save_photo(&jpeg(), 400, 400, "hello".into()).unwrap();
    let story = store
        .turn_into_story(photo.id, NewFile::jpeg(b"story", 1080, 1920))
        .unwrap();
    drop(store);
    std::fs::remove_dir_all(dir.path().join("queue")).unwrap();
    let (store, report) = open(dir.path());
    assert_eq!(report.adopted, [photo.id]);
    assert_eq!(store.jobs().unwrap(), [story]);
}

#[test]
fn a_chosen_photo_gets_one_story_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let photo = store.save_photo(&jpeg(), 400, 400, "hello".into()).unwrap();
    let story = store
        .add_story_of(photo.id, NewFile::jpeg(b"story", 1080, 1920))
        .unwrap();
    assert_ne!(story.id, photo.id);
    assert_eq!(
        story.kind,
        PostKind::Story {
            of: Some(photo.id),
            overflow: false
        }
    );
    assert_eq!(
        store.get(photo.id).unwrap(),
        photo,
        "the photo is untouched"
    );
    let twice = store
        .add_story_of(photo.id, NewFile::jpeg(b"story", 1080, 1920))
        .unwrap_err();
    assert!(twice.to_string().contains("already has one"), "{twice}");
    let of_story = store
        .add_story_of(story.id, NewFile::jpeg(b"story", 1080, 1920))
        .unwrap_err();
    assert!(of_story.to_string().contains("not a photo"), "{of_story}");
    assert!(matches!(
        store.add_story_of(uuid::Uuid::nil(), NewFile::jpeg(b"s", 1, 1)),
        Err(StoreError::NotFound(_))
    ));
}

/// Walks a saved photo to `Done` the way the publisher does (the sidecar is rewritten at
/// `Published`), `days_ago` days before the store's now.
fn finish(store: &Store, job: &mut Job, days_ago: u64) {
    let at = store.now_ms() - days_ago * prune::DAY_MS;
    job.state = JobState::Published {
        media_id: format!("m-{}", job.id),
        permalink: None,
        published_at_ms: at - 1000,
    };
    store.update(job).unwrap();
    job.advance(&Outcome::Finished { at_ms: at }).unwrap();
    store.update(job).unwrap();
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn pruning_archives_old_done_jobs_and_reopening_adopts_nothing_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let mut old = store.save_photo(&jpeg(), 400, 400, "old".into()).unwrap();
    let mut recent = store
        .save_photo(&jpeg(), 400, 400, "recent".into())
        .unwrap();
    let waiting = store
        .save_photo(&jpeg(), 400, 400, "waiting".into())
        .unwrap();
    finish(&store, &mut old, 31);
    finish(&store, &mut recent, 29);

    assert_eq!(store.prune_done().unwrap(), vec![old.id]);
    assert!(matches!(store.get(old.id), Err(StoreError::NotFound(_))));
    let archive = dir.path().join("archive");
    assert_eq!(
        names(&archive),
        vec![format!("{}.jpg", old.id), format!("{}.json", old.id)]
    );
    assert!(!names(&dir.path().join("photos"))
        .iter()
        .any(|n| n.starts_with(&old.id.to_string())));
    // Nothing left to prune; the others are untouched.
    assert!(store.prune_done().unwrap().is_empty());
    assert_eq!(store.get(recent.id).unwrap(), recent);
    assert_eq!(store.get(waiting.id).unwrap(), waiting);
    drop(store);

    // A restart adopts nothing: the pruned photo is not where reconcile looks.
    let (store, report) = open(dir.path());
    assert!(report.adopted.is_empty() && report.missing.is_empty());
    let ids: Vec<_> = store.jobs().unwrap().iter().map(|j| j.id).collect();
    assert_eq!(ids, vec![recent.id, waiting.id]);
    drop(store);

    // Nor does a queue rebuilt from the sidecars.
    std::fs::remove_dir_all(dir.path().join("queue")).unwrap();
    let (store, report) = open(dir.path());
    assert_eq!(report.adopted, vec![recent.id, waiting.id]);
    assert!(matches!(store.get(old.id), Err(StoreError::NotFound(_))));
}

#[test]
fn pruning_with_delete_published_deletes_the_files_and_keeps_no_archive() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig {
        delete_published: true,
        keep_done_days: 1,
        ..config(dir.path())
    };
    let (store, _) = Store::open(&cfg, "c").unwrap();
    let mut job = store.save_photo(&jpeg(), 400, 400, "x".into()).unwrap();
    finish(&store, &mut job, 2);
    store.remove_photo(&job).unwrap(); // what the publisher does at Finish
    assert_eq!(store.prune_done().unwrap(), vec![job.id]);
    assert!(names(&dir.path().join("photos")).is_empty());
    assert!(!dir.path().join("archive").exists());
    assert!(store.jobs().unwrap().is_empty());
}

#[test]
fn keep_done_days_zero_prunes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig {
        keep_done_days: 0,
        ..config(dir.path())
    };
    let (store, _) = Store::open(&cfg, "c").unwrap();
    let mut job = store.save_photo(&jpeg(), 400, 400, "x".into()).unwrap();
    finish(&store, &mut job, 3000);
    assert!(store.prune_done().unwrap().is_empty());
    assert_eq!(store.get(job.id).unwrap(), job);
}

#[test]
fn a_prune_stopped_after_any_step_is_finished_by_the_next_and_never_readopted() {
    // Each step of `prune_done` on its own, as a kill after it would leave the store
    // (the real kill is walked with fail points in tests/prune.rs).
    fn photo_moved(root: &Path, job: &Job) {
        std::fs::create_dir_all(root.join("archive")).unwrap();
        let f = &job.blob.file;
        std::fs::rename(root.join("photos").join(f), root.join("archive").join(f)).unwrap();
    }
    fn sidecar_moved(root: &Path, job: &Job) {
        photo_moved(root, job);
        let f = format!("{}.json", job.id);
        std::fs::rename(root.join("photos").join(&f), root.join("archive").join(&f)).unwrap();
    }
    type Step = fn(&Path, &Job);
    let steps: [(&str, Step); 2] = [
        ("photo moved", photo_moved),
        ("sidecar moved", sidecar_moved),
    ];
    for (name, step) in steps {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = open(dir.path());
        let mut job = store.save_photo(&jpeg(), 400, 400, "x".into()).unwrap();
        finish(&store, &mut job, 40);
        drop(store);
        step(dir.path(), &job);
        let (store, report) = open(dir.path());
        assert!(
            report.adopted.is_empty() && report.missing.is_empty(),
            "{name}"
        );
        assert_eq!(store.get(job.id).unwrap().state.name(), "Done", "{name}");
        assert_eq!(store.prune_done().unwrap(), vec![job.id], "{name}");
        assert!(store.jobs().unwrap().is_empty(), "{name}");
        assert_eq!(names(&dir.path().join("archive")).len(), 2, "{name}");
        assert!(names(&dir.path().join("photos")).is_empty(), "{name}");
    }
}

/// A photo turned into a Story (quota policy `story`) keeps the photo as taken beside the
/// Story copy. Pruning must take both out of `photos/`: the original left behind without a
/// record would be adopted on the next open and posted to the feed after all.
#[test]
fn pruning_a_photo_turned_into_a_story_takes_the_photo_as_taken_too() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let photo = store.save_photo(&jpeg(), 400, 400, "hello".into()).unwrap();
    let mut story = store
        .turn_into_story(photo.id, NewFile::jpeg(b"story", 1080, 1920))
        .unwrap();
    finish(&store, &mut story, 40);
    assert_eq!(store.prune_done().unwrap(), vec![photo.id]);
    assert!(names(&dir.path().join("photos")).is_empty());
    assert_eq!(
        names(&dir.path().join("archive")).len(),
        3,
        "photo, story, sidecar"
    );
    drop(store);
    let (store, report) = open(dir.path());
    assert!(report.adopted.is_empty(), "{report:?}");
    assert!(store.jobs().unwrap().is_empty());
}

/// A command that has let go of the store lock may still hold sled's own lock for a moment.
/// A booth opening the store then waits for it instead of giving up with "in use".
#[test]
fn sled_still_closing_after_the_store_lock_is_free_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    drop(open(dir.path()));
    // sled's lock alone, as a closing command leaves it.
    let closing = SledJobStore::open(&dir.path().join("queue"), false).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let opener = std::thread::spawn(move || {
        let options = OpenOptions {
            wait: std::time::Duration::from_secs(60),
            opener: Opener::Booth,
            ..OpenOptions::default()
        };
        tx.send(()).unwrap();
        Store::open_with(&cfg, "", options).map(|_| ())
    });
    rx.recv().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    drop(closing);
    opener
        .join()
        .unwrap()
        .expect("the booth waits for sled's lock while it holds the store lock");
}
