//! `#[derive(Event)]`: binds a payload type to an event name.

use darling::util::SpannedValue;
use darling::{Error, FromDeriveInput};
use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use crate::args;

#[derive(FromDeriveInput)]
#[darling(attributes(event))]
struct EventArgs {
    ident: syn::Ident,
    generics: syn::Generics,
    name: SpannedValue<String>,
}

pub fn expand(item: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(item) {
        Ok(input) => input,
        Err(error) => return error.to_compile_error(),
    };
    let parsed = EventArgs::from_derive_input(&input).and_then(|args| {
        let mut errors = Error::accumulator();
        errors.handle(args::check_id("event", &args.name));
        errors.finish_with(args)
    });
    match parsed {
        Ok(args) => generate(&args),
        Err(errors) => errors.write_errors(),
    }
}

fn generate(args: &EventArgs) -> TokenStream {
    let ident = &args.ident;
    let name = args.name.as_str();
    let (impl_generics, ty_generics, where_clause) = args.generics.split_for_impl();
    quote! {
        impl #impl_generics ::connector_runtime::Event for #ident #ty_generics #where_clause {
            const NAME: &'static str = #name;
        }
    }
}
