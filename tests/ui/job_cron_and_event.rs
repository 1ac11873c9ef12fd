// A job has one trigger: an event or a schedule, not both.
use connector_runtime::prelude::*;

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "report.requested")]
struct ReportRequested {
    day: String,
}

#[job(id = "report", name = "Report", version = "1.0.0", event = ReportRequested, cron = "0 3 * * *")]
async fn report(payload: ReportRequested, _io: ReportIo<'_>) -> Result<String, JobError> {
    Ok(payload.day)
}

fn main() {}
