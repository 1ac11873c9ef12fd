//! The runtime values the arguments stand for: `RetryPolicy`, `SignatureScheme` and a webhook's
//! subscription, `Schedule`. Expanded from values `valid` has checked; nothing here judges them
//! (and nothing asserts on them: a float is emitted only when finite).

use darling::util::SpannedValue;
use proc_macro2::{Literal, TokenStream};
use quote::quote;

use crate::attr::member::{RetryArgs, SecretArgs, WebhookArgs};
use crate::attr::value::Duration;

/// `Some(RetryPolicy { .. })` for a `const RETRY`; unset keys keep the runtime's default.
pub fn retry_policy(args: &RetryArgs) -> TokenStream {
    let mut fields = Vec::new();
    if let Some(attempts) = &args.max_attempts {
        let attempts = u32::try_from(attempts.value).unwrap_or(u32::MAX);
        fields.push(quote! { max_attempts: #attempts, });
    }
    if let Some(factor) = &args.factor
        && factor.value.is_finite()
    {
        let factor = Literal::f64_suffixed(factor.value);
        fields.push(quote! { factor: #factor, });
    }
    if let Some(min) = &args.min_delay {
        let min = millis(min);
        fields.push(quote! { min_delay: #min, });
    }
    if let Some(max) = &args.max_delay {
        let max = millis(max);
        fields.push(quote! { max_delay: #max, });
    }
    if let Some(jitter) = &args.jitter {
        let jitter = jitter.0;
        fields.push(quote! { jitter: #jitter, });
    }
    if let Some(timeout) = &args.timeout {
        let timeout = millis(timeout);
        fields.push(quote! { attempt_timeout: ::core::option::Option::Some(#timeout), });
    }
    quote! {
        ::core::option::Option::Some(::connector_runtime::RetryPolicy {
            #(#fields)*
            ..::connector_runtime::RetryPolicy::DEFAULT
        })
    }
}

/// `Duration::from_millis(..)`.
pub fn millis(duration: &Duration) -> TokenStream {
    let millis = duration.millis;
    quote! { ::core::time::Duration::from_millis(#millis) }
}

/// The body of `fn signature(config: &Arc<Config>) -> Option<SignatureScheme>`. The secret field
/// may be a `Secret` or an `Option<Secret>`; an empty one makes a scheme that refuses deliveries.
pub fn signature_scheme(args: &WebhookArgs) -> TokenStream {
    let scheme = quote! { ::connector_runtime::__private::SignatureScheme };
    let tolerance = |secret: &SecretArgs| match &secret.tolerance {
        Some(tolerance) => millis(tolerance),
        None => quote! { #scheme::DEFAULT_TOLERANCE },
    };
    let with_secret = |field: &syn::Ident, scheme_of: TokenStream| {
        let name = field.to_string();
        quote! {
            match ::connector_runtime::__private::WebhookSecretField::webhook_secret(&config.#field) {
                ::core::option::Option::Some(secret) => #scheme_of,
                ::core::option::Option::None => #scheme::missing_secret(#name),
            }
        }
    };
    let chosen = if let Some(github) = &args.github {
        with_secret(&github.secret.0, quote! { #scheme::github(secret) })
    } else if let Some(stripe) = &args.stripe {
        let tolerance = tolerance(stripe);
        with_secret(&stripe.secret.0, quote! { #scheme::stripe(secret).with_tolerance(#tolerance) })
    } else if let Some(standard) = &args.standard {
        let tolerance = tolerance(standard);
        with_secret(&standard.secret.0, quote! { #scheme::standard_webhooks(secret).with_tolerance(#tolerance) })
    } else if let Some(hmac) = &args.hmac_sha256 {
        let header = &hmac.header.value;
        let prefix = hmac.prefix.as_ref().map_or_else(String::new, |prefix| prefix.value.clone());
        let delivery_id = match &hmac.delivery_id {
            Some(header) => {
                let header = &header.value;
                quote! { ::core::option::Option::Some(#header) }
            }
            None => quote! { ::core::option::Option::None },
        };
        with_secret(&hmac.secret.0, quote! { #scheme::hmac_sha256(#header, #prefix, secret, #delivery_id) })
    } else if let Some(verify) = &args.verify {
        let verify = &verify.0;
        quote! {
            {
                let config = ::std::sync::Arc::clone(config);
                #scheme::custom(move |headers, body| #verify(&config, headers, body))
            }
        }
    } else {
        return quote! { ::core::option::Option::None };
    };
    quote! { ::core::option::Option::Some(#chosen) }
}

/// The `(subscribe, unsubscribe)` fns handed to the engine, when the trigger registers its own
/// webhook.
pub fn subscription(args: &SpannedValue<WebhookArgs>) -> Option<TokenStream> {
    let (subscribe, unsubscribe) = (&args.subscribe.as_ref()?.0, &args.unsubscribe.as_ref()?.0);
    Some(quote! {
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
    })
}
