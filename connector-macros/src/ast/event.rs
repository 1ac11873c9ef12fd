//! A `#[derive(Event)]` type as this crate models it.

use darling::FromMeta;
use syn::spanned::Spanned;
use syn::{DeriveInput, Generics, Ident, Meta};

use crate::attr::value::Str;
use crate::attr::{self, Keys};
use crate::error::Errors;

/// `#[event(name = "..")]`.
#[derive(Debug, FromMeta)]
pub struct EventArgs {
    pub name: Str,
}

pub const EVENT: Keys = Keys { attr: "`#[event(..)]`", keys: &[("name", "\"chat.message.sent\"")], nested: &[] };

/// The event type and its name.
pub struct Event<'a> {
    pub ident: &'a Ident,
    pub generics: &'a Generics,
    pub name: Str,
}

/// Builds the model, adding every parse error to `errors`.
pub fn parse<'a>(input: &'a DeriveInput, errors: &mut Errors) -> Option<Event<'a>> {
    let mut attrs = input.attrs.iter().filter(|attr| attr.path().is_ident("event"));
    let Some(attr) = attrs.next() else {
        errors.spanning(
            &input.ident,
            "`#[derive(Event)]` needs the event's name: add `#[event(name = \"..\")]`, like `#[event(name = \"chat.message.sent\")]`",
        );
        return None;
    };
    for extra in attrs {
        errors.spanning(extra, "`#[event(..)]` is given twice: keep one");
    }
    let args = match &attr.meta {
        Meta::List(list) => attr::parse::<EventArgs>(list.tokens.clone(), list.path.span(), &EVENT, errors)?,
        other => {
            errors.spanning(other, "`#[event]` needs the event's name: `#[event(name = \"..\")]`");
            return None;
        }
    };
    Some(Event { ident: &input.ident, generics: &input.generics, name: args.name })
}
