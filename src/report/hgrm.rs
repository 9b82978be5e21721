//! `--hgrm DIR`: HdrHistogram percentile-distribution files, one per model.
//!
//! The format is the one Java's `AbstractHistogram.outputPercentileDistribution`
//! prints and HdrHistogram's plotter (`plotFiles.html`) and HistogramLogAnalyzer
//! read:
//!
//! ```text
//!        Value     Percentile TotalCount 1/(1-Percentile)
//!
//!     5.013247 0.000000000000          1           1.00
//!     …
//!    29.622271 1.000000000000         80
//! #[Mean    =     5.123000, StdDeviation   =     2.000000]
//! #[Max     =    29.622271, Total count    =           80]
//! #[Buckets =           32, SubBuckets     =         2048]
//! ```
//!
//! Values are in **milliseconds** (Java's `outputValueUnitScalingRatio` of 10⁶ for
//! nanosecond histograms, the unit the plotter's axis is labelled with), printed
//! with six decimals so nanosecond-sized latencies are not rounded away. The rows
//! come from `iter_quantiles` with 5 ticks per half distance, like Java's default;
//! the hdrhistogram crate has no text writer (its `examples/cli.rs` shows the loop).
//!
//! Files are created before measuring starts ([`HgrmDir::create`]), so a bad
//! directory fails at once with exit code 2, and written after.

use crate::measure::Histogram;
use crate::output::atomic::AtomicFile;
use crate::plan::InputError;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Nanoseconds per output unit (milliseconds).
const SCALE: f64 = 1e6;
/// Iteration steps per halving of the distance to 100%, as Java's default.
const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// The percentile distribution of `hist` in the standard text format.
pub fn render(hist: &Histogram) -> Vec<u8> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    for step in hist.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
        total += step.count_since_last_iteration();
        let value = step.value_iterated_to() as f64 / SCALE;
        let quantile = step.quantile_iterated_to();
        if quantile < 1.0 {
            let _ = writeln!(
                out,
                "{value:12.6} {quantile:2.12} {total:10} {:14.2}",
                1.0 / (1.0 - quantile)
            );
        } else {
            let _ = writeln!(out, "{value:12.6} {quantile:2.12} {total:10}");
        }
    }
    let (mean, stdev, max) = if hist.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (
            hist.mean() / SCALE,
            hist.stdev() / SCALE,
            hist.max() as f64 / SCALE,
        )
    };
    let _ = writeln!(
        out,
        "#[Mean    = {mean:12.6}, StdDeviation   = {stdev:12.6}]"
    );
    let _ = writeln!(
        out,
        "#[Max     = {max:12.6}, Total count    = {:12}]",
        hist.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        hist.buckets(),
        sub_buckets(hist.sigfig())
    );
    out.into_bytes()
}

/// Java's `subBucketCount`: the power of two that holds `2 × 10^sigfig` (2048 for
/// three significant digits); the crate does not expose it.
fn sub_buckets(sigfig: u8) -> u64 {
    (2 * 10u64.pow(u32::from(sigfig))).next_power_of_two()
}

/// The `--hgrm` directory, checked before measuring.
#[derive(Debug)]
pub struct HgrmDir {
    dir: PathBuf,
    /// Whether this run created the directory (then a run that writes nothing
    /// removes it again).
    created: bool,
    written: std::cell::Cell<bool>,
}

impl HgrmDir {
    /// Creates `dir` if needed — only its last component: a missing parent is a
    /// typo, not a request for a tree — and proves it writable (an unnamed
    /// temporary file), so a bad directory fails before any work. The files
    /// themselves are named after the runs, which a workload with variants knows
    /// only at the end.
    pub fn create(dir: &Path) -> Result<HgrmDir, InputError> {
        let bad = |message: String| InputError::Flag {
            flag: "--hgrm".into(),
            message,
        };
        let created = match std::fs::create_dir(dir) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => false,
            Err(e) => {
                return Err(bad(format!(
                    "cannot create directory {}: {e}",
                    dir.display()
                )))
            }
        };
        if let Err(e) = tempfile::tempfile_in(dir) {
            if created {
                let _ = std::fs::remove_dir(dir);
            }
            return Err(bad(format!("cannot write in {}: {e}", dir.display())));
        }
        Ok(HgrmDir {
            dir: dir.to_path_buf(),
            created,
            written: std::cell::Cell::new(false),
        })
    }

    /// Writes `SCENARIO-LABEL.hgrm` for each `(label, histogram)`, each renamed into
    /// place whole ([`AtomicFile`]); returns the paths. Runs without a histogram
    /// (CPython rows carry only a summary) are skipped.
    pub fn write(
        &self,
        scenario: &str,
        runs: &[(String, &Histogram)],
    ) -> std::io::Result<Vec<PathBuf>> {
        self.written.set(true);
        let mut written = Vec::new();
        for (label, hist) in runs {
            if hist.is_empty() {
                continue;
            }
            let path = self.dir.join(file_name(scenario, label));
            let file = AtomicFile::create("--hgrm", &path).map_err(std::io::Error::other)?;
            written.push(file.commit(&render(hist))?);
        }
        Ok(written)
    }
}

impl Drop for HgrmDir {
    /// A directory this run created stays only if the run wrote into it.
    fn drop(&mut self) {
        if self.created && !self.written.get() {
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

/// `cpu-bound-gil.hgrm`; anything but `[A-Za-z0-9._-]` becomes `_`.
pub fn file_name(scenario: &str, model: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!("{}-{}.hgrm", clean(scenario), clean(model))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::new_histogram;

    #[test]
    fn standard_layout() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.record(v * 1_000).unwrap(); // 1 µs … 1 ms
        }
        let text = String::from_utf8(render(&h)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "       Value     Percentile TotalCount 1/(1-Percentile)"
        );
        assert_eq!(lines[1], "");
        // First data row: the minimum, 1 µs = 0.001 ms, percentile 0.
        let first: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(first[0], "0.001000");
        assert_eq!(first[1], "0.000000000000");
        assert_eq!(first[2], "1");
        // The last data row is the maximum at percentile 1 with no 1/(1-p) column.
        let data: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| !l.starts_with('#'))
            .collect();
        let last: Vec<&str> = data.last().unwrap().split_whitespace().collect();
        assert_eq!(last.len(), 3, "{last:?}");
        assert_eq!(last[1], "1.000000000000");
        assert_eq!(last[2], "1000");
        assert!((last[0].parse::<f64>().unwrap() - 1.0).abs() < 0.001);
        // Percentiles rise monotonically; every middle row has four columns.
        let mut previous = -1.0;
        for row in &data[2..data.len() - 1] {
            let cols: Vec<&str> = row.split_whitespace().collect();
            assert_eq!(cols.len(), 4, "{row}");
            let p: f64 = cols[1].parse().unwrap();
            assert!(p >= previous);
            previous = p;
        }
        assert!(text.contains("#[Mean    =     0.500"), "{text}");
        assert!(text.contains("Total count    =         1000]"), "{text}");
        assert!(lines.last().unwrap().starts_with("#[Buckets = "));
        assert!(lines
            .last()
            .unwrap()
            .ends_with("SubBuckets     =         2048]"));
    }

    #[test]
    fn empty_histogram_still_has_header_and_footer() {
        let text = String::from_utf8(render(&new_histogram())).unwrap();
        assert!(text.starts_with("       Value"));
        assert!(text.contains("Total count    =            0]"));
    }

    #[test]
    fn names_are_safe() {
        assert_eq!(file_name("cpu-bound", "gil"), "cpu-bound-gil.hgrm");
        assert_eq!(file_name("my file", "a/b"), "my_file-a_b.hgrm");
        assert_eq!(
            file_name("fork-cow", "processes read-refcounted"),
            "fork-cow-processes_read-refcounted.hgrm"
        );
    }

    #[test]
    fn directory_is_checked_then_written() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = HgrmDir::create(&tmp.path().join("new")).unwrap();
        assert_eq!(
            std::fs::read_dir(tmp.path().join("new")).unwrap().count(),
            0
        );
        let mut h = new_histogram();
        h.record(1_000).unwrap();
        let empty = new_histogram();
        let written = dir
            .write(
                "s",
                &[("gil".into(), &h), ("cpython-threads".into(), &empty)],
            )
            .unwrap();
        assert_eq!(written, vec![tmp.path().join("new/s-gil.hgrm")]);
        let file = tmp.path().join("f");
        std::fs::write(&file, "").unwrap();
        assert!(HgrmDir::create(&file.join("x")).is_err());
    }

    #[test]
    fn only_the_last_component_is_created_and_removed_if_unused() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(HgrmDir::create(&tmp.path().join("deep/dir")).is_err());
        assert!(!tmp.path().join("deep").exists());
        drop(HgrmDir::create(&tmp.path().join("new")).unwrap());
        assert!(!tmp.path().join("new").exists(), "unused new dir removed");
        std::fs::create_dir(tmp.path().join("old")).unwrap();
        drop(HgrmDir::create(&tmp.path().join("old")).unwrap());
        assert!(tmp.path().join("old").is_dir(), "an existing dir stays");
    }
}
