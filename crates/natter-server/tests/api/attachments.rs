//! Attachments through the real server: upload → send → download, every refusal, signed
//! URLs, the access matrix, cleanup of unused and deleted files, and virus scanning
//! against an in-test server that speaks clamd's INSTREAM protocol.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::Duration;

use natter_client::{Client, Method, RawBody, RawResponse};
use natter_proto::{
    AppRole, Attachment, AttachmentKind, Conversation, Message, MessageType, ScanStatus,
    SendMessage,
};
use natter_testkit::{TestServer, TestUser, API_KEY, JWT_SECRET};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{group, status_code};

// ---------------------------------------------------------------- fixtures

/// A PNG of `width` × `height` with a gradient (so it does not compress to nothing).
fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbaImage::from_fn(width, height, |x, y| {
        image::Rgba([(x % 256) as u8, (y % 256) as u8, 90, 255])
    });
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encoding a PNG");
    out.into_inner()
}

/// A JPEG of `width` × `height`.
fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 30])
    });
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("encoding a JPEG");
    out.into_inner()
}

/// A minimal PDF.
fn pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\
      2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
        .to_vec()
}

/// The start of an MP4 (an `ftyp` box), padded to `size` bytes.
fn mp4(size: usize) -> Vec<u8> {
    let mut bytes = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom".to_vec();
    bytes.resize(size, 0x11);
    bytes
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut typed = kind.to_vec();
    typed.extend_from_slice(data);
    out.extend_from_slice(&typed);
    out.extend_from_slice(&crc32(&typed).to_be_bytes());
}

/// A decompression bomb: a PNG of a few hundred bytes whose header announces
/// 10 000 × 10 000 RGBA pixels (400 MB decoded). Its IDAT holds the first row only.
fn png_bomb() -> Vec<u8> {
    let (width, height) = (10_000u32, 10_000u32);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 6, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &header);
    // zlib with one stored block: filter byte 0 and a row of zeros.
    let row = vec![0u8; 1 + 4 * width as usize];
    let mut zlib = vec![0x78, 0x01, 0x01];
    zlib.extend_from_slice(&(row.len() as u16).to_le_bytes());
    zlib.extend_from_slice(&(!(row.len() as u16)).to_le_bytes());
    zlib.extend_from_slice(&row[..row.len().min(0xFFFF)]);
    png_chunk(&mut out, b"IDAT", &zlib[..zlib.len().min(2_000)]);
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// The EICAR test string every virus scanner reports.
const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

async fn upload(
    user: &TestUser,
    filename: &str,
    claimed: Option<&str>,
    bytes: &[u8],
) -> Attachment {
    user.upload(filename, claimed, bytes)
        .await
        .unwrap_or_else(|err| panic!("uploading {filename}: {err}"))
}

async fn send_with(
    user: &TestUser,
    conversation: &Conversation,
    caption: Option<&str>,
    attachments: &[&Attachment],
) -> Result<Message, natter_client::ClientError> {
    user.send_message(
        conversation.id,
        &SendMessage {
            content: caption.map(str::to_owned),
            attachment_ids: attachments.iter().map(|a| a.id).collect(),
            ..Default::default()
        },
    )
    .await
    .map(|created| created.value)
}

/// GETs a signed URL (relative to the server) without credentials.
async fn fetch(server: &TestServer, url: &str, range: Option<&str>) -> RawResponse {
    let mut request = reqwest::Client::new().get(format!("{}{url}", server.base_url()));
    if let Some(range) = range {
        request = request.header("Range", range);
    }
    let response = request.send().await.expect("the download answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("a body").to_vec();
    RawResponse {
        status,
        headers,
        body,
    }
}

/// Files under a directory, recursively, as paths relative to it.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(relative) = path.strip_prefix(dir) {
                found.push(relative.to_path_buf());
            }
        }
    }
    found.sort();
    found
}

/// A server whose files go to `dir`.
async fn server_with_files(
    dir: &Path,
    configure: impl FnOnce(&mut natter_server::config::Config),
) -> TestServer {
    let location = dir.display().to_string();
    TestServer::spawn_with(move |config| {
        config.attachments.storage = Some(location);
        configure(config);
    })
    .await
}

/// Waits (up to 10 s, polling) until `check` holds.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

// ---------------------------------------------------------------- round trip

#[tokio::test]
async fn image_upload_send_and_download_round_trip_with_range() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = server_with_files(dir.path(), |_| {}).await;
    let alice = server.user("alice");
    let bob = server.user("bob");
    let conversation = group(&alice, "photos", &[&bob]).await;
    let mut bob_events = bob.connect_realtime().await.expect("bob connects");

    let bytes = png(640, 480);
    let uploaded = upload(&alice, "holiday.png", Some("image/png"), &bytes).await;
    assert_eq!(uploaded.kind, AttachmentKind::Image);
    assert_eq!(uploaded.content_type, "image/png");
    assert_eq!(uploaded.filename, "holiday.png");
    assert_eq!(uploaded.size, bytes.len() as u64);
    assert_eq!((uploaded.width, uploaded.height), (Some(640), Some(480)));
    assert_eq!(uploaded.scan_status, ScanStatus::Skipped);
    assert_eq!(uploaded.uploader_id, alice.id);
    assert!(uploaded.conversation_id.is_none() && uploaded.message_id.is_none());
    assert!(uploaded.url.is_some() && uploaded.thumbnail_url.is_some());
    // Storage keys are generated: nothing on disk is named after the upload.
    for stored in files_under(dir.path()) {
        assert!(!stored.to_string_lossy().contains("holiday"), "{stored:?}");
    }

    // Bob cannot see it before it is attached.
    assert_eq!(
        status_code(bob.attachment(uploaded.id).await),
        (404, "attachment_not_found".into())
    );

    let message = send_with(&alice, &conversation, Some("look"), &[&uploaded])
        .await
        .expect("sending with an attachment");
    assert_eq!(message.kind, MessageType::Image);
    assert_eq!(message.content.as_deref(), Some("look"));
    assert_eq!(message.attachments.len(), 1);
    assert_eq!(message.attachments[0].id, uploaded.id);
    assert_eq!(message.attachments[0].width, Some(640));
    assert!(message.attachments[0].has_thumbnail);
    // The event carries the attachment too.
    let created = loop {
        let frame = bob_events.next_frame().await.expect("a frame");
        if let Some(event) = natter_client::realtime::event_of(&frame) {
            if event.kind == "message.created" {
                break event;
            }
        }
    };
    let attachments = &created.data["attachments"];
    assert_eq!(attachments[0]["id"], uploaded.id.to_string(), "{created:?}");
    assert_eq!(attachments[0]["kind"], "image");
    // And the history page.
    let page = bob
        .list_messages(conversation.id, &Default::default())
        .await
        .expect("bob lists messages");
    assert_eq!(page.items[0].attachments, message.attachments);

    let seen = bob.attachment(uploaded.id).await.expect("bob sees it now");
    assert_eq!(seen.conversation_id, Some(conversation.id));
    assert_eq!(seen.message_id, Some(message.id));
    let url = seen.url.expect("a signed URL");
    assert!(seen.url_expires_at.is_some());

    let full = fetch(&server, &url, None).await;
    assert_eq!(full.status, 200, "{}", full.text());
    assert_eq!(full.body, bytes, "byte-exact");
    assert_eq!(full.header("content-type"), Some("image/png"));
    assert_eq!(full.header("x-content-type-options"), Some("nosniff"));
    assert!(full
        .header("content-security-policy")
        .is_some_and(|csp| csp.starts_with("default-src 'none'")));
    assert!(full
        .header("content-disposition")
        .is_some_and(|d| d.starts_with("inline;") && d.contains("holiday.png")));
    assert_eq!(full.header("accept-ranges"), Some("bytes"));

    let part = fetch(&server, &url, Some("bytes=100-199")).await;
    assert_eq!(part.status, 206);
    assert_eq!(part.body, bytes[100..200]);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 100-199/{}", bytes.len()).as_str())
    );
    let tail = fetch(&server, &url, Some("bytes=-10")).await;
    assert_eq!(tail.status, 206);
    assert_eq!(tail.body, bytes[bytes.len() - 10..]);
    let beyond = fetch(&server, &url, Some(&format!("bytes={}-", bytes.len()))).await;
    assert_eq!(beyond.status, 416);
    assert_eq!(
        beyond.header("content-range"),
        Some(format!("bytes */{}", bytes.len()).as_str())
    );

    let thumbnail = fetch(&server, &seen.thumbnail_url.expect("a thumbnail"), None).await;
    assert_eq!(thumbnail.status, 200);
    assert_eq!(thumbnail.header("content-type"), Some("image/jpeg"));
    let decoded = image::load_from_memory(&thumbnail.body).expect("the thumbnail is a JPEG");
    assert_eq!((decoded.width(), decoded.height()), (320, 240));
}

#[tokio::test]
async fn documents_and_media_download_as_attachments_and_set_the_message_type() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice");
    let bob = server.user("bob");
    let conversation = group(&alice, "docs", &[&bob]).await;

    let document = upload(&alice, "contract.pdf", Some("application/pdf"), &pdf()).await;
    assert_eq!(document.kind, AttachmentKind::File);
    assert!(document.width.is_none() && document.thumbnail_url.is_none());
    let notes = upload(
        &alice,
        "notes.txt",
        Some("text/plain"),
        "grüße\n".as_bytes(),
    )
    .await;
    assert_eq!(notes.content_type, "text/plain");
    let table = upload(&alice, "table.csv", None, b"a,b\n1,2\n").await;
    assert_eq!(table.content_type, "text/csv");
    let video = upload(&alice, "clip.mp4", Some("video/mp4"), &mp4(4096)).await;
    assert_eq!(video.kind, AttachmentKind::Video);

    // Without a caption, type from the attachments: any video makes it a video message.
    let message = send_with(&alice, &conversation, None, &[&document, &video])
        .await
        .expect("sending two attachments");
    assert_eq!(message.kind, MessageType::Video);
    assert!(message.content.is_none());
    let files = send_with(&alice, &conversation, Some(""), &[&notes, &table])
        .await
        .expect("sending two documents");
    assert_eq!(files.kind, MessageType::File);

    let url = bob
        .attachment(document.id)
        .await
        .expect("bob sees the document")
        .url
        .expect("a URL");
    let download = fetch(&server, &url, None).await;
    assert_eq!(download.status, 200);
    assert_eq!(download.body, pdf());
    assert_eq!(download.header("content-type"), Some("application/pdf"));
    assert!(download
        .header("content-disposition")
        .is_some_and(|d| d.starts_with("attachment;") && d.contains("contract.pdf")));

    // A type that contradicts the attachments is refused.
    let image = upload(&alice, "a.png", None, &png(8, 8)).await;
    let wrong = alice
        .send_message(
            conversation.id,
            &SendMessage {
                kind: Some(MessageType::Video),
                attachment_ids: vec![image.id],
                ..Default::default()
            },
        )
        .await;
    assert_eq!(status_code(wrong), (422, "validation_failed".into()));
    // Image, file, video and audio messages without attachments are refused.
    let bare = alice
        .send_message(
            conversation.id,
            &SendMessage {
                kind: Some(MessageType::Image),
                content: Some("no file".into()),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(status_code(bare), (422, "validation_failed".into()));
}

// ---------------------------------------------------------------- refusals

/// Status and code of a refused upload; for 422 `validation_failed`, the field's code.
async fn refused(
    user: &TestUser,
    filename: &str,
    claimed: Option<&str>,
    bytes: &[u8],
) -> (u16, String) {
    match user.upload(filename, claimed, bytes).await {
        Ok(uploaded) => panic!("expected {filename} to be refused, got {uploaded:?}"),
        Err(err) => {
            let problem = err.problem().cloned().expect("a problem body");
            let code = match problem.errors.first() {
                Some(field) if problem.code == "validation_failed" => field.code.clone(),
                _ => problem.code.clone(),
            };
            (problem.status, code)
        }
    }
}

#[tokio::test]
async fn uploads_of_refused_types_and_false_claims_are_rejected() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = server_with_files(dir.path(), |_| {}).await;
    let alice = server.user("alice");
    let not_allowed = (415, "attachment_type_not_allowed".to_owned());
    let mismatch = (415, "attachment_type_mismatch".to_owned());

    // Executables, HTML, SVG and binary junk are of no accepted type.
    let exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00".repeat(8);
    assert_eq!(refused(&alice, "setup.exe", None, &exe).await, not_allowed);
    assert_eq!(
        refused(
            &alice,
            "evil.txt",
            Some("text/plain"),
            b"<!DOCTYPE html><script>alert(1)</script>"
        )
        .await,
        not_allowed
    );
    assert_eq!(
        refused(
            &alice,
            "logo.svg",
            None,
            b"<svg xmlns='http://www.w3.org/2000/svg'/>"
        )
        .await,
        not_allowed
    );
    assert_eq!(
        refused(&alice, "data.bin", None, &[0u8, 1, 2, 3, 250, 251, 252, 0]).await,
        not_allowed
    );
    // A text file with NUL bytes after the first 8 KiB is refused while streaming.
    let mut late_binary = "x".repeat(20_000).into_bytes();
    late_binary.extend_from_slice(&[0, 0, 0]);
    assert_eq!(
        refused(&alice, "late.txt", None, &late_binary).await,
        not_allowed
    );
    // Claims that contradict the bytes.
    let bytes = png(16, 16);
    assert_eq!(
        refused(&alice, "a.png", Some("image/jpeg"), &bytes).await,
        mismatch
    );
    assert_eq!(refused(&alice, "a.pdf", None, &bytes).await, mismatch);
    assert_eq!(
        refused(&alice, "a.html", Some("text/plain"), b"just text").await,
        mismatch
    );
    // A configured allowlist narrows the defaults.
    let narrow = TestServer::spawn_with(|config| {
        config.attachments.allowed_types = vec!["image/png".into()];
    })
    .await;
    let carol = narrow.user("carol");
    assert_eq!(refused(&carol, "c.pdf", None, &pdf()).await, not_allowed);
    assert!(carol.upload("c.png", None, &bytes).await.is_ok());

    // Nothing refused was left in storage or in the database.
    assert!(
        files_under(dir.path()).is_empty(),
        "{:?}",
        files_under(dir.path())
    );
}

#[tokio::test]
async fn broken_images_bombs_and_polyglots_are_rejected_quickly() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = server_with_files(dir.path(), |_| {}).await;
    let alice = server.user("alice");

    // A decompression bomb: refused from its header, before any pixel is decoded.
    let bomb = png_bomb();
    assert!(
        bomb.len() < 4_096,
        "the bomb is small: {} bytes",
        bomb.len()
    );
    let started = std::time::Instant::now();
    assert_eq!(
        refused(&alice, "bomb.png", None, &bomb).await,
        (422, "image_too_large".into())
    );
    // Generous bound for a debug build on a loaded 2-core machine; decoding 400 MB of
    // pixels would take far longer and would show in the server's memory.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // A truncated JPEG (decoders would fill the missing rows with grey).
    let mut truncated = jpeg(400, 300);
    truncated.truncate(truncated.len() * 2 / 3);
    assert_eq!(
        refused(&alice, "cut.jpg", None, &truncated).await,
        (422, "image_malformed".into())
    );
    // A corrupt PNG.
    let mut corrupt = png(64, 64);
    let middle = corrupt.len() / 2;
    corrupt[middle..middle + 16].fill(0xAB);
    assert_eq!(
        refused(&alice, "corrupt.png", None, &corrupt).await,
        (422, "image_malformed".into())
    );
    // A polyglot: the signature of a GIF followed by an HTML page. It is not a GIF that
    // decodes, so it is refused instead of being stored and served as an image.
    let mut polyglot = b"GIF89a\x10\x00\x10\x00".to_vec();
    polyglot.extend_from_slice(&b"<html><script>alert(document.cookie)</script></html>".repeat(4));
    assert_eq!(
        refused(&alice, "cat.gif", Some("image/gif"), &polyglot).await,
        (422, "image_malformed".into())
    );
    // A PDF with an HTML page inside is stored as a PDF and downloaded as an attachment
    // with nosniff, so no browser runs it.
    let mut pdf_html = pdf();
    pdf_html.extend_from_slice(b"<html><script>alert(1)</script></html>");
    let stored = upload(&alice, "doc.pdf", None, &pdf_html).await;
    assert_eq!(stored.content_type, "application/pdf");
    let download = fetch(&server, &stored.url.expect("a URL"), None).await;
    assert_eq!(download.header("content-type"), Some("application/pdf"));
    assert!(download
        .header("content-disposition")
        .is_some_and(|d| d.starts_with("attachment;")));

    // An empty file and a body without a `file` part.
    assert_eq!(
        refused(&alice, "empty.txt", None, b"").await,
        (422, "empty_file".into())
    );
    let no_file = RawBody {
        content_type: "multipart/form-data; boundary=XYZ".into(),
        bytes:
            b"--XYZ\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\nhi\r\n--XYZ--\r\n"
                .to_vec(),
    };
    let response = alice
        .raw(Method::POST, "/v1/uploads", Some(no_file))
        .await
        .expect("an answer");
    assert_eq!(response.status, 422);
    let problem = response.problem().expect("problem+json");
    assert_eq!(problem.errors[0].code, "file_required");
    let not_multipart = alice
        .raw(Method::POST, "/v1/uploads", Some(RawBody::json_text("{}")))
        .await
        .expect("an answer");
    assert_eq!(not_multipart.status, 415);
    assert_eq!(
        not_multipart.problem().map(|p| p.code),
        Some("multipart_required".into())
    );

    // Only the PDF was kept (its file, no thumbnail).
    assert_eq!(
        files_under(dir.path()).len(),
        1,
        "{:?}",
        files_under(dir.path())
    );
}

#[tokio::test]
async fn filenames_are_sanitised() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice");
    let cases = [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\boot.ini.txt", "boot.ini.txt"),
        (".hidden.txt", "hidden.txt"),
        ("invoice\u{202e}txt.exe.txt", "invoicetxt.exe.txt"),
        ("Übersicht März.txt", "Übersicht März.txt"),
        ("...", "file"),
    ];
    for (raw, expected) in cases {
        let uploaded = upload(&alice, raw, None, b"plain text").await;
        assert_eq!(uploaded.filename, expected, "{raw:?}");
    }
    let long = format!("{}.txt", "a".repeat(400));
    let uploaded = upload(&alice, &long, None, b"plain text").await;
    assert_eq!(uploaded.filename.chars().count(), 200);
    assert!(uploaded.filename.ends_with(".txt"));
}

/// Sends a request that announces `announced` bytes over a raw socket, writing until the
/// server stops reading, and returns the response head and how much was written.
async fn raw_upload(
    server: &TestServer,
    token: &str,
    announced: usize,
    chunked: bool,
) -> (String, usize) {
    let address = server.base_url().trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connects");
    let boundary = "natter-cutoff";
    let preamble = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.mp4\"\r\n\
         Content-Type: video/mp4\r\n\r\n"
    );
    let length = if chunked {
        "Transfer-Encoding: chunked\r\n".to_owned()
    } else {
        format!("Content-Length: {announced}\r\n")
    };
    let head = format!(
        "POST /v1/uploads HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\n{length}\r\n"
    );
    let (mut reader, mut writer) = socket.split();
    let mut written = 0usize;
    let write = async {
        writer.write_all(head.as_bytes()).await?;
        let mut body = preamble.into_bytes();
        body.extend_from_slice(&mp4(64 * 1024));
        let filler = vec![0x22u8; 64 * 1024];
        while written < announced {
            let piece: &[u8] = if written == 0 { &body } else { &filler };
            let piece = &piece[..piece.len().min(announced - written)];
            if chunked {
                writer
                    .write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                    .await?;
                writer.write_all(piece).await?;
                writer.write_all(b"\r\n").await?;
            } else {
                writer.write_all(piece).await?;
            }
            written += piece.len();
        }
        Ok::<(), std::io::Error>(())
    };
    let mut response = Vec::new();
    let read = async {
        let mut buffer = [0u8; 4096];
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    response.extend_from_slice(&buffer[..n]);
                    if response.windows(4).any(|w| w == b"\r\n\r\n") && response.ends_with(b"}") {
                        break;
                    }
                }
            }
        }
    };
    // The writer stops when the server closes the connection (or the body is all sent);
    // a server that kept reading to the end would show as all of it written.
    let ((), ()) = tokio::join!(
        async {
            let _ = tokio::time::timeout(Duration::from_secs(60), write).await;
        },
        read
    );
    (String::from_utf8_lossy(&response).into_owned(), written)
}

#[tokio::test]
async fn oversized_uploads_are_cut_off_at_the_limit_while_streaming() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = server_with_files(dir.path(), |config| {
        config.attachments.max_media_bytes = 2 * 1024 * 1024;
        config.attachments.max_image_bytes = 1024 * 1024;
        config.attachments.max_file_bytes = 1024 * 1024;
    })
    .await;
    let token = server.token("alice", AppRole::User);
    let announced = 60 * 1024 * 1024;
    for chunked in [false, true] {
        let (response, written) = raw_upload(&server, &token, announced, chunked).await;
        assert!(
            response.starts_with("HTTP/1.1 413"),
            "chunked={chunked}: {response}"
        );
        assert!(response.contains("attachment_too_large"), "{response}");
        // The server stopped reading near the limit: far less than the 60 MB announced
        // was accepted by the socket (the limit plus socket buffers).
        assert!(
            written < 24 * 1024 * 1024,
            "chunked={chunked}: {written} of {announced} bytes were read"
        );
    }
    let alice = server.user("alice");
    let small = alice.upload("ok.mp4", None, &mp4(1024 * 1024)).await;
    assert!(small.is_ok(), "{small:?}");
    // An image (a PNG with 1.2 MB of trailing bytes) over its own 1 MiB limit.
    let mut big_image = png(8, 8);
    big_image.resize(1_200_000, 0);
    assert_eq!(
        refused(&alice, "big.png", None, &big_image).await,
        (413, "attachment_too_large".into())
    );
    // Only the accepted upload is in storage.
    assert_eq!(
        files_under(dir.path()).len(),
        1,
        "{:?}",
        files_under(dir.path())
    );
}

// ---------------------------------------------------------------- signed URLs

#[tokio::test]
async fn tampered_and_expired_download_urls_are_refused() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice");
    let uploaded = upload(&alice, "a.txt", None, b"secret text").await;
    let url = uploaded.url.clone().expect("a URL");
    assert_eq!(fetch(&server, &url, None).await.status, 200);

    let (path, query) = url.split_once('?').expect("a query");
    let params: Vec<(&str, &str)> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .collect();
    let expires: i64 = params
        .iter()
        .find(|(k, _)| *k == "expires")
        .and_then(|(_, v)| v.parse().ok())
        .expect("expires");
    let signature = params
        .iter()
        .find(|(k, _)| *k == "signature")
        .map(|(_, v)| *v)
        .expect("signature");

    let expect_code = |response: RawResponse, status: u16, code: &str| {
        assert_eq!(response.status, status, "{}", response.text());
        assert_eq!(
            response.problem().map(|p| p.code).as_deref(),
            Some(code),
            "{}",
            response.text()
        );
    };
    // A flipped signature character, a later expiry, no signature, the thumbnail path with
    // the content signature, another attachment's id.
    let mut flipped = signature.to_owned().into_bytes();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).expect("ascii");
    expect_code(
        fetch(
            &server,
            &format!("{path}?expires={expires}&signature={flipped}"),
            None,
        )
        .await,
        403,
        "signature_invalid",
    );
    expect_code(
        fetch(
            &server,
            &format!("{path}?expires={}&signature={signature}", expires + 3600),
            None,
        )
        .await,
        403,
        "signature_invalid",
    );
    expect_code(fetch(&server, path, None).await, 403, "signature_invalid");
    expect_code(
        fetch(
            &server,
            &format!(
                "{}?expires={expires}&signature={signature}",
                path.replace("/content", "/thumbnail")
            ),
            None,
        )
        .await,
        403,
        "signature_invalid",
    );
    let other = upload(&alice, "b.txt", None, b"other text").await;
    expect_code(
        fetch(
            &server,
            &format!(
                "{}?expires={expires}&signature={signature}",
                path.replace(&uploaded.id.to_string(), &other.id.to_string())
            ),
            None,
        )
        .await,
        403,
        "signature_invalid",
    );

    // A correctly signed URL whose time has passed (signed here with the server's key).
    let auth = natter_app::Authenticator::new(
        Some(natter_app::JwtKey::Hs256(JWT_SECRET.as_bytes().to_vec())),
        &[API_KEY.to_owned()],
    )
    .expect("the test server's authenticator");
    let past = natter_testkit::unix_now() as i64 - 10;
    let old = auth.sign_download("content", uploaded.id.0, past);
    // Sanity: the same key signs what the server signed.
    assert_eq!(
        auth.sign_download("content", uploaded.id.0, expires),
        signature
    );
    expect_code(
        fetch(
            &server,
            &format!("{path}?expires={past}&signature={old}"),
            None,
        )
        .await,
        403,
        "url_expired",
    );
}

// ---------------------------------------------------------------- access

#[tokio::test]
async fn attachment_access_follows_the_conversation() {
    let server = TestServer::spawn().await;
    let owner = server.user("owner");
    let member = server.user("member");
    let removed = server.user("removed");
    let outsider = server.user("outsider");
    let elsewhere = server.user("elsewhere");
    let admin = server.user_with_role("root", AppRole::Admin);
    let conversation = group(&owner, "team", &[&member, &removed]).await;
    let other = group(&elsewhere, "other team", &[&outsider]).await;

    let uploaded = upload(&member, "plan.txt", None, b"the plan").await;
    // Only the uploader (and moderators) see an unattached upload.
    assert!(member.attachment(uploaded.id).await.is_ok());
    assert!(admin.attachment(uploaded.id).await.is_ok());
    assert_eq!(status_code(owner.attachment(uploaded.id).await).0, 404);
    // Nobody else may attach it: someone else's upload is not found for them.
    let stolen = send_with(&owner, &conversation, None, &[&uploaded]).await;
    assert_eq!(status_code(stolen), (422, "validation_failed".into()));
    let sent = send_with(&member, &conversation, Some("plan"), &[&uploaded])
        .await
        .expect("the uploader attaches it");
    // Attached once only: not again, here or in another conversation.
    let again = send_with(&member, &conversation, None, &[&uploaded]).await;
    let problem = again
        .expect_err("attached twice")
        .problem()
        .cloned()
        .expect("a problem");
    assert_eq!(problem.errors[0].code, "attachment_in_use");
    // An unknown id, duplicates, and more than ten.
    let fresh = upload(&member, "x.txt", None, b"x").await;
    let duplicate = send_with(&member, &conversation, None, &[&fresh, &fresh]).await;
    assert_eq!(status_code(duplicate), (422, "validation_failed".into()));
    let many: Vec<Attachment> = {
        let mut many = Vec::new();
        for n in 0..11 {
            many.push(upload(&member, &format!("{n}.txt"), None, b"n").await);
        }
        many
    };
    let refs: Vec<&Attachment> = many.iter().collect();
    assert_eq!(
        status_code(send_with(&member, &conversation, None, &refs).await),
        (422, "validation_failed".into())
    );

    // After sending: participants, the uploader, app admins and the server key see it.
    owner
        .remove_participant(conversation.id, &removed.id)
        .await
        .expect("the owner removes a member");
    let url = owner
        .attachment(uploaded.id)
        .await
        .expect("the owner sees it")
        .url;
    assert!(url.is_some());
    assert!(member.attachment(uploaded.id).await.is_ok());
    assert!(admin.attachment(uploaded.id).await.is_ok());
    assert!(server.server().attachment(uploaded.id).await.is_ok());
    for (who, client) in [
        ("removed participant", &removed.client),
        ("participant of another conversation", &outsider.client),
        ("another conversation's owner", &elsewhere.client),
    ] {
        assert_eq!(
            status_code(client.attachment(uploaded.id).await),
            (404, "attachment_not_found".into()),
            "{who}"
        );
    }
    let anonymous: Client = server.anonymous();
    assert_eq!(status_code(anonymous.attachment(uploaded.id).await).0, 401);
    // The message is in the conversation, not the other one.
    assert_eq!(sent.conversation_id, conversation.id);
    assert_ne!(other.id, conversation.id);
    // An unknown id is 404 for everyone, a malformed one 4xx.
    let unknown = natter_proto::AttachmentId::new();
    assert_eq!(status_code(admin.attachment(unknown).await).0, 404);
    let malformed = member
        .raw(Method::GET, "/v1/attachments/not-an-id", None)
        .await
        .expect("an answer");
    assert!(
        (400..500).contains(&malformed.status),
        "{}",
        malformed.status
    );
    // Uploads need a user: the server key alone is refused.
    assert_eq!(
        status_code(server.server().upload("s.txt", None, b"x").await).0,
        403
    );
    assert_eq!(
        status_code(anonymous.upload("a.txt", None, b"x").await).0,
        401
    );
}

#[tokio::test]
async fn retrying_a_send_with_the_same_client_message_id_returns_the_original() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice");
    let bob = server.user("bob");
    let conversation = group(&alice, "retry", &[&bob]).await;
    let uploaded = upload(&alice, "a.png", None, &png(10, 10)).await;
    let request = SendMessage {
        attachment_ids: vec![uploaded.id],
        client_message_id: Some("retry-1".into()),
        ..Default::default()
    };
    let first = alice
        .send_message(conversation.id, &request)
        .await
        .expect("first send");
    let second = alice
        .send_message(conversation.id, &request)
        .await
        .expect("the retry");
    assert!(first.created && !second.created);
    assert_eq!(first.value.id, second.value.id);
    let page = alice
        .list_messages(conversation.id, &Default::default())
        .await
        .expect("a page");
    assert_eq!(page.items.len(), 1);
}

// ---------------------------------------------------------------- lifecycle

#[tokio::test]
async fn deleting_a_message_hides_its_files_and_retention_removes_them() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = server_with_files(dir.path(), |config| {
        config.messages.deleted_retention_days = 0;
        config.attachments.cleanup_interval_secs = 1;
    })
    .await;
    let alice = server.user("alice");
    let bob = server.user("bob");
    let conversation = group(&alice, "oops", &[&bob]).await;
    let kept = upload(&alice, "kept.png", None, &png(20, 20)).await;
    let gone = upload(&alice, "gone.png", None, &png(20, 20)).await;
    send_with(&alice, &conversation, None, &[&kept])
        .await
        .expect("sent");
    let message = send_with(&alice, &conversation, None, &[&gone])
        .await
        .expect("sent");
    let url = bob
        .attachment(gone.id)
        .await
        .expect("visible")
        .url
        .expect("a URL");
    assert_eq!(fetch(&server, &url, None).await.status, 200);
    assert_eq!(
        files_under(dir.path()).len(),
        4,
        "two files and two thumbnails"
    );

    alice
        .delete_message(message.id, true)
        .await
        .expect("deleted for everyone");
    assert_eq!(status_code(bob.attachment(gone.id).await).0, 404);
    assert_eq!(status_code(alice.attachment(gone.id).await).0, 404);
    assert_eq!(fetch(&server, &url, None).await.status, 404);
    let tombstone = bob.message(message.id).await.expect("the tombstone");
    assert!(tombstone.attachments.is_empty());

    // The cleanup job removes the deleted message's objects; the other stays.
    eventually("the deleted message's files are removed", async || {
        files_under(dir.path()).len() == 2
    })
    .await;
    let still = bob.attachment(kept.id).await.expect("the kept one");
    assert_eq!(
        fetch(&server, &still.url.expect("a URL"), None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn uploads_never_attached_are_deleted_after_their_time() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = server_with_files(dir.path(), |config| {
        config.attachments.unattached_ttl_secs = 1;
        config.attachments.cleanup_interval_secs = 1;
    })
    .await;
    let alice = server.user("alice");
    let bob = server.user("bob");
    let conversation = group(&alice, "orphans", &[&bob]).await;
    let orphan = upload(&alice, "orphan.txt", None, b"nobody wants me").await;
    let used = upload(&alice, "used.txt", None, b"attached").await;
    send_with(&alice, &conversation, None, &[&used])
        .await
        .expect("sent");

    eventually("the orphan is deleted", async || {
        alice.attachment(orphan.id).await.is_err()
    })
    .await;
    assert_eq!(
        status_code(alice.attachment(orphan.id).await),
        (404, "attachment_not_found".into())
    );
    // Its object went with it; the attached upload stays.
    eventually("one object is left", async || {
        files_under(dir.path()).len() == 1
    })
    .await;
    assert!(bob.attachment(used.id).await.is_ok());
    // An expired upload can no longer be attached.
    let late = send_with(&alice, &conversation, None, &[&orphan]).await;
    assert_eq!(status_code(late), (422, "validation_failed".into()));
}

// ---------------------------------------------------------------- scanning

/// A server that speaks clamd's INSTREAM protocol: reads `zINSTREAM\0` and length-prefixed
/// chunks up to a zero length, then answers `stream: OK` or, when the bytes contain the
/// EICAR string, `stream: Eicar-Signature FOUND`.
async fn clamd_session<S>(mut socket: S) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut command = [0u8; 10];
    socket.read_exact(&mut command).await?;
    if &command != b"zINSTREAM\0" {
        socket.write_all(b"UNKNOWN COMMAND\0").await?;
        return Ok(());
    }
    let mut content = Vec::new();
    loop {
        let mut length = [0u8; 4];
        socket.read_exact(&mut length).await?;
        let length = u32::from_be_bytes(length) as usize;
        if length == 0 {
            break;
        }
        let start = content.len();
        content.resize(start + length, 0);
        socket.read_exact(&mut content[start..]).await?;
    }
    let infected = content
        .windows(EICAR.len())
        .any(|window| window == EICAR.as_bytes());
    let answer: &[u8] = if infected {
        b"stream: Eicar-Signature FOUND\0"
    } else {
        b"stream: OK\0"
    };
    socket.write_all(answer).await?;
    socket.shutdown().await
}

async fn tcp_clamd() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let address = listener.local_addr().expect("an address");
    let task = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(clamd_session(socket));
        }
    });
    (format!("tcp://{address}"), task)
}

async fn scanning_checks(server: &TestServer) {
    let alice = server.user("alice");
    let bob = server.user("bob");
    let conversation = group(&alice, "scanned", &[&bob]).await;
    let clean = upload(&alice, "clean.txt", None, b"harmless").await;
    assert_eq!(clean.scan_status, ScanStatus::Clean);
    assert!(clean.url.is_some());
    let image = upload(&alice, "clean.png", None, &png(30, 30)).await;
    assert_eq!(image.scan_status, ScanStatus::Clean);

    let infected = upload(&alice, "eicar.txt", None, EICAR.as_bytes()).await;
    assert_eq!(infected.scan_status, ScanStatus::Infected);
    assert!(
        infected.url.is_none(),
        "an infected file has no download URL"
    );
    // It can never be attached or downloaded, even with a correctly signed URL.
    let sent = send_with(&alice, &conversation, None, &[&infected]).await;
    let problem = sent
        .expect_err("infected")
        .problem()
        .cloned()
        .expect("a problem");
    assert_eq!(problem.errors[0].code, "attachment_infected");
    let signed = clean
        .url
        .expect("a URL")
        .replace(&clean.id.to_string(), &infected.id.to_string());
    let auth = natter_app::Authenticator::new(
        Some(natter_app::JwtKey::Hs256(JWT_SECRET.as_bytes().to_vec())),
        &[API_KEY.to_owned()],
    )
    .expect("the test server's authenticator");
    let expires = natter_testkit::unix_now() as i64 + 600;
    let forged = format!(
        "/v1/attachments/{}/content?expires={expires}&signature={}",
        infected.id,
        auth.sign_download("content", infected.id.0, expires)
    );
    let response = fetch(server, &forged, None).await;
    assert_eq!(response.status, 403, "{}", response.text());
    assert_eq!(
        response.problem().map(|p| p.code),
        Some("attachment_infected".into())
    );
    assert_eq!(fetch(server, &signed, None).await.status, 403);
}

#[tokio::test]
async fn clamd_over_tcp_marks_uploads_clean_or_infected() {
    let (address, clamd) = tcp_clamd().await;
    let server = TestServer::spawn_with(|config| config.attachments.clamd = Some(address)).await;
    scanning_checks(&server).await;
    clamd.abort();
}

#[tokio::test]
async fn clamd_over_a_unix_socket_marks_uploads_clean_or_infected() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("clamd.sock");
    let listener = tokio::net::UnixListener::bind(&path).expect("binds a unix socket");
    let clamd = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(clamd_session(socket));
        }
    });
    let address = format!("unix://{}", path.display());
    let server = TestServer::spawn_with(|config| config.attachments.clamd = Some(address)).await;
    scanning_checks(&server).await;
    clamd.abort();
}

#[tokio::test]
async fn unreachable_clamd_leaves_uploads_pending_until_a_later_scan() {
    // A port with nothing listening: bind one, then close it.
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        listener.local_addr().expect("an address")
    };
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = server_with_files(dir.path(), |config| {
        config.attachments.clamd = Some(format!("tcp://{address}"));
        config.attachments.cleanup_interval_secs = 1;
    })
    .await;
    let alice = server.user("alice");
    let pending = upload(&alice, "wait.txt", None, b"not scanned yet").await;
    assert_eq!(pending.scan_status, ScanStatus::Pending);
    assert!(
        pending.url.is_none(),
        "pending files are not served by default"
    );

    // When clamd comes up on that address, the cleanup job scans it.
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .expect("rebinds the port");
    let clamd = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(clamd_session(socket));
        }
    });
    eventually("the pending upload is scanned", async || {
        alice
            .attachment(pending.id)
            .await
            .is_ok_and(|a| a.scan_status == ScanStatus::Clean)
    })
    .await;
    let scanned = alice.attachment(pending.id).await.expect("visible");
    assert_eq!(
        fetch(&server, &scanned.url.expect("a URL now"), None)
            .await
            .status,
        200
    );
    clamd.abort();

    // With serve_pending, a pending file is served.
    let lenient = TestServer::spawn_with(|config| {
        config.attachments.clamd = Some("tcp://127.0.0.1:1".into());
        config.attachments.serve_pending = true;
    })
    .await;
    let carol = lenient.user("carol");
    let served = upload(&carol, "c.txt", None, b"pending but served").await;
    assert_eq!(served.scan_status, ScanStatus::Pending);
    let download = fetch(&lenient, &served.url.expect("a URL"), None).await;
    assert_eq!(download.status, 200);
    assert_eq!(download.body, b"pending but served");
}
