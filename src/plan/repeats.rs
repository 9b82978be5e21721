//! `--runs` and `--warmup`: how many times each model runs, and the default rule.

use super::merge::count;
use super::InputError;
use std::time::Duration;

/// How many times each model runs: `--warmup` unmeasured runs, then the measured ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Repeats {
    /// `--runs N`, or `None` for the default rule ([`Repeats::measured`]).
    pub runs: Option<u32>,
    /// Unmeasured runs before the measured ones.
    pub warmup: u32,
}

impl Repeats {
    /// Fewest measured runs by default: a median of three is the least that can
    /// outvote one disturbed run.
    pub const MIN_RUNS: u32 = 3;
    /// Most measured runs by default.
    pub const MAX_RUNS: u32 = 10;
    /// Time the default rule lets one model's measured runs take, in all.
    pub const BUDGET: Duration = Duration::from_secs(1);
    /// The most `--runs` or `--warmup` accepts.
    pub const LIMIT: i64 = 10_000;

    /// Measured runs in all, given how long the first one took (hyperfine's rule):
    /// `--runs` when given; else as many as fit in [`Repeats::BUDGET`], at least
    /// [`Repeats::MIN_RUNS`] and at most [`Repeats::MAX_RUNS`].
    pub fn measured(&self, first: Duration) -> u32 {
        if let Some(n) = self.runs {
            return n;
        }
        let fit = Self::BUDGET.as_secs_f64() / first.as_secs_f64().max(1e-6);
        (fit.floor() as u32).clamp(Self::MIN_RUNS, Self::MAX_RUNS)
    }

    /// Reads `--runs` and `--warmup`.
    pub fn from_flags(runs: Option<i64>, warmup: Option<i64>) -> Result<Repeats, InputError> {
        let check = |flag: &str, n: i64, min: i64| {
            count(min, Self::LIMIT)(n)
                .map(|n| n as u32)
                .map_err(|e| InputError::flag(flag, e))
        };
        Ok(Repeats {
            runs: runs.map(|n| check("--runs", n, 1)).transpose()?,
            warmup: warmup
                .map(|n| check("--warmup", n, 0))
                .transpose()?
                .unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rule_and_flags() {
        let auto = Repeats::default();
        assert_eq!(auto.measured(Duration::from_secs(2)), Repeats::MIN_RUNS);
        assert_eq!(auto.measured(Duration::from_millis(200)), 5);
        assert_eq!(auto.measured(Duration::ZERO), Repeats::MAX_RUNS);
        let fixed = Repeats::from_flags(Some(7), None).unwrap();
        assert_eq!((fixed.measured(Duration::ZERO), fixed.warmup), (7, 0));
        let runs0 = Repeats::from_flags(Some(0), None).unwrap_err().to_string();
        assert_eq!(runs0, "--runs: must be between 1 and 10000, not 0");
        let warm = Repeats::from_flags(None, Some(-1)).unwrap_err().to_string();
        assert!(warm.starts_with("--warmup"), "{warm}");
        assert_eq!(Repeats::from_flags(None, Some(0)).unwrap().warmup, 0);
    }
}
