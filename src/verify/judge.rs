//! The verdict: does a simulated figure agree with the real interpreters' figures?
//!
//! Pure functions over numbers, so the rules are tested without running anything.
//! A figure is the value of one metric in each repeat ([`Figure`]). A check's
//! [`Tolerance`] says what "agrees" means for it; [`judge`] applies it to the
//! simulated figure and each interpreter's, and says `inconclusive` rather than
//! `differs` when the repeats themselves disagree or the machine was too busy for
//! a timing figure to mean anything.

use crate::measure::stats::Spread;
use serde::Serialize;

/// One metric, one value per repeat.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// The per-repeat values, in the order they ran.
    pub samples: Vec<f64>,
}

impl Figure {
    /// The figure of `samples` (non-finite values dropped).
    pub fn new(samples: Vec<f64>) -> Figure {
        Figure {
            samples: samples.into_iter().filter(|v| v.is_finite()).collect(),
        }
    }

    /// Median, min, max and so on; `None` without samples.
    pub fn spread(&self) -> Option<Spread<f64>> {
        Spread::of(&self.samples)
    }

    /// The median; `None` without samples.
    pub fn median(&self) -> Option<f64> {
        self.spread().map(|s| s.median)
    }
}

/// What "agrees" means for one check. Each check writes its own beside it, with
/// the reason for its width.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tolerance {
    /// The medians differ by at most this much.
    Within(f64),
    /// The medians are within this factor of each other (both positive).
    Factor(f64),
    /// Both fall on the same side of `threshold`: the behaviour, not the amount,
    /// is compared (`above` and `below` name the two behaviours).
    Class {
        /// The boundary between the two behaviours.
        threshold: f64,
        /// What a value above it means ("loses updates").
        above: &'static str,
        /// What a value at or below it means ("loses none").
        below: &'static str,
    },
}

impl Tolerance {
    /// The rule in a few characters, for the table and JSON: `±0.35`, `×/÷1.3`, `> 0.001`.
    pub fn rule(&self) -> String {
        match self {
            Tolerance::Within(d) => format!("±{d}"),
            Tolerance::Factor(f) => format!("×/÷{f}"),
            Tolerance::Class {
                threshold, above, ..
            } => format!("same side of {threshold} ({above} or not)"),
        }
    }

    /// Whether two values agree under this tolerance.
    fn agrees(&self, sim: f64, real: f64) -> bool {
        match *self {
            Tolerance::Within(d) => (sim - real).abs() <= d,
            Tolerance::Factor(f) => {
                if sim <= 0.0 || real <= 0.0 {
                    return sim == real;
                }
                let ratio = if sim > real { sim / real } else { real / sim };
                ratio <= f
            }
            Tolerance::Class { threshold, .. } => (sim > threshold) == (real > threshold),
        }
    }

    /// How wide the band of agreement is around `v`: spreads wider than twice
    /// this make a median comparison meaningless.
    fn width(&self, v: f64) -> Option<f64> {
        match *self {
            Tolerance::Within(d) => Some(d),
            Tolerance::Factor(f) => Some(v.abs() * (f - 1.0)),
            Tolerance::Class { .. } => None,
        }
    }

    /// The behaviour a value shows, for a class tolerance.
    fn class_of(&self, v: f64) -> Option<&'static str> {
        match *self {
            Tolerance::Class {
                threshold,
                above,
                below,
            } => Some(if v > threshold { above } else { below }),
            _ => None,
        }
    }
}

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every interpreter's figure agrees with the simulation's.
    Agrees,
    /// At least one interpreter's figure clearly does not.
    Differs,
    /// The repeats disagree among themselves, or the machine was too busy.
    Inconclusive,
    /// No interpreter the simulated model stands for was there (or could run it).
    Skipped,
}

impl Verdict {
    /// Its name, as JSON writes it.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Agrees => "agrees",
            Verdict::Differs => "differs",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Skipped => "skipped",
        }
    }
}

/// The verdict for one interpreter, and why.
pub fn judge_one(
    tolerance: &Tolerance,
    sim: &Figure,
    real: &Figure,
    busy: Option<&str>,
) -> (Verdict, String) {
    let (Some(s), Some(r)) = (sim.spread(), real.spread()) else {
        return (Verdict::Skipped, "no figure".into());
    };
    if let Some(why) = busy {
        return (
            Verdict::Inconclusive,
            format!("a timing figure on a busy machine ({why})"),
        );
    }
    if tolerance.class_of(0.0).is_some() {
        let split = |f: &Figure| {
            let classes: Vec<&str> = f
                .samples
                .iter()
                .filter_map(|v| tolerance.class_of(*v))
                .collect();
            let first = classes[0];
            let same = classes.iter().filter(|c| **c == first).count();
            (same < classes.len()).then(|| {
                format!(
                    "{same} of {} runs {first}, the rest {}",
                    classes.len(),
                    classes.iter().find(|c| **c != first).unwrap_or(&first)
                )
            })
        };
        if let Some(why) = split(sim) {
            return (Verdict::Inconclusive, format!("simulation split: {why}"));
        }
        if let Some(why) = split(real) {
            return (Verdict::Inconclusive, format!("CPython split: {why}"));
        }
        let (sc, rc) = (
            tolerance.class_of(s.median).unwrap_or_default(),
            tolerance.class_of(r.median).unwrap_or_default(),
        );
        return if sc == rc {
            (Verdict::Agrees, format!("both: {sc}"))
        } else {
            (Verdict::Differs, format!("simulation {sc}, CPython {rc}"))
        };
    }
    for (who, spread) in [("simulation", &s), ("CPython", &r)] {
        if let Some(w) = tolerance.width(spread.median) {
            if spread.max - spread.min > 2.0 * w {
                return (
                    Verdict::Inconclusive,
                    format!(
                        "{who}'s runs spread {:.3}–{:.3}, wider than the tolerance",
                        spread.min, spread.max
                    ),
                );
            }
        }
    }
    if tolerance.agrees(s.median, r.median) {
        (Verdict::Agrees, String::new())
    } else {
        (
            Verdict::Differs,
            format!("{:.3} vs {:.3}", s.median, r.median),
        )
    }
}

/// The check's verdict from each interpreter's: any `differs` wins, then any
/// `inconclusive`, then `agrees`; none at all is `skipped`.
pub fn combine(verdicts: &[Verdict]) -> Verdict {
    let any = |v: Verdict| verdicts.contains(&v);
    if any(Verdict::Differs) {
        Verdict::Differs
    } else if any(Verdict::Inconclusive) {
        Verdict::Inconclusive
    } else if any(Verdict::Agrees) {
        Verdict::Agrees
    } else {
        Verdict::Skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOSES: Tolerance = Tolerance::Class {
        threshold: 0.001,
        above: "loses updates",
        below: "loses none",
    };

    fn fig(v: &[f64]) -> Figure {
        Figure::new(v.to_vec())
    }

    #[test]
    fn within_and_factor() {
        let t = Tolerance::Within(0.35);
        assert_eq!(
            judge_one(&t, &fig(&[1.0]), &fig(&[0.8]), None).0,
            Verdict::Agrees
        );
        assert_eq!(
            judge_one(&t, &fig(&[1.0]), &fig(&[1.9]), None).0,
            Verdict::Differs
        );
        let f = Tolerance::Factor(1.3);
        assert_eq!(
            judge_one(&f, &fig(&[4.0]), &fig(&[3.2]), None).0,
            Verdict::Agrees
        );
        assert_eq!(
            judge_one(&f, &fig(&[4.0]), &fig(&[1.0]), None).0,
            Verdict::Differs
        );
        assert_eq!(
            judge_one(&f, &fig(&[0.0]), &fig(&[0.0]), None).0,
            Verdict::Agrees
        );
    }

    #[test]
    fn classes_compare_behaviour_and_splits_are_inconclusive() {
        let none = fig(&[0.0, 0.0, 0.0]);
        let some = fig(&[0.2, 0.3, 0.25]);
        assert_eq!(judge_one(&LOSES, &none, &none, None).0, Verdict::Agrees);
        let (v, note) = judge_one(&LOSES, &none, &some, None);
        assert_eq!(v, Verdict::Differs);
        assert!(note.contains("CPython loses updates"), "{note}");
        let split = fig(&[0.0, 0.2, 0.0]);
        let (v, note) = judge_one(&LOSES, &some, &split, None);
        assert_eq!(v, Verdict::Inconclusive);
        assert!(note.contains("2 of 3 runs loses none"), "{note}");
    }

    #[test]
    fn a_wide_spread_or_a_busy_machine_is_inconclusive() {
        let t = Tolerance::Within(0.1);
        let wide = fig(&[0.5, 1.0, 1.5]);
        assert_eq!(
            judge_one(&t, &fig(&[1.0]), &wide, None).0,
            Verdict::Inconclusive
        );
        let (v, note) = judge_one(&t, &fig(&[1.0]), &fig(&[1.0]), Some("load"));
        assert_eq!(v, Verdict::Inconclusive);
        assert!(note.contains("busy"));
        assert_eq!(
            judge_one(&t, &fig(&[]), &fig(&[1.0]), None).0,
            Verdict::Skipped
        );
    }

    #[test]
    fn combining() {
        use Verdict::*;
        assert_eq!(combine(&[Agrees, Differs, Inconclusive]), Differs);
        assert_eq!(combine(&[Agrees, Inconclusive]), Inconclusive);
        assert_eq!(combine(&[Agrees, Skipped]), Agrees);
        assert_eq!(combine(&[]), Skipped);
    }
}
