//! Timelines: what each worker was doing, slice by slice, over a short window.
//!
//! Both the terminal strips (`--timeline`, [`super::strips`]) and the SVG
//! (`--plot-timeline`, [`super::plot`]) are drawn from the same [`Lane`]s:
//! the window is cut into equal columns, and each column of a worker shows the
//! state it spent most of that time in, plus a mark if a drop request or a forced
//! switch happened there. A column in which the worker took the GIL but held it
//! for less than any other state ([`Cell::took_briefly`]) says so: an I/O
//! thread's 5–30 µs holds inside a 500 µs column would otherwise vanish into its
//! waits, and a strip of `-` would read as one long wait.
//!
//! # The window
//!
//! A whole run is far too long to read at one character per slice, and its first
//! moments (threads starting, the first take) are not typical. Unless
//! `--timeline-window` says otherwise, a timeline shows **8 switch intervals**
//! (40 ms at the default 5 ms: several convoy round trips), starting **one switch
//! interval after every worker has started** — or a tenth of the rest of the run,
//! for runs shorter than ten intervals. "Started" is the last worker's first
//! event: the workers leave the start line together, but on a busy machine the
//! OS can take milliseconds to run one woken from it (the one that arrived last
//! never slept and runs at once), and counted from the first worker's start the
//! window opened on a convoy's I/O worker that had not begun (a blank strip, as
//! if it did nothing). Where workers run one after another (`sequential`: one
//! ends before the next begins) the window starts from the first worker's start. Every model's strip spans the same length of time
//! ([`windows`]), so one column means the same everywhere and the strips can be
//! compared: a run that ended sooner shows blank columns at its end. That length
//! is the window asked for, cut to the longest any run could fill; the legend says
//! which ([`Legend`]).

use crate::report::RunReport;
use crate::runtime::trace::EventKind;
use std::time::Duration;

/// Switch intervals a timeline shows by default.
pub const DEFAULT_INTERVALS: u32 = 8;

/// Timeline settings from the plan.
#[derive(Debug, Clone, Copy)]
pub struct TimelineOptions {
    /// `--timeline-window`, if given.
    pub window: Option<Duration>,
    /// The GIL's switch interval, the natural time unit of a timeline.
    pub switch_interval: Duration,
}

/// What a worker was doing, as timelines colour it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Holds the GIL.
    Held,
    /// Waits for the GIL.
    Waiting,
    /// Blocked in a call, GIL released.
    Blocked,
    /// Runs with no GIL to take.
    Running,
    /// In a garbage-collection pause.
    Gc,
    /// Waits for the manager server.
    Manager,
}

impl State {
    /// Every state, in legend order.
    pub const ALL: [State; 6] = [
        State::Held,
        State::Waiting,
        State::Blocked,
        State::Running,
        State::Gc,
        State::Manager,
    ];

    /// The state a span puts its worker in (`None` for instants).
    pub fn of(kind: EventKind) -> Option<State> {
        match kind {
            EventKind::GilHeld => Some(State::Held),
            EventKind::GilWait => Some(State::Waiting),
            EventKind::IoBlocked => Some(State::Blocked),
            EventKind::Running => Some(State::Running),
            EventKind::GcPause => Some(State::Gc),
            EventKind::ManagerRequest => Some(State::Manager),
            EventKind::DropRequest | EventKind::ForcedSwitch => None,
        }
    }

    /// How the legend describes it.
    pub fn meaning(self) -> &'static str {
        match self {
            State::Held => "holds the GIL",
            State::Waiting => "waits for the GIL",
            State::Blocked => "blocked in I/O (GIL released)",
            State::Running => "runs (no GIL)",
            State::Gc => "GC pause",
            State::Manager => "manager request",
        }
    }
}

/// An instant worth marking in a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// This worker, waiting, set the drop request.
    DropRequest,
    /// This worker dropped the GIL on request and waited for a switch.
    ForcedSwitch,
}

impl Mark {
    /// How the legend describes it.
    pub fn meaning(self) -> &'static str {
        match self {
            Mark::DropRequest => "sets the drop request",
            Mark::ForcedSwitch => "forced switch",
        }
    }
}

/// One column of one worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cell {
    /// The state that took most of the column; `None` if nothing was recorded.
    pub state: Option<State>,
    /// A drop request (preferred) or forced switch in the column.
    pub mark: Option<Mark>,
    /// The worker held the GIL in the column, but not for most of it (`state`
    /// is another).
    pub took_briefly: bool,
}

/// The time a timeline shows, ns since the run's epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First ns shown.
    pub start_ns: u64,
    /// End of the last column.
    pub end_ns: u64,
}

impl Window {
    /// Length in ns (at least 1).
    pub fn len_ns(&self) -> u64 {
        (self.end_ns - self.start_ns).max(1)
    }

    /// Where column `c` of `columns` starts.
    fn column_start(&self, c: usize, columns: usize) -> u64 {
        self.start_ns + (u128::from(self.len_ns()) * c as u128 / columns as u128) as u64
    }

    /// The column `t` falls in.
    fn column_of(&self, t: u64, columns: usize) -> usize {
        let c = u128::from(t - self.start_ns) * columns as u128 / u128::from(self.len_ns());
        (c as usize).min(columns - 1)
    }

    /// Chooses the window of `run` (see the module docs); `None` for an untraced run.
    pub fn choose(run: &RunReport, options: &TimelineOptions) -> Option<Window> {
        let events = run.traces.iter().flat_map(|t| &t.events);
        let last = events.map(|e| e.end_ns()).max()?;
        let first = started(run);
        let interval = crate::measure::nanos(options.switch_interval).max(1);
        let length = options
            .window
            .map_or(
                interval * u64::from(DEFAULT_INTERVALS),
                crate::measure::nanos,
            )
            .max(1);
        let start = first + interval.min((last - first) / 10);
        Some(Window {
            start_ns: start,
            end_ns: (start + length).min(last).max(start + 1),
        })
    }
}

/// When every worker of `run` had started (its first event), or the first start
/// where one worker ended before another began (see the module docs). Call it
/// only on a run with events.
fn started(run: &RunReport) -> u64 {
    let spans: Vec<(u64, u64)> = run
        .traces
        .iter()
        .filter_map(|t| {
            let first = t.events.iter().map(|e| e.start_ns).min()?;
            let last = t.events.iter().map(|e| e.end_ns()).max()?;
            Some((first, last))
        })
        .collect();
    let earliest = spans.iter().map(|s| s.0).min().unwrap_or(0);
    let all_in = spans.iter().map(|s| s.0).max().unwrap_or(0);
    let first_done = spans.iter().map(|s| s.1).min().unwrap_or(0);
    if all_in < first_done {
        all_in
    } else {
        earliest
    }
}

/// Every run's window ([`Window::choose`]), all as long as the longest of them, so
/// every model's strip spans the same time; `None` for an untraced run.
pub fn windows(runs: &[RunReport], options: &TimelineOptions) -> Vec<Option<Window>> {
    let chosen: Vec<Option<Window>> = runs.iter().map(|r| Window::choose(r, options)).collect();
    let Some(len) = chosen.iter().flatten().map(Window::len_ns).max() else {
        return chosen;
    };
    chosen
        .into_iter()
        .map(|w| {
            w.map(|w| Window {
                start_ns: w.start_ns,
                end_ns: w.start_ns + len,
            })
        })
        .collect()
}

/// What a timeline's legend explains: the span each strip shows, and only the
/// states and marks that occur in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Legend {
    /// The states seen, in [`State::ALL`] order.
    pub states: Vec<State>,
    /// The marks seen, drop requests first.
    pub marks: Vec<Mark>,
    /// Whether some column shows a brief hold ([`Cell::took_briefly`]).
    pub brief_holds: bool,
}

impl Legend {
    /// The states and marks that occur in `lanes`.
    pub fn of<'l>(lanes: impl IntoIterator<Item = &'l Lane>) -> Legend {
        let cells: Vec<&Cell> = lanes.into_iter().flat_map(|l| &l.cells).collect();
        Legend {
            states: State::ALL
                .into_iter()
                .filter(|s| cells.iter().any(|c| c.state == Some(*s)))
                .collect(),
            marks: [Mark::DropRequest, Mark::ForcedSwitch]
                .into_iter()
                .filter(|m| cells.iter().any(|c| c.mark == Some(*m)))
                .collect(),
            brief_holds: cells.iter().any(|c| c.took_briefly && c.mark.is_none()),
        }
    }

    /// The span each strip shows and where it comes from: `each strip shows 40.0 ms
    /// (8 switch intervals; --timeline-window changes it)`.
    pub fn window_words(window: Window, options: &TimelineOptions) -> String {
        let shown = window.len_ns();
        let asked = options.window.map(crate::measure::nanos);
        let duration = crate::report::format::duration_ns;
        let why = match asked {
            Some(asked) if shown < asked => format!(
                "--timeline-window {}, cut to the longest run",
                duration(asked)
            ),
            Some(asked) => format!("--timeline-window {}", duration(asked)),
            None if shown
                < crate::measure::nanos(options.switch_interval) * u64::from(DEFAULT_INTERVALS) =>
            {
                format!(
                    "the runs were shorter than {DEFAULT_INTERVALS} switch intervals; \
                     --timeline-window changes it"
                )
            }
            None => format!(
                "{DEFAULT_INTERVALS} switch intervals of {}; --timeline-window changes it",
                duration(crate::measure::nanos(options.switch_interval))
            ),
        };
        format!("each strip shows {} ({why})", duration(shown))
    }
}

/// One worker's row.
#[derive(Debug, Clone)]
pub struct Lane {
    /// `model/role-index`, as the trace names the track.
    pub label: String,
    /// One cell per column.
    pub cells: Vec<Cell>,
}

/// The lanes of every worker of `run` over `window`, `columns` wide.
pub fn lanes(run: &RunReport, window: Window, columns: usize) -> Vec<Lane> {
    let columns = columns.max(1);
    run.traces
        .iter()
        .map(|worker| {
            let mut time = vec![[0u64; State::ALL.len()]; columns];
            let mut cells = vec![Cell::default(); columns];
            for event in &worker.events {
                let (from, to) = (
                    event.start_ns.max(window.start_ns),
                    event.end_ns().min(window.end_ns),
                );
                let Some(state) = State::of(event.kind) else {
                    if (window.start_ns..window.end_ns).contains(&event.start_ns) {
                        let cell = &mut cells[window.column_of(event.start_ns, columns)];
                        let mark = if event.kind == EventKind::DropRequest {
                            Mark::DropRequest
                        } else {
                            Mark::ForcedSwitch
                        };
                        if cell.mark != Some(Mark::DropRequest) {
                            cell.mark = Some(mark);
                        }
                    }
                    continue;
                };
                if from >= to {
                    continue;
                }
                let slot = State::ALL.iter().position(|s| *s == state).unwrap_or(0);
                let mut c = window.column_of(from, columns);
                while c < columns && window.column_start(c, columns) < to {
                    let (c0, c1) = (
                        window.column_start(c, columns),
                        window.column_start(c + 1, columns),
                    );
                    time[c][slot] += to.min(c1).saturating_sub(from.max(c0));
                    c += 1;
                }
            }
            for (cell, spent) in cells.iter_mut().zip(&time) {
                let (slot, most) = spent
                    .iter()
                    .enumerate()
                    .max_by_key(|(i, t)| (**t, std::cmp::Reverse(*i)))
                    .expect("State::ALL is not empty");
                if *most > 0 {
                    cell.state = Some(State::ALL[slot]);
                }
                cell.took_briefly = spent[0] > 0 && cell.state != Some(State::Held);
            }
            Lane {
                label: super::track_name(&run.model, worker),
                cells,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::{ev, report_with};

    #[test]
    fn columns_take_the_state_that_filled_most_of_them() {
        let report = report_with(&[(
            "gil",
            vec![
                (
                    1,
                    "io",
                    vec![
                        ev(EventKind::GilWait, 0, 60),
                        ev(EventKind::DropRequest, 55, 0),
                        ev(EventKind::GilHeld, 60, 40),
                    ],
                ),
                (
                    1,
                    "cpu",
                    vec![
                        ev(EventKind::GilHeld, 0, 58),
                        ev(EventKind::ForcedSwitch, 58, 0),
                    ],
                ),
            ],
        )]);
        let window = Window {
            start_ns: 0,
            end_ns: 100,
        };
        let lanes = lanes(&report.runs[0], window, 10);
        assert_eq!(lanes[0].label, "gil/io-0");
        let io: Vec<_> = lanes[0].cells.iter().map(|c| c.state).collect();
        assert_eq!(io[..6], [Some(State::Waiting); 6]);
        assert_eq!(io[6..], [Some(State::Held); 4]);
        assert_eq!(lanes[0].cells[5].mark, Some(Mark::DropRequest));
        assert_eq!(lanes[1].cells[5].mark, Some(Mark::ForcedSwitch));
        assert_eq!(
            lanes[1].cells[5].state,
            Some(State::Held),
            "8 of 10 ns held"
        );
        assert_eq!(lanes[1].cells[6].state, None, "nothing recorded");
        assert!(lanes
            .iter()
            .all(|l| l.cells.iter().all(|c| !c.took_briefly)));
    }

    #[test]
    fn a_brief_hold_inside_a_wait_is_not_lost() {
        // A 20 µs hold in the middle of a 500 µs column of waiting.
        let report = report_with(&[(
            "cpython-threads",
            vec![(
                1,
                "io",
                vec![
                    ev(EventKind::GilWait, 0, 240_000),
                    ev(EventKind::GilHeld, 240_000, 20_000),
                    ev(EventKind::GilWait, 260_000, 740_000),
                ],
            )],
        )]);
        let window = Window {
            start_ns: 0,
            end_ns: 1_000_000,
        };
        let cells = &lanes(&report.runs[0], window, 2)[0].cells;
        assert_eq!(cells[0].state, Some(State::Waiting));
        assert!(cells[0].took_briefly && !cells[1].took_briefly);
        assert!(Legend::of(&lanes(&report.runs[0], window, 2)).brief_holds);
    }

    #[test]
    fn default_window_skips_one_interval_and_spans_eight() {
        let report = report_with(&[(
            "gil",
            vec![(1, "cpu", vec![ev(EventKind::GilHeld, 1_000, 1_000_000_000)])],
        )]);
        let options = TimelineOptions {
            window: None,
            switch_interval: Duration::from_millis(5),
        };
        let w = Window::choose(&report.runs[0], &options).unwrap();
        assert_eq!(w.start_ns, 1_000 + 5_000_000);
        assert_eq!(w.len_ns(), 40_000_000);
        // A short run is shown whole, after its first tenth.
        let short = report_with(&[(
            "threads",
            vec![(1, "cpu", vec![ev(EventKind::Running, 0, 1_000)])],
        )]);
        let w = Window::choose(&short.runs[0], &options).unwrap();
        assert_eq!((w.start_ns, w.end_ns), (100, 1_000));
    }

    #[test]
    fn the_window_opens_once_every_worker_has_started() {
        let ms = 1_000_000;
        let options = TimelineOptions {
            window: None,
            switch_interval: Duration::from_millis(5),
        };
        // The I/O worker left the start line 8 ms after the CPU worker: the window
        // counts its interval from then, and its strip is not blank at first.
        let late = report_with(&[(
            "threads",
            vec![
                (1, "io", vec![ev(EventKind::IoBlocked, 8 * ms, 100 * ms)]),
                (1, "cpu", vec![ev(EventKind::Running, 0, 110 * ms)]),
            ],
        )]);
        let w = Window::choose(&late.runs[0], &options).unwrap();
        assert_eq!(w.start_ns, 13 * ms);
        let io = &lanes(&late.runs[0], w, 10)[0];
        assert!(io.cells.iter().all(|c| c.state == Some(State::Blocked)));
        // One after another (sequential): from the first worker's start.
        let sequential = report_with(&[(
            "sequential",
            vec![
                (1, "cpu", vec![ev(EventKind::Running, 0, 100 * ms)]),
                (1, "cpu", vec![ev(EventKind::Running, 100 * ms, 100 * ms)]),
            ],
        )]);
        let w = Window::choose(&sequential.runs[0], &options).unwrap();
        assert_eq!(w.start_ns, 5 * ms);
    }
}
