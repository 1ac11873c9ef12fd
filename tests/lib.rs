//! Workspace-level tests live in the test targets of this package; this library holds what a
//! test and the worker process it kills share: the jobs of the primitives crash test.

pub mod primitives {
    //! A job that uses every durable primitive once: a task, an event, a child run and a token.
    //! Each side effect appends a line to a log file, so a test can count how often it ran.

    use std::io::Write;
    use std::time::Duration;

    use connector_runtime::prelude::*;

    /// Appends `line` to the file at `path`.
    pub fn record(path: &str, line: &str) {
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("the log opens");
        writeln!(file, "{line}").expect("the log is written");
    }

    /// Starts [`PrimitivesJob`]; `log` is the file its side effects are recorded in.
    #[derive(Serialize, Deserialize, JsonSchema, Event)]
    #[event(name = "primitives.start")]
    pub struct Start {
        /// The log file.
        pub log: String,
    }

    /// Sent by the job, once.
    #[derive(Serialize, Deserialize, JsonSchema, Event)]
    #[event(name = "primitives.notified")]
    pub struct Notified {
        /// The log file.
        pub log: String,
    }

    /// What the child run gets.
    #[derive(Serialize, Deserialize, JsonSchema, Event)]
    #[event(name = "primitives.child")]
    pub struct ChildWanted {
        /// The log file.
        pub log: String,
        /// What to double.
        pub n: u32,
    }

    /// What completes the job's token.
    #[derive(Serialize, Deserialize, JsonSchema)]
    pub struct Approval {
        /// Who approved.
        pub by: String,
    }

    /// Records the event it got.
    #[job(id = "notified", name = "Notified", version = "1.0.0", event = Notified)]
    pub async fn notified(payload: Notified, _io: NotifiedIo<'_>) -> Result<(), JobError> {
        record(&payload.log, "event");
        Ok(())
    }

    /// Doubles a number, recording that it ran.
    #[job(id = "child", name = "Child", version = "1.0.0", event = ChildWanted)]
    pub async fn child(payload: ChildWanted, _io: ChildIo<'_>) -> Result<u32, JobError> {
        record(&payload.log, "child");
        Ok(payload.n * 2)
    }

    /// A task, an event, a child run, then a wait for a token.
    #[job(id = "primitives", name = "Primitives", version = "1.0.0", event = Start)]
    pub async fn primitives(payload: Start, io: PrimitivesIo<'_>) -> Result<String, JobError> {
        let log = payload.log;
        let drawn: u64 = io
            .run_task("task", || {
                let log = log.clone();
                async move {
                    record(&log, "task");
                    Ok::<_, ActionError>(fastrand::u64(..))
                }
            })
            .await?;
        io.send_event("notify", Notified { log: log.clone() }).await?;
        let doubled = io.run_job("child", ChildJob, ChildWanted { log: log.clone(), n: 21 }).await?;
        let approval: Approval = io.wait_for_token("approval", Duration::from_secs(3600)).await?;
        Ok(format!("{drawn}:{doubled}:{}", approval.by))
    }

    /// An engine with the three jobs, on the SQLite file at `db`.
    pub fn engine(db: &std::path::Path) -> Result<Engine, connector_runtime::EngineError> {
        Engine::builder().sqlite(db).job(PrimitivesJob).job(NotifiedJob).job(ChildJob).build()
    }
}
