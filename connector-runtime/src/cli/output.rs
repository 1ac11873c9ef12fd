//! What commands print: text for people or one JSON document for scripts on stdout,
//! diagnostics on stderr; aligned tables and durations.

use std::io::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::exit::CliError;

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    /// Text for people.
    Human,
    /// One JSON document on stdout.
    Json,
}

/// What a command produced: the JSON document and the text for people.
#[derive(Debug)]
pub(super) struct Report {
    pub(super) json: Value,
    pub(super) text: String,
}

impl Report {
    pub(super) fn new(json: Value, text: impl Into<String>) -> Self {
        Report { json, text: text.into() }
    }

    /// Prints the report on stdout in `format`.
    pub(super) fn print(&self, format: Format) {
        match format {
            Format::Human => stdout(&self.text),
            Format::Json => print_json(&self.json),
        }
    }
}

/// Prints `value` on stdout, pretty, as one document.
pub(super) fn print_json(value: &Value) {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    stdout(&text);
}

/// Writes `text` and a newline to stdout. A closed stdout (`app runs | head`) is not an error.
pub(super) fn stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let written = out.write_all(text.as_bytes()).and_then(|()| {
        if !text.ends_with('\n') {
            out.write_all(b"\n")?;
        }
        out.flush()
    });
    if let Err(error) = written
        && error.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: could not write to stdout: {error}");
    }
}

/// Prints a failure: the message on stderr, and with `--json` the error document on stdout.
pub(super) fn print_error(error: &CliError, format: Format) {
    eprintln!("error: {}", error.message());
    if format == Format::Json {
        print_json(&error.to_json());
    }
}

/// A table whose columns line up: every column but the last is padded to its widest cell. A
/// note is a line under the row before it, indented, not counted in the widths.
#[derive(Debug, Default)]
pub(super) struct Table {
    lines: Vec<Line>,
}

#[derive(Debug)]
enum Line {
    Row(Vec<String>),
    Note(String),
}

impl Table {
    pub(super) fn new<const N: usize>(headers: [&str; N]) -> Self {
        let mut table = Table::default();
        table.lines.push(Line::Row(headers.iter().map(|h| (*h).to_owned()).collect()));
        table
    }

    pub(super) fn row(&mut self, cells: Vec<String>) {
        self.lines.push(Line::Row(cells));
    }

    pub(super) fn note(&mut self, text: String) {
        self.lines.push(Line::Note(text));
    }

    pub(super) fn render(&self, indent: &str) -> String {
        let mut widths: Vec<usize> = Vec::new();
        for line in &self.lines {
            if let Line::Row(cells) = line {
                for (i, cell) in cells.iter().enumerate() {
                    let width = cell.chars().count();
                    match widths.get_mut(i) {
                        Some(w) => *w = (*w).max(width),
                        None => widths.push(width),
                    }
                }
            }
        }
        let mut out = String::new();
        for line in &self.lines {
            out.push_str(indent);
            match line {
                Line::Row(cells) => {
                    let last = cells.len().saturating_sub(1);
                    for (i, cell) in cells.iter().enumerate() {
                        if i == last {
                            out.push_str(cell);
                        } else {
                            out.push_str(cell);
                            let pad = widths[i] - cell.chars().count() + 2;
                            out.extend(std::iter::repeat_n(' ', pad));
                        }
                    }
                }
                Line::Note(text) => {
                    out.push_str("    ");
                    out.push_str(text);
                }
            }
            // Padding before an empty last cell is trailing space.
            let trimmed = out.trim_end_matches(' ').len();
            out.truncate(trimmed);
            out.push('\n');
        }
        out
    }
}

/// `850ms`, `2.81s`, `3m05s`, `1h02m`.
pub(super) fn duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1_000 {
        format!("{millis}ms")
    } else if millis < 60_000 && millis.is_multiple_of(1_000) {
        format!("{}s", millis / 1_000)
    } else if millis < 60_000 {
        format!("{:.2}s", duration.as_secs_f64())
    } else if millis < 3_600_000 {
        let secs = duration.as_secs();
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        let mins = duration.as_secs() / 60;
        format!("{}h{:02}m", mins / 60, mins % 60)
    }
}

/// The time from `from` to `to`, when `to` is not before it.
pub(super) fn between(from: DateTime<Utc>, to: DateTime<Utc>) -> Option<Duration> {
    (to - from).to_std().ok()
}

/// `2026-05-04 09:14:03` (UTC).
pub(super) fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// JSON on one line, shortened to `max` characters.
pub(super) fn compact(value: &Value, max: usize) -> String {
    let text = value.to_string();
    if text.chars().count() <= max {
        return text;
    }
    let mut short: String = text.chars().take(max.saturating_sub(1)).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(Duration::from_millis(850)), "850ms");
        assert_eq!(duration(Duration::from_millis(2_814)), "2.81s");
        assert_eq!(duration(Duration::from_secs(10)), "10s");
        assert_eq!(duration(Duration::from_secs(185)), "3m05s");
        assert_eq!(duration(Duration::from_secs(3_720)), "1h02m");
    }

    #[test]
    fn tables_line_up_and_notes_do_not_widen_them() {
        let mut table = Table::new(["ID", "STATUS", "NOTE"]);
        table.row(vec!["a".into(), "succeeded".into(), String::new()]);
        table.note("a long note that does not change the widths".into());
        table.row(vec!["abcdef".into(), "failed".into(), "x".into()]);
        assert_eq!(
            table.render(""),
            "ID      STATUS     NOTE\n\
             a       succeeded\n    \
             a long note that does not change the widths\n\
             abcdef  failed     x\n"
        );
    }

    #[test]
    fn long_json_is_shortened() {
        let value = serde_json::json!({ "text": "x".repeat(100) });
        let short = compact(&value, 20);
        assert_eq!(short.chars().count(), 20);
        assert!(short.ends_with('…'));
    }
}
