//! Durations as users write them: `"250ms"`, `"2s"`, `"1.5s"`, `"3m"`, `"1h"`.

/// `text` as whole milliseconds (rounded), or `None` if it is not a number and a unit, or is
/// negative, or does not fit a `u64`.
pub fn millis(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit.trim() {
        "ms" => 1.0,
        "s" => 1_000.0,
        "m" | "min" => 60_000.0,
        "h" => 3_600_000.0,
        _ => return None,
    };
    let millis = (number * scale).round();
    // `u64::MAX as f64` rounds up to 2^64, which does not fit: compare strictly below it.
    (millis.is_finite() && millis >= 0.0 && millis < u64::MAX as f64).then_some(millis as u64)
}

/// `millis` as the shortest exact text: `"1500ms"`, `"2s"`, `"5m"`, `"1h"`.
pub fn text(millis: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(3_600_000, "h"), (60_000, "m"), (1_000, "s")];
    for (scale, unit) in UNITS {
        if millis != 0 && millis.is_multiple_of(scale) {
            return format!("{}{unit}", millis / scale);
        }
    }
    format!("{millis}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(millis("250ms"), Some(250));
        assert_eq!(millis("2s"), Some(2000));
        assert_eq!(millis("1.5s"), Some(1500));
        assert_eq!(millis("3m"), Some(180_000));
        assert_eq!(millis(" 1h "), Some(3_600_000));
        assert_eq!(millis("0.4ms"), Some(0));
        for bad in ["", "s", "5", "5 parsecs", "10 parsecs", "-1s", "1.2.3s", "inf", "infs", "NaNs", "1e999s"] {
            assert_eq!(millis(bad), None, "{bad}");
        }
        let huge = format!("{}h", "9".repeat(400));
        assert_eq!(millis(&huge), None);
    }

    #[test]
    fn texts() {
        assert_eq!(text(0), "0ms");
        assert_eq!(text(1500), "1500ms");
        assert_eq!(text(2000), "2s");
        assert_eq!(text(300_000), "5m");
        assert_eq!(text(7_200_000), "2h");
    }
}
