//! What the booth tells the people in front of it. Capture and publishing send [`Status`]
//! events; displays only watch them (they never drive anything). The words are short on
//! purpose: the journal has the detail.

pub mod canvas;
pub mod screens;
pub mod terminal;

use tokio::sync::watch;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Screen {
    /// Waiting for someone to press the button.
    Idle,
    /// The moment of the photo (the display flashes).
    Smile,
    Saving,
    /// Shot `shot` of `of` (1 of 1 for a single photo) is taken in `secs` seconds.
    Countdown {
        secs: u32,
        shot: usize,
        of: usize,
    },
    /// The photo is durable (file and record on disk).
    Saved,
    /// `publish.review = "guest"`: press again within `secs` to post the photo.
    AskToPost {
        secs: u32,
    },
    /// The guest asked for the photo to be posted.
    WillPost,
    Publishing {
        n: usize,
        of: usize,
    },
    Posted {
        permalink: Option<String>,
    },
    /// Publishing waits for the network; capture goes on.
    Offline,
    /// The Instagram token expired or was revoked.
    LoginNeeded,
    /// Instagram restricted the account, or the posting quota is used up.
    AccountProblem,
    RateLimited,
    DiskFull,
    CameraMissing,
    /// Starting: waiting for another program to let go of the store.
    Starting,
    /// The camera is there but cannot take photos now.
    CameraTrouble(CameraTrouble),
    /// Something else, with a short code for the operator.
    Error(String),
}

/// What can keep a camera that is there from taking a photo, in words for guests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CameraTrouble {
    /// Another program holds it (a DSLR claimed by the desktop's gvfs, a second camera app).
    InUse,
    /// A DSLR asleep or switched off.
    Asleep,
    /// It could not take this photo (busy, could not focus): press again.
    TryAgain,
    /// It stopped answering and is being restarted.
    Stuck,
}

impl CameraTrouble {
    /// Two short lines for a 128x64 display: the big word and a small hint.
    pub fn words(self) -> (&'static str, &'static str, &'static str) {
        match self {
            CameraTrouble::InUse => ("Camera", "in use", "tell the staff"),
            CameraTrouble::Asleep => ("Camera", "asleep", "switch it on"),
            CameraTrouble::TryAgain => ("Try", "again", "press the button"),
            CameraTrouble::Stuck => ("Camera", "stuck", "restarting it"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub screen: Screen,
    /// Photos saved and not yet posted.
    pub waiting: usize,
    /// A short line for the idle screen when nothing waits ("Login: 5 days left").
    pub notice: Option<String>,
}

impl Default for Status {
    fn default() -> Self {
        Self {
            screen: Screen::Idle,
            waiting: 0,
            notice: None,
        }
    }
}

pub type StatusSender = watch::Sender<Status>;

/// Two short lines for a small display.
pub fn lines(status: &Status) -> [String; 2] {
    let waiting = match status.waiting {
        0 => String::new(),
        1 => "1 photo waiting".to_string(),
        n => format!("{n} photos waiting"),
    };
    let (top, bottom) = match &status.screen {
        Screen::Idle if waiting.is_empty() => (
            "Press the button".to_string(),
            status.notice.clone().unwrap_or_default(),
        ),
        Screen::Idle => ("Press the button".to_string(), waiting),
        Screen::Smile => ("Smile!".to_string(), String::new()),
        Screen::Saving => ("Saving...".to_string(), String::new()),
        Screen::Countdown {
            secs, of: 0 | 1, ..
        } => (format!("{secs}..."), String::new()),
        Screen::Countdown { secs, shot, of } => {
            (format!("Photo {shot} of {of} in {secs}"), String::new())
        }
        Screen::Saved => ("Saved \u{2713}".to_string(), waiting),
        Screen::AskToPost { secs } => ("Press again to post".to_string(), format!("{secs}...")),
        Screen::WillPost => ("Will post \u{2713}".to_string(), waiting),
        Screen::Publishing { n, of } => (format!("Posting {n} of {of}"), String::new()),
        Screen::Posted { .. } => ("Posted \u{2713}".to_string(), waiting),
        Screen::Offline => ("Offline".to_string(), waiting),
        Screen::LoginNeeded => ("Instagram login needed".to_string(), waiting),
        Screen::AccountProblem => ("Account problem".to_string(), waiting),
        Screen::RateLimited => ("Posting paused".to_string(), waiting),
        Screen::DiskFull => ("Disk almost full".to_string(), "No new photos".to_string()),
        Screen::CameraMissing => ("Camera missing".to_string(), waiting),
        Screen::Starting => ("Starting".to_string(), "please wait".to_string()),
        Screen::CameraTrouble(t) => {
            let (a, b, _) = t.words();
            (format!("{a} {b}"), waiting)
        }
        Screen::Error(code) => (format!("Error {code}"), waiting),
    };
    [top, bottom]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_screen_has_short_words() {
        let screens = [
            Screen::Idle,
            Screen::Countdown {
                secs: 3,
                shot: 1,
                of: 1,
            },
            Screen::Smile,
            Screen::Saving,
            Screen::Countdown {
                secs: 3,
                shot: 10,
                of: 10,
            },
            Screen::Saved,
            Screen::Publishing { n: 2, of: 9 },
            Screen::Posted { permalink: None },
            Screen::Offline,
            Screen::LoginNeeded,
            Screen::AccountProblem,
            Screen::RateLimited,
            Screen::DiskFull,
            Screen::CameraMissing,
            Screen::Starting,
            Screen::CameraTrouble(CameraTrouble::InUse),
            Screen::CameraTrouble(CameraTrouble::Asleep),
            Screen::CameraTrouble(CameraTrouble::TryAgain),
            Screen::CameraTrouble(CameraTrouble::Stuck),
            Screen::Error("E12".into()),
        ];
        for screen in screens {
            let [top, bottom] = lines(&Status {
                screen,
                waiting: 12,
                notice: None,
            });
            // 128 px at 6 px per character.
            assert!(
                top.chars().count() <= 22 && bottom.chars().count() <= 22,
                "{top} / {bottom}"
            );
            assert!(!top.is_empty());
        }
    }

    #[test]
    fn the_idle_screen_shows_a_notice_when_nothing_waits() {
        let mut s = Status {
            notice: Some("Login: 5 days left".into()),
            ..Status::default()
        };
        assert_eq!(lines(&s)[1], "Login: 5 days left");
        s.waiting = 2;
        assert_eq!(lines(&s)[1], "2 photos waiting");
    }

    #[test]
    fn queue_length_is_shown_in_words() {
        let s = Status {
            screen: Screen::Saved,
            waiting: 3,
            notice: None,
        };
        assert_eq!(
            lines(&s),
            ["Saved \u{2713}".to_string(), "3 photos waiting".to_string()]
        );
    }
}
