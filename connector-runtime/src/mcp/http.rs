//! MCP over streamable HTTP: a tower service, which the server mounts at `/mcp` behind its
//! API key.

use std::sync::Arc;

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};

use super::McpServer;
use crate::engine::Engine;

/// The streamable HTTP service of the MCP server.
pub type McpHttpService = StreamableHttpService<McpServer, LocalSessionManager>;

/// The streamable HTTP MCP service of the engine's actions: sessions kept in this process, one
/// [`McpServer`] each. It checks no credentials itself: mount it behind a check (the server's
/// `/mcp` requires its API key). `Host` headers are not checked either (a browser cannot send
/// the bearer token, so DNS rebinding gets nowhere), so it serves behind any name.
pub fn http_service(engine: Engine) -> McpHttpService {
    let server = McpServer::new(engine);
    let config = StreamableHttpServerConfig::default().disable_allowed_hosts();
    StreamableHttpService::new(move || Ok(server.session()), Arc::new(LocalSessionManager::default()), config)
}
