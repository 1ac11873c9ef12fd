//! Webhooks: how deliveries are signed and verified.
pub mod signature;
