//! Names: doc comments, case conversion, and the names of generated items.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Attribute, Expr, Ident, Lit, Meta};

/// The text of `///` comments, one line each, with the leading space rustdoc adds removed.
pub fn doc_text(attrs: &[Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs {
        let Meta::NameValue(nv) = &attr.meta else {
            continue;
        };
        if !nv.path.is_ident("doc") {
            continue;
        }
        if let Expr::Lit(lit) = &nv.value
            && let Lit::Str(text) = &lit.lit
        {
            let value = text.value();
            lines.push(value.strip_prefix(' ').map(str::to_owned).unwrap_or(value));
        }
    }
    // Lines of one paragraph are wrapped source text: join them with spaces, as rustdoc
    // renders them; keep blank lines as paragraph breaks.
    let mut text = String::new();
    for line in lines.iter().map(|line| line.trim_end()) {
        if line.trim().is_empty() {
            text.push_str("\n\n");
        } else {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push(' ');
            }
            text.push_str(line.trim_start());
        }
    }
    while text.contains("\n\n\n") {
        text = text.replace("\n\n\n", "\n\n");
    }
    text.trim().to_owned()
}

/// `#[doc]` attributes for `text`, one per line with the leading space of `///`, so generated
/// items read like hand-written ones in expanded code (`cargo expand`, the snapshots).
pub fn doc_attrs(text: &str) -> TokenStream {
    let lines = text.lines().map(|line| if line.is_empty() { String::new() } else { format!(" {line}") });
    quote! { #(#[doc = #lines])* }
}

/// `send_message` -> `SendMessage`.
pub fn pascal_case(snake: &str) -> String {
    snake
        .trim_start_matches("r#")
        .split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

/// `send_message` -> `SEND_MESSAGE`.
pub fn screaming_snake(snake: &str) -> String {
    snake.trim_start_matches("r#").to_uppercase()
}

/// `send_message` + `Job` -> `SendMessageJob`, spanned at the fn's name.
pub fn generated(fn_name: &Ident, suffix: &str) -> Ident {
    ident(&format!("{}{suffix}", pascal_case(&fn_name.to_string())), fn_name.span())
}

/// `send_message` -> `SEND_MESSAGE`, spanned at the fn's name.
pub fn constant(fn_name: &Ident) -> Ident {
    ident(&screaming_snake(&fn_name.to_string()), fn_name.span())
}

/// An identifier made of `text`, which case conversion made from one: `Ident::new` would panic
/// on text that is not one (or is a keyword), so such text becomes a raw or a plain stand-in.
pub fn ident(text: &str, span: Span) -> Ident {
    match syn::parse_str::<Ident>(text) {
        Ok(mut ident) => {
            ident.set_span(span);
            ident
        }
        Err(_) => Ident::new("__connector_generated", span),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pascal_case_joins_words() {
        assert_eq!(pascal_case("send_message"), "SendMessage");
        assert_eq!(pascal_case("r#type"), "Type");
        assert_eq!(pascal_case("get__info_"), "GetInfo");
        assert_eq!(pascal_case("v2_call"), "V2Call");
    }

    #[test]
    fn generated_names_are_identifiers() {
        let span = Span::call_site();
        assert_eq!(generated(&Ident::new("send_message", span), "Job"), "SendMessageJob");
        assert_eq!(constant(&Ident::new("send_message", span)), "SEND_MESSAGE");
        assert_eq!(constant(&Ident::new_raw("type", span)), "TYPE");
        assert_eq!(generated(&Ident::new("__", span), "Io"), "Io");
        assert_eq!(ident("Self", span), "__connector_generated");
        assert_eq!(ident("not an ident", span), "__connector_generated");
    }

    #[test]
    fn wrapped_lines_join_into_one_paragraph() {
        let item: syn::ItemFn = syn::parse_quote! {
            /// Posts a message
            /// to a channel.
            ///
            ///
            /// Second paragraph.
            fn f() {}
        };
        assert_eq!(doc_text(&item.attrs), "Posts a message to a channel.\n\nSecond paragraph.");
    }

    #[test]
    fn doc_text_strips_the_leading_space() {
        let item: syn::ItemFn = syn::parse_quote! {
            /// Sends a message.
            ///
            /// To a channel.
            fn f() {}
        };
        assert_eq!(doc_text(&item.attrs), "Sends a message.\n\nTo a channel.");
    }
}
