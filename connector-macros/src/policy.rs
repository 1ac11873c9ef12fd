//! `retry(..)` and `rate_limit(..)` arguments: parsed and checked here, expanded into the
//! runtime's `RetryPolicy` and `RateLimit` constants.

use darling::util::SpannedValue;
use darling::{Error, FromMeta};
use proc_macro2::TokenStream;
use quote::quote;

/// `retry(max_attempts = 3, factor = 2.0, min_delay = "200ms", max_delay = "10s", jitter = false, timeout = "30s")`;
/// unset keys keep the runtime's default.
#[derive(Debug, Default, FromMeta)]
pub struct RetryArgs {
    #[darling(default)]
    pub max_attempts: Option<SpannedValue<u32>>,
    #[darling(default)]
    pub factor: Option<SpannedValue<f64>>,
    #[darling(default)]
    pub min_delay: Option<SpannedValue<String>>,
    #[darling(default)]
    pub max_delay: Option<SpannedValue<String>>,
    #[darling(default)]
    pub jitter: Option<bool>,
    #[darling(default)]
    pub timeout: Option<SpannedValue<String>>,
}

/// `rate_limit(per_second = 10, burst = 20, concurrency = 4)`.
#[derive(Debug, Default, FromMeta)]
pub struct RateLimitArgs {
    #[darling(default)]
    pub per_second: Option<u32>,
    #[darling(default)]
    pub burst: Option<u32>,
    #[darling(default)]
    pub concurrency: Option<u32>,
}

/// `Some(RetryPolicy { .. })` for a `const RETRY`, or the error on the bad value.
pub fn retry_policy(args: &RetryArgs) -> darling::Result<TokenStream> {
    let mut errors = Error::accumulator();
    let mut fields = Vec::new();
    if let Some(attempts) = &args.max_attempts {
        if **attempts == 0 {
            errors.push(
                Error::custom("`max_attempts` counts the first attempt too: use 1 or more").with_span(&attempts.span()),
            );
        }
        let attempts = **attempts;
        fields.push(quote! { max_attempts: #attempts, });
    }
    if let Some(factor) = &args.factor {
        if !(factor.is_finite() && **factor >= 1.0) {
            errors.push(Error::custom("`factor` must be a number of at least 1.0").with_span(&factor.span()));
        }
        let factor = **factor;
        fields.push(quote! { factor: #factor, });
    }
    for (name, value) in [("min_delay", &args.min_delay), ("max_delay", &args.max_delay)] {
        if let Some(value) = value
            && let Some(millis) = errors.handle(duration_millis(value))
        {
            let field = syn::Ident::new(name, proc_macro2::Span::call_site());
            fields.push(quote! { #field: ::core::time::Duration::from_millis(#millis), });
        }
    }
    if let Some(jitter) = args.jitter {
        fields.push(quote! { jitter: #jitter, });
    }
    if let Some(timeout) = &args.timeout
        && let Some(millis) = errors.handle(duration_millis(timeout))
    {
        fields.push(quote! {
            attempt_timeout: ::core::option::Option::Some(::core::time::Duration::from_millis(#millis)),
        });
    }
    errors.finish()?;
    Ok(quote! {
        ::core::option::Option::Some(::connector_runtime::RetryPolicy {
            #(#fields)*
            ..::connector_runtime::RetryPolicy::DEFAULT
        })
    })
}

/// `RateLimit { .. }` for a `const RATE_LIMIT`.
pub fn rate_limit(args: &RateLimitArgs) -> TokenStream {
    let option = |value: Option<u32>| match value {
        Some(n) => quote! { ::core::option::Option::Some(#n) },
        None => quote! { ::core::option::Option::None },
    };
    let (per_second, burst, concurrency) = (option(args.per_second), option(args.burst), option(args.concurrency));
    quote! {
        ::connector_runtime::RateLimit { per_second: #per_second, burst: #burst, concurrency: #concurrency }
    }
}

/// `"250ms"`, `"2s"`, `"1.5s"`, `"3m"`, `"1h"` as milliseconds.
pub fn duration_millis(text: &SpannedValue<String>) -> darling::Result<u64> {
    parse_millis(text).ok_or_else(|| {
        Error::custom(format!(
            "`{}` is not a duration: write a number and a unit, like \"250ms\", \"2s\", \"5m\" or \"1h\"",
            text.as_str()
        ))
        .with_span(&text.span())
    })
}

fn parse_millis(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit.trim() {
        "ms" => 1.0,
        "s" => 1_000.0,
        "m" | "min" => 60_000.0,
        "h" => 3_600_000.0,
        _ => return None,
    };
    let millis = number * scale;
    (millis.is_finite() && millis >= 0.0 && millis < u64::MAX as f64).then_some(millis.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_millis;

    #[test]
    fn durations() {
        assert_eq!(parse_millis("250ms"), Some(250));
        assert_eq!(parse_millis("2s"), Some(2000));
        assert_eq!(parse_millis("1.5s"), Some(1500));
        assert_eq!(parse_millis("3m"), Some(180_000));
        assert_eq!(parse_millis("1h"), Some(3_600_000));
        for bad in ["", "s", "5", "5 parsecs", "-1s", "1.2.3s"] {
            assert_eq!(parse_millis(bad), None, "{bad}");
        }
    }
}
