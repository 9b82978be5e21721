//! The one render path: every command's result is a [`Report`], and [`render`] turns
//! any report into the bytes of the chosen `--format`, as hyperfine's export
//! manager does for its exporters.
//!
//! A report is serialisable (JSON is its `Serialize` impl, field names as
//! PRODUCT.md fixes them), it can be seen as rows (CSV and Markdown flatten those
//! with dotted keys, so the three formats never drift apart), and it has a
//! terminal view of its own. Exporters are pure functions of the report: no
//! measuring, no files, so each is a snapshot test away from being checked.

use super::colour::Palette;
use super::rows::Row;
use crate::cli::Format;
use serde::Serialize;

/// A command's result, as every exporter sees it.
pub trait Report: Serialize {
    /// The rows for CSV and Markdown: one flattened object per result, in report
    /// order.
    fn rows(&self) -> Vec<Row>;

    /// A heading for Markdown (`gilbench · scenario cpu-bound · 2 CPUs`).
    fn title(&self) -> Option<String> {
        None
    }

    /// Text printed under the Markdown table (a scenario's explanation).
    fn notes(&self) -> Option<String> {
        None
    }

    /// The rows for Markdown, which people read: by default [`Report::rows`].
    fn markdown_rows(&self) -> Vec<Row> {
        self.rows()
    }

    /// Keys (or key prefixes: `gil.wait_ns` drops every `gil.wait_ns.*`) left out
    /// of the Markdown table, which is read by people; CSV keeps every column.
    fn markdown_omits(&self) -> &'static [&'static str] {
        &[]
    }

    /// Keys CSV and Markdown put first after each row's identity, as the terminal
    /// table leads with them (a scenario's headline figures); none by default.
    fn leads(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// The terminal view: tables, pictures and sentences, coloured by `palette`.
    fn table(&self, palette: Palette) -> String;
}

/// `report` in `format`: the one place a format is chosen.
pub fn render<R: Report>(report: &R, format: Format, palette: Palette) -> Vec<u8> {
    match format {
        Format::Json => json(report),
        Format::Csv => super::csv::render(report),
        Format::Markdown => super::markdown::render(report),
        Format::Table => report.table(palette).into_bytes(),
    }
}

/// JSON: the report as one pretty-printed object.
pub fn json<T: Serialize + ?Sized>(report: &T) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(report).expect("reports always serialise");
    out.push(b'\n');
    out
}
