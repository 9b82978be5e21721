//! Scenario-specific fields in the terminal report, rendered generically.
//!
//! A workload's extras (`refcount`, `gc`, `alloc`, fork-cow's `variant` and memory
//! figures) are JSON beside the standard fields. Rather than teach the table about
//! each scenario, this prints them by shape: an object becomes a table of its own
//! (one row per run), plain values a `details` table; a latency summary shows its
//! p50 / p99 / max; names ending in `_ns` print as durations, `_bytes` as sizes.

use super::bars::run_label;
use super::format::{bytes, count, duration_ns};
use super::ScenarioReport;
use comfy_table::{presets, CellAlignment, ContentArrangement, Table, TableComponent};
use serde_json::{Map, Value};

/// The extras tables, each followed by a blank line; empty without extras.
pub fn render(report: &ScenarioReport) -> String {
    let mut groups: Vec<Group> = Vec::new();
    for run in &report.runs {
        let mut plain = Vec::new();
        for (key, value) in &run.extra {
            match value {
                // All zeros: nothing happened here (gc-pause's I/O worker alone
                // never collects), so the row would only say `0 ns`, `0 B`.
                Value::Object(fields) if !is_summary(fields) && all_zero(value) => {}
                Value::Object(fields) if !is_summary(fields) => {
                    push(&mut groups, key, run_label(run), cells(fields));
                }
                _ if key == "variant" => {}
                _ => plain.extend(cell(key, value)),
            }
        }
        if !plain.is_empty() {
            push(&mut groups, "details", run_label(run), plain);
        }
    }
    let mut out = String::new();
    for (name, rows) in groups {
        let mut columns: Vec<String> = Vec::new();
        for (_, cells) in &rows {
            for (column, _) in cells {
                if !columns.contains(column) {
                    columns.push(column.clone());
                }
            }
        }
        let value = |cells: &[(String, String)], column: &str| {
            cells
                .iter()
                .find(|(k, _)| k == column)
                .map_or("–".to_string(), |(_, v)| v.clone())
        };
        // Many fields and few runs read best with a row per field.
        let table = if columns.len() > rows.len() {
            let mut header = vec![name];
            header.extend(rows.iter().map(|(label, _)| label.clone()));
            let body = columns.iter().map(|c| {
                let mut row = vec![c.clone()];
                row.extend(rows.iter().map(|(_, cells)| value(cells, c)));
                row
            });
            let mut table = new_table(header, body);
            // Compact: no rule between the rows of one run's column.
            for c in [
                TableComponent::HorizontalLines,
                TableComponent::MiddleIntersections,
                TableComponent::LeftBorderIntersections,
                TableComponent::RightBorderIntersections,
            ] {
                table.remove_style(c);
            }
            table
        } else {
            let mut header = vec![name];
            header.extend(columns.iter().cloned());
            let body = rows.iter().map(|(label, cells)| {
                let mut row = vec![label.clone()];
                row.extend(columns.iter().map(|c| value(cells, c)));
                row
            });
            new_table(header, body)
        };
        out.push_str(&format!("\n{table}\n"));
    }
    out
}

fn new_table(header: Vec<String>, rows: impl Iterator<Item = Vec<String>>) -> Table {
    let columns = header.len();
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_HORIZONTAL_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    for i in 1..columns {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    for row in rows {
        table.add_row(row);
    }
    table
}

/// Cells of one row: (column, text).
type Cells = Vec<(String, String)>;
/// A table: its name and its rows (label, cells).
type Group = (String, Vec<(String, Cells)>);

fn push(groups: &mut Vec<Group>, name: &str, label: String, cells: Cells) {
    match groups.iter_mut().find(|(n, _)| n == name) {
        Some((_, rows)) => rows.push((label, cells)),
        None => groups.push((name.to_string(), vec![(label, cells)])),
    }
}

/// Whether every number in `value` is zero (and there is one).
fn all_zero(value: &Value) -> bool {
    fn walk(v: &Value, numbers: &mut usize) -> bool {
        match v {
            Value::Number(n) => {
                *numbers += 1;
                n.as_f64() == Some(0.0)
            }
            Value::Object(f) => f.values().all(|v| walk(v, numbers)),
            Value::Array(a) => a.iter().all(|v| walk(v, numbers)),
            _ => true,
        }
    }
    let mut numbers = 0;
    walk(value, &mut numbers) && numbers > 0
}

fn is_summary(fields: &Map<String, Value>) -> bool {
    ["p50", "p99", "max"]
        .iter()
        .all(|k| fields.contains_key(*k))
}

fn cells(fields: &Map<String, Value>) -> Vec<(String, String)> {
    fields.iter().flat_map(|(k, v)| cell(k, v)).collect()
}

/// The cells for one field: one, or three for a latency summary.
fn cell(key: &str, value: &Value) -> Vec<(String, String)> {
    let name = key.trim_end_matches("_ns").trim_end_matches("_bytes");
    match value {
        Value::Object(f) if is_summary(f) => ["p50", "p99", "max"]
            .iter()
            .map(|p| (format!("{name} {p}"), scalar(key, &f[*p])))
            .collect(),
        Value::Object(_) => Vec::new(),
        _ => vec![(name.replace('_', " "), scalar(key, value))],
    }
}

fn scalar(key: &str, value: &Value) -> String {
    match value {
        // No time, no memory: nothing happened (the I/O worker alone builds no heap).
        Value::Number(n)
            if (key.ends_with("_ns") || key.ends_with("_bytes")) && n.as_f64() == Some(0.0) =>
        {
            "–".into()
        }
        Value::Number(n) if key.ends_with("_ns") => duration_ns(n.as_u64().unwrap_or(0)),
        Value::Number(n) if key.ends_with("_bytes") => bytes(n.as_u64().unwrap_or(0)),
        Value::Number(n) => match n.as_u64() {
            Some(u) => count(u),
            None => format!("{:.3}", n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|v| scalar(key, v))
            .collect::<Vec<_>>()
            .join("/"),
        Value::Null => "–".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_become_cells() {
        let summary = serde_json::json!({"count": 3, "p50": 1000, "p99": 2000, "max": 3000});
        let cells = cell("pause_ns", &summary);
        assert_eq!(cells[2], ("pause max".to_string(), "3.00 µs".to_string()));
        assert_eq!(
            cell("private_dirty_bytes", &serde_json::json!(3 << 20)),
            vec![("private dirty".to_string(), "3.00 MiB".to_string())]
        );
        assert_eq!(
            scalar("by_generation", &serde_json::json!([1, 2, 3])),
            "1/2/3"
        );
        assert_eq!(bytes(512), "512 B");
    }
}
