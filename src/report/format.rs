//! Human-readable numbers: durations with a unit chosen to fit, counts with
//! thousands separators, sizes (the one byte formatter, shared with the probes'
//! messages, lives beside the size parser in [`crate::scenario::size`]).

pub use crate::scenario::size::human_bytes as bytes;

/// `1234` ns → `1.23 µs`; three significant digits, the largest fitting unit.
pub fn duration_ns(ns: u64) -> String {
    if ns == 0 {
        return "0 ns".into();
    }
    let ns = ns as f64;
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    format!("{} {unit}", three_digits(value))
}

/// A rate such as `12.3k/s`.
pub fn rate(per_second: f64) -> String {
    let (value, suffix) = if per_second >= 1e9 {
        (per_second / 1e9, "G")
    } else if per_second >= 1e6 {
        (per_second / 1e6, "M")
    } else if per_second >= 1e3 {
        (per_second / 1e3, "k")
    } else {
        (per_second, "")
    };
    format!("{}{suffix}/s", three_digits(value))
}

/// `1234567` → `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn three_digits(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(duration_ns(12), "12.0 ns");
        assert_eq!(duration_ns(1_234), "1.23 µs");
        assert_eq!(duration_ns(5_150_000), "5.15 ms");
        assert_eq!(duration_ns(2_500_000_000), "2.50 s");
        assert_eq!(rate(26_000.0), "26.0k/s");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(12), "12");
    }
}
