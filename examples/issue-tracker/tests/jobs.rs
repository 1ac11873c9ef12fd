//! The jobs, unit-tested: their actions answered by the test, no tracker service, no store on disk.

use chrono::Utc;
use connector_runtime::testing::JobTest;
use connector_runtime::{RunStatus, Secret};
use issue_tracker::connector::{Issue, IssueList, IssueTracker, TrackerConfig};
use issue_tracker::jobs::{BugReported, FileBugJob, Filed, TriageNewIssueJob};

fn tracker() -> connector_runtime::Integration<IssueTracker> {
    // Nothing listens there: every action the tests reach is mocked (so no token is fetched).
    IssueTracker::init(TrackerConfig {
        base_url: "http://127.0.0.1:9".into(),
        token_url: "http://127.0.0.1:9/oauth/token".into(),
        client_id: "test".into(),
        client_secret: Secret::new("test-secret"),
    })
}

fn issue(number: u64, title: &str, labels: &[&str]) -> Issue {
    Issue {
        number,
        title: title.into(),
        body: None,
        labels: labels.iter().map(|label| (*label).to_owned()).collect(),
        state: "open".into(),
        created_at: Utc::now(),
    }
}

#[tokio::test(start_paused = true)]
async fn file_bug_files_a_labelled_issue_and_counts_the_open_ones() {
    let run = JobTest::new(FileBugJob)
        .connector(tracker())
        .mock(IssueTracker::CREATE_ISSUE, |new| {
            let labels: Vec<&str> = new.labels.iter().map(String::as_str).collect();
            Ok(issue(12, &new.title, &labels))
        })
        .mock(IssueTracker::GET_ISSUE, |reference| Ok(issue(reference.number, "Crash on start", &["bug"])))
        .mock(IssueTracker::LIST_ISSUES, |_| {
            Ok(IssueList { issues: vec![issue(3, "Old", &[]), issue(12, "New", &[])] })
        })
        .run(BugReported { title: "Crash on start".into(), details: "stack trace".into() })
        .await
        .unwrap();
    assert_eq!(run.status(), RunStatus::Succeeded, "{:?}", run.error());
    let filed: Filed = run.output();
    assert_eq!((filed.number, filed.open_issues), (12, 2));
    assert_eq!(run.step_keys(), ["create", "read-back", "count-open"]);
    let created = run.calls(IssueTracker::CREATE_ISSUE);
    assert_eq!(created[0].labels, ["bug"]);
    assert_eq!(created[0].body.as_deref(), Some("stack trace"));
}

#[tokio::test(start_paused = true)]
async fn triage_reads_the_issue_back() {
    let run = JobTest::new(TriageNewIssueJob)
        .connector(tracker())
        .mock(IssueTracker::GET_ISSUE, |reference| Ok(issue(reference.number, "Typo", &[])))
        .run(issue(5, "Typo", &[]))
        .await
        .unwrap();
    assert_eq!(run.output::<String>(), "#5 triaged");
    assert_eq!(run.calls(IssueTracker::GET_ISSUE)[0].number, 5);
}
