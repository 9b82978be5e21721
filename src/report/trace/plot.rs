//! `--plot-timeline FILE.svg`: the timeline drawn with plotters.
//!
//! One panel per traced model, one lane per worker, each lane a row of rectangles
//! coloured by state (the same [`Lane`]s as the terminal strips, one column per
//! pixel); drop requests are red ticks above the lane of the waiter that set them,
//! forced switches purple ticks on the holder's lane. Each lane is labelled
//! `model/role-index`, like its track in `--trace`.

use super::timeline::{lanes, windows, Lane, Legend, Mark, State, TimelineOptions, Window};
use crate::report::format::duration_ns;
use crate::report::ScenarioReport;
use plotters::prelude::*;

/// Width of the picture, px.
const WIDTH: u32 = 1200;
/// Left margin for lane labels, px.
const LABEL_WIDTH: u32 = 150;
/// Height of one lane, px.
const LANE_HEIGHT: u32 = 26;
/// Panel height besides its lanes: caption and time axis, px.
const PANEL_EXTRA: u32 = 80;
/// Height of the legend strip, px.
const LEGEND_HEIGHT: u32 = 56;
/// Lanes drawn per model (like the terminal timeline).
const MAX_LANES: usize = 32;

/// The SVG could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("drawing the timeline: {0}")]
pub struct PlotError(String);

fn plot_error<E: std::fmt::Debug>(e: E) -> PlotError {
    PlotError(format!("{e:?}"))
}

/// The fill colour of a state.
pub fn colour(state: State) -> RGBColor {
    match state {
        State::Held => RGBColor(44, 160, 44),
        State::Waiting => RGBColor(255, 127, 14),
        State::Blocked => RGBColor(31, 119, 180),
        State::Running => RGBColor(23, 190, 207),
        State::Gc => RGBColor(148, 103, 189),
        State::Manager => RGBColor(140, 86, 75),
    }
}

fn mark_colour(mark: Mark) -> RGBColor {
    match mark {
        Mark::DropRequest => RGBColor(214, 39, 40),
        Mark::ForcedSwitch => RGBColor(148, 0, 211),
    }
}

/// Renders every traced run's timeline as one SVG document.
pub fn render(report: &ScenarioReport, options: &TimelineOptions) -> Result<Vec<u8>, PlotError> {
    let panels: Vec<(String, Window, Vec<Lane>)> = report
        .runs
        .iter()
        .zip(windows(&report.runs, options))
        .filter_map(|(run, window)| {
            let window = window?;
            let columns = (WIDTH - LABEL_WIDTH - 30) as usize;
            let mut lanes = lanes(run, window, columns);
            lanes.truncate(MAX_LANES);
            Some((run.model.clone(), window, lanes))
        })
        .collect();
    let height = LEGEND_HEIGHT
        + panels
            .iter()
            .map(|(_, _, lanes)| PANEL_EXTRA + LANE_HEIGHT * lanes.len().max(1) as u32)
            .sum::<u32>();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut rest = root.clone();
        for (model, window, lanes) in &panels {
            let panel_height = PANEL_EXTRA + LANE_HEIGHT * lanes.len().max(1) as u32;
            let (panel, below) = rest.split_vertically(panel_height);
            draw_panel(&root, &panel, &report.scenario, model, *window, lanes)?;
            rest = below;
        }
        let legend = Legend::of(panels.iter().flat_map(|(_, _, lanes)| lanes));
        let span = panels
            .first()
            .map(|(_, w, _)| Legend::window_words(*w, options));
        draw_legend(&rest, &legend, span.as_deref())?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg.into_bytes())
}

fn draw_panel<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &DrawingArea<DB, plotters::coord::Shift>,
    scenario: &str,
    model: &str,
    window: Window,
    lanes: &[Lane],
) -> Result<(), PlotError> {
    let ms = |ns: u64| ns as f64 / 1e6;
    let (x0, x1) = (ms(window.start_ns), ms(window.end_ns));
    let n = lanes.len().max(1) as f64;
    let caption = format!(
        "{scenario} under {model}: {} to {} into the run",
        duration_ns(window.start_ns),
        duration_ns(window.end_ns)
    );
    let mut chart = ChartBuilder::on(panel)
        .caption(caption, ("sans-serif", 16))
        .margin(8)
        .margin_right(22)
        .x_label_area_size(30)
        .y_label_area_size(LABEL_WIDTH - 8)
        .build_cartesian_2d(x0..x1, 0f64..n)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .x_labels(10)
        .x_max_light_lines(1)
        .x_desc("ms since the run started")
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(plot_error)?;

    let columns = lanes.first().map_or(1, |l| l.cells.len()) as f64;
    let x_of = |c: usize| x0 + (x1 - x0) * c as f64 / columns;
    for (i, lane) in lanes.iter().enumerate() {
        // Lane 0 at the top.
        let y = n - 1.0 - i as f64;
        let mut bars = Vec::new();
        let mut c = 0;
        while c < lane.cells.len() {
            let state = lane.cells[c].state;
            let from = c;
            while c < lane.cells.len() && lane.cells[c].state == state {
                c += 1;
            }
            if let Some(state) = state {
                bars.push(Rectangle::new(
                    [(x_of(from), y + 0.15), (x_of(c), y + 0.85)],
                    colour(state).filled(),
                ));
            }
        }
        chart.draw_series(bars).map_err(plot_error)?;
        let ticks = lane.cells.iter().enumerate().filter_map(|(c, cell)| {
            let mark = cell.mark?;
            let x = x_of(c) + (x1 - x0) / columns / 2.0;
            let (bottom, top) = match mark {
                Mark::DropRequest => (y + 0.6, y + 1.0),
                Mark::ForcedSwitch => (y + 0.0, y + 0.4),
            };
            Some(PathElement::new(
                vec![(x, bottom), (x, top)],
                mark_colour(mark).stroke_width(2),
            ))
        });
        chart.draw_series(ticks).map_err(plot_error)?;
        let (px, py) = chart.backend_coord(&(x0, y + 0.5));
        root.draw(&Text::new(
            lane.label.clone(),
            (px - 8, py),
            ("sans-serif", 13).into_font().color(&BLACK).pos(
                plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Right,
                    plotters::style::text_anchor::VPos::Center,
                ),
            ),
        ))
        .map_err(plot_error)?;
    }
    Ok(())
}

/// The legend under the panels: only the states and marks drawn, then the span
/// each panel shows.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    legend: &Legend,
    span: Option<&str>,
) -> Result<(), PlotError> {
    let style = ("sans-serif", 12).into_font().color(&BLACK);
    if let Some(span) = span {
        area.draw(&Text::new(format!("{span}."), (20, 36), style.clone()))
            .map_err(plot_error)?;
    }
    let mut x = 20;
    for &state in &legend.states {
        area.draw(&Rectangle::new(
            [(x, 12), (x + 14, 26)],
            colour(state).filled(),
        ))
        .map_err(plot_error)?;
        area.draw(&Text::new(state.meaning(), (x + 18, 14), style.clone()))
            .map_err(plot_error)?;
        x += 34 + 6 * state.meaning().len() as i32;
    }
    for &mark in &legend.marks {
        area.draw(&PathElement::new(
            vec![(x + 7, 10), (x + 7, 28)],
            mark_colour(mark).stroke_width(2),
        ))
        .map_err(plot_error)?;
        area.draw(&Text::new(mark.meaning(), (x + 14, 14), style.clone()))
            .map_err(plot_error)?;
        x += 34 + 6 * mark.meaning().len() as i32;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::{ev, report_with};
    use crate::runtime::trace::EventKind;
    use std::time::Duration;

    #[test]
    fn one_labelled_lane_per_worker() {
        let report = report_with(&[
            (
                "gil",
                vec![
                    (
                        1,
                        "io",
                        vec![
                            ev(EventKind::GilWait, 0, 900),
                            ev(EventKind::DropRequest, 500, 0),
                        ],
                    ),
                    (1, "cpu", vec![ev(EventKind::GilHeld, 0, 1_000)]),
                ],
            ),
            (
                "threads",
                vec![(1, "cpu", vec![ev(EventKind::Running, 0, 1_000)])],
            ),
        ]);
        let options = TimelineOptions {
            window: None,
            switch_interval: Duration::from_micros(1),
        };
        let svg = String::from_utf8(render(&report, &options).unwrap()).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
        let texts: Vec<&str> = svg
            .split("<text")
            .skip(1)
            .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim()))
            .collect();
        for label in ["gil/io-0", "gil/cpu-1", "threads/cpu-0"] {
            assert_eq!(
                texts.iter().filter(|t| **t == label).count(),
                1,
                "{label}: {texts:?}"
            );
        }
        assert!(svg.contains("#FF7F0E") || svg.to_lowercase().contains("#ff7f0e"));
    }
}
