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
    let headline = super::headline::of(report.config["workload"].as_str().unwrap_or(""));
    let speedups = if headline.leads_with_speedup() {
        super::bars::speedup_lines(report, palette)
    } else {
        String::new()
    };
    let latency = if headline.shows_latency() {
        super::bars::latency_picture(report, palette)
    } else {
        String::new()
    };
    for picture in [latency, speedups] {
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
        if report.runs.iter().any(super::switch_cost_capped) {
            out.push_str(
                "Capped at the run's CPU time (marked ≤): the calibrated cost includes waking an \
                 idle CPU,\nwhich a run with this many switches does not pay each time; switching \
                 is CPU work, so CPU time bounds it.\n",
            );
        }
    }
    out.push_str(&super::extras::render(report));
    if let Some(note) = super::trace::counts::note(report) {
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
    if let Some(lesson) = &report.lesson {
        out.push('\n');
        out.push_str(&super::tour::wrap(
            &format!("This run: {lesson}"),
            "",
            "",
            84,
        ));
    }
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
    let kind = report.config["workload"].as_str().unwrap_or("");
    let columns = super::headline::of(kind).columns(&report.runs);
    let mut header = vec!["model".to_string()];
    header.extend(columns.iter().map(|c| c.header()));
    let mut table = new_table(header.iter().map(String::as_str).collect());
    for run in &report.runs {
        let mut row = vec![super::bars::run_label(run)];
        row.extend(
            columns
                .iter()
                .map(|c| c.cell(run).unwrap_or_else(|| "–".into())),
        );
        table.add_row(row);
    }
    table
}

/// One of the GIL's wait percentiles.
type WaitFigure = fn(&super::GilReport) -> u64;

/// The GIL table. A wait percentile that is zero in every row (most takes found the
/// GIL free) is left out: `wait p50 0 ns` says nothing; p99 and max say who waited.
fn gil_table(report: &ScenarioReport) -> Table {
    let gils: Vec<(&str, &super::GilReport)> = report
        .runs
        .iter()
        .filter_map(|r| Some((r.model.as_str(), r.gil.as_ref()?)))
        .collect();
    let waits: [(&str, WaitFigure); 3] = [
        ("wait p50", |g| g.wait_ns.p50),
        ("wait p99", |g| g.wait_ns.p99),
        ("wait max", |g| g.wait_ns.max),
    ];
    let waits: Vec<_> = waits
        .into_iter()
        .filter(|(_, f)| gils.iter().any(|(_, g)| f(g) > 0))
        .collect();
    let mut header = vec![
        "GIL",
        "held",
        "acquisitions",
        "drop requests",
        "forced switches",
    ];
    header.extend(waits.iter().map(|(h, _)| *h));
    let mut table = new_table(header);
    for (model, gil) in gils {
        let mut row = vec![
            model.to_string(),
            format!("{:.0}%", gil.hold_fraction * 100.0),
            count(gil.acquisitions),
            gil.drop_requests.map_or("–".into(), count),
            gil.forced_switches.map_or("–".into(), count),
        ];
        row.extend(waits.iter().map(|(_, f)| duration_ns(f(gil))));
        table.add_row(row);
    }
    table
}
