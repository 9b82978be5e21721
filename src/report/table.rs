//! The terminal report: a row per model, GIL details, and the explanation.

use super::colour::Palette;
use super::format::{count, duration_ns};
use super::ScenarioReport;
use comfy_table::{presets, CellAlignment, ContentArrangement, Table};

/// Renders a scenario report as text tables and pictures, coloured by `palette`,
/// with its `--timeline` strips (if any) between the tables and the explanation.
pub fn render(report: &ScenarioReport, palette: Palette) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "gilbench {} · scenario {} · {} CPUs · Linux {}\n{}\n\n",
        report.gilbench,
        report.scenario,
        report.machine.cpus,
        report.machine.kernel,
        report.summary
    ));
    out.push_str(&main_table(report).to_string());
    out.push('\n');
    out.push_str(&super::spread_text::notes(report));
    for picture in [
        super::bars::latency_picture(report, palette),
        super::bars::speedup_lines(report, palette),
    ] {
        if !picture.is_empty() {
            out.push('\n');
            out.push_str(&picture);
        }
    }
    if report.runs.iter().any(|r| r.gil.is_some()) {
        out.push('\n');
        out.push_str(&gil_table(report).to_string());
        out.push('\n');
    }
    if let Some(c) = &report.ctx_switch_calibration {
        out.push_str(&format!(
            "\nctx sw cost (est.) = voluntary × {} (a wake-up from another CPU) + involuntary × {} \
             (a switch on one CPU),\ncalibrated just now with `gilbench ctxswitch --mode thread-futex`; \
             --no-calibrate skips it.\n",
            duration_ns(c.cross_cpu_ns),
            duration_ns(c.same_cpu_ns)
        ));
    }
    out.push_str(&super::extras::render(report));
    if let Some(note) = super::traces::note(report) {
        out.push('\n');
        out.push_str(&note);
        out.push('\n');
    }
    if let Some(strips) = report.timeline.as_deref().filter(|s| !s.is_empty()) {
        out.push('\n');
        out.push_str(strips);
    }
    out.push('\n');
    out.push_str(&report.explanation);
    out.push('\n');
    let warnings = super::spread_text::warnings(report);
    if !warnings.is_empty() {
        out.push('\n');
        out.push_str(&warnings);
    }
    out
}

fn new_table(header: Vec<&str>) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_HORIZONTAL_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.clone());
    for i in 1..header.len() {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

fn main_table(report: &ScenarioReport) -> Table {
    let counters = report.runs.iter().any(|r| r.counter.is_some());
    let startup = report.runs.iter().any(|r| r.startup_ns.is_some());
    let mut header = vec![
        "model",
        "wall",
        "ops/s",
        "speedup",
        "p50",
        "p99",
        "max",
        "cpu user+sys",
        "ctx sw vol/invol",
    ];
    if startup {
        header.insert(2, "start-up");
    }
    let cost = report.ctx_switch_calibration.is_some();
    if cost {
        header.push("ctx sw cost (est.)");
    }
    if counters {
        header.push("lost updates");
    }
    let mut table = new_table(header);
    for run in &report.runs {
        let mut row = vec![
            super::extras::run_label(run),
            super::spread_text::wall(run),
            super::spread_text::ops_per_s(run),
            super::spread_text::speedup(run),
            super::spread_text::p50(run),
            duration_ns(run.latency_ns.p99),
            duration_ns(run.latency_ns.max),
            duration_ns(run.cpu_user_ns + run.cpu_sys_ns),
            format!(
                "{}/{}",
                count(run.voluntary_ctx_switches),
                count(run.involuntary_ctx_switches)
            ),
        ];
        if startup {
            row.insert(2, run.startup_ns.map_or("–".into(), duration_ns));
        }
        if cost {
            row.push(run.ctx_switch_cost_ns.map_or("–".into(), duration_ns));
        }
        if counters {
            row.push(run.counter.map_or("–".into(), |c| {
                let pct = if c.expected > 0 {
                    100.0 * c.lost as f64 / c.expected as f64
                } else {
                    0.0
                };
                format!("{} ({pct:.1}%)", count(c.lost))
            }));
        }
        table.add_row(row);
    }
    table
}

fn gil_table(report: &ScenarioReport) -> Table {
    let mut table = new_table(vec![
        "GIL",
        "held",
        "acquisitions",
        "drop requests",
        "forced switches",
        "wait p50",
        "wait p99",
        "wait max",
    ]);
    for run in &report.runs {
        let Some(gil) = &run.gil else { continue };
        table.add_row(vec![
            run.model.clone(),
            format!("{:.0}%", gil.hold_fraction * 100.0),
            count(gil.acquisitions),
            count(gil.drop_requests),
            count(gil.forced_switches),
            duration_ns(gil.wait_ns.p50),
            duration_ns(gil.wait_ns.p99),
            duration_ns(gil.wait_ns.max),
        ]);
    }
    table
}
