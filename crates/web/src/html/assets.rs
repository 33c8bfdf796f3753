//! The files every page uses, embedded in the binary: the stylesheet, the scripts, the typeface
//! (Vazirmatn, OFL), the icons (Lucide, ISC), the web app's manifest and icon.
//!
//! Each is served under a name that holds a hash of its bytes (`/assets/app.3f2a9c01d4.css`) and
//! kept by browsers for a year without asking again: a changed file has a new name, which pages
//! use at once ([`url`]). Plain names (`/assets/app.css`) answer too, re-checked on every use, for
//! links made before. The stylesheet names the typeface by its hashed name (rewritten at start).

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// A file as embedded: its plain name, its type, its bytes.
struct Source {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

/// In order: a file that names others (the stylesheet, the manifest) comes after them.
const SOURCES: &[Source] = &[
    Source {
        name: "htmx.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/vendor/htmx-2.0.11.min.js"),
    },
    Source { name: "icons.svg", content_type: "image/svg+xml", bytes: include_bytes!("../../assets/vendor/icons.svg") },
    Source {
        name: "vazirmatn.woff2",
        content_type: "font/woff2",
        bytes: include_bytes!("../../assets/vendor/vazirmatn-33.0.3-variable-subset.woff2"),
    },
    Source { name: "logo.svg", content_type: "image/svg+xml", bytes: include_bytes!("../../assets/logo.svg") },
    // The logo drawn at the sizes installed apps ask for (Chromium's screenshot of logo.svg:
    // `chromium --headless --default-background-color=00000000 --window-size=N,N --screenshot`).
    Source { name: "logo-192.png", content_type: "image/png", bytes: include_bytes!("../../assets/logo-192.png") },
    Source { name: "logo-512.png", content_type: "image/png", bytes: include_bytes!("../../assets/logo-512.png") },
    Source {
        name: "manifest.webmanifest",
        content_type: "application/manifest+json",
        bytes: include_bytes!("../../assets/manifest.webmanifest"),
    },
    Source { name: "app.css", content_type: "text/css; charset=utf-8", bytes: include_bytes!("../../assets/app.css") },
    Source {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/app.js"),
    },
];

/// A file ready to serve: its hashed name and its bytes (the stylesheet's with its references
/// rewritten to hashed names).
struct Built {
    name: &'static str,
    hashed: String,
    content_type: &'static str,
    bytes: Vec<u8>,
}

fn hashed_name(name: &str, bytes: &[u8]) -> String {
    let hash = peyvand_store::hex(&Sha256::digest(bytes)[..5]);
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
        None => format!("{name}.{hash}"),
    }
}

fn built() -> &'static [Built] {
    static BUILT: OnceLock<Vec<Built>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut out: Vec<Built> = Vec::new();
        for source in SOURCES {
            let mut bytes = source.bytes.to_vec();
            if source.name.ends_with(".css") || source.name.ends_with(".webmanifest") {
                let mut text = String::from_utf8_lossy(&bytes).into_owned();
                for earlier in &out {
                    text = text.replace(&format!("/assets/{}", earlier.name), &format!("/assets/{}", earlier.hashed));
                }
                bytes = text.into_bytes();
            }
            let hashed = hashed_name(source.name, &bytes);
            out.push(Built { name: source.name, hashed, content_type: source.content_type, bytes });
        }
        out
    })
}

/// The address of an asset by its plain name, with its hash (`/assets/app.3f2a9c01d4.css`).
pub fn url(name: &str) -> String {
    match built().iter().find(|b| b.name == name) {
        Some(b) => format!("/assets/{}", b.hashed),
        None => format!("/assets/{name}"),
    }
}

/// `GET /assets/{file}`: by hashed name, kept a year; by plain name, re-checked each time.
pub async fn serve(Path(file): Path<String>) -> Response {
    let (found, immutable) = match built().iter().find(|b| b.hashed == file) {
        Some(b) => (b, true),
        None => match built().iter().find(|b| b.name == file) {
            Some(b) => (b, false),
            None => return StatusCode::NOT_FOUND.into_response(),
        },
    };
    let mut response = found.bytes.clone().into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(found.content_type));
    let cache = if immutable { "public, max-age=31536000, immutable" } else { "no-cache" };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(tag) = HeaderValue::from_str(&format!("\"{}\"", found.hashed)) {
        headers.insert(header::ETAG, tag);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_hold_hashes_and_the_stylesheet_names_the_font_by_its_hash() {
        let css = url("app.css");
        assert!(
            css.starts_with("/assets/app.") && css.ends_with(".css") && css.len() == "/assets/app.0123456789.css".len()
        );
        let font = url("vazirmatn.woff2");
        let sheet = built().iter().find(|b| b.name == "app.css").expect("css");
        assert!(String::from_utf8_lossy(&sheet.bytes).contains(&font), "the stylesheet names {font}");
        assert_eq!(url("nothing.txt"), "/assets/nothing.txt");
    }
}
