//! `#[action]` and `#[trigger]` reached as macros of their own. `#[connector]` reads and removes
//! them from its block, so reaching these entry points means it did not see them: the block has
//! no `#[connector]`, or the attribute is renamed (`use connector_runtime::action as op;`), which
//! `#[connector]` cannot know is the same, or it is not on a fn.

use proc_macro2::{Span, TokenStream};
use quote::quote;

use crate::ast::MaybeFn;

pub fn expand(kind: &str, _args: TokenStream, item: TokenStream) -> TokenStream {
    let message = if syn::parse2::<MaybeFn>(item.clone()).is_ok() {
        format!(
            "`#[{kind}]` is read by the `#[connector(..)]` of the `impl` block around it. If this block has no \
             `#[connector]`, add it: `#[connector(id = .., name = .., version = .., config = ..)]`. If it has one, \
             write `#[{kind}(..)]` on an `async fn` of the block by that name: `#[connector]` does not see it renamed \
             with `use .. as ..`"
        )
    } else {
        format!(
            "`#[{kind}]` goes on an `async fn` inside an `impl` block that has `#[connector(..)]`, not on this item"
        )
    };
    let error = syn::Error::new(Span::call_site(), message).to_compile_error();
    quote! { #error #item }
}
