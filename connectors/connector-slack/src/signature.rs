//! Slack's request signing: `X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret,
//! "v0:{X-Slack-Request-Timestamp}:{body}")>`, with the timestamp within five minutes of now.
//!
//! ```
//! use std::time::{Duration, SystemTime, UNIX_EPOCH};
//! use connector_runtime::Secret;
//! use connector_slack::signature::{sign, verify_at};
//!
//! let secret = Secret::new("8f742231b10e8888abcd99yyyzzz85a5");
//! let headers = sign(&secret, b"{\"type\":\"event_callback\"}", 1_531_420_618);
//! let now = UNIX_EPOCH + Duration::from_secs(1_531_420_618 + 10);
//! assert!(verify_at(&secret, &headers, b"{\"type\":\"event_callback\"}", now).is_ok());
//! assert!(verify_at(&secret, &headers, b"{\"type\":\"tampered\"}", now).is_err());
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use connector_runtime::Secret;
use connector_runtime::webhook::SignatureError;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderValue};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
/// The header carrying the signed timestamp (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// How far the signed timestamp may be from now, either way: five minutes, as Slack advises.
pub const TOLERANCE: Duration = Duration::from_secs(5 * 60);

const VERSION: &str = "v0";

/// Verifies a request's Slack signature as of the system clock's now.
pub fn verify(secret: &Secret, headers: &HeaderMap, body: &[u8]) -> Result<(), SignatureError> {
    verify_at(secret, headers, body, SystemTime::now())
}

/// Verifies a request's Slack signature as of `now`: the signature is checked first, then the
/// timestamp against [`TOLERANCE`], so a stale or future timestamp is only ever reported of an
/// authentic request. The comparison runs in constant time; no message carries the secret.
pub fn verify_at(secret: &Secret, headers: &HeaderMap, body: &[u8], now: SystemTime) -> Result<(), SignatureError> {
    let timestamp = single(headers, TIMESTAMP_HEADER)?;
    let seconds: u64 = timestamp
        .parse()
        .ok()
        .filter(|_| timestamp.len() <= 20)
        .ok_or_else(|| malformed(TIMESTAMP_HEADER, "it is not a Unix time in seconds"))?;
    let signature = single(headers, SIGNATURE_HEADER)?;
    let digits =
        signature.strip_prefix("v0=").ok_or_else(|| malformed(SIGNATURE_HEADER, "it does not start with `v0=`"))?;
    let sent = hex::decode(digits)
        .ok()
        .filter(|sent| sent.len() == 32)
        .ok_or_else(|| malformed(SIGNATURE_HEADER, "the signature is not 64 hex digits (an HMAC-SHA256)"))?;
    let expected = mac(secret, timestamp, body)?;
    if !bool::from(expected.as_slice().ct_eq(&sent)) {
        return Err(SignatureError::Mismatch);
    }
    let now = now.duration_since(UNIX_EPOCH).map(|since| since.as_secs()).unwrap_or(0);
    if seconds + TOLERANCE.as_secs() < now {
        return Err(SignatureError::Stale { age_secs: now - seconds });
    }
    if seconds > now + TOLERANCE.as_secs() {
        return Err(SignatureError::FromTheFuture { ahead_secs: seconds - now });
    }
    Ok(())
}

/// The headers Slack would send with `body` signed at `timestamp` (Unix seconds): for tests, and
/// for forwarding a request on.
pub fn sign(secret: &Secret, body: &[u8], timestamp: u64) -> HeaderMap {
    let timestamp = timestamp.to_string();
    let mut headers = HeaderMap::new();
    // An HMAC takes a key of any length, and hex digits and a number are valid header values.
    if let Ok(mac) = mac(secret, &timestamp, body) {
        let signature = format!("{VERSION}={}", hex::encode(mac));
        if let (Ok(signature), Ok(timestamp)) = (HeaderValue::from_str(&signature), HeaderValue::from_str(&timestamp)) {
            headers.insert(SIGNATURE_HEADER, signature);
            headers.insert(TIMESTAMP_HEADER, timestamp);
        }
    }
    headers
}

fn mac(secret: &Secret, timestamp: &str, body: &[u8]) -> Result<Vec<u8>, SignatureError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .map_err(|_| SignatureError::InvalidSecret { reason: "an HMAC cannot use it as a key".into() })?;
    mac.update(VERSION.as_bytes());
    mac.update(b":");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    Ok(mac.finalize().into_bytes().to_vec())
}

fn single<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, SignatureError> {
    let mut values = headers.get_all(name).iter();
    let value = values.next().ok_or_else(|| SignatureError::MissingHeader { header: name.to_owned() })?;
    if values.next().is_some() {
        return Err(malformed(name, "it is sent more than once"));
    }
    value.to_str().map(str::trim).map_err(|_| malformed(name, "it is not ASCII"))
}

fn malformed(header: &str, reason: &str) -> SignatureError {
    SignatureError::Malformed { header: header.to_owned(), reason: reason.to_owned() }
}
