//! The scenario's text, from a built-in or a file, and the `--set KEY=VALUE`
//! overrides applied to it before anything is merged.

use super::error::InputError;
use crate::scenario::{ScenarioFile, Source};

/// Top-level scenario keys that `--set` may override (everything else is a param).
const TOP_LEVEL_KEYS: &[&str] = &[
    "workers",
    "ops",
    "duration",
    "switch_interval",
    "check_interval",
];

/// The built-in scenario `name`, or the file at that path.
pub fn load_source(name: &str) -> Result<Source, InputError> {
    let looks_like_path = name.ends_with(".toml") || name.contains('/');
    if !looks_like_path {
        return Source::builtin(name).ok_or_else(|| InputError::UnknownScenario {
            name: name.to_string(),
            known: crate::scenario::builtin_names().join(", "),
        });
    }
    let text = read_scenario_file(name)?;
    Ok(Source {
        origin: name.to_string(),
        text,
    })
}

/// The most a scenario file may hold. A scenario is a few KB of TOML; the cap keeps
/// `/dev/zero` or a huge file from eating memory before the parser says no.
pub const MAX_SCENARIO_BYTES: u64 = 1 << 20;

/// Reads the scenario file at `path`: a regular file of at most
/// [`MAX_SCENARIO_BYTES`]. It is opened non-blocking, so a FIFO nobody writes to
/// cannot block `open`, and looked at (fstat) before a byte is read, so a device or
/// a FIFO is refused whatever it would yield.
fn read_scenario_file(path: &str) -> Result<String, InputError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let unreadable = |source: std::io::Error| InputError::Unreadable {
        path: path.to_string(),
        source,
    };
    let refuse = |message: String| InputError::Scenario {
        origin: path.to_string(),
        line: None,
        message,
    };
    let file = std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.file_type().is_file() {
        return Err(refuse(format!(
            "not a regular file ({}): a scenario file must be a .toml file",
            crate::sys::fs::kind(&meta.file_type())
        )));
    }
    if meta.len() > MAX_SCENARIO_BYTES {
        return Err(refuse(too_big(meta.len())));
    }
    // The file may grow between fstat and read: never read past the cap.
    let mut bytes = Vec::new();
    file.take(MAX_SCENARIO_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_SCENARIO_BYTES {
        return Err(refuse(too_big(bytes.len() as u64)));
    }
    String::from_utf8(bytes).map_err(|e| {
        refuse(format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

fn too_big(len: u64) -> String {
    format!(
        "{len} bytes or more: a scenario file may hold at most {} KiB",
        MAX_SCENARIO_BYTES / 1024
    )
}

/// Applies `--set KEY=VALUE` overrides; returns the keys set.
pub fn apply_sets(file: &mut ScenarioFile, sets: &[String]) -> Result<Vec<String>, InputError> {
    let mut keys = Vec::new();
    for set in sets {
        let Some((key, raw)) = set.split_once('=') else {
            return Err(InputError::flag(
                "--set",
                format!("`{set}`: expected KEY=VALUE"),
            ));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(InputError::flag("--set", format!("`{set}`: empty KEY")));
        }
        let value = parse_value(raw.trim());
        let origin = || format!("--set {key}");
        let as_int = |v: &toml::Value| {
            v.as_integer().ok_or_else(|| InputError::Scenario {
                origin: origin(),
                line: None,
                message: format!("`{key}` must be an integer"),
            })
        };
        match key {
            "workers" => file.workers = Some(as_int(&value)?),
            "ops" => file.ops = Some(as_int(&value)?),
            "check_interval" => file.check_interval = Some(as_int(&value)?),
            "duration" => file.duration = Some(raw.trim().to_string()),
            "switch_interval" => file.switch_interval = Some(raw.trim().to_string()),
            _ => {
                file.params.insert(key.to_string(), value);
            }
        }
        debug_assert!(TOP_LEVEL_KEYS.contains(&key) || file.params.contains_key(key));
        keys.push(key.to_string());
    }
    Ok(keys)
}

/// A `--set` value: a TOML scalar if it parses as one (`3`, `1.5`, `true`), else a
/// string, so `--set sync=lock` needs no quotes.
fn parse_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| !v.is_table())
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_values_are_typed_when_they_can_be() {
        assert_eq!(parse_value("3"), toml::Value::Integer(3));
        assert_eq!(parse_value("lock"), toml::Value::String("lock".into()));
        assert_eq!(
            parse_value("none-call"),
            toml::Value::String("none-call".into())
        );
    }

    use crate::cli::{Cli, Command};
    use crate::plan::Plan;
    use proptest::prelude::*;

    /// The plan for `gilbench scenario ARGS`: `Ok`, or bad input — nothing else.
    fn plan(args: &[&str]) -> Result<Plan, InputError> {
        let cli =
            <Cli as clap::Parser>::try_parse_from(["gilbench", "scenario"].iter().chain(args));
        match cli.map(|c| c.command) {
            Ok(Command::Scenario(args)) => Plan::from_args(&args),
            other => panic!("not a scenario command line: {other:?}"),
        }
    }

    /// A TOML value, or something that is almost one.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<i64>().prop_map(|v| v.to_string()),
            (-3i64..100_000).prop_map(|v| v.to_string()),
            any::<f64>().prop_map(|v| v.to_string()),
            "\"[a-z0-9,.µ -]{0,12}\"",
            Just("true".to_string()),
            Just("[]".to_string()),
            "\\[(\"[a-z-]{0,9}\", ){0,4}\\]",
            "[ -~]{0,16}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// A built-in scenario file with one line's value replaced by anything is
        /// a plan or one bad-input error naming the file: never a panic.
        #[test]
        fn a_mutated_scenario_file_is_a_plan_or_bad_input(
            which in 0usize..crate::scenario::BUILTINS.len(),
            line in any::<prop::sample::Index>(),
            value in value(),
        ) {
            let (_, text) = crate::scenario::BUILTINS[which];
            let lines: Vec<&str> = text.lines().collect();
            let settable: Vec<usize> = (0..lines.len())
                .filter(|&i| lines[i].contains('=') && !lines[i].trim_start().starts_with('#'))
                .collect();
            prop_assume!(!settable.is_empty());
            let target = settable[line.index(settable.len())];
            let key = lines[target].split('=').next().unwrap_or("").trim();
            let mut mutated: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            mutated[target] = format!("{key} = {value}");
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("mutated.toml");
            std::fs::write(&path, mutated.join("\n")).unwrap();
            if let Err(e) = plan(&[path.to_str().unwrap()]) {
                let message = e.to_string();
                prop_assert!(!message.contains('\n'), "two lines: {}", message);
            }
        }

        /// `--set KEY=VALUE` with any value for a key scripts use is a plan or one
        /// bad-input error.
        #[test]
        fn any_set_value_is_a_plan_or_bad_input(
            which in 0usize..crate::scenario::BUILTINS.len(),
            key in prop::sample::select(vec![
                "workers", "ops", "duration", "switch_interval", "check_interval",
                "ticks_per_op", "io_wait", "cpu_workers", "rounds", "sync", "producers",
                "consumers", "item_bytes", "counting", "foreign_ratio", "objects",
                "heap_mib", "gc", "threshold0", "threshold1", "threshold2", "size",
                "batch", "variant", "repeat", "maxsize", "nonsense",
            ]),
            value in value(),
        ) {
            let (name, _) = crate::scenario::BUILTINS[which];
            let set = format!("{key}={value}");
            if let Err(e) = plan(&[name, "--set", &set]) {
                prop_assert!(!e.to_string().contains('\n') || set.contains('\n'));
            }
        }
    }
}
