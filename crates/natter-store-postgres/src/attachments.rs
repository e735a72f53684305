//! [`AttachmentStore`] for PostgreSQL over `migrations/0010_attachments.sql`. Attaching is
//! part of `append_message` (queries.rs); hiding, of `delete_message` and user erasure.

use async_trait::async_trait;
use natter_proto::{AttachmentId, ScanStatus, Timestamp};
use natter_store::{to_micros, AttachmentRecord, AttachmentStore, StoreError};
use uuid::Uuid;

use crate::error::store_error;
use crate::rows::{self, ATTACHMENT_COLUMNS};
use crate::PostgresStore;

type Result<T> = std::result::Result<T, StoreError>;

/// The condition of `list_removable_attachments`, with `$1` = unattached before and `$2` =
/// deleted before.
const REMOVABLE: &str = "((a.message_id IS NULL AND a.created_at < $1) \
    OR (a.deleted_at IS NOT NULL AND a.deleted_at < $2))";

#[async_trait]
impl AttachmentStore for PostgresStore {
    async fn insert_attachment(&self, attachment: AttachmentRecord) -> Result<()> {
        let dimension = |value: Option<u32>| value.map(|v| i32::try_from(v).unwrap_or(i32::MAX));
        sqlx::query(
            "INSERT INTO attachments (id, uploader_id, kind, content_type, filename, size, \
               width, height, storage_key, thumbnail_key, scan_status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(attachment.id.0)
        .bind(attachment.uploader_id.as_str())
        .bind(attachment.kind.as_str())
        .bind(&attachment.content_type)
        .bind(&attachment.filename)
        .bind(i64::try_from(attachment.size).unwrap_or(i64::MAX))
        .bind(dimension(attachment.width))
        .bind(dimension(attachment.height))
        .bind(&attachment.storage_key)
        .bind(attachment.thumbnail_key.as_deref())
        .bind(attachment.scan_status.as_str())
        .bind(to_micros(attachment.created_at))
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn find_attachment(&self, id: AttachmentId) -> Result<Option<AttachmentRecord>> {
        sqlx::query(&format!(
            "SELECT {ATTACHMENT_COLUMNS} FROM attachments a WHERE a.id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .as_ref()
        .map(rows::attachment)
        .transpose()
    }

    async fn set_scan_status(&self, id: AttachmentId, status: ScanStatus) -> Result<()> {
        sqlx::query("UPDATE attachments SET scan_status = $2 WHERE id = $1")
            .bind(id.0)
            .bind(status.as_str())
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn list_pending_scans(&self, limit: u32) -> Result<Vec<AttachmentRecord>> {
        sqlx::query(&format!(
            "SELECT {ATTACHMENT_COLUMNS} FROM attachments a \
             WHERE a.scan_status = 'pending' ORDER BY a.created_at LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?
        .iter()
        .map(rows::attachment)
        .collect()
    }

    async fn list_removable_attachments(
        &self,
        unattached_before: Timestamp,
        deleted_before: Timestamp,
        limit: u32,
    ) -> Result<Vec<AttachmentRecord>> {
        sqlx::query(&format!(
            "SELECT {ATTACHMENT_COLUMNS} FROM attachments a WHERE {REMOVABLE} \
             ORDER BY a.created_at LIMIT $3"
        ))
        .bind(to_micros(unattached_before))
        .bind(to_micros(deleted_before))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?
        .iter()
        .map(rows::attachment)
        .collect()
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
        let deleted: Vec<Uuid> = sqlx::query_scalar(&format!(
            "DELETE FROM attachments a WHERE {REMOVABLE} AND a.id = ANY($3) RETURNING a.id"
        ))
        .bind(to_micros(unattached_before))
        .bind(to_micros(deleted_before))
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(deleted.into_iter().map(AttachmentId).collect())
    }
}
