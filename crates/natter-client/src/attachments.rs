//! Uploads and attachment metadata.

use natter_proto::{Attachment, AttachmentId};

use crate::{Client, ClientError, Method, RawBody, NO_BODY};

/// A `multipart/form-data` body with one part named `file`: the content type of the whole
/// body (with its boundary) and the bytes.
pub fn multipart_file(filename: &str, content_type: Option<&str>, bytes: &[u8]) -> RawBody {
    let boundary = format!("natter-{:032x}", rand_boundary());
    let mut body = Vec::with_capacity(bytes.len() + 256);
    body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    body.extend_from_slice(
        format!(
            "Content-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\n",
            filename.replace('"', "%22")
        )
        .as_bytes(),
    );
    if let Some(content_type) = content_type {
        body.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
    }
    body.extend_from_slice(b"\r\n");
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    RawBody {
        content_type: format!("multipart/form-data; boundary={boundary}"),
        bytes: body,
    }
}

fn rand_boundary() -> u128 {
    use std::time::{SystemTime, UNIX_EPOCH};
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    now ^ 0x5bd1_e995_5bd1_e995_5bd1_e995_5bd1_e995
}

impl Client {
    /// `POST /v1/uploads`: uploads a file (its type is detected by the server). The whole
    /// file is in memory here; the server streams it.
    pub async fn upload(
        &self,
        filename: &str,
        content_type: Option<&str>,
        bytes: &[u8],
    ) -> Result<Attachment, ClientError> {
        let body = multipart_file(filename, content_type, bytes);
        let (_, attachment) = self
            .raw(Method::POST, "/v1/uploads", Some(body))
            .await?
            .decode()?;
        Ok(attachment)
    }

    /// `GET /v1/attachments/{attachment_id}`: metadata and signed download URLs.
    pub async fn attachment(&self, attachment_id: AttachmentId) -> Result<Attachment, ClientError> {
        self.send(
            Method::GET,
            &format!("/v1/attachments/{attachment_id}"),
            NO_BODY,
        )
        .await
    }
}
