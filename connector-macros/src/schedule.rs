//! Time-driven triggers: `#[job(cron = "..")]`, `#[job(every = "..")]` and
//! `#[trigger(poll(every = ".."))]`. Parsed and checked here (only what is cheap: a cron
//! expression is checked in full by the engine at build time); expanded into the runtime's
//! `Schedule` and polling-trigger impls.

use darling::util::SpannedValue;
use darling::{Error, FromMeta};
use proc_macro2::TokenStream;
use quote::quote;
use syn::Type;

/// `poll(every = "30s")`.
#[derive(Debug, FromMeta)]
pub struct PollArgs {
    pub every: SpannedValue<String>,
}

/// `cron = "*/5 * * * *"` or `every = "30s"`, checked.
pub enum JobSchedule {
    Cron(SpannedValue<String>),
    Every(u64),
}

impl JobSchedule {
    /// `::connector_runtime::Schedule::Cron("..")` or `::Every(Duration::from_millis(..))`.
    pub fn expand(&self) -> TokenStream {
        match self {
            JobSchedule::Cron(expression) => {
                let expression = expression.trim();
                quote! { ::connector_runtime::Schedule::Cron(#expression) }
            }
            JobSchedule::Every(millis) => {
                quote! { ::connector_runtime::Schedule::Every(::core::time::Duration::from_millis(#millis)) }
            }
        }
    }
}

/// A cron expression's shape: not empty, 5 to 7 fields or an `@alias`. The engine parses it in
/// full when it is built, and says there what is wrong with a field.
pub fn cron(expression: &SpannedValue<String>) -> darling::Result<JobSchedule> {
    let text = expression.trim();
    let fields = text.split_whitespace().count();
    let problem = if text.is_empty() {
        Some("the cron expression is empty".to_owned())
    } else if text.starts_with('@') {
        (fields != 1).then(|| format!("`{text}` is an alias followed by more fields"))
    } else if !(5..=7).contains(&fields) {
        Some(format!("`{text}` has {fields} field{}", if fields == 1 { "" } else { "s" }))
    } else {
        None
    };
    match problem {
        None => Ok(JobSchedule::Cron(expression.clone())),
        Some(problem) => Err(Error::custom(format!(
            "{problem}: a cron expression has 5 fields, `minute hour day-of-month month day-of-week` \
             (like \"*/5 * * * *\"), or 6 with seconds first, or 7 with a year last, or is an alias like \"@hourly\""
        ))
        .with_span(&expression.span())),
    }
}

/// `every = "30s"`: a duration of at least 1ms.
pub fn every(text: &SpannedValue<String>, what: &str) -> darling::Result<u64> {
    let millis = crate::policy::duration_millis(text)?;
    if millis == 0 {
        return Err(
            Error::custom(format!("{what} must be at least 1ms, not `{}`", text.as_str())).with_span(&text.span())
        );
    }
    Ok(millis)
}

/// A polling trigger as the connector macro models it.
pub struct PollTrigger {
    pub millis: u64,
    /// `C` of `Polled<T, C>`; the item `T` is the member's output.
    pub cursor: Type,
}

/// `Polled<T, C>` -> `(T, C)`.
pub fn polled_types(ty: &Type) -> Option<(&Type, &Type)> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Polled" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(arguments) = &last.arguments else {
        return None;
    };
    let mut types = arguments.args.iter().filter_map(|argument| match argument {
        syn::GenericArgument::Type(ty) => Some(ty),
        _ => None,
    });
    match (types.next(), types.next(), types.next()) {
        (Some(item), Some(cursor), None) => Some((item, cursor)),
        _ => None,
    }
}
