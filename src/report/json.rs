//! JSON: the report as one pretty-printed object, field names as PRODUCT.md fixes them.

use serde::Serialize;

/// Serialises any report.
pub fn render<T: Serialize>(report: &T) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(report).expect("reports always serialise");
    out.push(b'\n');
    out
}
