//! `--sweep KEY=V1,V2,…` → one validated [`Plan`] per value of one parameter.
//!
//! A sweep is the same scenario run once per value, each with its repeats, so the
//! report has one row per value and model. KEY is any `--set` key (a workload
//! parameter) or one of the top-level settings (`workers`, `switch_interval`,
//! `check_interval`, `ops`, `duration`). Every value is checked here, before anything
//! runs: a typo in the last value must not cost the first values' minutes.

use super::{InputError, Plan};
use crate::cli::ScenarioArgs;
use crate::scenario::duration::parse_duration;
use serde::Serialize;

/// Which value of the swept parameter a row was measured at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepPoint {
    /// The parameter.
    pub key: String,
    /// Its value as given (`0.5ms`, `4`, `lock`).
    pub value: String,
    /// The value as a number, for plotting: durations in ns, numbers as they are;
    /// null for a word.
    pub number: Option<f64>,
}

/// One value of a sweep, ready to run (or the whole run when there is no sweep).
#[derive(Debug)]
pub struct Step {
    /// The value, or `None` without `--sweep`.
    pub point: Option<SweepPoint>,
    /// The flags with the value applied (the CPython twin reads them).
    pub args: ScenarioArgs,
    /// The validated plan for the value.
    pub plan: Plan,
}

/// Settings with a flag of their own; any other key goes through `--set`.
const FLAG_KEYS: &[&str] = &[
    "workers",
    "switch_interval",
    "check_interval",
    "ops",
    "duration",
];

/// The plans to run: one per swept value, or the one plan without `--sweep`.
pub fn steps(args: &ScenarioArgs) -> Result<Vec<Step>, InputError> {
    let plan = Plan::from_args(args)?;
    let spec = match args.sweep.as_slice() {
        [] => {
            return Ok(vec![Step {
                point: None,
                args: args.clone(),
                plan,
            }])
        }
        [one] => one,
        _ => return Err(flag("given twice: sweep one parameter at a time")),
    };
    let (key, values) = parse_spec(spec)?;
    let flag_given = match key.as_str() {
        "workers" => args.workers.is_some(),
        "switch_interval" => args.switch_interval.is_some(),
        "check_interval" => args.check_interval.is_some(),
        "ops" => args.ops.is_some(),
        "duration" => args.duration.is_some(),
        _ => false,
    };
    let set_given = args
        .set
        .iter()
        .any(|s| s.split_once('=').is_some_and(|(k, _)| k.trim() == key));
    if flag_given || set_given {
        return Err(flag(format!(
            "`{key}` is also set by a flag or --set; give it in one place"
        )));
    }
    values
        .into_iter()
        .map(|value| {
            let mut a = args.clone();
            a.sweep.clear();
            apply(&mut a, &key, &value)?;
            let plan = Plan::from_args(&a).map_err(|e| flag(format!("`{key}={value}`: {e}")))?;
            Ok(Step {
                point: Some(SweepPoint {
                    number: number(&key, &value),
                    key: key.clone(),
                    value,
                }),
                args: a,
                plan,
            })
        })
        .collect()
}

fn flag(message: impl Into<String>) -> InputError {
    InputError::Flag {
        flag: "--sweep".into(),
        message: message.into(),
    }
}

/// `KEY=V1,V2,…` → the key and its values; every value non-empty.
fn parse_spec(spec: &str) -> Result<(String, Vec<String>), InputError> {
    let Some((key, list)) = spec.split_once('=') else {
        return Err(flag(format!("`{spec}`: expected KEY=V1,V2,...")));
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(flag(format!("`{spec}`: empty KEY")));
    }
    let values: Vec<String> = list.split(',').map(|v| v.trim().to_string()).collect();
    if list.trim().is_empty() {
        return Err(flag(format!("`{spec}`: empty list of values")));
    }
    if values.iter().any(String::is_empty) {
        return Err(flag(format!("`{spec}`: an empty value in the list")));
    }
    Ok((key.to_string(), values))
}

/// Puts `key=value` into the flags: the setting's own flag when it has one (so the
/// plan checks it as that flag), else a `--set`.
fn apply(a: &mut ScenarioArgs, key: &str, value: &str) -> Result<(), InputError> {
    let int = || {
        value
            .parse::<i64>()
            .map_err(|_| flag(format!("`{key}={value}`: not an integer")))
    };
    match key {
        "workers" => a.workers = Some(int()?),
        "check_interval" => a.check_interval = Some(int()?),
        "ops" => a.ops = Some(int()?),
        "switch_interval" => a.switch_interval = Some(value.to_string()),
        "duration" => a.duration = Some(value.to_string()),
        _ => a.set.push(format!("{key}={value}")),
    }
    debug_assert!(FLAG_KEYS.contains(&key) || a.set.last().is_some());
    Ok(())
}

/// The value as a number for the plot's x axis.
fn number(key: &str, value: &str) -> Option<f64> {
    match key {
        "switch_interval" | "duration" => parse_duration(value).ok().map(|d| d.as_nanos() as f64),
        _ => value
            .parse::<f64>()
            .ok()
            .or_else(|| parse_duration(value).ok().map(|d| d.as_nanos() as f64)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> ScenarioArgs {
        let mut argv = vec!["gilbench", "scenario", "convoy"];
        argv.extend_from_slice(extra);
        match crate::cli::Cli::parse_from(argv).command {
            crate::cli::Command::Scenario(a) => a,
            _ => unreachable!(),
        }
    }

    fn err(extra: &[&str]) -> String {
        steps(&args(extra)).unwrap_err().to_string()
    }

    #[test]
    fn one_plan_per_value() {
        let s = steps(&args(&["--sweep", "switch_interval=0.5ms,1ms,5ms"])).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].plan.gil.switch_interval.as_micros(), 500);
        assert_eq!(s[2].plan.gil.switch_interval.as_millis(), 5);
        let p = s[1].point.as_ref().unwrap();
        assert_eq!(
            (p.key.as_str(), p.value.as_str(), p.number),
            ("switch_interval", "1ms", Some(1e6))
        );
        let w = steps(&args(&["--sweep", "workers=2,3"])).unwrap();
        assert_eq!(w[1].point.as_ref().unwrap().number, Some(3.0));
        assert!(steps(&args(&[])).unwrap()[0].point.is_none());
    }

    #[test]
    fn bad_sweeps_are_input_errors() {
        assert!(err(&["--sweep", "a=1", "--sweep", "b=2"]).contains("twice"));
        assert!(err(&["--sweep", "switch_interval="]).contains("empty list"));
        assert!(err(&["--sweep", "switch_interval=1ms,,2ms"]).contains("empty value"));
        assert!(err(&["--sweep", "switch_interval"]).contains("KEY=V1"));
        assert!(err(&["--sweep", "=1"]).contains("empty KEY"));
        assert!(err(&["--sweep", "switch_interval=1ms,fast"]).contains("`switch_interval=fast`"));
        assert!(err(&["--sweep", "workers=2,x"]).contains("not an integer"));
        assert!(err(&["--sweep", "no_such_key=1"]).starts_with("--sweep: `no_such_key=1`"));
        assert!(err(&["--workers", "2", "--sweep", "workers=1,2"]).contains("one place"));
    }
}
