//! Statistics over repeated runs: median, extremes, mean, standard deviation.
//!
//! One run is not a measurement. A figure gilbench reports across repeats is their
//! median (robust to the one run a cron job disturbed), shown with its [`Spread`].
//! Times stay integer nanoseconds ([`Spread<u64>`]), as PRODUCT.md fixes them.

use serde::Serialize;

/// How a figure varied over repeats.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Spread<T> {
    /// Smallest value.
    pub min: T,
    /// Median: the middle value, or the mean of the two middle ones.
    pub median: T,
    /// Largest value.
    pub max: T,
    /// Arithmetic mean.
    pub mean: T,
    /// Sample standard deviation (n − 1 in the denominator; 0 for one value).
    pub stddev: T,
}

impl Spread<f64> {
    /// The spread of `values`; `None` when there are none or one is not finite.
    pub fn of(values: &[f64]) -> Option<Spread<f64>> {
        if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let mean = mean(&sorted)?;
        Some(Spread {
            min: sorted[0],
            median: median_sorted(&sorted)?,
            max: sorted[sorted.len() - 1],
            mean,
            stddev: stddev(&sorted)?,
        })
    }

    /// The spread of integer values (nanoseconds, counts), kept integral.
    pub fn of_u64(values: &[u64]) -> Option<Spread<u64>> {
        let floats: Vec<f64> = values.iter().map(|&v| v as f64).collect();
        Spread::of(&floats).map(Spread::rounded)
    }

    /// Rounded to whole numbers (for nanoseconds).
    pub fn rounded(self) -> Spread<u64> {
        let r = |v: f64| v.round().max(0.0) as u64;
        Spread {
            min: r(self.min),
            median: r(self.median),
            max: r(self.max),
            mean: r(self.mean),
            stddev: r(self.stddev),
        }
    }

    /// Standard deviation relative to the median (0 when the median is 0): the
    /// "coefficient of variation" the wide-spread warning looks at.
    pub fn relative_stddev(&self) -> f64 {
        if self.median == 0.0 {
            0.0
        } else {
            (self.stddev / self.median).abs()
        }
    }
}

impl Spread<u64> {
    /// As floats, for arithmetic.
    pub fn as_f64(&self) -> Spread<f64> {
        Spread {
            min: self.min as f64,
            median: self.median as f64,
            max: self.max as f64,
            mean: self.mean as f64,
            stddev: self.stddev as f64,
        }
    }
}

/// The median of `values` (any order); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    median_sorted(&sorted)
}

/// The median of integers, rounded to the nearest (halves up) when the count is even.
pub fn median_u64(values: &[u64]) -> Option<u64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        // Halved before adding so two values near u64::MAX cannot overflow.
        _ => {
            let (a, b) = (sorted[n / 2 - 1], sorted[n / 2]);
            Some(a / 2 + b / 2 + (a % 2 + b % 2).div_ceil(2))
        }
    }
}

/// The median of values already sorted ascending.
fn median_sorted(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The arithmetic mean; `None` when empty.
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The sample standard deviation (n − 1); 0 for a single value, `None` when empty.
pub fn stddev(values: &[f64]) -> Option<f64> {
    let m = mean(values)?;
    if values.len() < 2 {
        return Some(0.0);
    }
    let ss: f64 = values.iter().map(|v| (v - m) * (v - m)).sum();
    Some((ss / (values.len() - 1) as f64).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        let s = Spread::of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!((s.min, s.median, s.max, s.mean), (2.0, 4.5, 9.0, 5.0));
        // Sample variance 32 / 7.
        assert!((s.stddev - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        let one = Spread::of(&[3.0]).unwrap();
        assert_eq!((one.median, one.stddev), (3.0, 0.0));
        assert_eq!(Spread::of(&[]), None);
        assert_eq!(Spread::of(&[1.0, f64::NAN]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[]), None);
        assert_eq!(stddev(&[]), None);
    }

    #[test]
    fn integer_spread_stays_integral() {
        let s = Spread::of_u64(&[10, 30, 20, 41]).unwrap();
        assert_eq!((s.min, s.median, s.max, s.mean), (10, 25, 41, 25));
        assert_eq!(median_u64(&[1, 2]), Some(2), "1.5 rounds half up");
        assert_eq!(median_u64(&[5, 1, 3]), Some(3));
        assert_eq!(median_u64(&[u64::MAX, u64::MAX]), Some(u64::MAX));
        assert_eq!(median_u64(&[]), None);
        assert_eq!(s.as_f64().median, 25.0);
    }

    #[test]
    fn relative_stddev() {
        let s = Spread::of(&[9.0, 10.0, 11.0]).unwrap();
        assert!((s.relative_stddev() - 0.1).abs() < 1e-12);
        assert_eq!(Spread::of(&[0.0, 0.0]).unwrap().relative_stddev(), 0.0);
    }
}
