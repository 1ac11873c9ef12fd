//! The dashboard's pages, server-rendered with maud (every value shown is escaped: payloads are
//! untrusted), with a few lines of plain JavaScript that refresh the live parts in place.

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::Value;

use super::schema::readable;
use crate::model::{Manifest, Run, RunLog, RunStatus, StepKind, StepRecord, StepStatus};

/// A small SVG, so the tab has an icon without a file to serve.
const FAVICON: &str = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Crect width='16' height='16' rx='3' fill='%232b5fd9'/%3E%3Cpath d='M4 8h8M8 4v8' stroke='white' stroke-width='2'/%3E%3C/svg%3E";

const STYLE: &str = "
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.2rem;align-items:center}
header a{color:#fff;text-decoration:none;font-weight:600}header form{margin-left:auto}
main{padding:1rem 1.2rem;max-width:1200px}table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #e3e6eb;vertical-align:top}
th{font-weight:600;background:#eef0f4}pre{background:#fff;border:1px solid #e3e6eb;padding:.6rem;overflow:auto;max-height:24rem}
.status{padding:.05rem .45rem;border-radius:.6rem;font-size:.85em;background:#e3e6eb}
.succeeded{background:#d5f2dc}.failed{background:#fbd9d9}.running{background:#dbe7ff}.waiting{background:#fff0c7}.cancelled{background:#e8e8e8}
form.filters{display:flex;gap:.6rem;margin-bottom:.8rem;flex-wrap:wrap}label{display:flex;flex-direction:column;font-size:.85em}
button,input,select{font:inherit;padding:.25rem .5rem}a:focus,button:focus,input:focus,select:focus{outline:2px solid #2b5fd9}
.actions{display:flex;gap:.6rem;margin:.6rem 0}.muted{color:#667}.error{color:#a11}
.bar{background:#eef0f4;height:.45rem;border-radius:.2rem;margin-top:.3rem;min-width:6rem}.bar span{display:block;height:100%;background:#2b5fd9;border-radius:.2rem}
ol.attempts{margin:.3rem 0;padding-left:1.4rem}table.schema{font-size:.9em;margin-bottom:.3rem}table.schema th{background:#f4f5f8}
";

/// Keeps the element with `id` fresh: on each server-sent event from `/events` (only run
/// `run`'s, when given) it fetches this page's `fragment` and replaces the element's content,
/// without reloading the page. Events close together are taken as one refresh; the page also
/// refreshes on each (re)connection of the stream, so changes made while it was away show.
/// Not while the focus is inside the element: replacing it would throw away what the user is
/// typing into its forms (a token's payload) and move a keyboard user's focus back to the top;
/// the refresh waits until the focus leaves.
fn live(id: &str, fragment: &str, run: Option<&str>) -> Markup {
    let query = run.map(|run| format!("?run={}", super::encode(run))).unwrap_or_default();
    let script = format!(
        "(function(){{const el=document.getElementById('{id}');if(!el)return;let timer=null,stale=false;\
         const busy=()=>el.contains(document.activeElement);\
         const refresh=async()=>{{timer=null;if(busy()){{stale=true;return;}}stale=false;\
         const url=new URL(location.href);url.searchParams.set('fragment','{fragment}');\
         const answer=await fetch(url,{{credentials:'same-origin'}});const html=answer.ok?await answer.text():null;\
         if(html===null)return;if(busy()){{stale=true;return;}}el.innerHTML=html;}};\
         const soon=()=>{{if(!timer)timer=setTimeout(refresh,100);}};\
         el.addEventListener('focusout',()=>{{if(stale)setTimeout(()=>{{if(!busy())soon();}},0);}});\
         const events=new EventSource('/events{query}');\
         for(const name of ['ready','run','missed'])events.addEventListener(name,soon);}})();"
    );
    html! { script { (PreEscaped(script)) } }
}

/// A whole page: the title, the navigation, `body`.
pub(super) fn page(title: &str, signed_in: bool, csrf: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · runs" }
                link rel="icon" href=(FAVICON);
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    a href="/" { "Runs" }
                    a href="/connectors" { "Connectors and jobs" }
                    @if signed_in {
                        form method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// What refused an action (or a page), and the way back.
pub(super) fn refused(message: &str, back: &str) -> Markup {
    html! {
        h1 { "Not done" }
        p.error role="alert" { (message) }
        p { a href=(back) autofocus { "← Back" } }
    }
}

/// The sign-in form.
pub(super) fn login(next: &str, failed: bool) -> Markup {
    html! {
        h1 { "Sign in" }
        @if failed { p.error role="alert" { "That is not the server's API key." } }
        form method="post" action="/login" {
            input type="hidden" name="next" value=(next);
            label { "API key" input type="password" name="key" autocomplete="current-password" autofocus required; }
            p { button type="submit" { "Sign in" } }
        }
    }
}

/// What the runs list was asked for.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct ListQuery {
    pub(super) status: Option<String>,
    pub(super) job: Option<String>,
    pub(super) id: Option<String>,
    /// The id of the delivery (an event's `id`) that started the runs.
    pub(super) delivery: Option<String>,
    /// Created at or after (`2026-12-01T10:00`, UTC, as a `datetime-local` input sends it).
    pub(super) since: Option<String>,
    /// Created before.
    pub(super) until: Option<String>,
    pub(super) before: Option<String>,
    pub(super) fragment: Option<String>,
}

impl ListQuery {
    /// This query as the parameters of a link, `before` set to `next` (the filters kept).
    pub(super) fn older(&self, next: &str) -> String {
        let field = |value: &Option<String>| super::encode(value.as_deref().unwrap_or(""));
        format!(
            "/?before={}&status={}&job={}&id={}&delivery={}&since={}&until={}",
            super::encode(next),
            field(&self.status),
            field(&self.job),
            field(&self.id),
            field(&self.delivery),
            field(&self.since),
            field(&self.until)
        )
    }
}

fn time(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

fn status(status: RunStatus) -> Markup {
    html! { span class={ "status " (status.as_str()) } { (status.as_str()) } }
}

/// The rows of the runs table (what the page refreshes in place).
pub(super) fn run_rows(runs: &[Run]) -> Markup {
    html! {
        @for run in runs {
            tr {
                td { a href={ "/runs/" (run.id) } { code { (run.id) } } }
                td { (run.job_id) }
                td { (status(run.status)) }
                td { (time(&run.created_at)) }
                td { (time(&run.updated_at)) }
                td { (run.executions) }
            }
        }
        @if runs.is_empty() { tr { td colspan="6" .muted { "No runs match." } } }
    }
}

/// The runs list: filters, the newest runs, a link to older ones.
pub(super) fn runs(runs: &[Run], query: &ListQuery, next: Option<&str>) -> Markup {
    let statuses = ["", "queued", "running", "waiting", "succeeded", "failed", "cancelled"];
    let chosen = query.status.as_deref().unwrap_or("");
    html! {
        h1 { "Runs" }
        form.filters method="get" action="/" {
            label { "Status" select name="status" {
                @for option in statuses {
                    option value=(option) selected[option == chosen] { @if option.is_empty() { "any" } @else { (option) } }
                }
            } }
            label { "Job" input name="job" value=(query.job.as_deref().unwrap_or("")); }
            label { "Run id starts with" input name="id" value=(query.id.as_deref().unwrap_or("")); }
            label { "Delivery id (idempotency key)" input name="delivery" value=(query.delivery.as_deref().unwrap_or("")); }
            label { "Created from (UTC)" input type="datetime-local" name="since" value=(query.since.as_deref().unwrap_or("")); }
            label { "to (UTC)" input type="datetime-local" name="until" value=(query.until.as_deref().unwrap_or("")); }
            label { "\u{a0}" button type="submit" { "Filter" } }
        }
        table {
            thead { tr { th { "Run" } th { "Job" } th { "Status" } th { "Created" } th { "Updated" } th { "Executions" } } }
            tbody #rows { (run_rows(runs)) }
        }
        @if let Some(next) = next {
            p { a href=(query.older(next)) { "Older runs →" } }
        }
        @if query.before.is_none() { (live("rows", "rows", None)) }
    }
}

/// `value` as indented JSON, with any known secret value masked (a service may echo one back
/// in an output).
pub(super) fn json(value: &Value) -> String {
    crate::model::redact(&serde_json::to_string_pretty(value).unwrap_or_default()).into_owned()
}

/// A span of time, as a person reads it: `850 ms`, `2.4 s`, `3 min 5 s`, `2 h 10 min`.
fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1_000.0),
        60_000..3_600_000 => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1_000),
        _ => format!("{} h {} min", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

/// How a retry policy reads: `5 attempts · 1.0 s, ×1.8, up to 60.0 s, jittered · 60.0 s per attempt`.
fn policy(policy: &crate::model::RetryPolicy) -> String {
    let millis = |d: std::time::Duration| duration(i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let mut text = format!(
        "{} attempts · {}, ×{}, up to {}",
        policy.max_attempts,
        millis(policy.min_delay),
        policy.factor,
        millis(policy.max_delay)
    );
    if policy.jitter {
        text.push_str(", jittered");
    }
    if let Some(timeout) = policy.attempt_timeout {
        text.push_str(&format!(" · {} per attempt", millis(timeout)));
    }
    text
}

/// The token steps the run waits at.
fn open_tokens(run: &Run) -> impl Iterator<Item = &StepRecord> {
    run.steps.iter().filter(|step| step.status == StepStatus::Running && matches!(step.kind, StepKind::Token { .. }))
}

/// A step's kind, as its record names it (`action`, `task`, `wait`, ..).
fn kind(step: &StepRecord) -> String {
    let kind = serde_json::to_value(&step.kind).ok();
    kind.and_then(|kind| kind.get("kind").and_then(Value::as_str).map(str::to_owned)).unwrap_or_default()
}

/// What a step waits for, when it waits: when a durable wait ends, when a token times out.
fn ends(step: &StepRecord) -> Option<Markup> {
    match &step.kind {
        StepKind::Wait { until } => Some(html! { "sleeps until " (time(until)) }),
        StepKind::Token { deadline } => Some(html! { "token open until " (time(deadline)) }),
        StepKind::Job { job, run } => {
            Some(html! { "runs job " (job) " as " a href={ "/runs/" (run) } { code { (run) } } })
        }
        _ => None,
    }
}

/// One step of the timeline: how long it waited before it started (after the run was created,
/// or after the step before it ended) apart from how long it ran, a bar placing it in the
/// run's time, its attempts with their errors and delays and the policy that retried them, and
/// its input and output.
fn step_row(step: &StepRecord, previous_end: DateTime<Utc>, span: &TimeSpan) -> Markup {
    let waited = (step.started_at - previous_end).num_milliseconds();
    let ran = step.finished_at.map(|end| (end - step.started_at).num_milliseconds());
    let (left, width) = span.place(step.started_at, step.finished_at);
    html! {
        tr {
            td { code { (step.key) } br; span.muted { (kind(step)) } }
            td { span class={ "status " (step.status.as_str()) } { (step.status.as_str()) } }
            td { (time(&step.started_at)) br;
                span.muted title="from the run's creation, or the end of the step before, to this step's start" {
                    "waited " (duration(waited)) } }
            td { @if let Some(ms) = ran { (duration(ms)) } @else { "running…" }
                div.bar aria-hidden="true" { span style={ "margin-left:" (left) "%;width:" (width) "%" } {} } }
            td {
                (step.attempts)
                @if let Some(retries) = &step.retries {
                    details { summary { (retries.failed.len()) " failed, retried" }
                        p.muted { "Policy: " (policy(&retries.policy)) }
                        ol.attempts { @for failed in &retries.failed {
                            li value=(failed.attempt) {
                                "failed after " (duration((failed.failed_at - failed.started_at).num_milliseconds()))
                                ", retried after " (duration(i64::try_from(failed.retry_after_ms).unwrap_or(i64::MAX))) ": "
                                span.error { (failed.error) }
                            }
                        } }
                    }
                }
            }
            td {
                @if let Some(ends) = ends(step) { div { (ends) } }
                @if let Some(error) = &step.error { div.error { (error) } }
                details { summary { "input" } pre { (json(&step.input)) } }
                @if let Some(output) = &step.output { details { summary { "output" } pre { (json(output)) } } }
            }
        }
    }
}

/// A run's time from its creation to its last step's end (or now), to place each step in.
struct TimeSpan {
    start: DateTime<Utc>,
    total_ms: f64,
}

impl TimeSpan {
    fn of(run: &Run) -> Self {
        let end =
            run.steps.iter().map(|step| step.finished_at.unwrap_or_else(Utc::now)).max().unwrap_or(run.updated_at);
        TimeSpan { start: run.created_at, total_ms: ((end - run.created_at).num_milliseconds().max(1)) as f64 }
    }

    /// Where a step from `start` to `end` (or now) sits, as a left offset and a width in
    /// percent of the whole; at least a sliver wide, so an instant step still shows.
    fn place(&self, start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> (String, String) {
        let at =
            |t: DateTime<Utc>| ((t - self.start).num_milliseconds() as f64 / self.total_ms * 100.0).clamp(0.0, 100.0);
        let left = at(start);
        let width = (at(end.unwrap_or_else(Utc::now)) - left).max(0.5).min(100.0 - left);
        (format!("{left:.1}"), format!("{width:.1}"))
    }
}

/// When the step before step `index` ended (the run's creation for the first).
fn previous_end(run: &Run, index: usize) -> DateTime<Utc> {
    index
        .checked_sub(1)
        .and_then(|before| run.steps.get(before))
        .map(|before| before.finished_at.unwrap_or(before.started_at))
        .unwrap_or(run.created_at)
}

/// The live part of a run's page: status, steps, output or error, logs.
pub(super) fn run_detail(run: &Run, log: &RunLog, csrf: &str) -> Markup {
    let queued_ms = run.steps.first().map(|step| (step.started_at - run.created_at).num_milliseconds());
    let span = TimeSpan::of(run);
    html! {
        p { (status(run.status)) " · job " strong { (run.job_id) } " · started by " (run.trigger.to_string())
            " · " (run.executions) " execution(s) · created " (time(&run.created_at))
            @if let Some(ms) = queued_ms { " · queued " (duration(ms)) " before its first step" }
            @if let Some(wake) = &run.wake_at { " · sleeps until " (time(wake)) } }
        div.actions {
            @if !run.status.is_finished() {
                form method="post" action={ "/runs/" (run.id) "/cancel" } onsubmit="return confirm('Cancel this run? It stops at its next step boundary.')" {
                    input type="hidden" name="csrf" value=(csrf);
                    button type="submit" { "Cancel" }
                }
            }
            @if matches!(run.status, RunStatus::Failed | RunStatus::Cancelled) {
                form method="post" action={ "/runs/" (run.id) "/resume" } onsubmit="return confirm('Retry this run from its failed step? Completed steps are kept.')" {
                    input type="hidden" name="csrf" value=(csrf);
                    button type="submit" { "Retry from the failed step" }
                }
            }
            @if run.status.is_finished() {
                form method="post" action={ "/runs/" (run.id) "/replay" } onsubmit="return confirm('Start a new run of this job with the same payload? Every step runs again.')" {
                    input type="hidden" name="csrf" value=(csrf);
                    button type="submit" { "Replay as a new run" }
                }
            }
        }
        @for step in open_tokens(run) {
            form method="post" action={ "/runs/" (run.id) "/complete" } onsubmit="return confirm('Complete this token with the payload given? The run resumes with it.')" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="step" value=(step.key);
                label { "Complete the token " code { (run.id) ":" (step.key) } " with (JSON)"
                    textarea name="payload" rows="3" cols="60" required { "{}" } }
                button type="submit" { "Complete the token" }
            }
        }
        h2 { "Steps" }
        table.steps {
            thead { tr { th { "Step" } th { "Status" } th { "Started" } th { "Ran" } th { "Attempts" } th { "Details" } } }
            tbody {
                @for (index, step) in run.steps.iter().enumerate() {
                    (step_row(step, previous_end(run, index), &span))
                }
                @if run.steps.is_empty() { tr { td colspan="6" .muted { "No steps yet." } } }
            }
        }
        @if let Some(output) = &run.output { h2 { "Output" } pre { (json(output)) } }
        @if let Some(error) = &run.error { h2 { "Error" } pre.error { (error) } }
        h2 { "Log" }
        @if log.lines.is_empty() { p.muted { "Nothing logged." } }
        @else {
            table {
                thead { tr { th { "Time" } th { "Level" } th { "Source" } th { "Step" } th { "Message" } } }
                tbody { @for line in &log.lines { tr {
                    td { (time(&line.at)) } td { (line.level.as_str()) } td { (line.source) }
                    td { (line.step.as_deref().unwrap_or("")) } td { (line.message) }
                } } }
            }
            @if log.dropped > 0 { p.muted { (log.dropped) " more lines were dropped (a run keeps " (log.lines.len()) ")." } }
        }
    }
}

/// A run's page; `live` keeps its detail fresh.
pub(super) fn run(run: &Run, log: &RunLog, csrf: &str, live: bool) -> Markup {
    html! {
        h1 { "Run " code { (run.id) } }
        h2 { "Payload" }
        pre { (json(&run.payload)) }
        div #detail { (run_detail(run, log, csrf)) }
        @if live { (self::live("detail", "detail", Some(run.id.as_str()))) }
    }
}

/// The manifest as a page: every connector with its actions and triggers and their schemas,
/// a credential check per connector, and every job with its trigger (a scheduled one with
/// its next tick, `next_ticks` in the jobs' order). `checked` is the result
/// of a check just made: the connector, and its error if it failed.
pub(super) fn manifest(
    manifest: &Manifest,
    next_ticks: &[Option<DateTime<Utc>>],
    csrf: &str,
    checked: Option<(&str, Option<String>)>,
) -> Markup {
    html! {
        h1 { "Connectors" }
        @for connector in &manifest.connectors {
            section {
                h2 { (connector.name) " " code { (connector.id) } " " span.muted { (connector.version) } }
                @if let Some(description) = &connector.description { p { (description) } }
                @if let Some((id, result)) = &checked && *id == connector.id.as_str() {
                    @match result {
                        None => p role="status" { "The credentials work." },
                        Some(error) => p.error role="alert" { (error) },
                    }
                }
                form method="post" action={ "/connectors/" (connector.id) "/check" } {
                    input type="hidden" name="csrf" value=(csrf);
                    button type="submit" { "Check the credentials" }
                }
                table {
                    thead { tr { th { "Action" } th { "What it does" } th { "Input" } th { "Output" } } }
                    tbody { @for action in &connector.actions { tr {
                        td { code { (action.id) } br; (action.name)
                            @if action.read_only { br; span.muted { "read-only" } }
                            @if action.destructive == Some(true) { br; span.error { "destructive" } } }
                        td { (action.description.as_deref().unwrap_or("")) }
                        td { (readable(&action.input)) }
                        td { (readable(&action.output)) }
                    } } }
                }
                @if !connector.triggers.is_empty() {
                    table {
                        thead { tr { th { "Trigger" } th { "What it delivers" } th { "Payload" } } }
                        tbody { @for trigger in &connector.triggers { tr {
                            td { code { (trigger.id) } br; (trigger.name)
                                @if let Some(poll) = &trigger.poll { br; span.muted { "polled every " (poll.every) } } }
                            td { (trigger.description.as_deref().unwrap_or("")) }
                            td { (readable(&trigger.output)) }
                        } } }
                    }
                }
            }
        }
        h1 { "Jobs" }
        table {
            thead { tr { th { "Job" } th { "Started by" } th { "What it does" } th { "Payload" } } }
            tbody { @for (job, next) in manifest.jobs.iter().zip(next_ticks) { tr {
                td { code { (job.id) } br; (job.name) " " span.muted { (job.version) } br;
                    a href={ "/?job=" (super::encode(&job.id)) } { "its runs" } }
                td { (job.trigger.to_string())
                    @if let Some(next) = next { br; span.muted { "next tick " (time(next)) " UTC" } } }
                td { (job.description.as_deref().unwrap_or("")) }
                td { (readable(&job.payload)) }
            } } }
        }
    }
}
