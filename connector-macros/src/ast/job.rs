//! A `#[job]` fn as this crate models it.

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{Ident, Path, ReturnType, Type};

use super::{MaybeFn, first_type_argument};
use crate::attr::job::{JOB, JobArgs};
use crate::attr::value::{Duration, Str};
use crate::attr::{self};
use crate::error::Errors;
use crate::names;

/// The job.
pub struct Job<'a> {
    pub function: &'a MaybeFn,
    pub args: JobArgs,
    /// Every trigger the arguments give; `valid` wants exactly one.
    pub triggers: Vec<Trigger>,
    /// The first parameter's type.
    pub payload: Option<Type>,
    /// The second parameter's type, written `{Name}Io<'_>`.
    pub io_param: Option<Type>,
    /// `T` of `-> Result<T, E>`.
    pub output: Option<Type>,
    /// `SendChatMessageJob`, the marker to register with the engine.
    pub marker: Ident,
    /// `SendChatMessageIo`, the type of the `io` parameter.
    pub io: Ident,
    /// `description = ".."`, or the fn's doc comment.
    pub description: String,
}

/// What starts a job.
pub enum Trigger {
    /// `event = SendMessage`, and the span of `event`.
    Event(Path, Span),
    /// `trigger = SimpleChat::message_received`: the path as written, the connector's path
    /// (`None` without one), and the fn.
    Connector { written: Path, connector: Option<Path>, function: Ident },
    /// `cron = ".."`
    Cron(Str),
    /// `every = ".."`
    Every(Duration),
}

impl Trigger {
    /// The argument's key, for messages.
    pub fn key(&self) -> &'static str {
        match self {
            Trigger::Event(..) => "event",
            Trigger::Connector { .. } => "trigger",
            Trigger::Cron(_) => "cron",
            Trigger::Every(_) => "every",
        }
    }

    pub fn span(&self) -> Span {
        match self {
            Trigger::Event(path, _) => path.span(),
            Trigger::Connector { written, .. } => written.span(),
            Trigger::Cron(text) => text.span,
            Trigger::Every(duration) => duration.span,
        }
    }
}

/// Builds the model, adding every parse error to `errors`; `None` when the arguments cannot be
/// read.
pub fn parse<'a>(args: TokenStream, function: &'a MaybeFn, errors: &mut Errors) -> Option<Job<'a>> {
    let args = attr::parse::<JobArgs>(args, Span::call_site(), &JOB, errors)?;
    let mut triggers = Vec::new();
    if let Some(event) = &args.event {
        triggers.push(Trigger::Event(event.0.clone(), event.1));
    }
    if let Some(trigger) = &args.trigger {
        triggers.push(connector_trigger(&trigger.0));
    }
    if let Some(cron) = &args.cron {
        triggers.push(Trigger::Cron(cron.clone()));
    }
    if let Some(every) = &args.every {
        triggers.push(Trigger::Every(every.clone()));
    }
    let name = &function.sig.ident;
    let params = function.param_types();
    let output = match &function.sig.output {
        ReturnType::Type(_, ty) => first_type_argument(ty).cloned(),
        ReturnType::Default => None,
    };
    let description = match &args.description {
        Some(text) => text.value.clone(),
        None => names::doc_text(&function.attrs),
    };
    Some(Job {
        marker: names::generated(name, "Job"),
        io: names::generated(name, "Io"),
        payload: params.first().map(|ty| (*ty).clone()),
        io_param: params.get(1).map(|ty| (*ty).clone()),
        function,
        args,
        triggers,
        output,
        description,
    })
}

/// `a::SimpleChat::message_received` -> connector `a::SimpleChat`, fn `message_received`.
pub fn connector_trigger(written: &Path) -> Trigger {
    let mut connector = written.clone();
    let last = connector.segments.pop();
    // Drop the `::` the popped segment leaves behind.
    connector.segments.pop_punct();
    let function = last.map_or_else(|| Ident::new("trigger", written.span()), |last| last.ident);
    let connector = (!connector.segments.is_empty()).then_some(connector);
    Trigger::Connector { written: written.clone(), connector, function }
}
