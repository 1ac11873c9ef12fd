//! Webhooks: how deliveries are signed and verified ([`SignatureScheme`]).
//!
//! Above the model only: verification needs the headers and the raw body, no engine.

pub mod signature;

pub use signature::{CustomVerifier, SignatureError, SignatureScheme};

use crate::model::Secret;

/// A config field that can hold a trigger's webhook secret: a [`Secret`], or an
/// `Option<Secret>` for a connector whose webhook triggers are optional (empty: the trigger
/// refuses deliveries, naming the field).
pub trait WebhookSecretField {
    /// The secret, if one is configured.
    fn webhook_secret(&self) -> Option<Secret>;
}

impl WebhookSecretField for Secret {
    fn webhook_secret(&self) -> Option<Secret> {
        Some(self.clone())
    }
}

impl WebhookSecretField for Option<Secret> {
    fn webhook_secret(&self) -> Option<Secret> {
        self.clone()
    }
}
