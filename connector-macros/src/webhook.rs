//! `#[trigger(.., webhook(..))]`: how a trigger's deliveries are signed, and how its webhook is
//! registered with the service. Parsed and checked here; expanded into `TriggerFn::signature`
//! and the trigger entry's subscription.

use darling::util::SpannedValue;
use darling::{Error, FromMeta};
use proc_macro2::TokenStream;
use quote::quote;
use syn::{Ident, Path};

/// `webhook(github(secret = field))`, `webhook(stripe(secret = field, tolerance = "5m"))`,
/// `webhook(standard(secret = field))`,
/// `webhook(hmac_sha256(header = "X-Signature", prefix = "sha256=", secret = field, delivery_id = "X-Delivery"))`,
/// `webhook(verify = path::to::fn)`; and `subscribe = Self::f, unsubscribe = Self::g`.
#[derive(Debug, Default, FromMeta)]
pub struct WebhookArgs {
    #[darling(default)]
    pub github: Option<SecretArgs>,
    #[darling(default)]
    pub stripe: Option<SecretArgs>,
    #[darling(default)]
    pub standard: Option<SecretArgs>,
    #[darling(default)]
    pub hmac_sha256: Option<HmacArgs>,
    #[darling(default)]
    pub verify: Option<Path>,
    #[darling(default)]
    pub subscribe: Option<Path>,
    #[darling(default)]
    pub unsubscribe: Option<Path>,
}

/// The config field holding the signing secret, and a timestamp tolerance where the scheme has one.
#[derive(Debug, FromMeta)]
pub struct SecretArgs {
    pub secret: Ident,
    #[darling(default)]
    pub tolerance: Option<SpannedValue<String>>,
}

/// A generic HMAC-SHA256 signature over the raw body.
#[derive(Debug, FromMeta)]
pub struct HmacArgs {
    pub header: String,
    #[darling(default)]
    pub prefix: Option<String>,
    pub secret: Ident,
    #[darling(default)]
    pub delivery_id: Option<String>,
}

/// The body of `fn signature(config: &Arc<Config>) -> Option<SignatureScheme>`.
pub fn signature(args: &SpannedValue<WebhookArgs>) -> darling::Result<TokenStream> {
    let scheme = quote! { ::connector_runtime::__private::SignatureScheme };
    let tolerance = |secret: &SecretArgs| -> darling::Result<TokenStream> {
        Ok(match &secret.tolerance {
            Some(text) => {
                let millis = crate::policy::duration_millis(text)?;
                quote! { ::core::time::Duration::from_millis(#millis) }
            }
            None => quote! { #scheme::DEFAULT_TOLERANCE },
        })
    };
    // The secret field may be a `Secret` or an `Option<Secret>`; an empty one refuses deliveries.
    let with_secret = |field: &syn::Ident, scheme_of: TokenStream| {
        let name = field.to_string();
        quote! {
            match ::connector_runtime::__private::WebhookSecretField::webhook_secret(&config.#field) {
                ::core::option::Option::Some(secret) => #scheme_of,
                ::core::option::Option::None => #scheme::missing_secret(#name),
            }
        }
    };
    let mut chosen = Vec::new();
    if let Some(github) = &args.github {
        chosen.push(with_secret(&github.secret, quote! { #scheme::github(secret) }));
    }
    if let Some(stripe) = &args.stripe {
        let tolerance = tolerance(stripe)?;
        chosen.push(with_secret(&stripe.secret, quote! { #scheme::stripe(secret).with_tolerance(#tolerance) }));
    }
    if let Some(standard) = &args.standard {
        let tolerance = tolerance(standard)?;
        chosen.push(with_secret(
            &standard.secret,
            quote! { #scheme::standard_webhooks(secret).with_tolerance(#tolerance) },
        ));
    }
    if let Some(hmac) = &args.hmac_sha256 {
        let header = &hmac.header;
        let prefix = hmac.prefix.clone().unwrap_or_default();
        let delivery_id = match &hmac.delivery_id {
            Some(header) => quote! { ::core::option::Option::Some(#header) },
            None => quote! { ::core::option::Option::None },
        };
        chosen.push(with_secret(&hmac.secret, quote! { #scheme::hmac_sha256(#header, #prefix, secret, #delivery_id) }));
    }
    if let Some(verify) = &args.verify {
        chosen.push(quote! {
            {
                let config = ::std::sync::Arc::clone(config);
                #scheme::custom(move |headers, body| #verify(&config, headers, body))
            }
        });
    }
    match chosen.len() {
        0 => Ok(quote! { ::core::option::Option::None }),
        1 => {
            let chosen = &chosen[0];
            Ok(quote! { ::core::option::Option::Some(#chosen) })
        }
        _ => Err(Error::custom(
            "a webhook has one signature scheme: choose one of `github`, `stripe`, `standard`, `hmac_sha256`, `verify`",
        )
        .with_span(&args.span())),
    }
}

/// The `(subscribe, unsubscribe)` fns handed to the engine, when the trigger registers its own webhook.
pub fn subscription(args: &SpannedValue<WebhookArgs>) -> darling::Result<Option<TokenStream>> {
    match (&args.subscribe, &args.unsubscribe) {
        (None, None) => Ok(None),
        (Some(subscribe), Some(unsubscribe)) => Ok(Some(quote! {
            (
                |integration, url| ::std::boxed::Box::pin(async move {
                    let ctx = integration.context();
                    ::connector_runtime::__private::action_result(#subscribe(&ctx, url).await)
                }),
                |integration, id| ::std::boxed::Box::pin(async move {
                    let ctx = integration.context();
                    ::connector_runtime::__private::action_result(#unsubscribe(&ctx, id).await)
                }),
            )
        })),
        _ => Err(Error::custom(
            "a webhook that registers itself needs both `subscribe = Self::f` and `unsubscribe = Self::g`",
        )
        .with_span(&args.span())),
    }
}
