//! `#[derive(Event)]`: binds a payload type to an event name.

use proc_macro2::TokenStream;
use quote::quote;

use crate::ast::event::Event;

pub fn generate(event: &Event) -> TokenStream {
    let ident = event.ident;
    let name = &event.name.value;
    let (impl_generics, ty_generics, where_clause) = event.generics.split_for_impl();
    quote! {
        impl #impl_generics ::connector_runtime::Event for #ident #ty_generics #where_clause {
            const NAME: &'static str = #name;
        }
    }
}
