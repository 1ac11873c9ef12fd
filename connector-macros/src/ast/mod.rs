//! The parse step: the user's items as this crate models them.
//!
//! [`MaybeFn`] and [`ImplBlock`] are the syntax: fns are parsed up to their signature and keep
//! their bodies as tokens (as tracing-attributes does), so a half-typed body still expands and
//! rustc, not the macro, says what is wrong inside it. `connector`, `job` and `event` turn that
//! syntax and the attribute arguments into the model the other phases read.

pub mod connector;
pub mod event;
pub mod job;

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use quote::{ToTokens, TokenStreamExt};
use syn::parse::discouraged::Speculative;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, GenericArgument, Ident, PathArguments, ReturnType, Signature, Type, Visibility};

/// A fn as written, its body kept as tokens.
pub struct MaybeFn {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub sig: Signature,
    /// The `{ .. }` group, unparsed.
    pub body: proc_macro2::Group,
}

impl Parse for MaybeFn {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let sig: Signature = input.parse()?;
        let body = match input.parse::<TokenTree>() {
            Ok(TokenTree::Group(group)) if group.delimiter() == Delimiter::Brace => group,
            _ => return Err(syn::Error::new(sig.ident.span(), "expected the fn's body")),
        };
        Ok(MaybeFn { attrs, vis, sig, body })
    }
}

impl MaybeFn {
    /// The fn as written, with the attributes `keep` keeps.
    pub fn to_tokens_keeping(&self, keep: impl Fn(&Attribute) -> bool) -> TokenStream {
        let mut tokens = TokenStream::new();
        for attr in self.attrs.iter().filter(|attr| keep(attr)) {
            attr.to_tokens(&mut tokens);
        }
        self.vis.to_tokens(&mut tokens);
        self.sig.to_tokens(&mut tokens);
        tokens.append(self.body.clone());
        tokens
    }

    /// The types of the fn's parameters, `self` left out.
    pub fn param_types(&self) -> Vec<&Type> {
        self.sig
            .inputs
            .iter()
            .filter_map(|input| match input {
                FnArg::Typed(typed) => Some(&*typed.ty),
                FnArg::Receiver(_) => None,
            })
            .collect()
    }

    /// Where to report a problem with the parameters: the list, or the name when it is empty.
    pub fn params_span(&self) -> Span {
        if self.sig.inputs.is_empty() { self.sig.ident.span() } else { self.sig.inputs.span() }
    }

    /// The fn's `#[cfg(..)]` attributes, for every item generated for it.
    pub fn cfgs(&self) -> Vec<Attribute> {
        self.attrs.iter().filter(|attr| attr.path().is_ident("cfg")).cloned().collect()
    }

    /// The span of `E` in `-> Result<T, E>`, where a conversion error is reported.
    pub fn error_span(&self) -> Span {
        error_type_span(&self.sig.output)
    }
}

/// An item of an `impl` block other than a fn with a body, kept as tokens.
pub struct OtherItem {
    pub attrs: Vec<Attribute>,
    /// Everything after the attributes.
    pub tokens: TokenStream,
    /// `const`, `type`, `fn` (one whose signature does not parse), `macro` or `item`.
    pub kind: &'static str,
    /// The name a `const` or `type` defines.
    pub name: Option<Ident>,
}

/// One item of an `impl` block.
pub enum ImplEntry {
    Fn(Box<MaybeFn>),
    Other(OtherItem),
}

impl ImplEntry {
    pub fn attrs(&self) -> &[Attribute] {
        match self {
            ImplEntry::Fn(function) => &function.attrs,
            ImplEntry::Other(other) => &other.attrs,
        }
    }

    /// The item as written, with the attributes `keep` keeps.
    pub fn to_tokens_keeping(&self, keep: impl Fn(&Attribute) -> bool) -> TokenStream {
        match self {
            ImplEntry::Fn(function) => function.to_tokens_keeping(keep),
            ImplEntry::Other(other) => {
                let mut tokens = TokenStream::new();
                for attr in other.attrs.iter().filter(|attr| keep(attr)) {
                    attr.to_tokens(&mut tokens);
                }
                tokens.extend(other.tokens.clone());
                tokens
            }
        }
    }
}

/// An `impl` block: its header parsed by syn, its items split and fns parsed up to their bodies.
pub struct ImplBlock {
    pub header: syn::ItemImpl,
    /// The header as written (attributes, `impl`, generics, type, where clause).
    pub header_tokens: TokenStream,
    pub brace: proc_macro2::Group,
    /// `#![..]` attributes at the start of the block.
    pub inner_attrs: Vec<Attribute>,
    pub items: Vec<ImplEntry>,
}

impl ImplBlock {
    pub fn parse(tokens: TokenStream) -> syn::Result<Self> {
        let mut trees: Vec<TokenTree> = tokens.into_iter().collect();
        let brace = match trees.pop() {
            Some(TokenTree::Group(group)) if group.delimiter() == Delimiter::Brace => group,
            Some(other) => return Err(syn::Error::new(other.span(), "expected an `impl` block")),
            None => return Err(syn::Error::new(Span::call_site(), "expected an `impl` block")),
        };
        let header_tokens: TokenStream = trees.into_iter().collect();
        let empty = proc_macro2::Group::new(Delimiter::Brace, TokenStream::new());
        let mut header_and_braces = header_tokens.clone();
        header_and_braces.append(empty);
        let header: syn::ItemImpl = syn::parse2(header_and_braces)?;
        let (inner_attrs, items) = syn::parse::Parser::parse2(parse_body, brace.stream())?;
        Ok(ImplBlock { header, header_tokens, brace, inner_attrs, items })
    }

    /// The block as written, with the attributes `keep` keeps on its items.
    pub fn to_tokens_keeping(&self, keep: impl Fn(&Attribute) -> bool) -> TokenStream {
        let mut tokens = self.header_tokens.clone();
        let mut items = TokenStream::new();
        for attr in &self.inner_attrs {
            attr.to_tokens(&mut items);
        }
        items.extend(self.items.iter().map(|item| item.to_tokens_keeping(&keep)));
        let mut body = proc_macro2::Group::new(Delimiter::Brace, items);
        body.set_span(self.brace.span());
        tokens.append(body);
        tokens
    }
}

fn parse_body(input: ParseStream) -> syn::Result<(Vec<Attribute>, Vec<ImplEntry>)> {
    let inner_attrs = input.call(Attribute::parse_inner)?;
    let mut items = Vec::new();
    while !input.is_empty() {
        let fork = input.fork();
        if let Ok(function) = fork.parse::<MaybeFn>() {
            input.advance_to(&fork);
            items.push(ImplEntry::Fn(Box::new(function)));
            continue;
        }
        items.push(ImplEntry::Other(parse_other(input)?));
    }
    Ok((inner_attrs, items))
}

/// Any other item, up to its `;` (or the braces of a macro call, or of a fn whose signature did
/// not parse). A wrong cut only moves tokens between two verbatim items, which are emitted in
/// order as they came.
fn parse_other(input: ParseStream) -> syn::Result<OtherItem> {
    let fork = input.fork();
    let attrs = match fork.call(Attribute::parse_outer) {
        Ok(attrs) => {
            input.advance_to(&fork);
            attrs
        }
        Err(_) => Vec::new(),
    };
    let mut trees: Vec<TokenTree> = Vec::new();
    while !input.is_empty() {
        let tree: TokenTree = input.parse()?;
        let ends = match &tree {
            TokenTree::Punct(punct) => punct.as_char() == ';',
            TokenTree::Group(group) if group.delimiter() == Delimiter::Brace => {
                let after_bang = matches!(trees.last(), Some(TokenTree::Punct(p)) if p.as_char() == '!');
                let in_fn = trees.iter().any(|tree| matches!(tree, TokenTree::Ident(ident) if ident == "fn"));
                let in_expression =
                    matches!(trees.last(), Some(TokenTree::Punct(p)) if matches!(p.as_char(), '=' | '<' | ','));
                after_bang || (in_fn && !in_expression)
            }
            _ => false,
        };
        trees.push(tree);
        if ends {
            break;
        }
    }
    let (kind, name) = describe(&trees);
    Ok(OtherItem { attrs, tokens: trees.into_iter().collect(), kind, name })
}

/// What kind of item `trees` are, and the name a `const` or `type` defines.
fn describe(trees: &[TokenTree]) -> (&'static str, Option<Ident>) {
    let mut words = trees.iter().skip_while(|tree| {
        // Visibility: `pub`, and its `(crate)`.
        matches!(tree, TokenTree::Ident(ident) if ident == "pub")
            || matches!(tree, TokenTree::Group(group) if group.delimiter() == Delimiter::Parenthesis)
    });
    match (words.next(), words.next()) {
        (Some(TokenTree::Ident(keyword)), Some(TokenTree::Ident(name))) if keyword == "const" => {
            ("const", Some(name.clone()))
        }
        (Some(TokenTree::Ident(keyword)), Some(TokenTree::Ident(name))) if keyword == "type" => {
            ("type", Some(name.clone()))
        }
        (Some(TokenTree::Ident(keyword)), _) if keyword == "const" => ("const", None),
        (Some(TokenTree::Ident(keyword)), _) if keyword == "type" => ("type", None),
        _ if trees.iter().any(|tree| matches!(tree, TokenTree::Ident(ident) if ident == "fn")) => ("fn", None),
        _ if trees.iter().any(|tree| matches!(tree, TokenTree::Punct(p) if p.as_char() == '!')) => ("macro", None),
        _ => ("item", None),
    }
}

/// The span of `E` in `-> Result<T, E>`; of the return type when it has no second argument.
pub fn error_type_span(output: &ReturnType) -> Span {
    let ReturnType::Type(_, ty) = output else {
        return Span::call_site();
    };
    let error = match &**ty {
        Type::Path(path) => match path.path.segments.last().map(|last| &last.arguments) {
            Some(PathArguments::AngleBracketed(arguments)) => arguments
                .args
                .iter()
                .filter_map(|argument| match argument {
                    GenericArgument::Type(ty) => Some(ty),
                    _ => None,
                })
                .nth(1),
            _ => None,
        },
        _ => None,
    };
    error.map_or_else(|| ty.span(), Spanned::span)
}

/// `T` in `Result<T, E>`, `ActionResult<T>` or `Option<T>`.
pub fn first_type_argument(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let PathArguments::AngleBracketed(arguments) = &path.path.segments.last()?.arguments else {
        return None;
    };
    arguments.args.iter().find_map(|argument| match argument {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    })
}

/// Whether the last segment of `ty`'s path is `name`: `Option`, `Polled`.
pub fn is_named(ty: &Type, name: &str) -> bool {
    matches!(ty, Type::Path(path) if path.qself.is_none() && path.path.segments.last().is_some_and(|s| s.ident == name))
}

/// `Polled<T, C>` -> `(T, C)`.
pub fn polled_types(ty: &Type) -> Option<(&Type, &Type)> {
    if !is_named(ty, "Polled") {
        return None;
    }
    let Type::Path(path) = ty else { return None };
    let PathArguments::AngleBracketed(arguments) = &path.path.segments.last()?.arguments else {
        return None;
    };
    let mut types = arguments.args.iter().filter_map(|argument| match argument {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    });
    match (types.next(), types.next(), types.next()) {
        (Some(item), Some(cursor), None) => Some((item, cursor)),
        _ => None,
    }
}

/// The `T` of `-> Result<T, E>`, or `None` when the fn returns something else.
pub fn ok_type(output: &ReturnType) -> Option<&Type> {
    match output {
        ReturnType::Type(_, ty) => first_type_argument(ty),
        ReturnType::Default => None,
    }
}

/// Whether `ty` borrows: a reference, or a lifetime other than `'static`. Stored and
/// deserialized values cannot.
pub fn borrows(ty: &Type) -> bool {
    let mut stack = vec![ty.to_token_stream().into_iter()];
    let mut previous_quote = false;
    while let Some(top) = stack.last_mut() {
        let Some(tree) = top.next() else {
            stack.pop();
            continue;
        };
        match tree {
            TokenTree::Punct(punct) if punct.as_char() == '&' => return true,
            TokenTree::Punct(punct) if punct.as_char() == '\'' => {
                previous_quote = true;
                continue;
            }
            TokenTree::Ident(ident) if previous_quote && ident != "static" => return true,
            TokenTree::Group(group) => stack.push(group.stream().into_iter()),
            _ => {}
        }
        previous_quote = false;
    }
    false
}
