//! From a press to a saved photo: the GPIO button thread, the countdown sequence task, and
//! the ready/busy LEDs. Presses from any source (the button, the demo) go through one
//! channel, so "a press during a sequence is ignored" holds whatever pressed.

use super::button::{self, debounce, gpio, ButtonError, EdgeSource, Led};
use super::sequence::{Phase, Pressed, Sequence};
use crate::config::{GpioBias, GpioDriver, TriggerConfig};
use crate::job::Job;
use crate::shoot::Shooter;
use crate::ui::{Screen, Status, StatusSender};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{info, warn};

/// One press. `done` (if any) hears how it ended: the saved job, or why there is none.
pub struct Press {
    pub done: Option<oneshot::Sender<Result<Job, String>>>,
}

pub type PressSender = mpsc::UnboundedSender<Press>;

/// Runs the countdown sequence for each press until shutdown. `tick` is one second of the
/// countdown (shorter in tests).
pub async fn run_sequence(
    mut presses: mpsc::UnboundedReceiver<Press>,
    shooter: Arc<Shooter>,
    status: StatusSender,
    countdown_secs: u32,
    tick: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> u64 {
    let mut seq = Sequence::new(countdown_secs);
    loop {
        let press = tokio::select! {
            p = presses.recv() => match p { Some(p) => p, None => return seq.ignored() },
            _ = shutdown.wait_for(|s| *s) => return seq.ignored(),
        };
        let Pressed::Started(mut phase) = seq.press() else {
            unreachable!("the sequence is idle between presses")
        };
        // The camera gets ready during the countdown (a full still starts its viewfinder).
        let prepared = (countdown_secs > 0).then(|| shooter.prepare());
        while let Some(screen) = Sequence::screen(phase) {
            status.send_modify(|s| s.screen = screen);
            // The flash is short: the photo is taken while it shows.
            let hold = if phase == Phase::Smile {
                tick / 3
            } else {
                tick
            };
            let sleep = tokio::time::sleep(hold);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    Some(p) = presses.recv() => ignore(&mut seq, p),
                }
            }
            phase = seq.advance();
        }
        if let Some(prepared) = prepared {
            let _ = prepared.await;
        }
        let shot = shooter.shoot();
        tokio::pin!(shot);
        let result = loop {
            tokio::select! {
                r = &mut shot => break r,
                Some(p) = presses.recv() => ignore(&mut seq, p),
            }
        };
        seq.advance();
        let guest_until = match &result {
            Ok(Job {
                id,
                state:
                    crate::job::JobState::Held {
                        guest_until_ms: Some(until),
                    },
                ..
            }) => Some((*id, *until)),
            _ => None,
        };
        if let Some(done) = press.done {
            let _ = done.send(result.map_err(|e| e.to_string()));
        }
        if let Some((id, until)) = guest_until {
            ask_to_post(&mut presses, &shooter, &status, id, until).await;
        }
    }
}

/// `publish.review = "guest"`: "press again to post", counting down the guest's time. A press
/// meanwhile posts the photo (and answers that press with it); otherwise the photo stays
/// private (the guest timer in [`crate::review`] records that, also after a crash).
async fn ask_to_post(
    presses: &mut mpsc::UnboundedReceiver<Press>,
    shooter: &Shooter,
    status: &StatusSender,
    id: uuid::Uuid,
    until_ms: u64,
) {
    let store = shooter.store().clone();
    loop {
        let left_ms = until_ms.saturating_sub(store.now_ms());
        if left_ms == 0 {
            status.send_modify(|s| s.screen = Screen::Idle);
            return;
        }
        let secs = left_ms.div_ceil(1000) as u32;
        status.send_modify(|s| s.screen = Screen::AskToPost { secs });
        // Wake at the next whole second of the guest's time.
        let step = Duration::from_millis(left_ms - (u64::from(secs) - 1) * 1000);
        tokio::select! {
            _ = tokio::time::sleep(step) => {}
            Some(press) = presses.recv() => {
                let decided = store
                    .blocking(move |s| crate::review::decide(s, id, crate::job::Decision::GuestConfirm))
                    .await;
                let answer = match decided {
                    Ok(d) => {
                        info!(job = %id, "the guest asked to post the photo");
                        status.send_modify(|s| s.screen = Screen::WillPost);
                        shooter.wake_publisher();
                        Ok(d.job)
                    }
                    Err(e) => {
                        warn!(job = %id, error = %e, "the guest's press to post came too late");
                        status.send_modify(|s| s.screen = Screen::Idle);
                        Err(e.to_string())
                    }
                };
                if let Some(done) = press.done {
                    let _ = done.send(answer);
                }
                return;
            }
        }
    }
}

fn ignore(seq: &mut Sequence, press: Press) {
    if let Pressed::Ignored { total } = seq.press() {
        info!(
            ignored_total = total,
            "press ignored: a photo is already on its way"
        );
    }
    if let Some(done) = press.done {
        let _ = done.send(Err("ignored: a photo is already on its way".into()));
    }
}

/// Opens the configured button line.
pub fn open_line(cfg: &TriggerConfig) -> Result<Box<dyn EdgeSource>, ButtonError> {
    let settings = gpio::LineSettings {
        chip: cfg.gpio_chip.clone(),
        line: cfg.gpio_line,
        bias: match cfg.bias {
            GpioBias::PullUp => gpio::Bias::PullUp,
            GpioBias::PullDown => gpio::Bias::PullDown,
            GpioBias::None => gpio::Bias::None,
        },
        active_low: cfg.active_low,
        debounce: Duration::from_millis(cfg.debounce_ms),
    };
    Ok(match cfg.gpio_driver {
        GpioDriver::Gpiocdev => Box::new(gpio::CdevLine::open(&settings)?),
        GpioDriver::Rppal => Box::new(gpio::RppalLine::open(&settings)?),
    })
}

/// How often a missing or failed button is tried again.
const BUTTON_RETRY: Duration = Duration::from_secs(10);

/// Watches the button on its own thread until `stop`. A missing chip is logged once (naming
/// the chip and the fix) and tried again every few seconds; the booth runs meanwhile (the
/// control socket still takes photos).
pub fn spawn_button(
    cfg: TriggerConfig,
    presses: PressSender,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("button".into())
        .spawn(move || {
            let settings = debounce::Settings {
                debounce_ms: cfg.debounce_ms,
                lockout_ms: cfg.lockout_ms,
            };
            let mut logged = false;
            while !stop.load(Ordering::Relaxed) {
                match open_line(&cfg) {
                    Ok(mut line) => {
                        info!(button = %line.describe(), "button ready");
                        logged = false;
                        let mut on_press = || {
                            let _ = presses.send(Press { done: None });
                        };
                        match button::watch(&mut *line, settings, &stop, &mut on_press) {
                            Ok(counts) => {
                                info!(presses = counts.presses, locked_out = counts.locked, ghosts = counts.ghosts, "button stopped");
                                return;
                            }
                            Err(e) => warn!(error = %e, "button failed; reopening"),
                        }
                    }
                    Err(e) => {
                        if !logged {
                            warn!(error = %e, retry_secs = BUTTON_RETRY.as_secs(), "button not available; photos can still be taken with `postbooth shoot`");
                            logged = true;
                        }
                    }
                }
                let mut waited = Duration::ZERO;
                while waited < BUTTON_RETRY && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(250));
                    waited += Duration::from_millis(250);
                }
            }
        })
        .expect("spawning the button thread")
}

/// Lights the "ready" LED while the booth waits for a press and the "busy" LED from the press
/// until the photo is saved. LEDs that cannot be opened are logged and left out.
pub async fn run_leds(cfg: TriggerConfig, mut status: watch::Receiver<Status>) {
    let open = |line: Option<u32>, what: &str| -> Option<Box<dyn Led>> {
        let line = line?;
        let led: Result<Box<dyn Led>, ButtonError> = match cfg.gpio_driver {
            GpioDriver::Gpiocdev => {
                gpio::CdevLed::open(&cfg.gpio_chip, line).map(|l| Box::new(l) as Box<dyn Led>)
            }
            GpioDriver::Rppal => gpio::RppalLed::open(line).map(|l| Box::new(l) as Box<dyn Led>),
        };
        led.map_err(|e| warn!(error = %e, led = what, "LED not available"))
            .ok()
    };
    let mut ready = open(TriggerConfig::led(cfg.ready_led_line), "ready");
    let mut busy = open(TriggerConfig::led(cfg.busy_led_line), "busy");
    if ready.is_none() && busy.is_none() {
        return;
    }
    loop {
        let (r, b) = leds_for(&status.borrow_and_update().screen);
        for (led, on) in [(&mut ready, r), (&mut busy, b)] {
            if let Some(l) = led {
                if let Err(e) = l.set(on) {
                    warn!(error = %e, "LED write failed");
                }
            }
        }
        if status.changed().await.is_err() {
            return;
        }
    }
}

/// (ready, busy) for a screen.
pub fn leds_for(screen: &Screen) -> (bool, bool) {
    match screen {
        Screen::Countdown { .. } | Screen::Smile | Screen::Saving => (false, true),
        Screen::CameraMissing | Screen::CameraTrouble(_) | Screen::DiskFull | Screen::Error(_) => {
            (false, false)
        }
        _ => (true, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::hw::camera::test_pattern::TestPattern;
    use crate::store::Store;
    use tokio::sync::Notify;

    /// The task, end to end with a real store and the test-pattern camera: a press runs the
    /// countdown and saves one photo; presses meanwhile are answered "ignored" and counted;
    /// once idle again, a press takes the next photo.
    #[tokio::test]
    async fn presses_during_a_sequence_are_ignored_and_one_photo_is_saved() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.store.dir = dir.path().join("store");
        config.store.min_free_mib = 1;
        let (store, _) = Store::open(&config.store, "test").unwrap();
        let (status, status_rx) = watch::channel(Status::default());
        let shooter = Arc::new(Shooter::new(
            Box::new(TestPattern::new(640, 480).unwrap()),
            store.clone(),
            &config,
            status.clone(),
            Arc::new(Notify::new()),
            0,
        ));
        let (presses, rx) = mpsc::unbounded_channel();
        let (_stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run_sequence(
            rx,
            shooter,
            status,
            3,
            Duration::from_millis(10),
            stop_rx,
        ));
        let press = || {
            let (done, result) = oneshot::channel();
            presses.send(Press { done: Some(done) }).unwrap();
            result
        };
        let first = press();
        let second = press();
        let third = press();
        let job = first.await.unwrap().expect("the first press saves a photo");
        for ignored in [second.await.unwrap(), third.await.unwrap()] {
            assert!(ignored.unwrap_err().contains("ignored"));
        }
        assert_eq!(status_rx.borrow().screen, Screen::Saved);
        let ids: Vec<_> = store.jobs().unwrap().iter().map(|j| j.id).collect();
        assert_eq!(ids, vec![job.id]);
        // Idle again: the next press is a new photo.
        let next = press()
            .await
            .unwrap()
            .expect("a press after the sequence works");
        assert_ne!(next.id, job.id);
        drop(presses);
        assert_eq!(task.await.unwrap(), 2, "two presses ignored, counted");
    }

    #[test]
    fn leds_follow_the_screens() {
        assert_eq!(leds_for(&Screen::Idle), (true, false));
        assert_eq!(
            leds_for(&Screen::Countdown {
                secs: 2,
                shot: 1,
                of: 1
            }),
            (false, true)
        );
        assert_eq!(leds_for(&Screen::Saving), (false, true));
        assert_eq!(leds_for(&Screen::Saved), (true, false));
        assert_eq!(leds_for(&Screen::CameraMissing), (false, false));
    }
}
