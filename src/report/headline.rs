//! Headline figures: which columns of the scenario table show a scenario's concept.
//!
//! Every workload declares the figures that tell its story — speedup for
//! `cpu-bound`, the I/O round trip for `convoy`, lost updates for
//! `shared-counter`, items/s and put-to-get latency for `queue`, the memory a child
//! copied for `fork-cow` — and the table leads with them, followed by the
//! supporting figures that still mean something for it (wall, CPU, context
//! switches). Figures that mean nothing for a workload (fork-cow's op latency,
//! queue's speedup without a sequential baseline) are left out of the table; JSON
//! and CSV keep every field. A column that is empty in every row (`–`), or zero in
//! every row, is left out too.

use super::format::{bytes, count, duration_ns};
use super::rows::{Cell, Row};
use super::{spread_text, RunReport};

/// One column of the scenario table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// Start line to last worker done.
    Wall,
    /// Time to start worker processes.
    StartUp,
    /// Ops (or items) per second, with its label.
    Throughput(&'static str),
    /// Throughput against the baseline.
    Speedup,
    /// Op latency percentiles, with the words for what an op is (`round trip`).
    P50(&'static str),
    /// See [`Column::P50`].
    P99(&'static str),
    /// See [`Column::P50`].
    Max(&'static str),
    /// User + system CPU time.
    Cpu,
    /// Voluntary / involuntary context switches.
    CtxSwitches,
    /// The estimated cost of those switches.
    CtxCost,
    /// Minor page faults.
    Faults,
    /// Lost updates, with the share of increments.
    Lost,
    /// A scenario-specific field of the JSON run (`refcount.corrupted`), with its
    /// label.
    Field(&'static str, &'static str),
}

impl Column {
    /// The header.
    pub fn header(self) -> String {
        let with = |what: &str, p: &str| {
            if what.is_empty() {
                p.to_string()
            } else {
                format!("{what} {p}")
            }
        };
        match self {
            Column::Wall => "wall".into(),
            Column::StartUp => "start-up".into(),
            Column::Throughput(label) => label.into(),
            Column::Speedup => "speedup".into(),
            Column::P50(what) => with(what, "p50"),
            Column::P99(what) => with(what, "p99"),
            Column::Max(what) => with(what, "max"),
            Column::Cpu => "cpu user+sys".into(),
            Column::CtxSwitches => "ctx sw vol/invol".into(),
            Column::CtxCost => "ctx sw cost (est.)".into(),
            Column::Faults => "minor faults".into(),
            Column::Lost => "lost updates".into(),
            Column::Field(_, label) => label.into(),
        }
    }

    /// The JSON key (dotted, as CSV names it) the column shows.
    pub fn key(self) -> &'static str {
        match self {
            Column::Wall => "wall_ns",
            Column::StartUp => "startup_ns",
            Column::Throughput(_) => "throughput_ops_per_s",
            Column::Speedup => "speedup",
            Column::P50(_) => "latency_ns.p50",
            Column::P99(_) => "latency_ns.p99",
            Column::Max(_) => "latency_ns.max",
            Column::Cpu => "cpu_user_ns",
            Column::CtxSwitches => "voluntary_ctx_switches",
            Column::CtxCost => "ctx_switch_cost_ns",
            Column::Faults => "minor_faults",
            Column::Lost => "counter.lost",
            Column::Field(key, _) => key,
        }
    }

    /// The cell for `run`, or `None` when the figure means nothing for it (no
    /// baseline, no latency recorded, no such field).
    pub fn cell(self, run: &RunReport) -> Option<String> {
        let latency = run.latency_ns.count > 0;
        match self {
            Column::Wall => Some(spread_text::wall(run)),
            Column::StartUp => run.startup_ns.map(duration_ns),
            Column::Throughput(_) => {
                (run.throughput_ops_per_s > 0.0).then(|| spread_text::ops_per_s(run))
            }
            Column::Speedup => run.speedup.map(|_| spread_text::speedup(run)),
            Column::P50(_) => latency.then(|| spread_text::p50(run)),
            Column::P99(_) => latency.then(|| duration_ns(run.latency_ns.p99)),
            Column::Max(_) => latency.then(|| duration_ns(run.latency_ns.max)),
            Column::Cpu => Some(duration_ns(run.cpu_user_ns + run.cpu_sys_ns)),
            Column::CtxSwitches => Some(format!(
                "{}/{}",
                count(run.voluntary_ctx_switches),
                count(run.involuntary_ctx_switches)
            )),
            Column::CtxCost => run.ctx_switch_cost_ns.map(|ns| {
                if super::switch_cost_capped(run) {
                    format!("≤ {}", duration_ns(ns))
                } else {
                    duration_ns(ns)
                }
            }),
            Column::Faults => Some(count(run.minor_faults)),
            Column::Lost => run.counter.map(|c| {
                let pct = if c.expected > 0 {
                    100.0 * c.lost as f64 / c.expected as f64
                } else {
                    0.0
                };
                format!("{} ({pct:.1}%)", count(c.lost))
            }),
            Column::Field(key, _) => {
                let row = Row::of(&[], run);
                match row.get(key)? {
                    Cell::Null => None,
                    // A zero duration is no event (no collection under `sequential`,
                    // which runs the I/O worker alone): nothing to show.
                    Cell::Number(n)
                        if super::markdown::is_duration(key) && n.as_u64() == Some(0) =>
                    {
                        None
                    }
                    Cell::Number(n) if key.ends_with("_bytes") => n.as_u64().map(bytes),
                    cell => Some(super::markdown::value(key, cell)),
                }
            }
        }
    }

    /// Whether the cell reads as nothing at all: zero of something.
    fn is_zero(self, run: &RunReport) -> bool {
        match self {
            Column::Field(key, _) => matches!(
                Row::of(&[], run).get(key),
                Some(Cell::Number(n)) if n.as_f64() == Some(0.0)
            ),
            Column::Faults => run.minor_faults == 0,
            _ => false,
        }
    }
}

/// A workload's table: the figures that show its concept first, then the
/// supporting ones that still mean something for it.
#[derive(Debug, Clone, Copy)]
pub struct Headline {
    /// What shows the concept.
    pub lead: &'static [Column],
    /// What supports it.
    pub support: &'static [Column],
}

/// The usual supporting figures.
const SUPPORT: &[Column] = &[
    Column::Wall,
    Column::StartUp,
    Column::Cpu,
    Column::CtxSwitches,
    Column::CtxCost,
];

/// The figures of the workload `kind` (as scenario files name it).
pub fn of(kind: &str) -> Headline {
    use Column::*;
    match kind {
        "cpu-bound" => Headline {
            lead: &[Speedup, Throughput("ops/s")],
            support: &[
                Wall,
                StartUp,
                P50(""),
                P99(""),
                Max(""),
                Cpu,
                CtxSwitches,
                CtxCost,
            ],
        },
        "io-bound" => Headline {
            lead: &[Speedup, Throughput("ops/s"), P50(""), P99("")],
            support: &[Wall, StartUp, Max(""), Cpu, CtxSwitches, CtxCost],
        },
        "convoy" => Headline {
            lead: &[P50("round trip"), P99("round trip"), Max("round trip")],
            support: SUPPORT,
        },
        "shared-counter" => Headline {
            lead: &[Lost, Throughput("incr/s"), Speedup],
            support: SUPPORT,
        },
        "queue" => Headline {
            lead: &[
                Throughput("items/s"),
                P50("put→get"),
                P99("put→get"),
                Max("put→get"),
            ],
            support: SUPPORT,
        },
        "refcount" => Headline {
            lead: &[
                Field("refcount.corrupted", "wrong counts"),
                Throughput("ops/s"),
                Speedup,
            ],
            support: SUPPORT,
        },
        "fork-cow" => Headline {
            lead: &[
                Field("private_dirty_bytes", "copied (private dirty)"),
                Faults,
            ],
            support: &[Wall, Cpu],
        },
        "alloc" => Headline {
            lead: &[
                Throughput("ops/s"),
                Speedup,
                Field("alloc.retained_held_bytes", "kept"),
            ],
            support: &[Wall, P50(""), P99(""), Cpu, CtxSwitches, CtxCost],
        },
        "gc-pause" => Headline {
            lead: &[
                Field("gc.pause_ns.max", "longest gc pause"),
                P99("round trip"),
                Max("round trip"),
            ],
            support: &[P50("round trip"), Wall, Cpu, CtxSwitches, CtxCost],
        },
        _ => Headline {
            lead: &[
                Throughput("ops/s"),
                Speedup,
                P50(""),
                P99(""),
                Max(""),
                Lost,
            ],
            support: SUPPORT,
        },
    }
}

impl Headline {
    /// The columns to show for `runs`: lead then support, without those that are
    /// empty or zero in every row.
    pub fn columns(&self, runs: &[RunReport]) -> Vec<Column> {
        self.lead
            .iter()
            .chain(self.support)
            .copied()
            .filter(|c| runs.iter().any(|r| c.cell(r).is_some() && !c.is_zero(r)))
            .collect()
    }

    /// The keys of the lead figures, for the JSON report's `headline`.
    pub fn keys(&self) -> Vec<&'static str> {
        self.lead.iter().map(|c| c.key()).collect()
    }

    /// Whether an op's latency is one of the figures (fork-cow has none: its
    /// runs time nothing per op, so the latency picture is left out too).
    pub fn shows_latency(&self) -> bool {
        self.lead
            .iter()
            .chain(self.support)
            .any(|c| matches!(c, Column::P50(_) | Column::P99(_) | Column::Max(_)))
    }

    /// Whether the speedup is one of the figures that show the concept (the speedup
    /// sentences under the table are printed only then).
    pub fn leads_with_speedup(&self) -> bool {
        self.lead.contains(&Column::Speedup)
    }
}
