//! The errors of one expansion, collected as they are found (parse and validate both add to
//! them) and emitted together, each as a spanned `compile_error!`.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

/// Every error found so far. Unlike darling's accumulator it may be dropped unfinished: an
/// expansion never panics, not even on its own bookkeeping.
#[derive(Default)]
pub struct Errors(Vec<syn::Error>);

impl Errors {
    /// An error at `span`.
    pub fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.0.push(syn::Error::new(span, message));
    }

    /// An error spanning `tokens` (its first to last token, where the compiler allows).
    pub fn spanning(&mut self, tokens: &impl ToTokens, message: impl std::fmt::Display) {
        self.0.push(syn::Error::new_spanned(tokens, message));
    }

    /// Adds a syn or darling error (every message of a combined one).
    pub fn push(&mut self, error: impl Into<syn::Error>) {
        self.0.extend(error.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[cfg(test)]
    pub fn messages(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }

    /// One `compile_error!` per error, in the order they were found.
    pub fn to_compile_errors(&self) -> TokenStream {
        self.0.iter().map(syn::Error::to_compile_error).collect()
    }
}
