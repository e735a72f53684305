//! Attachments: streamed uploads, type detection, thumbnails, scanning, signed downloads
//! and the cleanup of unused and deleted files.
//!
//! An upload streams from the request into the object store ([`files`]) while its size is
//! counted against the limit of its kind, so a file is never held in memory (images,
//! at most 5 MB by default, are kept for decoding). The type comes from the first bytes
//! ([`detect`]); images are decoded on the blocking pool with bounds ([`images`]); the
//! stored file is then scanned ([`scan`]) and recorded. Messages take attachments by id
//! (`messages.rs`); downloads go through URLs signed here (or the object store's own
//! presigned URLs on S3).

pub mod detect;
pub mod files;
pub mod images;
pub mod scan;

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use natter_proto::{
    Attachment, AttachmentId, AttachmentKind, MessageAttachment, ScanStatus, UserId,
};
use natter_store::AttachmentRecord;

use crate::core::Core;
use crate::{Actor, AppError, Authenticator, Resource, Validation};
use detect::{Refusal, TextCheck, SNIFF_BYTES};
pub use files::Files;
pub use images::ImageLimits;
pub use scan::{Clamd, ClamdAddress, Scanner, Verdict};

/// Most attachments on one message.
pub const MAX_PER_MESSAGE: usize = 10;

/// How attachments behave (the `[attachments]` section of the configuration).
#[derive(Debug, Clone)]
pub struct AttachmentSettings {
    /// Media types accepted (a subset of [`detect::KNOWN_TYPES`]).
    pub allowed_types: Vec<String>,
    /// Largest image, in bytes.
    pub max_image_bytes: u64,
    /// Largest document (PDF, DOCX, text, CSV), in bytes.
    pub max_file_bytes: u64,
    /// Largest audio or video file, in bytes.
    pub max_media_bytes: u64,
    /// How long a signed download URL works.
    pub url_ttl: Duration,
    /// Serve files whose scan is still pending.
    pub serve_pending: bool,
    /// Uploads never attached are deleted after this long.
    pub unattached_ttl: Duration,
    /// Objects of attachments of deleted messages are removed after this long.
    pub deleted_retention: Duration,
    /// Prefix of signed download URLs (`https://chat.example.com`); empty: relative URLs.
    pub public_url: String,
    /// Image decoding bounds.
    pub images: ImageLimits,
}

impl Default for AttachmentSettings {
    fn default() -> Self {
        Self {
            allowed_types: detect::KNOWN_TYPES
                .iter()
                .map(|t| t.mime.to_owned())
                .collect(),
            max_image_bytes: 5 * 1024 * 1024,
            max_file_bytes: 10 * 1024 * 1024,
            max_media_bytes: 50 * 1024 * 1024,
            url_ttl: Duration::from_secs(3600),
            serve_pending: false,
            unattached_ttl: Duration::from_secs(24 * 3600),
            deleted_retention: Duration::from_secs(30 * 86_400),
            public_url: String::new(),
            images: ImageLimits::default(),
        }
    }
}

impl AttachmentSettings {
    /// The size limit of a kind.
    pub fn limit(&self, kind: AttachmentKind) -> u64 {
        match kind {
            AttachmentKind::Image => self.max_image_bytes,
            AttachmentKind::File => self.max_file_bytes,
            AttachmentKind::Video | AttachmentKind::Audio => self.max_media_bytes,
        }
    }

    /// The largest upload of any kind (the request body limit of the upload route).
    pub fn largest(&self) -> u64 {
        self.max_image_bytes
            .max(self.max_file_bytes)
            .max(self.max_media_bytes)
    }
}

/// What [`crate::App::new`] needs for attachments.
pub struct AttachmentSetup {
    /// The object store.
    pub files: Files,
    /// The virus scanner, if one is configured.
    pub scanner: Option<Arc<dyn Scanner>>,
    /// Behaviour.
    pub settings: AttachmentSettings,
}

/// What the client said about an upload (never trusted for the type).
#[derive(Debug, Clone, Default)]
pub struct UploadMeta {
    /// File name from the multipart part.
    pub filename: Option<String>,
    /// Content-Type of the multipart part.
    pub content_type: Option<String>,
}

/// Why the body of an upload stopped before its end (the edge tells which).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// The request body passed the edge's limit (or announced more than it).
    TooLarge(String),
    /// The connection broke, or the framing (multipart) is malformed.
    Broken(String),
}

/// Which object of an attachment a download URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The file itself.
    Content,
    /// Its thumbnail.
    Thumbnail,
}

impl Variant {
    fn as_str(self) -> &'static str {
        match self {
            Self::Content => "content",
            Self::Thumbnail => "thumbnail",
        }
    }
}

/// A verified download: what to send and how.
#[derive(Debug, Clone)]
pub struct Download {
    /// Object key.
    key: String,
    /// Media type.
    pub content_type: String,
    /// Total size in bytes.
    pub size: u64,
    /// The `Content-Disposition` header value.
    pub disposition: String,
}

/// The attachments service.
#[derive(Clone)]
pub struct Attachments {
    core: Arc<Core>,
    inner: Arc<Inner>,
}

struct Inner {
    files: Files,
    scanner: Option<Arc<dyn Scanner>>,
    settings: AttachmentSettings,
    auth: Arc<Authenticator>,
    /// Images being decoded at once: one per core. A decode holds the whole bitmap
    /// (48 MB for 12 megapixels), so a burst of uploads waits here instead of multiplying
    /// the server's memory; the bytes of waiting uploads are at most the image limit each.
    /// The permit moves into the blocking task, so a cancelled request keeps it until its
    /// decode has finished.
    decoding: Arc<tokio::sync::Semaphore>,
}

impl Attachments {
    pub(crate) fn new(core: Arc<Core>, setup: AttachmentSetup, auth: Arc<Authenticator>) -> Self {
        Self {
            core,
            inner: Arc::new(Inner {
                files: setup.files,
                scanner: setup.scanner,
                settings: setup.settings,
                auth,
                decoding: Arc::new(tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
                )),
            }),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &AttachmentSettings {
        &self.inner.settings
    }

    /// `POST /v1/uploads`: streams `body` into storage and records the upload, owned by
    /// the caller and not attached to anything yet.
    pub async fn upload<S>(
        &self,
        actor: &Actor,
        meta: UploadMeta,
        mut body: S,
    ) -> Result<Attachment, AppError>
    where
        S: Stream<Item = Result<Bytes, BodyError>> + Unpin + Send,
    {
        self.core
            .limiter
            .check(actor, crate::limits::Action::Upload)?;
        let uploader = actor.require_user()?.clone();
        let settings = &self.inner.settings;
        let filename = detect::sanitize_filename(meta.filename.as_deref().unwrap_or_default());

        let mut head = Vec::with_capacity(SNIFF_BYTES);
        let mut ended = false;
        while head.len() < SNIFF_BYTES {
            match body.next().await {
                Some(Ok(chunk)) => head.extend_from_slice(&chunk),
                Some(Err(err)) => return Err(interrupted(err)),
                None => {
                    ended = true;
                    break;
                }
            }
        }
        if head.is_empty() {
            return Err(AppError::invalid("file", "empty_file", "the file is empty"));
        }
        let file_type = detect::detect(&head, &filename).map_err(refused)?;
        if !settings
            .allowed_types
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(file_type.mime))
        {
            return Err(refused(Refusal::NotAllowed {
                detected: Some(file_type.mime.to_owned()),
            }));
        }
        detect::check_claims(file_type, meta.content_type.as_deref(), &filename)
            .map_err(refused)?;
        let kind = file_type.kind;
        let limit = settings.limit(kind);

        let id = AttachmentId::new();
        let key = format!("files/{id}");
        let disposition = content_disposition(kind == AttachmentKind::Image, &filename);
        let mut writer = self
            .inner
            .files
            .writer(&key, file_type.mime, &disposition)
            .await
            .map_err(storage_failed)?;
        let mut received = Received {
            size: 0,
            image: (kind == AttachmentKind::Image).then(Vec::new),
            text: file_type.mime.starts_with("text/").then(TextCheck::default),
        };
        let streamed = stream_into(
            &mut writer,
            &mut received,
            Bytes::from(head),
            (!ended).then_some(&mut body),
            limit,
            kind,
        )
        .await;
        if let Err(err) = streamed {
            writer.abort().await;
            return Err(err);
        }
        writer.finish().await.map_err(storage_failed)?;

        let (mut width, mut height, mut thumbnail_key) = (None, None, None);
        if let Some(bytes) = received.image.take() {
            let (mime, limits) = (file_type.mime, settings.images);
            let permit = Arc::clone(&self.inner.decoding)
                .acquire_owned()
                .await
                .map_err(|err| {
                    AppError::Internal(anyhow::anyhow!("image decoding closed: {err}"))
                })?;
            let probed = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                images::probe(&bytes, mime, limits)
            })
            .await
            .map_err(|err| AppError::Internal(anyhow::anyhow!("image task failed: {err}")))?;
            let probed = match probed {
                Ok(probed) => probed,
                Err(refusal) => {
                    self.remove_objects(&key, None).await;
                    return Err(image_refused(refusal));
                }
            };
            let thumb = format!("thumbnails/{id}.jpg");
            let stored = self
                .inner
                .files
                .put(
                    &thumb,
                    probed.thumbnail,
                    "image/jpeg",
                    &content_disposition(true, "thumbnail.jpg"),
                )
                .await;
            if let Err(err) = stored {
                self.remove_objects(&key, None).await;
                return Err(storage_failed(err));
            }
            (width, height, thumbnail_key) = (Some(probed.width), Some(probed.height), Some(thumb));
        }

        let scan_status = self.scan(id, &key).await;
        if scan_status == ScanStatus::Infected {
            self.remove_objects(&key, thumbnail_key.as_deref()).await;
        }
        let record = AttachmentRecord {
            id,
            uploader_id: uploader,
            kind,
            content_type: file_type.mime.to_owned(),
            filename,
            size: received.size,
            width,
            height,
            storage_key: key,
            thumbnail_key,
            scan_status,
            created_at: self.core.now(),
            conversation_id: None,
            message_id: None,
            deleted_at: None,
        };
        if let Err(err) = self.core.store.insert_attachment(record.clone()).await {
            self.remove_objects(&record.storage_key, record.thumbnail_key.as_deref())
                .await;
            return Err(err.into());
        }
        Ok(self.view(&record).await)
    }

    /// Scans a stored file: `skipped` without a scanner, `pending` when the scanner fails.
    async fn scan(&self, id: AttachmentId, key: &str) -> ScanStatus {
        let Some(scanner) = &self.inner.scanner else {
            return ScanStatus::Skipped;
        };
        let content = match self.inner.files.read(key, None).await {
            Ok(content) => content,
            Err(err) => {
                tracing::warn!(%id, error = %err, "reading the upload for scanning failed");
                return ScanStatus::Pending;
            }
        };
        match scanner.scan(content).await {
            Ok(Verdict::Clean) => ScanStatus::Clean,
            Ok(Verdict::Infected(signature)) => {
                tracing::warn!(%id, %signature, "an upload is infected; its file was removed");
                ScanStatus::Infected
            }
            Err(err) => {
                tracing::warn!(%id, error = %err, "scan failed; the upload stays pending");
                ScanStatus::Pending
            }
        }
    }

    /// `GET /v1/attachments/{id}`: the metadata and signed download URLs, for the uploader,
    /// participants of the conversation it is attached in, and admins.
    pub async fn get(&self, actor: &Actor, id: AttachmentId) -> Result<Attachment, AppError> {
        let record = self.visible(actor, id).await?;
        Ok(self.view(&record).await)
    }

    async fn visible(&self, actor: &Actor, id: AttachmentId) -> Result<AttachmentRecord, AppError> {
        let not_found = AppError::NotFound(Resource::Attachment);
        let record = self
            .core
            .store
            .find_attachment(id)
            .await?
            .ok_or(AppError::NotFound(Resource::Attachment))?;
        if record.deleted_at.is_some() {
            return Err(not_found);
        }
        if actor.is_moderator() || actor.user_id.as_ref() == Some(&record.uploader_id) {
            return Ok(record);
        }
        let (Some(user), Some(conversation_id)) = (&actor.user_id, record.conversation_id) else {
            return Err(not_found);
        };
        match self
            .core
            .store
            .find_participant(conversation_id, user)
            .await?
        {
            Some(participant) if participant.left_at.is_none() => Ok(record),
            _ => Err(not_found),
        }
    }

    /// Whether the file may be downloaded now.
    fn servable(&self, record: &AttachmentRecord) -> bool {
        record.deleted_at.is_none()
            && match record.scan_status {
                ScanStatus::Clean | ScanStatus::Skipped => true,
                ScanStatus::Pending => self.inner.settings.serve_pending,
                ScanStatus::Infected => false,
            }
    }

    async fn view(&self, record: &AttachmentRecord) -> Attachment {
        let mut attachment = record.to_proto();
        if !self.servable(record) {
            return attachment;
        }
        let ttl = self.inner.settings.url_ttl;
        let expires_at = time::OffsetDateTime::now_utc() + ttl;
        attachment.url_expires_at = Some(expires_at.replace_nanosecond(0).unwrap_or(expires_at));
        attachment.url = self.url(record, Variant::Content, expires_at).await;
        if record.thumbnail_key.is_some() {
            attachment.thumbnail_url = self.url(record, Variant::Thumbnail, expires_at).await;
        }
        attachment
    }

    async fn url(
        &self,
        record: &AttachmentRecord,
        variant: Variant,
        expires_at: time::OffsetDateTime,
    ) -> Option<String> {
        let key = match variant {
            Variant::Content => &record.storage_key,
            Variant::Thumbnail => record.thumbnail_key.as_ref()?,
        };
        if let Some(url) = self
            .inner
            .files
            .presigned_url(key, self.inner.settings.url_ttl)
            .await
        {
            return match url {
                Ok(url) => Some(url),
                Err(err) => {
                    tracing::warn!(id = %record.id, error = %err, "presigning failed");
                    None
                }
            };
        }
        let expires = expires_at.unix_timestamp();
        let signature = self
            .inner
            .auth
            .sign_download(variant.as_str(), record.id.0, expires);
        Some(format!(
            "{}/v1/attachments/{}/{}?expires={expires}&signature={signature}",
            self.inner.settings.public_url.trim_end_matches('/'),
            record.id,
            variant.as_str()
        ))
    }

    /// Checks a signed download URL (`expires`, `signature`) and returns what to send:
    /// 403 `signature_invalid` / `url_expired`, 404 once the attachment is deleted, 403
    /// `attachment_infected`, 409 `scan_pending` while pending files are not served.
    pub async fn open(
        &self,
        id: AttachmentId,
        variant: Variant,
        expires: i64,
        signature: &str,
    ) -> Result<Download, AppError> {
        if !self
            .inner
            .auth
            .verify_download(variant.as_str(), id.0, expires, signature)
        {
            return Err(AppError::forbidden(
                "signature_invalid",
                "the download URL's signature does not match; ask GET /v1/attachments/{id} for a new one",
            ));
        }
        if expires < time::OffsetDateTime::now_utc().unix_timestamp() {
            return Err(AppError::forbidden(
                "url_expired",
                "the download URL has expired; ask GET /v1/attachments/{id} for a new one",
            ));
        }
        let record = self
            .core
            .store
            .find_attachment(id)
            .await?
            .filter(|record| record.deleted_at.is_none())
            .ok_or(AppError::NotFound(Resource::Attachment))?;
        match record.scan_status {
            ScanStatus::Infected => {
                return Err(AppError::forbidden(
                    "attachment_infected",
                    "the virus scanner found malware in this file; it is never served",
                ))
            }
            ScanStatus::Pending if !self.inner.settings.serve_pending => {
                return Err(AppError::conflict(
                    "scan_pending",
                    "the file has not been scanned yet; try again shortly",
                ))
            }
            _ => {}
        }
        Ok(match variant {
            Variant::Content => Download {
                disposition: content_disposition(
                    record.kind == AttachmentKind::Image,
                    &record.filename,
                ),
                key: record.storage_key,
                content_type: record.content_type,
                size: record.size,
            },
            Variant::Thumbnail => {
                let key = record
                    .thumbnail_key
                    .ok_or(AppError::NotFound(Resource::Attachment))?;
                let size = self.object_size(&key).await?;
                Download {
                    key,
                    content_type: "image/jpeg".into(),
                    size,
                    disposition: content_disposition(true, "thumbnail.jpg"),
                }
            }
        })
    }

    async fn object_size(&self, key: &str) -> Result<u64, AppError> {
        self.inner.files.size(key).await.map_err(storage_failed)
    }

    /// The bytes of a verified download in `range` (all when `None`).
    pub async fn read(
        &self,
        download: &Download,
        range: Option<Range<u64>>,
    ) -> Result<BoxStream<'static, std::io::Result<Bytes>>, AppError> {
        self.inner
            .files
            .read(&download.key, range)
            .await
            .map_err(storage_failed)
    }

    /// The summaries of the uploads a message is to carry, checked for the sender: each
    /// must exist, be the sender's own, and not be infected; one already attached is
    /// refused unless the send is a retry (`client_message_id`), which the store then
    /// answers with the original message.
    pub(crate) async fn for_message(
        core: &Core,
        sender: Option<&UserId>,
        ids: &[AttachmentId],
        retry: bool,
        validation: &mut Validation,
    ) -> Result<Vec<MessageAttachment>, AppError> {
        if ids.len() > MAX_PER_MESSAGE {
            validation.add(
                "attachment_ids",
                "too_many",
                format!("at most {MAX_PER_MESSAGE} attachments per message"),
            );
            return Ok(Vec::new());
        }
        let Some(sender) = sender else {
            validation.add(
                "attachment_ids",
                "user_required",
                "attachments are sent by users (X-Natter-User with the server key)",
            );
            return Ok(Vec::new());
        };
        let mut summaries = Vec::with_capacity(ids.len());
        for (index, id) in ids.iter().enumerate() {
            let field = format!("attachment_ids[{index}]");
            if ids[..index].contains(id) {
                validation.add(field, "duplicate", "the same attachment twice");
                continue;
            }
            let record = core.store.find_attachment(*id).await?;
            match record {
                Some(record) if &record.uploader_id == sender && record.deleted_at.is_none() => {
                    if record.scan_status == ScanStatus::Infected {
                        validation.add(field, "attachment_infected", "the file contains malware");
                    } else if record.message_id.is_some() && !retry {
                        validation.add(
                            field,
                            "attachment_in_use",
                            "the upload is already attached to a message",
                        );
                    } else {
                        summaries.push(record.summary());
                    }
                }
                _ => validation.add(
                    field,
                    "attachment_not_found",
                    "no upload of yours with this id",
                ),
            }
        }
        Ok(summaries)
    }

    /// One cleanup run: deletes uploads never attached within `unattached_ttl` and the
    /// files of messages deleted longer than `deleted_retention` ago (rows first, then
    /// objects), and retries pending scans. Returns how many attachments were removed.
    pub async fn cleanup(&self) -> Result<u64, AppError> {
        let now = self.core.now();
        let settings = &self.inner.settings;
        let unattached_before = now - settings.unattached_ttl;
        let deleted_before = now - settings.deleted_retention;
        let mut removed = 0;
        loop {
            let batch = self
                .core
                .store
                .list_removable_attachments(unattached_before, deleted_before, 200)
                .await?;
            if batch.is_empty() {
                break;
            }
            let ids: Vec<AttachmentId> = batch.iter().map(|record| record.id).collect();
            let deleted = self
                .core
                .store
                .delete_attachments(&ids, unattached_before, deleted_before)
                .await?;
            for record in batch.iter().filter(|record| deleted.contains(&record.id)) {
                self.remove_objects(&record.storage_key, record.thumbnail_key.as_deref())
                    .await;
            }
            removed += deleted.len() as u64;
            if batch.len() < 200 || deleted.is_empty() {
                break;
            }
        }
        if self.inner.scanner.is_some() {
            for record in self.core.store.list_pending_scans(100).await? {
                let status = self.scan(record.id, &record.storage_key).await;
                if status == ScanStatus::Pending {
                    break;
                }
                if status == ScanStatus::Infected {
                    self.remove_objects(&record.storage_key, record.thumbnail_key.as_deref())
                        .await;
                }
                self.core.store.set_scan_status(record.id, status).await?;
            }
        }
        Ok(removed)
    }

    async fn remove_objects(&self, key: &str, thumbnail: Option<&str>) {
        for key in std::iter::once(key).chain(thumbnail) {
            if let Err(err) = self.inner.files.delete(key).await {
                tracing::warn!(key, error = %err, "removing an attachment object failed");
            }
        }
    }
}

/// Progress of a streamed upload.
struct Received {
    size: u64,
    /// The bytes of an image, kept for decoding (bounded by the image limit).
    image: Option<Vec<u8>>,
    /// The running text check of a text file.
    text: Option<TextCheck>,
}

/// Writes `first` and then the rest of `body` (if it has more), refusing as soon as the
/// size passes `limit`: the rest of the request is never read.
async fn stream_into<S>(
    writer: &mut files::Writer,
    received: &mut Received,
    first: Bytes,
    mut body: Option<&mut S>,
    limit: u64,
    kind: AttachmentKind,
) -> Result<(), AppError>
where
    S: Stream<Item = Result<Bytes, BodyError>> + Unpin + Send,
{
    let mut chunk = first;
    loop {
        received.size += chunk.len() as u64;
        if received.size > limit {
            return Err(AppError::TooLarge {
                code: "attachment_too_large",
                detail: format!("{} files may be at most {limit} bytes", kind.as_str()),
            });
        }
        if let Some(check) = &mut received.text {
            if !check.feed(&chunk) {
                return Err(refused(Refusal::NotAllowed { detected: None }));
            }
        }
        if let Some(image) = &mut received.image {
            image.extend_from_slice(&chunk);
        }
        writer.write(&chunk).await.map_err(storage_failed)?;
        let Some(rest) = body.as_deref_mut() else {
            break;
        };
        match rest.next().await {
            Some(Ok(next)) => chunk = next,
            Some(Err(err)) => return Err(interrupted(err)),
            None => break,
        }
    }
    if received.text.as_ref().is_some_and(|check| !check.finish()) {
        return Err(refused(Refusal::NotAllowed { detected: None }));
    }
    Ok(())
}

/// `Content-Disposition`: `inline` for images, `attachment` for everything else, with an
/// ASCII fallback name and the UTF-8 name (RFC 6266).
pub fn content_disposition(inline: bool, filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .filter(|c| *c != '"' && *c != '\\')
        .collect();
    let mut encoded = String::new();
    for byte in filename.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    let kind = if inline { "inline" } else { "attachment" };
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

fn refused(refusal: Refusal) -> AppError {
    match refusal {
        Refusal::NotAllowed { detected } => AppError::UnsupportedType {
            code: "attachment_type_not_allowed",
            detail: match detected {
                Some(mime) => format!("files of type {mime} are not accepted"),
                None => "the file is of no accepted type".into(),
            },
        },
        Refusal::Mismatch { claimed, detected } => AppError::UnsupportedType {
            code: "attachment_type_mismatch",
            detail: format!("the file claims to be {claimed} but its bytes are {detected}"),
        },
    }
}

fn image_refused(refusal: images::ImageRefusal) -> AppError {
    match refusal {
        images::ImageRefusal::TooLarge(why) => AppError::invalid(
            "file",
            "image_too_large",
            format!("the image is too large: {why}"),
        ),
        images::ImageRefusal::Malformed(why) => AppError::invalid(
            "file",
            "image_malformed",
            format!("the image cannot be decoded: {why}"),
        ),
    }
}

fn interrupted(err: BodyError) -> AppError {
    match err {
        BodyError::TooLarge(detail) => AppError::TooLarge {
            code: "attachment_too_large",
            detail: format!("the request body is larger than any upload may be: {detail}"),
        },
        BodyError::Broken(why) => AppError::invalid(
            "file",
            "upload_interrupted",
            format!("the upload did not arrive complete: {why}"),
        ),
    }
}

fn storage_failed(err: files::FilesError) -> AppError {
    AppError::Internal(anyhow::anyhow!("attachment storage: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_are_safe_headers() {
        assert_eq!(
            content_disposition(false, "report.pdf"),
            "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
        );
        assert_eq!(
            content_disposition(true, "Grüße \"x\".png"),
            "inline; filename=\"Gr__e x.png\"; filename*=UTF-8''Gr%C3%BC%C3%9Fe%20%22x%22.png"
        );
    }
}
