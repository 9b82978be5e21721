//! CSV (RFC 4180): a header of dotted JSON keys, then one line per result.
//!
//! Values are the JSON report's, unconverted — integer nanoseconds, raw rates — so
//! a spreadsheet or pandas reads exactly what `--format json` would have said. A
//! column that is empty in every row (a queue's `counter`) is left out, and a
//! scenario's headline figures come first, as in the table.

use super::render::Report;
use super::rows::{report_columns, Cell};

/// Renders any tabular report as CSV.
pub fn render<T: Report + ?Sized>(report: &T) -> Vec<u8> {
    let rows = report.rows();
    let keys = report_columns(&rows, &report.leads());
    let mut out = String::new();
    push_line(&mut out, keys.iter().map(|k| quote(k)));
    for row in &rows {
        push_line(
            &mut out,
            keys.iter().map(|k| row.get(k).map_or(String::new(), cell)),
        );
    }
    out.into_bytes()
}

fn push_line(out: &mut String, cells: impl Iterator<Item = String>) {
    let line: Vec<String> = cells.collect();
    out.push_str(&line.join(","));
    out.push('\n');
}

fn cell(cell: &Cell) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Bool(b) => b.to_string(),
        Cell::Number(n) => n.to_string(),
        Cell::Text(s) => quote(s),
        // The CLI's own list syntax (`--model a,b`), quoted because of the commas.
        Cell::List(items) => quote(&items.join(",")),
    }
}

/// Quotes a field if it holds a comma, a quote or a line break (RFC 4180 §2.6–7).
fn quote(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    #[test]
    fn quoting() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn scenario_snapshot() {
        fixture::assert_snapshot("scenario.csv", &render(&fixture::scenario()));
    }

    #[test]
    fn list_snapshot() {
        fixture::assert_snapshot("list.csv", &render(&fixture::list()));
    }
}
