//! A booth whose store lives on the power-cut filesystem: what the power-cut and the EIO tests
//! of the real daemon both start from.

use super::PowerCut;
use crate::helper::{quoted, Booth};
use postbooth::sim::{SimOptions, Simulator};

/// The simulator, the work directory, the power-cut mount and a [`Booth`] whose `store.dir` is
/// `<work>/mnt/store` on that mount. The mount's durable image is kept in `<work>/backing`.
///
/// Fields drop in order: the mount goes before the work directory is removed. A daemon
/// started from `booth` must be stopped before the mount is (the test's own `Daemon` is).
pub struct PowerCutBooth {
    pub booth: Booth,
    pub pc: PowerCut,
    /// Outside the mount: a test may keep records here that no power cut can touch.
    pub work: tempfile::TempDir,
    pub sim: Simulator,
}

impl PowerCutBooth {
    /// Starts it all; `prefix` names the work directory, `overrides` are the test's own keys
    /// (as for [`Booth::new`]) on top of the store on the mount and a small camera.
    pub async fn start(prefix: &str, overrides: &[(&str, &str, Option<&str>)]) -> PowerCutBooth {
        // Every shot of a long run is published: no quota may hold one back.
        let sim = Simulator::start(SimOptions {
            quota_total: 100_000,
            ..SimOptions::default()
        })
        .await
        .unwrap();
        let work = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
        let mnt = work.path().join("mnt");
        let pc = PowerCut::mount(&work.path().join("backing"), &mnt).unwrap();
        let store = quoted(&mnt.join("store").display().to_string());
        // 400x400 shots: fast to encode, so hundreds of cuts fit in one run.
        let mut keys = vec![
            ("store", "dir", Some(store.as_str())),
            ("camera", "width", Some("400")),
            ("camera", "height", Some("400")),
        ];
        keys.extend_from_slice(overrides);
        let booth = Booth::new(&sim.base_url(), &keys);
        PowerCutBooth {
            booth,
            pc,
            work,
            sim,
        }
    }
}
