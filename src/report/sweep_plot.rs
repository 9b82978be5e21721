//! `--plot FILE.svg` with `--sweep`: the scenario's headline figure against the
//! swept value, one line per model, its min–max over the repeats as a band, CPython
//! twins dashed.
//!
//! The headline figure is picked per scenario, simply: latency p50 for the
//! scenarios whose point is a latency (convoy's I/O round trip, a GC pause, a queue
//! hand-off), otherwise speedup when every row has one, otherwise throughput. The
//! y axis label says which. Either axis goes logarithmic when its values span more
//! than 10x (a convoy's `gil` p50 is hundreds of times `threads`'); the swept values
//! are marked and labelled as given (`0.5ms`, not `500000`).

use super::bars::run_label;
use super::format::{duration_ns, rate};
use super::plot::colour;
use super::{RunReport, ScenarioReport};
use plotters::prelude::*;

/// Picture size in SVG pixels.
const SIZE: (u32, u32) = (960, 600);

/// Scenarios whose headline figure is a latency.
const LATENCY_SCENARIOS: &[&str] = &["convoy", "gc-pause", "queue"];

/// The figure on the y axis.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Metric {
    LatencyP50,
    Speedup,
    Throughput,
}

impl Metric {
    fn of(report: &ScenarioReport) -> Metric {
        if LATENCY_SCENARIOS.contains(&report.scenario.as_str()) {
            Metric::LatencyP50
        } else if report.runs.iter().all(|r| r.speedup.is_some()) {
            Metric::Speedup
        } else {
            Metric::Throughput
        }
    }

    fn label(self) -> &'static str {
        match self {
            Metric::LatencyP50 => "latency p50 (band: min–max over runs)",
            Metric::Speedup => "speedup vs sequential (band: min–max over runs)",
            Metric::Throughput => "throughput, ops/s (band: min–max over runs)",
        }
    }

    /// `(min, median, max)` of the row, or `None` when it has no such figure.
    fn range(self, run: &RunReport) -> Option<(f64, f64, f64)> {
        let spread = run.repeat.spread.as_ref();
        match self {
            Metric::LatencyP50 => {
                if run.latency_ns.count == 0 {
                    return None;
                }
                let mid = run.latency_ns.p50 as f64;
                Some(spread.map_or((mid, mid, mid), |s| {
                    let l = &s.latency_p50_ns;
                    (l.min as f64, mid, l.max as f64)
                }))
            }
            Metric::Speedup => {
                let mid = run.speedup?;
                Some(
                    spread
                        .and_then(|s| s.speedup.as_ref())
                        .map_or((mid, mid, mid), |s| (s.min, mid, s.max)),
                )
            }
            Metric::Throughput => {
                let mid = run.throughput_ops_per_s;
                Some(spread.map_or((mid, mid, mid), |s| {
                    let t = &s.throughput_ops_per_s;
                    (t.min, mid, t.max)
                }))
            }
        }
    }

    fn format(self, v: f64) -> String {
        match self {
            Metric::LatencyP50 => duration_ns(v.max(0.0).round() as u64),
            Metric::Speedup => super::bars::times(v),
            Metric::Throughput => rate(v),
        }
    }
}

/// An axis that is linear, or logarithmic when its values span more than 10x:
/// points are mapped to log10 space and the labels mapped back, so one chart type
/// serves both.
#[derive(Debug, Clone, Copy)]
struct Axis {
    log: bool,
}

impl Axis {
    fn for_values(values: impl Iterator<Item = f64> + Clone) -> Axis {
        let lo = values.clone().fold(f64::INFINITY, f64::min);
        let hi = values.fold(f64::NEG_INFINITY, f64::max);
        Axis {
            log: lo > 0.0 && hi / lo > 10.0,
        }
    }

    fn to(self, v: f64) -> f64 {
        if self.log {
            v.max(f64::MIN_POSITIVE).log10()
        } else {
            v
        }
    }

    fn from(self, v: f64) -> f64 {
        if self.log {
            10f64.powf(v)
        } else {
            v
        }
    }

    /// The drawn range around `[lo, hi]` (already mapped), with some margin.
    fn padded(lo: f64, hi: f64) -> std::ops::Range<f64> {
        let pad = ((hi - lo) * 0.08).max(hi.abs() * 0.05).max(1e-9);
        (lo - pad)..(hi + pad)
    }
}

/// One model's line: `(x, (min, median, max))` per swept value, in x order.
struct Line {
    label: String,
    dashed: bool,
    points: Vec<(f64, (f64, f64, f64))>,
}

/// True when the report's rows come from `--sweep`.
pub fn is_sweep(report: &ScenarioReport) -> bool {
    report.runs.iter().any(|r| r.repeat.sweep.is_some())
}

/// The swept values in the order they were given: `(x, label)`. Values that are
/// not numbers (a word) are placed at their position in the list.
fn sweep_values(report: &ScenarioReport) -> Vec<(String, Option<f64>)> {
    let mut values: Vec<(String, Option<f64>)> = Vec::new();
    for point in report.runs.iter().filter_map(|r| r.repeat.sweep.as_ref()) {
        if !values.iter().any(|(v, _)| *v == point.value) {
            values.push((point.value.clone(), point.number));
        }
    }
    values
}

/// The whole picture as SVG text.
pub fn render(report: &ScenarioReport) -> Result<String, String> {
    let metric = Metric::of(report);
    let values = sweep_values(report);
    let numeric = values.iter().all(|(_, n)| n.is_some());
    let x_of = |value: &str| -> Option<f64> {
        let index = values.iter().position(|(v, _)| v == value)?;
        if numeric {
            values[index].1
        } else {
            Some(index as f64)
        }
    };
    let key = report
        .runs
        .iter()
        .find_map(|r| r.repeat.sweep.as_ref())
        .map_or_else(String::new, |p| p.key.clone());

    let mut lines: Vec<Line> = Vec::new();
    for run in &report.runs {
        let (Some(point), Some(range)) = (run.repeat.sweep.as_ref(), metric.range(run)) else {
            continue;
        };
        let Some(x) = x_of(&point.value) else {
            continue;
        };
        let label = run_label(run);
        match lines.iter_mut().find(|l| l.label == label) {
            Some(line) => line.points.push((x, range)),
            None => lines.push(Line {
                dashed: run.model.starts_with("cpython"),
                label,
                points: vec![(x, range)],
            }),
        }
    }
    for line in &mut lines {
        line.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }

    let xs: Vec<f64> = values
        .iter()
        .filter_map(|(v, _)| x_of(v))
        .collect::<Vec<_>>();
    let x_axis = if numeric {
        Axis::for_values(xs.iter().copied())
    } else {
        Axis { log: false }
    };
    let ys = lines
        .iter()
        .flat_map(|l| l.points.iter().flat_map(|&(_, (a, _, c))| [a, c]));
    let y_axis = Axis::for_values(ys.clone().filter(|v| *v > 0.0));
    let fold = |it: &mut dyn Iterator<Item = f64>| {
        it.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        })
    };
    let (x_lo, x_hi) = fold(&mut xs.iter().map(|&x| x_axis.to(x)));
    let (y_lo, y_hi) = fold(&mut ys.map(|y| y_axis.to(y)));
    let (x_lo, x_hi) = if x_lo.is_finite() {
        (x_lo, x_hi)
    } else {
        (0.0, 1.0)
    };
    let (y_lo, y_hi) = if y_lo.is_finite() {
        (y_lo, y_hi)
    } else {
        (0.0, 1.0)
    };
    let x_range = Axis::padded(x_lo, x_hi);
    let y_range = Axis::padded(y_lo.min(if y_axis.log { y_lo } else { 0.0 }), y_hi);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        draw(
            &root,
            report,
            metric,
            &key,
            (x_axis, x_range),
            (y_axis, y_range),
            &values,
            &x_of,
            &lines,
        )
        .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type DrawResult = Result<(), DrawingAreaErrorKind<std::io::Error>>;

#[allow(clippy::too_many_arguments)]
fn draw(
    area: &Area<'_>,
    report: &ScenarioReport,
    metric: Metric,
    key: &str,
    (x_axis, x_range): (Axis, std::ops::Range<f64>),
    (y_axis, y_range): (Axis, std::ops::Range<f64>),
    values: &[(String, Option<f64>)],
    x_of: &dyn Fn(&str) -> Option<f64>,
    lines: &[Line],
) -> DrawResult {
    let y_bottom = y_range.start;
    let x_desc = if x_axis.log {
        format!("{key} (log scale)")
    } else {
        key.to_string()
    };
    let y_desc = if y_axis.log {
        format!("{} (log scale)", metric.label())
    } else {
        metric.label().to_string()
    };
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("gilbench scenario {}: sweep of {key}", report.scenario),
            ("sans-serif", 24),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(90)
        .build_cartesian_2d(x_range, y_range)?;
    // The swept values get their own marks and labels (below); the mesh's x labels
    // would be round numbers that were never measured.
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_labels(0)
        .y_labels(8)
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .y_label_formatter(&|y| metric.format(y_axis.from(*y)))
        .light_line_style(RGBColor(0xee, 0xee, 0xee))
        .draw()?;

    let grid = RGBColor(0xcc, 0xcc, 0xcc);
    for (value, _) in values {
        let Some(x) = x_of(value).map(|x| x_axis.to(x)) else {
            continue;
        };
        chart.draw_series(std::iter::once(Text::new(
            value.clone(),
            (x, y_bottom),
            ("sans-serif", 15).into_font().color(&BLACK).pos(
                plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Bottom,
                ),
            ),
        )))?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(x, y_bottom), (x, chart.y_range().end)],
            grid.stroke_width(1),
        )))?;
    }

    for (index, line) in lines.iter().enumerate() {
        let c = colour(index);
        let at = |&(x, (lo, mid, hi)): &(f64, (f64, f64, f64))| {
            (x_axis.to(x), (y_axis.to(lo), y_axis.to(mid), y_axis.to(hi)))
        };
        let points: Vec<(f64, (f64, f64, f64))> = line.points.iter().map(at).collect();
        // The band: min along, max back.
        let band: Vec<(f64, f64)> = points
            .iter()
            .map(|&(x, (lo, _, _))| (x, lo))
            .chain(points.iter().rev().map(|&(x, (_, _, hi))| (x, hi)))
            .collect();
        chart.draw_series(std::iter::once(Polygon::new(band, c.mix(0.18).filled())))?;
        let mids: Vec<(f64, f64)> = points.iter().map(|&(x, (_, m, _))| (x, m)).collect();
        let style = c.stroke_width(2);
        chart.draw_series(mids.iter().map(|&p| Circle::new(p, 3, style.filled())))?;
        let series = if line.dashed {
            chart.draw_series(DashedLineSeries::new(mids, 8, 4, style))?
        } else {
            chart.draw_series(LineSeries::new(mids, style))?
        };
        // The legend sample is a filled square, not a line, so each model has
        // exactly one line in the picture.
        series
            .label(line.label.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 18, y + 5)], c.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(0xbb, 0xbb, 0xbb))
        .label_font(("sans-serif", 17))
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::sweep::SweepPoint;
    use crate::report::fixture;

    /// The fixture's three models, once per swept switch interval.
    fn swept(scenario: &str) -> ScenarioReport {
        let mut report = fixture::scenario();
        report.scenario = scenario.into();
        report.runs.clear();
        for (value, ns) in [("0.5ms", 5e5), ("1ms", 1e6), ("5ms", 5e6)] {
            for mut run in fixture::scenario().runs {
                run.repeat.sweep = Some(SweepPoint {
                    key: "switch_interval".into(),
                    value: value.into(),
                    number: Some(ns),
                });
                report.runs.push(run);
            }
        }
        report
    }

    fn texts<'a>(doc: &'a roxmltree::Document<'_>) -> Vec<&'a str> {
        doc.descendants()
            .filter_map(|n| n.text())
            .map(str::trim)
            .collect()
    }

    /// One line per model, the three swept values labelled, the metric named.
    #[test]
    fn one_line_per_model_over_the_swept_values() {
        let report = swept("convoy");
        assert!(is_sweep(&report));
        let svg = render(&report).unwrap();
        let doc = roxmltree::Document::parse(&svg).expect("the SVG is well-formed XML");
        for (index, model) in ["sequential", "gil", "threads"].iter().enumerate() {
            let c = colour(index);
            let hex = format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2);
            let lines = doc
                .descendants()
                .filter(|n| n.has_tag_name("polyline"))
                .filter(|n| {
                    n.attribute("stroke")
                        .is_some_and(|s| s.eq_ignore_ascii_case(&hex))
                })
                .count();
            assert_eq!(lines, 1, "{model}: {svg}");
        }
        let texts = texts(&doc);
        for label in ["0.5ms", "1ms", "5ms", "sequential", "gil", "threads"] {
            assert!(texts.contains(&label), "no {label}: {texts:?}");
        }
        assert!(
            texts.iter().any(|t| t.starts_with("latency p50")),
            "{texts:?}"
        );
        // 0.5ms..5ms spans exactly 10x: linear; the band is drawn per model.
        assert!(!texts.iter().any(|t| t.contains("switch_interval (log")));
        assert_eq!(
            doc.descendants()
                .filter(|n| n.has_tag_name("polygon"))
                .count(),
            3
        );
    }

    /// Other scenarios plot their speedup; a wide sweep goes log; CPython is dashed.
    #[test]
    fn speedup_log_scale_and_dashed_twins() {
        let mut report = swept("cpu-bound");
        for run in &mut report.runs {
            if let Some(p) = &mut run.repeat.sweep {
                p.number = p
                    .number
                    .map(|n| n * if p.value == "5ms" { 100.0 } else { 1.0 });
            }
        }
        let mut twin = fixture::scenario().runs.remove(1);
        twin.model = "cpython-threads".into();
        twin.repeat.sweep = report.runs[0].repeat.sweep.clone();
        report.runs.push(twin);
        let svg = render(&report).unwrap();
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let texts = texts(&doc);
        assert!(texts.iter().any(|t| t.starts_with("speedup")), "{texts:?}");
        assert!(texts.contains(&"switch_interval (log scale)"), "{texts:?}");
        assert!(texts.contains(&"cpython-threads"), "{texts:?}");
    }
}
