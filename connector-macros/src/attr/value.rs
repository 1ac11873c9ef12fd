//! The kinds of value an argument takes, each parsed from `key = value` with a message that
//! says what to write when the value is of another kind (`id = 5`: "expected a string:
//! `id = ".."`"). Only the kind is checked here; ranges and rules are `valid`'s.

use darling::{Error, FromMeta};
use proc_macro2::Span;
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{Expr, Ident, Lit, Meta, Path, UnOp};

use crate::duration;

/// The key of `key = value`, as written.
fn key(item: &Meta) -> String {
    item.path().to_token_stream().to_string().replace(' ', "")
}

/// The value of `key = value`, through the invisible groups a `macro_rules!` may add; `None`
/// for a bare `key` or `key(..)`.
fn value(item: &Meta) -> Option<&Expr> {
    let Meta::NameValue(pair) = item else { return None };
    let mut expr = &pair.value;
    // A loop, not recursion: a value may be wrapped any number of times.
    while let Expr::Group(group) = expr {
        expr = &group.expr;
    }
    Some(expr)
}

/// "expected {what}: `{key} = {example}`", on the value (or the whole argument without one).
fn expected(item: &Meta, what: &str, example: &str) -> Error {
    let message = format!("expected {what}: `{} = {example}`", key(item));
    match value(item) {
        Some(value) => Error::custom(message).with_span(value),
        None => Error::custom(message).with_span(item),
    }
}

/// A string literal: `id = "chat"`.
#[derive(Debug, Clone)]
pub struct Str {
    pub value: String,
    pub span: Span,
}

impl FromMeta for Str {
    fn from_meta(item: &Meta) -> darling::Result<Self> {
        match value(item) {
            Some(Expr::Lit(syn::ExprLit { lit: Lit::Str(text), .. })) => {
                Ok(Str { value: text.value(), span: text.span() })
            }
            _ => Err(expected(item, "a string", "\"..\"")),
        }
    }
}

impl std::ops::Deref for Str {
    type Target = str;
    fn deref(&self) -> &str {
        &self.value
    }
}

/// A whole number literal, `max_attempts = 3`, up to `u64::MAX`; the range of each argument
/// is a rule of `valid`.
#[derive(Debug, Clone, Copy)]
pub struct Int {
    pub value: u64,
    pub span: Span,
}

impl FromMeta for Int {
    fn from_meta(item: &Meta) -> darling::Result<Self> {
        match value(item) {
            // syn reads `-1` as one negative literal.
            Some(Expr::Lit(syn::ExprLit { lit: Lit::Int(int), .. })) if int.base10_digits().starts_with('-') => {
                Err(Error::custom(format!("`{}` cannot be negative", key(item))).with_span(int))
            }
            Some(Expr::Lit(syn::ExprLit { lit: Lit::Int(int), .. })) => match int.base10_parse::<u64>() {
                Ok(value) => Ok(Int { value, span: int.span() }),
                Err(_) => Err(Error::custom(format!(
                    "`{}` is too large for `{}`: write a whole number up to {}",
                    int.base10_digits(),
                    key(item),
                    u64::MAX
                ))
                .with_span(int)),
            },
            Some(Expr::Unary(unary)) if matches!(unary.op, UnOp::Neg(_)) => {
                Err(Error::custom(format!("`{}` cannot be negative", key(item))).with_span(unary))
            }
            _ => Err(expected(item, "a whole number", "3")),
        }
    }
}

/// A number literal, whole or not, maybe negative: `factor = 2.0`. `1e999` reads as infinity,
/// which `valid` rejects; nothing here asserts that a value is finite.
#[derive(Debug, Clone, Copy)]
pub struct Float {
    pub value: f64,
    pub span: Span,
}

impl FromMeta for Float {
    fn from_meta(item: &Meta) -> darling::Result<Self> {
        let (negative, expr) = match value(item) {
            Some(Expr::Unary(unary)) if matches!(unary.op, UnOp::Neg(_)) => (true, Some(&*unary.expr)),
            other => (false, other),
        };
        let parsed = match expr {
            Some(Expr::Lit(syn::ExprLit { lit: Lit::Float(float), .. })) => float.base10_parse::<f64>().ok(),
            Some(Expr::Lit(syn::ExprLit { lit: Lit::Int(int), .. })) => int.base10_digits().parse::<f64>().ok(),
            _ => None,
        };
        match (parsed, value(item)) {
            (Some(value), Some(expr)) => Ok(Float { value: if negative { -value } else { value }, span: expr.span() }),
            _ => Err(expected(item, "a number", "2.0")),
        }
    }
}

/// `jitter`, `jitter = true` or `jitter = false`.
#[derive(Debug, Clone, Copy)]
pub struct Flag(pub bool);

impl FromMeta for Flag {
    fn from_meta(item: &Meta) -> darling::Result<Self> {
        match (item, value(item)) {
            (Meta::Path(_), _) => Ok(Flag(true)),
            (_, Some(Expr::Lit(syn::ExprLit { lit: Lit::Bool(flag), .. }))) => Ok(Flag(flag.value)),
            _ => Err(expected(item, "`true` or `false`", "true")),
        }
    }
}

/// A path naming a type, `config = SimpleChatConfig`, `event = MessageSent`, and the span of
/// its key.
#[derive(Debug, Clone)]
pub struct TypePath(pub Path, pub Span);

impl FromMeta for TypePath {
    fn from_meta(item: &Meta) -> darling::Result<Self> {
        match value(item) {
            Some(Expr::Path(path)) if path.qself.is_none() => Ok(TypePath(path.path.clone(), item.path().span())),
            _ => Err(expected(item, "a type", "MyType")),
        }
    }
}

/// A path naming a fn: `check = Self::check`, `trigger = SimpleChat::message_received`.
#[derive(Debug, Clone)]
pub struct FnPath(pub Path);

impl FromMeta for FnPath {
    fn from_meta(item: &Meta) -> darling::Result<Self> {
        match value(item) {
            Some(Expr::Path(path)) if path.qself.is_none() => Ok(FnPath(path.path.clone())),
            _ => Err(expected(item, "a path to a fn", "Self::my_fn")),
        }
    }
}

/// The name of a config field: `secret = webhook_secret`.
#[derive(Debug, Clone)]
pub struct Field(pub Ident);

impl FromMeta for Field {
    fn from_meta(item: &Meta) -> darling::Result<Self> {
        match value(item) {
            Some(Expr::Path(path)) if path.qself.is_none() => match path.path.get_ident() {
                Some(ident) => Ok(Field(ident.clone())),
                None => Err(expected(item, "the name of a config field", "webhook_secret")),
            },
            _ => Err(expected(item, "the name of a config field", "webhook_secret")),
        }
    }
}

/// A duration string, `min_delay = "200ms"`, read as milliseconds.
#[derive(Debug, Clone)]
pub struct Duration {
    pub millis: u64,
    /// As written, for messages.
    pub text: String,
    pub span: Span,
}

impl FromMeta for Duration {
    fn from_meta(item: &Meta) -> darling::Result<Self> {
        let text = Str::from_meta(item).map_err(|_| expected(item, "a duration", "\"30s\""))?;
        match duration::millis(&text) {
            Some(millis) => Ok(Duration { millis, text: text.value, span: text.span }),
            None => Err(Error::custom(format!(
                "`{}` is not a duration: write a number and a unit, like \"250ms\", \"2s\", \"5m\" or \"1h\"",
                text.value
            ))
            .with_span(&text.span)),
        }
    }
}
