//! Embeds the build time (POSTBOOTH_BUILD_UNIX, seconds since the epoch) so that the booth can
//! refuse to publish while its clock says a time before it was built: a Raspberry Pi without
//! an RTC boots at 1970 or at its last shutdown until NTP answers. SOURCE_DATE_EPOCH, when
//! set, wins (reproducible builds). Only reruns when this file changes, so the embedded time
//! can be older than the binary, never newer: still a safe lower bound for the clock.

use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    let now = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        });
    println!("cargo:rustc-env=POSTBOOTH_BUILD_UNIX={now}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
}
