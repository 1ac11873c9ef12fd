//! What the macros emit when there is any error: the errors, the user's item as written, and
//! stubs of the items the expansion would have generated, so that the rest of the user's code
//! still finds them and one mistake is one error (not one more per job that uses the connector).
//!
//! The stubs hold no types of the user's. Each one that could fail is keyed by `__ERRORS`, the
//! constant holding the `compile_error!`s: it never evaluates, and rustc stays silent about
//! everything that depends on it. A job's `trigger = ..` check reads the stub's member lists,
//! so it fails silently too; a client method takes and returns a type that is an error to rustc,
//! so calls to it check nothing; a job's stub `io` derefs to one, so `io.anything` is accepted.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Attribute, Ident, Meta, Type, Visibility};

use crate::ast::connector::{Kind, member_attr};
use crate::ast::{ImplBlock, ImplEntry, MaybeFn, ok_type, polled_types};
use crate::error::Errors;
use crate::expand::{cfg_attrs, client_common, client_name, client_struct, member_type};
use crate::names;

/// `const __ERRORS: u64 = { compile_error!(..) 0 };` and `__Unknown`, a type rustc knows to be
/// an error (it is `ActionOf<owner, __ERRORS>`'s input): anything checked against it passes.
fn poison(owner: &TokenStream, errors: &Errors) -> TokenStream {
    let errors = errors.to_compile_errors();
    quote! {
        const __ERRORS: u64 = { #errors 0 };
        type __Unknown = <::connector_runtime::ActionOf<#owner, __ERRORS> as ::connector_runtime::Action>::Input;
    }
}

/// A member as the fallback sees it: only what it is called and what kind it is.
struct Stub<'a> {
    name: &'a Ident,
    kind: Kind,
    vis: &'a Visibility,
    cfgs: Vec<Attribute>,
}

/// `#[connector]` on a block with an error.
pub fn connector(block: &ImplBlock, errors: &Errors) -> TokenStream {
    let user = block.to_tokens_keeping(|attr| member_attr(attr).is_none());
    let Some(ty) = plain_type(block) else {
        let errors = errors.to_compile_errors();
        return quote! { #errors #user };
    };
    let stubs: Vec<Stub> = block
        .items
        .iter()
        .filter_map(|item| match item {
            ImplEntry::Fn(function) => stub(function),
            ImplEntry::Other(_) => None,
        })
        .collect();
    // Names the block defines itself: a stub of the same name would be a second error.
    let taken: Vec<String> = block
        .items
        .iter()
        .filter_map(|item| match item {
            ImplEntry::Fn(function) => Some(function.sig.ident.to_string()),
            ImplEntry::Other(other) => other.name.as_ref().map(ToString::to_string),
        })
        .collect();

    let client = client_name(ty);
    let client_struct = client_struct(ty, &client);
    let (as_ref, with_retry) = client_common(&client);
    let poison = poison(&quote! { #ty }, errors);
    let key = quote! { __ERRORS };
    let init = (!taken.iter().any(|name| name == "init")).then(|| {
        quote! {
            pub fn init(config: __Unknown) -> ::connector_runtime::Integration<#ty> {
                let _ = config;
                ::core::unreachable!()
            }
        }
    });
    let mut constants = Vec::new();
    let mut methods = Vec::new();
    let mut seen: Vec<(String, String)> = Vec::new();
    for stub in &stubs {
        let cfgs = cfg_attrs(&stub.cfgs);
        let cfg_key = cfgs.to_string();
        let vis = stub.vis;
        let constant = names::constant(stub.name);
        let constant_text = constant.to_string();
        if !taken.contains(&constant_text) && !seen.contains(&(constant_text.clone(), cfg_key.clone())) {
            let member_type = member_type(ty, stub.kind, &key);
            constants.push(quote! { #cfgs #vis const #constant: #member_type = <#member_type>::new(); });
        }
        let method = stub.name.to_string();
        if stub.kind == Kind::Action && method != "with_retry" && !seen.contains(&(method.clone(), cfg_key.clone())) {
            let name = stub.name;
            methods.push(quote! {
                #cfgs
                #[allow(dead_code)]
                #vis async fn #name(
                    &self,
                    key: &str,
                    input: __Unknown,
                ) -> ::core::result::Result<__Unknown, ::connector_runtime::StepError> {
                    let _ = (key, input, self.io, self.integration, self.retry);
                    ::core::unreachable!()
                }
            });
        }
        seen.push((constant_text, cfg_key.clone()));
        seen.push((method, cfg_key));
    }
    let type_name = ty.to_string();
    quote! {
        #user

        #client_struct

        const _: () = {
            #poison

            impl #ty {
                #init
                #(#constants)*
            }

            impl ::connector_runtime::Connector for #ty {
                type Config = __Unknown;
                const ID: &'static str = "";
                const NAME: &'static str = "";
                const VERSION: &'static str = "";
                const DESCRIPTION: &'static str = "";
                const TYPE_NAME: &'static str = #type_name;

                fn actions() -> ::std::vec::Vec<::connector_runtime::__private::ActionManifest> {
                    ::std::vec::Vec::new()
                }

                fn triggers() -> ::std::vec::Vec<::connector_runtime::__private::TriggerManifest> {
                    ::std::vec::Vec::new()
                }
            }

            #[doc(hidden)]
            impl ::connector_runtime::__private::ConnectorMembers for #ty {
                const ACTIONS: &'static [u64] = { let _ = __ERRORS; &[] };
                const TRIGGERS: &'static [u64] = { let _ = __ERRORS; &[] };
                type Client<'io> = #client<'io>;

                fn client<'io>(
                    io: &'io ::connector_runtime::Io,
                    integration: &'io ::connector_runtime::Integration<Self>,
                ) -> #client<'io> {
                    #client { io, integration, retry: ::core::option::Option::None }
                }

                fn visit<V: ::connector_runtime::__private::MemberVisitor<Self>>(_visitor: &mut V) {}
            }

            #as_ref

            impl<'io> #client<'io> {
                #with_retry

                #(#methods)*
            }
        };
    }
}

/// The connector's name, when the block is `impl Name` (anything else is an error that leaves
/// nothing to stub).
fn plain_type(block: &ImplBlock) -> Option<&Ident> {
    let header = &block.header;
    if header.trait_.is_some() || !header.generics.params.is_empty() {
        return None;
    }
    match &*header.self_ty {
        Type::Path(path) if path.qself.is_none() && path.path.segments.len() == 1 => {
            let segment = &path.path.segments[0];
            segment.arguments.is_empty().then_some(&segment.ident)
        }
        _ => None,
    }
}

/// The stub of a member fn, whatever else is wrong with it.
fn stub(function: &MaybeFn) -> Option<Stub<'_>> {
    let attr = function.attrs.iter().find(|attr| member_attr(attr).is_some())?;
    let mut kind = member_attr(attr)?;
    if kind == Kind::Trigger {
        let polls = match &attr.meta {
            Meta::List(list) => list
                .tokens
                .clone()
                .into_iter()
                .any(|tree| matches!(tree, proc_macro2::TokenTree::Ident(ident) if ident == "poll")),
            _ => false,
        };
        let returns_polled = ok_type(&function.sig.output).is_some_and(|ok| polled_types(ok).is_some());
        if polls || returns_polled {
            kind = Kind::Poll;
        }
    }
    Some(Stub { name: &function.sig.ident, kind, vis: &function.vis, cfgs: function.cfgs() })
}

/// `#[job]` on a fn with an error.
pub fn job(function: &MaybeFn, errors: &Errors) -> TokenStream {
    let user = function.to_tokens_keeping(|_| true);
    let vis = &function.vis;
    let name = &function.sig.ident;
    let (marker, io) = (names::generated(name, "Job"), names::generated(name, "Io"));
    let poison = poison(&quote! { #marker }, errors);
    quote! {
        #user

        #[derive(Debug, Clone, Copy, Default)]
        #vis struct #marker;

        #vis struct #io<'io>(::core::marker::PhantomData<&'io ()>);

        const _: () = {
            #poison

            impl<'io> ::core::ops::Deref for #io<'io> {
                type Target = __Unknown;
                fn deref(&self) -> &__Unknown {
                    ::core::unreachable!()
                }
            }

            impl ::connector_runtime::Job for #marker {
                type Trigger = ::connector_runtime::OnTriggerFn<#marker, __ERRORS>;
                type Output = ();
                const ID: &'static str = "";
                const NAME: &'static str = "";
                const VERSION: &'static str = "";
                const DESCRIPTION: &'static str = "";

                fn integrations() -> ::std::vec::Vec<::connector_runtime::IntegrationRef> {
                    ::std::vec::Vec::new()
                }

                async fn run(
                    payload: <Self::Trigger as ::connector_runtime::JobTrigger>::Payload,
                    io: &::connector_runtime::Io,
                ) -> ::core::result::Result<(), ::connector_runtime::JobError> {
                    let _ = (payload, io);
                    ::core::unreachable!()
                }
            }
        };
    }
}

/// `#[derive(Event)]` on a type with an error: the errors, and an `Event` impl with no name so
/// that jobs started by the event still compile.
pub fn event(input: &syn::DeriveInput, errors: &Errors) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let errors = errors.to_compile_errors();
    quote! {
        #errors

        impl #impl_generics ::connector_runtime::Event for #ident #ty_generics #where_clause {
            const NAME: &'static str = "";
        }
    }
}
