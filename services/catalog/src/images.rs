//! Product pictures: an upload is checked, named by the SHA-256 of its bytes and resized for
//! phones and desktops once, at upload (JPEG at 320, 640 and 1280 pixels wide, never enlarged).
//! Pages then ask for the width the screen needs (`srcset`) and browsers keep each file for a
//! year: a new picture is a new name.

use std::{collections::HashMap, io::Cursor};

use image::{DynamicImage, ImageFormat, ImageReader, Limits, imageops::FilterType};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use pola_core::Error;

use crate::{Catalog, store};

/// The widths pictures are served at.
pub const WIDTHS: [u32; 3] = [320, 640, 1280];

/// The largest file staff may upload: 5 MiB.
pub const MAX_UPLOAD_BYTES: usize = 5 * 1024 * 1024;

/// The largest picture decoded (a small file can claim to be a huge picture).
const MAX_SIDE: u32 = 8000;

/// JPEG quality of the resized files: good on a phone, small on a slow link.
const QUALITY: u8 = 80;

/// What is wrong with an upload.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UploadError {
    #[error("the file is larger than {} MiB", MAX_UPLOAD_BYTES / 1024 / 1024)]
    TooLarge,
    #[error("only JPEG and PNG pictures are taken")]
    NotAPicture,
    #[error("the picture is larger than {MAX_SIDE} pixels on a side, or damaged")]
    Undecodable,
}

/// An upload, checked and resized.
pub struct Processed {
    /// Lower-case hex SHA-256 of the uploaded bytes.
    pub hash: String,
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
    pub original: Vec<u8>,
    /// (width, JPEG bytes), smallest first.
    pub renditions: Vec<(u32, Vec<u8>)>,
}

/// Checks, names and resizes an upload.
pub fn process(bytes: Vec<u8>) -> Result<Processed, UploadError> {
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(UploadError::TooLarge);
    }
    let format = image::guess_format(&bytes).map_err(|_| UploadError::NotAPicture)?;
    let content_type = match format {
        ImageFormat::Jpeg => "image/jpeg",
        ImageFormat::Png => "image/png",
        _ => return Err(UploadError::NotAPicture),
    };
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(512 * 1024 * 1024);
    let mut reader = ImageReader::with_format(Cursor::new(&bytes), format);
    reader.limits(limits);
    let picture = reader.decode().map_err(|_| UploadError::Undecodable)?;
    let (width, height) = (picture.width(), picture.height());
    let renditions = WIDTHS
        .iter()
        .copied()
        // Never enlarged; a picture narrower than the smallest width is served as it is.
        .filter(|&w| w <= width || w == WIDTHS[0])
        .map(|w| jpeg(&picture, w.min(width)).map(|bytes| (w, bytes)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Processed {
        hash: hex(&Sha256::digest(&bytes)),
        content_type,
        width,
        height,
        original: bytes,
        renditions,
    })
}

fn jpeg(picture: &DynamicImage, width: u32) -> Result<Vec<u8>, UploadError> {
    let height = (u64::from(picture.height()) * u64::from(width) / u64::from(picture.width().max(1))).max(1);
    let resized = picture
        .resize_exact(width, u32::try_from(height).unwrap_or(u32::MAX), FilterType::Triangle)
        .into_rgb8();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, QUALITY)
        .encode_image(&resized)
        .map_err(|_| UploadError::Undecodable)?;
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `text` can be an image's name (64 lower-case hex digits).
pub fn is_hash(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `POST /api/v1/catalog/images`' answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UploadedImage {
    /// The picture's name: the SHA-256 of the file.
    pub hash: String,
    pub width: u32,
    pub height: u32,
    /// The widths it is served at: `/images/{hash}/{width}.jpg`.
    pub widths: Vec<u32>,
}

/// What the picture shows, for those who cannot see it, in the shop's three languages.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AltText {
    pub en: String,
    pub si: String,
    pub ta: String,
}

/// `POST /api/v1/catalog/products/{id}/images`
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProductImage {
    /// An uploaded picture's hash.
    pub image: String,
    /// The variant it shows; none for the product as a whole.
    pub variant_id: Option<Uuid>,
    pub alt: AltText,
    /// Where it goes among the product's pictures (0 first); default last.
    pub position: Option<i32>,
}

impl NewProductImage {
    pub fn validate(&self) -> Result<(), Vec<pola_core::FieldError>> {
        let mut errors = vec![];
        if !is_hash(&self.image) {
            errors.push(pola_core::FieldError::new("image", "must be an uploaded picture's hash"));
        }
        check_alt_and_position(Some(&self.alt), self.position, &mut errors);
        match errors.is_empty() {
            true => Ok(()),
            false => Err(errors),
        }
    }
}

/// `PATCH /api/v1/catalog/products/{id}/images/{image_id}`: new words, a new place, or both.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductImagePatch {
    pub alt: Option<AltText>,
    /// Where it goes among the product's pictures (0 first): the others keep their order
    /// around it.
    pub position: Option<i32>,
}

impl ProductImagePatch {
    pub fn validate(&self) -> Result<(), Vec<pola_core::FieldError>> {
        let mut errors = vec![];
        check_alt_and_position(self.alt.as_ref(), self.position, &mut errors);
        match errors.is_empty() {
            true => Ok(()),
            false => Err(errors),
        }
    }
}

fn check_alt_and_position(alt: Option<&AltText>, position: Option<i32>, errors: &mut Vec<pola_core::FieldError>) {
    for (field, text) in alt
        .into_iter()
        .flat_map(|alt| [("alt.en", &alt.en), ("alt.si", &alt.si), ("alt.ta", &alt.ta)])
    {
        let length = text.trim().chars().count();
        if length == 0 || length > 200 || text.chars().any(char::is_control) {
            errors.push(pola_core::FieldError::new(field, "must be 1 to 200 characters"));
        }
    }
    if position.is_some_and(|p| !(0..=1000).contains(&p)) {
        errors.push(pola_core::FieldError::new("position", "must be 0 to 1000"));
    }
}

/// A picture of a product, as pages show it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ProductImage {
    pub id: Uuid,
    /// The variant it shows; none for the product as a whole.
    pub variant_id: Option<Uuid>,
    /// `/images/{hash}`: add `/{width}.jpg` for one of `widths`.
    pub url: String,
    pub widths: Vec<u32>,
    /// The original's size, for the page to keep its place while it loads.
    pub width: u32,
    pub height: u32,
    pub alt: AltText,
}

impl Catalog {
    /// Keeps an upload (checked, named by its content and resized).
    pub async fn upload_image(&self, bytes: Vec<u8>) -> Result<UploadedImage, Error> {
        // Decoding and resizing a large picture takes a core for a while: off the runtime.
        let processed = tokio::task::spawn_blocking(move || process(bytes))
            .await
            .map_err(|e| anyhow::anyhow!("resizing stopped: {e}"))?
            .map_err(|e| match e {
                UploadError::TooLarge => Error::Status {
                    status: axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                    detail: e.to_string(),
                },
                UploadError::NotAPicture => Error::Status {
                    status: axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    detail: e.to_string(),
                },
                UploadError::Undecodable => Error::field("body", e.to_string()),
            })?;
        store::insert_image(self.pool(), &processed).await?;
        tracing::info!(image.hash = %processed.hash, bytes = processed.original.len(), "picture uploaded");
        Ok(UploadedImage {
            widths: processed.renditions.iter().map(|r| r.0).collect(),
            hash: processed.hash,
            width: processed.width,
            height: processed.height,
        })
    }

    /// Shows pictures on many products at once, first in each one's order (the demo seed).
    pub async fn seed_images(&self, shown: &[(Uuid, String, AltText)]) -> Result<(), Error> {
        let rows: Vec<(Uuid, Uuid, &str, &AltText)> = shown
            .iter()
            .map(|(product, hash, alt)| (pola_core::new_id(), *product, hash.as_str(), alt))
            .collect();
        Ok(store::seed_product_images(self.pool(), &rows).await?)
    }

    /// One rendition of a picture, if there is one.
    pub async fn rendition(&self, hash: &str, width: u32) -> Result<Option<Vec<u8>>, Error> {
        if !is_hash(hash) || !WIDTHS.contains(&width) {
            return Ok(None);
        }
        Ok(store::rendition(self.pool(), hash, width).await?)
    }

    /// The pictures of `products`, by product, in order.
    pub(crate) async fn images_of(&self, products: &[Uuid]) -> Result<HashMap<Uuid, Vec<ProductImage>>, Error> {
        let mut by_product: HashMap<Uuid, Vec<ProductImage>> = HashMap::new();
        for row in store::product_images(self.pool(), products).await? {
            by_product.entry(row.product_id).or_default().push(ProductImage {
                id: row.id,
                variant_id: row.variant_id,
                url: format!("/images/{}", row.hash),
                widths: parse_widths(&row.widths),
                width: row.width,
                height: row.height,
                alt: AltText {
                    en: row.alt_en,
                    si: row.alt_si,
                    ta: row.alt_ta,
                },
            });
        }
        Ok(by_product)
    }
}

pub(crate) fn parse_widths(text: &str) -> Vec<u32> {
    text.split(',').filter_map(|w| w.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let picture = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
        let mut out = Cursor::new(Vec::new());
        picture.write_to(&mut out, ImageFormat::Png).expect("encoded");
        out.into_inner()
    }

    #[test]
    fn a_picture_is_named_by_its_content_and_resized_without_enlarging() {
        let bytes = png(800, 600);
        let processed = process(bytes.clone()).expect("processed");
        assert_eq!(processed.hash, hex(&Sha256::digest(&bytes)));
        assert!(is_hash(&processed.hash));
        assert_eq!((processed.width, processed.height), (800, 600));
        let widths: Vec<u32> = processed.renditions.iter().map(|r| r.0).collect();
        assert_eq!(widths, [320, 640], "not enlarged to 1280");
        let small = image::load_from_memory(&processed.renditions[0].1).expect("a JPEG");
        assert_eq!((small.width(), small.height()), (320, 240));
        assert_eq!(
            process(bytes).expect("again").hash,
            processed.hash,
            "the same file, the same name"
        );
    }

    #[test]
    fn uploads_that_are_not_pictures_or_too_large_are_refused() {
        assert_eq!(process(b"GIF89a...".to_vec()).err(), Some(UploadError::NotAPicture));
        assert_eq!(process(b"<svg></svg>".to_vec()).err(), Some(UploadError::NotAPicture));
        assert_eq!(process(vec![0; MAX_UPLOAD_BYTES + 1]).err(), Some(UploadError::TooLarge));
        let mut truncated = png(50, 50);
        truncated.truncate(60);
        assert_eq!(process(truncated).err(), Some(UploadError::Undecodable));
        let tiny = process(png(100, 80)).expect("a small picture");
        assert_eq!(tiny.renditions.len(), 1, "served at its own width");
    }
}
