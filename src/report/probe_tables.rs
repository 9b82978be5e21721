//! The terminal reports of the probe commands: one table each, with a few lines
//! underneath saying how to read it.

use super::format::{count, duration_ns};
use super::probes::{CtxswitchReport, SpawnReport};
use crate::measure::Machine;
use comfy_table::{presets, CellAlignment, ContentArrangement, Table};

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
    format!(
        "gilbench {} · {command} · {} CPUs · Linux {}\n{line}\n\n",
        super::VERSION,
        machine.cpus,
        machine.kernel
    )
}

/// `gilbench ctxswitch` as text.
pub fn ctxswitch(report: &CtxswitchReport) -> Vec<u8> {
    let rounds = report.results.first().map_or(0, |r| r.rounds);
    let mut out = title(
        "ctxswitch",
        &report.machine,
        &format!(
            "Ping-pong between two blocked sides: {} round trips per probe after {} warm-up; \
             one switch = round trip / 2.",
            count(rounds),
            count(report.warmup)
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
            duration_ns(r.switch_ns.p50),
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
    out.push_str(
        "\n\nHow to read it: `same` puts both sides on one CPU, so each hand-off is a pure \
         context switch;\n`cross` and `none` add a wake-up sent to another CPU. \
         `perf bench sched pipe` (processes, like\nprocess-pipe) and `perf bench sched pipe -T` \
         (threads, like thread-pipe) print usecs/op for a whole\nround trip: compare them with \
         the round-trip column, and pin them the same way (`taskset -c 0`\nfor `same`).\n",
    );
    out.into_bytes()
}

/// `gilbench spawn` as text.
pub fn spawn(report: &SpawnReport) -> Vec<u8> {
    let mut out = title(
        "spawn",
        &report.machine,
        &format!(
            "What creating a worker costs, by the parent's heap size ({} pages; transparent \
             huge pages: {}{}).",
            crate::probe::options::human_bytes(report.page_size),
            report.transparent_hugepage,
            if report.huge_pages {
                ", heap advised to use them"
            } else {
                ", heap advised not to use them"
            }
        ),
    );
    let mut table = new_table(&[
        "method",
        "heap",
        "runs",
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
            crate::probe::options::human_bytes(r.heap_bytes),
            count(r.iterations),
            r.create_ns.map_or("–".into(), |s| duration_ns(s.p50)),
            if cow {
                format!("{} (child writes)", duration_ns(r.latency_ns.p50))
            } else {
                duration_ns(r.latency_ns.p50)
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
    out.push_str(
        "\n\nHow to read it: fork copies the parent's page tables and marks every page \
         copy-on-write, so its\ncost grows with the heap; vfork and posix_spawn share the \
         parent's memory until the exec, and a\nthread shares it for good, so they stay flat. \
         fork-cow is the bill fork defers: a child writing\nthe inherited heap takes one minor \
         fault and one page copy per page — a shallow copy becoming a deep one.\n",
    );
    out.into_bytes()
}
