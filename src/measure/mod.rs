//! Measurement: latency histograms, resource-usage deltas, and the machine (and its load).
//!
//! Everything timed in gilbench is recorded in nanoseconds into an HdrHistogram with
//! three significant digits, so a p99.9 is as trustworthy as a mean and per-worker
//! histograms merge exactly.

pub mod clock;
pub mod load;
pub mod modes;
pub mod pin;
pub mod procfs;
mod rusage;
pub mod stats;

pub use rusage::{Rusage, RusageDelta};

use serde::{Deserialize, Serialize};

/// A latency histogram in nanoseconds.
pub type Histogram = hdrhistogram::Histogram<u64>;

/// An empty histogram: nanoseconds at three significant digits.
///
/// It starts small and grows to the largest value recorded (HdrHistogram's
/// auto-resize), once per new power of two, never in steady state. Not for a
/// histogram written while the simulated GIL is held: see
/// [`new_histogram_for_a_minute`].
pub fn new_histogram() -> Histogram {
    Histogram::new(3).expect("three significant digits are valid")
}

/// An empty histogram already wide enough for a minute (2^36 ns), so that
/// recording anything shorter never grows it: for the histograms a worker writes
/// while it holds the simulated GIL (its GIL waits, its op latencies).
///
/// Growing is a `realloc` of the count array, often an `mmap` and a `munmap`
/// (whose TLB shootdown interrupts the other CPU), on the one thread every other
/// waits for — a cost that is gilbench's, not CPython's. Under a thousand
/// threads it was not negligible: each worker's first GIL wait is its longest,
/// so each grew its histogram on its first turn with the GIL, and that alone
/// held the GIL long enough for the waiters' drop requests to force threads off
/// it mid-step (issue #15). The array is ~200 KB a worker, about half of it
/// resident: a thousand workers' run peaks at 477 MB instead of 380.
pub fn new_histogram_for_a_minute() -> Histogram {
    let mut hist = Histogram::new_with_bounds(1, 1 << 36, 3)
        .expect("a minute at three significant digits is a valid range");
    hist.auto(true);
    hist
}

/// Records `ns` into `hist`, growing it if needed. Values beyond what any
/// histogram can hold (over ~2^62 ns) are clamped rather than lost.
#[inline]
pub fn record(hist: &mut Histogram, ns: u64) {
    if hist.record(ns).is_err() {
        hist.saturating_record(ns);
    }
}

/// A latency summary as PRODUCT.md fixes it: integer nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of samples.
    pub count: u64,
    /// Smallest sample.
    pub min: u64,
    /// Mean, rounded to the nearest ns.
    pub mean: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest sample.
    pub max: u64,
}

impl Summary {
    /// The field-by-field median of summaries from repeated runs, the count too:
    /// a row of medians reads like one typical run (its `ops` is a median as well).
    pub fn median_of(runs: &[Summary]) -> Summary {
        let m = |f: fn(&Summary) -> u64| {
            stats::median_u64(&runs.iter().map(f).collect::<Vec<_>>()).unwrap_or(0)
        };
        Summary {
            count: m(|s| s.count),
            min: m(|s| s.min),
            mean: m(|s| s.mean),
            p50: m(|s| s.p50),
            p90: m(|s| s.p90),
            p99: m(|s| s.p99),
            p999: m(|s| s.p999),
            max: m(|s| s.max),
        }
    }

    /// Summarises `hist`; all zeros when it is empty.
    pub fn of(hist: &Histogram) -> Summary {
        if hist.is_empty() {
            return Summary::default();
        }
        Summary {
            count: hist.len(),
            min: hist.min(),
            mean: hist.mean().round() as u64,
            p50: hist.value_at_quantile(0.50),
            p90: hist.value_at_quantile(0.90),
            p99: hist.value_at_quantile(0.99),
            p999: hist.value_at_quantile(0.999),
            max: hist.max(),
        }
    }
}

/// Nanoseconds in a duration, saturating at `u64::MAX`.
pub fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Serialises a histogram in HdrHistogram's V2 format (for crossing a process boundary).
pub fn histogram_to_bytes(hist: &Histogram) -> Vec<u8> {
    let mut out = Vec::new();
    use hdrhistogram::serialization::Serializer;
    hdrhistogram::serialization::V2Serializer::new()
        .serialize(hist, &mut out)
        .expect("serialising into a Vec cannot fail");
    out
}

/// Reads a V2-serialised histogram.
pub fn histogram_from_bytes(bytes: &[u8]) -> std::io::Result<Histogram> {
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut std::io::Cursor::new(bytes))
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{e:?}")))
}

/// The machine a report was measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPUs this process may run on.
    pub cpus: usize,
    /// Kernel release (`uname -r`).
    pub kernel: String,
    /// How busy the machine was while gilbench measured (absent where not watched).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<load::Load>,
}

impl Machine {
    /// Reads the current machine.
    pub fn current() -> Machine {
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel: nix::sys::utsname::uname()
                .map(|u| u.release().to_string_lossy().into_owned())
                .unwrap_or_else(|_| "unknown".into()),
            load: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minute_fits_without_growing() {
        let mut hist = new_histogram_for_a_minute();
        let slots = hist.distinct_values();
        for ns in [0, 1, 1_000, 5_000_000, 59_000_000_000, (1 << 36) - 1] {
            record(&mut hist, ns);
        }
        assert_eq!(hist.distinct_values(), slots, "it grew, under the GIL");
    }

    #[test]
    fn summary_and_roundtrip() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            record(&mut h, v * 1000);
        }
        let s = Summary::of(&h);
        assert_eq!(s.count, 1000);
        assert!((499_000..=501_000).contains(&s.p50), "{s:?}");
        assert!(s.max >= 999_000);
        let back = histogram_from_bytes(&histogram_to_bytes(&h)).unwrap();
        assert_eq!(Summary::of(&back), s);
        assert_eq!(Summary::of(&new_histogram()), Summary::default());
    }
}
