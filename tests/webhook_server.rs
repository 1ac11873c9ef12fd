//! The process the server crash test kills: an engine on a SQLite file serving one signed
//! webhook trigger on 127.0.0.1, resuming unfinished runs at start.
//!
//! `webhook-server <db> <port> <webhook secret>`

use std::process::ExitCode;

use connector_runtime::prelude::*;
use connector_runtime::server::{self, ServerConfig};

#[derive(Deserialize, JsonSchema)]
struct HookConfig {
    secret: Secret,
}

/// One delivery of the load test.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct Ping {
    /// Which delivery this is.
    pub n: u64,
}

/// A connector whose only trigger is a signed webhook.
struct Hook;

#[connector(id = "hook", name = "Hook", version = "1.0.0", config = HookConfig)]
impl Hook {
    /// A ping arrived.
    #[trigger(
        id = "ping",
        name = "Ping",
        webhook(hmac_sha256(header = "X-Signature", prefix = "sha256=", secret = secret, delivery_id = "X-Delivery"))
    )]
    async fn ping(_ctx: &TriggerContext<HookConfig>, payload: Ping) -> Result<Option<Ping>, ActionError> {
        Ok(Some(payload))
    }
}

#[job(id = "on-ping", name = "On ping", version = "1.0.0", trigger = Hook::ping)]
async fn on_ping(payload: Ping, io: OnPingIo<'_>) -> Result<u64, JobError> {
    io.wait_for("settle", std::time::Duration::from_millis(1)).await?;
    Ok(payload.n)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [db, port, secret] = args.as_slice() else {
        eprintln!("usage: webhook-server <db> <port> <webhook secret>");
        return ExitCode::from(2);
    };
    let Ok(port) = port.parse::<u16>() else {
        eprintln!("webhook-server: `{port}` is not a port");
        return ExitCode::from(2);
    };
    let built = Engine::builder()
        .sqlite(db)
        .connector(Hook::init(HookConfig { secret: Secret::new(secret.as_str()) }))
        .job(OnPingJob)
        .build();
    let engine = match built {
        Ok(engine) => engine,
        Err(error) => {
            eprintln!("webhook-server: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = engine.recover().await {
        eprintln!("webhook-server: {error}");
        return ExitCode::FAILURE;
    }
    let config = ServerConfig { bind: std::net::SocketAddr::from(([127, 0, 0, 1], port)), ..ServerConfig::default() };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match server::serve(engine, config, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("webhook-server: {error}");
            ExitCode::FAILURE
        }
    }
}
