//! Durations as scenario files, `--set` and flags write them: `5ms`, `250us`,
//! `1.5ms`, `2s`. A leaf: the plan, the workloads' parameters and the probes' flags
//! all read durations through [`parse_duration`], so they accept the same text.

use std::time::Duration;

/// Parses a duration: a non-negative number and a unit (`ns`, `us`/`µs`, `ms`, `s`,
/// `m`), as in `5ms`, `250us`, `1.5ms`, `2s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let why = || format!("`{text}` is not a duration (examples: 5ms, 250us, 2s)");
    if t.starts_with('-') {
        return Err(format!("`{text}`: a duration cannot be negative"));
    }
    let value: f64 = number.parse().map_err(|_| why())?;
    let unit_ns = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        _ => return Err(why()),
    };
    let ns = value * unit_ns;
    if !ns.is_finite() || ns > 1e18 {
        return Err(format!("`{text}` is too long"));
    }
    Ok(Duration::from_nanos(ns.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5ms"), Ok(Duration::from_millis(5)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("1.5ms"), Ok(Duration::from_micros(1500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("-5ms").unwrap_err().contains("negative"));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    use proptest::prelude::*;

    proptest! {
        /// Any text is a duration or a one-line reason, never a panic.
        #[test]
        fn any_text_is_a_duration_or_a_reason(text in ".{0,24}") {
            if let Err(why) = parse_duration(&text) {
                prop_assert!(!why.contains('\n') || text.contains('\n'));
            }
        }

        /// Whole numbers in every unit read back exactly.
        #[test]
        fn whole_numbers_round_trip(n in 0u64..1_000_000, unit in 0usize..5) {
            let (suffix, ns) = [("ns", 1u64), ("us", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000), ("m", 60_000_000_000)][unit];
            prop_assert_eq!(parse_duration(&format!("{n}{suffix}")), Ok(Duration::from_nanos(n * ns)));
        }

        /// Digits, dots and units in any order: never a panic, never a negative.
        #[test]
        fn number_like_text_never_panics(text in "[0-9.eE+-]{0,12}(ns|us|µs|ms|s|m|min|)") {
            let _ = parse_duration(&text);
        }
    }
}
