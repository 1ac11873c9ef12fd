// The job's payload parameter is not the item type the polling trigger returns.
use connector_runtime::prelude::*;

#[derive(Deserialize, JsonSchema)]
struct TrackerConfig {
    base_url: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Issue {
    number: u64,
    title: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Comment {
    text: String,
}

struct Tracker;

#[connector(id = "tracker", name = "Tracker", version = "1.0.0", config = TrackerConfig)]
impl Tracker {
    #[trigger(id = "issues.new", name = "New Issues", poll(every = "30s"))]
    async fn new_issues(_ctx: &TriggerContext<TrackerConfig>, cursor: Option<u64>) -> Result<Polled<Issue, u64>, ActionError> {
        Ok(Polled::nothing().with_cursor(cursor))
    }
}

#[job(id = "triage", name = "Triage", version = "1.0.0", trigger = Tracker::new_issues)]
async fn triage(payload: Comment, _io: TriageIo<'_>) -> Result<String, JobError> {
    Ok(payload.text)
}

fn main() {}
