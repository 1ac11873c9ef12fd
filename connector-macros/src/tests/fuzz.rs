//! Random and extreme input to every expansion: floats like `1e999` and `-0.0`, NaN-like strings,
//! integers past `u64::MAX`, 10,000-character ids and names, hundreds of levels of nesting,
//! empty and garbage token streams, random mutations and every truncated prefix of valid input.
//!
//! For all of them: the macro does not panic, and its output either holds a `compile_error!`
//! or is the whole expansion (never a silent half of one). Where the input is known to be
//! invalid, there is an error; where it is known to be valid, there is none and the output is
//! Rust.

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::{Step, errors, flatten, rebuild, truncations};
use crate::{expand, stray};
use proc_macro2::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

/// xorshift64*: small, deterministic, good enough to pick test cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Which macro, and how to tell its whole expansion.
#[derive(Clone, Copy)]
enum Macro {
    Connector,
    Job,
    Event,
    Stray,
}

impl Macro {
    fn expand(self, args: TokenStream, item: TokenStream) -> TokenStream {
        match self {
            Macro::Connector => expand::connector(args, item),
            Macro::Job => expand::job(args, item),
            Macro::Event => expand::event(item),
            Macro::Stray => stray::expand("action", args, item),
        }
    }

    /// What only a whole expansion holds (a fallback holds it too, but with errors).
    fn marker(self) -> &'static str {
        match self {
            Macro::Connector => "impl :: connector_runtime :: Connector for",
            Macro::Job => "impl :: connector_runtime :: Job for",
            Macro::Event => ":: connector_runtime :: Event for",
            Macro::Stray => "compile_error",
        }
    }
}

/// What is known of an input.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Expect {
    Valid,
    Invalid,
    Unknown,
}

/// Runs the macro, fails on a panic, and checks the output against what is expected.
#[track_caller]
fn check(what: &str, mac: Macro, args: TokenStream, item: TokenStream, expect: Expect) -> TokenStream {
    let out = catch_unwind(AssertUnwindSafe(|| mac.expand(args, item)))
        .unwrap_or_else(|_| panic!("the macro panicked on {what}"));
    let messages = errors(&out);
    let what = short(what);
    if messages.is_empty() {
        let text = out.to_string();
        assert!(text.contains(mac.marker()), "{what}: neither an error nor the whole expansion: {}", short(&text));
    }
    match expect {
        Expect::Invalid => assert!(!messages.is_empty(), "{what}: expected an error, got {}", short(&out.to_string())),
        Expect::Valid => {
            assert!(messages.is_empty(), "{what}: expected no error, got {messages:#?}");
            if let Err(error) = syn::parse2::<syn::File>(out.clone()) {
                panic!("{what}: not Rust ({error}): {}", short(&out.to_string()));
            }
        }
        Expect::Unknown => {}
    }
    out
}

/// At most 300 characters of `text`, for messages.
fn short(text: &str) -> String {
    let mut short: String = text.chars().take(300).collect();
    if short.len() < text.len() {
        short.push_str(" ..");
    }
    short
}

/// Runs `test` on a thread with a stack like rustc's, where a proc macro runs.
fn on_big_stack(test: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(8 * 1024 * 1024)
        .spawn(test)
        .expect("a test thread")
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
}

fn parse(text: &str) -> TokenStream {
    text.parse().unwrap_or_else(|error| panic!("{text}: {error}"))
}

const CONNECTOR_ARGS: &str = r#"id = "chat", name = "Chat", version = "1.0.0", config = ChatConfig"#;

/// A connector block with an action whose attribute has `ACTION_ARGS`, and a polling trigger
/// whose has `POLL_ARGS`.
const CONNECTOR_ITEM: &str = r#"
    /// Talks to the chat service.
    impl Chat {
        /// Posts a message.
        #[action(ACTION_ARGS)]
        pub async fn send_message(ctx: &ActionContext<ChatConfig>, input: SendMessage) -> Result<SentMessage, ActionError> {
            Ok(SentMessage { id: input.text })
        }

        /// A message was posted.
        #[trigger(id = "message.received", name = "Message Received")]
        pub async fn message_received(ctx: &TriggerContext<ChatConfig>, payload: Received) -> Result<Option<Received>, ActionError> {
            Ok(Some(payload))
        }

        /// Messages since the cursor.
        #[trigger(POLL_ARGS)]
        pub async fn new_messages(ctx: &TriggerContext<ChatConfig>, cursor: Option<u64>) -> Result<Polled<Received, u64>, ActionError> {
            Ok(Polled::nothing())
        }

        fn helper() {}
    }
"#;

const ACTION_ARGS: &str = r#"id = "sendMessage", name = "Send Message", retry(max_attempts = 3, min_delay = "200ms")"#;
const POLL_ARGS: &str = r#"id = "messages.new", name = "New Messages", poll(every = "30s")"#;

fn connector_item(action_args: &str, poll_args: &str) -> TokenStream {
    parse(&CONNECTOR_ITEM.replace("ACTION_ARGS", action_args).replace("POLL_ARGS", poll_args))
}

const JOB_ARGS: &str = r#"id = "post", name = "Post", version = "1.0.0", event = Requested, integrations(chat = Chat)"#;

const JOB_ITEM: &str = r#"
    /// Posts the message.
    pub async fn post(payload: Requested, io: PostIo<'_>) -> Result<String, JobError> {
        let sent = io.chat.send_message("send", SendMessage { text: payload.text }).await?;
        Ok(sent.id)
    }
"#;

const EVENT_ITEM: &str = r#"
    /// Someone asked.
    #[derive(Serialize)]
    #[event(name = "chat.requested")]
    pub struct Requested<T: Clone> where T: Send { pub text: String, pub extra: T }
"#;

/// Extreme values in each argument that takes a value, with what each must give.
#[test]
fn extreme_values() {
    let long_id = format!("\"{}\"", "a.b-c_9".repeat(1500));
    let long_bad_id = format!("\"{} x\"", "a".repeat(10_000));
    let long_text = format!("\"{}\"", "ü ".repeat(5000));
    let valid = Expect::Valid;
    let invalid = Expect::Invalid;
    // (where, value, what it must give)
    let cases: Vec<(&str, String, Expect)> = [
        ("factor", "1e999", invalid),
        ("factor", "-1e999", invalid),
        ("factor", "1e-999", invalid),
        ("factor", "-0.0", invalid),
        ("factor", "0.0", invalid),
        ("factor", "1.0", valid),
        ("factor", "2", valid),
        ("factor", "18446744073709551616", valid),
        ("factor", "\"NaN\"", invalid),
        ("factor", "NaN", invalid),
        ("factor", "inf", invalid),
        ("factor", "f64::NAN", invalid),
        ("factor", "\"inf\"", invalid),
        ("max_attempts", "0", invalid),
        ("max_attempts", "1", valid),
        ("max_attempts", "4294967295", valid),
        ("max_attempts", "4294967296", invalid),
        ("max_attempts", "18446744073709551615", invalid),
        ("max_attempts", "18446744073709551616", invalid),
        ("max_attempts", "340282366920938463463374607431768211456", invalid),
        ("max_attempts", "-1", invalid),
        ("max_attempts", "1.5", invalid),
        ("max_attempts", "\"3\"", invalid),
        ("min_delay", "\"30s\"", valid),
        ("min_delay", "\"0ms\"", valid),
        ("min_delay", "\"10 parsecs\"", invalid),
        ("min_delay", "\"NaNs\"", invalid),
        ("min_delay", "\"infs\"", invalid),
        ("min_delay", "\"1e999s\"", invalid),
        ("min_delay", "\"-1s\"", invalid),
        ("min_delay", "\"99999999999999999999999999h\"", invalid),
        ("min_delay", "\"\"", invalid),
        ("min_delay", "5", invalid),
        ("min_delay", "\"2m\"", invalid),
        ("timeout", "\"0s\"", invalid),
        ("id", "\"\"", invalid),
        ("id", "5", invalid),
        ("id", "\"ünïcode\"", invalid),
        ("id", &long_id, valid),
        ("id", &long_bad_id, invalid),
        ("name", &long_text, valid),
        ("name", "\"\"", invalid),
        ("name", "\"   \"", invalid),
        ("every", "\"0s\"", invalid),
        ("every", "\"1ms\"", valid),
        ("every", "\"1.5s\"", valid),
        ("every", "30", invalid),
    ]
    .into_iter()
    .map(|(key, value, expect)| (key, value.to_owned(), expect))
    .collect();
    for (key, value, expect) in cases {
        let (action, poll) = match key {
            "factor" | "max_attempts" | "min_delay" | "timeout" => {
                (format!(r#"id = "sendMessage", name = "Send Message", retry({key} = {value})"#), POLL_ARGS.to_owned())
            }
            "every" => (ACTION_ARGS.to_owned(), format!(r#"id = "messages.new", name = "New", poll(every = {value})"#)),
            "id" => (format!(r#"id = {value}, name = "Send Message""#), POLL_ARGS.to_owned()),
            _ => (format!(r#"id = "sendMessage", name = {value}"#), POLL_ARGS.to_owned()),
        };
        let what = format!("`{key} = {}`", value.chars().take(40).collect::<String>());
        check(&what, Macro::Connector, parse(CONNECTOR_ARGS), connector_item(&action, &poll), expect);
    }

    for (value, expect) in [("0", invalid), ("1", valid), ("4294967296", invalid), ("18446744073709551616", invalid)] {
        let args = parse(&format!(
            "{CONNECTOR_ARGS}, rate_limit(per_second = {value}, burst = {value}, concurrency = {value})"
        ));
        check(&format!("rate_limit {value}"), Macro::Connector, args, connector_item(ACTION_ARGS, POLL_ARGS), expect);
        let job = parse(&format!("{JOB_ARGS}, concurrency = {value}"));
        check(&format!("concurrency {value}"), Macro::Job, job, parse(JOB_ITEM), expect);
    }
    for (value, expect) in [("\"0s\"", invalid), ("\"1h\"", valid), ("\"1e999h\"", invalid), ("\"NaNs\"", invalid)] {
        let args = parse(&format!(r#"id = "tick", name = "Tick", version = "1.0.0", every = {value}"#));
        let item = parse("async fn tick(tick: Tick, io: TickIo<'_>) -> Result<(), JobError> { Ok(()) }");
        check(&format!("every {value}"), Macro::Job, args, item, expect);
    }
    for (value, expect) in [(long_id.as_str(), valid), ("\"\"", invalid), ("5", invalid), ("1e999", invalid)] {
        let item = parse(&EVENT_ITEM.replace("\"chat.requested\"", value));
        check(&format!("event name {value:.20}"), Macro::Event, TokenStream::new(), item, expect);
    }
}

/// 10,000-character names of fns, types and keys: valid, expanded in full.
#[test]
fn long_names() {
    let name = format!("f{}", "_long".repeat(2000));
    let item = connector_item(ACTION_ARGS, POLL_ARGS);
    let item = parse(&item.to_string().replace("send_message", &name).replace("new_messages", &format!("{name}_2")));
    let out = check("a long action name", Macro::Connector, parse(CONNECTOR_ARGS), item, Expect::Valid);
    assert!(out.to_string().contains(&name.to_uppercase()));
    let ty = format!("Chat{}", "X".repeat(10_000));
    let item = parse(&connector_item(ACTION_ARGS, POLL_ARGS).to_string().replace("impl Chat", &format!("impl {ty}")));
    check("a long connector type", Macro::Connector, parse(CONNECTOR_ARGS), item, Expect::Valid);
    let key = format!("k{}", "ey".repeat(5000));
    let args = parse(&JOB_ARGS.replace("chat = Chat", &format!("{key} = Chat")));
    let item =
        parse(&JOB_ITEM.replace("post", &name).replace("PostIo", &format!("{}Io", crate::names::pascal_case(&name))));
    check("a long job name and key", Macro::Job, args, item, Expect::Valid);
}

/// Hundreds of levels of parentheses, where the macro parses and where it does not.
#[test]
fn deep_nesting() {
    on_big_stack(|| {
        let deep = |levels: usize, inner: &str| format!("{}{inner}{}", "(".repeat(levels), ")".repeat(levels));
        for levels in [100, 300, 1000] {
            let value = deep(levels, "\"chat\"");
            let args = parse(&CONNECTOR_ARGS.replace("\"chat\"", &value));
            check("deep args", Macro::Connector, args, connector_item(ACTION_ARGS, POLL_ARGS), Expect::Invalid);
            let action = ACTION_ARGS.replace("3", &deep(levels, "3"));
            check(
                "deep member args",
                Macro::Connector,
                parse(CONNECTOR_ARGS),
                connector_item(&action, POLL_ARGS),
                Expect::Invalid,
            );
            let job = parse(&JOB_ARGS.replace("Requested", &deep(levels, "Requested")));
            check("deep job args", Macro::Job, job, parse(JOB_ITEM), Expect::Invalid);
            let ty = parse(
                &connector_item(ACTION_ARGS, POLL_ARGS)
                    .to_string()
                    .replace("input : SendMessage", &format!("input : {}", deep(levels, "SendMessage"))),
            );
            check("a deep parameter type", Macro::Connector, parse(CONNECTOR_ARGS), ty, Expect::Invalid);
            let event =
                parse(&EVENT_ITEM.replace("pub text: String", &format!("pub text: {}", deep(levels, "String"))));
            check("a deep field type", Macro::Event, TokenStream::new(), event, Expect::Invalid);
            check("deep stray args", Macro::Stray, parse(&deep(levels, "x")), parse(JOB_ITEM), Expect::Invalid);
        }
        // Fn bodies are kept as tokens, never parsed: any depth is the compiler's business.
        let item = parse(&format!(
            "pub async fn post(payload: Requested, io: PostIo<'_>) -> Result<String, JobError> {{ {} }}",
            deep(2000, "1")
        ));
        let out = check("a deep fn body", Macro::Job, parse(JOB_ARGS), item, Expect::Unknown);
        assert!(errors(&out).is_empty(), "{:?}", errors(&out));
    });
}

/// Empty streams, and streams of random tokens, as arguments and as items.
#[test]
fn empty_and_garbage() {
    for mac in [Macro::Connector, Macro::Job, Macro::Event, Macro::Stray] {
        check("empty args and item", mac, TokenStream::new(), TokenStream::new(), Expect::Invalid);
    }
    check(
        "empty connector args",
        Macro::Connector,
        TokenStream::new(),
        connector_item(ACTION_ARGS, POLL_ARGS),
        Expect::Invalid,
    );
    check("empty job args", Macro::Job, TokenStream::new(), parse(JOB_ITEM), Expect::Invalid);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..300 {
        let garbage = random_tokens(&mut rng, 3);
        let what = format!("garbage {round}: {garbage}");
        check(&what, Macro::Connector, garbage.clone(), connector_item(ACTION_ARGS, POLL_ARGS), Expect::Invalid);
        check(&what, Macro::Connector, parse(CONNECTOR_ARGS), garbage.clone(), Expect::Invalid);
        check(&what, Macro::Job, garbage.clone(), parse(JOB_ITEM), Expect::Invalid);
        check(&what, Macro::Job, parse(JOB_ARGS), garbage.clone(), Expect::Invalid);
        check(&what, Macro::Event, TokenStream::new(), garbage.clone(), Expect::Invalid);
        check(&what, Macro::Stray, garbage.clone(), garbage, Expect::Invalid);
    }
}

/// Random tokens: words, keywords, punctuation, literals (extreme ones too) and groups.
fn random_tokens(rng: &mut Rng, depth: usize) -> TokenStream {
    const WORDS: [&str; 16] = [
        "id", "name", "impl", "fn", "async", "action", "trigger", "retry", "poll", "Chat", "pub", "self", "r#type",
        "_", "Self", "where",
    ];
    const LITERALS: [&str; 10] =
        ["\"x\"", "1e999", "-0.0", "18446744073709551616", "0", "'c'", "b\"b\"", "1.5f32", "\"NaN\"", "0xff"];
    const PUNCT: [char; 12] = ['#', '=', ',', ':', ';', '!', '<', '>', '&', '\'', '-', '.'];
    let mut tokens = Vec::new();
    for _ in 0..rng.below(12) {
        let tree = match rng.below(5) {
            0 | 1 => {
                let word = *rng.pick(&WORDS);
                let ident = if let Some(raw) = word.strip_prefix("r#") {
                    Ident::new_raw(raw, Span::call_site())
                } else {
                    Ident::new(word, Span::call_site())
                };
                TokenTree::Ident(ident)
            }
            2 => TokenTree::Literal(rng.pick(&LITERALS).parse::<Literal>().expect("a literal")),
            3 => TokenTree::Punct(Punct::new(
                *rng.pick(&PUNCT),
                if rng.below(2) == 0 { Spacing::Alone } else { Spacing::Joint },
            )),
            _ if depth > 0 => {
                let delimiter =
                    *rng.pick(&[Delimiter::Parenthesis, Delimiter::Brace, Delimiter::Bracket, Delimiter::None]);
                TokenTree::Group(Group::new(delimiter, random_tokens(rng, depth - 1)))
            }
            _ => TokenTree::Ident(Ident::new("x", Span::call_site())),
        };
        tokens.push(tree);
    }
    tokens.into_iter().collect()
}

/// Valid input with one token changed, removed or repeated, or one group removed, anywhere.
#[test]
fn mutations() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let inputs: [(Macro, TokenStream, TokenStream); 3] = [
        (Macro::Connector, parse(CONNECTOR_ARGS), connector_item(ACTION_ARGS, POLL_ARGS)),
        (Macro::Job, parse(JOB_ARGS), parse(JOB_ITEM)),
        (Macro::Event, TokenStream::new(), parse(EVENT_ITEM)),
    ];
    for round in 0..600 {
        let (mac, args, item) = rng.pick(&inputs).clone();
        let (args, item) =
            if rng.below(2) == 0 { (mutate(&mut rng, &args), item) } else { (args, mutate(&mut rng, &item)) };
        check(&format!("mutation {round}: {args} / {item}"), mac, args, item, Expect::Unknown);
    }
}

fn mutate(rng: &mut Rng, tokens: &TokenStream) -> TokenStream {
    let mut steps = Vec::new();
    flatten(tokens.clone(), &mut steps);
    if steps.is_empty() {
        return random_tokens(rng, 2);
    }
    let at = rng.below(steps.len());
    match (rng.below(4), &steps[at]) {
        (0, Step::Leaf(_)) => {
            steps.remove(at);
        }
        (1, Step::Leaf(leaf)) => {
            let leaf = leaf.clone();
            steps.insert(at, Step::Leaf(leaf));
        }
        (2, Step::Open(_)) => {
            // The group and everything in it.
            let mut depth = 0usize;
            let mut end = at;
            for (i, step) in steps.iter().enumerate().skip(at) {
                match step {
                    Step::Open(_) => depth += 1,
                    Step::Close => depth = depth.saturating_sub(1),
                    Step::Leaf(_) => {}
                }
                if depth == 0 {
                    end = i;
                    break;
                }
            }
            steps.drain(at..=end);
        }
        _ => {
            if let Step::Leaf(_) = steps[at] {
                let replacement = random_tokens(rng, 1).into_iter().next();
                if let Some(replacement) = replacement {
                    steps[at] = Step::Leaf(replacement);
                }
            }
        }
    }
    rebuild(&steps)
}

/// Every prefix of valid input, cut at any token at any depth, its open groups closed.
#[test]
fn truncations_of_valid_input() {
    on_big_stack(|| {
        let item = connector_item(ACTION_ARGS, POLL_ARGS);
        let args = parse(&format!(r#"{CONNECTOR_ARGS}, description = "Chat.""#));
        // The argument lists that are whole: the required keys given, cut at a boundary.
        let whole =
            [parse(CONNECTOR_ARGS).to_string(), parse(&format!("{CONNECTOR_ARGS},")).to_string(), args.to_string()];
        for (len, case) in truncations(&args).into_iter().enumerate() {
            let expect = if whole.contains(&case.to_string()) { Expect::Valid } else { Expect::Invalid };
            check(&format!("connector args cut at {len}: {case}"), Macro::Connector, case, item.clone(), expect);
        }
        let cases = truncations(&item);
        let last = cases.len() - 1;
        for (len, case) in cases.into_iter().enumerate() {
            let expect = if len == last { Expect::Valid } else { Expect::Unknown };
            check(&format!("connector item cut at {len}: {case}"), Macro::Connector, args.clone(), case, expect);
        }
        for job_args in [
            JOB_ARGS.to_owned(),
            r#"id = "post", name = "Post", version = "1.0.0", trigger = crate::Chat::message_received, integrations(chat = Chat, tracker = crate::Tracker), concurrency = 2, retry(max_attempts = 2)"#.to_owned(),
            r#"id = "post", name = "Post", version = "1.0.0", cron = "*/5 * * * *", integrations(chat = Chat)"#.to_owned(),
            r#"id = "post", name = "Post", version = "1.0.0", every = "30s", integrations(chat = Chat)"#.to_owned(),
        ] {
            let job_args = parse(&job_args);
            for (len, case) in truncations(&job_args).into_iter().enumerate() {
                check(&format!("job args cut at {len}: {case}"), Macro::Job, case, parse(JOB_ITEM), Expect::Unknown);
            }
            let cases = truncations(&parse(JOB_ITEM));
            let last = cases.len() - 1;
            for (len, case) in cases.into_iter().enumerate() {
                let expect = if len == last { Expect::Valid } else { Expect::Unknown };
                check(&format!("job item cut at {len}: {case}"), Macro::Job, job_args.clone(), case, expect);
            }
        }
        for (len, case) in truncations(&parse(EVENT_ITEM)).into_iter().enumerate() {
            check(&format!("event cut at {len}: {case}"), Macro::Event, TokenStream::new(), case, Expect::Unknown);
        }
    });
}

/// The examples above are what the tests take them for.
#[test]
fn valid_inputs_expand() {
    check(
        "the connector",
        Macro::Connector,
        parse(CONNECTOR_ARGS),
        connector_item(ACTION_ARGS, POLL_ARGS),
        Expect::Valid,
    );
    check("the job", Macro::Job, parse(JOB_ARGS), parse(JOB_ITEM), Expect::Valid);
    check("the event", Macro::Event, TokenStream::new(), parse(EVENT_ITEM), Expect::Valid);
}
