//! A `#[connector]` impl block as this crate models it: the connector's arguments and type, and
//! one [`Member`] per `#[action]`/`#[trigger]` fn.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::spanned::Spanned;
use syn::{Attribute, Ident, Meta, Type};

use super::{ImplBlock, ImplEntry, MaybeFn, first_type_argument, is_named, ok_type, polled_types};
use crate::attr::connector::{CONNECTOR, ConnectorArgs};
use crate::attr::member::{ACTION, MemberArgs, TRIGGER};
use crate::attr::{self};
use crate::error::Errors;
use crate::names;

/// What a member fn is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Action,
    /// A webhook trigger (or one a job or test delivers to by hand).
    Trigger,
    /// A polling trigger: `poll(every = ..)`, or a `Polled<..>` return type.
    Poll,
}

impl Kind {
    /// The attribute that makes a fn this kind of member.
    pub fn attr(self) -> &'static str {
        match self {
            Kind::Action => "action",
            Kind::Trigger | Kind::Poll => "trigger",
        }
    }

    pub fn is_trigger(self) -> bool {
        matches!(self, Kind::Trigger | Kind::Poll)
    }
}

/// The connector.
pub struct Connector<'a> {
    pub args: ConnectorArgs,
    pub ty: Ident,
    /// `description = ".."`, or the impl block's doc comment.
    pub description: String,
    pub members: Vec<Member<'a>>,
    /// The names of the block's other fns, consts and types, for clashes with generated names.
    pub others: Vec<&'a Ident>,
}

/// One `#[action]` or `#[trigger]` fn.
pub struct Member<'a> {
    pub function: &'a MaybeFn,
    pub kind: Kind,
    /// The `action`/`trigger` of the member's attribute.
    pub attr_span: Span,
    pub args: MemberArgs,
    /// The fn's `#[cfg(..)]`s, for every item generated for it.
    pub cfgs: Vec<Attribute>,
    pub doc: String,
    /// An action's input, a trigger's payload, a polling trigger's `Option<Cursor>` parameter.
    pub input: Option<Type>,
    /// An action's output, what a trigger hands its jobs, a polling trigger's item.
    pub output: Option<Type>,
    /// A polling trigger's cursor (`C` of `Polled<T, C>`).
    pub cursor: Option<Type>,
}

impl Member<'_> {
    pub fn name(&self) -> &Ident {
        &self.function.sig.ident
    }

    /// `description = ".."`, or the fn's doc comment.
    pub fn description(&self) -> String {
        self.args.description.as_ref().map_or_else(|| self.doc.clone(), |text| text.value.clone())
    }
}

/// The attribute's kind if it is `#[action]` or `#[trigger]`, by the last segment of its path
/// (`#[connector_runtime::action]` is one too).
pub fn member_attr(attr: &Attribute) -> Option<Kind> {
    let last = attr.path().segments.last()?;
    match last.ident.to_string().as_str() {
        "action" => Some(Kind::Action),
        "trigger" => Some(Kind::Trigger),
        _ => None,
    }
}

/// Whether `attr` is a `cfg_attr(.., action(..))`: `#[connector]` sees attributes before
/// rustc applies `cfg_attr`, so a member hidden in one would not be one.
fn member_in_cfg_attr(attr: &Attribute) -> bool {
    let Meta::List(list) = &attr.meta else { return false };
    list.path.is_ident("cfg_attr")
        && list
            .tokens
            .clone()
            .into_iter()
            .any(|tree| matches!(tree, TokenTree::Ident(ident) if ident == "action" || ident == "trigger"))
}

/// Builds the model, adding every parse error to `errors`; `None` when the arguments or the
/// type cannot be read. Members whose attribute does not parse are left out.
pub fn parse<'a>(args: TokenStream, block: &'a ImplBlock, errors: &mut Errors) -> Option<Connector<'a>> {
    let args = attr::parse::<ConnectorArgs>(args, Span::call_site(), &CONNECTOR, errors);
    let ty = connector_type(block, errors);
    let mut members = Vec::new();
    let mut others = Vec::new();
    for item in &block.items {
        for attr in item.attrs() {
            if member_in_cfg_attr(attr) {
                errors.spanning(
                    attr,
                    "`#[connector]` reads `#[action]` and `#[trigger]` before `cfg_attr` is applied: write the \
                     attribute itself, and `#[cfg(..)]` on the fn if it exists only sometimes",
                );
            }
        }
        match item {
            ImplEntry::Fn(function) => match member(function, errors) {
                Some(Some(member)) => members.push(member),
                Some(None) => {}
                None => others.push(&function.sig.ident),
            },
            ImplEntry::Other(other) => {
                if let Some(attr) = other.attrs.iter().find(|attr| member_attr(attr).is_some()) {
                    let name = attr.path().segments.last().map_or_else(String::new, |last| last.ident.to_string());
                    let message = match other.kind {
                        "fn" => format!(
                            "`#[{name}]` is on a fn whose signature `#[connector]` cannot read: write it \
                             `async fn name(ctx: &{}Context<Config>, input: Input) -> Result<Output, Error> {{ .. }}`",
                            if name == "action" { "Action" } else { "Trigger" }
                        ),
                        "item" => format!("`#[{name}]` goes on an `async fn` of this block, not on this item"),
                        kind => format!(
                            "`#[{name}]` goes on an `async fn` of this block, not on a {kind}: \
                             `#[{name}(id = \"..\", name = \"..\")] async fn ..`"
                        ),
                    };
                    errors.spanning(attr, message);
                }
                others.extend(other.name.as_ref());
            }
        }
    }
    let (args, ty) = (args?, ty?);
    let description = match &args.description {
        Some(text) => text.value.clone(),
        None => names::doc_text(&block.header.attrs),
    };
    Some(Connector { args, ty, description, members, others })
}

/// The connector struct's name, from `impl SimpleChat`.
fn connector_type(block: &ImplBlock, errors: &mut Errors) -> Option<Ident> {
    let header = &block.header;
    if let Some((path, _)) = &header.trait_ {
        errors.spanning(path, "`#[connector]` goes on an inherent impl (`impl SimpleChat { .. }`), not a trait impl");
        return None;
    }
    if !header.generics.params.is_empty() {
        errors.spanning(&header.generics, "a connector cannot be generic");
        return None;
    }
    match &*header.self_ty {
        Type::Path(path) if path.qself.is_none() && path.path.segments.len() == 1 => {
            let segment = &path.path.segments[0];
            if segment.arguments.is_empty() {
                return Some(segment.ident.clone());
            }
            errors.spanning(&segment.arguments, "a connector cannot be generic");
            None
        }
        other => {
            errors
                .spanning(other, "`#[connector]` needs the connector struct's plain name here, like `impl SimpleChat`");
            None
        }
    }
}

/// `None` if `function` is no member; `Some(None)` if it is one whose attribute does not parse.
fn member<'a>(function: &'a MaybeFn, errors: &mut Errors) -> Option<Option<Member<'a>>> {
    let mut attrs = function.attrs.iter().filter_map(|attr| Some((attr, member_attr(attr)?)));
    let (attr, kind) = attrs.next()?;
    for (extra, _) in attrs {
        errors.spanning(extra, "a fn is one member: keep one `#[action]` or `#[trigger]`");
    }
    let keys = if kind == Kind::Action { &ACTION } else { &TRIGGER };
    let args = match &attr.meta {
        Meta::List(list) => attr::parse::<MemberArgs>(list.tokens.clone(), list.path.span(), keys, errors),
        other => {
            let name = kind.attr();
            errors.spanning(other, format!("`#[{name}]` needs arguments: `#[{name}(id = \"..\", name = \"..\")]`"));
            None
        }
    };
    let Some(args) = args else { return Some(None) };
    let output_ok = ok_type(&function.sig.output);
    let polling =
        kind == Kind::Trigger && (args.poll.is_some() || output_ok.is_some_and(|ok| polled_types(ok).is_some()));
    let kind = if polling { Kind::Poll } else { kind };
    let params = function.param_types();
    let input = match params.as_slice() {
        [_, input] => Some((*input).clone()),
        _ => None,
    };
    let (output, cursor) = match kind {
        Kind::Action => (output_ok.cloned(), None),
        Kind::Trigger => (output_ok.filter(|ok| is_named(ok, "Option")).and_then(first_type_argument).cloned(), None),
        Kind::Poll => match output_ok.and_then(polled_types) {
            Some((item, cursor)) => (Some(item.clone()), Some(cursor.clone())),
            None => (None, None),
        },
    };
    Some(Some(Member {
        function,
        kind,
        attr_span: attr.path().segments.last().map_or_else(|| attr.path().span(), |last| last.ident.span()),
        args,
        cfgs: function.cfgs(),
        doc: names::doc_text(&function.attrs),
        input,
        output,
        cursor,
    }))
}
