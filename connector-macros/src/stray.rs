//! `#[action]` and `#[trigger]` outside a `#[connector]` impl block: `#[connector]` consumes them,
//! so reaching these entry points means the user forgot it.

use proc_macro2::{Span, TokenStream};
use quote::quote;

pub fn expand(kind: &str, _args: TokenStream, item: TokenStream) -> TokenStream {
    let message = format!(
        "`#[{kind}]` works only on a fn inside an `impl` block marked `#[connector(..)]`: add `#[connector(id = .., name = .., version = .., config = ..)]` to the impl block"
    );
    let error = syn::Error::new(Span::call_site(), message).to_compile_error();
    quote! { #error #item }
}
