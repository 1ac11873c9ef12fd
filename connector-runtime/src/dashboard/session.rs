//! Who may see the dashboard: the server's API key, presented once to the login form and kept
//! as a session cookie (HttpOnly, SameSite=Strict), or sent as a bearer token. Actions carry a
//! CSRF token besides the cookie. Both tokens are HMACs of the key, so any process with the same
//! key accepts them and none of them reveals the key.

use axum::http::{HeaderMap, header};
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::model::Secret;

/// The session cookie's name.
pub(super) const COOKIE: &str = "connector_runtime_session";

type HmacSha256 = hmac::Hmac<Sha256>;

/// `HMAC-SHA256(key, purpose)`, hex.
fn token(key: &Secret, purpose: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(key.expose().as_bytes()).expect("HMAC takes a key of any length");
    mac.update(purpose.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The value of a session cookie for `key`.
pub(super) fn session(key: &Secret) -> String {
    token(key, "dashboard session v1")
}

/// The CSRF token forms carry for `key`.
pub(super) fn csrf(key: &Secret) -> String {
    token(key, "dashboard csrf v1")
}

/// Whether `presented` equals `expected`, in constant time (digests of equal length).
pub(super) fn same(presented: &str, expected: &str) -> bool {
    let (presented, expected) = (Sha256::digest(presented.as_bytes()), Sha256::digest(expected.as_bytes()));
    bool::from(presented.as_slice().ct_eq(expected.as_slice()))
}

/// Whether the request carries the key: the session cookie, or `Authorization: Bearer <key>`.
pub(super) fn signed_in(headers: &HeaderMap, key: &Secret) -> bool {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    if let Some(bearer) = bearer {
        return same(bearer, key.expose());
    }
    let expected = session(key);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == COOKIE && same(value, &expected))
}

/// The `Set-Cookie` value that signs in with `key`.
pub(super) fn set_cookie(key: &Secret) -> String {
    format!("{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200", session(key))
}

/// The `Set-Cookie` value that signs out.
pub(super) fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_depend_on_the_key_and_show_nothing_of_it() {
        let key = Secret::new("dashboard-key-123");
        assert_ne!(session(&key), csrf(&key));
        assert_ne!(session(&key), session(&Secret::new("another-key")));
        assert!(!session(&key).contains("dashboard-key"));
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, format!("a=b; {COOKIE}={}", session(&key)).parse().unwrap());
        assert!(signed_in(&headers, &key));
        assert!(!signed_in(&headers, &Secret::new("another-key")));
    }
}
