//! MCP on stdin and stdout, for a desktop agent that starts the app as a subprocess.

use rmcp::ServiceExt as _;

use super::McpServer;
use crate::engine::Engine;

/// Serves the engine's actions as MCP tools on stdin and stdout until the client closes stdin.
/// Nothing else may write to stdout meanwhile: logs belong on stderr.
pub async fn serve_stdio(engine: Engine) -> std::io::Result<()> {
    let running = McpServer::new(engine).serve(rmcp::transport::stdio()).await.map_err(std::io::Error::other)?;
    running.waiting().await.map_err(std::io::Error::other)?;
    Ok(())
}
