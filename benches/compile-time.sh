#!/usr/bin/env bash
# (4) Compile time of a connector with 50 actions written with the macros against the same
# connector written by hand against the runtime's traits (`Connector`, `ConnectorMembers`, one
# `ActionFn` impl per action, a typed client struct: what the macro generates, written out), plus
# the macro crate's own build time and dependency tree.
#
# It generates two throwaway crates in a temp dir, depending on this workspace's
# connector-runtime by path, sharing one CARGO_TARGET_DIR inside the temp dir, and measures with
# the dev profile (what an edit-compile loop uses):
#
# - cold: `cargo build -p <crate>` after `cargo clean -p <crate>`: the generated crate alone,
#   its dependencies (connector-runtime, serde, schemars, ...) already built;
# - incremental: `cargo build -p <crate>` after editing the body of one action (action 25);
# - the macro crate: `cargo build -p connector-macros` in a fresh target dir (with syn, darling,
#   quote and proc-macro2), and again after `cargo clean -p connector-macros` (the crate alone).
#
# Each measure is repeated REPEAT times (default 5), alternating the two crates; medians are
# reported. The machine has 2 cores and may be shared: run it when nothing else builds.
#
#   bash benches/compile-time.sh            # ACTIONS=50 REPEAT=5 KEEP=1 (keep the temp dir)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ACTIONS="${ACTIONS:-50}"
REPEAT="${REPEAT:-5}"
WORK="$(mktemp -d)"
if [[ -z "${KEEP:-}" ]]; then trap 'rm -rf "$WORK"' EXIT; else echo "keeping $WORK"; fi
export CARGO_TARGET_DIR="$WORK/target"
export CARGO_TERM_COLOR=never
LAST_ACTION=$((ACTIONS - 1))
EDITED=$((ACTIONS / 2))

# ------------------------------------------------------------------------------------------
# The generated workspace

mkdir -p "$WORK/with-macros/src" "$WORK/by-hand/src"
cat > "$WORK/Cargo.toml" <<EOF
[workspace]
resolver = "3"
members = ["with-macros", "by-hand"]

[workspace.dependencies]
connector-runtime = { path = "$ROOT/connector-runtime" }
serde = { version = "1", features = ["derive"] }
schemars = { version = "1", features = ["chrono04"] }
EOF
# The same versions as the workspace resolved.
cp "$ROOT/Cargo.lock" "$WORK/Cargo.lock"
for crate in with-macros by-hand; do
  cat > "$WORK/$crate/Cargo.toml" <<EOF
[package]
name = "$crate"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
connector-runtime.workspace = true
serde.workspace = true
schemars.workspace = true
EOF
done

# What both crates share: the config, the connector type, 50 input and 50 output types.
common() {
  cat <<'EOF'
use connector_runtime::prelude::*;

/// Config of the wide connector.
#[derive(Deserialize, JsonSchema)]
pub struct WideConfig {
    /// Sent as a bearer token.
    pub api_key: Secret,
    /// Where the API lives.
    pub base_url: String,
}

/// A connector with many actions.
pub struct Wide;
EOF
  for i in $(seq 0 "$LAST_ACTION"); do
    cat <<EOF

/// Input of action $i.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct In$i {
    /// The channel.
    pub channel: String,
    /// The text.
    pub text: String,
    /// How many.
    pub count: u32,
    /// Tags.
    pub tags: Vec<String>,
    /// An optional note.
    pub note: Option<String>,
}

/// Output of action $i.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Out$i {
    /// The new item's id.
    pub id: String,
    /// When it was created.
    pub created_at: String,
    /// How many.
    pub count: u32,
}
EOF
  done
}

# The action's body; `$2` is the path it posts to, the one edit of the incremental measure.
body() {
  cat <<EOF
        let config = ctx.config();
        ctx.http().post(format!("{}$2", config.base_url)).bearer_auth(&config.api_key).json(&input).send_json().await
EOF
}

gen_with_macros() { # $1: the path action $EDITED posts to
  common
  echo
  echo '#[connector(id = "wide", name = "Wide", version = "1.0.0", config = WideConfig)]'
  echo 'impl Wide {'
  for i in $(seq 0 "$LAST_ACTION"); do
    local path="/a$i"; [[ $i == "$EDITED" ]] && path="$1"
    cat <<EOF
    /// Action $i: posts the input to \`/a$i\`.
    #[action(id = "action$i", name = "Action $i")]
    pub async fn action_$i(ctx: &ActionContext<WideConfig>, input: In$i) -> Result<Out$i, ActionError> {
$(body "$i" "$path")
    }
EOF
  done
  echo '}'
}

gen_by_hand() { # $1: the path action $EDITED posts to
  common
  cat <<'EOF'

use connector_runtime::__private::{ActionFn, ActionManifest, ConnectorMembers, MemberVisitor, TriggerManifest};
use connector_runtime::{ActionContext, ActionOf, Connector, Integration, Io, RetryPolicy, StepError};

impl Wide {
    /// An instance of the connector with this config, to register with the engine.
    pub fn init(config: WideConfig) -> Integration<Wide> {
        Integration::new(config)
    }
}

/// The typed client of [`Wide`]: one method per action, each run as a step of the job's run.
#[derive(Clone, Copy)]
pub struct WideClient<'io> {
    io: &'io Io,
    integration: &'io Integration<Wide>,
    retry: Option<RetryPolicy>,
}

impl WideClient<'_> {
    /// This client with a retry policy for its calls.
    pub fn with_retry(self, policy: RetryPolicy) -> Self {
        WideClient { retry: Some(policy), ..self }
    }
}

impl Connector for Wide {
    type Config = WideConfig;
    const ID: &'static str = "wide";
    const NAME: &'static str = "Wide";
    const VERSION: &'static str = "1.0.0";
    const DESCRIPTION: &'static str = "A connector with many actions.";
    const TYPE_NAME: &'static str = "Wide";

    fn actions() -> Vec<ActionManifest> {
        vec![
EOF
  for i in $(seq 0 "$LAST_ACTION"); do echo "            ActionManifest::of::<ActionOf<Wide, $i>>(),"; done
  cat <<'EOF'
        ]
    }

    fn triggers() -> Vec<TriggerManifest> {
        Vec::new()
    }
}

impl ConnectorMembers for Wide {
EOF
  echo "    const ACTIONS: &'static [u64] = &[$(seq -s ', ' 0 "$LAST_ACTION")];"
  cat <<'EOF'
    const TRIGGERS: &'static [u64] = &[];
    type Client<'io> = WideClient<'io>;

    fn client<'io>(io: &'io Io, integration: &'io Integration<Self>) -> WideClient<'io> {
        WideClient { io, integration, retry: None }
    }

    fn visit<V: MemberVisitor<Self>>(visitor: &mut V) {
EOF
  for i in $(seq 0 "$LAST_ACTION"); do echo "        visitor.action::<$i>();"; done
  cat <<'EOF'
    }
}
EOF
  for i in $(seq 0 "$LAST_ACTION"); do
    local path="/a$i"; [[ $i == "$EDITED" ]] && path="$1"
    cat <<EOF

impl ActionFn<$i> for Wide {
    type Input = In$i;
    type Output = Out$i;
    const ID: &'static str = "action$i";
    const NAME: &'static str = "Action $i";
    const DESCRIPTION: &'static str = "Action $i: posts the input to \`/a$i\`.";

    async fn run(ctx: &ActionContext<WideConfig>, input: In$i) -> Result<Out$i, ActionError> {
$(body "$i" "$path")
    }
}

impl WideClient<'_> {
    /// Action $i: posts the input to \`/a$i\`.
    pub async fn action_$i(&self, key: &str, input: In$i) -> Result<Out$i, StepError> {
        self.io.call_with::<ActionOf<Wide, $i>>(self.integration, key, input, self.retry).await
    }
}
EOF
  done
}

write_sources() { # $1: the path action $EDITED posts to
  gen_with_macros "$1" > "$WORK/with-macros/src/lib.rs"
  gen_by_hand "$1" > "$WORK/by-hand/src/lib.rs"
}

# ------------------------------------------------------------------------------------------
# Measuring

now() { date +%s.%N; }
# Prints the seconds `cargo build` of the given args takes; fails loudly if the build fails.
timed_build() {
  local start end
  start=$(now)
  if ! cargo build --manifest-path "$WORK/Cargo.toml" --quiet "$@" 2> "$WORK/build.log"; then
    cat "$WORK/build.log" >&2
    echo "build failed: cargo build $*" >&2
    exit 1
  fi
  end=$(now)
  echo "$end - $start" | bc -l
}
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
fmt() { printf '%.2f s' "$1"; }
ratio() { printf '%.2fx' "$(echo "$1 / $2" | bc -l)"; }
met() { if (( $(echo "$1 <= $2" | bc -l) )); then echo yes; else echo NO; fi; }

echo "generated crates: $ACTIONS actions each, in $WORK (rustc $(rustc --version | cut -d' ' -f2), $(nproc) cores)"
write_sources "/a$EDITED"
echo "building the dependencies once (not measured)..."
cargo build --manifest-path "$WORK/Cargo.toml" --quiet -p with-macros -p by-hand
echo "lines of source: with macros $(wc -l < "$WORK/with-macros/src/lib.rs"), by hand $(wc -l < "$WORK/by-hand/src/lib.rs")"

declare -A COLD INCR
for crate in with-macros by-hand; do COLD[$crate]=""; INCR[$crate]=""; done
for round in $(seq 1 "$REPEAT"); do
  for crate in with-macros by-hand; do
    cargo clean --manifest-path "$WORK/Cargo.toml" --quiet -p "$crate"
    COLD[$crate]+="$(timed_build -p "$crate") "
  done
done
for round in $(seq 1 "$REPEAT"); do
  # Each round edits action $EDITED's body (alternating between two paths), then rebuilds.
  if (( round % 2 )); then write_sources "/a$EDITED/v2"; else write_sources "/a$EDITED"; fi
  for crate in with-macros by-hand; do
    INCR[$crate]+="$(timed_build -p "$crate") "
  done
done
echo "cold runs (s): with macros ${COLD[with-macros]}| by hand ${COLD[by-hand]}"
echo "incremental runs (s): with macros ${INCR[with-macros]}| by hand ${INCR[by-hand]}"

cold_m=$(tr ' ' '\n' <<< "${COLD[with-macros]}" | grep . | median)
cold_h=$(tr ' ' '\n' <<< "${COLD[by-hand]}" | grep . | median)
incr_m=$(tr ' ' '\n' <<< "${INCR[with-macros]}" | grep . | median)
incr_h=$(tr ' ' '\n' <<< "${INCR[by-hand]}" | grep . | median)

# The macro crate: from nothing (its dependencies too), then alone.
export CARGO_TARGET_DIR="$WORK/macro-target"
MACRO_FULL=""; MACRO_ALONE=""
for round in $(seq 1 "$REPEAT"); do
  rm -rf "$CARGO_TARGET_DIR"
  MACRO_FULL+="$(cd "$ROOT" && start=$(now) && cargo build --quiet -p connector-macros && echo "$(now) - $start" | bc -l) "
  cargo clean --manifest-path "$ROOT/Cargo.toml" --quiet -p connector-macros
  MACRO_ALONE+="$(cd "$ROOT" && start=$(now) && cargo build --quiet -p connector-macros && echo "$(now) - $start" | bc -l) "
done
macro_full=$(tr ' ' '\n' <<< "$MACRO_FULL" | grep . | median)
macro_alone=$(tr ' ' '\n' <<< "$MACRO_ALONE" | grep . | median)

echo
echo "| build (dev profile, median of $REPEAT) | with macros | by hand | ratio | target | met? |"
echo "|---|---|---|---|---|---|"
echo "| cold: the generated crate, dependencies built | $(fmt "$cold_m") | $(fmt "$cold_h") | $(ratio "$cold_m" "$cold_h") | <= 1.25x | $(met "$(echo "$cold_m / $cold_h" | bc -l)" 1.25) |"
echo "| incremental: after editing action $EDITED | $(fmt "$incr_m") | $(fmt "$incr_h") | $(ratio "$incr_m" "$incr_h") | <= 1.1x | $(met "$(echo "$incr_m / $incr_h" | bc -l)" 1.1) |"
echo
echo "| connector-macros (dev profile, median of $REPEAT) | time |"
echo "|---|---|"
echo "| cold, with its dependencies (fresh target dir) | $(fmt "$macro_full") |"
echo "| cold, the crate alone (dependencies built) | $(fmt "$macro_alone") |"
echo
echo "cargo tree -p connector-macros -e normal:"
(cd "$ROOT" && cargo tree -p connector-macros -e normal --format '{p}' | sed 's/ (.*)$//')
