//! Everything the simulated account remembers, with no I/O: containers, media, the publishing
//! quota, tokens and counters. Every method takes `now`, so tests can walk time forward.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use time::OffsetDateTime;

use super::error::GraphError;
use super::SimOptions;

pub const CAPTION_MAX_CHARS: usize = 2200;
pub const CONTAINERS_PER_DAY: usize = 400;
const DAY: Duration = Duration::from_secs(24 * 60 * 60);
const HOUR: Duration = Duration::from_secs(60 * 60);
/// A long-lived token's validity, and the age before Instagram lets it be refreshed.
pub const TOKEN_TTL: Duration = Duration::from_secs(60 * 24 * 60 * 60);
pub const TOKEN_MIN_AGE_FOR_REFRESH: Duration = DAY;

// Separate numeric ranges keep container ids and media ids apart while both look like Graph ids.
const FIRST_CONTAINER_ID: u64 = 17_900_000_000_000_001;
const FIRST_MEDIA_ID: u64 = 18_000_000_000_000_001;
const FIRST_COMMENT_ID: u64 = 17_850_000_000_000_001;
/// The simulated account's username (comments it writes carry it).
pub const ACCOUNT_USERNAME: &str = "postbooth_sim";

/// A comment on a post (or a reply to one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimComment {
    pub id: String,
    pub media_id: String,
    pub parent_id: Option<String>,
    pub username: String,
    pub text: String,
    pub hidden: bool,
    pub timestamp: String,
}

/// What the insights endpoints report for one post; tests set them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimMetrics {
    pub likes: u64,
    pub saved: u64,
    pub reach: u64,
    pub views: u64,
}

/// A published post, as the simulator recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimMedia {
    pub id: String,
    pub container_id: String,
    /// `IMAGE`, `CAROUSEL_ALBUM` or `VIDEO`.
    pub media_type: &'static str,
    /// `FEED`, `STORY` or `REELS`.
    pub product_type: &'static str,
    /// sha256 and size of each image (one, or each carousel child in order).
    pub images: Vec<SimImage>,
    pub caption: String,
    pub permalink: String,
    /// sha256 (hex) of the JPEG the simulator fetched from `image_url`.
    pub image_sha256: String,
    /// ISO 8601 as the Graph API writes it: `2026-11-27T11:00:00+0000`.
    pub timestamp: String,
}

/// One image the simulator fetched: what it was and how big.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimImage {
    pub sha256: String,
    pub width: u32,
    pub height: u32,
}

/// What a container will become.
#[derive(Clone, Debug)]
pub enum ContainerKind {
    Image(SimImage),
    /// `is_carousel_item=true`: only publishable through a carousel.
    CarouselItem(SimImage),
    Carousel {
        children: Vec<u64>,
    },
    Story(SimImage),
    /// `media_type=REELS&upload_type=resumable`: the bytes arrive at the upload host.
    Reel(Upload),
}

/// A resumable upload in progress: only the running hash and the first bytes are kept.
#[derive(Clone, Debug)]
pub struct Upload {
    pub file_size: Option<u64>,
    pub transferred: u64,
    head: Vec<u8>,
    hasher: sha2::Sha256,
    /// sha256 of the whole file once every byte is in.
    pub sha256: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerStatus {
    InProgress,
    Finished,
    Published,
    Expired,
}

impl ContainerStatus {
    pub fn code(self) -> &'static str {
        match self {
            ContainerStatus::InProgress => "IN_PROGRESS",
            ContainerStatus::Finished => "FINISHED",
            ContainerStatus::Published => "PUBLISHED",
            ContainerStatus::Expired => "EXPIRED",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            ContainerStatus::InProgress => "In Progress: Media is still being processed.",
            ContainerStatus::Finished => {
                "Finished: Media has been uploaded and it is ready to be published."
            }
            ContainerStatus::Published => "Published: Media has been published.",
            ContainerStatus::Expired => {
                "Expired: Media was not published within 24 hours and has expired."
            }
        }
    }
}

impl Upload {
    fn new() -> Self {
        use sha2::Digest;
        Upload {
            file_size: None,
            transferred: 0,
            head: Vec::new(),
            hasher: sha2::Sha256::new(),
            sha256: None,
        }
    }
}

/// Why the upload host refused a request: its `debug_info` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadRefusal {
    pub retriable: bool,
    pub kind: &'static str,
    pub message: String,
}

impl UploadRefusal {
    fn fatal(message: String) -> Self {
        Self {
            retriable: false,
            kind: "ProcessingFailedError",
            message,
        }
    }
    fn retriable(message: String) -> Self {
        Self {
            retriable: true,
            kind: "OffsetMismatch",
            message,
        }
    }
    fn done() -> Self {
        Self::fatal("the upload is already complete".to_string())
    }
}

/// What a Graph node id refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    User,
    Container,
    Media,
    Comment,
    Unknown,
}

#[derive(Clone, Debug)]
struct Container {
    kind: ContainerKind,
    caption: String,
    created_at: OffsetDateTime,
    status_polls: u32,
    force_expired: bool,
    published_as: Option<u64>,
}

#[derive(Debug)]
pub struct SimState {
    /// The account as the simulator was started (the token changes on refresh).
    config: SimOptions,
    /// Added to the real clock: tests walk the simulated account through days in a second.
    clock_offset: Duration,
    /// When `config.token` was issued.
    token_issued_at: OffsetDateTime,
    /// Earlier tokens that a refresh replaced; they stay valid until they expire.
    older_tokens: Vec<(String, OffsetDateTime)>,
    refreshes: u32,
    revoked_tokens: Vec<String>,
    comments: Vec<SimComment>,
    next_comment: u64,
    metrics: BTreeMap<String, SimMetrics>,
    containers: BTreeMap<u64, Container>,
    media: Vec<(u64, SimMedia)>,
    next_container: u64,
    next_media: u64,
    container_times: VecDeque<OffsetDateTime>,
    publish_times: VecDeque<OffsetDateTime>,
    call_times: VecDeque<OffsetDateTime>,
    publishes_by_image: BTreeMap<String, u32>,
    calls: BTreeMap<String, u64>,
    /// Publishes refused because the quota was used up: a booth that reads its quota first
    /// should cause none.
    quota_refusals: u64,
    faults: BTreeMap<String, u64>,
    refuse_comments: bool,
    /// Reported in the usage headers instead of the computed percentage, when set.
    forced_usage: Option<u32>,
    /// File offsets at which the upload host cuts the connection (each once).
    upload_cuts: std::collections::BTreeSet<u64>,
    /// Body bytes the upload host read off the network, over every request.
    upload_bytes_received: u64,
    /// Body bytes clients announced (Content-Length), over every request: what they sent.
    upload_bytes_offered: u64,
}

impl SimState {
    pub fn new(config: SimOptions) -> Self {
        let token_issued_at = wall_now(&config.clock) - config.token_age;
        SimState {
            config,
            clock_offset: Duration::ZERO,
            token_issued_at,
            older_tokens: Vec::new(),
            refreshes: 0,
            revoked_tokens: Vec::new(),
            comments: Vec::new(),
            next_comment: FIRST_COMMENT_ID,
            metrics: BTreeMap::new(),
            containers: BTreeMap::new(),
            media: Vec::new(),
            next_container: FIRST_CONTAINER_ID,
            next_media: FIRST_MEDIA_ID,
            container_times: VecDeque::new(),
            publish_times: VecDeque::new(),
            call_times: VecDeque::new(),
            publishes_by_image: BTreeMap::new(),
            calls: BTreeMap::new(),
            quota_refusals: 0,
            faults: BTreeMap::new(),
            refuse_comments: false,
            forced_usage: None,
            upload_cuts: Default::default(),
            upload_bytes_received: 0,
            upload_bytes_offered: 0,
        }
    }

    pub fn user_id(&self) -> &str {
        &self.config.user_id
    }

    pub fn quota_total(&self) -> u32 {
        self.config.quota_total
    }

    // --- the clock ---

    /// The simulated account's "now": its clock plus what tests advanced it by.
    pub fn now(&self) -> OffsetDateTime {
        wall_now(&self.config.clock) + self.clock_offset
    }

    pub fn advance_clock(&mut self, by: Duration) {
        self.clock_offset += by;
    }

    // --- tokens ---

    /// When `token` was issued, if it is one this account handed out and did not revoke.
    fn issued_at(&self, token: &str) -> Option<OffsetDateTime> {
        if token == self.config.token {
            return Some(self.token_issued_at);
        }
        self.older_tokens
            .iter()
            .find(|(t, _)| t == token)
            .map(|(_, at)| *at)
    }

    pub fn check_token(&self, bearer: Option<&str>, now: OffsetDateTime) -> Result<(), GraphError> {
        let Some(t) = bearer else {
            return Err(GraphError::invalid_token());
        };
        if let Some(issued) = self.issued_at(t) {
            if now - issued >= TOKEN_TTL {
                return Err(GraphError::expired_token());
            }
            return Ok(());
        }
        if self.revoked_tokens.iter().any(|r| r == t) {
            Err(GraphError::revoked_token())
        } else {
            Err(GraphError::invalid_token())
        }
    }

    /// The operator's token is revoked and `token` is now the only valid one (issued now).
    pub fn set_token(&mut self, token: &str) {
        if token != self.config.token {
            let old = std::mem::replace(&mut self.config.token, token.to_string());
            self.revoked_tokens.push(old);
            self.revoked_tokens
                .extend(self.older_tokens.drain(..).map(|(t, _)| t));
            self.token_issued_at = self.now();
        }
    }

    /// `refresh_access_token` / `fb_exchange_token`: a new 60-day token for a valid one that
    /// is at least a day old (Instagram's rule; applied to both for simplicity).
    pub fn refresh_token(
        &mut self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<String, GraphError> {
        self.check_token(Some(token), now)?;
        let issued = self.issued_at(token).unwrap_or(now);
        if now - issued < TOKEN_MIN_AGE_FOR_REFRESH {
            return Err(GraphError::token_too_young());
        }
        self.refreshes += 1;
        let new = format!("{}-refreshed-{}", self.config.token, self.refreshes);
        let old = std::mem::replace(&mut self.config.token, new.clone());
        self.older_tokens.push((old, self.token_issued_at));
        self.token_issued_at = now;
        Ok(new)
    }

    pub fn current_token(&self) -> &str {
        &self.config.token
    }

    pub fn check_app(&self, client_id: &str, client_secret: &str) -> Result<(), GraphError> {
        if client_id == self.config.app_id && client_secret == self.config.app_secret {
            Ok(())
        } else {
            Err(GraphError::bad_app_credentials())
        }
    }

    // --- comments and insights ---

    /// Someone (a visitor, or the account in a reply) comments; no checks, for tests.
    pub fn add_comment_by(
        &mut self,
        media_id: &str,
        parent_id: Option<&str>,
        username: &str,
        text: &str,
        now: OffsetDateTime,
    ) -> String {
        let id = self.next_comment.to_string();
        self.next_comment += 1;
        self.comments.push(SimComment {
            id: id.clone(),
            media_id: media_id.to_string(),
            parent_id: parent_id.map(str::to_string),
            username: username.to_string(),
            text: text.to_string(),
            hidden: false,
            timestamp: graph_timestamp(now),
        });
        id
    }

    pub fn comment_mut(&mut self, id: &str) -> Option<&mut SimComment> {
        self.comments.iter_mut().find(|c| c.id == id)
    }

    pub fn delete_comment(&mut self, id: &str) -> bool {
        let before = self.comments.len();
        // Deleting a comment deletes its replies too.
        self.comments
            .retain(|c| c.id != id && c.parent_id.as_deref() != Some(id));
        self.comments.len() != before
    }

    pub fn set_metrics(&mut self, media_id: &str, metrics: SimMetrics) {
        self.metrics.insert(media_id.to_string(), metrics);
    }

    pub fn metrics(&self, media_id: &str) -> SimMetrics {
        self.metrics.get(media_id).copied().unwrap_or_default()
    }

    /// Top-level comments and replies on a post.
    pub fn comment_count(&self, media_id: &str) -> usize {
        self.comments
            .iter()
            .filter(|c| c.media_id == media_id)
            .count()
    }

    // --- containers ---

    pub fn node_kind(&self, id: &str) -> NodeKind {
        if id == self.config.user_id || id == "me" {
            return NodeKind::User;
        }
        let Ok(n) = id.parse::<u64>() else {
            return NodeKind::Unknown;
        };
        if self.containers.contains_key(&n) {
            NodeKind::Container
        } else if self.comments.iter().any(|c| c.id == id) {
            NodeKind::Comment
        } else if self.media_index(n).is_some() {
            NodeKind::Media
        } else {
            NodeKind::Unknown
        }
    }

    /// Checks a container could be created now. Called before fetching the image so a refused
    /// request costs no download; `create_container` checks again.
    pub fn check_can_create(
        &mut self,
        caption: &str,
        now: OffsetDateTime,
    ) -> Result<(), GraphError> {
        let chars = caption.chars().count();
        if chars > CAPTION_MAX_CHARS {
            return Err(GraphError::caption_too_long(chars));
        }
        if count_within(&mut self.container_times, now, DAY) >= self.config.containers_per_day {
            return Err(GraphError::container_limit());
        }
        Ok(())
    }

    #[cfg(test)]
    pub fn create_container(
        &mut self,
        image_sha256: &str,
        caption: &str,
        now: OffsetDateTime,
    ) -> Result<String, GraphError> {
        let image = SimImage {
            sha256: image_sha256.to_string(),
            width: 0,
            height: 0,
        };
        self.create(ContainerKind::Image(image), caption, now)
    }

    /// Makes a container of any kind, checking what Instagram checks at creation.
    pub fn create(
        &mut self,
        kind: ContainerKind,
        caption: &str,
        now: OffsetDateTime,
    ) -> Result<String, GraphError> {
        self.check_can_create(caption, now)?;
        match &kind {
            ContainerKind::CarouselItem(_) | ContainerKind::Story(_) if !caption.is_empty() => {
                return Err(GraphError::invalid_param(
                    "A caption is not supported on carousel items or Stories.",
                ))
            }
            ContainerKind::Carousel { children } => self.check_children(children, now)?,
            _ => {}
        }
        let id = self.next_container;
        self.next_container += 1;
        self.container_times.push_back(now);
        self.containers.insert(
            id,
            Container {
                kind,
                caption: caption.to_string(),
                created_at: now,
                status_polls: 0,
                force_expired: false,
                published_as: None,
            },
        );
        Ok(id.to_string())
    }

    /// A carousel's children: 2 to 10 carousel items of this account, each `FINISHED`.
    fn check_children(&self, children: &[u64], now: OffsetDateTime) -> Result<(), GraphError> {
        if !(2..=10).contains(&children.len()) {
            return Err(GraphError::carousel_item_count(children.len()));
        }
        for id in children {
            let child = self
                .containers
                .get(id)
                .ok_or_else(|| GraphError::container_not_found(&id.to_string()))?;
            if !matches!(child.kind, ContainerKind::CarouselItem(_)) {
                return Err(GraphError::invalid_param(format!(
                    "Container {id} is not a carousel item (is_carousel_item=true)."
                )));
            }
            match status_of(
                child,
                now,
                self.config.container_ttl,
                self.config.polls_until_finished,
                self.config.processing_time,
            ) {
                ContainerStatus::Finished => {}
                ContainerStatus::Expired => return Err(GraphError::expired()),
                _ => return Err(GraphError::not_ready()),
            }
        }
        Ok(())
    }

    /// The `uploading_phase` of a Reel container: bytes in, and whether the upload is done.
    pub fn upload_progress(&self, id: &str) -> Option<(u64, bool)> {
        match &self.containers.get(&id.parse().ok()?)?.kind {
            ContainerKind::Reel(u) => Some((u.transferred, u.sha256.is_some())),
            _ => None,
        }
    }

    /// Checks an upload request's `offset` and `file_size` against what the container has.
    pub fn upload_begin(
        &mut self,
        id: &str,
        offset: u64,
        file_size: u64,
    ) -> Result<(), UploadRefusal> {
        let upload = self.upload_mut(id)?;
        if upload.sha256.is_some() {
            return Err(UploadRefusal::done());
        }
        if upload.file_size.is_some_and(|s| s != file_size) {
            return Err(UploadRefusal::fatal(format!(
                "file_size {file_size} differs from the {} announced before",
                upload.file_size.unwrap_or(0)
            )));
        }
        if offset != upload.transferred {
            return Err(UploadRefusal::retriable(format!(
                "offset {offset} does not match the {} bytes received",
                upload.transferred
            )));
        }
        upload.file_size = Some(file_size);
        Ok(())
    }

    /// Takes bytes read off an upload connection. Answers whether the file is complete.
    pub fn upload_bytes(&mut self, id: &str, bytes: &[u8]) -> Result<bool, UploadRefusal> {
        use sha2::Digest;
        self.upload_bytes_received += bytes.len() as u64;
        let upload = self.upload_mut(id)?;
        let size = upload.file_size.unwrap_or(0);
        let room = size.saturating_sub(upload.transferred) as usize;
        if bytes.len() > room {
            return Err(UploadRefusal::fatal(format!(
                "more bytes than the file_size of {size}"
            )));
        }
        if upload.head.len() < 16 {
            let take = (16 - upload.head.len()).min(bytes.len());
            upload.head.extend_from_slice(&bytes[..take]);
        }
        upload.hasher.update(bytes);
        upload.transferred += bytes.len() as u64;
        if upload.transferred < size {
            return Ok(false);
        }
        // An MP4 starts with its `ftyp` box; anything else is not a video Instagram takes.
        if upload.head.get(4..8) != Some(b"ftyp".as_slice()) {
            return Err(UploadRefusal::fatal(
                "the file is not an MP4 video".to_string(),
            ));
        }
        upload.sha256 = Some(hex::encode(upload.hasher.clone().finalize()));
        Ok(true)
    }

    fn upload_mut(&mut self, id: &str) -> Result<&mut Upload, UploadRefusal> {
        let unknown = || UploadRefusal::fatal(format!("no resumable upload for {id}"));
        let container = self
            .containers
            .get_mut(&id.parse().map_err(|_| unknown())?)
            .ok_or_else(unknown)?;
        match &mut container.kind {
            ContainerKind::Reel(u) => Ok(u),
            _ => Err(unknown()),
        }
    }

    /// The planned cut, if any, among the bytes `from..to` of the file that just arrived:
    /// the host then keeps the bytes before it and drops the connection. Each cut happens once.
    pub fn take_upload_cut(&mut self, from: u64, to: u64) -> Option<u64> {
        let cut = self.upload_cuts.range(from + 1..=to).next().copied()?;
        self.upload_cuts.remove(&cut);
        Some(cut)
    }

    pub fn plan_upload_cuts(&mut self, offsets: impl IntoIterator<Item = u64>) {
        self.upload_cuts.extend(offsets);
    }

    /// A Reel container waiting for its bytes.
    pub fn create_reel_upload(
        &mut self,
        caption: &str,
        now: OffsetDateTime,
    ) -> Result<String, GraphError> {
        self.create(ContainerKind::Reel(Upload::new()), caption, now)
    }

    pub fn record_upload_offered(&mut self, bytes: u64) {
        self.upload_bytes_offered += bytes;
    }

    pub fn upload_bytes_offered(&self) -> u64 {
        self.upload_bytes_offered
    }

    pub fn upload_bytes_received(&self) -> u64 {
        self.upload_bytes_received
    }

    /// Answers a status GET. Each GET of an unfinished container moves it one poll closer to
    /// FINISHED, so tests control readiness by counting requests, not by sleeping.
    pub fn poll_status(&mut self, id: &str, now: OffsetDateTime) -> Option<ContainerStatus> {
        let ttl = self.config.container_ttl;
        let polls_needed = self.config.polls_until_finished;
        let container = self.containers.get_mut(&id.parse().ok()?)?;
        let status = status_of(
            container,
            now,
            ttl,
            polls_needed,
            self.config.processing_time,
        );
        if status == ContainerStatus::InProgress {
            container.status_polls += 1;
        }
        Some(status)
    }

    pub fn expire_all(&mut self) {
        for c in self.containers.values_mut() {
            c.force_expired = true;
        }
    }

    // --- publishing ---

    /// Publishes a container at most once: the container id is the idempotency key.
    pub fn publish(
        &mut self,
        creation_id: &str,
        now: OffsetDateTime,
    ) -> Result<SimMedia, GraphError> {
        let ttl = self.config.container_ttl;
        let polls_needed = self.config.polls_until_finished;
        let container_id: u64 = creation_id
            .parse()
            .map_err(|_| GraphError::container_not_found(creation_id))?;
        let container = self
            .containers
            .get(&container_id)
            .ok_or_else(|| GraphError::container_not_found(creation_id))?;
        match status_of(
            container,
            now,
            ttl,
            polls_needed,
            self.config.processing_time,
        ) {
            ContainerStatus::Published => return Err(GraphError::already_published(creation_id)),
            ContainerStatus::Expired => return Err(GraphError::expired()),
            ContainerStatus::InProgress => return Err(GraphError::not_ready()),
            ContainerStatus::Finished => {}
        }
        let caption = container.caption.clone();
        let (media_type, product_type, images) = match &container.kind {
            ContainerKind::Image(i) => ("IMAGE", "FEED", vec![i.clone()]),
            ContainerKind::Story(i) => ("IMAGE", "STORY", vec![i.clone()]),
            ContainerKind::CarouselItem(_) => {
                return Err(GraphError::invalid_param(
                    "A carousel item is published through its carousel, not on its own.",
                ))
            }
            ContainerKind::Carousel { children } => {
                let images = children
                    .iter()
                    .filter_map(|c| match &self.containers.get(c)?.kind {
                        ContainerKind::CarouselItem(i) => Some(i.clone()),
                        _ => None,
                    })
                    .collect();
                ("CAROUSEL_ALBUM", "FEED", images)
            }
            ContainerKind::Reel(u) => {
                let Some(sha) = u.sha256.clone() else {
                    return Err(GraphError::not_ready());
                };
                let video = SimImage {
                    sha256: sha,
                    width: 0,
                    height: 0,
                };
                ("VIDEO", "REELS", vec![video])
            }
        };
        let counts = product_type != "STORY" || self.config.stories_in_quota;
        if counts && self.quota_usage(now) >= self.config.quota_total {
            self.quota_refusals += 1;
            return Err(GraphError::quota_reached());
        }
        let media_id = self.next_media;
        self.next_media += 1;
        let media = SimMedia {
            id: media_id.to_string(),
            container_id: creation_id.to_string(),
            media_type,
            product_type,
            images: images.clone(),
            caption,
            permalink: format!("https://www.instagram.com/p/{}/", shortcode(media_id)),
            image_sha256: images.first().map(|i| i.sha256.clone()).unwrap_or_default(),
            timestamp: graph_timestamp(now),
        };
        if let Some(c) = self.containers.get_mut(&container_id) {
            c.published_as = Some(media_id);
        }
        if counts {
            self.publish_times.push_back(now);
        }
        // A carousel publishes each of its images once.
        for image in images {
            *self.publishes_by_image.entry(image.sha256).or_insert(0) += 1;
        }
        self.media.push((media_id, media.clone()));
        Ok(media)
    }

    // --- comments ---

    pub fn add_comment(
        &mut self,
        media_id: &str,
        text: &str,
        now: OffsetDateTime,
    ) -> Result<SimComment, GraphError> {
        if self.find_media(media_id).is_none() {
            return Err(GraphError::unknown_object(media_id));
        }
        if text.trim().is_empty() {
            return Err(GraphError::missing_param("message"));
        }
        if self.refuse_comments {
            return Err(GraphError::invalid_param(
                "Comments are disabled for this media.",
            ));
        }
        let id = self.add_comment_by(media_id, None, ACCOUNT_USERNAME, text, now);
        Ok(self
            .comments
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .expect("just added"))
    }

    /// Comments off (as an account may set it): every new comment is refused.
    pub fn set_refuse_comments(&mut self, refuse: bool) {
        self.refuse_comments = refuse;
    }

    /// Every comment that was not deleted, oldest first.
    pub fn comments(&self) -> Vec<SimComment> {
        self.comments.clone()
    }

    /// Publishes in the rolling 24 hours before `now`.
    pub fn quota_usage(&mut self, now: OffsetDateTime) -> u32 {
        let n = count_within(&mut self.publish_times, now, DAY);
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    // --- media ---

    fn media_index(&self, id: u64) -> Option<usize> {
        self.media.iter().position(|(m, _)| *m == id)
    }

    pub fn find_media(&self, id: &str) -> Option<&SimMedia> {
        let i = self.media_index(id.parse().ok()?)?;
        Some(&self.media[i].1)
    }

    /// Published media, oldest first.
    pub fn media(&self) -> Vec<SimMedia> {
        self.media.iter().map(|(_, m)| m.clone()).collect()
    }

    pub fn publishes_by_image(&self) -> BTreeMap<String, u32> {
        self.publishes_by_image.clone()
    }

    // --- counters ---

    pub fn quota_refusals(&self) -> u64 {
        self.quota_refusals
    }

    pub fn record_call(&mut self, endpoint: &str, now: OffsetDateTime) {
        *self.calls.entry(endpoint.to_string()).or_insert(0) += 1;
        self.call_times.push_back(now);
    }

    pub fn record_fault(&mut self, name: &str) {
        *self.faults.entry(name.to_string()).or_insert(0) += 1;
    }

    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.calls.clone()
    }

    pub fn faults(&self) -> BTreeMap<String, u64> {
        self.faults.clone()
    }

    /// The percentage reported in the usage headers: calls in the last hour against a budget.
    pub fn force_usage(&mut self, percent: Option<u32>) {
        self.forced_usage = percent;
    }

    pub fn usage_percent(&mut self, now: OffsetDateTime) -> u32 {
        if let Some(p) = self.forced_usage {
            return p;
        }
        let calls = count_within(&mut self.call_times, now, HOUR);
        let percent = calls * 100 / (self.config.calls_per_hour.max(1) as usize);
        u32::try_from(percent.min(100)).unwrap_or(100)
    }
}

fn status_of(
    c: &Container,
    now: OffsetDateTime,
    ttl: Duration,
    polls_needed: u32,
    processing: Duration,
) -> ContainerStatus {
    if c.published_as.is_some() {
        ContainerStatus::Published
    } else if c.force_expired || now - c.created_at >= ttl {
        ContainerStatus::Expired
    } else if matches!(&c.kind, ContainerKind::Reel(u) if u.sha256.is_none()) {
        // Processing starts once every byte is in.
        ContainerStatus::InProgress
    } else if c.status_polls < polls_needed || now - c.created_at < processing {
        ContainerStatus::InProgress
    } else {
        ContainerStatus::Finished
    }
}

/// Drops entries older than `window` (timestamps are pushed in order) and counts the rest.
fn count_within(
    times: &mut VecDeque<OffsetDateTime>,
    now: OffsetDateTime,
    window: Duration,
) -> usize {
    while times.front().is_some_and(|t| now - *t >= window) {
        times.pop_front();
    }
    times.len()
}

pub fn graph_timestamp(t: OffsetDateTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]+0000");
    t.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

/// An 11-character shortcode, scrambled so consecutive posts do not look consecutive.
fn shortcode(media_id: u64) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut x = media_id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..11)
        .map(|_| {
            let c = ALPHABET[(x & 63) as usize] as char;
            x = x.rotate_right(6);
            c
        })
        .collect()
}

/// The wall time by `clock`: nanosecond system time, or a clock that follows tokio's.
fn wall_now(clock: &crate::clock::WallClock) -> OffsetDateTime {
    match clock {
        crate::clock::WallClock::System => OffsetDateTime::now_utc(),
        other => OffsetDateTime::from_unix_timestamp_nanos(i128::from(other.now_ms()) * 1_000_000)
            .unwrap_or_else(|_| OffsetDateTime::now_utc()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-27 11:00:00 UTC);

    fn state(quota_total: u32, polls: u32) -> SimState {
        SimState::new(SimOptions {
            user_id: "1784".into(),
            token: "tok".into(),
            quota_total,
            polls_until_finished: polls,
            container_ttl: DAY,
            token_age: Duration::ZERO,
            calls_per_hour: 200,
            app_id: "app".into(),
            app_secret: "secret".into(),
            ..SimOptions::default()
        })
    }

    fn ready_container(s: &mut SimState, sha: &str, now: OffsetDateTime) -> String {
        let id = s.create_container(sha, "hello", now).unwrap();
        while s.poll_status(&id, now) != Some(ContainerStatus::Finished) {}
        id
    }

    fn code(e: GraphError) -> (i64, Option<i64>) {
        (e.code, e.subcode)
    }

    #[test]
    fn container_walks_in_progress_finished_published() {
        let mut s = state(100, 2);
        let id = s.create_container("aa", "hi", T0).unwrap();
        assert_eq!(s.node_kind(&id), NodeKind::Container);
        assert_eq!(code(s.publish(&id, T0).unwrap_err()), (9007, Some(2207027)));
        assert_eq!(s.poll_status(&id, T0), Some(ContainerStatus::InProgress));
        assert_eq!(s.poll_status(&id, T0), Some(ContainerStatus::InProgress));
        assert_eq!(s.poll_status(&id, T0), Some(ContainerStatus::Finished));
        let m = s.publish(&id, T0).unwrap();
        assert_eq!(s.poll_status(&id, T0), Some(ContainerStatus::Published));
        assert_eq!(s.node_kind(&m.id), NodeKind::Media);
        assert_eq!(m.caption, "hi");
        assert_eq!(m.timestamp, "2026-11-27T11:00:00+0000");
        assert!(m.permalink.starts_with("https://www.instagram.com/p/"));
        assert_eq!(s.find_media(&m.id), Some(&m));
    }

    #[test]
    fn zero_polls_means_finished_at_once() {
        let mut s = state(100, 0);
        let id = s.create_container("aa", "", T0).unwrap();
        assert!(s.publish(&id, T0).is_ok());
    }

    #[test]
    fn a_container_is_published_at_most_once() {
        let mut s = state(100, 0);
        let id = ready_container(&mut s, "aa", T0);
        s.publish(&id, T0).unwrap();
        for _ in 0..3 {
            assert_eq!(code(s.publish(&id, T0).unwrap_err()), (100, None));
        }
        assert_eq!(s.media().len(), 1);
        assert_eq!(s.publishes_by_image()["aa"], 1);
        assert_eq!(s.quota_usage(T0), 1);
    }

    #[test]
    fn the_same_image_in_two_containers_counts_twice() {
        let mut s = state(100, 0);
        for _ in 0..2 {
            let id = ready_container(&mut s, "aa", T0);
            s.publish(&id, T0).unwrap();
        }
        assert_eq!(s.publishes_by_image()["aa"], 2);
    }

    #[test]
    fn containers_expire_after_the_ttl_unless_published() {
        let mut s = state(100, 0);
        let stale = s.create_container("aa", "", T0).unwrap();
        let done = ready_container(&mut s, "bb", T0);
        s.publish(&done, T0).unwrap();
        let later = T0 + DAY;
        assert_eq!(s.poll_status(&stale, later), Some(ContainerStatus::Expired));
        assert_eq!(
            s.poll_status(&done, later),
            Some(ContainerStatus::Published)
        );
        assert_eq!(
            code(s.publish(&stale, later).unwrap_err()),
            (-2, Some(2207020))
        );
    }

    #[test]
    fn expire_all_expires_fresh_containers() {
        let mut s = state(100, 0);
        let id = s.create_container("aa", "", T0).unwrap();
        s.expire_all();
        assert_eq!(s.poll_status(&id, T0), Some(ContainerStatus::Expired));
        assert_eq!(code(s.publish(&id, T0).unwrap_err()), (-2, Some(2207020)));
    }

    #[test]
    fn quota_is_a_rolling_24_hours() {
        let mut s = state(2, 0);
        for t in [T0, T0 + HOUR] {
            let id = ready_container(&mut s, "aa", t);
            s.publish(&id, t).unwrap();
        }
        let t = T0 + 2 * HOUR;
        let id = ready_container(&mut s, "bb", t);
        assert_eq!(code(s.publish(&id, t).unwrap_err()), (9, Some(2207042)));
        assert_eq!(s.quota_usage(t), 2);
        // The refused container is still valid: once the first publish leaves the window it goes.
        let t = T0 + DAY;
        assert_eq!(s.quota_usage(t), 1);
        assert!(s.publish(&id, t).is_ok());
    }

    #[test]
    fn unknown_containers_answer_not_found() {
        let mut s = state(100, 0);
        assert_eq!(code(s.publish("123", T0).unwrap_err()), (24, Some(2207008)));
        assert_eq!(code(s.publish("abc", T0).unwrap_err()), (24, Some(2207008)));
        assert_eq!(s.poll_status("123", T0), None);
        assert_eq!(s.node_kind("123"), NodeKind::Unknown);
        assert_eq!(s.node_kind("me"), NodeKind::User);
        assert_eq!(s.node_kind("1784"), NodeKind::User);
    }

    #[test]
    fn caption_and_container_limits() {
        let mut s = state(100, 0);
        let long = "x".repeat(CAPTION_MAX_CHARS + 1);
        assert_eq!(
            code(s.create_container("aa", &long, T0).unwrap_err()),
            (36004, Some(2207010))
        );
        let exact = "é".repeat(CAPTION_MAX_CHARS);
        assert!(s.create_container("aa", &exact, T0).is_ok());
        for _ in 1..CONTAINERS_PER_DAY {
            s.create_container("aa", "", T0).unwrap();
        }
        assert_eq!(s.create_container("aa", "", T0).unwrap_err().code, 4);
        assert!(s.create_container("aa", "", T0 + DAY).is_ok());
    }

    #[test]
    fn tokens_can_be_revoked() {
        let mut s = state(100, 0);
        let now = s.now();
        assert!(s.check_token(Some("tok"), now).is_ok());
        assert_eq!(code(s.check_token(None, now).unwrap_err()), (190, None));
        s.set_token("new");
        assert_eq!(
            code(s.check_token(Some("tok"), now).unwrap_err()),
            (190, Some(460))
        );
        assert_eq!(
            code(s.check_token(Some("junk"), now).unwrap_err()),
            (190, None)
        );
        assert!(s.check_token(Some("new"), now).is_ok());
    }

    #[test]
    fn tokens_expire_after_60_days_and_refresh_after_one() {
        let mut s = state(100, 0);
        let t0 = s.now();
        assert_eq!(code(s.refresh_token("tok", t0).unwrap_err()), (100, None));
        let later = t0 + 2 * DAY;
        let new = s.refresh_token("tok", later).unwrap();
        assert_ne!(new, "tok");
        // The old token still works until its own 60 days are up; the new one for 60 more.
        assert!(s.check_token(Some("tok"), later).is_ok());
        let t60 = t0 + TOKEN_TTL;
        assert_eq!(
            code(s.check_token(Some("tok"), t60).unwrap_err()),
            (190, Some(463))
        );
        assert!(s.check_token(Some(&new), t60).is_ok());
        assert_eq!(
            code(s.check_token(Some(&new), later + TOKEN_TTL).unwrap_err()).0,
            190
        );
        s.advance_clock(DAY);
        assert!(s.now() - t0 >= DAY);
    }

    #[test]
    fn comments_reply_hide_delete() {
        let mut s = state(100, 0);
        let c = s.add_comment_by("18", None, "ann", "nice!", T0);
        let r = s.add_comment_by("18", Some(&c), "postbooth_sim", "thanks", T0);
        assert_eq!(s.node_kind(&c), NodeKind::Comment);
        assert_eq!(s.comment_count("18"), 2);
        s.comment_mut(&c).unwrap().hidden = true;
        assert!(s.comments()[0].hidden);
        assert!(s.delete_comment(&c));
        assert_eq!(s.node_kind(&r), NodeKind::Unknown);
        assert!(!s.delete_comment(&c));
    }

    #[test]
    fn usage_grows_with_calls_and_is_capped() {
        let mut s = state(100, 0);
        assert_eq!(s.usage_percent(T0), 0);
        for _ in 0..100 {
            s.record_call("user", T0);
        }
        assert_eq!(s.usage_percent(T0), 50);
        for _ in 0..500 {
            s.record_call("user", T0);
        }
        assert_eq!(s.usage_percent(T0), 100);
        assert_eq!(s.usage_percent(T0 + HOUR), 0);
        assert_eq!(s.calls()["user"], 600);
    }

    #[test]
    fn shortcodes_differ_and_have_instagram_length() {
        let a = shortcode(FIRST_MEDIA_ID);
        let b = shortcode(FIRST_MEDIA_ID + 1);
        assert_eq!(a.len(), 11);
        assert_ne!(a, b);
    }
}
