//! Markdown: a heading, a GitHub-flavoured table, and the report's notes — for
//! pasting results into an issue or a README.
//!
//! Unlike CSV it is read by people, so numbers get units: a column whose key says
//! `_ns` is shown as a duration (`5.02 ms`) and loses the suffix in its header,
//! rates read `12.3k/s`, speedups `1.93x`. Columns that are empty in every row,
//! and those the report lists in [`Report::markdown_omits`], are left out; a
//! scenario's headline figures come first.

use super::format::{bytes, count, duration_ns, rate};
use super::render::Report;
use super::rows::{report_columns, Cell};

/// Renders any tabular report as Markdown.
pub fn render<T: Report + ?Sized>(report: &T) -> Vec<u8> {
    let rows = report.markdown_rows();
    let omits = report.markdown_omits();
    let keys: Vec<String> = report_columns(&rows, &report.leads())
        .into_iter()
        .filter(|k| {
            !omits
                .iter()
                .any(|o| k == o || k.starts_with(&format!("{o}.")))
        })
        .collect();
    let mut out = String::new();
    if let Some(title) = report.title() {
        out.push_str(&format!("### {title}\n\n"));
    }
    let header: Vec<String> = keys.iter().map(|k| header(k)).collect();
    out.push_str(&format!("| {} |\n", header.join(" | ")));
    let align: Vec<&str> = keys
        .iter()
        .map(|k| {
            let numeric = rows
                .iter()
                .any(|r| matches!(r.get(k), Some(Cell::Number(_))));
            if numeric {
                "---:"
            } else {
                "---"
            }
        })
        .collect();
    out.push_str(&format!("| {} |\n", align.join(" | ")));
    for row in &rows {
        let cells: Vec<String> = keys
            .iter()
            .map(|k| row.get(k).map_or(String::new(), |c| escape(&value(k, c))))
            .collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    if let Some(notes) = report.notes().filter(|n| !n.trim().is_empty()) {
        out.push('\n');
        out.push_str(notes.trim());
        out.push('\n');
    }
    out.into_bytes()
}

/// `latency_ns.p50` → `latency p50`; `wall_ns` → `wall`.
fn header(key: &str) -> String {
    key.split('.')
        .map(|part| part.strip_suffix("_ns").unwrap_or(part))
        .collect::<Vec<_>>()
        .join(" ")
        .replace('_', " ")
}

/// Whether `key` names a duration (any segment ends in `_ns`).
pub(crate) fn is_duration(key: &str) -> bool {
    key.split('.').any(|part| part.ends_with("_ns"))
}

/// A cell as people read it, its unit chosen from its key (`_ns`, `_bytes`, …).
pub(crate) fn value(key: &str, cell: &Cell) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Bool(b) => b.to_string(),
        Cell::Text(s) => s.clone(),
        Cell::List(items) => items.join(", "),
        Cell::Number(n) => {
            let last = key.rsplit('.').next().unwrap_or(key);
            if let Some(int) = n.as_u64() {
                if is_duration(key) && int == 0 {
                    "0 ns".into()
                } else if is_duration(key) {
                    duration_ns(int)
                } else if last == "pid" || last.ends_with("_pid") {
                    int.to_string()
                } else if last.ends_with("_bytes") {
                    bytes(int)
                } else {
                    count(int)
                }
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if last == "speedup" {
                    format!("{f:.2}x")
                } else if last.ends_with("_per_s") {
                    rate(f)
                } else if last.ends_with("fraction") {
                    format!("{:.0}%", f * 100.0)
                } else {
                    format!("{f:.3}")
                }
            }
        }
    }
}

/// A pipe would end the cell; a line break would end the row.
fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    #[test]
    fn headers_and_values() {
        assert_eq!(header("latency_ns.p50"), "latency p50");
        assert_eq!(header("throughput_ops_per_s"), "throughput ops per s");
        let n = |v: u64| Cell::Number(v.into());
        assert_eq!(value("gil.wait_ns.p99", &n(5_020_000)), "5.02 ms");
        assert_eq!(value("private_dirty_bytes", &n(3 << 20)), "3.00 MiB");
        assert_eq!(value("ops", &n(12_345)), "12,345");
        assert_eq!(escape("a|b"), "a\\|b");
    }

    #[test]
    fn scenario_snapshot() {
        fixture::assert_snapshot("scenario.md", &render(&fixture::scenario()));
    }

    #[test]
    fn list_snapshot() {
        fixture::assert_snapshot("list.md", &render(&fixture::list()));
    }
}
