//! Scenario files: the TOML that says what to run, built in or the user's own.
//!
//! A scenario names a workload, its parameters, the models to compare and the
//! explanation printed under the results. Built-ins are the files in `scenarios/`,
//! compiled into the binary, so `gilbench scenario convoy` needs nothing on disk.
//! This module only parses; [`crate::plan`] validates and merges command-line flags.

pub mod duration;
pub mod size;

use serde::Deserialize;

/// The built-in scenarios: (name, TOML source).
pub const BUILTINS: &[(&str, &str)] = &[
    ("cpu-bound", include_str!("../../scenarios/cpu-bound.toml")),
    ("io-bound", include_str!("../../scenarios/io-bound.toml")),
    ("convoy", include_str!("../../scenarios/convoy.toml")),
    (
        "shared-counter",
        include_str!("../../scenarios/shared-counter.toml"),
    ),
    ("refcount", include_str!("../../scenarios/refcount.toml")),
    ("gc-pause", include_str!("../../scenarios/gc-pause.toml")),
    ("fork-cow", include_str!("../../scenarios/fork-cow.toml")),
    ("alloc", include_str!("../../scenarios/alloc.toml")),
    ("queue", include_str!("../../scenarios/queue.toml")),
];

/// The names of the built-in scenarios, in listing order.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTINS.iter().map(|(name, _)| *name).collect()
}

/// Where a scenario's text came from, for error messages.
#[derive(Debug, Clone)]
pub struct Source {
    /// `scenarios/NAME.toml (built-in)` or the user's path.
    pub origin: String,
    /// The TOML text.
    pub text: String,
}

impl Source {
    /// The built-in scenario `name`, if there is one.
    pub fn builtin(name: &str) -> Option<Source> {
        BUILTINS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, text)| Source {
                origin: format!("scenarios/{n}.toml"),
                text: (*text).to_string(),
            })
    }

    /// The 1-based line on which `key = ...` is written, if it is.
    pub fn line_of(&self, key: &str) -> Option<usize> {
        self.text
            .lines()
            .position(|line| {
                let line = line.trim_start();
                line.strip_prefix(key)
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
            })
            .map(|i| i + 1)
    }

    /// The 1-based line holding byte `offset`.
    pub fn line_at(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }
}

/// A scenario file as written. Unknown keys are errors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// The scenario's name, as `gilbench list` shows it.
    pub name: String,
    /// Which workload runs (`cpu-bound`, `convoy`, …).
    pub workload: String,
    /// One line for `gilbench list`.
    pub summary: String,
    /// Printed under the table: what the user just saw, and why.
    pub explanation: String,
    /// Models to run, in order.
    pub models: Vec<String>,
    /// Workers per model.
    pub workers: Option<i64>,
    /// Operations per worker.
    pub ops: Option<i64>,
    /// Run for this long instead of a fixed number of ops (`2s`).
    pub duration: Option<String>,
    /// CPython's `sys.setswitchinterval` (`5ms`).
    pub switch_interval: Option<String>,
    /// Python 2's `sys.setcheckinterval` in ticks.
    pub check_interval: Option<i64>,
    /// Workload parameters.
    #[serde(default)]
    pub params: toml::Table,
}

/// A scenario file that failed to parse: the line and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What was wrong.
    pub message: String,
}

impl ScenarioFile {
    /// Parses a scenario's TOML.
    pub fn parse(source: &Source) -> Result<ScenarioFile, ParseError> {
        toml::from_str(&source.text).map_err(|e| ParseError {
            line: e.span().map(|span| source.line_at(span.start)),
            message: e.message().trim().replace('\n', " "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_and_is_named_after_its_file() {
        for (name, _) in BUILTINS {
            let source = Source::builtin(name).unwrap();
            let file = ScenarioFile::parse(&source).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(file.name, *name);
            assert!(!file.explanation.trim().is_empty());
        }
    }

    /// The explanation is printed as written, under a report meant for an
    /// 84-column terminal: no line of it may run past that.
    #[test]
    fn every_builtin_explanation_fits_84_columns() {
        for (name, _) in BUILTINS {
            let source = Source::builtin(name).unwrap();
            let file = ScenarioFile::parse(&source).unwrap();
            for line in file.explanation.lines() {
                assert!(
                    line.chars().count() <= 84,
                    "{name}: {} columns: {line}",
                    line.chars().count()
                );
            }
        }
    }

    #[test]
    fn unknown_key_reports_its_line() {
        let source = Source {
            origin: "x.toml".into(),
            text: "name = \"x\"\nworkload = \"cpu-bound\"\nbogus = 1\n".into(),
        };
        let err = ScenarioFile::parse(&source).unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(err.message.contains("bogus"), "{}", err.message);
        assert_eq!(source.line_of("workload"), Some(2));
    }
}
