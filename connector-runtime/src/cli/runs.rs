//! `runs`, `runs show ID`, `resume ID` and `cancel ID`: stored runs as a table, one run as a
//! timeline of its steps, ids found by unambiguous prefix, and waiting for a run until nothing in
//! this process can take it further.

use std::time::Duration;

use serde_json::json;

use super::exit::{CliError, Exit};
use super::output::{self, Report, Table};
use crate::engine::Engine;
use crate::model::{Run, RunId, RunStatus, StepKind, StepStatus, TriggerRef};
use crate::store::{RunFilter, RunStore};

/// How many candidates an ambiguous prefix lists.
const MAX_CANDIDATES: usize = 10;

/// How often a command waiting for a run looks whether it parked on a token.
const PARK_POLL: Duration = Duration::from_millis(100);

/// How many child runs deep a parked run is followed to the token it waits for.
const MAX_CHILD_DEPTH: usize = 8;

/// `runs`: the runs matching `filter`, newest first.
pub(super) async fn list(store: Option<&dyn RunStore>, filter: &RunFilter, place: &str) -> Result<Report, CliError> {
    let runs = match store {
        Some(store) => store.list_runs(filter).await?,
        None => Vec::new(),
    };
    let text = if runs.is_empty() {
        format!("no runs in {place}")
    } else {
        let mut table = Table::new(["ID", "JOB", "STATUS", "CREATED (UTC)", "DURATION", "TRIGGER"]);
        for run in &runs {
            table.row(vec![
                run.id.to_string(),
                run.job_id.clone(),
                run.status.to_string(),
                output::time(run.created_at),
                run_duration(run),
                trigger(&run.trigger),
            ]);
        }
        table.render("")
    };
    Ok(Report::new(json!({ "runs": runs }), text))
}

/// `runs show ID`.
pub(super) async fn show(store: Option<&dyn RunStore>, prefix: &str, place: &str) -> Result<Report, CliError> {
    let Some(store) = store else {
        return Err(not_found(prefix, place));
    };
    let run = find(store, prefix, place).await?;
    let log = store.logs(&run.id).await?;
    let mut text = timeline(&run);
    text.push_str(&log_text(&log));
    let mut document = json!(run);
    document["log"] = json!(log);
    Ok(Report::new(document, text))
}

/// The run's log lines, one a line, after the timeline (nothing when there are none).
fn log_text(log: &crate::model::RunLog) -> String {
    if log.lines.is_empty() && log.dropped == 0 {
        return String::new();
    }
    let mut text = String::from("\nlog:\n");
    for line in &log.lines {
        let step = line.step.as_deref().map(|step| format!(" [{step}]")).unwrap_or_default();
        let level = line.level.as_str().to_uppercase();
        text.push_str(&format!(
            "  {} {level:<5}{step} {}: {}\n",
            line.at.format("%H:%M:%S%.3f"),
            line.source,
            line.message
        ));
    }
    if log.dropped > 0 {
        text.push_str(&format!("  ({} more lines were dropped: a run keeps {})\n", log.dropped, log.lines.len()));
    }
    text
}

/// `resume ID`: resumes the run (found by prefix) and waits for it.
pub(super) async fn resume(engine: &Engine, id: &RunId) -> Result<(Report, Exit), CliError> {
    let id = engine.resume(id).await?;
    let run = settled(engine, &id).await?;
    let exit = outcome(&run);
    Ok((Report::new(json!(run), timeline(&run)), exit))
}

/// `cancel ID`: cancels the run (found by prefix).
pub(super) async fn cancel(engine: &Engine, run: &Run) -> Result<Report, CliError> {
    let status = engine.cancel(&run.id).await?;
    let text = match status {
        RunStatus::Cancelled => format!("run {} cancelled; `resume {}` takes it up again", run.id, run.id),
        _ => format!("run {} is {status}: it stops at its next step boundary", run.id),
    };
    Ok(Report::new(json!({ "id": run.id, "status": status }), text))
}

/// Waits for run `id` to finish, or to park on a token (directly or through a child run):
/// nothing in this process takes a parked run further, so waiting longer would wait for
/// whoever completes the token.
pub(super) async fn settled(engine: &Engine, id: &RunId) -> Result<Run, CliError> {
    let parked = async {
        loop {
            tokio::time::sleep(PARK_POLL).await;
            if let Ok(Some(run)) = engine.run(id).await
                && parked_on_token(engine, &run).await
            {
                return run;
            }
        }
    };
    tokio::select! {
        run = engine.wait(id) => Ok(run?),
        run = parked => Ok(run),
    }
}

/// Whether `run` waits for a token, or for a child run that does.
async fn parked_on_token(engine: &Engine, run: &Run) -> bool {
    let mut run = run.clone();
    for _ in 0..MAX_CHILD_DEPTH {
        if run.status != RunStatus::Waiting {
            return false;
        }
        let waits_for = run.steps.iter().find(|step| step.status == StepStatus::Running).map(|step| &step.kind);
        let child = match waits_for {
            Some(StepKind::Token { .. }) => return true,
            Some(StepKind::Job { run: child, .. }) => child.clone(),
            _ => return false,
        };
        run = match engine.run(&child).await {
            Ok(Some(child)) => child,
            _ => return false,
        };
    }
    false
}

/// The exit code a run's status means once this command is done with it: a run that did not
/// succeed is a failed command; a run waiting (for a token) is not; a run left unfinished means
/// the store failed under it (it resumes on recovery).
pub(super) fn outcome(run: &Run) -> Exit {
    match run.status {
        RunStatus::Succeeded | RunStatus::Waiting => Exit::Ok,
        RunStatus::Queued | RunStatus::Running => Exit::Unavailable,
        _ => Exit::Failed,
    }
}

/// The run whose id is `prefix`, or the only one whose id starts with it.
pub(super) async fn find(store: &dyn RunStore, prefix: &str, place: &str) -> Result<Run, CliError> {
    let prefix = prefix.trim();
    if prefix.is_empty() {
        return Err(CliError::new(Exit::BadInput, "give a run id, or the start of one"));
    }
    if let Some(run) = store.run(&RunId::from(prefix)).await? {
        return Ok(run);
    }
    let wanted = prefix.to_ascii_lowercase();
    let mut matching: Vec<Run> = store
        .list_runs(&RunFilter::default())
        .await?
        .into_iter()
        .filter(|run| run.id.as_str().to_ascii_lowercase().starts_with(&wanted))
        .collect();
    match matching.len() {
        0 => Err(not_found(prefix, place)),
        1 => {
            let id = matching.remove(0).id;
            store.run(&id).await?.ok_or_else(|| not_found(prefix, place))
        }
        n => {
            let mut listed = Table::new(["ID", "JOB", "STATUS", "CREATED (UTC)"]);
            for run in matching.iter().take(MAX_CANDIDATES) {
                listed.row(vec![
                    run.id.to_string(),
                    run.job_id.clone(),
                    run.status.to_string(),
                    output::time(run.created_at),
                ]);
            }
            let more = if n > MAX_CANDIDATES { format!("\n  and {} more", n - MAX_CANDIDATES) } else { String::new() };
            let candidates: Vec<&str> = matching.iter().map(|run| run.id.as_str()).collect();
            Err(CliError::new(
                Exit::BadInput,
                format!(
                    "`{prefix}` starts {n} run ids; give more of the id:\n{}{more}",
                    listed.render("  ").trim_end()
                ),
            )
            .with_detail("candidates", json!(candidates)))
        }
    }
}

fn not_found(prefix: &str, place: &str) -> CliError {
    CliError::new(Exit::NotFound, format!("no run id is or starts with `{prefix}` in {place}"))
}

/// A run for people: what it is, then one line per step (when it started, its key, kind,
/// status, attempts, duration, and its error under it), then its output or error.
pub(super) fn timeline(run: &Run) -> String {
    let mut text = format!("run {}  {} {}  {}\n", run.id, run.job_id, run.job_version, run.status);
    let mut facts = Table::default();
    facts.row(vec!["trigger".into(), trigger(&run.trigger)]);
    facts.row(vec!["created".into(), format!("{} UTC", output::time(run.created_at))]);
    let executions = match run.executions {
        1 => String::new(),
        n => format!(" ({n} executions)"),
    };
    facts.row(vec!["updated".into(), format!("{} UTC{executions}", output::time(run.updated_at))]);
    if let Some(wake_at) = run.wake_at {
        facts.row(vec!["wakes".into(), format!("{} UTC", output::time(wake_at))]);
    }
    facts.row(vec!["payload".into(), output::compact(&run.payload, 160)]);
    text.push_str(&facts.render("  "));

    text.push('\n');
    if run.steps.is_empty() {
        text.push_str("  no steps\n");
    } else {
        let mut steps = Table::new(["AT", "STEP", "KIND", "STATUS", "ATTEMPTS", "DURATION"]);
        for step in &run.steps {
            let at = output::between(run.created_at, step.started_at)
                .map_or_else(|| "-".to_owned(), |d| format!("+{}", output::duration(d)));
            let kind = step_kind(&step.kind);
            let status = serde_name(&step.status);
            let took = step
                .finished_at
                .and_then(|end| output::between(step.started_at, end))
                .map_or_else(|| "-".to_owned(), output::duration);
            steps.row(vec![at, step.key.clone(), kind, status, step.attempts.to_string(), took]);
            if let Some(error) = &step.error {
                let label = if step.status == StepStatus::Failed { "error" } else { "last error" };
                steps.note(format!("{label}: {error}"));
            }
            if step.status == StepStatus::Running && matches!(step.kind, StepKind::Token { .. }) {
                steps.note(format!("complete it with: complete {}:{} JSON", run.id, step.key));
            }
        }
        text.push_str(&steps.render("  "));
    }

    text.push('\n');
    match (&run.output, &run.error) {
        (_, Some(error)) => text.push_str(&format!("  error   {error}\n")),
        (Some(output), None) => text.push_str(&format!("  output  {}\n", output::compact(output, 400))),
        (None, None) => {}
    }
    text
}

/// `action simple-chat.sendMessage`, `wait until 09:14:10`, `token until 09:14:10`, `task`,
/// `event order.paid`, `job make-receipt`; a kind without words of its own here shows its name.
fn step_kind(kind: &StepKind) -> String {
    if let StepKind::Action { connector, action } = kind {
        format!("action {connector}.{action}")
    } else if let StepKind::Wait { until } = kind {
        format!("wait until {}", until.format("%H:%M:%S"))
    } else if let StepKind::Token { deadline } = kind {
        format!("token until {}", deadline.format("%H:%M:%S"))
    } else if let StepKind::Event { name } = kind {
        format!("event {name}")
    } else if let StepKind::Job { job, .. } = kind {
        format!("job {job}")
    } else {
        serde_json::to_value(kind)
            .ok()
            .and_then(|value| Some(value.get("kind")?.as_str()?.to_owned()))
            .unwrap_or_default()
    }
}

/// The name a value serializes as (`succeeded` for a step status).
fn serde_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

/// `event manual.send.message`, `trigger simple-chat/message.received`, `schedule 0 3 * * *`,
/// `run 01.. step review` (a child run).
fn trigger(trigger: &TriggerRef) -> String {
    match trigger {
        TriggerRef::Event { name } => format!("event {name}"),
        TriggerRef::Connector { connector, trigger } => format!("trigger {connector}/{trigger}"),
        TriggerRef::Schedule { schedule, .. } => format!("schedule {schedule}"),
        TriggerRef::Parent { run, step } => format!("run {run} step {step}"),
        TriggerRef::Tool { connector, action, caller: Some(caller) } => {
            format!("tool {connector}/{action} by {caller}")
        }
        TriggerRef::Tool { connector, action, caller: None } => format!("tool {connector}/{action}"),
        TriggerRef::ToolJob { job, caller: Some(caller) } => format!("tool job {job} by {caller}"),
        TriggerRef::ToolJob { job, caller: None } => format!("tool job {job}"),
    }
}

/// How long a finished run took (from acceptance to its last change).
fn run_duration(run: &Run) -> String {
    if !run.status.is_finished() {
        return "-".into();
    }
    output::between(run.created_at, run.updated_at).map_or_else(|| "-".into(), output::duration)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StepRecord;
    use crate::store::MemoryStore;
    use crate::store::conformance::sample_run;

    async fn store_with(ids: &[&str]) -> MemoryStore {
        let store = MemoryStore::new();
        for id in ids {
            let mut run = sample_run("job");
            run.id = RunId::from(*id);
            store.create_run(&run).await.unwrap();
        }
        store
    }

    #[tokio::test]
    async fn a_unique_prefix_finds_its_run() {
        let store = store_with(&["0190aaaa-1", "0190bbbb-2"]).await;
        assert_eq!(find(&store, "0190a", "the store").await.unwrap().id.as_str(), "0190aaaa-1");
        assert_eq!(find(&store, "0190BBBB-2", "the store").await.unwrap().id.as_str(), "0190bbbb-2");
    }

    #[tokio::test]
    async fn an_ambiguous_prefix_lists_the_candidates() {
        let store = store_with(&["0190aaaa-1", "0190aaab-2", "0190bbbb-3"]).await;
        let error = find(&store, "0190aa", "the store").await.unwrap_err();
        assert_eq!(error.exit(), Exit::BadInput);
        assert!(error.message().contains("0190aaaa-1") && error.message().contains("0190aaab-2"));
        assert!(!error.message().contains("0190bbbb-3"));
        let mut candidates: Vec<String> =
            serde_json::from_value(error.to_json()["error"]["candidates"].clone()).unwrap();
        candidates.sort();
        assert_eq!(candidates, ["0190aaaa-1", "0190aaab-2"]);
    }

    #[test]
    fn the_timeline_shows_each_steps_kind_status_attempts_duration_and_error() {
        let mut run = sample_run("send-chat-message");
        run.status = RunStatus::Failed;
        run.error = Some("step `post` failed".into());
        let started = run.created_at + chrono::Duration::milliseconds(5);
        let mut post = StepRecord::running(
            "post",
            StepKind::Action { connector: "simple-chat".into(), action: "sendMessage".into() },
            json!({}),
        );
        post.started_at = started;
        post.status = StepStatus::Failed;
        post.attempts = 3;
        post.error = Some("HTTP 503".into());
        post.finished_at = Some(started + chrono::Duration::milliseconds(2_500));
        run.steps.push(post);
        let text = timeline(&run);
        let row = text.lines().find(|line| line.contains("post")).unwrap();
        for cell in ["+5ms", "action simple-chat.sendMessage", "failed", "3", "2.50s"] {
            assert!(row.contains(cell), "`{cell}` in {row:?}");
        }
        assert!(text.contains("      error: HTTP 503"), "{text}");
        assert!(text.contains("  error   step `post` failed"), "{text}");
    }

    #[tokio::test]
    async fn an_unknown_prefix_is_not_found() {
        let store = store_with(&["0190aaaa-1"]).await;
        assert_eq!(find(&store, "ffff", "the store").await.unwrap_err().exit(), Exit::NotFound);
    }
}
