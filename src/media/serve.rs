//! `media.host = "serve"`: the daemon publishes staged photos itself, for booths reachable
//! through a tunnel or reverse proxy at `media.public_base_url`.

use super::{is_valid_key, MediaError, MediaHost};
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::future::BoxFuture;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::oneshot;

/// Serves `GET|HEAD /<sha256>.jpg` from a directory of staged photos.
///
/// Dropping it stops accepting connections; requests already in flight finish.
pub struct ServeHost {
    public_dir: PathBuf,
    public_base_url: String,
    local_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

impl ServeHost {
    /// Binds `listen` and serves GET /<key>.jpg from `public_dir`; URLs are
    /// `<public_base_url>/<key>.jpg`.
    pub async fn start(
        listen: SocketAddr,
        public_dir: PathBuf,
        public_base_url: String,
    ) -> io::Result<ServeHost> {
        tokio::fs::create_dir_all(&public_dir).await.map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot create media directory {}: {e}",
                    public_dir.display()
                ),
            )
        })?;
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot listen on {listen} for the photo server: {e}; \
                     is another program (or another postbooth) using that port? \
                     Change media.listen in the config to a free address"
                ),
            )
        })?;
        let local_addr = listener.local_addr()?;

        let app = Router::new()
            .route("/{name}", get(serve_photo))
            .with_state(Arc::new(public_dir.clone()));
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async move {
                // Either an explicit send or the sender being dropped means stop.
                let _ = rx.await;
            });
            if let Err(e) = server.await {
                tracing::error!(error = %e, "photo server stopped");
            }
        });
        tracing::info!(%local_addr, dir = %public_dir.display(), "photo server listening");

        Ok(ServeHost {
            public_dir,
            public_base_url: public_base_url.trim_end_matches('/').to_string(),
            local_addr,
            shutdown: Some(tx),
        })
    }

    /// The bound address; differs from `listen` when it asked for port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    fn file_for(&self, key: &str) -> Result<PathBuf, MediaError> {
        check_key(key)?;
        Ok(self.public_dir.join(format!("{key}.jpg")))
    }
}

impl Drop for ServeHost {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn sync_dir(dir: &Path) -> Result<(), MediaError> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || crate::store::durable::sync_dir(&dir))
        .await
        .map_err(io::Error::other)??;
    Ok(())
}

/// Does the file at `path` hash to `key`? (Photos are a few MB: read whole.)
async fn matches_key(path: &Path, key: &str) -> io::Result<bool> {
    use sha2::{Digest, Sha256};
    match tokio::fs::read(path).await {
        Ok(bytes) => Ok(hex::encode(Sha256::digest(&bytes)) == key),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn check_key(key: &str) -> Result<(), MediaError> {
    if is_valid_key(key) {
        Ok(())
    } else {
        // A caller bug, not a network problem: retrying would not help.
        Err(MediaError::Refused(format!(
            "not a sha256 hex key: {key:?} (expected 64 lowercase hex digits)"
        )))
    }
}

impl MediaHost for ServeHost {
    fn stage<'a>(&'a self, key: &'a str, path: &'a Path) -> BoxFuture<'a, Result<(), MediaError>> {
        Box::pin(async move {
            let dest = self.file_for(key)?;
            if tokio::fs::try_exists(&dest).await? {
                // The name is the content hash, so an existing copy should have these bytes;
                // but staged copies are never fsync'd, and a power cut can leave one torn or
                // empty under its final name (the power-cut test found it being posted).
                // Check, and stage again if it does not match.
                if matches_key(&dest, key).await? {
                    return Ok(());
                }
                tracing::warn!(file = %dest.display(), "a staged copy does not match its sha256 (torn by a power cut?): staging it again");
                match tokio::fs::remove_file(&dest).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(MediaError::Io(e)),
                }
            }
            // The job records `Staged` next, and after a power cut it goes straight on to a
            // container: so the staged copy must be durable by then (the power-cut test saw a
            // torn copy rejected by Instagram and the job failed). Hence the fsyncs below.
            match tokio::fs::hard_link(path, &dest).await {
                Ok(()) => sync_dir(&self.public_dir).await,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                Err(link_err) => {
                    // Typically the blob store is on another filesystem; copying costs disk
                    // space but works everywhere. Copy to a temp name and rename so the server
                    // never hands out a half-written photo.
                    tracing::debug!(error = %link_err, "hard link failed, copying instead");
                    // Unique per call: two stages of one key must not write the same temp file.
                    static NEXT: AtomicU64 = AtomicU64::new(0);
                    let n = NEXT.fetch_add(1, Ordering::Relaxed);
                    let tmp = self
                        .public_dir
                        .join(format!(".{key}.{}.{n}.tmp", std::process::id()));
                    if let Err(e) = tokio::fs::copy(path, &tmp).await {
                        let _ = tokio::fs::remove_file(&tmp).await;
                        return Err(MediaError::Io(io::Error::new(
                            e.kind(),
                            format!(
                                "cannot stage {} into {}: {e}",
                                path.display(),
                                self.public_dir.display()
                            ),
                        )));
                    }
                    tokio::fs::File::open(&tmp).await?.sync_all().await?;
                    tokio::fs::rename(&tmp, &dest).await?;
                    sync_dir(&self.public_dir).await
                }
            }
        })
    }

    fn public_url<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<String, MediaError>> {
        Box::pin(async move {
            check_key(key)?;
            Ok(format!("{}/{key}.jpg", self.public_base_url))
        })
    }

    fn unstage<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), MediaError>> {
        Box::pin(async move {
            let dest = self.file_for(key)?;
            match tokio::fs::remove_file(&dest).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(MediaError::Io(e)),
            }
        })
    }
}

async fn serve_photo(
    State(dir): State<Arc<PathBuf>>,
    method: Method,
    UrlPath(name): UrlPath<String>,
) -> Response {
    // Only names we could have written are served; this alone rules out path traversal,
    // whatever decoding the router did.
    let Some(key) = name.strip_suffix(".jpg").filter(|k| is_valid_key(k)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let file = dir.join(format!("{key}.jpg"));
    let head = method == Method::HEAD;
    let result = tokio::task::spawn_blocking(move || read_staged(&file, head))
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
        .map(|(len, bytes)| (len, bytes.map_or_else(Body::empty, Body::from)));
    match result {
        Ok((len, body)) => (
            [
                (header::CONTENT_TYPE, "image/jpeg".to_string()),
                (header::CONTENT_LENGTH, len.to_string()),
            ],
            body,
        )
            .into_response(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::warn!(error = %e, %key, "cannot read staged photo");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A staged photo's length and (unless `head_only`) bytes. Only a regular file is served: a
/// symlink planted in the public directory is not followed (O_NOFOLLOW), so it cannot hand
/// out the token file or anything else outside the staged photos.
fn read_staged(file: &Path, head_only: bool) -> io::Result<(u64, Option<Vec<u8>>)> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(file)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                io::Error::new(io::ErrorKind::NotFound, "a symlink, not a staged photo")
            } else {
                e
            }
        })?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "not a regular file, not a staged photo",
        ));
    }
    if head_only {
        return Ok((meta.len(), None));
    }
    // Photos are a few MB at most, so reading whole is simpler than streaming.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    f.read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64, Some(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn photo(dir: &Path, seed: u8) -> (String, PathBuf, Vec<u8>) {
        let bytes: Vec<u8> = [0xFF, 0xD8, 0xFF, 0xE0]
            .into_iter()
            .chain((0..5000u32).map(|i| (i as u8).wrapping_mul(seed)))
            .chain([0xFF, 0xD9])
            .collect();
        let key = hex::encode(Sha256::digest(&bytes));
        let path = dir.join(format!("blob-{seed}"));
        std::fs::write(&path, &bytes).unwrap();
        (key, path, bytes)
    }

    async fn host(tmp: &Path, base: &str) -> ServeHost {
        ServeHost::start(
            "127.0.0.1:0".parse().unwrap(),
            tmp.join("public"),
            base.to_string(),
        )
        .await
        .unwrap()
    }

    /// Sends a request line verbatim: HTTP clients normalise `..` away, which would hide
    /// exactly the traversal attempts this server must refuse.
    async fn raw_status(addr: SocketAddr, target: &str) -> u16 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        let head = String::from_utf8_lossy(&out[..out.len().min(64)]).into_owned();
        head.split(' ').nth(1).unwrap().parse().unwrap()
    }

    #[tokio::test]
    async fn staged_photo_is_served_with_same_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let (key, path, bytes) = photo(tmp.path(), 3);
        let h = host(tmp.path(), "http://placeholder").await;
        h.stage(&key, &path).await.unwrap();
        // Staging is idempotent.
        h.stage(&key, &path).await.unwrap();

        let url = format!("http://{}/{key}.jpg", h.local_addr());
        let resp = reqwest::get(&url).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "image/jpeg");
        assert_eq!(
            resp.headers()["content-length"],
            bytes.len().to_string().as_str()
        );
        assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes.as_slice());

        let head = reqwest::Client::new().head(&url).send().await.unwrap();
        assert_eq!(head.status(), 200);
        assert_eq!(head.headers()["content-type"], "image/jpeg");
        assert_eq!(
            head.headers()["content-length"],
            bytes.len().to_string().as_str()
        );
    }

    #[tokio::test]
    async fn symlinks_and_absolute_paths_are_not_served() {
        let tmp = tempfile::tempdir().unwrap();
        let h = host(tmp.path(), "http://placeholder").await;
        let addr = h.local_addr();
        let secret = tmp.path().join("token");
        std::fs::write(&secret, "secret-token").unwrap();
        // A symlink with a valid staged name, pointing at a secret.
        let key = "a".repeat(64);
        std::os::unix::fs::symlink(&secret, tmp.path().join(format!("public/{key}.jpg"))).unwrap();
        assert_eq!(raw_status(addr, &format!("/{key}.jpg")).await, 404);
        // A directory with a staged name.
        let dir_key = "b".repeat(64);
        std::fs::create_dir(tmp.path().join(format!("public/{dir_key}.jpg"))).unwrap();
        assert_eq!(raw_status(addr, &format!("/{dir_key}.jpg")).await, 404);
        let abs = secret.display().to_string();
        assert_eq!(raw_status(addr, &abs).await, 404);
        assert_eq!(raw_status(addr, &format!("/{abs}")).await, 404);
        assert_eq!(raw_status(addr, "/%2fetc%2fpasswd").await, 404);
        assert_eq!(raw_status(addr, "/%2e%2e/%2e%2e/etc/passwd").await, 404);
        assert_eq!(raw_status(addr, "/..%2f..%2fetc%2fpasswd").await, 404);
        assert_eq!(raw_status(addr, "/.%2e/token").await, 404);
    }

    #[tokio::test]
    async fn a_torn_staged_copy_is_staged_again() {
        // A power cut can leave an unsynced copy empty or torn under its final name.
        let tmp = tempfile::tempdir().unwrap();
        let (key, path, bytes) = photo(tmp.path(), 5);
        let h = host(tmp.path(), "http://placeholder").await;
        let staged = tmp.path().join("public").join(format!("{key}.jpg"));
        std::fs::write(&staged, &bytes[..bytes.len() / 2]).unwrap();
        h.stage(&key, &path).await.unwrap();
        assert!(
            std::fs::read(&staged).unwrap() == bytes,
            "torn copy replaced"
        );
        // (The staged copy may be a hard link to the photo: replace it, do not truncate it.)
        std::fs::remove_file(&staged).unwrap();
        std::fs::write(&staged, b"").unwrap();
        h.stage(&key, &path).await.unwrap();
        assert!(
            std::fs::read(&staged).unwrap() == bytes,
            "empty copy replaced"
        );
    }

    #[tokio::test]
    async fn staging_across_filesystems_copies() {
        // /dev/shm is tmpfs on Linux, so linking from there into a disk-backed dir fails with
        // EXDEV and exercises the copy path; elsewhere this still checks staging works.
        let shm = Path::new("/dev/shm");
        let src_dir = if shm.is_dir() {
            tempfile::tempdir_in(shm).unwrap()
        } else {
            tempfile::tempdir().unwrap()
        };
        let tmp = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let (key, path, bytes) = photo(src_dir.path(), 11);
        let h = host(tmp.path(), "http://x").await;
        h.stage(&key, &path).await.unwrap();
        h.stage(&key, &path).await.unwrap();
        let staged = tmp.path().join("public").join(format!("{key}.jpg"));
        assert_eq!(std::fs::read(&staged).unwrap(), bytes);
        if shm.is_dir() {
            use std::os::unix::fs::MetadataExt;
            // One link means it was copied, so the fallback really ran.
            assert_eq!(std::fs::metadata(&staged).unwrap().nlink(), 1);
        }
        // No temp files left behind.
        assert_eq!(
            std::fs::read_dir(tmp.path().join("public"))
                .unwrap()
                .count(),
            1
        );
        let resp = reqwest::get(format!("http://{}/{key}.jpg", h.local_addr()))
            .await
            .unwrap();
        assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes.as_slice());
    }

    #[tokio::test]
    async fn public_url_joins_base_with_or_without_slash() {
        let tmp = tempfile::tempdir().unwrap();
        let (key, _, _) = photo(tmp.path(), 1);
        for base in [
            "https://booth.example/photos",
            "https://booth.example/photos/",
        ] {
            let h = host(tmp.path(), base).await;
            assert_eq!(
                h.public_url(&key).await.unwrap(),
                format!("https://booth.example/photos/{key}.jpg")
            );
        }
    }

    #[tokio::test]
    async fn unknown_bad_and_traversal_names_are_404() {
        let tmp = tempfile::tempdir().unwrap();
        let (key, path, _) = photo(tmp.path(), 5);
        let h = host(tmp.path(), "http://x").await;
        h.stage(&key, &path).await.unwrap();
        // A file outside the public dir that traversal would reach.
        std::fs::write(tmp.path().join("secret.jpg"), b"secret").unwrap();
        let addr = h.local_addr();

        let unknown = "0".repeat(64);
        assert_eq!(raw_status(addr, &format!("/{unknown}.jpg")).await, 404);
        assert_eq!(
            raw_status(addr, &format!("/{}.jpg", key.to_uppercase())).await,
            404
        );
        assert_eq!(raw_status(addr, &format!("/{key}")).await, 404);
        assert_eq!(raw_status(addr, &format!("/{key}.jpg/")).await, 404);
        assert_eq!(raw_status(addr, "/../secret.jpg").await, 404);
        assert_eq!(raw_status(addr, "/..%2fsecret.jpg").await, 404);
        assert_eq!(raw_status(addr, "/%2e%2e%2fsecret.jpg").await, 404);
        assert_eq!(raw_status(addr, &format!("/x/../{key}.jpg")).await, 404);
        assert_eq!(raw_status(addr, "/").await, 404);
        // Sanity: the staged one is reachable the same way.
        assert_eq!(raw_status(addr, &format!("/{key}.jpg")).await, 200);
    }

    #[tokio::test]
    async fn unstaged_photo_is_404_and_unstage_is_idempotent() {
        let tmp = tempfile::tempdir().unwrap();
        let (key, path, _) = photo(tmp.path(), 7);
        let h = host(tmp.path(), "http://x").await;
        h.stage(&key, &path).await.unwrap();
        h.unstage(&key).await.unwrap();
        h.unstage(&key).await.unwrap();
        let resp = reqwest::get(format!("http://{}/{key}.jpg", h.local_addr()))
            .await
            .unwrap();
        assert_eq!(resp.status(), 404);
        // The blob itself must survive: unstaging only removes the public link.
        assert!(path.exists());
    }

    #[tokio::test]
    async fn bad_keys_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let (_, path, _) = photo(tmp.path(), 9);
        let h = host(tmp.path(), "http://x").await;
        for key in ["../../etc/passwd", "", &"A".repeat(64)] {
            assert!(matches!(
                h.stage(key, &path).await,
                Err(MediaError::Refused(_))
            ));
            assert!(matches!(
                h.public_url(key).await,
                Err(MediaError::Refused(_))
            ));
        }
    }

    #[tokio::test]
    async fn missing_source_is_an_io_error() {
        let tmp = tempfile::tempdir().unwrap();
        let h = host(tmp.path(), "http://x").await;
        let r = h.stage(&"a".repeat(64), &tmp.path().join("nope")).await;
        assert!(matches!(r, Err(MediaError::Io(_))), "{r:?}");
    }

    #[tokio::test]
    async fn port_in_use_names_address_and_setting() {
        let tmp = tempfile::tempdir().unwrap();
        let h = host(tmp.path(), "http://x").await;
        let err = ServeHost::start(h.local_addr(), tmp.path().join("p2"), "http://x".into())
            .await
            .err()
            .expect("second bind on the same port must fail");
        let msg = err.to_string();
        assert!(msg.contains(&h.local_addr().to_string()), "{msg}");
        assert!(msg.contains("media.listen"), "{msg}");
    }
}
