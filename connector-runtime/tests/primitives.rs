//! What a job can do besides calling actions: tasks and events as recorded steps, cancelling,
//! sending with an idempotency key, and waiting for a run wherever it executes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use connector_runtime::client::{TokenStore, TokenStoreError};
use connector_runtime::prelude::*;
use connector_runtime::store::{Delivery, DeliveryOutcome, MemoryStore, RunFilter, RunStore, RunUpdate, StoreError};
use connector_runtime::{EngineError, RunId, SendOptions, StepKind, StepRecord};
use serde_json::{Value, json};

static TASK_CALLS: AtomicUsize = AtomicUsize::new(0);
static FAIL_AFTER_TASK: AtomicBool = AtomicBool::new(true);

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "task.wanted")]
struct TaskWanted {}

#[job(id = "tasker", name = "Tasker", version = "1.0.0", event = TaskWanted)]
async fn tasker(_payload: TaskWanted, io: TaskerIo<'_>) -> Result<usize, JobError> {
    let drawn: usize =
        io.run_task("draw", || async { Ok::<_, ActionError>(TASK_CALLS.fetch_add(1, Ordering::SeqCst) + 41) }).await?;
    if FAIL_AFTER_TASK.swap(false, Ordering::SeqCst) {
        return Err("the first execution fails after the task".into());
    }
    Ok(drawn)
}

#[tokio::test]
async fn a_task_is_recorded_and_returned_as_it_was_on_resume() {
    let engine = Engine::builder().store(MemoryStore::new()).job(TaskerJob).build().unwrap();
    let first = engine.send(TaskWanted {}).await.unwrap().remove(0);
    assert_eq!(first.status, RunStatus::Failed);
    assert_eq!(first.steps[0].kind, StepKind::Task);
    assert_eq!(first.steps[0].output, Some(json!(41)));
    engine.resume(&first.id).await.unwrap();
    let second = engine.wait(&first.id).await.unwrap();
    assert_eq!(second.status, RunStatus::Succeeded, "{:?}", second.error);
    assert_eq!(second.output, Some(json!(41)), "the recorded value, not a new one");
    assert_eq!(TASK_CALLS.load(Ordering::SeqCst), 1, "the task ran once across both executions");
}

/// Notifications of order 7 (other tests notify other orders).
static NOTIFIED_SEVEN: AtomicUsize = AtomicUsize::new(0);
static FAIL_AFTER_SEND: AtomicBool = AtomicBool::new(true);

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "order.placed")]
struct OrderPlaced {
    order: u32,
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "customer.notified")]
struct CustomerNotified {
    order: u32,
}

#[job(id = "place-order", name = "Place order", version = "1.0.0", event = OrderPlaced)]
async fn place_order(payload: OrderPlaced, io: PlaceOrderIo<'_>) -> Result<usize, JobError> {
    let started = io.send_event("notify", CustomerNotified { order: payload.order }).await?;
    if FAIL_AFTER_SEND.swap(false, Ordering::SeqCst) {
        return Err("the first execution fails after sending".into());
    }
    Ok(started.len())
}

#[job(id = "notify-customer", name = "Notify customer", version = "1.0.0", event = CustomerNotified)]
async fn notify_customer(payload: CustomerNotified, _io: NotifyCustomerIo<'_>) -> Result<u32, JobError> {
    if payload.order == 7 {
        NOTIFIED_SEVEN.fetch_add(1, Ordering::SeqCst);
    }
    Ok(payload.order)
}

#[tokio::test]
async fn an_event_sent_from_a_job_is_sent_once_per_key() {
    let store = Arc::new(MemoryStore::new());
    let engine =
        Engine::builder().shared_store(store.clone()).job(PlaceOrderJob).job(NotifyCustomerJob).build().unwrap();
    let first = engine.send(OrderPlaced { order: 7 }).await.unwrap().remove(0);
    assert_eq!(first.status, RunStatus::Failed);
    assert_eq!(first.steps[0].kind, StepKind::Event { name: "customer.notified".into() });
    engine.resume(&first.id).await.unwrap();
    let second = engine.wait(&first.id).await.unwrap();
    assert_eq!(second.status, RunStatus::Succeeded, "{:?}", second.error);
    let filter = RunFilter { job_id: Some("notify-customer".into()), ..RunFilter::default() };
    let notified = engine.runs(&filter).await.unwrap();
    assert_eq!(notified.len(), 1, "one run for the event, across both executions");
    let notified = engine.wait(&notified[0].id).await.unwrap();
    assert_eq!(notified.output, Some(json!(7)));
    assert_eq!(NOTIFIED_SEVEN.load(Ordering::SeqCst), 1);
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "nap.wanted")]
struct NapWanted {}

#[job(id = "napper", name = "Napper", version = "1.0.0", event = NapWanted)]
async fn napper(_payload: NapWanted, io: NapperIo<'_>) -> Result<(), JobError> {
    io.wait_for("long-nap", Duration::from_secs(3600)).await?;
    io.run_task("after-the-nap", || async { Ok::<_, ActionError>(()) }).await?;
    Ok(())
}

#[tokio::test]
async fn a_waiting_run_is_cancelled_at_once_and_can_be_resumed() {
    let engine = Engine::builder().store(MemoryStore::new()).job(NapperJob).build().unwrap();
    let id = engine.dispatch(NapWanted {}).await.unwrap().remove(0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while engine.run(&id).await.unwrap().unwrap().status != RunStatus::Waiting {
        assert!(tokio::time::Instant::now() < deadline, "the run never started waiting");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    engine.cancel(&id).await.unwrap();
    let run = tokio::time::timeout(Duration::from_secs(5), engine.wait(&id)).await.expect("at once").unwrap();
    assert_eq!(run.status, RunStatus::Cancelled);
    assert_eq!(run.steps.len(), 1, "nothing after the cancelled wait ran");
    let again = engine.cancel(&id).await.unwrap_err();
    assert!(matches!(again, EngineError::NotCancellable { .. }), "{again}");
    // A cancelled run resumes like a failed one.
    engine.resume(&id).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while engine.run(&id).await.unwrap().unwrap().status != RunStatus::Waiting {
        assert!(tokio::time::Instant::now() < deadline, "the resumed run never waited again");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    engine.cancel(&id).await.unwrap();
    assert_eq!(engine.wait(&id).await.unwrap().status, RunStatus::Cancelled);
}

static STEPS_DONE: AtomicUsize = AtomicUsize::new(0);

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "steps.wanted")]
struct StepsWanted {}

#[job(id = "stepper", name = "Stepper", version = "1.0.0", event = StepsWanted)]
async fn stepper(_payload: StepsWanted, io: StepperIo<'_>) -> Result<(), JobError> {
    for i in 0..1000 {
        io.run_task(&format!("step-{i}"), || async {
            STEPS_DONE.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok::<_, ActionError>(i)
        })
        .await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_running_run_stops_at_its_next_step_boundary() {
    let engine = Engine::builder().store(MemoryStore::new()).job(StepperJob).build().unwrap();
    let id = engine.dispatch(StepsWanted {}).await.unwrap().remove(0);
    while STEPS_DONE.load(Ordering::SeqCst) < 3 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    engine.cancel(&id).await.unwrap();
    let run = engine.wait(&id).await.unwrap();
    assert_eq!(run.status, RunStatus::Cancelled);
    let done = STEPS_DONE.load(Ordering::SeqCst);
    assert!(done < 1000, "the run stopped early ({done} steps)");
    assert_eq!(run.steps.len(), done, "every step that started finished and was recorded");
    assert!(run.steps.iter().all(|step| step.status == connector_runtime::StepStatus::Succeeded));
}

#[tokio::test]
async fn a_queued_run_no_engine_executes_is_cancelled_in_the_store() {
    let store = Arc::new(MemoryStore::new());
    let engine = Engine::builder().shared_store(store.clone()).job(TaskerJob).build().unwrap();
    let run = connector_runtime::store::conformance::sample_run("tasker");
    store.create_run(&run).await.unwrap();
    assert_eq!(engine.cancel(&run.id).await.unwrap(), RunStatus::Cancelled);
    assert_eq!(store.run(&run.id).await.unwrap().unwrap().status, RunStatus::Cancelled);
    assert!(engine.recover().await.unwrap().is_empty(), "a cancelled run is not recovered");
}

#[tokio::test]
async fn sending_twice_with_one_idempotency_key_starts_one_run() {
    let engine = Engine::builder().store(MemoryStore::new()).job(NotifyCustomerJob).build().unwrap();
    let options = SendOptions::idempotency_key("order-9-notice");
    let first = engine.send_with(CustomerNotified { order: 9 }, options.clone()).await.unwrap();
    let second = engine.send_with(CustomerNotified { order: 9 }, options).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].id, second[0].id, "the same run both times");
    let other = engine.send_with(CustomerNotified { order: 9 }, SendOptions::idempotency_key("other")).await.unwrap();
    assert_ne!(other[0].id, first[0].id);
}

#[tokio::test]
async fn wait_finds_a_run_another_engine_executes() {
    let store: Arc<dyn RunStore> = Arc::new(MemoryStore::new());
    let executing = Engine::builder().shared_store(store.clone()).job(NotifyCustomerJob).build().unwrap();
    let watching = Engine::builder().shared_store(store).job(NotifyCustomerJob).build().unwrap();
    let id = executing.dispatch(CustomerNotified { order: 3 }).await.unwrap().remove(0);
    let run = tokio::time::timeout(Duration::from_secs(5), watching.wait(&id)).await.expect("in time").unwrap();
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.output, Some(json!(3)));
}

/// A store whose writes of a finished outcome fail, as a full disk would.
struct OutcomeFails(MemoryStore);

#[async_trait]
impl TokenStore for OutcomeFails {
    async fn tokens(&self, key: &str) -> Result<Option<Value>, TokenStoreError> {
        self.0.tokens(key).await
    }
    async fn save_tokens(&self, key: &str, tokens: &Value) -> Result<(), TokenStoreError> {
        self.0.save_tokens(key, tokens).await
    }
}

#[async_trait]
impl RunStore for OutcomeFails {
    async fn create_run(&self, run: &connector_runtime::Run) -> Result<(), StoreError> {
        self.0.create_run(run).await
    }
    async fn update_run(&self, id: &RunId, update: &RunUpdate) -> Result<(), StoreError> {
        if update.status.is_finished() {
            return Err(StoreError::backend("disk full"));
        }
        self.0.update_run(id, update).await
    }
    async fn claim_run(&self, id: &RunId, from: RunStatus) -> Result<bool, StoreError> {
        self.0.claim_run(id, from).await
    }
    async fn run(&self, id: &RunId) -> Result<Option<connector_runtime::Run>, StoreError> {
        self.0.run(id).await
    }
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<connector_runtime::Run>, StoreError> {
        self.0.list_runs(filter).await
    }
    async fn save_step(&self, run: &RunId, step: &StepRecord) -> Result<(), StoreError> {
        self.0.save_step(run, step).await
    }
    async fn put_schema(&self, fingerprint: &str, schema: &Value) -> Result<(), StoreError> {
        self.0.put_schema(fingerprint, schema).await
    }
    async fn schema(&self, fingerprint: &str) -> Result<Option<Value>, StoreError> {
        self.0.schema(fingerprint).await
    }
    async fn accept_delivery(
        &self,
        delivery: &Delivery,
        runs: &[connector_runtime::Run],
    ) -> Result<DeliveryOutcome, StoreError> {
        self.0.accept_delivery(delivery, runs).await
    }
    async fn cursor(&self, key: &str) -> Result<Option<Value>, StoreError> {
        self.0.cursor(key).await
    }
    async fn save_cursor(&self, key: &str, cursor: &Value) -> Result<(), StoreError> {
        self.0.save_cursor(key, cursor).await
    }
    async fn append_logs(&self, run: &RunId, lines: &[connector_runtime::LogLine]) -> Result<(), StoreError> {
        self.0.append_logs(run, lines).await
    }
    async fn logs(&self, run: &RunId) -> Result<connector_runtime::RunLog, StoreError> {
        self.0.logs(run).await
    }
}

#[tokio::test]
async fn a_run_left_unfinished_by_a_store_failure_is_not_reported_finished() {
    let engine = Engine::builder().store(OutcomeFails(MemoryStore::new())).job(NotifyCustomerJob).build().unwrap();
    let error = engine.send(CustomerNotified { order: 1 }).await.unwrap_err();
    let EngineError::Unfinished { status, .. } = &error else { panic!("{error}") };
    assert_eq!(*status, RunStatus::Running);
    assert!(error.to_string().contains("resumes on recovery"), "{error}");
}

// ---------------------------------------------------------------------------------------------
// Tokens and child runs: the run parks, holding no task, and resumes when they arrive.

/// What an approver answers.
#[derive(Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
struct Approval {
    approved: bool,
    by: String,
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "expense.filed")]
struct ExpenseFiled {
    amount: u32,
}

static APPROVAL_ASKED: AtomicUsize = AtomicUsize::new(0);

#[job(id = "approve-expense", name = "Approve expense", version = "1.0.0", event = ExpenseFiled)]
async fn approve_expense(payload: ExpenseFiled, io: ApproveExpenseIo<'_>) -> Result<String, JobError> {
    let token = io.token("approval");
    io.run_task("ask", || {
        let token = token.clone();
        async move {
            APPROVAL_ASKED.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ActionError>(token)
        }
    })
    .await?;
    let approval: Approval = io.wait_for_token("approval", Duration::from_secs(3600)).await?;
    Ok(format!("{} by {} for {}", if approval.approved { "approved" } else { "refused" }, approval.by, payload.amount))
}

fn approvals(path: &std::path::Path) -> Engine {
    Engine::builder().sqlite(path).job(ApproveExpenseJob).build().unwrap()
}

async fn until_status(engine: &Engine, id: &RunId, status: RunStatus) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while engine.run(id).await.unwrap().unwrap().status != status {
        assert!(tokio::time::Instant::now() < deadline, "run {id} never became {status}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_completed_after_a_restart_resumes_the_run_with_its_payload() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.sqlite3");
    let id = {
        let first = approvals(&path);
        let id = first.dispatch(ExpenseFiled { amount: 120 }).await.unwrap().remove(0);
        until_status(&first, &id, RunStatus::Waiting).await;
        id
    };
    // A new process: the run is waiting, no task holds it; the token is completed here.
    let second = approvals(&path);
    let token = format!("{id}:approval");
    let bad = second.complete_token("nobody:approval", json!({})).await.unwrap_err();
    assert!(matches!(bad, EngineError::TokenNotFound(_)), "{bad}");
    second.complete_token(&token, json!({ "approved": true, "by": "ada" })).await.unwrap();
    let run = second.wait(&id).await.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(run.output, Some(json!("approved by ada for 120")));
    assert_eq!(APPROVAL_ASKED.load(Ordering::SeqCst), 1, "the step before the wait ran once");
    let again = second.complete_token(&token, json!({ "approved": false, "by": "bob" })).await.unwrap_err();
    assert!(matches!(again, EngineError::TokenClosed { .. }), "{again}");
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "quick.approval")]
struct QuickApproval {}

#[job(id = "quick-approval", name = "Quick approval", version = "1.0.0", event = QuickApproval)]
async fn quick_approval(_payload: QuickApproval, io: QuickApprovalIo<'_>) -> Result<bool, JobError> {
    match io.wait_for_token::<Approval>("approval", Duration::from_millis(200)).await {
        Ok(approval) => Ok(approval.approved),
        Err(connector_runtime::StepError::TokenTimedOut { .. }) => Ok(false),
        Err(other) => Err(other.into()),
    }
}

#[tokio::test]
async fn a_token_not_completed_in_time_times_out() {
    let engine = Engine::builder().store(MemoryStore::new()).job(QuickApprovalJob).build().unwrap();
    let id = engine.dispatch(QuickApproval {}).await.unwrap().remove(0);
    let run =
        tokio::time::timeout(Duration::from_secs(5), engine.wait(&id)).await.expect("woken at the timeout").unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(run.output, Some(json!(false)));
    assert_eq!(run.steps[0].status, connector_runtime::StepStatus::Failed);
    let late = engine.complete_token(&format!("{id}:approval"), json!({"approved": true, "by": "x"})).await;
    assert!(matches!(late, Err(EngineError::TokenClosed { .. })), "{late:?}");
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "invoice.wanted")]
struct InvoiceWanted {
    items: Vec<u32>,
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "invoice.total")]
struct TotalWanted {
    items: Vec<u32>,
}

#[job(id = "total", name = "Total", version = "1.0.0", event = TotalWanted)]
async fn total(payload: TotalWanted, io: TotalIo<'_>) -> Result<u32, JobError> {
    io.wait_for("think", Duration::from_millis(50)).await?;
    Ok(payload.items.iter().sum())
}

#[job(id = "invoice", name = "Invoice", version = "1.0.0", event = InvoiceWanted)]
async fn invoice(payload: InvoiceWanted, io: InvoiceIo<'_>) -> Result<String, JobError> {
    let sum = io.run_job("total", TotalJob, TotalWanted { items: payload.items }).await?;
    Ok(format!("invoice of {sum}"))
}

#[tokio::test]
async fn a_parent_run_waits_for_its_child_runs_output() {
    let engine = Engine::builder().store(MemoryStore::new()).job(InvoiceJob).job(TotalJob).build().unwrap();
    let parent = engine.send(InvoiceWanted { items: vec![2, 3, 5] }).await.unwrap().remove(0);
    assert_eq!(parent.status, RunStatus::Succeeded, "{:?}", parent.error);
    assert_eq!(parent.output, Some(json!("invoice of 10")));
    let StepKind::Job { job, run: child } = &parent.steps[0].kind else { panic!("{:?}", parent.steps[0]) };
    assert_eq!(job, "total");
    let child = engine.run(child).await.unwrap().unwrap();
    assert_eq!(child.output, Some(json!(10)));
    assert_eq!(child.trigger, connector_runtime::TriggerRef::Parent { run: parent.id.clone(), step: "total".into() });
    let filter = RunFilter { job_id: Some("total".into()), ..RunFilter::default() };
    assert_eq!(engine.runs(&filter).await.unwrap().len(), 1, "one child run");
}

#[tokio::test]
async fn a_token_payload_that_does_not_fit_is_refused_and_the_token_stays_open() {
    let engine = Engine::builder().store(MemoryStore::new()).job(ApproveExpenseJob).build().unwrap();
    let id = engine.dispatch(ExpenseFiled { amount: 5 }).await.unwrap().remove(0);
    until_status(&engine, &id, RunStatus::Waiting).await;
    let token = format!("{id}:approval");
    // This process ran the wait, so it knows the type and checks the payload first.
    let error = engine.complete_token(&token, json!({ "approved": "yes", "by": "ada" })).await.unwrap_err();
    let EngineError::TokenPayload { error: misfit, .. } = &error else { panic!("{error}") };
    assert_eq!(misfit.path, "approved");
    assert_eq!(engine.run(&id).await.unwrap().unwrap().status, RunStatus::Waiting, "still waiting");
    engine.complete_token(&token, json!({ "approved": true, "by": "ada" })).await.unwrap();
    assert_eq!(engine.wait(&id).await.unwrap().output, Some(json!("approved by ada for 5")));
}
