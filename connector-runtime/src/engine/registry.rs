//! What the engine knows: the registered connector instances and jobs, type-erased.

use std::any::{Any, TypeId};
use std::collections::HashMap;

use futures::future::BoxFuture;
use serde_json::Value;

use bytes::Bytes;
use http::HeaderMap;

use super::call::call;
use super::io::Io;
use super::job::{Job, JobTrigger};
use super::members::{ConnectorMembers, MemberVisitor, SubscribeFn, UnsubscribeFn};
use super::poll::RegisteredPoll;
use super::tool_call::{ActionStep, built_in_job};
use super::trigger::{Triggered, run as run_trigger};
use super::{CallError, EngineError, TriggerFailure};
use crate::client::HttpClient;
use crate::connector::{ActionFn, CheckError, Connector, Integration, PollFn, TriggerFn};
use crate::model::payload::check_value;
use crate::model::{
    ActionError, ConnectorManifest, Event, JobError, JobManifest, PayloadError, RetryPolicy, Schedule, TriggerRef,
};
use crate::webhook::SignatureScheme;

/// A connector trigger, erased, bound to its connector instance.
pub(crate) struct WebhookTrigger {
    pub(crate) signature: Option<SignatureScheme>,
    /// Declared `webhook(unsigned)`: no scheme, on purpose.
    pub(crate) unsigned: bool,
    pub(crate) run: ErasedRun,
    pub(crate) subscription: Option<Subscription>,
}

type ErasedRun = Box<dyn Fn(HeaderMap, Bytes) -> BoxFuture<'static, Result<Triggered, TriggerFailure>> + Send + Sync>;
type Subscribe = Box<dyn Fn(String) -> BoxFuture<'static, Result<String, ActionError>> + Send + Sync>;
type Unsubscribe = Box<dyn Fn(String) -> BoxFuture<'static, Result<(), ActionError>> + Send + Sync>;

/// How to register and remove a trigger's webhook with its service.
pub(crate) struct Subscription {
    pub(crate) subscribe: Subscribe,
    pub(crate) unsubscribe: Unsubscribe,
}

/// A registered connector instance.
pub(crate) struct IntegrationEntry {
    pub(crate) instance: Box<dyn Any + Send + Sync>,
    pub(crate) manifest: fn() -> ConnectorManifest,
    /// The instance's HTTP client: its credentials and limits, attached to the store at build.
    pub(crate) http: HttpClient,
    pub(crate) actions: HashMap<&'static str, ErasedCall>,
    /// The actions again, as steps of a durable call (`Engine::call_durably`).
    pub(crate) steps: HashMap<&'static str, ActionStep>,
    pub(crate) check: ErasedCheck,
}

type ErasedCall = Box<dyn Fn(Value) -> BoxFuture<'static, Result<Value, CallError>> + Send + Sync>;
type ErasedCheck = Box<dyn Fn() -> BoxFuture<'static, Result<(), CheckError>> + Send + Sync>;

/// Registers a connector instance: walks its members and boxes each one once, bound to the
/// instance.
struct Registering<'r, C: Connector> {
    integration: &'r Integration<C>,
    actions: HashMap<&'static str, ErasedCall>,
    steps: HashMap<&'static str, ActionStep>,
    triggers: &'r mut HashMap<(&'static str, &'static str), WebhookTrigger>,
    polls: &'r mut Vec<RegisteredPoll>,
}

impl<C: Connector> MemberVisitor<C> for Registering<'_, C> {
    fn action<const KEY: u64>(&mut self)
    where
        C: ActionFn<KEY>,
    {
        let integration = self.integration.clone();
        let call: ErasedCall = Box::new(move |input| call::<C, KEY>(integration.clone(), input));
        self.actions.insert(<C as ActionFn<KEY>>::ID, call);
        self.steps.insert(<C as ActionFn<KEY>>::ID, ActionStep::of::<C, KEY>());
    }

    fn trigger<const KEY: u64>(&mut self, subscription: Option<(SubscribeFn<C>, UnsubscribeFn<C>)>)
    where
        C: TriggerFn<KEY>,
    {
        let runner = self.integration.clone();
        let subscription = subscription.map(|(subscribe, unsubscribe)| {
            let (on, off) = (self.integration.clone(), self.integration.clone());
            Subscription {
                subscribe: Box::new(move |url| subscribe(on.clone(), url)) as Subscribe,
                unsubscribe: Box::new(move |id| unsubscribe(off.clone(), id)) as Unsubscribe,
            }
        });
        let webhook = WebhookTrigger {
            signature: <C as TriggerFn<KEY>>::signature(self.integration.shared_config()),
            unsigned: <C as TriggerFn<KEY>>::UNSIGNED,
            run: Box::new(move |headers, body| run_trigger::<C, KEY>(runner.clone(), headers, body)),
            subscription,
        };
        self.triggers.insert((<C as Connector>::ID, <C as TriggerFn<KEY>>::ID), webhook);
    }

    fn poll<const KEY: u64>(&mut self)
    where
        C: PollFn<KEY>,
    {
        self.polls.push(RegisteredPoll::of::<C, KEY>(self.integration));
    }
}

impl Registry {
    /// Registers a connector instance, its actions, triggers and polling triggers; `false` if
    /// a connector with its id is registered already.
    pub(crate) fn add_connector<C: ConnectorMembers>(&mut self, integration: Integration<C>) -> bool {
        let mut registering = Registering {
            integration: &integration,
            actions: HashMap::new(),
            steps: HashMap::new(),
            triggers: &mut self.triggers,
            polls: &mut self.polls,
        };
        C::visit(&mut registering);
        let (actions, steps) = (registering.actions, registering.steps);
        let checked = integration.clone();
        let check: ErasedCheck = Box::new(move || {
            let integration = checked.clone();
            Box::pin(async move { integration.check().await })
        });
        let entry = IntegrationEntry {
            http: integration.http_client().clone(),
            instance: Box::new(integration),
            manifest: C::manifest,
            actions,
            steps,
            check,
        };
        self.integrations.insert(C::ID, entry).is_none()
    }
}

/// A registered job, erased to JSON in and out.
pub(crate) struct JobEntry {
    pub(crate) id: &'static str,
    pub(crate) version: &'static str,
    pub(crate) trigger: TriggerRef,
    pub(crate) manifest: fn() -> JobManifest,
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) concurrency: Option<usize>,
    /// When a scheduled job runs.
    pub(crate) schedule: Option<Schedule>,
    /// Checks a JSON payload fits the job's payload type, naming the field that does not.
    pub(crate) check_payload: fn(&Value) -> Result<(), PayloadError>,
    /// The payload's Rust type, to tell apart two types given one event name.
    pub(crate) payload_type: (TypeId, &'static str),
    pub(crate) execute: for<'io> fn(Value, &'io Io) -> BoxFuture<'io, Result<Value, JobError>>,
}

impl JobEntry {
    pub(crate) fn of<J: Job>() -> Self {
        JobEntry {
            id: J::ID,
            version: J::VERSION,
            trigger: <J::Trigger as JobTrigger>::trigger_ref(),
            manifest: J::manifest,
            retry: J::RETRY,
            concurrency: J::CONCURRENCY,
            schedule: <J::Trigger as JobTrigger>::schedule(),
            check_payload: check_payload::<J>,
            payload_type: (
                TypeId::of::<<J::Trigger as JobTrigger>::Payload>(),
                std::any::type_name::<<J::Trigger as JobTrigger>::Payload>(),
            ),
            execute: execute::<J>,
        }
    }
}

fn check_payload<J: Job>(payload: &Value) -> Result<(), PayloadError> {
    check_value::<<J::Trigger as JobTrigger>::Payload>(payload).map(drop)
}

fn execute<J: Job>(payload: Value, io: &Io) -> BoxFuture<'_, Result<Value, JobError>> {
    Box::pin(async move {
        let payload = serde_json::from_value(payload)
            .map_err(|error| format!("the payload does not fit job `{}`: {error}", J::ID))?;
        let output = J::run(payload, io).await?;
        Ok(serde_json::to_value(output)?)
    })
}

/// The registered connector instances (by connector id), their triggers (by connector and
/// trigger id), and jobs.
#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) integrations: HashMap<&'static str, IntegrationEntry>,
    pub(crate) triggers: HashMap<(&'static str, &'static str), WebhookTrigger>,
    pub(crate) polls: Vec<RegisteredPoll>,
    pub(crate) jobs: Vec<JobEntry>,
    /// Answers that replace actions' calls, in tests: by connector and action id.
    pub(crate) mocks: HashMap<(&'static str, &'static str), Mock>,
}

/// A test's answer to an action, erased to JSON in and out.
pub(crate) type Mock = std::sync::Arc<dyn Fn(Value) -> Result<Value, ActionError> + Send + Sync>;

impl Registry {
    pub(crate) fn integration<C: Connector>(&self) -> Option<&Integration<C>> {
        self.integrations.get(C::ID)?.instance.downcast_ref::<Integration<C>>()
    }

    pub(crate) fn jobs_for<'a>(&'a self, trigger: &'a TriggerRef) -> impl Iterator<Item = &'a JobEntry> + 'a {
        self.jobs.iter().filter(move |job| &job.trigger == trigger)
    }

    /// A registered job, or the built-in one of durable calls (`tool-call`).
    pub(crate) fn job(&self, id: &str) -> Option<&JobEntry> {
        self.jobs.iter().find(|job| job.id == id).or_else(|| built_in_job(id))
    }

    /// Refuses two jobs started by one event name whose payload types differ: an event name
    /// means one Rust type, so a sender and a job can never disagree on its payload.
    /// Every webhook trigger is signed, or declared `webhook(unsigned)`.
    pub(crate) fn check_signed_triggers(&self) -> Result<(), EngineError> {
        let mut unsigned: Vec<_> = self.unsigned_triggers().filter(|(_, webhook)| !webhook.unsigned).collect();
        // The first by name, so the error is the same on every build.
        unsigned.sort_by_key(|(key, _)| *key);
        match unsigned.first() {
            Some(&(&(connector, trigger), _)) => Err(EngineError::UnsignedTrigger { connector, trigger }),
            None => Ok(()),
        }
    }

    /// The webhook triggers that take unsigned deliveries (declared so, or refused at build).
    pub(crate) fn unsigned_triggers(
        &self,
    ) -> impl Iterator<Item = (&(&'static str, &'static str), &WebhookTrigger)> + '_ {
        self.triggers.iter().filter(|(_, webhook)| webhook.signature.is_none())
    }

    pub(crate) fn check_event_types(&self) -> Result<(), EngineError> {
        let mut seen: HashMap<&str, &JobEntry> = HashMap::new();
        for job in &self.jobs {
            let TriggerRef::Event { name } = &job.trigger else { continue };
            match seen.get(name.as_str()) {
                Some(first) if first.payload_type != job.payload_type => {
                    return Err(EngineError::EventTypeClash {
                        name: name.clone(),
                        first: first.payload_type.1,
                        second: job.payload_type.1,
                    });
                }
                Some(_) => {}
                None => {
                    seen.insert(name, job);
                }
            }
        }
        Ok(())
    }

    /// Checks that the jobs started by `E`'s name take `E` itself, not another type that was
    /// given the same name.
    pub(crate) fn check_event_type<E: Event>(&self) -> Result<(), EngineError> {
        let trigger = TriggerRef::Event { name: E::NAME.to_owned() };
        let sent = (TypeId::of::<E>(), std::any::type_name::<E>());
        match self.jobs_for(&trigger).find(|job| job.payload_type.0 != sent.0) {
            Some(job) => {
                Err(EngineError::EventTypeClash { name: E::NAME.to_owned(), first: job.payload_type.1, second: sent.1 })
            }
            None => Ok(()),
        }
    }
}
