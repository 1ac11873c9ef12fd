// A cron expression has 5 fields (or 6-7 with seconds and a year); this one has 4.
use connector_runtime::prelude::*;

#[job(id = "cleanup", name = "Cleanup", version = "1.0.0", cron = "*/5 * * *")]
async fn cleanup(_tick: Tick, _io: CleanupIo<'_>) -> Result<(), JobError> {
    Ok(())
}

fn main() {}
