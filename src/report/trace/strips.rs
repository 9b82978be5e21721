//! `--timeline`: a strip per worker under the table, one character per time slice.
//!
//! Plain characters unless the output is a terminal and `NO_COLOR` is unset; with
//! colour the glyphs are blocks in the state's colour, so the convoy (a long
//! `-----` of waiting on the I/O worker's strip, ended by a `!`) and Python 2's
//! "battle" (holders that keep re-taking the lock) stand out at a glance.

use super::timeline::{lanes, windows, Cell, Legend, Mark, State, TimelineOptions};
use crate::report::format::duration_ns;
use crate::report::ScenarioReport;

/// Characters per strip.
pub const COLUMNS: usize = 80;

/// Workers shown per model; the rest are summarised in one line.
pub const MAX_LANES: usize = 16;

/// Whether to colour: only on a terminal, and never when `NO_COLOR` is set to
/// anything non-empty (<https://no-color.org>).
pub fn use_colour(to_terminal: bool) -> bool {
    to_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The timeline section: for every traced model, a header, its strips, and a legend.
pub fn render(report: &ScenarioReport, options: &TimelineOptions, colour: bool) -> String {
    let mut out = String::new();
    let mut shown = Vec::new();
    let mut span = None;
    for (run, window) in report.runs.iter().zip(windows(&report.runs, options)) {
        let Some(window) = window else {
            continue;
        };
        span = Some(window);
        let lanes = lanes(run, window, COLUMNS);
        let width = lanes.iter().map(|l| l.label.len()).max().unwrap_or(0);
        out.push_str(&format!(
            "timeline {} · {} to {} into the run · one column = {}\n",
            run.model,
            duration_ns(window.start_ns),
            duration_ns(window.end_ns),
            duration_ns(window.len_ns() / COLUMNS as u64),
        ));
        for lane in lanes.iter().take(MAX_LANES) {
            out.push_str(&format!("  {:<width$} ", lane.label));
            for cell in &lane.cells {
                out.push_str(&cell_glyph(cell, colour));
            }
            out.push('\n');
        }
        if lanes.len() > MAX_LANES {
            out.push_str(&format!(
                "  … and {} more workers (see --trace or --plot-timeline)\n",
                lanes.len() - MAX_LANES
            ));
        }
        shown.extend(lanes.into_iter().take(MAX_LANES));
    }
    let Some(span) = span else {
        return out;
    };
    // Only what occurs in the strips above, and the span they show.
    let legend = Legend::of(&shown);
    out.push_str(&format!(
        "  legend: {}.\n ",
        Legend::window_words(span, options)
    ));
    for state in legend.states {
        out.push_str(&format!(
            "  {} {}",
            glyph(Some(state), None, colour),
            state.meaning()
        ));
    }
    for mark in legend.marks {
        out.push_str(&format!(
            "  {} {}",
            glyph(None, Some(mark), colour),
            mark.meaning()
        ));
    }
    if legend.brief_holds {
        out.push_str(&format!(
            "  {} took the GIL, held it less than the column",
            paint(BRIEF, "1;32", colour)
        ));
    }
    out.push_str("  (blank: not started, between a release and the next take, or done)\n");
    out
}

/// A column in which the worker took the GIL but mostly did something else.
const BRIEF: char = '+';

/// A cell's glyph: a mark, else a brief hold, else its state's.
fn cell_glyph(cell: &Cell, colour: bool) -> String {
    if cell.mark.is_none() && cell.took_briefly {
        return paint(BRIEF, "1;32", colour);
    }
    glyph(cell.state, cell.mark, colour)
}

/// One cell: the mark if there is one, else the state's glyph.
fn glyph(state: Option<State>, mark: Option<Mark>, colour: bool) -> String {
    if let Some(mark) = mark {
        let (c, code) = match mark {
            Mark::DropRequest => ('!', "1;31"),
            Mark::ForcedSwitch => ('^', "1;35"),
        };
        return paint(c, code, colour);
    }
    let Some(state) = state else {
        return " ".into();
    };
    let (plain, fancy, code) = match state {
        State::Held => ('#', '█', "32"),
        State::Waiting => ('-', '░', "33"),
        State::Blocked => ('_', '▁', "34"),
        State::Running => ('=', '█', "36"),
        State::Gc => ('g', '▓', "35"),
        State::Manager => ('m', '▒', "35"),
    };
    if colour {
        paint(fancy, code, true)
    } else {
        plain.to_string()
    }
}

fn paint(c: char, code: &str, colour: bool) -> String {
    if colour {
        format!("\x1b[{code}m{c}\x1b[0m")
    } else {
        c.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::{ev, report_with};
    use crate::runtime::trace::EventKind;
    use std::time::Duration;

    #[test]
    fn plain_strips_show_the_convoy() {
        let ms = 1_000_000;
        let report = report_with(&[(
            "gil",
            vec![
                (
                    1,
                    "io",
                    vec![
                        ev(EventKind::IoBlocked, 0, ms),
                        ev(EventKind::GilWait, ms, 9 * ms),
                        ev(EventKind::DropRequest, 8 * ms, 0),
                    ],
                ),
                (1, "cpu", vec![ev(EventKind::GilHeld, 0, 10 * ms)]),
            ],
        )]);
        let options = TimelineOptions {
            window: Some(Duration::from_millis(8)),
            switch_interval: Duration::from_millis(1),
        };
        let text = render(&report, &options, false);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("timeline gil · 1.00 ms to 9.00 ms"),
            "{text}"
        );
        let io = lines[1].trim_start_matches("  gil/io-0  ");
        assert_eq!(io.len(), COLUMNS, "{text}");
        assert!(io.starts_with("----") && io.contains('!'), "{text}");
        assert!(lines[2].ends_with(&"#".repeat(COLUMNS)), "{text}");
        assert!(
            lines[3].contains("each strip shows 8.00 ms (--timeline-window 8.00 ms)"),
            "{text}"
        );
        assert!(
            lines[4].contains("# holds the GIL") && lines[4].contains("! sets the drop request"),
            "{text}"
        );
        // Only what occurs: no forced switch, no GC pause in these strips.
        assert!(
            !text.contains("forced switch") && !text.contains("GC pause"),
            "{text}"
        );
        assert!(!text.contains('\x1b'));
        assert!(render(&report, &options, true).contains("\x1b[32m█"));
        assert!(!text.contains("took the GIL"), "{text}");

        // A 20 µs hold inside a wait shows as `+`, and the legend says what it is.
        let brief = report_with(&[(
            "cpython-threads",
            vec![(
                1,
                "io",
                vec![
                    ev(EventKind::GilWait, 0, 4 * ms),
                    ev(EventKind::GilHeld, 4 * ms, 20_000),
                    ev(EventKind::GilWait, 4 * ms + 20_000, 6 * ms),
                ],
            )],
        )]);
        let options = TimelineOptions {
            window: Some(Duration::from_millis(8)),
            switch_interval: Duration::from_millis(1),
        };
        let text = render(&brief, &options, false);
        let strip = text.lines().nth(1).unwrap();
        assert_eq!(strip.matches('+').count(), 1, "{text}");
        assert!(
            text.contains("+ took the GIL, held it less than the column"),
            "{text}"
        );
    }
}
