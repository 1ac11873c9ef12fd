//! The app the MCP tests start over stdio: the runtime's command line with the Simple Chat
//! connector, configured for the chat service the test runs (its URL and key in
//! `MCP_APP_CHAT_URL` and `MCP_APP_CHAT_KEY`), so the test sees every request the tools make.

use std::process::ExitCode;

use connector_runtime::Secret;
use connector_runtime::cli::App;
use simple_chat::{SimpleChat, SimpleChatConfig};

fn main() -> ExitCode {
    App::new("mcp-app")
        .setup(|engine| async move {
            let url = std::env::var("MCP_APP_CHAT_URL")?;
            let key = std::env::var("MCP_APP_CHAT_KEY")?;
            let config = SimpleChatConfig::new(Secret::new(key)).base_url(url);
            Ok(engine.connector(SimpleChat::init(config)).into())
        })
        .run_cli()
}
