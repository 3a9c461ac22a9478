//! Static files: the style sheet and script (compiled in) and the Sinhala and Tamil fonts (read
//! from Debian's Noto fonts at start), each served under a name that carries a hash of its
//! content, so a browser keeps it for a year and a new version is a new address.

use std::{collections::HashMap, path::Path};

use axum::{
    body::Body,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};

/// One static file.
struct Asset {
    bytes: Vec<u8>,
    content_type: &'static str,
    /// `site.1a2b3c4d5e.css`
    hashed: String,
}

/// The files, by plain name and by hashed name, served under one path (`/assets`).
pub struct Assets {
    prefix: &'static str,
    by_name: HashMap<&'static str, Asset>,
    by_hashed: HashMap<String, &'static str>,
}

/// The fonts the pages ask for, by the name the style sheet uses and the file in the fonts
/// folder (WOFF2 when one was made, else Debian's TTF).
const FONTS: [(&str, &str); 2] = [
    ("sinhala.font", "NotoSansSinhala-Regular"),
    ("tamil.font", "NotoSansTamil-Regular"),
];

impl Assets {
    /// The compiled-in files, and the fonts from `fonts_dir` (a missing font is logged once:
    /// pages then fall back to the phone's own fonts).
    pub fn load(fonts_dir: Option<&Path>) -> Self {
        let mut assets = Self::under("/assets");
        for (name, file) in FONTS {
            let Some(dir) = fonts_dir else { continue };
            let found = [("woff2", "font/woff2"), ("ttf", "font/ttf")]
                .into_iter()
                .find_map(|(ext, content_type)| {
                    std::fs::read(dir.join(format!("{file}.{ext}")))
                        .ok()
                        .map(|b| (b, content_type))
                });
            match found {
                Some((bytes, content_type)) => assets.add(name, bytes, content_type),
                None => tracing::warn!(font = file, fonts.dir = %dir.display(), "font not found; pages use the device's fonts"),
            }
        }
        // The style sheet names the fonts by their hashed addresses (a font that is missing
        // leaves only the device's own).
        let mut css = include_str!("../assets/site.css").to_owned();
        for (name, _) in FONTS {
            let placeholder = format!(",url(\"{{{{{name}}}}}\")");
            let url = assets.url(name);
            css = css.replace(
                &placeholder,
                &if url.is_empty() {
                    String::new()
                } else {
                    format!(",url(\"{url}\")")
                },
            );
        }
        assets.add("site.css", css.into_bytes(), "text/css; charset=utf-8");
        assets.add(
            "site.js",
            include_bytes!("../assets/site.js").to_vec(),
            "text/javascript; charset=utf-8",
        );
        assets.add(
            "favicon.svg",
            include_bytes!("../assets/favicon.svg").to_vec(),
            "image/svg+xml",
        );
        assets
    }

    /// No files yet, to be served under `prefix` (the back-office has its own).
    pub fn under(prefix: &'static str) -> Self {
        Self {
            prefix,
            by_name: HashMap::new(),
            by_hashed: HashMap::new(),
        }
    }

    /// Adds a file, served as `{prefix}/{stem}.{hash}.{ext}`.
    pub fn add(&mut self, name: &'static str, bytes: Vec<u8>, content_type: &'static str) {
        let digest = Sha256::digest(&bytes);
        let hash: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
        let hashed = match name.rsplit_once('.') {
            Some((stem, "font")) => format!("{stem}.{hash}.{}", content_type.trim_start_matches("font/")),
            Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
            None => format!("{name}.{hash}"),
        };
        self.by_hashed.insert(hashed.clone(), name);
        self.by_name.insert(
            name,
            Asset {
                bytes,
                content_type,
                hashed,
            },
        );
    }

    /// The address of `name` (`/assets/site.1a2b3c4d5e.css`); empty when there is no such file.
    pub fn url(&self, name: &str) -> String {
        self.by_name
            .get(name)
            .map(|a| format!("{}/{}", self.prefix, a.hashed))
            .unwrap_or_default()
    }

    /// The answer for `{prefix}/{hashed}`.
    pub fn serve(&self, hashed: &str) -> Response {
        let Some(asset) = self.by_hashed.get(hashed).and_then(|name| self.by_name.get(name)) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let mut response = Response::new(Body::from(asset.bytes.clone()));
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        );
        response
    }
}

/// `GET /assets/{file}`
pub async fn serve_asset(
    State(shop): State<std::sync::Arc<crate::Storefront>>,
    pola_core::extract::Path(file): pola_core::extract::Path<String>,
) -> Response {
    shop.assets.serve(&file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_style_sheet_names_the_fonts_by_their_hashed_addresses() {
        let dir = std::env::temp_dir().join(format!("pola-fonts-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("a folder");
        std::fs::write(dir.join("NotoSansTamil-Regular.woff2"), b"wOF2 tamil").expect("written");
        let assets = Assets::load(Some(&dir));
        let css = &assets.by_name["site.css"].bytes;
        let css = std::str::from_utf8(css).expect("text");
        let tamil = assets.url("tamil.font");
        assert!(tamil.ends_with(".woff2"), "{tamil}");
        assert!(css.contains(&format!("url(\"{tamil}\")")), "the Tamil font is linked");
        assert!(
            !css.contains("{{"),
            "no placeholder is left (the missing Sinhala font falls back to the device's)"
        );
        std::fs::remove_dir_all(dir).expect("removed");
    }

    #[test]
    fn a_file_is_served_under_its_content_hash_for_a_year() {
        let assets = Assets::load(None);
        let url = assets.url("site.css");
        assert!(url.starts_with("/assets/site.") && url.ends_with(".css"), "{url}");
        let response = assets.serve(url.trim_start_matches("/assets/"));
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(
            assets.serve("site.css").status(),
            StatusCode::NOT_FOUND,
            "only by its hashed name"
        );
        assert_eq!(assets.url("nothing.css"), "");
    }
}
