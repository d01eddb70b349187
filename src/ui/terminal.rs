//! The terminal display: one line per change, for the demo and for people watching a booth
//! over SSH. (The OLED backends arrive with the hardware issue.)

use super::{lines, Status};
use tokio::sync::watch;

/// Prints each new status until the sender goes away.
pub async fn run(mut rx: watch::Receiver<Status>) {
    let mut last = None;
    loop {
        let current = lines(&rx.borrow_and_update().clone());
        if last.as_ref() != Some(&current) {
            let [top, bottom] = &current;
            if bottom.is_empty() {
                println!("[display] {top}");
            } else {
                println!("[display] {top} | {bottom}");
            }
            last = Some(current);
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}
