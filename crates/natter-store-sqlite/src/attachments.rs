//! [`AttachmentStore`] for SQLite over `migrations/0010_attachments.sql`. Attaching is part
//! of `append_message` (queries.rs); hiding, of `delete_message` and user erasure.

use async_trait::async_trait;
use natter_proto::{AttachmentId, ScanStatus, Timestamp};
use natter_store::{to_micros, AttachmentRecord, AttachmentStore, StoreError};
use rusqlite::types::ToSql;
use rusqlite::{params, params_from_iter, OptionalExtension};
use uuid::Uuid;

use crate::error::store_error;
use crate::rows::{self, ATTACHMENT_COLUMNS};
use crate::SqliteStore;

type Result<T> = std::result::Result<T, StoreError>;

/// The condition of `list_removable_attachments`, with `?1` = unattached before and `?2` =
/// deleted before.
const REMOVABLE: &str = "((a.message_id IS NULL AND a.created_at < ?1) \
    OR (a.deleted_at IS NOT NULL AND a.deleted_at < ?2))";

#[async_trait]
impl AttachmentStore for SqliteStore {
    async fn insert_attachment(&self, attachment: AttachmentRecord) -> Result<()> {
        self.writer
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO attachments (id, uploader_id, kind, content_type, filename, \
                       size, width, height, storage_key, thumbnail_key, scan_status, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        attachment.id.0,
                        attachment.uploader_id.as_str(),
                        attachment.kind.as_str(),
                        attachment.content_type,
                        attachment.filename,
                        i64::try_from(attachment.size).unwrap_or(i64::MAX),
                        attachment.width,
                        attachment.height,
                        attachment.storage_key,
                        attachment.thumbnail_key,
                        attachment.scan_status.as_str(),
                        to_micros(attachment.created_at),
                    ])
                })
                .map_err(store_error)?;
                Ok(())
            })
            .await
    }

    async fn find_attachment(&self, id: AttachmentId) -> Result<Option<AttachmentRecord>> {
        self.readers
            .read(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {ATTACHMENT_COLUMNS} FROM attachments a WHERE a.id = ?1"
                ))
                .and_then(|mut stmt| stmt.query_row([id.0], rows::attachment).optional())
                .map_err(store_error)
            })
            .await
    }

    async fn set_scan_status(&self, id: AttachmentId, status: ScanStatus) -> Result<()> {
        self.writer
            .write(move |conn| {
                conn.prepare_cached("UPDATE attachments SET scan_status = ?2 WHERE id = ?1")
                    .and_then(|mut stmt| stmt.execute(params![id.0, status.as_str()]))
                    .map_err(store_error)?;
                Ok(())
            })
            .await
    }

    async fn list_pending_scans(&self, limit: u32) -> Result<Vec<AttachmentRecord>> {
        self.readers
            .read(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {ATTACHMENT_COLUMNS} FROM attachments a \
                     WHERE a.scan_status = 'pending' ORDER BY a.created_at LIMIT ?1"
                ))
                .and_then(|mut stmt| {
                    stmt.query_map([i64::from(limit)], rows::attachment)?
                        .collect()
                })
                .map_err(store_error)
            })
            .await
    }

    async fn list_removable_attachments(
        &self,
        unattached_before: Timestamp,
        deleted_before: Timestamp,
        limit: u32,
    ) -> Result<Vec<AttachmentRecord>> {
        self.readers
            .read(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {ATTACHMENT_COLUMNS} FROM attachments a WHERE {REMOVABLE} \
                     ORDER BY a.created_at LIMIT ?3"
                ))
                .and_then(|mut stmt| {
                    stmt.query_map(
                        params![
                            to_micros(unattached_before),
                            to_micros(deleted_before),
                            i64::from(limit)
                        ],
                        rows::attachment,
                    )?
                    .collect()
                })
                .map_err(store_error)
            })
            .await
    }

    async fn delete_attachments(
        &self,
        ids: &[AttachmentId],
        unattached_before: Timestamp,
        deleted_before: Timestamp,
    ) -> Result<Vec<AttachmentId>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = ids.iter().map(|id| id.0).collect();
        self.writer
            .write(move |conn| {
                let placeholders = vec!["?"; ids.len()].join(", ");
                let sql = format!(
                    "DELETE FROM attachments AS a WHERE {REMOVABLE} AND a.id IN ({placeholders}) \
                     RETURNING id"
                )
                .replace("?1", "?")
                .replace("?2", "?");
                let mut values: Vec<Box<dyn ToSql>> = vec![
                    Box::new(to_micros(unattached_before)),
                    Box::new(to_micros(deleted_before)),
                ];
                values.extend(ids.into_iter().map(|id| Box::new(id) as Box<dyn ToSql>));
                let deleted: Vec<Uuid> = conn
                    .prepare(&sql)
                    .and_then(|mut stmt| {
                        stmt.query_map(params_from_iter(values.iter()), |row| row.get(0))?
                            .collect()
                    })
                    .map_err(store_error)?;
                Ok(deleted.into_iter().map(AttachmentId).collect())
            })
            .await
    }
}
