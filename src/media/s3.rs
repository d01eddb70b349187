//! `media.host = "s3"`: any S3-compatible store (AWS, R2, MinIO, Garage).
//!
//! Every request is a SigV4 presigned URL, so the only thing that ever needs the secret is the
//! signer; no S3 SDK is pulled in. Instagram gets a short-lived presigned GET, so the bucket can
//! stay private.

use super::{is_valid_key, MediaError, MediaHost};
use futures_util::future::BoxFuture;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::StatusCode;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// SigV4 presigned URLs cannot be valid for longer than this.
const MAX_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);
/// Our own PUT/HEAD/DELETE URLs are used at once; a short life limits the harm if one leaks.
const OP_URL_EXPIRY: Duration = Duration::from_secs(15 * 60);
/// Bounds a stuck request even if the caller's client has no timeout; uploads of a few MB on a
/// slow booth uplink get more room.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(180);
const SMALL_OP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct S3Settings {
    /// e.g. `https://s3.eu-west-1.amazonaws.com`, `https://<account>.r2.cloudflarestorage.com`.
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    /// How long the URL handed to Instagram stays valid (at most 7 days).
    pub url_expiry: Duration,
    /// `endpoint/bucket/key` instead of `bucket.endpoint/key`; MinIO, Garage and test servers
    /// usually need this.
    pub path_style: bool,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Settings end up in logs and error reports; the secret must not.
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<hidden>")
            .field("url_expiry", &self.url_expiry)
            .field("path_style", &self.path_style)
            .finish()
    }
}

/// Stages photos as `postbooth/<key>.jpg` in one bucket.
///
/// `public_url` returns a presigned GET: whoever holds it can read that photo until it expires,
/// so callers should log the key, not the URL.
pub struct S3Host {
    bucket: Bucket,
    credentials: Credentials,
    http: reqwest::Client,
    url_expiry: Duration,
    endpoint: String,
}

impl fmt::Debug for S3Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Host")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket.name())
            .field("region", &self.bucket.region())
            .field("access_key", &self.credentials.key())
            .finish_non_exhaustive()
    }
}

/// Which request failed, for messages and for the 404 rules that differ per operation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Head,
    Put,
    Delete,
}

impl Op {
    fn verb(self) -> &'static str {
        match self {
            Op::Head => "checking",
            Op::Put => "uploading",
            Op::Delete => "deleting",
        }
    }
}

impl S3Host {
    pub fn new(settings: S3Settings, http: reqwest::Client) -> Result<S3Host, MediaError> {
        let S3Settings {
            endpoint,
            bucket,
            region,
            access_key,
            secret_key,
            url_expiry,
            path_style,
        } = settings;
        let mut url = url::Url::parse(&endpoint).map_err(|e| {
            MediaError::Refused(format!(
                "media.s3_endpoint {endpoint:?} is not a URL ({e}); \
                 expected something like https://s3.eu-west-1.amazonaws.com"
            ))
        })?;
        // Url::join would otherwise drop the last path segment of an endpoint such as
        // `https://host/s3` when appending the bucket.
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        if bucket.is_empty() {
            return Err(MediaError::Refused("media.s3_bucket is empty".into()));
        }
        if access_key.is_empty() || secret_key.is_empty() {
            return Err(MediaError::Refused(
                "the S3 access key or secret key is empty; check media.s3_access_key_file \
                 and media.s3_secret_key_file"
                    .into(),
            ));
        }
        if url_expiry.is_zero() || url_expiry > MAX_EXPIRY {
            return Err(MediaError::Refused(format!(
                "media.s3_url_expiry_secs must be between 1 and {} (S3 limit), got {}",
                MAX_EXPIRY.as_secs(),
                url_expiry.as_secs()
            )));
        }
        let style = if path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket_name = bucket.clone();
        let bucket = Bucket::new(url, style, bucket, region).map_err(|e| {
            MediaError::Refused(format!(
                "cannot use S3 endpoint {endpoint:?} with bucket {bucket_name:?}: {e:?}; \
                 the endpoint must be an http(s) URL with a host"
            ))
        })?;
        Ok(S3Host {
            bucket,
            credentials: Credentials::new(access_key, secret_key),
            http,
            url_expiry,
            endpoint,
        })
    }

    fn object_name(key: &str) -> Result<String, MediaError> {
        if !is_valid_key(key) {
            return Err(MediaError::Refused(format!(
                "not a sha256 hex key: {key:?} (expected 64 lowercase hex digits)"
            )));
        }
        Ok(format!("postbooth/{key}.jpg"))
    }

    /// Length of the stored object, or `None` if it does not exist.
    async fn stored_len(&self, object: &str) -> Result<Option<u64>, MediaError> {
        let url = self
            .bucket
            .head_object(Some(&self.credentials), object)
            .sign(OP_URL_EXPIRY);
        let resp = self
            .http
            .head(url)
            .timeout(SMALL_OP_TIMEOUT)
            .send()
            .await
            .map_err(|e| self.transport_error(Op::Head, object, e))?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            // A HEAD response has no body, so a missing bucket looks the same as a missing
            // object here; the PUT that follows will tell them apart.
            return Ok(None);
        }
        if !status.is_success() {
            return Err(self.status_error(Op::Head, object, status, ""));
        }
        // Read the header rather than `content_length()`: that reflects the (empty) HEAD body.
        let len = resp
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        Ok(len)
    }

    async fn put(&self, object: &str, bytes: Vec<u8>) -> Result<(), MediaError> {
        let mut action = self.bucket.put_object(Some(&self.credentials), object);
        // Signed so the store serves it back as a JPEG, which Instagram's fetcher expects.
        action.headers_mut().insert("content-type", "image/jpeg");
        let url = action.sign(OP_URL_EXPIRY);
        let resp = self
            .http
            .put(url)
            .header(CONTENT_TYPE, "image/jpeg")
            .body(bytes)
            .timeout(UPLOAD_TIMEOUT)
            .send()
            .await
            .map_err(|e| self.transport_error(Op::Put, object, e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let body = resp.text().await.unwrap_or_default();
        Err(self.status_error(Op::Put, object, status, &body))
    }

    fn transport_error(&self, op: Op, object: &str, e: reqwest::Error) -> MediaError {
        // reqwest's message would include the presigned URL, signature and all.
        let e = e.without_url();
        MediaError::Transient(format!(
            "{} {object} at S3 endpoint {} failed: {e}",
            op.verb(),
            self.endpoint
        ))
    }

    fn status_error(&self, op: Op, object: &str, status: StatusCode, body: &str) -> MediaError {
        let code = s3_error_code(body);
        let what = format!(
            "{} {object} in bucket {:?} at {}: HTTP {}{}",
            op.verb(),
            self.bucket.name(),
            self.endpoint,
            status.as_u16(),
            code.map(|c| format!(" ({c})")).unwrap_or_default()
        );
        if status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT
        {
            return MediaError::Transient(what);
        }
        let hint = match (status, code) {
            (_, Some("RequestTimeTooSkewed")) => {
                "this machine's clock is off; fix the time (NTP) and retry"
            }
            (StatusCode::NOT_FOUND, _) => {
                "check media.s3_bucket exists at media.s3_endpoint, and whether the store \
                 needs path-style URLs"
            }
            (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, _) => {
                "check the access key and secret key files, that the key may write to this \
                 bucket, and that this machine's clock is right (signatures are time-bound)"
            }
            _ => "check media.s3_endpoint, media.s3_region, the keys, and this machine's clock",
        };
        MediaError::Refused(format!("{what}; {hint}"))
    }
}

/// The `<Code>` of an S3 XML error body; enough to tell `NoSuchBucket` from `NoSuchKey` and
/// to give a precise hint, without an XML parser.
fn s3_error_code(body: &str) -> Option<&str> {
    let start = body.find("<Code>")? + "<Code>".len();
    let len = body[start..].find("</Code>")?;
    Some(body[start..start + len].trim()).filter(|c| !c.is_empty())
}

impl MediaHost for S3Host {
    fn stage<'a>(&'a self, key: &'a str, path: &'a Path) -> BoxFuture<'a, Result<(), MediaError>> {
        Box::pin(async move {
            let object = Self::object_name(key)?;
            let bytes = tokio::fs::read(path).await.map_err(|e| {
                MediaError::Io(std::io::Error::new(
                    e.kind(),
                    format!("{}: {e}", path.display()),
                ))
            })?;
            // Same key means same content, so only the length can differ: a shorter object is
            // an earlier upload that broke off, and must be replaced.
            if self.stored_len(&object).await? == Some(bytes.len() as u64) {
                tracing::debug!(%object, "already staged in S3");
                return Ok(());
            }
            let len = bytes.len();
            self.put(&object, bytes).await?;
            tracing::debug!(%object, len, bucket = self.bucket.name(), "staged in S3");
            Ok(())
        })
    }

    fn public_url<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<String, MediaError>> {
        Box::pin(async move {
            let object = Self::object_name(key)?;
            let url = self
                .bucket
                .get_object(Some(&self.credentials), &object)
                .sign(self.url_expiry);
            Ok(url.into())
        })
    }

    fn unstage<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), MediaError>> {
        Box::pin(async move {
            let object = Self::object_name(key)?;
            let url = self
                .bucket
                .delete_object(Some(&self.credentials), &object)
                .sign(OP_URL_EXPIRY);
            let resp = self
                .http
                .delete(url)
                .timeout(SMALL_OP_TIMEOUT)
                .send()
                .await
                .map_err(|e| self.transport_error(Op::Delete, &object, e))?;
            let status = resp.status();
            if status.is_success() {
                return Ok(());
            }
            let body = resp.text().await.unwrap_or_default();
            // Already gone is what we wanted; a missing bucket is not.
            if status == StatusCode::NOT_FOUND && s3_error_code(&body) == Some("NoSuchKey") {
                return Ok(());
            }
            Err(self.status_error(Op::Delete, &object, status, &body))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};

    const ACCESS: &str = "postbooth-test-ak";
    const SECRET: &str = "postbooth-test-secret-0123456789";
    const BUCKET: &str = "booth";

    /// A running s3s-fs; killed when dropped so a failing test leaves no server behind.
    struct S3sFs {
        child: Child,
        endpoint: String,
        root: tempfile::TempDir,
    }

    impl Drop for S3sFs {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn s3s_fs_binary() -> PathBuf {
        let path = std::env::var_os("POSTBOOTH_S3S_FS")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/bin/s3s-fs"));
        assert!(
            path.is_file(),
            "s3s-fs not found at {}: run scripts/install-test-tools.sh (or set \
             POSTBOOTH_S3S_FS). The S3 tests need a real, signature-checking S3 server.",
            path.display()
        );
        path
    }

    impl S3sFs {
        async fn start() -> S3sFs {
            let bin = s3s_fs_binary();
            let root = tempfile::tempdir().unwrap();
            std::fs::create_dir(root.path().join(BUCKET)).unwrap();
            let log = std::fs::File::create(root.path().join("s3s-fs.log")).unwrap();
            // Ask the OS for a free port, then hand it over; the gap is tiny and a collision
            // shows up as the startup check below failing loudly.
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = Command::new(&bin)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", ACCESS, "--secret-key", SECRET])
                .arg(root.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let mut server = S3sFs {
                child,
                endpoint: format!("http://127.0.0.1:{port}"),
                root,
            };
            let deadline = std::time::Instant::now() + Duration::from_secs(15);
            loop {
                if let Some(status) = server.child.try_wait().unwrap() {
                    let log =
                        std::fs::read_to_string(server.root.path().join("s3s-fs.log")).unwrap();
                    panic!("s3s-fs exited at startup ({status}):\n{log}");
                }
                if tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
                {
                    return server;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "s3s-fs did not accept connections on port {port} within 15s"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }

        fn settings(&self) -> S3Settings {
            S3Settings {
                endpoint: self.endpoint.clone(),
                bucket: BUCKET.into(),
                region: "us-east-1".into(),
                access_key: ACCESS.into(),
                secret_key: SECRET.into(),
                url_expiry: Duration::from_secs(600),
                path_style: true,
            }
        }

        fn host(&self) -> S3Host {
            S3Host::new(self.settings(), reqwest::Client::new()).unwrap()
        }
    }

    fn jpeg_like(dir: &Path, name: &str, len: usize, seed: u8) -> (String, PathBuf, Vec<u8>) {
        let mut bytes: Vec<u8> = (0..len)
            .map(|i| (i as u8).wrapping_mul(seed).wrapping_add(seed))
            .collect();
        bytes[..2].copy_from_slice(&[0xFF, 0xD8]);
        let key = hex::encode(Sha256::digest(&bytes));
        let path = dir.join(name);
        std::fs::write(&path, &bytes).unwrap();
        (key, path, bytes)
    }

    fn assert_no_secret(msg: &str) {
        assert!(!msg.contains(SECRET), "secret leaked: {msg}");
        assert!(!msg.contains("X-Amz-Signature"), "signature leaked: {msg}");
    }

    #[tokio::test]
    async fn stage_fetch_restage_unstage_against_real_s3() {
        let s3 = S3sFs::start().await;
        let tmp = tempfile::tempdir().unwrap();
        let (key, path, bytes) = jpeg_like(tmp.path(), "a.jpg", 40_000, 3);
        let host = s3.host();

        host.stage(&key, &path).await.unwrap();
        let url = host.public_url(&key).await.unwrap();
        assert!(url.contains(&format!("postbooth/{key}.jpg")), "{url}");
        // Instagram fetches with no credentials of its own: a plain GET must work.
        let resp = reqwest::get(&url).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "image/jpeg");
        assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes.as_slice());

        // Same key and length: the upload is skipped. Proven by offering different bytes of
        // the same length, which must not replace what is stored.
        let (_, same_len, _) = jpeg_like(tmp.path(), "b.jpg", 40_000, 5);
        host.stage(&key, &same_len).await.unwrap();
        host.stage(&key, &path).await.unwrap();
        let got = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
        assert_eq!(got.as_ref(), bytes.as_slice());

        // A shorter stored object (a broken-off upload) gets replaced.
        let (_, short, short_bytes) = jpeg_like(tmp.path(), "c.jpg", 1000, 7);
        host.stage(&key, &short).await.unwrap();
        let got = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
        assert_eq!(got.as_ref(), short_bytes.as_slice());
        host.stage(&key, &path).await.unwrap();
        let got = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
        assert_eq!(got.as_ref(), bytes.as_slice());

        host.unstage(&key).await.unwrap();
        let resp = reqwest::get(&url).await.unwrap();
        assert_eq!(resp.status(), 404);
        // Unstaging what is already gone is fine.
        host.unstage(&key).await.unwrap();
    }

    #[tokio::test]
    async fn wrong_credentials_are_refused() {
        let s3 = S3sFs::start().await;
        let tmp = tempfile::tempdir().unwrap();
        let (key, path, _) = jpeg_like(tmp.path(), "a.jpg", 2000, 3);

        let mut bad_secret = s3.settings();
        bad_secret.secret_key = "not-the-secret-key-at-all".into();
        let mut bad_access = s3.settings();
        bad_access.access_key = "nobody".into();
        for settings in [bad_secret, bad_access] {
            let host = S3Host::new(settings, reqwest::Client::new()).unwrap();
            match host.stage(&key, &path).await {
                Err(MediaError::Refused(msg)) => {
                    assert!(msg.contains(BUCKET), "{msg}");
                    assert!(msg.contains(&s3.endpoint), "{msg}");
                    assert!(msg.contains("clock"), "{msg}");
                    assert!(msg.contains("key"), "{msg}");
                    assert_no_secret(&msg);
                }
                other => panic!("expected Refused, got {other:?}"),
            }
            match host.unstage(&key).await {
                Err(MediaError::Refused(msg)) => assert_no_secret(&msg),
                other => panic!("expected Refused, got {other:?}"),
            }
        }
        // Nothing got through.
        assert!(!s3
            .root
            .path()
            .join(BUCKET)
            .join("postbooth")
            .join(format!("{key}.jpg"))
            .exists());
    }

    #[tokio::test]
    async fn tampered_presigned_urls_are_rejected_by_the_server() {
        let s3 = S3sFs::start().await;
        let tmp = tempfile::tempdir().unwrap();
        let (key, path, _) = jpeg_like(tmp.path(), "a.jpg", 2000, 3);
        let (other_key, other_path, _) = jpeg_like(tmp.path(), "b.jpg", 2000, 9);
        let host = s3.host();
        host.stage(&key, &path).await.unwrap();
        host.stage(&other_key, &other_path).await.unwrap();
        let url = host.public_url(&key).await.unwrap();
        assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);

        // Flip the last hex digit of the signature.
        let last = url.chars().last().unwrap();
        let flipped = if last == '0' { '1' } else { '0' };
        let bad_sig = format!("{}{flipped}", &url[..url.len() - 1]);
        assert!(bad_sig.contains("X-Amz-Signature="));
        let status = reqwest::get(&bad_sig).await.unwrap().status();
        assert!(status.is_client_error(), "altered signature got {status}");

        // A valid signature for one photo must not open another.
        let other = url.replace(&key, &other_key);
        let status = reqwest::get(&other).await.unwrap().status();
        assert!(
            status.is_client_error(),
            "signature reused for another key got {status}"
        );
    }

    /// s3s-fs creates a missing bucket on PUT instead of answering 404, so the mapping of the
    /// responses real stores send is checked here, with AWS's own error bodies.
    #[test]
    fn status_mapping_matches_what_real_stores_send() {
        let host = S3Host::new(
            S3Settings {
                endpoint: "https://s3.example.com".into(),
                bucket: "photos".into(),
                region: "eu-west-1".into(),
                access_key: ACCESS.into(),
                secret_key: SECRET.into(),
                url_expiry: Duration::from_secs(600),
                path_style: false,
            },
            reqwest::Client::new(),
        )
        .unwrap();
        let body =
            |code: &str| format!("<?xml version=\"1.0\"?><Error><Code>{code}</Code></Error>");
        let refused = |status: u16, code: &str| match host.status_error(
            Op::Put,
            "postbooth/x.jpg",
            StatusCode::from_u16(status).unwrap(),
            &body(code),
        ) {
            MediaError::Refused(msg) => msg,
            other => panic!("{status} {code}: expected Refused, got {other:?}"),
        };

        let msg = refused(404, "NoSuchBucket");
        assert!(
            msg.contains("\"photos\"") && msg.contains("media.s3_bucket"),
            "{msg}"
        );
        assert!(msg.contains("https://s3.example.com"), "{msg}");
        let msg = refused(403, "SignatureDoesNotMatch");
        assert!(
            msg.contains("SignatureDoesNotMatch") && msg.contains("clock"),
            "{msg}"
        );
        assert!(msg.contains("secret key"), "{msg}");
        assert!(refused(403, "RequestTimeTooSkewed").contains("clock is off"));
        assert!(refused(401, "Unauthorized").contains("access key"));
        assert!(refused(400, "AuthorizationHeaderMalformed").contains("s3_region"));

        for status in [500, 502, 503, 429, 408] {
            let e = host.status_error(
                Op::Put,
                "postbooth/x.jpg",
                StatusCode::from_u16(status).unwrap(),
                &body("SlowDown"),
            );
            assert!(matches!(e, MediaError::Transient(_)), "{status}: {e:?}");
        }
    }

    #[tokio::test]
    async fn unreachable_endpoint_is_transient_and_hides_the_url() {
        let tmp = tempfile::tempdir().unwrap();
        let (key, path, _) = jpeg_like(tmp.path(), "a.jpg", 2000, 3);
        // A port that was free a moment ago: connection refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let settings = S3Settings {
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket: BUCKET.into(),
            region: "us-east-1".into(),
            access_key: ACCESS.into(),
            secret_key: SECRET.into(),
            url_expiry: Duration::from_secs(600),
            path_style: true,
        };
        let host = S3Host::new(settings, reqwest::Client::new()).unwrap();
        for r in [host.stage(&key, &path).await, host.unstage(&key).await] {
            match r {
                Err(MediaError::Transient(msg)) => assert_no_secret(&msg),
                other => panic!("expected Transient, got {other:?}"),
            }
        }
    }

    #[test]
    fn bad_settings_are_refused_and_debug_hides_the_secret() {
        let ok = S3Settings {
            endpoint: "https://s3.example.com".into(),
            bucket: "b".into(),
            region: "eu-west-1".into(),
            access_key: ACCESS.into(),
            secret_key: SECRET.into(),
            url_expiry: Duration::from_secs(600),
            path_style: false,
        };
        let host = S3Host::new(ok.clone(), reqwest::Client::new()).unwrap();
        assert_no_secret(&format!("{ok:?} {host:?}"));

        let bad = |f: fn(&mut S3Settings)| {
            let mut s = ok.clone();
            f(&mut s);
            S3Host::new(s, reqwest::Client::new()).err()
        };
        assert!(matches!(
            bad(|s| s.endpoint = "not a url".into()),
            Some(MediaError::Refused(_))
        ));
        assert!(matches!(
            bad(|s| s.endpoint = "ftp://x".into()),
            Some(MediaError::Refused(_))
        ));
        assert!(matches!(
            bad(|s| s.bucket.clear()),
            Some(MediaError::Refused(_))
        ));
        assert!(matches!(
            bad(|s| s.secret_key.clear()),
            Some(MediaError::Refused(_))
        ));
        assert!(matches!(
            bad(|s| s.url_expiry = Duration::from_secs(8 * 24 * 3600)),
            Some(MediaError::Refused(_))
        ));
    }

    #[tokio::test]
    async fn urls_follow_path_style_and_endpoint_prefix() {
        let mut s = S3Settings {
            endpoint: "https://store.example/s3".into(),
            bucket: "b".into(),
            region: "auto".into(),
            access_key: ACCESS.into(),
            secret_key: SECRET.into(),
            url_expiry: Duration::from_secs(600),
            path_style: true,
        };
        let key = "a".repeat(64);
        let host = S3Host::new(s.clone(), reqwest::Client::new()).unwrap();
        let url = host.public_url(&key).await.unwrap();
        assert!(
            url.starts_with(&format!("https://store.example/s3/b/postbooth/{key}.jpg?")),
            "{url}"
        );
        s.path_style = false;
        s.endpoint = "https://store.example".into();
        let host = S3Host::new(s, reqwest::Client::new()).unwrap();
        let url = host.public_url(&key).await.unwrap();
        assert!(
            url.starts_with(&format!("https://b.store.example/postbooth/{key}.jpg?")),
            "{url}"
        );
        assert!(url.contains("X-Amz-Expires=600"), "{url}");
        assert!(matches!(
            host.public_url("../x").await,
            Err(MediaError::Refused(_))
        ));
    }

    #[test]
    fn error_code_extraction() {
        let body =
            "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>x</Message></Error>";
        assert_eq!(s3_error_code(body), Some("NoSuchKey"));
        assert_eq!(s3_error_code(""), None);
        assert_eq!(s3_error_code("<Code></Code>"), None);
    }
}
