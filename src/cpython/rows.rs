//! A twin's `--json` output, read into report rows.
//!
//! A twin prints `{"twin", "python", "runs": [RUN…]}`, RUN using gilbench's own
//! field names. [`TwinRun`] names the fields a row shares with
//! [`RunReport`]; everything else a twin adds (`send_ns`, `variant`, …) lands
//! in the flattened `extra` map, so no list of known fields can drift.

use crate::measure::{new_histogram, Summary};
use crate::report::RunReport;
use crate::workload::CounterOutcome;
use serde::{Deserialize, Deserializer};

/// A twin's `--json` report.
#[derive(Debug, Deserialize)]
struct TwinOutput {
    /// `platform.python_version()` of the interpreter that ran it.
    python: Option<String>,
    /// One object per model run.
    runs: Vec<TwinRun>,
}

/// One RUN of a twin, as it prints it.
#[derive(Debug, Deserialize)]
struct TwinRun {
    model: String,
    #[serde(default, deserialize_with = "null_is_default")]
    workers: usize,
    #[serde(default, deserialize_with = "null_is_default")]
    ops: u64,
    #[serde(default)]
    total_ops: Option<u64>,
    #[serde(default, deserialize_with = "null_is_default")]
    wall_ns: u64,
    #[serde(default)]
    throughput_ops_per_s: Option<f64>,
    #[serde(default)]
    speedup: Option<f64>,
    #[serde(default, deserialize_with = "null_is_default")]
    latency_ns: Summary,
    #[serde(default, deserialize_with = "null_is_default")]
    cpu_user_ns: u64,
    #[serde(default, deserialize_with = "null_is_default")]
    cpu_sys_ns: u64,
    #[serde(default, deserialize_with = "null_is_default")]
    voluntary_ctx_switches: u64,
    #[serde(default, deserialize_with = "null_is_default")]
    involuntary_ctx_switches: u64,
    #[serde(default, deserialize_with = "null_is_default")]
    minor_faults: u64,
    #[serde(default)]
    startup_ns: Option<u64>,
    #[serde(default)]
    counter: Option<CounterOutcome>,
    /// `CLOCK_MONOTONIC` ns at the run's start and end: which probe hits were
    /// this run's (`uprobe`); not a report field.
    #[serde(default)]
    window_ns: Option<[u64; 2]>,
    /// gilbench prices context switches itself (`calibrate::annotate`).
    #[serde(default, rename = "ctx_switch_cost_ns")]
    _ctx_switch_cost_ns: serde::de::IgnoredAny,
    /// A twin measures no GIL of its own; a traced twin's comes from the tracer.
    #[serde(default, rename = "gil")]
    _gil: serde::de::IgnoredAny,
    /// Trace counts belong to gilbench's own traced runs.
    #[serde(default, rename = "trace")]
    _trace: serde::de::IgnoredAny,
    /// Repeats are gilbench's: each twin run is one sample (`app::repeat`).
    #[serde(default, rename = "repeats")]
    _repeats: serde::de::IgnoredAny,
    #[serde(default, rename = "samples")]
    _samples: serde::de::IgnoredAny,
    #[serde(default, rename = "spread")]
    _spread: serde::de::IgnoredAny,
    #[serde(default, rename = "modes")]
    _modes: serde::de::IgnoredAny,
    #[serde(default, rename = "sweep")]
    _sweep: serde::de::IgnoredAny,
    /// Everything scenario-specific.
    #[serde(flatten)]
    extra: serde_json::Map<String, serde_json::Value>,
}

/// `null` reads as the type's default (a twin prints `null` for "not measured").
fn null_is_default<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}

/// Turns a twin's JSON into report rows.
pub fn parse(stdout: &[u8]) -> Result<Vec<RunReport>, String> {
    Ok(parse_with_windows(stdout)?
        .into_iter()
        .map(|(row, _)| row)
        .collect())
}

/// A row and its run's `CLOCK_MONOTONIC` window (start, end), if the twin gave one.
pub type WindowedRow = (RunReport, Option<(u64, u64)>);

/// [`parse`], each row with its `CLOCK_MONOTONIC` window (start, end) if the twin gave one.
pub fn parse_with_windows(stdout: &[u8]) -> Result<Vec<WindowedRow>, String> {
    let output: TwinOutput = serde_json::from_slice(stdout).map_err(|e| e.to_string())?;
    let python = output.python;
    Ok(output
        .runs
        .into_iter()
        .map(|run| {
            let window = run.window_ns.map(|[a, b]| (a, b));
            (run.into_row(python.as_deref()), window)
        })
        .collect())
}

/// A row with nothing measured, for a twin that failed before printing any.
pub fn empty(model: &str) -> RunReport {
    let run: TwinRun = serde_json::from_value(serde_json::json!({ "model": model }))
        .expect("a model name is a whole twin run");
    run.into_row(None)
}

impl TwinRun {
    fn into_row(self, python: Option<&str>) -> RunReport {
        let throughput = self.throughput_ops_per_s.unwrap_or_else(|| {
            if self.wall_ns > 0 {
                self.ops as f64 / (self.wall_ns as f64 / 1e9)
            } else {
                0.0
            }
        });
        let mut extra = self.extra;
        if let Some(version) = python {
            extra.insert("python".into(), version.into());
        }
        RunReport {
            model: self.model,
            workers: self.workers,
            ops: self.ops,
            total_ops: self.total_ops.unwrap_or(self.ops),
            wall_ns: self.wall_ns,
            throughput_ops_per_s: throughput,
            speedup: self.speedup,
            latency_ns: self.latency_ns,
            cpu_user_ns: self.cpu_user_ns,
            cpu_sys_ns: self.cpu_sys_ns,
            voluntary_ctx_switches: self.voluntary_ctx_switches,
            involuntary_ctx_switches: self.involuntary_ctx_switches,
            minor_faults: self.minor_faults,
            ctx_switch_cost_ns: None,
            startup_ns: self.startup_ns,
            gil: None,
            counter: self.counter,
            extra,
            histogram: new_histogram(),
            trace: None,
            traces: Vec::new(),
            repeat: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twin_json_becomes_rows() {
        let json = br#"{"twin":"cpu_bound","python":"3.11.7","runs":[
            {"model":"cpython-sequential","workers":2,"ops":6,"wall_ns":3000000,
             "throughput_ops_per_s":2000.0,"speedup":1.0,
             "latency_ns":{"count":6,"min":1,"mean":2,"p50":2,"p90":3,"p99":3,"p999":3,"max":3},
             "counter":null,"cpu_user_ns":5,"startup_ns":null,"total_ops":6},
            {"model":"cpython-threads","workers":2,"ops":6,"wall_ns":3100000,
             "throughput_ops_per_s":1935.5,"speedup":0.968,"minor_faults":null,
             "latency_ns":{"count":6,"min":1,"mean":2,"p50":2,"p90":3,"p99":3,"p999":3,"max":3},
             "counter":{"expected":6,"observed":5,"lost":1},"send_ns":{"p50":4},
             "ctx_switch_cost_ns":7,"gil":null}]}"#;
        let rows = parse(json).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].model, "cpython-threads");
        assert_eq!(rows[1].speedup, Some(0.968));
        assert_eq!(rows[1].latency_ns.p90, 3);
        assert_eq!(rows[1].counter.unwrap().lost, 1);
        assert!(rows[1].histogram.is_empty());
        assert_eq!(rows[1].extra["python"], "3.11.7");
        assert_eq!(rows[1].extra["send_ns"]["p50"], 4);
        for shared in [
            "model",
            "ctx_switch_cost_ns",
            "gil",
            "counter",
            "minor_faults",
        ] {
            assert!(!rows[1].extra.contains_key(shared), "{shared}");
        }
        assert_eq!(rows[0].cpu_user_ns, 5);
        let windowed =
            parse_with_windows(br#"{"runs":[{"model":"m","window_ns":[5,9]},{"model":"n"}]}"#)
                .unwrap();
        assert_eq!(windowed[0].1, Some((5, 9)));
        assert_eq!(windowed[1].1, None);
        assert!(!windowed[0].0.extra.contains_key("window_ns"));
        assert_eq!(rows[0].total_ops, 6);
    }

    #[test]
    fn every_field_of_a_row_is_read_not_left_in_extra() {
        // A row serialised by gilbench and read back as a twin's: if RunReport
        // gains a field TwinRun does not name, it would land in `extra` and be
        // written twice.
        let rows =
            parse(br#"{"runs":[{"model":"m","ops":1,"wall_ns":1,"startup_ns":3}]}"#).unwrap();
        let run = serde_json::to_value(&rows[0]).unwrap();
        let json = serde_json::json!({ "runs": [run] }).to_string();
        let back = parse(json.as_bytes()).unwrap();
        assert!(back[0].extra.is_empty(), "{:?}", back[0].extra);
    }

    #[test]
    fn missing_throughput_is_derived_and_garbage_is_an_error() {
        let rows = parse(br#"{"runs":[{"model":"m","ops":10,"wall_ns":1000000000}]}"#).unwrap();
        assert_eq!(rows[0].throughput_ops_per_s, 10.0);
        assert!(parse(b"not json").is_err());
        assert!(parse(br#"{"runs":[{"ops":1}]}"#).is_err());
    }
}
