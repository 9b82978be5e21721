//! The probe commands' reports (`ctxswitch`, `spawn`, `zombie`) as a [`Report`]:
//! their terminal tables, with a few lines underneath saying how to read them, and
//! their rows for CSV and Markdown — one row per probe result, with the report's
//! `kind` first so rows from several commands can be told apart.

use super::colour::Palette;
use super::format::{count, duration_ns};
use super::render::Report;
use super::rows::{Cell, Row};
use crate::measure::Machine;
use crate::probe::results::{CtxswitchReport, ProbeMode, SpawnReport, ZombieReport};
use crate::probe::zombie::procfs::ProcRow;
use crate::scenario::size::human_bytes;
use comfy_table::{presets, CellAlignment, ContentArrangement, Table};

fn heading(kind: &str, report_version: &str, machine: &Machine) -> String {
    format!(
        "gilbench {report_version} · {kind} · {} CPUs · Linux {}",
        machine.cpus, machine.kernel
    )
}

impl Report for CtxswitchReport {
    fn rows(&self) -> Vec<Row> {
        let context = [("kind", Cell::Text(self.kind.into()))];
        self.results
            .iter()
            .map(|r| {
                // One line per probe: the per-run samples stay in JSON.
                let mut row = Row::of(&context, r);
                row.0.retain(|(k, _)| k != "samples");
                row
            })
            .collect()
    }

    fn title(&self) -> Option<String> {
        Some(heading("ctxswitch", self.gilbench, &self.machine))
    }

    fn markdown_omits(&self) -> &'static [&'static str] {
        &[
            "kind",
            "switch_ns.count",
            "switch_ns.min",
            "switch_ns.mean",
            "switch_ns.p90",
            "switch_ns.p999",
            "round_trip_ns",
        ]
    }

    fn table(&self, _palette: Palette) -> String {
        ctxswitch(self)
    }
}

impl Report for SpawnReport {
    fn rows(&self) -> Vec<Row> {
        let context = [("kind", Cell::Text(self.kind.into()))];
        self.results
            .iter()
            .map(|r| {
                // One line per method and heap: the per-run samples stay in JSON.
                let mut row = Row::of(&context, r);
                row.0.retain(|(k, _)| k != "samples");
                row
            })
            .collect()
    }

    fn title(&self) -> Option<String> {
        Some(heading("spawn", self.gilbench, &self.machine))
    }

    fn markdown_omits(&self) -> &'static [&'static str] {
        &[
            "kind",
            "latency_ns.count",
            "latency_ns.min",
            "latency_ns.mean",
            "latency_ns.p90",
            "latency_ns.p999",
            "create_ns",
            "spread.latency_p50_ns.median",
            "spread.latency_p50_ns.mean",
        ]
    }

    fn table(&self, _palette: Palette) -> String {
        spawn(self)
    }
}

impl Report for ZombieReport {
    /// One row: the report itself, without its `ps`-like samples (lists of
    /// processes do not fit a cell; `--format json` has them).
    fn rows(&self) -> Vec<Row> {
        let mut row = Row::of(&[], self);
        row.0.retain(|(key, _)| {
            !matches!(
                key.as_str(),
                "before" | "after" | "orphans.new_parents" | "orphans.sample"
            ) && !key.starts_with("machine.")
        });
        vec![row]
    }

    fn title(&self) -> Option<String> {
        Some(heading("zombie", self.gilbench, &self.machine))
    }

    fn markdown_omits(&self) -> &'static [&'static str] {
        &[
            "gilbench",
            "kind",
            "reap_ns.count",
            "reap_ns.min",
            "reap_ns.mean",
            "reap_ns.p90",
            "reap_ns.p999",
        ]
    }

    fn table(&self, _palette: Palette) -> String {
        zombie(self)
    }
}

fn new_table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_HORIZONTAL_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    for i in 1..header.len() {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

fn title(command: &str, machine: &Machine, line: &str) -> String {
    format!("{}\n{line}\n\n", heading(command, super::VERSION, machine))
}

/// `gilbench ctxswitch` as text.
fn ctxswitch(report: &CtxswitchReport) -> String {
    let rounds = report.results.first().map_or(0, |r| r.rounds);
    let runs = report.results.first().map_or(1, |r| r.repeats);
    let mut out = title(
        "ctxswitch",
        &report.machine,
        &format!(
            "Ping-pong between two blocked sides: {} round trips per run after {} warm-up, \
             {runs} run{} per probe\n(figures are medians over the runs; a range is the p50's \
             lowest–highest run); one switch = round trip / 2.",
            count(rounds),
            count(report.warmup),
            if runs == 1 { "" } else { "s" },
        ),
    );
    let mut table = new_table(&[
        "mode",
        "pin",
        "CPUs",
        "switch p50",
        "p99",
        "max",
        "mean",
        "round trip p50",
        "kernel switches/round trip",
    ]);
    for r in &report.results {
        let cpus: Vec<String> = r.cpus.iter().map(|c| c.to_string()).collect();
        table.add_row(vec![
            r.mode.to_string(),
            r.pin.to_string(),
            if cpus.is_empty() {
                "any".into()
            } else {
                cpus.join("→")
            },
            p50_range(r.switch_ns.p50, &r.spread.switch_p50_ns),
            duration_ns(r.switch_ns.p99),
            duration_ns(r.switch_ns.max),
            duration_ns(r.switch_ns.mean),
            duration_ns(r.round_trip_ns.p50),
            format!(
                "{:.2} ({}/{} vol/invol)",
                r.ctx_switches_per_round_trip,
                count(r.voluntary_ctx_switches),
                count(r.involuntary_ctx_switches)
            ),
        ]);
    }
    out.push_str(&table.to_string());
    for r in &report.results {
        if let Some(groups) = &r.modes {
            out.push_str(&split_runs(
                &format!("{} (pin {})", r.mode, r.pin),
                groups,
                r.repeats,
                if r.pin == "none" {
                    " (unpinned, the scheduler put the sides on one CPU in some runs and on two in others)"
                } else {
                    ""
                },
            ));
        }
    }
    out.push_str(
        "\n\nHow to read it: `same` puts both sides on one CPU, so each hand-off is a pure \
         context switch;\n`cross` and `none` add a wake-up sent to another CPU. \
         `perf bench sched pipe` (processes, like\nprocess-pipe) and `perf bench sched pipe -T` \
         (threads, like thread-pipe) print usecs/op for a whole\nround trip: compare them with \
         the round-trip column, and pin them the same way (`taskset -c 0`\nfor `same`).\n",
    );
    out
}

/// A line naming the groups a probe's runs split into: `thread-futex (pin none):
/// the runs split: 2 of 3 runs near 1.52 µs; 1 of 3 runs near 9.80 µs — two
/// behaviours, not noise.`
fn split_runs(what: &str, groups: &[ProbeMode], runs: u32, why: &str) -> String {
    let words: Vec<String> = groups
        .iter()
        .map(|g| format!("{} of {runs} runs near {}", g.runs, duration_ns(g.p50_ns)))
        .collect();
    let behaviours = match groups.len() {
        2 => "two behaviours",
        3 => "three behaviours",
        _ => "several behaviours",
    };
    format!(
        "\n{what}: the runs split: {} — {behaviours}, not noise{why}.",
        words.join("; ")
    )
}

/// `n run` or `n runs`.
fn runs_word(n: u32) -> String {
    format!("{n} run{}", if n == 1 { "" } else { "s" })
}

/// `gilbench spawn` as text.
fn spawn(report: &SpawnReport) -> String {
    let runs = report.results.first().map_or(1, |r| r.repeats);
    let mut out = title(
        "spawn",
        &report.machine,
        &format!(
            "What creating a worker costs, by the parent's heap size ({} pages; transparent \
             huge pages: {}{}).\n{} per method and heap{}: the latencies are of every creation \
             of every run together (the\ncreations column), a range is the p50's lowest–highest \
             run, and the faults are the median run's.",
            human_bytes(report.page_size),
            report.transparent_hugepage,
            if report.huge_pages {
                ", heap advised to use them"
            } else {
                ", heap advised not to use them"
            },
            runs_word(runs),
            match report.warmup {
                0 => String::new(),
                n => format!(" after {} warm-up", runs_word(n)),
            },
        ),
    );
    let mut table = new_table(&[
        "method",
        "heap",
        "creations",
        "call returns p50",
        "done+reaped p50",
        "p99",
        "max",
        "minor faults",
    ]);
    for r in &report.results {
        let cow = r.ns_per_page.is_some();
        table.add_row(vec![
            r.method.to_string(),
            human_bytes(r.heap_bytes),
            count(r.iterations),
            r.create_ns.map_or("–".into(), |s| duration_ns(s.p50)),
            if cow {
                format!(
                    "{} (child writes)",
                    p50_range(r.latency_ns.p50, &r.spread.latency_p50_ns)
                )
            } else {
                p50_range(r.latency_ns.p50, &r.spread.latency_p50_ns)
            },
            duration_ns(r.latency_ns.p99),
            duration_ns(r.latency_ns.max),
            match r.ns_per_page {
                Some(ns) => format!("{} ({ns:.0} ns/page)", count(r.minor_faults)),
                None => count(r.minor_faults),
            },
        ]);
    }
    out.push_str(&table.to_string());
    for r in &report.results {
        if let Some(groups) = &r.modes {
            let what = format!("{} (heap {})", r.method, human_bytes(r.heap_bytes));
            out.push_str(&split_runs(&what, groups, r.repeats, ""));
        }
    }
    out.push_str(
        "\n\nHow to read it: fork copies the parent's page tables and marks every page \
         copy-on-write, so its\ncost grows with the heap; vfork and posix_spawn share the \
         parent's memory until the exec, and a\nthread shares it for good, so they stay flat. \
         fork-cow is the bill fork defers: a child writing\nthe inherited heap takes one minor \
         fault and one page copy per page — a shallow copy becoming a deep one.\nAn \
         interpreter copies nothing either, but builds every module it starts with afresh \
         (CPython\n3.12+'s _interpreters.create(): its own heap and GIL), so it stays flat \
         too, but costs\nmilliseconds: far more than a thread, and on the order of what \
         multiprocessing pays to start a\nPython worker process.\n",
    );
    out
}

fn ps_table(rows: &[ProcRow], total: u64) -> String {
    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_header(vec!["PID", "PPID", "S", "COMMAND"]);
    for i in 0..2 {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    for r in rows {
        table.add_row(vec![
            r.pid.to_string(),
            r.ppid.to_string(),
            r.state.clone(),
            r.command.clone(),
        ]);
    }
    let mut out = table.to_string();
    out.push('\n');
    if total > rows.len() as u64 {
        out.push_str(&format!(
            "  … and {} more\n",
            count(total - rows.len() as u64)
        ));
    }
    out
}

fn strategy_note(strategy: &str) -> &'static str {
    match strategy {
        "waitpid" => "a blocking waitpid(pid) per child — what Popen.wait() and Process.join() do",
        "wnohang-loop" => {
            "waitpid(-1, WNOHANG) in a loop: never blocks, but spends calls when nothing is ready"
        }
        "sigchld" => {
            "sleep until SIGCHLD (read from a signalfd), then drain with waitpid(-1, WNOHANG)"
        }
        "pidfd" => "pidfd_open + poll + waitid(P_PIDFD) per child: immune to pid reuse",
        _ => "never wait: the zombies stay until their parent waits or exits",
    }
}

/// `gilbench zombie` as text.
fn zombie(report: &ZombieReport) -> String {
    let mut out = title(
        "zombie",
        &report.machine,
        &format!(
            "gilbench (pid {}) forked {} children; each exited at once.",
            report.parent_pid,
            count(report.children)
        ),
    );
    out.push_str(&format!(
        "Before reaping — {} zombies: an exited child keeps its process-table entry (pid, exit \
         status)\nuntil its parent waits for it; ps shows it in state Z, <defunct>.\n\n",
        count(report.zombies_seen)
    ));
    out.push_str(&ps_table(&report.before, report.zombies_seen));
    out.push_str(&format!(
        "\nReaping with {}: {}.\n",
        report.strategy,
        strategy_note(report.strategy)
    ));
    if report.reaped_by_strategy > 0 {
        out.push_str(&format!(
            "  {} reaped in {}: per zombie p50 {}, p99 {}, max {}; {} wait calls ({} found nothing)",
            count(report.reaped_by_strategy),
            duration_ns(report.reap_total_ns),
            duration_ns(report.reap_ns.p50),
            duration_ns(report.reap_ns.p99),
            duration_ns(report.reap_ns.max),
            count(report.reap_calls),
            count(report.empty_polls),
        ));
        if let Some(signals) = report.sigchld_signals {
            out.push_str(&format!(
                "; {} SIGCHLD read for {} children (a pending signal is not queued twice)",
                count(signals),
                count(report.children)
            ));
        }
        out.push_str(".\n");
    }
    if report.after.is_empty() {
        out.push_str("\nAfter: none of them is left in /proc — reaping removed the entries.\n");
    } else {
        out.push_str(&format!(
            "\nAfter — {} still zombies; they stay until their parent waits or exits:\n\n",
            count(report.zombies_after_reap)
        ));
        out.push_str(&ps_table(&report.after, report.zombies_after_reap));
    }
    if let Some(o) = &report.orphans {
        out.push_str(&format!(
            "\nOrphans: each child had forked a grandchild before exiting. {}\n\n",
            if o.subreaper {
                "gilbench had declared itself a child subreaper (PR_SET_CHILD_SUBREAPER), so the \
                 orphans came to it."
            } else {
                "gilbench was not a subreaper, so the orphans went to PID 1 or the nearest \
                 subreaper."
            }
        ));
        let mut table = Table::new();
        table
            .load_preset(presets::NOTHING)
            .set_header(vec!["PID", "PPID before", "PPID after"]);
        for r in &o.sample {
            table.add_row(vec![
                r.pid.to_string(),
                r.ppid_before.to_string(),
                r.ppid_after.to_string(),
            ]);
        }
        out.push_str(&table.to_string());
        out.push('\n');
        for p in &o.new_parents {
            out.push_str(&format!(
                "  new parent {} ({}): {} orphans\n",
                p.pid,
                p.command,
                count(p.orphans)
            ));
        }
        out.push_str(&format!(
            "  {} re-parented to gilbench; gilbench reaped {} of them.\n",
            count(o.reparented_to_gilbench),
            count(o.reaped_by_gilbench)
        ));
    }
    out.push_str(&format!(
        "\nzombies seen {} · left after reaping {} · reaped by gilbench on its way out {} · \
         left at exit {}\n",
        count(report.zombies_seen),
        count(report.zombies_after_reap),
        count(report.reaped_at_exit),
        count(report.zombies_left)
    ));
    out
}

/// A p50 over runs: the median alone when every run agreed to the ns, else the
/// lowest–highest run (`1.52–1.58 µs`).
fn p50_range(median: u64, spread: &crate::measure::stats::Spread<u64>) -> String {
    if spread.min == spread.max {
        return duration_ns(median);
    }
    super::spread_text::range(*spread)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_runs_counts_the_groups_it_names() {
        let group = |runs, p50_ns| ProbeMode {
            runs,
            p50_ns,
            p50_range_ns: [p50_ns, p50_ns],
        };
        let two = split_runs("fork (heap 0 B)", &[group(2, 100), group(1, 900)], 3, "");
        assert!(
            two.contains("2 of 3 runs near 100 ns; 1 of 3 runs near 900 ns — two behaviours"),
            "{two}"
        );
        let three = split_runs("x", &[group(1, 1), group(1, 10), group(1, 100)], 3, "");
        assert!(three.contains("three behaviours"), "{three}");
        assert_eq!(runs_word(1), "1 run");
    }
}
