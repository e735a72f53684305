//! Image dimensions and thumbnails, with bounds against decompression bombs: the header's
//! dimensions are checked before any pixel is decoded, and the decoder's allocations are
//! capped. Runs on the blocking pool (the caller's job), never on the async runtime.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

/// Longest side of a thumbnail, in pixels.
pub const THUMBNAIL_MAX: u32 = 320;

/// Bounds on decoding.
#[derive(Debug, Clone, Copy)]
pub struct ImageLimits {
    /// Largest width or height accepted.
    pub max_side: u32,
    /// Largest width × height accepted.
    pub max_pixels: u64,
    /// Most memory the decoder may allocate, in bytes.
    pub max_alloc: u64,
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self {
            max_side: 16_384,
            max_pixels: 50_000_000,
            max_alloc: 512 * 1024 * 1024,
        }
    }
}

/// Why an image was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ImageRefusal {
    /// Larger than the limits (a decompression bomb, or simply too big).
    TooLarge(String),
    /// Not a decodable image of its detected type (truncated, corrupt, or a polyglot
    /// that only starts like an image).
    Malformed(String),
}

/// An accepted image.
#[derive(Debug, Clone)]
pub(crate) struct Probed {
    /// Width as displayed (after the EXIF orientation).
    pub width: u32,
    /// Height as displayed.
    pub height: u32,
    /// JPEG thumbnail, at most [`THUMBNAIL_MAX`] on its longest side.
    pub thumbnail: Vec<u8>,
}

/// Decodes the image fully (so that a broken file is refused now, not when someone views
/// it) and makes its thumbnail.
pub(crate) fn probe(bytes: &[u8], mime: &str, limits: ImageLimits) -> Result<Probed, ImageRefusal> {
    let format = match mime {
        "image/jpeg" => ImageFormat::Jpeg,
        "image/png" => ImageFormat::Png,
        "image/gif" => ImageFormat::Gif,
        "image/webp" => ImageFormat::WebP,
        other => {
            return Err(ImageRefusal::Malformed(format!(
                "{other} is not an image type"
            )))
        }
    };
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(ImageRefusal::Malformed(
            "the JPEG is truncated (no end-of-image marker after the image data)".into(),
        ));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_image_width = Some(limits.max_side);
    decoder_limits.max_image_height = Some(limits.max_side);
    decoder_limits.max_alloc = Some(limits.max_alloc);
    reader.limits(decoder_limits);
    let mut decoder = reader.into_decoder().map_err(refusal)?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(ImageRefusal::Malformed("the image has no pixels".into()));
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(ImageRefusal::TooLarge(format!(
            "{width}×{height} pixels is more than the {} allowed",
            limits.max_pixels
        )));
    }
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(refusal)?;
    image.apply_orientation(orientation);
    let (width, height) = (image.width(), image.height());
    let small = image.thumbnail(THUMBNAIL_MAX, THUMBNAIL_MAX);
    drop(image);
    let rgb = flatten(small);
    let mut thumbnail = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut thumbnail, 80)
        .encode_image(&rgb)
        .map_err(|err| ImageRefusal::Malformed(format!("thumbnail encoding failed: {err}")))?;
    Ok(Probed {
        width,
        height,
        thumbnail,
    })
}

fn refusal(err: image::ImageError) -> ImageRefusal {
    match err {
        image::ImageError::Limits(limit) => ImageRefusal::TooLarge(limit.to_string()),
        other => ImageRefusal::Malformed(other.to_string()),
    }
}

/// RGB on white: JPEG has no alpha channel.
fn flatten(image: DynamicImage) -> DynamicImage {
    if !image.color().has_alpha() {
        return DynamicImage::ImageRgb8(image.into_rgb8());
    }
    let rgba = image.into_rgba8();
    let mut rgb = image::RgbImage::new(rgba.width(), rgba.height());
    for (target, source) in rgb.pixels_mut().zip(rgba.pixels()) {
        let [r, g, b, a] = source.0;
        let blend =
            |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a))) / 255) as u8;
        target.0 = [blend(r), blend(g), blend(b)];
    }
    DynamicImage::ImageRgb8(rgb)
}

/// A JPEG ends with an end-of-image marker (FF D9) after its last start-of-scan (FF DA);
/// decoders fill a truncated file's missing rows with grey instead of failing, so this is
/// checked first. Bytes after the marker (trailers some cameras write) are allowed.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last_scan = bytes.windows(2).rposition(|pair| pair == [0xFF, 0xDA]);
    let last_end = bytes.windows(2).rposition(|pair| pair == [0xFF, 0xD9]);
    matches!((last_scan, last_end), (Some(scan), Some(end)) if end > scan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbaImage::from_pixel(width, height, image::Rgba([200, 10, 10, 128]));
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, ImageFormat::Png).expect("encode");
        out.into_inner()
    }

    #[test]
    fn thumbnails_fit_in_320_pixels() {
        let probed = probe(&png(1000, 500), "image/png", ImageLimits::default()).expect("probe");
        assert_eq!((probed.width, probed.height), (1000, 500));
        let thumbnail = image::load_from_memory(&probed.thumbnail).expect("a JPEG");
        assert_eq!((thumbnail.width(), thumbnail.height()), (320, 160));
    }

    #[test]
    fn limits_refuse_large_images_before_decoding() {
        let limits = ImageLimits {
            max_pixels: 10_000,
            ..ImageLimits::default()
        };
        assert!(matches!(
            probe(&png(200, 200), "image/png", limits),
            Err(ImageRefusal::TooLarge(_))
        ));
    }

    #[test]
    fn broken_images_are_malformed() {
        let mut bytes = png(50, 50);
        bytes.truncate(bytes.len() / 2);
        assert!(matches!(
            probe(&bytes, "image/png", ImageLimits::default()),
            Err(ImageRefusal::Malformed(_))
        ));
        assert!(matches!(
            probe(
                b"GIF89a\x10\x00\x10\x00<script>alert(1)</script>",
                "image/gif",
                ImageLimits::default()
            ),
            Err(ImageRefusal::Malformed(_))
        ));
    }
}
