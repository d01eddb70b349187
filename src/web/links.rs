//! Guest download links: `/p/<job id>-<tag>`, where the tag is 128 bits of HMAC-SHA256 over the
//! job id and the link's expiry, keyed by 256 random bits kept in `<store.dir>/web-link.key`
//! (owner-only). Nothing per link is stored: a link is valid while its tag checks out and its
//! hour has not passed, also after a restart, and guessing one means guessing 128 bits.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::path::Path;
use uuid::Uuid;

/// The link key: 32 random bytes.
#[derive(Clone)]
pub struct LinkKey([u8; 32]);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(hidden)")
    }
}

/// A parsed, checked link: which photo, valid until when (Unix ms).
#[derive(Debug, PartialEq, Eq)]
pub struct Link {
    pub id: Uuid,
    pub expires_ms: u64,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("not a download link")]
    Malformed,
    #[error("this link is not valid")]
    BadTag,
    #[error("this link has expired")]
    Expired,
}

impl LinkKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Reads the key file, or makes one (random, 0600, durable) when there is none.
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) if bytes.len() == 32 => {
                let mut key = [0u8; 32];
                key.copy_from_slice(&bytes);
                Ok(Self(key))
            }
            Ok(_) | Err(_) if !path.exists() => {
                let mut key = [0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
                crate::publish::token::write_private_atomic(path, &key)?;
                Ok(Self(key))
            }
            Ok(bytes) => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} holds {} bytes, not 32: delete it and a new one is made (old download links stop working)",
                    path.display(),
                    bytes.len()
                ),
            )),
            Err(e) => Err(e),
        }
    }

    fn tag(&self, id: Uuid, expires_ms: u64) -> [u8; 16] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("any key length works");
        mac.update(id.as_bytes());
        mac.update(&expires_ms.to_be_bytes());
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&full[..16]);
        tag
    }

    /// The path part of the link to photo `id`, valid until `expires_ms`.
    pub fn link(&self, id: Uuid, expires_ms: u64) -> String {
        format!(
            "{}-{:x}-{}",
            id.simple(),
            expires_ms,
            hex::encode(self.tag(id, expires_ms))
        )
    }

    /// Checks a link's text at `now_ms`. Constant-time tag comparison.
    pub fn check(&self, text: &str, now_ms: u64) -> Result<Link, LinkError> {
        let mut parts = text.split('-');
        let (Some(id), Some(expires), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(LinkError::Malformed);
        };
        if id.len() != 32 || tag.len() != 32 || expires.is_empty() || expires.len() > 16 {
            return Err(LinkError::Malformed);
        }
        let id = Uuid::try_parse(id).map_err(|_| LinkError::Malformed)?;
        let expires_ms = u64::from_str_radix(expires, 16).map_err(|_| LinkError::Malformed)?;
        let tag = hex::decode(tag).map_err(|_| LinkError::Malformed)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("any key length works");
        mac.update(id.as_bytes());
        mac.update(&expires_ms.to_be_bytes());
        mac.verify_truncated_left(&tag)
            .map_err(|_| LinkError::BadTag)?;
        if now_ms > expires_ms {
            return Err(LinkError::Expired);
        }
        Ok(Link { id, expires_ms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> LinkKey {
        LinkKey::from_bytes([n; 32])
    }

    #[test]
    fn a_link_checks_until_it_expires() {
        let id = Uuid::now_v7();
        let text = key(1).link(id, 1000);
        assert_eq!(
            key(1).check(&text, 1000),
            Ok(Link {
                id,
                expires_ms: 1000
            })
        );
        assert_eq!(key(1).check(&text, 1001), Err(LinkError::Expired));
    }

    #[test]
    fn a_link_cannot_be_forged_or_extended() {
        let id = Uuid::now_v7();
        let text = key(1).link(id, 1000);
        assert_eq!(key(2).check(&text, 0), Err(LinkError::BadTag), "other key");
        // Moving the expiry, or the id, breaks the tag.
        let tag = text.rsplit('-').next().unwrap();
        let later = format!("{}-{:x}-{tag}", id.simple(), 99_999_999u64);
        assert_eq!(key(1).check(&later, 0), Err(LinkError::BadTag));
        let other = format!("{}-{:x}-{tag}", Uuid::now_v7().simple(), 1000);
        assert_eq!(key(1).check(&other, 0), Err(LinkError::BadTag));
        // Every single flipped tag digit is refused.
        for i in 0..32 {
            let mut t: Vec<char> = tag.chars().collect();
            t[i] = if t[i] == '0' { '1' } else { '0' };
            let bad = format!(
                "{}-{:x}-{}",
                id.simple(),
                1000,
                t.iter().collect::<String>()
            );
            assert_eq!(key(1).check(&bad, 0), Err(LinkError::BadTag));
        }
    }

    #[test]
    fn the_tag_carries_128_bits() {
        let text = key(1).link(Uuid::nil(), 1);
        let tag = text.rsplit('-').next().unwrap();
        assert_eq!(tag.len() * 4, 128);
    }

    #[test]
    fn malformed_links_and_traversal_are_refused() {
        for text in [
            "",
            "..",
            "../../etc/passwd",
            "a-b-c",
            "%2e%2e",
            "0123456789abcdef0123456789abcdef-1-0123456789abcdef0123456789abcdef-x",
            "0123456789abcdef0123456789abcdef-zz-0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(key(1).check(text, 0), Err(LinkError::Malformed), "{text}");
        }
    }

    #[test]
    fn the_key_file_is_made_once_and_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web-link.key");
        let a = LinkKey::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = LinkKey::load_or_create(&path).unwrap();
        assert_eq!(a.0, b.0, "the same key after a restart");
        std::fs::write(&path, b"short").unwrap();
        assert!(LinkKey::load_or_create(&path).is_err());
    }
}
