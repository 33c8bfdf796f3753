//! Signed links' tokens (survey invitations, consent and unsubscribe links, tracked campaign
//! links): an HMAC-SHA256 of what the link says, cut to 18 bytes, in URL-safe base64, and a
//! comparison that takes the same time wherever two signatures differ.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The signature of `what` under `key`.
pub(crate) fn signature(key: &[u8], what: &str) -> String {
    use base64::Engine;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(what.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..18])
}

/// Compares two signatures in time independent of where they differ.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
