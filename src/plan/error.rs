//! [`InputError`]: bad input, named where it was written (a flag, a scenario file's
//! line, a `--set`). Every variant maps to exit code 2.

/// Bad input: a flag, a scenario file, a parameter. Exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// No such built-in scenario, and not a path.
    #[error(
        "unknown scenario `{name}` (built-in scenarios: {known}; or give a path to a .toml file)"
    )]
    UnknownScenario {
        /// What was asked for.
        name: String,
        /// The built-in names.
        known: String,
    },
    /// The scenario file could not be read.
    #[error("cannot read scenario file {path}: {source}")]
    Unreadable {
        /// The path given.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Something in the scenario file (or a `--set`) is wrong.
    #[error("{origin}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Scenario {
        /// The file, or `--set KEY`.
        origin: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// What was wrong.
        message: String,
    },
    /// A flag's value is wrong.
    #[error("{flag}: {message}")]
    Flag {
        /// The flag, e.g. `--workers`.
        flag: String,
        /// What was wrong.
        message: String,
    },
}

impl InputError {
    /// An error about the flag `flag`.
    pub fn flag(flag: &str, message: impl Into<String>) -> InputError {
        InputError::Flag {
            flag: flag.to_string(),
            message: message.into(),
        }
    }
}
