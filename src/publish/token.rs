//! The access token's life: when it was obtained, how long it has left, refreshing it well
//! before it expires, and writing a new one atomically to `access_token_file` (0600).
//!
//! What we know about the token is kept next to it in `<access_token_file>.json` (obtained,
//! expires, and a short hash so a token replaced by hand is noticed). Without that file the
//! token file's modification time stands for "obtained". The token itself is never printed.

use super::graph::{ApiError, GraphClient, Token};
use crate::config::{Config, LoginKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

const DAY: u64 = 24 * 60 * 60;
/// A long-lived token's validity (both logins).
pub const LIFETIME_SECS: u64 = 60 * DAY;
/// Instagram refuses to refresh a token younger than this.
pub const MIN_AGE_SECS: u64 = DAY;
/// Refresh once fewer days than this are left: well before expiry, about monthly.
pub const REFRESH_WHEN_DAYS_LEFT: u64 = 30;
/// Show the days left on the display below this.
pub const WARN_DAYS_LEFT: u64 = 7;

/// What is known about the token in the token file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Seconds since the epoch.
    pub obtained_at: u64,
    /// When Instagram said it expires; `None`: assumed [`LIFETIME_SECS`] after obtained.
    pub expires_at: Option<u64>,
    /// sha256 of the token, first 16 hex digits: tells a record from an older token apart.
    pub token_hash: String,
}

pub fn token_hash(token: &Token) -> String {
    hex::encode(Sha256::digest(token.expose().as_bytes()))[..16].to_string()
}

/// `<access_token_file>.json`.
pub fn record_path(token_file: &Path) -> PathBuf {
    let mut name = token_file.file_name().unwrap_or_default().to_os_string();
    name.push(".json");
    token_file.with_file_name(name)
}

/// The record for `token`: the saved one if it is about this token, else "obtained when the
/// token file was last written".
pub fn load_record(token_file: &Path, token: &Token) -> TokenRecord {
    let hash = token_hash(token);
    let saved = std::fs::read(record_path(token_file))
        .ok()
        .and_then(|b| serde_json::from_slice::<TokenRecord>(&b).ok())
        .filter(|r| r.token_hash == hash);
    saved.unwrap_or_else(|| TokenRecord {
        obtained_at: std::fs::metadata(token_file)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs()),
        expires_at: None,
        token_hash: hash,
    })
}

impl TokenRecord {
    pub fn expires_at(&self) -> u64 {
        self.expires_at.unwrap_or(self.obtained_at + LIFETIME_SECS)
    }

    /// Days left, counting a started day (0 only when expired): a fresh token has 60.
    pub fn days_left(&self, now: u64) -> u64 {
        self.expires_at().saturating_sub(now).div_ceil(DAY)
    }
}

/// Whether this login's token expires and can be refreshed by postbooth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renewal {
    /// Instagram Login: `refresh_access_token`.
    Instagram,
    /// Facebook Login with app credentials: `fb_exchange_token`.
    FacebookExchange,
    /// Facebook Login without them: a Page token made from a long-lived user token does not
    /// expire, so there is nothing to refresh.
    FacebookPage,
}

pub fn renewal(config: &Config) -> Renewal {
    match config.login() {
        LoginKind::Facebook if config.instagram.app_id.is_empty() => Renewal::FacebookPage,
        LoginKind::Facebook => Renewal::FacebookExchange,
        _ => Renewal::Instagram,
    }
}

/// Refresh now? Only a token that can be refreshed, is old enough, and has fewer than
/// [`REFRESH_WHEN_DAYS_LEFT`] days left (and is not already expired: that needs a login).
pub fn refresh_due(renewal: Renewal, record: &TokenRecord, now: u64) -> bool {
    renewal != Renewal::FacebookPage
        && now >= record.obtained_at + MIN_AGE_SECS
        && now < record.expires_at()
        && record.days_left(now) < REFRESH_WHEN_DAYS_LEFT
}

/// The token's remaining life in words, for `doctor` and logs.
pub fn describe(renewal: Renewal, record: &TokenRecord, now: u64) -> String {
    if renewal == Renewal::FacebookPage {
        return "Facebook Login Page token: does not expire (if yours is a user token, set \
                instagram.app_id and instagram.app_secret_file so postbooth can renew it)"
            .into();
    }
    let left = record.days_left(now);
    if now >= record.expires_at() {
        return "expired: make a new long-lived token (see the README) and put it in the token file"
            .into();
    }
    format!(
        "obtained {}, {left} days left; postbooth refreshes it when fewer than {REFRESH_WHEN_DAYS_LEFT} are left",
        super::gate::utc_text(record.obtained_at)
    )
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("nothing to refresh: a Facebook Login Page token made from a long-lived user token does not expire (set instagram.app_id and instagram.app_secret_file to renew a user token)")]
    NotNeeded,
    #[error("cannot read instagram.app_secret_file {path}: {source}", path = .path.display())]
    Secret {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Instagram did not refresh the token: {0}")]
    Api(#[from] ApiError),
    #[error("cannot write the new token to {path}: {source} (the old token is still in place)", path = .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Asks Instagram for a new token, writes it (and its record) atomically, and hands it to
/// `graph`. Returns the new record.
pub async fn refresh(
    config: &Config,
    graph: &GraphClient,
    now: u64,
) -> Result<TokenRecord, RefreshError> {
    let new = match renewal(config) {
        Renewal::FacebookPage => return Err(RefreshError::NotNeeded),
        Renewal::Instagram => graph.refresh_instagram_token().await?,
        Renewal::FacebookExchange => {
            let path = &config.instagram.app_secret_file;
            let secret = std::fs::read_to_string(path).map_err(|source| RefreshError::Secret {
                path: path.clone(),
                source,
            })?;
            graph
                .exchange_facebook_token(&config.instagram.app_id, secret.trim())
                .await?
        }
    };
    let record = TokenRecord {
        obtained_at: now,
        expires_at: Some(now + new.expires_in.unwrap_or(LIFETIME_SECS)),
        token_hash: token_hash(&new.access_token),
    };
    let file = &config.instagram.access_token_file;
    let write_err = |source| RefreshError::Write {
        path: file.clone(),
        source,
    };
    write_private_atomic(file, format!("{}\n", new.access_token.expose()).as_bytes())
        .map_err(write_err)?;
    let json = serde_json::to_vec_pretty(&record).expect("records serialize");
    write_private_atomic(&record_path(file), &json).map_err(write_err)?;
    graph.set_token(new.access_token);
    Ok(record)
}

/// Writes `path` atomically with mode 0600 from the first byte: temp file (created 0600),
/// fsync, rename, fsync the directory.
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(path.file_name().unwrap_or_default());
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        crate::store::durable::sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(obtained_at: u64) -> TokenRecord {
        TokenRecord {
            obtained_at,
            expires_at: None,
            token_hash: "x".into(),
        }
    }

    #[test]
    fn refresh_when_old_enough_and_under_30_days_left() {
        let t0 = 1_800_000_000;
        let r = record(t0);
        assert_eq!(r.days_left(t0), 60);
        assert!(!refresh_due(Renewal::Instagram, &r, t0 + 3600));
        assert!(!refresh_due(Renewal::Instagram, &r, t0 + 29 * DAY));
        assert!(refresh_due(Renewal::Instagram, &r, t0 + 31 * DAY));
        assert!(refresh_due(Renewal::FacebookExchange, &r, t0 + 59 * DAY));
        assert!(!refresh_due(Renewal::FacebookPage, &r, t0 + 59 * DAY));
        // Expired: a refresh cannot help, a login can.
        assert!(!refresh_due(Renewal::Instagram, &r, t0 + 60 * DAY));
        assert!(describe(Renewal::Instagram, &r, t0 + 61 * DAY).contains("expired"));
        assert!(describe(Renewal::Instagram, &r, t0 + DAY).contains("59 days left"));
        assert_eq!(r.days_left(t0 + DAY + 1), 59);
        assert_eq!(r.days_left(t0 + 60 * DAY - 1), 1);
    }

    #[test]
    fn record_belongs_to_its_token_and_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        write_private_atomic(&file, b"one\n").unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let one = Token::new("one");
        let r = TokenRecord {
            obtained_at: 5,
            expires_at: Some(10),
            token_hash: token_hash(&one),
        };
        write_private_atomic(&record_path(&file), &serde_json::to_vec(&r).unwrap()).unwrap();
        assert_eq!(record_path(&file), dir.path().join("token.json"));
        assert_eq!(load_record(&file, &one), r);
        // A token replaced by hand: the record is not about it; the file's mtime stands in.
        let other = load_record(&file, &Token::new("two"));
        assert_ne!(other.obtained_at, 5);
        assert_eq!(other.expires_at, None);
        assert!(!token_hash(&one).contains("one"));
    }
}
