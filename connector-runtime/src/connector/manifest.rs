//! How a connector and its members describe themselves: the manifest constructors over the
//! connector traits (the manifest types are in the model, which knows no connector).

use super::{Action, Connector, PollTrigger, Trigger};
use crate::model::IntegrationRef;
use crate::model::manifest::{
    ActionManifest, ConnectorManifest, Manifest, PollManifest, TriggerManifest, non_empty, schema_of,
};
use crate::model::schedule::format_duration;

impl ConnectorManifest {
    /// The manifest of connector `C`.
    pub fn of<C: Connector>() -> Self {
        ConnectorManifest {
            id: C::ID.to_owned(),
            name: C::NAME.to_owned(),
            version: C::VERSION.to_owned(),
            description: non_empty(C::DESCRIPTION),
            config: schema_of::<C::Config>(),
            actions: C::actions(),
            triggers: C::triggers(),
        }
    }
}

impl ActionManifest {
    /// The manifest of action `A`.
    pub fn of<A: Action>() -> Self {
        ActionManifest {
            id: A::ID.to_owned(),
            name: A::NAME.to_owned(),
            description: non_empty(A::DESCRIPTION),
            input: schema_of::<A::Input>(),
            output: schema_of::<A::Output>(),
            read_only: A::HINTS.read_only,
            destructive: A::HINTS.destructive,
            idempotent: A::HINTS.idempotent,
        }
    }
}

impl TriggerManifest {
    /// The manifest of trigger `T`.
    pub fn of<T: Trigger>() -> Self {
        TriggerManifest {
            id: T::ID.to_owned(),
            name: T::NAME.to_owned(),
            description: non_empty(T::DESCRIPTION),
            payload: schema_of::<T::Payload>(),
            output: schema_of::<T::Output>(),
            poll: None,
        }
    }

    /// The manifest of polling trigger `P`: its payload and output are both the item's schema.
    pub fn of_poll<P: PollTrigger>() -> Self {
        let item = schema_of::<P::Item>();
        TriggerManifest {
            id: P::ID.to_owned(),
            name: P::NAME.to_owned(),
            description: non_empty(P::DESCRIPTION),
            payload: item.clone(),
            output: item,
            poll: Some(PollManifest { every: format_duration(P::EVERY) }),
        }
    }
}

impl Manifest {
    /// Adds connector `C`.
    pub fn connector<C: Connector>(mut self) -> Self {
        self.connectors.push(C::manifest());
        self
    }
}

impl IntegrationRef {
    /// The integration `key` of connector `C`.
    pub fn of<C: Connector>(key: &'static str) -> Self {
        IntegrationRef { key: key.to_owned(), connector: C::ID.to_owned(), connector_type: C::TYPE_NAME }
    }
}
