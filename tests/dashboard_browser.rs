//! The dashboard in a real headless Chromium, driven over WebDriver: the `serve` command of
//! the dashboard app (`dashboard_app.rs`) on a fresh SQLite file, its runs started with
//! `POST /api/events` as a user's script would, and a browser that signs in and uses the pages.
//!
//! The scenarios run one after another in one browser (one Chromium is enough work for the
//! machine): the page and the API refuse without the key and the sign-in works; a run appears
//! in the list and succeeds there without a reload; its page shows its three steps and its log
//! lines; a run failed at its second step is retried from it and keeps its first step; a
//! sleeping run is cancelled; a token is completed from the form (a payload that does not fit
//! its type is refused and changes nothing); a payload carrying markup is shown as text.
//!
//! The tests assert against visible text, roles, form field names and the ids `rows` and
//! `detail`, not exact markup, and wait for conditions rather than for time.
//!
//! Chromium and its WebDriver: `CHROMIUM` and `CHROMEDRIVER` name them (default: Debian's
//! `/usr/bin/chromium` and `/usr/bin/chromedriver`); without them the test fails saying so.
//! `DASHBOARD_SCREENSHOTS=<dir>` saves PNGs of the runs list and of a run page there.

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const KEY: &str = "dashboard-browser-test-key";
/// How long a condition may take to come true: generous, as the machine is shared; passing
/// tests never wait this long.
const WAIT: Duration = Duration::from_secs(30);
/// The window the screenshots are taken in.
const WINDOW: (u32, u32) = (1280, 900);
/// Chromium's flags: headless, and no connection anywhere but to the page's server (without
/// the background-networking ones it tries the network at start-up, which is refused here).
const FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// A child process in its own process group, killed with the group (a browser chromedriver
/// started with it) when dropped, so a failing test leaves nothing running.
struct Process {
    child: Child,
}

impl Process {
    fn spawn(command: &mut Command) -> Process {
        let program = command.get_program().to_string_lossy().into_owned();
        let child = command.process_group(0).spawn().unwrap_or_else(|error| panic!("{program} starts: {error}"));
        Process { child }
    }

    /// Asks the process to stop (SIGTERM) and waits for it.
    fn terminate(mut self) -> std::process::ExitStatus {
        // SAFETY: signalling a child this test started and has not reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        self.child.wait().expect("the process is reaped")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: the group is the one this child leads (`process_group(0)`), not yet reaped.
            unsafe { libc::killpg(self.child.id() as libc::pid_t, libc::SIGKILL) };
            let _ = self.child.wait();
        }
    }
}

/// A program the test needs: `variable`'s value, or `default`; a clear failure when missing.
fn program(variable: &str, default: &str, package: &str) -> PathBuf {
    let path = PathBuf::from(std::env::var_os(variable).unwrap_or_else(|| default.into()));
    assert!(
        path.is_file(),
        "the dashboard's browser tests need {} (install Debian's `{package}` package, as .ci/run does, \
         or set {variable} to where it is)",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    listener.local_addr().unwrap().port()
}

/// Polls `probe` every 100 ms until it answers `Some`, for at most [`WAIT`].
async fn until<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// chromedriver on a free loopback port, and one headless Chromium session with a new, empty
/// profile.
async fn browser(profile: &Path) -> (Process, Client) {
    let chromium = program("CHROMIUM", "/usr/bin/chromium", "chromium");
    let chromedriver = program("CHROMEDRIVER", "/usr/bin/chromedriver", "chromium-driver");
    let port = free_port();
    let driver = Process::spawn(
        Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    until("chromedriver answers", || async {
        let status = http.get(format!("{url}/status")).send().await.ok()?.json::<Value>().await.ok()?;
        (status["value"]["ready"] == true).then_some(())
    })
    .await;

    let mut args: Vec<String> = FLAGS.iter().map(|flag| (*flag).to_owned()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    args.push(format!("--window-size={},{}", WINDOW.0, WINDOW.1));
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": chromium, "args": args },
    });
    let Value::Object(capabilities) = capabilities else { unreachable!("an object") };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&url)
        .await
        .unwrap_or_else(|error| panic!("chromedriver starts {}: {error}", chromium.display()));
    // The window's size includes what the browser draws around the page: grown by that much,
    // the page itself is the size the screenshots are meant to be.
    let inner = client.execute("return [window.innerWidth, window.innerHeight];", vec![]).await.unwrap();
    let inner: (u32, u32) = serde_json::from_value(inner).expect("two numbers");
    client.set_window_size(2 * WINDOW.0 - inner.0, 2 * WINDOW.1 - inner.1).await.expect("the window is resized");
    (driver, client)
}

/// The dashboard app's `serve` on a free port, its runs in `db`; returns it and its URL.
fn serve(db: &Path) -> (Process, String) {
    let mut server = Process::spawn(
        Command::new(env!("CARGO_BIN_EXE_dashboard-app"))
            .arg("--json")
            .arg("--db")
            .arg(db)
            .args(["serve", "--port", "0", "--grace", "1s"])
            .env("DASHBOARD_APP_API_KEY", KEY)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped()),
    );
    let mut line = String::new();
    BufReader::new(server.child.stdout.take().unwrap()).read_line(&mut line).expect("a ready line");
    let ready: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("a JSON ready line, got {line:?}"));
    let url = ready["url"].as_str().expect("the ready line names the URL").to_owned();
    (server, url)
}

/// What the test reads and sends over the API, with the key, as a user's script would.
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    /// Sends event `name`; returns the id of the one run it started.
    async fn send(&self, name: &str, payload: Value) -> String {
        let answer = self
            .http
            .post(format!("{}/api/events", self.base))
            .bearer_auth(KEY)
            .json(&json!({ "name": name, "payload": payload }))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), reqwest::StatusCode::ACCEPTED, "{name} is accepted");
        let receipt: Value = answer.json().await.unwrap();
        receipt["runs"][0].as_str().expect("the receipt names the run").to_owned()
    }

    /// The run with its steps.
    async fn run(&self, id: &str) -> Value {
        let answer = self.http.get(format!("{}/api/runs/{id}", self.base)).bearer_auth(KEY).send().await.unwrap();
        assert!(answer.status().is_success(), "run {id}: {}", answer.status());
        answer.json().await.unwrap()
    }

    /// The step `key` of `run`.
    fn step<'a>(run: &'a Value, key: &str) -> &'a Value {
        run["steps"].as_array().and_then(|steps| steps.iter().find(|step| step["key"] == key)).unwrap_or_else(|| {
            panic!("run {} has a step `{key}`: {run:#}", run["id"]);
        })
    }
}

/// The visible text of the first element `css` finds, if there is one.
async fn text(browser: &Client, css: &str) -> Option<String> {
    browser.find(Locator::Css(css)).await.ok()?.text().await.ok()
}

/// Waits until the visible text of `css` contains every one of `expected`; returns the text.
async fn shows(browser: &Client, css: &str, expected: &[&str]) -> String {
    let what = format!("`{css}` shows {expected:?}");
    until(&what, || async { text(browser, css).await.filter(|text| expected.iter().all(|e| text.contains(e))) }).await
}

/// Clicks the button labelled `label`, accepts the confirmation it asks for, and waits for the
/// page the action answers with; returns the question. The live parts of a page are replaced
/// as they refresh, so a button found just before one is retried.
async fn confirm(browser: &Client, label: &str) -> String {
    // Gone when the answer's page has replaced this one, so nothing is read off the old page.
    browser.execute("window.beforeTheAction = true;", vec![]).await.unwrap();
    let xpath = format!("//button[normalize-space()='{label}']");
    until(&format!("the button `{label}` is clicked"), || async {
        browser.find(Locator::XPath(&xpath)).await.ok()?.click().await.ok()
    })
    .await;
    let question =
        until(&format!("`{label}` asks for a confirmation"), || async { browser.get_alert_text().await.ok() }).await;
    browser.accept_alert().await.expect("the confirmation is accepted");
    until(&format!("`{label}` answers with a page"), || async {
        let old = browser.execute("return window.beforeTheAction === true;", vec![]).await.ok()?;
        (old == json!(false)).then_some(())
    })
    .await;
    question
}

/// Waits until the run's page shows it finished with `status`, read from what it offers: a
/// finished run a replay, a failed or cancelled one also a retry. (The word alone is not
/// enough: a step's status reads `succeeded` while its run may still be failed or running.)
async fn finished(browser: &Client, status: &str) -> String {
    let what = format!("the run is shown {status}");
    until(&what, || async {
        let detail = text(browser, "#detail").await?;
        let retry = detail.contains("Retry from the failed step");
        let done =
            detail.contains(status) && detail.contains("Replay as a new run") && retry != (status == "succeeded");
        done.then_some(detail)
    })
    .await
}

/// Types `payload` into the token form's `payload` field and submits it, confirming.
async fn complete_token(browser: &Client, payload: &str) {
    until("the token form takes the payload", || async {
        let field = browser.find(Locator::Css("textarea[name=payload]")).await.ok()?;
        field.clear().await.ok()?;
        field.send_keys(payload).await.ok()?;
        // What the form sends is what was typed: the page's refresh leaves a focused form alone.
        (field.prop("value").await.ok()?.as_deref() == Some(payload)).then_some(())
    })
    .await;
    let question = confirm(browser, "Complete the token").await;
    assert!(!question.is_empty(), "completing a token says what it will do");
}

async fn path(browser: &Client) -> String {
    browser.current_url().await.expect("a current URL").path().to_owned()
}

fn screenshots() -> Option<PathBuf> {
    std::env::var_os("DASHBOARD_SCREENSHOTS").filter(|dir| !dir.is_empty()).map(PathBuf::from)
}

async fn screenshot(browser: &Client, name: &str) {
    if let Some(dir) = screenshots() {
        std::fs::create_dir_all(&dir).expect("the screenshot folder");
        let png = browser.screenshot().await.expect("a screenshot");
        std::fs::write(dir.join(name), png).expect("the screenshot is saved");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let (server, base) = serve(&dir.path().join("runs.db"));
    let api = Api { http: reqwest::Client::new(), base: base.clone() };
    let profile = dir.path().join("profile");
    std::fs::create_dir(&profile).unwrap();
    let (driver, browser) = browser(&profile).await;

    signs_in(&browser, &api).await;
    let three = succeeds_live(&browser, &api).await;
    shows_steps_and_log(&browser, &three).await;
    screenshot(&browser, "dashboard-run.png").await;
    retries_from_the_failed_step(&browser, &api, dir.path()).await;
    cancels(&browser, &api).await;
    completes_a_token(&browser, &api).await;
    shows_markup_as_text(&browser, &api).await;
    if screenshots().is_some() {
        // The list with a run still waiting among the finished ones.
        api.send("e2e.approval", json!({ "title": "Release 1.4 to production" })).await;
        browser.goto(&format!("{base}/")).await.unwrap();
        shows(&browser, "#rows", &["waiting"]).await;
        screenshot(&browser, "dashboard-runs.png").await;
    }

    browser.close().await.expect("the browser closes");
    drop(driver);
    let status = server.terminate();
    assert!(status.success(), "the server stops cleanly on SIGTERM: {status}");
}

/// Without the key the page sends to the sign-in form and the API answers 401; a wrong key is
/// refused with a message, the right one opens the runs list.
async fn signs_in(browser: &Client, api: &Api) {
    let refused = api.http.get(format!("{}/api/runs", api.base)).send().await.unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED, "/api/runs without the key");
    let wrong = api.http.get(format!("{}/api/runs", api.base)).bearer_auth("not-the-key").send().await.unwrap();
    assert_eq!(wrong.status(), reqwest::StatusCode::UNAUTHORIZED, "/api/runs with another key");

    browser.goto(&format!("{}/", api.base)).await.unwrap();
    assert_eq!(path(browser).await, "/login", "the runs list sends to the sign-in form");
    assert!(browser.find(Locator::Css("#rows")).await.is_err(), "no runs are shown without the key");
    browser.goto(&format!("{}/runs/no-such-run", api.base)).await.unwrap();
    assert_eq!(path(browser).await, "/login", "a run's page sends to the sign-in form");

    browser.goto(&format!("{}/", api.base)).await.unwrap();
    let key = browser.find(Locator::Css("input[name=key]")).await.expect("the form asks for the key");
    key.send_keys("not-the-key").await.unwrap();
    browser.find(Locator::XPath("//button[normalize-space()='Sign in']")).await.unwrap().click().await.unwrap();
    let alert = until("the wrong key is refused", || async { text(browser, "[role=alert]").await }).await;
    assert!(alert.contains("API key"), "the refusal says why: {alert}");
    assert_eq!(path(browser).await, "/login");

    let key = browser.find(Locator::Css("input[name=key]")).await.expect("the form asks again");
    key.send_keys(KEY).await.unwrap();
    browser.find(Locator::XPath("//button[normalize-space()='Sign in']")).await.unwrap().click().await.unwrap();
    until("the runs list opens", || async { browser.find(Locator::Css("#rows")).await.ok() }).await;
    assert_eq!(path(browser).await, "/");
    shows(browser, "h1", &["Runs"]).await;
}

/// A run started while the list is open appears in it and reaches `succeeded`, and the page was
/// not reloaded for it. Returns the run's id.
async fn succeeds_live(browser: &Client, api: &Api) -> String {
    // Gone if the page reloads.
    browser.execute("window.stillTheSamePage = true;", vec![]).await.unwrap();
    let run = api.send("e2e.three", json!({ "tag": "hello" })).await;
    let row = format!("//tbody[@id='rows']/tr[contains(., '{run}')]");
    until("the new run is listed as succeeded", || async {
        let row = browser.find(Locator::XPath(&row)).await.ok()?.text().await.ok()?;
        (row.contains("succeeded") && row.contains("three-messages")).then_some(())
    })
    .await;
    let same = browser.execute("return window.stillTheSamePage === true;", vec![]).await.unwrap();
    assert_eq!(same, json!(true), "the list changed in place, without a reload");
    run
}

/// The run's page, opened from the list: its three steps and the lines it logged.
async fn shows_steps_and_log(browser: &Client, run: &str) {
    let link = format!("//tbody[@id='rows']//a[contains(., '{run}')]");
    browser.find(Locator::XPath(&link)).await.expect("the run links to its page").click().await.unwrap();
    until("the run's page opens", || async { (path(browser).await == format!("/runs/{run}")).then_some(()) }).await;
    let detail = shows(
        browser,
        "#detail",
        &[
            "succeeded",
            "send-1",
            "send-2",
            "send-3",
            "message 1 of 3 posted as",
            "message 2 of 3 posted as",
            "message 3 of 3 posted as",
        ],
    )
    .await;
    assert!(!detail.contains("Retry from the failed step"), "nothing to retry in a run that succeeded");
}

/// A run that failed at its second step, retried from the page once the marker is there: it
/// succeeds, and its first step was not run again (same attempts, same start).
async fn retries_from_the_failed_step(browser: &Client, api: &Api, dir: &Path) {
    let marker = dir.join("marker");
    let run = api.send("e2e.flaky", json!({ "marker": marker })).await;
    browser.goto(&format!("{}/runs/{run}", api.base)).await.unwrap();
    shows(browser, "#detail", &["failed", "the marker file is missing", "Retry from the failed step"]).await;
    let before = api.run(&run).await;
    assert_eq!(before["status"], "failed");
    let first = Api::step(&before, "first").clone();
    assert_eq!(first["status"], "succeeded");

    std::fs::write(&marker, "").unwrap();
    let question = confirm(browser, "Retry from the failed step").await;
    assert!(!question.is_empty(), "retrying says what it will do");
    finished(browser, "succeeded").await;
    shows(browser, "main", &["done once; the marker is there"]).await;

    let after = api.run(&run).await;
    assert_eq!(after["status"], "succeeded");
    let kept = Api::step(&after, "first");
    assert_eq!(
        (&kept["attempts"], &kept["startedAt"], &kept["output"]),
        (&first["attempts"], &first["startedAt"], &first["output"]),
        "the completed first step is kept, not run again"
    );
    assert_eq!(Api::step(&after, "second")["status"], "succeeded");
}

/// A run sleeping for an hour, cancelled from its page.
async fn cancels(browser: &Client, api: &Api) {
    let run = api.send("e2e.nap", json!({})).await;
    browser.goto(&format!("{}/runs/{run}", api.base)).await.unwrap();
    shows(browser, "#detail", &["waiting", "nap", "Cancel"]).await;
    let question = confirm(browser, "Cancel").await;
    assert!(!question.is_empty(), "cancelling says what it will do");
    finished(browser, "cancelled").await;
    assert_eq!(api.run(&run).await["status"], "cancelled");
}

/// A token completed from the form: a payload that does not fit its type is refused, saying
/// which field, and the run still waits; one that fits finishes the run with it.
async fn completes_a_token(browser: &Client, api: &Api) {
    let run = api.send("e2e.approval", json!({ "title": "Release 1.3" })).await;
    let page = format!("{}/runs/{run}", api.base);
    browser.goto(&page).await.unwrap();
    shows(browser, "#detail", &["waiting", "Complete the token"]).await;

    complete_token(browser, r#"{"approved": "yes", "by": "ada"}"#).await;
    let refusal = shows(browser, "body", &["does not fit"]).await;
    assert!(refusal.contains("approved"), "the refusal names the field: {refusal}");
    let unchanged = api.run(&run).await;
    assert_eq!(unchanged["status"], "waiting", "a refused payload changes nothing");
    assert_eq!(Api::step(&unchanged, "approval")["status"], "running", "the token is still open");

    browser.goto(&page).await.unwrap();
    complete_token(browser, r#"{"approved": true, "by": "ada"}"#).await;
    finished(browser, "succeeded").await;
    let done = api.run(&run).await;
    assert_eq!(done["status"], "succeeded");
    assert_eq!(done["output"], json!({ "approved": true, "by": "ada" }), "the run got the payload");
}

/// Markup in a payload, a log line and a token's payload is shown as text: visible, no element
/// made of it, no dialog opened by it.
async fn shows_markup_as_text(browser: &Client, api: &Api) {
    let markup = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    let run = api.send("e2e.approval", json!({ "title": markup })).await;
    browser.goto(&format!("{}/runs/{run}", api.base)).await.unwrap();
    shows(browser, "#detail", &["waiting", &format!("approval asked for: {markup}")]).await;
    let token = serde_json::to_string(&json!({ "approved": false, "by": markup })).unwrap();
    complete_token(browser, &token).await;
    finished(browser, "succeeded").await;

    let main = shows(browser, "main", &[markup]).await;
    assert!(main.matches(markup).count() >= 3, "the payload, the log line and the output show it: {main}");
    let made = browser
        .execute(
            "return { images: document.querySelectorAll('img').length, \
                      scripts: [...document.scripts].filter(s => s.textContent.includes('alert(')).length };",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(made, json!({ "images": 0, "scripts": 0 }), "no element was made of the payload");
    match browser.get_alert_text().await {
        Err(error) if error.is_no_such_alert() => {}
        other => panic!("no dialog is open: {other:?}"),
    }
}
