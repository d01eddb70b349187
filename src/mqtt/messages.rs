//! What goes over MQTT, as pure functions: the retained status JSON, Home Assistant discovery
//! messages, and commands parsed from a payload. Topics (all under `postbooth/<booth_id>/`):
//!
//! | topic | retained | what |
//! |---|---|---|
//! | `availability` | yes | `online`; the broker's last will says `offline` |
//! | `status` | yes | [`StatusJson`] |
//! | `events` | no | one JSON per photo saved, post, failure, skipped interval shot |
//! | `command` | — | `shoot`, `pause`, `resume`, `retry` (plain, or `{"command":"shoot"}`) |
//! | `command/result` | no | `{"command","ok","detail"}` for each command received |

use super::settings::Settings;
use serde::Serialize;

pub const AVAILABILITY: &str = "availability";
pub const STATUS: &str = "status";
pub const EVENTS: &str = "events";
pub const COMMAND: &str = "command";
pub const COMMAND_RESULT: &str = "command/result";
pub const ONLINE: &str = "online";
pub const OFFLINE: &str = "offline";

/// What a command asks for. Anything else is refused (and logged).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Take a photo now.
    Shoot,
    /// Hold publishing (capture goes on) until `resume`.
    Pause,
    Resume,
    /// Start every failed job again (`postbooth queue retry --all-failed`).
    Retry,
}

/// `shoot`, or `{"command":"shoot"}`; case and surrounding space do not matter.
pub fn parse_command(payload: &[u8]) -> Result<Command, String> {
    let text = std::str::from_utf8(payload)
        .map_err(|_| "the command is not UTF-8 text".to_string())?
        .trim();
    let word = if text.starts_with('{') {
        serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("command")?.as_str().map(str::to_string))
            .ok_or_else(|| format!("{text:?} is JSON without a \"command\" string"))?
    } else {
        text.to_string()
    };
    match word.trim().to_ascii_lowercase().as_str() {
        "shoot" => Ok(Command::Shoot),
        "pause" => Ok(Command::Pause),
        "resume" => Ok(Command::Resume),
        "retry" => Ok(Command::Retry),
        _ => Err(format!(
            "{:?} is not a command this booth takes (shoot, pause, resume, retry)",
            truncate(&word, 64)
        )),
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The retained status, rewritten whenever something in it changes.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StatusJson {
    pub booth_id: String,
    /// The display's state as one word: `idle`, `countdown`, `saving`, `saved`, `publishing`,
    /// `posted`, `offline`, `login_needed`, `rate_limited`, `disk_full`, `camera_missing`...
    pub state: String,
    /// What the display says, in words.
    pub text: String,
    /// Photos saved and not yet posted.
    pub waiting: usize,
    pub posts_left: Option<u32>,
    pub publishing_paused: bool,
    /// Why publishing waits, when it does.
    pub publishing_held: Option<String>,
    pub last_post: Option<String>,
    pub last_post_at: Option<u64>,
    pub camera: &'static str,
    pub network: &'static str,
    pub token_days_left: Option<i64>,
    pub photos_saved: u64,
    pub posts_published: u64,
    pub version: &'static str,
}

pub fn up_down(up: bool) -> &'static str {
    if up {
        "up"
    } else {
        "down"
    }
}

/// `CameraMissing { .. }` -> `camera_missing`: the variant's name in snake case.
pub fn state_word(screen_debug: &str) -> String {
    let name: String = screen_debug
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Home Assistant MQTT discovery: one device per booth, its sensors and a button that shoots.
/// Each is `(topic, retained JSON config)`; an empty list when discovery is off.
pub fn discovery(settings: &Settings) -> Vec<(String, String)> {
    let Some(prefix) = &settings.discovery_prefix else {
        return Vec::new();
    };
    let id = &settings.booth_id;
    let node = format!(
        "postbooth_{}",
        id.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    );
    let device = serde_json::json!({
        "identifiers": [node],
        "name": format!("Photo booth {id}"),
        "manufacturer": "postbooth",
        "model": "postbooth photo booth",
        "sw_version": env!("CARGO_PKG_VERSION"),
    });
    let availability = settings.topic(AVAILABILITY);
    let status = settings.topic(STATUS);
    let entity = |component: &str, object: &str, name: &str, extra: serde_json::Value| {
        let mut config = serde_json::json!({
            "name": name,
            "unique_id": format!("{node}_{object}"),
            "object_id": format!("{node}_{object}"),
            "availability_topic": availability,
            "payload_available": ONLINE,
            "payload_not_available": OFFLINE,
            "device": device,
        });
        let map = config.as_object_mut().expect("an object");
        for (k, v) in extra.as_object().expect("an object") {
            map.insert(k.clone(), v.clone());
        }
        (
            format!("{prefix}/{component}/{node}/{object}/config"),
            config.to_string(),
        )
    };
    vec![
        entity(
            "sensor",
            "queue",
            "Photos waiting",
            serde_json::json!({"state_topic": status, "value_template": "{{ value_json.waiting }}",
                "unit_of_measurement": "photos", "state_class": "measurement", "icon": "mdi:image-multiple"}),
        ),
        entity(
            "sensor",
            "posts_left",
            "Posts left today",
            serde_json::json!({"state_topic": status,
                "value_template": "{{ value_json.posts_left if value_json.posts_left is not none else 'unknown' }}",
                "icon": "mdi:counter"}),
        ),
        entity(
            "sensor",
            "last_post",
            "Last post",
            serde_json::json!({"state_topic": status,
                "value_template": "{{ value_json.last_post or 'none yet' }}", "icon": "mdi:instagram"}),
        ),
        entity(
            "sensor",
            "token_days_left",
            "Instagram login days left",
            serde_json::json!({"state_topic": status,
                "value_template": "{{ value_json.token_days_left if value_json.token_days_left is not none else 'unknown' }}",
                "unit_of_measurement": "d", "icon": "mdi:key"}),
        ),
        entity(
            "sensor",
            "state",
            "State",
            serde_json::json!({"state_topic": status, "value_template": "{{ value_json.state }}",
                "icon": "mdi:camera"}),
        ),
        entity(
            "binary_sensor",
            "camera",
            "Camera",
            serde_json::json!({"state_topic": status, "value_template": "{{ value_json.camera }}",
                "payload_on": "up", "payload_off": "down", "device_class": "connectivity"}),
        ),
        entity(
            "button",
            "shoot",
            "Take a photo",
            serde_json::json!({"command_topic": settings.topic(COMMAND), "payload_press": "shoot",
                "icon": "mdi:camera-iris"}),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::settings::{Broker, Settings};

    fn settings() -> Settings {
        Settings {
            broker: Broker {
                host: "b".into(),
                port: 1883,
                tls: false,
            },
            booth_id: "lobby-1".into(),
            username: None,
            password: None,
            ca_file: None,
            discovery_prefix: Some("homeassistant".into()),
        }
    }

    #[test]
    fn commands_in_words_or_json_and_the_rest_refused() {
        assert_eq!(parse_command(b" Shoot\n"), Ok(Command::Shoot));
        assert_eq!(parse_command(br#"{"command":"pause"}"#), Ok(Command::Pause));
        assert_eq!(parse_command(b"resume"), Ok(Command::Resume));
        assert_eq!(parse_command(b"retry"), Ok(Command::Retry));
        let e = parse_command(b"rm -rf /").unwrap_err();
        assert!(e.contains("not a command") && e.contains("shoot"), "{e}");
        assert!(parse_command(br#"{"cmd":"shoot"}"#).is_err());
        assert!(parse_command(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn discovery_has_one_device_its_sensors_and_a_shoot_button() {
        let messages = discovery(&settings());
        let topics: Vec<&str> = messages.iter().map(|(t, _)| t.as_str()).collect();
        assert!(topics.contains(&"homeassistant/button/postbooth_lobby_1/shoot/config"));
        assert!(topics.contains(&"homeassistant/sensor/postbooth_lobby_1/queue/config"));
        assert!(topics.contains(&"homeassistant/binary_sensor/postbooth_lobby_1/camera/config"));
        for (_, payload) in &messages {
            let v: serde_json::Value = serde_json::from_str(payload).unwrap();
            assert_eq!(v["device"]["identifiers"][0], "postbooth_lobby_1");
            assert_eq!(v["availability_topic"], "postbooth/lobby-1/availability");
        }
        let button: serde_json::Value = serde_json::from_str(
            &messages
                .iter()
                .find(|(t, _)| t.contains("/button/"))
                .unwrap()
                .1,
        )
        .unwrap();
        assert_eq!(button["command_topic"], "postbooth/lobby-1/command");
        assert_eq!(button["payload_press"], "shoot");
        let mut off = settings();
        off.discovery_prefix = None;
        assert!(discovery(&off).is_empty());
    }

    #[test]
    fn screen_names_become_snake_case_words() {
        assert_eq!(state_word("CameraMissing"), "camera_missing");
        assert_eq!(state_word("Posted { permalink: None }"), "posted");
        assert_eq!(state_word("Error(\"E1\")"), "error");
    }
}
