// A polling trigger's cursor is stored between polls, so it needs serde.
use connector_runtime::prelude::*;

#[derive(Deserialize, JsonSchema)]
struct TrackerConfig {
    base_url: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Issue {
    number: u64,
}

struct Page {
    after: u64,
}

struct Tracker;

#[connector(id = "tracker", name = "Tracker", version = "1.0.0", config = TrackerConfig)]
impl Tracker {
    #[trigger(id = "issues.new", name = "New Issues", poll(every = "30s"))]
    async fn new_issues(_ctx: &TriggerContext<TrackerConfig>, cursor: Option<Page>) -> Result<Polled<Issue, Page>, ActionError> {
        Ok(Polled::nothing().with_cursor(cursor.map(|page| Page { after: page.after })))
    }
}

fn main() {}
