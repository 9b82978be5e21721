//! Bimodal results: repeats that fall into clearly separate groups.
//!
//! Some effects happen in some runs and not in others. The convoy is the example: an
//! I/O thread that loses the GIL to a CPU thread waits a switch interval (~5 ms) per
//! round trip, one that wins it back waits ~20 µs, and which of the two a run settles
//! into is decided early. A median of such runs describes neither, so the report names
//! the groups instead ("3 of 5 runs: p50 10.4 ms; 2 of 5: p50 19 µs").
//!
//! The rule is general, with no per-scenario case: sort the values, and split between
//! two neighbours wherever the larger is at least [`GAP_FACTOR`] times the smaller.
//! Each group keeps at least [`MIN_GROUP`] run — a single run with a gap of four
//! times on each side is a behaviour worth naming, not noise — and there are modes
//! only when that gives more than one group. Run-to-run noise in a latency median is
//! tens of percent, even on a busy machine; a factor of four leaves a wide margin.

use serde::Serialize;

/// The ratio between sorted neighbours that separates two groups.
pub const GAP_FACTOR: f64 = 4.0;

/// The smallest group; with one, a lone run far from the others is its own group.
pub const MIN_GROUP: usize = 1;

/// One group of repeats whose values lie close together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    /// Which repeats (0-based, in the order they ran) fall in it.
    pub repeats: Vec<usize>,
    /// The median of their values.
    pub median: f64,
    /// Their smallest value.
    pub min: f64,
    /// Their largest value.
    pub max: f64,
}

/// Splits `values` (one per repeat) into groups separated by gaps of at least
/// [`GAP_FACTOR`] times, smallest values first. Non-finite values are left out.
/// Always returns at least one group when a finite value exists.
pub fn groups(values: &[f64]) -> Vec<Group> {
    let mut order: Vec<usize> = (0..values.len())
        .filter(|&i| values[i].is_finite())
        .collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (k, &i) in order.iter().enumerate() {
        let split = k > 0 && {
            let (lo, hi) = (values[order[k - 1]], values[i]);
            hi > lo && hi >= GAP_FACTOR * lo
        };
        match out.last_mut() {
            Some(current) if !split || current.len() < MIN_GROUP => current.push(i),
            _ => out.push(vec![i]),
        }
    }
    out.into_iter()
        .map(|members| {
            let vals: Vec<f64> = members.iter().map(|&i| values[i]).collect();
            let mut repeats = members;
            repeats.sort_unstable();
            Group {
                repeats,
                median: super::stats::median(&vals).unwrap_or(0.0),
                min: vals[0],
                max: vals[vals.len() - 1],
            }
        })
        .collect()
}

/// The groups of `values` when there is more than one, else `None` (one behaviour).
pub fn modes(values: &[f64]) -> Option<Vec<Group>> {
    let g = groups(values);
    (g.len() > 1).then_some(g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn convoy_like_runs_split_in_two() {
        // p50s in µs: three runs paid the switch interval, two won the GIL back.
        let v = [10_400.0, 19.0, 10_350.0, 21.0, 10_500.0];
        let g = modes(&v).unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].repeats, vec![1, 3]);
        assert_eq!(g[0].median, 20.0);
        assert_eq!(g[1].repeats, vec![0, 2, 4]);
        assert_eq!(
            (g[1].min, g[1].median, g[1].max),
            (10_350.0, 10_400.0, 10_500.0)
        );
    }

    #[test]
    fn noise_is_one_group() {
        assert!(modes(&[1.55, 1.74, 1.99, 2.03, 2.06]).is_none());
        assert!(modes(&[100.0, 390.0]).is_none(), "3.9x is under the factor");
        assert_eq!(
            modes(&[100.0, 400.0]).unwrap().len(),
            2,
            "exactly the factor splits"
        );
        assert!(modes(&[]).is_none() && groups(&[]).is_empty());
        assert!(modes(&[5.0]).is_none());
        assert!(
            modes(&[0.0, 0.0, 0.0]).is_none(),
            "equal zeros do not split"
        );
    }

    #[test]
    fn three_groups_and_a_lone_run() {
        let g = modes(&[1.0, 1.1, 10.0, 11.0, 100.0]).unwrap();
        let sizes: Vec<usize> = g.iter().map(|g| g.repeats.len()).collect();
        assert_eq!(sizes, vec![2, 2, 1]);
        let g = groups(&[f64::NAN, 3.0, 3.1]);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].repeats, vec![1, 2], "NaN left out");
    }

    proptest! {
        #[test]
        fn groups_partition_and_are_ordered(v in prop::collection::vec(0.0f64..1e9, 0..40)) {
            let g = groups(&v);
            let mut all: Vec<usize> = g.iter().flat_map(|g| g.repeats.clone()).collect();
            all.sort_unstable();
            prop_assert_eq!(all, (0..v.len()).collect::<Vec<_>>());
            for pair in g.windows(2) {
                prop_assert!(pair[0].max < pair[1].min);
                prop_assert!(pair[1].min >= GAP_FACTOR * pair[0].max);
                prop_assert!(pair[0].median < pair[1].median);
            }
            for grp in &g {
                prop_assert!(grp.repeats.len() >= MIN_GROUP);
                prop_assert!(grp.min <= grp.median && grp.median <= grp.max);
                let mut vals: Vec<f64> = grp.repeats.iter().map(|&i| v[i]).collect();
                vals.sort_by(f64::total_cmp);
                for w in vals.windows(2) {
                    prop_assert!(!(w[1] > w[0] && w[1] >= GAP_FACTOR * w[0]), "no gap inside");
                }
            }
        }

        #[test]
        fn a_tight_set_is_one_group(
            base in 1.0f64..1e9,
            jitter in prop::collection::vec(0.0f64..1.5, 1..30),
        ) {
            // Every value within 2.5x of the smallest: no neighbour gap can reach 4x.
            let v: Vec<f64> = jitter.iter().map(|j| base * (1.0 + j)).collect();
            prop_assert_eq!(groups(&v).len(), 1);
            prop_assert!(modes(&v).is_none());
        }
    }
}
