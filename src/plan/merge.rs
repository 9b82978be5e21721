//! The one flag / scenario file / default merge.
//!
//! Every setting a scenario run takes is read the same way: the flag's value if
//! the flag was given, else the scenario file's (or a `--set`'s) value, else the
//! default — and a bad value is reported where it was written: at the flag
//! (`--workers: …`), at the file's line (`scenarios/x.toml:4: `workers`: …`) or at
//! the `--set` (`--set workers: …`). [`Merge::value`] is that rule, once.

use super::error::InputError;
use crate::scenario::duration::parse_duration;
use crate::scenario::Source;
use std::time::Duration;

/// The scenario text a plan is made from, and the keys `--set` overrode in it.
#[derive(Debug)]
pub struct Merge<'a> {
    source: &'a Source,
    overridden: &'a [String],
}

impl<'a> Merge<'a> {
    /// Merges flags into `source`, whose `overridden` keys came from `--set`.
    pub fn new(source: &'a Source, overridden: &'a [String]) -> Merge<'a> {
        Merge { source, overridden }
    }

    /// An error about the scenario's `field`, placed where it was written.
    pub fn bad(&self, field: &str, message: impl Into<String>) -> InputError {
        let (origin, line) = if self.overridden.iter().any(|k| k == field) {
            (format!("--set {field}"), None)
        } else {
            (self.source.origin.clone(), self.source.line_of(field))
        };
        InputError::Scenario {
            origin,
            line,
            message: message.into(),
        }
    }

    /// An error about a setting that came from `flag` if `from_flag`, else from
    /// the scenario's `field`.
    pub fn bad_setting(
        &self,
        from_flag: bool,
        flag: &str,
        field: &str,
        message: impl Into<String>,
    ) -> InputError {
        if from_flag {
            InputError::flag(flag, message)
        } else {
            self.bad(field, format!("`{field}`: {}", message.into()))
        }
    }

    /// One setting: `flag`'s value if `given`, else the scenario's `field` if
    /// `written`, else `default`. `parse` checks and converts the value; its error
    /// is placed at the flag or at the field.
    pub fn value<R, T>(
        &self,
        (flag, given): (&str, Option<R>),
        (field, written): (&str, Option<R>),
        default: T,
        parse: impl Fn(R) -> Result<T, String>,
    ) -> Result<T, InputError> {
        match (given, written) {
            (Some(raw), _) => parse(raw).map_err(|e| self.bad_setting(true, flag, field, e)),
            (None, Some(raw)) => parse(raw).map_err(|e| self.bad_setting(false, flag, field, e)),
            (None, None) => Ok(default),
        }
    }

    /// A setting only a flag gives: `parse`d if given, else `None`.
    pub fn flag<R, T>(
        &self,
        (flag, given): (&str, Option<R>),
        parse: impl Fn(R) -> Result<T, String>,
    ) -> Result<Option<T>, InputError> {
        given
            .map(parse)
            .transpose()
            .map_err(|e| InputError::flag(flag, e))
    }
}

/// A whole number from `min` to `max`.
pub fn count(min: i64, max: i64) -> impl Fn(i64) -> Result<u64, String> {
    move |n| {
        if n < min || n > max {
            Err(format!("must be between {min} and {max}, not {n}"))
        } else {
            Ok(n as u64)
        }
    }
}

/// A duration longer than zero.
pub fn positive_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        d if d.is_zero() => Err("must be more than 0".into()),
        d => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> Source {
        Source {
            origin: "x.toml".into(),
            text: "name = \"x\"\nworkers = 0\n".into(),
        }
    }

    #[test]
    fn flag_then_file_then_default_each_placed_where_written() {
        let source = source();
        let merge = Merge::new(&source, &[]);
        let workers = |given, written| {
            merge.value(("--workers", given), ("workers", written), 2, count(1, 8))
        };
        assert_eq!(workers(Some(3), Some(4)).unwrap(), 3);
        assert_eq!(workers(None, Some(4)).unwrap(), 4);
        assert_eq!(workers(None, None).unwrap(), 2);
        assert_eq!(
            workers(Some(0), None).unwrap_err().to_string(),
            "--workers: must be between 1 and 8, not 0"
        );
        assert_eq!(
            workers(None, Some(0)).unwrap_err().to_string(),
            "x.toml:2: `workers`: must be between 1 and 8, not 0"
        );
        let sets = ["workers".to_string()];
        let merge = Merge::new(&source, &sets);
        let err = merge
            .value(("--workers", None), ("workers", Some(9)), 2, count(1, 8))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "--set workers: `workers`: must be between 1 and 8, not 9"
        );
    }

    #[test]
    fn durations_must_be_positive() {
        assert_eq!(positive_duration("2ms"), Ok(Duration::from_millis(2)));
        assert!(positive_duration("0s").unwrap_err().contains("more than 0"));
        assert!(positive_duration("-1s").unwrap_err().contains("negative"));
    }
}
