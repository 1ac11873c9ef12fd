// The cursor parameter is not the cursor type the polling trigger returns.
use connector_runtime::prelude::*;

#[derive(Deserialize, JsonSchema)]
struct TrackerConfig {
    base_url: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Issue {
    number: u64,
}

struct Tracker;

#[connector(id = "tracker", name = "Tracker", version = "1.0.0", config = TrackerConfig)]
impl Tracker {
    #[trigger(id = "issues.new", name = "New Issues", poll(every = "30s"))]
    async fn new_issues(_ctx: &TriggerContext<TrackerConfig>, _cursor: Option<String>) -> Result<Polled<Issue, u64>, ActionError> {
        Ok(Polled::nothing())
    }
}

fn main() {}
