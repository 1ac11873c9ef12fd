// A scheduled job receives a `Tick`, not a payload of its own.
use connector_runtime::prelude::*;

#[derive(Serialize, Deserialize, JsonSchema)]
struct Report {
    day: String,
}

#[job(id = "nightly-report", name = "Nightly Report", version = "1.0.0", cron = "0 3 * * *")]
async fn nightly_report(payload: Report, _io: NightlyReportIo<'_>) -> Result<String, JobError> {
    Ok(payload.day)
}

fn main() {}
