//! Queue commands shared by the control socket (daemon running) and the CLI (daemon stopped).

use crate::job::JobState;
use crate::store::{NewFile, Store, StoreError};
use uuid::Uuid;

/// Retries one job, or every failed one. Returns how many were restarted.
pub fn retry(store: &Store, id: Option<Uuid>, all_failed: bool) -> Result<usize, StoreError> {
    if let Some(id) = id {
        return Ok(usize::from(store.retry(id)?));
    }
    let mut n = 0;
    if all_failed {
        for job in store.jobs()? {
            if matches!(job.state, JobState::Failed { .. }) && store.retry(job.id)? {
                n += 1;
            }
        }
    }
    Ok(n)
}

/// The 9:16 Story copy of a saved job's (first) photo, read back from the store.
fn story_copy(
    store: &Store,
    job: &crate::job::Job,
    quality: u8,
) -> anyhow::Result<crate::pipeline::encode::CompliantJpeg> {
    use anyhow::Context;
    let path = store.photo_path(job);
    let bytes =
        std::fs::read(&path).with_context(|| format!("reading the photo {}", path.display()))?;
    Ok(crate::pipeline::variants::story(&bytes, quality)?)
}

/// `postbooth queue story ID`: posts a saved photo to Stories too, as its own job (for booths
/// that pick which photos go to Stories instead of setting `instagram.also_story`).
pub fn add_story(store: &Store, id: Uuid, quality: u8) -> anyhow::Result<crate::job::Job> {
    let photo = store.get(id)?;
    // A Story of a photo nobody allowed to be posted would post it after all.
    if photo.state.is_unapproved() {
        anyhow::bail!(
            "job {id} is {}: only a photo allowed to be posted can go to Stories (`queue approve {id}` first)",
            photo.state.name()
        );
    }
    let story = story_copy(store, &photo, quality)?;
    let job = store.add_story_of(id, NewFile::jpeg(&story.bytes, story.width, story.height))?;
    tracing::info!(job = %job.id, photo = %id, "story of a chosen photo queued");
    Ok(job)
}

/// Quota policy `story`: turns each waiting photo into a Story of itself (see
/// [`Store::turn_into_story`]). One result per id: one photo that cannot be turned does not
/// stop the others.
pub fn turn_into_stories(
    store: &Store,
    ids: &[Uuid],
    quality: u8,
) -> Vec<(Uuid, anyhow::Result<crate::job::Job>)> {
    ids.iter()
        .map(|&id| {
            let result = (|| {
                let photo = store.get(id)?;
                let story = story_copy(store, &photo, quality)?;
                Ok(store
                    .turn_into_story(id, NewFile::jpeg(&story.bytes, story.width, story.height))?)
            })();
            (id, result)
        })
        .collect()
}

/// `postbooth post --video FILE`: checks the MP4 and queues it as a Reel. The caption is the
/// given one or the configured template; both are checked like photo captions.
pub fn post_video(
    store: &Store,
    config: &crate::config::InstagramConfig,
    path: &std::path::Path,
    caption: Option<String>,
) -> anyhow::Result<crate::job::Job> {
    use crate::publish::caption;
    use anyhow::Context;
    if url::Url::parse(&config.graph_url).is_ok_and(|u| u.host_str() == Some("graph.instagram.com"))
    {
        anyhow::bail!(
            "Reels go through Instagram's resumable upload, which needs Facebook Login: set \
             instagram.graph_url to https://graph.facebook.com/v21.0 with a Page-linked token"
        );
    }
    let info = crate::video::check(path).with_context(|| format!("{}", path.display()))?;
    let n = store.jobs()?.len() as u64 + 1;
    let values = crate::shoot::caption_values(n, &config.event, &config.location);
    let caption = caption.unwrap_or_else(|| caption::render(&config.caption, &values));
    caption::validate(&caption).map_err(|problem| anyhow::anyhow!("--caption {problem}"))?;
    let first_comment =
        (!config.first_comment.is_empty()).then(|| caption::render(&config.first_comment, &values));
    if let Some(text) = &first_comment {
        caption::validate(text)
            .map_err(|problem| anyhow::anyhow!("instagram.first_comment {problem}"))?;
    }
    let job = store.save_video(path, caption, first_comment)?;
    tracing::info!(job = %job.id, bytes = info.bytes, secs = info.duration_secs, codecs = ?info.codecs, "video queued as a Reel");
    Ok(job)
}

/// `queue approve` / `queue reject`: the job as the decision left it, or why it was refused.
pub fn review(store: &Store, id: Uuid, decision: crate::job::Decision) -> crate::control::Response {
    match crate::review::decide(store, id, decision) {
        Ok(decided) => crate::control::Response::jobs(vec![decided.job]),
        Err(e) => crate::control::Response::error(e),
    }
}

/// How long a command waits for a booth that holds its store but does not answer yet (it is
/// starting: opening, perhaps repairing, its store), or for another command to finish.
pub const COMMAND_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Answers a queue request: through the running booth's control socket when it answers,
/// else by opening the store here. The store lock decides between the two: while another
/// process holds it (a booth starting, another command) this waits, up to [`COMMAND_WAIT`],
/// for the socket to answer or the lock to be free; it never opens the store behind a
/// starting booth's back.
pub async fn ask(
    config: &crate::config::Config,
    request: crate::control::Request,
) -> anyhow::Result<crate::control::Response> {
    use crate::control::Request;
    let socket = crate::store::control_socket_path(&config.store.dir);
    let start = std::time::Instant::now();
    loop {
        match crate::control::call(&socket, &request).await {
            Ok(Some(response)) => return Ok(response),
            Ok(None) => {}
            // The booth took the request and then went away (stopped, killed): sending it
            // again could apply it twice, so only a list is asked again.
            Err(e) if !matches!(request, Request::List) => {
                return Err(anyhow::anyhow!(
                    "the booth at {} stopped answering during the request ({e}); check                      `postbooth queue list` before trying again",
                    socket.display()
                ))
            }
            Err(_) => {}
        }
        let answer = offline(config, request.clone()).await;
        let in_use = answer.as_ref().is_err_and(|e| {
            matches!(
                e.downcast_ref::<StoreError>(),
                Some(StoreError::InUse { .. })
            )
        });
        if !in_use {
            return answer;
        }
        if start.elapsed() >= COMMAND_WAIT {
            return answer.map_err(|e| {
                e.context(format!(
                    "waited {} s and the booth's control socket {} does not answer",
                    COMMAND_WAIT.as_secs(),
                    socket.display()
                ))
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Answers a queue request by opening the store here, if no other process holds it (else
/// [`StoreError::InUse`]; [`ask`] waits and tries again). A list only reads: it repairs
/// nothing, and an empty answer stands for a store not made yet.
pub async fn offline(
    config: &crate::config::Config,
    request: crate::control::Request,
) -> anyhow::Result<crate::control::Response> {
    use crate::control::{Request, Response};
    use crate::store::OpenOptions;
    let store_cfg = config.store.clone();
    let caption = config.instagram.caption.clone();
    let config = config.clone();
    tokio::task::spawn_blocking(move || {
        if matches!(request, Request::List) {
            return match Store::open_with(&store_cfg, &caption, OpenOptions::read_only()) {
                Ok((store, _)) => Ok(Response::jobs(store.jobs()?)),
                Err(StoreError::NoStore(_)) => Ok(Response::jobs(Vec::new())),
                Err(e) => Err(e.into()),
            };
        }
        let (store, _) = Store::open(&store_cfg, &caption)?;
        Ok(match request {
            Request::List => Response::jobs(store.jobs()?),
            Request::Retry { id, all_failed } => Response::count(retry(&store, id, all_failed)?),
            Request::Drop { id } => Response::jobs(vec![store.drop_job(id)?]),
            Request::Story { id } => match add_story(&store, id, config.image.quality) {
                Ok(job) => Response::jobs(vec![job]),
                Err(e) => Response::error(format!("{e:#}")),
            },
            Request::Approve { id } => review(&store, id, crate::job::Decision::Approve),
            Request::Reject { id } => review(&store, id, crate::job::Decision::Reject),
            Request::Shoot | Request::ReloadToken => Response::error("the booth is not running"),
            Request::PostVideo { path, caption } => {
                match post_video(&store, &config.instagram, &path, caption) {
                    Ok(job) => Response::jobs(vec![job]),
                    Err(e) => Response::error(format!("{e:#}")),
                }
            }
        })
    })
    .await?
}
