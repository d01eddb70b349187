//! Cameras: the live-frame stream (preview), and the libcamera and gphoto2 cameras driven
//! through stand-ins of their command-line tools.

use crate::helper::{eventually, quoted, setup_with};
use postbooth::daemon::Daemon;
use postbooth::hw::camera::preview::PreviewReceiver;
use postbooth::sim::{SimOptions, Simulator};
use std::time::Duration;

/// The next preview frame a receiver sees, decoded: (seq, width, height).
async fn next_preview(rx: &mut PreviewReceiver) -> (u64, u32, u32) {
    tokio::time::timeout(Duration::from_secs(30), rx.changed())
        .await
        .expect("a preview frame within 30 s")
        .expect("the preview stream is open");
    let frame = rx.borrow_and_update().clone().expect("a frame, not None");
    let img = image::load_from_memory(&frame.jpeg).expect("preview frames are JPEGs");
    assert_eq!((img.width(), img.height()), (frame.width, frame.height));
    (frame.seq, frame.width, frame.height)
}

/// The test pattern and the folder camera both feed the daemon's one preview stream: small
/// JPEGs, several per watcher, and a shot in between changes nothing about the photo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_frames_reach_the_daemon_from_test_pattern_and_folder() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let s = setup_with(&sim.base_url(), &[]);
    let daemon = Daemon::start(s.config()).await.unwrap();
    let preview = daemon.preview();
    let mut rx = preview.subscribe();
    let (a, w, h) = next_preview(&mut rx).await;
    assert_eq!((w, h), (640, 480), "640x480 camera, preview 640 wide");
    let job = daemon.shoot().await.unwrap();
    let (b, _, _) = next_preview(&mut rx).await;
    assert!(b > a, "frames keep coming: {a} then {b}");
    assert_eq!(job.blob.width, 640, "the photo is made as before");
    drop(rx);
    daemon.stop().await;

    // A folder: the preview shows the photo the next press would take.
    let incoming = s.dir.path().join("incoming");
    std::fs::create_dir(&incoming).unwrap();
    let img = image::RgbImage::from_pixel(1200, 800, image::Rgb([200, 30, 30]));
    img.save(incoming.join("a.jpg")).unwrap();
    let s2 = setup_with(
        &sim.base_url(),
        &[
            ("camera", "kind", &quoted("dir")),
            ("camera", "dir", &quoted(&incoming.display().to_string())),
        ],
    );
    let daemon = Daemon::start(s2.config()).await.unwrap();
    let mut rx = daemon.preview().subscribe();
    let (_, w, h) = next_preview(&mut rx).await;
    assert_eq!((w, h), (640, 427), "the folder's 3:2 photo, 640 wide");
    // Taken: the folder is empty, the preview says there is nothing to show.
    daemon.shoot().await.unwrap();
    eventually(Duration::from_secs(30), "an empty preview", || {
        let empty = rx.borrow().is_none();
        async move { empty.then_some(()) }
    })
    .await;
    daemon.stop().await;
    sim.shutdown().await;
}
