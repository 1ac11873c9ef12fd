//! Webhooks: how deliveries are signed and verified ([`SignatureScheme`]).
//!
//! Above the model only: verification needs the headers and the raw body, no engine.

pub mod signature;

pub use signature::{CustomVerifier, SignatureError, SignatureScheme};
