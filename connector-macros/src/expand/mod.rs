//! The expand step, and the drivers that run the phases in order: parse the item and the
//! arguments into the model (`ast`, `attr`), check it (`valid`), then generate from it here,
//! or, on any error, emit the errors with the stubs of `fallback`. Data flows one way: nothing
//! generated feeds back into the model.

mod connector;
mod event;
mod job;
mod policy;

use proc_macro2::{Delimiter, TokenStream};
use quote::quote;
use syn::Attribute;

pub use self::connector::{client_common, client_name, client_struct, member_type};
pub use self::policy::{millis, retry_policy, signature_scheme, subscription};
use crate::ast::{self, ImplBlock, MaybeFn};
use crate::error::Errors;
use crate::{fallback, valid};

/// How deeply an item's tokens may nest outside fn bodies (which are not parsed): far deeper
/// than any signature, and shallow enough that parsing cannot exhaust the stack.
const MAX_ITEM_DEPTH: usize = 64;

/// `item` unchanged after an error that leaves nothing to model: it still compiles as the user
/// wrote it, so the one error is all they see.
fn unchanged(item: TokenStream, errors: &Errors) -> TokenStream {
    let errors = errors.to_compile_errors();
    quote! { #errors #item }
}

/// `#[connector(..)]` on an impl block.
pub fn connector(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    // Fn bodies, two levels down (the impl's braces, then the fn's), are never parsed.
    let skip = |depth: usize, group: &proc_macro2::Group| depth >= 2 && group.delimiter() == Delimiter::Brace;
    if let Some(deep) = crate::attr::too_deep(&item, MAX_ITEM_DEPTH, skip) {
        errors.at(deep, format!("this item nests more than {MAX_ITEM_DEPTH} levels deep for `#[connector]` to read"));
        return unchanged(item, &errors);
    }
    let block = match ImplBlock::parse(item.clone()) {
        Ok(block) => block,
        Err(error) => {
            errors.at(
                error.span(),
                "`#[connector]` goes on an `impl` block of the connector's struct: `#[connector(..)] impl SimpleChat { .. }`",
            );
            return unchanged(item, &errors);
        }
    };
    let model = ast::connector::parse(args.clone(), &block, &mut errors);
    if let Some(model) = &model {
        valid::connector(model, &mut errors);
    }
    match model {
        Some(model) if errors.is_empty() => connector::generate(&block, &model),
        _ => fallback::connector(&block, &errors),
    }
}

/// `#[job(..)]` on a fn.
pub fn job(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    // The fn's body, one level down, is never parsed.
    let skip = |depth: usize, group: &proc_macro2::Group| depth >= 1 && group.delimiter() == Delimiter::Brace;
    if let Some(deep) = crate::attr::too_deep(&item, MAX_ITEM_DEPTH, skip) {
        errors.at(deep, format!("this item nests more than {MAX_ITEM_DEPTH} levels deep for `#[job]` to read"));
        return unchanged(item, &errors);
    }
    let function: MaybeFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(error) => {
            errors.at(error.span(), "`#[job]` goes on an `async fn(payload, io) -> Result<T, E>`");
            return unchanged(item, &errors);
        }
    };
    let model = ast::job::parse(args, &function, &mut errors);
    if let Some(model) = &model {
        valid::job(model, &mut errors);
    }
    match model {
        Some(model) if errors.is_empty() => job::generate(&model),
        _ => fallback::job(&function, &errors),
    }
}

/// `#[derive(Event)]`.
pub fn event(item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    if let Some(deep) = crate::attr::too_deep(&item, MAX_ITEM_DEPTH, |_, _| false) {
        errors
            .at(deep, format!("this item nests more than {MAX_ITEM_DEPTH} levels deep for `#[derive(Event)]` to read"));
        return errors.to_compile_errors();
    }
    let input: syn::DeriveInput = match syn::parse2(item) {
        Ok(input) => input,
        Err(error) => {
            errors.push(error);
            return errors.to_compile_errors();
        }
    };
    let model = ast::event::parse(&input, &mut errors);
    if let Some(model) = &model {
        valid::event(model, &mut errors);
    }
    match model {
        Some(model) if errors.is_empty() => event::generate(&model),
        _ => fallback::event(&input, &errors),
    }
}

/// A member's `#[cfg(..)]`s, for each item generated for it.
pub fn cfg_attrs(cfgs: &[Attribute]) -> TokenStream {
    quote! { #(#cfgs)* }
}
