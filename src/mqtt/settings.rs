//! `[mqtt]` turned into what the client needs: broker host, port, TLS or not, topics. Pure,
//! except [`Settings::from_config`] reading the password file (0600, like the token).

use crate::config::MqttConfig;
use std::path::PathBuf;

/// Where the broker is and how to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broker {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

/// `mqtt://host[:1883]` or `mqtts://host[:8883]`; anything else is a problem in words.
pub fn parse_url(url: &str) -> Result<Broker, String> {
    let parsed = url::Url::parse(url).map_err(|e| {
        format!("is {url:?}, not a URL ({e}): use e.g. \"mqtt://broker.lan:1883\" or \"mqtts://broker.lan:8883\"")
    })?;
    let (tls, default_port) = match parsed.scheme() {
        "mqtt" | "tcp" => (false, 1883),
        "mqtts" | "ssl" => (true, 8883),
        other => {
            return Err(format!(
            "is {url:?}: the scheme {other}:// is not one postbooth speaks; use mqtt:// (plain) \
                 or mqtts:// (TLS)"
        ))
        }
    };
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("is {url:?}: it names no broker host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!(
            "is {url:?}: put the user in mqtt.username and the password in mqtt.password_file, \
             not in the URL (config files are often readable by others)"
        ));
    }
    if !matches!(parsed.path(), "" | "/") {
        return Err(format!("is {url:?}: an MQTT URL has no path"));
    }
    Ok(Broker {
        host,
        port: parsed.port().unwrap_or(default_port),
        tls,
    })
}

/// Everything the MQTT task needs, read and checked once at start.
#[derive(Clone, Debug)]
pub struct Settings {
    pub broker: Broker,
    pub booth_id: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub discovery_prefix: Option<String>,
}

impl Settings {
    /// `None` when MQTT is off (`mqtt.url = ""`).
    pub fn from_config(c: &MqttConfig) -> anyhow::Result<Option<Settings>> {
        if c.url.is_empty() {
            return Ok(None);
        }
        let broker = parse_url(&c.url).map_err(|p| anyhow::anyhow!("mqtt.url {p}"))?;
        let booth_id = if c.booth_id.is_empty() {
            hostname()
        } else {
            c.booth_id.clone()
        };
        let password = if c.password_file.as_os_str().is_empty() {
            None
        } else {
            Some(read_private(&c.password_file, "mqtt.password_file")?)
        };
        Ok(Some(Settings {
            broker,
            booth_id,
            username: (!c.username.is_empty()).then(|| c.username.clone()),
            password,
            ca_file: (!c.ca_file.as_os_str().is_empty()).then(|| c.ca_file.clone()),
            discovery_prefix: (!c.discovery_prefix.is_empty())
                .then(|| c.discovery_prefix.trim_end_matches('/').to_string()),
        }))
    }

    /// `postbooth/<booth_id>/<leaf>`.
    pub fn topic(&self, leaf: &str) -> String {
        topic(&self.booth_id, leaf)
    }
}

pub fn topic(booth_id: &str, leaf: &str) -> String {
    format!("postbooth/{booth_id}/{leaf}")
}

/// The machine's hostname (the default booth id), made safe for a topic.
pub fn hostname() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let id: String = raw
        .trim()
        .chars()
        .map(|c| {
            if matches!(c, '/' | '+' | '#') || c.is_whitespace() {
                '-'
            } else {
                c
            }
        })
        .collect();
    if id.is_empty() {
        "booth".into()
    } else {
        id
    }
}

/// A secret file that other users must not be able to read.
fn read_private(path: &std::path::Path, key: &str) -> anyhow::Result<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read {key} {}: {e}; write the password there (chmod 600)",
            path.display()
        )
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        anyhow::bail!(
            "{key} {} can be read by other users (mode {mode:o}): run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    Ok(std::fs::read_to_string(path)?
        .trim_end_matches(['\n', '\r'])
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_host_port_and_tls() {
        let b = parse_url("mqtt://broker.lan").unwrap();
        assert_eq!(
            (b.host.as_str(), b.port, b.tls),
            ("broker.lan", 1883, false)
        );
        let b = parse_url("mqtts://127.0.0.1:18883").unwrap();
        assert_eq!((b.host.as_str(), b.port, b.tls), ("127.0.0.1", 18883, true));
    }

    #[test]
    fn bad_urls_say_what_to_write() {
        assert!(parse_url("http://x").unwrap_err().contains("mqtt://"));
        assert!(parse_url("mqtt://u:p@x")
            .unwrap_err()
            .contains("mqtt.password_file"));
        assert!(parse_url("broker:1883").is_err());
    }
}
