//! A second example connector, not chat-shaped: an issue tracker behind OAuth2 with a paginated
//! list, and the small tracker service (with its own authorization server) it talks to.

pub mod connector;
pub mod jobs;
pub mod service;

pub use connector::{IssueTracker, TrackerConfig};
