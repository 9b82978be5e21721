//! A report seen as rows: the common view the `csv` and `markdown` exporters read.
//!
//! Every report already serialises to JSON with PRODUCT.md's field names; a row is
//! one of its result objects (a scenario's run, a probe's result) flattened to
//! dotted keys (`latency_ns.p50`), in the order the struct declares its fields.
//! Deriving rows from the same `Serialize` impl as `--format json` keeps the three
//! formats from drifting apart: a field added to a report shows up in all of them.
//!
//! A report says which objects are its rows in [`Report::rows`]; the scenario
//! report's view is below, the probes' in `probes.rs`.

use super::render::Report;
use serde::Serialize;
use serde_json::Value;

/// A scalar cell of a flattened row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// JSON null: an empty cell.
    Null,
    /// true or false.
    Bool(bool),
    /// A number, as JSON wrote it (integers stay exact).
    Number(serde_json::Number),
    /// Text.
    Text(String),
    /// An array of scalars (`models`), kept as its items.
    List(Vec<String>),
}

/// One flattened result object: `(dotted key, cell)` in declaration order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row(pub Vec<(String, Cell)>);

impl Row {
    /// Flattens anything serialisable to an object; prefixes `context` columns
    /// (such as the scenario's name) so rows from several reports can be mixed.
    pub fn of<T: Serialize>(context: &[(&str, Cell)], item: &T) -> Row {
        // serde_json's `preserve_order`: the columns come in the order the struct
        // declares its fields.
        let value = serde_json::to_value(item).expect("reports always serialise");
        let mut row = Row(context
            .iter()
            .map(|(k, c)| ((*k).to_string(), c.clone()))
            .collect());
        flatten("", value, &mut row.0);
        row
    }

    /// The cell under `key`, if the row has it.
    pub fn get(&self, key: &str) -> Option<&Cell> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, c)| c)
    }
}

/// The union of the rows' keys, first-seen order: the table's columns. A key that
/// is null in one row and an object in another (`gil`) keeps only the object's
/// columns, where the null stood.
pub fn columns(rows: &[Row]) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for row in rows {
        for (key, _) in &row.0 {
            if !keys.contains(key) {
                keys.push(key.clone());
            }
        }
    }
    // Group by top-level field, in the order the fields first appeared, so a
    // run's `gil.*` columns sit where the first run's null `gil` did.
    let top = |k: &str| k.split('.').next().unwrap_or(k).to_string();
    let mut groups: Vec<String> = Vec::new();
    for k in &keys {
        if !groups.contains(&top(k)) {
            groups.push(top(k));
        }
    }
    keys.sort_by_key(|k| groups.iter().position(|g| *g == top(k)));
    let parents: Vec<String> = keys
        .iter()
        .filter(|k| {
            let dotted = format!("{k}.");
            keys.iter().any(|other| other.starts_with(&dotted))
        })
        .cloned()
        .collect();
    keys.retain(|k| !parents.contains(k));
    keys
}

/// Columns that say which row it is; a report's leading figures go right after them.
const IDENTITY: &[&str] = &[
    "kind",
    "stop",
    "scenario",
    "model",
    "variant",
    "sweep.key",
    "sweep.value",
    "workers",
    "ops",
];

/// The columns CSV and Markdown show: [`columns`] without those that are null (or
/// absent) in every row — a queue's `counter`, `speedup` without a baseline — and,
/// when `leads` names any, with those keys (a scenario's headline figures, and the
/// columns under them) moved right after the row's identity, as the table leads
/// with them.
pub fn report_columns(rows: &[Row], leads: &[&str]) -> Vec<String> {
    let mut keys: Vec<String> = columns(rows)
        .into_iter()
        .filter(|k| {
            rows.iter()
                .any(|r| !matches!(r.get(k), None | Some(Cell::Null)))
        })
        .collect();
    if leads.is_empty() {
        return keys;
    }
    let under = |k: &str, key: &str| k == key || k.starts_with(&format!("{key}."));
    let rank = |k: &String| {
        if IDENTITY.contains(&k.as_str()) {
            0
        } else if let Some(i) = leads.iter().position(|l| under(k, l)) {
            1 + i
        } else {
            1 + leads.len()
        }
    };
    // Stable: within a rank, the JSON order stays.
    keys.sort_by_key(rank);
    keys
}

fn flatten(prefix: &str, value: Value, out: &mut Vec<(String, Cell)>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match value {
        Value::Object(fields) => {
            for (k, v) in fields {
                flatten(&key(&k), v, out);
            }
        }
        Value::Null => out.push((prefix.to_string(), Cell::Null)),
        Value::Bool(b) => out.push((prefix.to_string(), Cell::Bool(b))),
        Value::Number(n) => out.push((prefix.to_string(), Cell::Number(n))),
        Value::String(s) => out.push((prefix.to_string(), Cell::Text(s))),
        Value::Array(items) => {
            let items = items.into_iter().map(|item| match item {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null => String::new(),
                // Nested structures do not fit a cell; keep them readable.
                other => other.to_string(),
            });
            out.push((prefix.to_string(), Cell::List(items.collect())));
        }
    }
}

/// Run fields too detailed for a Markdown table (CSV and JSON keep them), and the
/// scenario's name, which the title already says. Of the repeats' spread, min and
/// max of the headline figures (and the speedup's stddev) are enough to read; the
/// medians are the row's own figures.
const SCENARIO_MARKDOWN_OMITS: &[&str] = &[
    "scenario",
    "total_ops",
    "latency_ns.count",
    "latency_ns.min",
    "latency_ns.mean",
    "latency_ns.p90",
    "latency_ns.p999",
    "minor_faults",
    "gil.acquisitions",
    "gil.drop_requests",
    "gil.wait_ns",
    "counter.expected",
    "counter.observed",
    "spread.throughput_ops_per_s",
    "spread.latency_p99_ns",
    "spread.lost",
    "spread.wall_ns.median",
    "spread.wall_ns.mean",
    "spread.wall_ns.stddev",
    "spread.speedup.median",
    "spread.speedup.mean",
    "spread.latency_p50_ns.median",
    "spread.latency_p50_ns.mean",
    "spread.latency_p50_ns.stddev",
];

impl Report for super::ScenarioReport {
    fn rows(&self) -> Vec<Row> {
        let context = [("scenario", Cell::Text(self.scenario.clone()))];
        self.runs
            .iter()
            .map(|run| {
                let mut row = Row::of(&context, run);
                // One line per row: the per-repeat samples stay in JSON; the spread
                // columns summarise them; modes become one readable cell.
                row.0.retain(|(k, _)| k != "samples");
                let modes = run.repeat.modes.as_ref().map(|modes| {
                    let groups: Vec<String> = modes
                        .iter()
                        .map(|m| {
                            format!(
                                "{} of {}: p50 {} ns",
                                m.runs, run.repeat.repeats, m.latency_p50_ns
                            )
                        })
                        .collect();
                    groups.join("; ")
                });
                for (k, cell) in &mut row.0 {
                    if k == "modes" {
                        *cell = modes.clone().map_or(Cell::Null, Cell::Text);
                    }
                }
                row
            })
            .collect()
    }

    fn title(&self) -> Option<String> {
        Some(format!(
            "gilbench {} · scenario `{}` · {} CPUs · Linux {}",
            self.gilbench, self.scenario, self.machine.cpus, self.machine.kernel
        ))
    }

    fn notes(&self) -> Option<String> {
        Some(match &self.lesson {
            Some(lesson) => format!("{}\n\nThis run: {lesson}", self.explanation.trim()),
            None => self.explanation.clone(),
        })
    }

    fn markdown_omits(&self) -> &'static [&'static str] {
        SCENARIO_MARKDOWN_OMITS
    }

    fn leads(&self) -> Vec<&'static str> {
        self.headline.clone()
    }

    fn table(&self, palette: super::colour::Palette) -> String {
        super::table::render(self, palette)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Inner {
        zeta: u64,
        alpha: Option<f64>,
    }

    #[derive(Serialize)]
    struct Outer {
        name: &'static str,
        inner: Inner,
        list: Vec<&'static str>,
        #[serde(flatten)]
        extra: serde_json::Map<String, serde_json::Value>,
    }

    #[test]
    fn flattens_in_declaration_order() {
        let mut extra = serde_json::Map::new();
        extra.insert("variant".into(), "deep".into());
        let row = Row::of(
            &[("ctx", Cell::Text("c".into()))],
            &Outer {
                name: "n",
                inner: Inner {
                    zeta: 7,
                    alpha: None,
                },
                list: vec!["a", "b"],
                extra,
            },
        );
        let keys: Vec<_> = row.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "ctx",
                "name",
                "inner.zeta",
                "inner.alpha",
                "list",
                "variant"
            ]
        );
        assert_eq!(row.get("inner.zeta"), Some(&Cell::Number(7u64.into())));
        assert_eq!(row.get("inner.alpha"), Some(&Cell::Null));
        assert_eq!(
            row.get("list"),
            Some(&Cell::List(vec!["a".into(), "b".into()]))
        );
    }

    #[test]
    fn columns_are_the_union_in_first_seen_order() {
        let a = Row(vec![("x".into(), Cell::Null), ("y".into(), Cell::Null)]);
        let b = Row(vec![("x".into(), Cell::Null), ("z".into(), Cell::Null)]);
        assert_eq!(columns(&[a, b]), ["x", "y", "z"]);
        let null = Row(vec![("gil".into(), Cell::Null), ("ops".into(), Cell::Null)]);
        let object = Row(vec![
            ("gil.held".into(), Cell::Bool(true)),
            ("ops".into(), Cell::Null),
        ]);
        assert_eq!(columns(&[null, object]), ["gil.held", "ops"]);
    }

    #[test]
    fn report_columns_drop_empty_ones_and_lead_with_the_headline() {
        let n = |v: u64| Cell::Number(v.into());
        let row = |lost: Cell| {
            Row(vec![
                ("model".into(), Cell::Text("gil".into())),
                ("wall_ns".into(), n(5)),
                ("speedup".into(), Cell::Null),
                ("counter.lost".into(), lost),
                ("variant".into(), Cell::Text("read".into())),
            ])
        };
        let rows = [row(Cell::Null), row(n(3))];
        assert_eq!(
            report_columns(&rows, &[]),
            ["model", "wall_ns", "counter.lost", "variant"]
        );
        assert_eq!(
            report_columns(&rows, &["counter.lost"]),
            ["model", "variant", "counter.lost", "wall_ns"]
        );
        let empty = [row(Cell::Null)];
        assert_eq!(
            report_columns(&empty, &["counter.lost"]),
            ["model", "variant", "wall_ns"]
        );
    }
}
