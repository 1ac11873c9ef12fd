//! Attribute arguments: the tokens inside `#[connector(..)]`, `#[action(..)]`, `#[trigger(..)]`,
//! `#[job(..)]` and `#[event(..)]`, parsed with darling into typed values.
//!
//! Only the shape of the arguments and the kind of each value are checked here (a string where
//! a string goes, a duration that reads as one); the rules on values and between arguments
//! (ranges, one trigger per job, what an action may not have) are all in `valid`.

pub mod connector;
pub mod job;
pub mod member;
pub mod value;

use darling::FromMeta;
use darling::ast::NestedMeta;
use proc_macro2::{Span, TokenStream, TokenTree};

use crate::error::Errors;

/// The arguments one attribute (or one nested list, like `retry(..)`) takes, for messages: an
/// unknown key lists them, a missing one says what to write.
pub struct Keys {
    /// How the attribute is written in messages: "`#[action(..)]`", "`retry(..)`".
    pub attr: &'static str,
    /// Each key with an example value, as written after the key.
    pub keys: &'static [(&'static str, &'static str)],
    /// The tables of the nested lists among `keys`, by key.
    pub nested: &'static [(&'static str, &'static Keys)],
}

impl Keys {
    /// The table of the list at `location` (`retry`, `webhook/github`), this one for "".
    fn at(&'static self, location: &str) -> &'static Keys {
        let mut table = self;
        for part in location.split('/').filter(|part| !part.is_empty()) {
            match table.nested.iter().find(|(key, _)| *key == part) {
                Some((_, nested)) => table = nested,
                None => return table,
            }
        }
        table
    }

    /// "`id`, `name` and `retry(..)`".
    fn list(&self) -> String {
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|(key, example)| if example.starts_with('(') { format!("`{key}(..)`") } else { format!("`{key}`") })
            .collect();
        and_list(&keys)
    }

    /// "`name = \"..\"`", or "`retry(..)`".
    fn example(&self, key: &str) -> Option<String> {
        let (key, example) = self.keys.iter().find(|(name, _)| *name == key)?;
        Some(if example.starts_with('(') { format!("`{key}{example}`") } else { format!("`{key} = {example}`") })
    }
}

/// How deeply attribute arguments may nest: far more than any real argument
/// (`webhook(hmac_sha256(..))` is two), and shallow enough that parsing them cannot exhaust the
/// stack however the tokens came to be.
pub const MAX_DEPTH: usize = 32;

/// The first group in `tokens` nested more than `limit` deep, not counting the contents of
/// groups `skip` says to leave alone. Walks with its own stack, not by recursion.
pub fn too_deep(tokens: &TokenStream, limit: usize, skip: impl Fn(usize, &proc_macro2::Group) -> bool) -> Option<Span> {
    let mut stack = vec![tokens.clone().into_iter()];
    while let Some(top) = stack.last_mut() {
        match top.next() {
            Some(TokenTree::Group(group)) => {
                let depth = stack.len();
                if skip(depth, &group) {
                    continue;
                }
                if depth > limit {
                    return Some(group.span_open());
                }
                stack.push(group.stream().into_iter());
            }
            Some(_) => {}
            None => {
                stack.pop();
            }
        }
    }
    None
}

/// Parses an attribute's arguments (the tokens inside its parentheses) into `T`, adding every
/// error to `errors`. Errors without a span of their own (a missing key) go on `span`, the
/// attribute's name.
pub fn parse<T: FromMeta>(tokens: TokenStream, span: Span, keys: &'static Keys, errors: &mut Errors) -> Option<T> {
    if let Some(deep) = too_deep(&tokens, MAX_DEPTH, |_, _| false) {
        errors.at(deep, format!("the arguments of {} nest more than {MAX_DEPTH} levels deep", keys.attr));
        return None;
    }
    let items = match NestedMeta::parse_meta_list(tokens) {
        Ok(items) => items,
        Err(error) => {
            errors.push(error);
            return None;
        }
    };
    match T::from_list(&items) {
        Ok(value) => Some(value),
        Err(error) => {
            tidy(error, span, keys, errors);
            None
        }
    }
}

/// Rewrites darling's messages into this crate's (the key, what to write, the keys there are),
/// and drops "missing `name`" where a misspelt key already got "did you mean `name`?": one
/// mistake, one error.
fn tidy(error: darling::Error, span: Span, keys: &'static Keys, errors: &mut Errors) {
    let flat: Vec<darling::Error> = error.flatten().into_iter().collect();
    let mut rewritten: Vec<(Span, String)> = Vec::new();
    let mut suggested: Vec<(String, String)> = Vec::new();
    let mut missing: Vec<(Span, String, String)> = Vec::new();
    let mut unkeyed: Vec<String> = Vec::new();
    for error in flat {
        let at = error.explicit_span().unwrap_or(span);
        let (text, location) = split_location(error.to_string());
        let (text, location) = (text.as_str(), location.as_str());
        let table = keys.at(location);
        if let Some(rest) = text.strip_prefix("Missing field `") {
            let key = rest.trim_end_matches('`').to_owned();
            missing.push((at, location.to_owned(), key));
        } else if let Some(rest) = text.strip_prefix("Unknown field: `") {
            let (key, rest) = rest.split_once('`').unwrap_or((rest, ""));
            let suggestion = rest.split_once("Did you mean `").and_then(|(_, rest)| rest.split_once('`')).map(|s| s.0);
            let message = match suggestion {
                Some(suggestion) => {
                    suggested.push((location.to_owned(), suggestion.to_owned()));
                    format!("unknown argument `{key}` of {}: did you mean `{suggestion}`?", table.attr)
                }
                None => format!("unknown argument `{key}` of {}: it takes {}", table.attr, table.list()),
            };
            rewritten.push((at, message));
        } else if let Some(rest) = text.strip_prefix("Duplicate field `") {
            let key = rest.trim_end_matches('`');
            rewritten.push((at, format!("`{key}` is given twice in {}: keep one", table.attr)));
        } else if let Some(rest) = text.strip_prefix("Unexpected meta-item format `") {
            let message = match rest.trim_end_matches('`') {
                "literal" => {
                    unkeyed.push(location.to_owned());
                    format!("{} takes `key = value` arguments: {}", table.attr, table.list())
                }
                format => format!("this argument of {} is written wrong ({format})", table.attr),
            };
            rewritten.push((at, message));
        } else {
            // This crate's own messages (value kinds), and syn's: as they are, without darling's
            // location (" at retry/min_delay"), which the span already shows.
            for error in syn::Error::from(error) {
                rewritten.push((error.span(), error.to_string()));
            }
        }
    }
    // One error per list for what it is missing, and none where the list was not written as
    // `key = value` at all (that error says what to write already).
    let mut by_location: Vec<(Span, String, Vec<String>)> = Vec::new();
    for (at, location, key) in missing {
        if suggested.iter().any(|(place, name)| *place == location && *name == key) || unkeyed.contains(&location) {
            continue;
        }
        let table = keys.at(&location);
        let example = table.example(&key).unwrap_or_else(|| format!("`{key}`"));
        match by_location.iter_mut().find(|(_, place, _)| *place == location) {
            Some((_, _, examples)) => examples.push(example),
            None => by_location.push((at, location, vec![example])),
        }
    }
    for (at, location, examples) in by_location {
        rewritten.push((at, format!("{} needs {}", keys.at(&location).attr, and_list(&examples))));
    }
    for (at, message) in rewritten {
        errors.at(at, message);
    }
}

/// darling's "message at retry/webhook" as the message and the location.
fn split_location(text: String) -> (String, String) {
    // Only darling's own messages carry a location, and their keys never hold " at ".
    for prefix in ["Missing field `", "Unknown field: `", "Duplicate field `", "Unexpected meta-item format `"] {
        if text.starts_with(prefix)
            && let Some((message, location)) = text.rsplit_once(" at ")
        {
            return (message.to_owned(), location.to_owned());
        }
    }
    (text, String::new())
}

/// "`a`, `b` and `c`".
fn and_list(items: &[String]) -> String {
    match items.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key a table lists is one darling accepts: a listed key never gets "unknown argument".
    fn assert_keys_known<T: FromMeta>(keys: &'static Keys) {
        for (key, _) in keys.keys {
            let key = syn::Ident::new(key, Span::call_site());
            let mut errors = Errors::default();
            let _ = parse::<T>(quote::quote! { #key = 1 }, Span::call_site(), keys, &mut errors);
            for message in errors.messages() {
                assert!(!message.starts_with("unknown argument"), "{}: {message}", keys.attr);
            }
        }
    }

    #[test]
    fn listed_keys_are_known() {
        assert_keys_known::<connector::ConnectorArgs>(&connector::CONNECTOR);
        assert_keys_known::<connector::RateLimitArgs>(&connector::RATE_LIMIT);
        assert_keys_known::<member::MemberArgs>(&member::ACTION);
        assert_keys_known::<member::MemberArgs>(&member::TRIGGER);
        assert_keys_known::<member::RetryArgs>(&member::RETRY);
        assert_keys_known::<member::WebhookArgs>(&member::WEBHOOK);
        assert_keys_known::<member::SecretArgs>(&member::STRIPE);
        assert_keys_known::<member::HmacArgs>(&member::HMAC);
        assert_keys_known::<member::PollArgs>(&member::POLL);
        assert_keys_known::<job::JobArgs>(&job::JOB);
    }

    #[test]
    fn depth() {
        let shallow = quote::quote! { a(b(c)) };
        assert!(too_deep(&shallow, 3, |_, _| false).is_none());
        assert!(too_deep(&shallow, 1, |_, _| false).is_some());
        let mut deep = quote::quote! { x };
        for _ in 0..1_000 {
            deep = quote::quote! { (#deep) };
        }
        assert!(too_deep(&deep, MAX_DEPTH, |_, _| false).is_some());
    }
}
