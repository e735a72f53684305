//! `upload`: what attachments cost the server — its peak memory while large files stream
//! in, and the time to accept a camera-sized JPEG (decoded whole, thumbnail made).
//!
//! Phases, on a spawned server (memory is read from `/proc/<pid>/status`): the server's
//! `VmHWM` (peak resident memory so far) after it is ready; `--rounds` uploads of a
//! `--media-mb` MP4 one after the other, each timed; `VmHWM` again (`peak_after_media_kb`:
//! the growth is what streaming cost); then `--rounds` uploads of a `--jpeg-megapixels`
//! JPEG, each timed, and `VmHWM` a third time. The JPEG's latency is the whole request:
//! transfer, type detection, full decode on the blocking pool, the 320 px thumbnail and
//! the database row. The files are generated here, so the run needs nothing on disk.

use std::io::Cursor;
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use crate::harness::{Latencies, LatencySummary, Target};

/// Flags of `natter-bench upload`.
#[derive(Debug, Clone, clap::Args)]
pub struct UploadArgs {
    /// Size of each media upload in MB (the default limit for video is 50 MB).
    #[arg(long, default_value_t = 50)]
    media_mb: usize,
    /// Megapixels of the JPEG (12 is 4000 × 3000).
    #[arg(long, default_value_t = 12.0)]
    jpeg_megapixels: f64,
    /// Uploads of each kind.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

/// Results of one run, printed as one JSON line.
#[derive(Debug, Serialize)]
pub struct UploadReport {
    scenario: &'static str,
    store: &'static str,
    media_bytes: usize,
    jpeg_bytes: usize,
    jpeg_width: u32,
    jpeg_height: u32,
    /// Server peak RSS after it was ready.
    peak_fresh_kb: Option<u64>,
    /// Server peak RSS after the media uploads.
    peak_after_media_kb: Option<u64>,
    /// Server peak RSS after the JPEG uploads.
    peak_after_jpeg_kb: Option<u64>,
    /// Whole-request latency of a media upload.
    media_latency: LatencySummary,
    /// Media upload throughput, MB/s (median round).
    media_mb_per_s: Option<f64>,
    /// Whole-request latency of a JPEG upload (decode and thumbnail included).
    jpeg_latency: LatencySummary,
}

impl UploadReport {
    /// A few lines for a human, for stderr.
    pub fn human(&self) -> String {
        let show = |value: Option<u64>| value.map_or_else(|| "?".to_owned(), |v| v.to_string());
        format!(
            "upload ({}): {} MB media: {} ({} MB/s)\n  {}×{} JPEG ({} bytes): {}\n  server \
             peak RSS: fresh {} KB, after media {} KB, after JPEG {} KB",
            self.store,
            self.media_bytes / 1_000_000,
            self.media_latency,
            self.media_mb_per_s
                .map_or_else(|| "?".to_owned(), |v| format!("{v:.0}")),
            self.jpeg_width,
            self.jpeg_height,
            self.jpeg_bytes,
            self.jpeg_latency,
            show(self.peak_fresh_kb),
            show(self.peak_after_media_kb),
            show(self.peak_after_jpeg_kb),
        )
    }
}

/// Runs the scenario.
pub async fn run(target: &Target, args: &UploadArgs) -> anyhow::Result<UploadReport> {
    let user = target.user("uploader")?;
    let media = mp4(args.media_mb * 1_000_000);
    let (jpeg, jpeg_width, jpeg_height) = camera_jpeg(args.jpeg_megapixels)?;
    let peak_fresh_kb = target.server_peak_rss_kb();

    let mut media_latency = Latencies::default();
    let mut rates = Vec::new();
    for round in 0..args.rounds {
        let started = Instant::now();
        user.client
            .upload(&format!("clip-{round}.mp4"), Some("video/mp4"), &media)
            .await
            .with_context(|| format!("uploading {} MB of video", args.media_mb))?;
        let elapsed = started.elapsed();
        media_latency.record(elapsed);
        rates.push(media.len() as f64 / 1_000_000.0 / elapsed.as_secs_f64());
    }
    let peak_after_media_kb = target.server_peak_rss_kb();

    let mut jpeg_latency = Latencies::default();
    for round in 0..args.rounds {
        let started = Instant::now();
        let uploaded = user
            .client
            .upload(&format!("photo-{round}.jpg"), Some("image/jpeg"), &jpeg)
            .await
            .context("uploading the JPEG")?;
        jpeg_latency.record(started.elapsed());
        anyhow::ensure!(
            uploaded.width == Some(jpeg_width) && uploaded.thumbnail_url.is_some(),
            "the JPEG came back without its size or thumbnail: {uploaded:?}"
        );
    }
    let peak_after_jpeg_kb = target.server_peak_rss_kb();

    rates.sort_by(f64::total_cmp);
    Ok(UploadReport {
        scenario: "upload",
        store: target.store(),
        media_bytes: media.len(),
        jpeg_bytes: jpeg.len(),
        jpeg_width,
        jpeg_height,
        peak_fresh_kb,
        peak_after_media_kb,
        peak_after_jpeg_kb,
        media_latency: media_latency.summary(),
        media_mb_per_s: rates.get(rates.len() / 2).copied(),
        jpeg_latency: jpeg_latency.summary(),
    })
}

/// An MP4's `ftyp` box followed by filler, `size` bytes in all.
fn mp4(size: usize) -> Vec<u8> {
    let mut bytes = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom".to_vec();
    bytes.resize(size.max(bytes.len()), 0);
    for (index, byte) in bytes.iter_mut().enumerate().skip(24) {
        *byte = (index % 251) as u8;
    }
    bytes
}

/// A 4:3 JPEG of about `megapixels`, with detail a camera photo has (noise over a
/// gradient), at quality 90: a few MB, like a phone's.
fn camera_jpeg(megapixels: f64) -> anyhow::Result<(Vec<u8>, u32, u32)> {
    let height = (megapixels * 1_000_000.0 * 3.0 / 4.0).sqrt().round() as u32;
    let width = height * 4 / 3;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let noise = (state % 48) as u8;
        image::Rgb([
            ((x * 255 / width) as u8).saturating_add(noise),
            ((y * 255 / height) as u8).saturating_add(noise / 2),
            120u8.saturating_add(noise),
        ])
    });
    let mut out = Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&image)
        .context("encoding the JPEG")?;
    Ok((out.into_inner(), width, height))
}
