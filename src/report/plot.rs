//! `--plot FILE.svg`: the scenario as a picture, drawn with plotters' SVG backend
//! (no system fonts, no C libraries: text is left to whatever shows the SVG).
//!
//! The top chart is HdrHistogram's percentile plot: latency (log scale) against
//! percentile on a `1/(1-p)` axis, so 50%, 90%, 99%, 99.9% are evenly spaced and
//! the tail — where the GIL's switch interval and the convoy effect live — gets as
//! much room as the median. One line per model; CPython rows, which carry only a
//! summary, are dashed lines through their p50/p90/p99/p99.9 points. The bottom
//! chart is throughput per model, each bar labelled with its speedup.
//!
//! The plot is drawn after every model has run; the file is created before
//! ([`PlotFile::create`]) so a bad path fails at once with exit code 2.

use super::bars::run_label;
use super::format::{duration_ns, rate};
use super::{RunReport, ScenarioReport};
use crate::output::atomic::AtomicFile;
use crate::plan::InputError;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Picture size in SVG pixels.
const SIZE: (u32, u32) = (960, 860);
/// Height of the percentile chart; the bar chart gets the rest.
const TOP: u32 = 540;

/// Series colours (Tableau 10), by the run's index in the report.
pub const COLOURS: [RGBColor; 10] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];

/// The colour of the run at `index`.
pub fn colour(index: usize) -> RGBColor {
    COLOURS[index % COLOURS.len()]
}

/// The `--plot` file, created before measuring.
#[derive(Debug)]
pub struct PlotFile {
    file: AtomicFile,
}

impl PlotFile {
    /// Creates `path`; it must end in `.svg` (the only backend built in).
    pub fn create(path: &Path) -> Result<PlotFile, InputError> {
        let bad = |message: String| InputError::Flag {
            flag: "--plot".into(),
            message,
        };
        let svg = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
        if !svg {
            return Err(bad(format!(
                "{}: only SVG is supported; name the file FILE.svg",
                path.display()
            )));
        }
        Ok(PlotFile {
            file: AtomicFile::create("--plot", path)?,
        })
    }

    /// Draws `report` into the file; returns its path.
    /// A run that fails drops the `PlotFile`, leaving the path as it was.
    pub fn write(self, report: &ScenarioReport) -> anyhow::Result<PathBuf> {
        let svg = if super::sweep_plot::is_sweep(report) {
            super::sweep_plot::render(report)
        } else {
            render(report)
        };
        let svg = svg.map_err(|e| anyhow::anyhow!("--plot: drawing failed: {e}"))?;
        Ok(self.file.commit(svg.as_bytes())?)
    }
}

/// One line of the percentile chart: `(1/(1-p), latency ns)` points.
fn percentile_points(run: &RunReport, x_max: f64) -> Vec<(f64, f64)> {
    let mut points = Vec::new();
    if !run.histogram.is_empty() {
        for step in run.histogram.iter_quantiles(5) {
            let q = step.quantile_iterated_to();
            if q >= 1.0 {
                break;
            }
            let x = 1.0 / (1.0 - q);
            if x > x_max {
                break;
            }
            points.push((x, step.value_iterated_to().max(1) as f64));
        }
    } else if run.latency_ns.count > 0 {
        // A summary only (CPython rows): the percentiles it has, as far as the
        // sample count supports them.
        let s = &run.latency_ns;
        let known = [
            (1.0, s.min),
            (2.0, s.p50),
            (10.0, s.p90),
            (100.0, s.p99),
            (1000.0, s.p999),
        ];
        points.extend(
            known
                .iter()
                .filter(|(x, _)| *x <= (s.count as f64).max(1.0) && *x <= x_max)
                .map(|&(x, v)| (x, v.max(1) as f64)),
        );
    }
    points
}

/// `1/(1-p)` → `99.9%`.
fn percentile_label(x: f64) -> String {
    let pct = 100.0 * (1.0 - 1.0 / x.max(1.0));
    let decimals = (x.log10().round() as usize).saturating_sub(2);
    format!("{pct:.decimals$}%")
}

/// The whole picture as SVG text.
pub fn render(report: &ScenarioReport) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (top, bottom) = root.split_vertically(TOP);
        percentile_chart(&top, report).map_err(|e| e.to_string())?;
        throughput_chart(&bottom, report).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type DrawResult = Result<(), DrawingAreaErrorKind<std::io::Error>>;

fn percentile_chart(area: &Area<'_>, report: &ScenarioReport) -> DrawResult {
    let most = report
        .runs
        .iter()
        .map(|r| r.latency_ns.count)
        .max()
        .unwrap_or(1);
    // Up to the decade that holds the largest sample count: 99% for 100 samples,
    // 99.99% for 10,000; never past 99.9999%.
    let x_max = 10f64.powi(((most.max(2) as f64).log10().ceil() as i32).clamp(2, 6));
    let lines: Vec<Vec<(f64, f64)>> = report
        .runs
        .iter()
        .map(|r| percentile_points(r, x_max))
        .collect();
    let values = lines.iter().flatten().map(|&(_, y)| y);
    let lo = values.clone().fold(f64::INFINITY, f64::min);
    let hi = values.fold(0.0, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > 0.0 {
        (lo / 1.5, hi * 1.5)
    } else {
        (1.0, 1e9)
    };

    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "gilbench scenario {}: latency per op by percentile",
                report.scenario
            ),
            ("sans-serif", 26),
        )
        .margin(16)
        // Room on the right for the last percentile label (`99.99%`), centred on
        // the axis's end.
        .margin_right(48)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d((1.0..x_max).log_scale(), (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("percentile (1/(1-p) scale)")
        .y_desc("latency")
        .x_labels(12)
        .y_labels(10)
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|y| duration_ns(y.round() as u64))
        .light_line_style(RGBColor(0xee, 0xee, 0xee))
        .draw()?;

    for (index, (run, points)) in report.runs.iter().zip(lines).enumerate() {
        if points.is_empty() {
            continue;
        }
        let style = colour(index).stroke_width(2);
        let (series, label) = if run.histogram.is_empty() {
            // Summary-only rows are dashed, and their known points marked.
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, style.filled())))?;
            let series = chart.draw_series(DashedLineSeries::new(points, 8, 4, style))?;
            (
                series,
                format!("{} (min, p50, p90, p99, p99.9 only)", run_label(run)),
            )
        } else {
            let series = chart.draw_series(LineSeries::new(points, style))?;
            (series, run_label(run))
        };
        series
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
    }
    chart
        .configure_series_labels()
        // Latency rises to the right and the slow models sit on top, so the lower
        // right is where the lines are not.
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(0xbb, 0xbb, 0xbb))
        .label_font(("sans-serif", 17))
        .draw()?;
    Ok(())
}

fn throughput_chart(area: &Area<'_>, report: &ScenarioReport) -> DrawResult {
    let n = report.runs.len().max(1);
    let top = report
        .runs
        .iter()
        .map(|r| r.throughput_ops_per_s)
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.2;
    let names: Vec<String> = report.runs.iter().map(run_label).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(
            "throughput (ops/s), labelled with the speedup against the baseline",
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(36)
        .y_label_area_size(80)
        // A segmented range `0..k` has a slot for each of 0..=k: one per run.
        // (A single run gets a second, empty slot: plotters needs a non-empty range.)
        .build_cartesian_2d((0..(n - 1).max(1)).into_segmented(), 0.0..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .label_style(("sans-serif", 15))
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                names.get(*i).cloned().unwrap_or_default()
            }
            SegmentValue::Last => String::new(),
        })
        .y_label_formatter(&|y| if *y <= 0.0 { "0".into() } else { rate(*y) })
        .light_line_style(RGBColor(0xee, 0xee, 0xee))
        .draw()?;
    for (index, run) in report.runs.iter().enumerate() {
        let mut bar = Rectangle::new(
            [
                (SegmentValue::Exact(index), 0.0),
                (SegmentValue::Exact(index + 1), run.throughput_ops_per_s),
            ],
            colour(index).filled(),
        );
        bar.set_margin(0, 0, 12, 12);
        chart.draw_series(std::iter::once(bar))?;
        let label = run
            .speedup
            .map_or_else(|| rate(run.throughput_ops_per_s), super::bars::times);
        chart.draw_series(std::iter::once(Text::new(
            label,
            (SegmentValue::CenterOf(index), run.throughput_ops_per_s),
            ("sans-serif", 17).into_font().color(&BLACK).pos(
                plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Bottom,
                ),
            ),
        )))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    #[test]
    fn labels() {
        assert_eq!(percentile_label(1.0), "0%");
        assert_eq!(percentile_label(2.0), "50%");
        assert_eq!(percentile_label(10.0), "90%");
        assert_eq!(percentile_label(100.0), "99%");
        assert_eq!(percentile_label(1000.0), "99.9%");
        assert_eq!(percentile_label(10000.0), "99.99%");
    }

    /// The SVG is well-formed XML with one line and one legend entry per model.
    #[test]
    fn svg_parses_and_has_a_series_per_model() {
        let mut report = fixture::scenario();
        // A summary-only row, as CPython's are.
        let mut cpython = fixture::scenario().runs.remove(1);
        cpython.model = "cpython-threads".into();
        cpython.histogram = crate::measure::new_histogram();
        report.runs.push(cpython);
        let svg = render(&report).unwrap();
        let doc = roxmltree::Document::parse(&svg).expect("the SVG is well-formed XML");
        let series = series_by_colour(&doc);
        let texts: Vec<&str> = doc
            .descendants()
            .filter_map(|n| n.text())
            .map(str::trim)
            .collect();
        for (index, run) in report.runs.iter().enumerate() {
            let c = colour(index);
            let hex = format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2);
            // The data line, and the legend's sample line.
            assert!(
                series.get(&hex).copied().unwrap_or(0) >= 2,
                "{}: {series:?}",
                run.model
            );
            assert!(
                texts.contains(&run.model.as_str()),
                "no text for {}",
                run.model
            );
        }
    }

    /// Polylines per stroke colour (upper-case hex, as plotters writes it).
    pub(crate) fn series_by_colour(
        doc: &roxmltree::Document<'_>,
    ) -> std::collections::BTreeMap<String, usize> {
        let mut out = std::collections::BTreeMap::new();
        for node in doc.descendants().filter(|n| n.has_tag_name("polyline")) {
            if let Some(stroke) = node.attribute("stroke") {
                *out.entry(stroke.to_ascii_uppercase()).or_insert(0) += 1;
            }
        }
        out
    }
}
