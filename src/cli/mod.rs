//! The command line: commands and their flags, nothing else.
//!
//! Flags are turned into a validated [`crate::plan::Plan`] in one place
//! (`plan/`); nothing here checks more than clap's own parsing. A leaf: it
//! depends on no other module of the crate, so anything may read flags.

mod probe_help;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// gilbench's version, as `--version` and every JSON report state it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// See, on your own machine, how CPython's GIL, OS threads, processes and a
/// multiprocessing Manager really behave.
#[derive(Debug, Parser)]
#[command(name = "gilbench", version, about, long_about = None)]
#[command(after_help = "Examples:
  gilbench tour
  gilbench list
  gilbench scenario cpu-bound
  gilbench scenario convoy --switch-interval 1ms
  gilbench scenario shared-counter --set sync=none-call --format json
  gilbench ctxswitch --pin same")]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// gilbench's commands.
#[derive(Debug, Subcommand)]
// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// List the built-in scenarios: name, models, one line each.
    #[command(after_help = "Example:\n  gilbench list --format json")]
    List(ListArgs),
    /// Run one scenario under its models, side by side.
    #[command(after_help = "Examples:
  gilbench scenario cpu-bound
  gilbench scenario cpu-bound --model gil,threads --workers 4 --ops 20
  gilbench scenario convoy --switch-interval 1ms
  gilbench scenario shared-counter --set sync=lock --model threads
  gilbench scenario io-bound --duration 2s --format json --output io.json
  gilbench scenario ./my-scenario.toml")]
    Scenario(ScenarioArgs),
    /// Measure what a context switch costs (threads, processes, the GIL).
    #[command(after_help = probe_help::CTXSWITCH)]
    Ctxswitch(CtxswitchArgs),
    /// Measure what creating a worker costs (threads, fork, posix_spawn, exec).
    #[command(after_help = probe_help::SPAWN)]
    Spawn(SpawnArgs),
    /// Show zombie processes and how they are reaped.
    #[command(after_help = probe_help::ZOMBIE)]
    Zombie(ZombieArgs),
    /// Run every built-in scenario briefly and show what each one teaches.
    #[command(after_help = "Examples:
  gilbench tour
  gilbench tour --format markdown --output tour.md")]
    Tour(TourArgs),
    /// Compare the simulation with every chosen real CPython: a verdict per concept.
    #[command(after_help = "Examples:
  gilbench verify
  gilbench verify --python all
  gilbench verify --python python2.7,3.9,3.12 --check shared-counter --runs 5
  gilbench verify --format markdown --output fidelity.md")]
    Verify(VerifyArgs),
    /// Internal: one worker of a `processes` run started with `--start-method spawn`.
    #[command(name = "__worker", hide = true)]
    Worker(WorkerArgs),
    /// Internal: the echo peer of an I/O worker's round trips (its socket is
    /// standard input).
    #[command(name = "__echo-peer", hide = true)]
    EchoPeer(EchoPeerArgs),
}

/// Report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A readable table (the default).
    Table,
    /// One JSON object.
    Json,
    /// Comma-separated values, one row per run.
    Csv,
    /// A Markdown table.
    Markdown,
}

/// Options every command shares.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Report format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Write the report to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print nothing but the report (no progress, no notes).
    #[arg(long, short)]
    pub quiet: bool,
}

/// `gilbench list`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `--manager-gil`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// `gilbench scenario`.
#[derive(Debug, Clone, Args)]
pub struct ScenarioArgs {
    /// A built-in scenario name (see `gilbench list`) or a path to a TOML file.
    #[arg(value_name = "NAME|FILE.toml")]
    pub scenario: String,
    /// Models to run, comma-separated: sequential, gil, gil-3.9, gil-legacy,
    /// threads, processes, manager.
    #[arg(long, value_delimiter = ',', value_name = "MODEL,...")]
    pub model: Vec<String>,
    /// Workers per model.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub workers: Option<i64>,
    /// Operations per worker.
    #[arg(
        long,
        value_name = "N",
        conflicts_with = "duration",
        allow_negative_numbers = true
    )]
    pub ops: Option<i64>,
    /// Run each model for this long instead of a fixed number of ops (`2s`).
    #[arg(long, value_name = "D", allow_hyphen_values = true)]
    pub duration: Option<String>,
    /// CPython's switch interval (`sys.setswitchinterval`), e.g. `5ms`, `250us`.
    #[arg(long, value_name = "D", allow_hyphen_values = true)]
    pub switch_interval: Option<String>,
    /// Python 2's check interval in ticks (`gil-legacy`).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub check_interval: Option<i64>,
    /// How `processes` and `manager` start workers: fork, spawn or forkserver.
    #[arg(long, value_name = "M")]
    pub start_method: Option<String>,
    /// Override a scenario parameter, e.g. `--set sync=lock` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Stop a model that runs longer than this; exit code 1.
    #[arg(long, value_name = "D", allow_hyphen_values = true)]
    pub timeout: Option<String>,
    /// Whether the manager server's threads share one simulated GIL.
    #[arg(long, value_enum, default_value = "on")]
    pub manager_gil: OnOff,
    /// Write a Chrome Trace Event file (open it in Perfetto or chrome://tracing).
    #[arg(long, value_name = "FILE.json")]
    pub trace: Option<PathBuf>,
    /// Events kept per worker for --trace, --timeline and --plot-timeline.
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    pub trace_limit: usize,
    /// Skip the quick context-switch calibration behind the `ctx sw cost (est.)`
    /// column and `ctx_switch_cost_ns`.
    #[arg(long)]
    pub no_calibrate: bool,
    /// Print a strip per worker under the table: when it held the GIL, waited for
    /// it, was blocked in I/O or ran without one.
    #[arg(long)]
    pub timeline: bool,
    /// Time span --timeline and --plot-timeline show (default: 8 switch intervals,
    /// starting one switch interval into the run).
    #[arg(long, value_name = "D")]
    pub timeline_window: Option<String>,
    /// Draw the timeline as an SVG: one lane per worker, coloured by state.
    #[arg(long, value_name = "FILE.svg")]
    pub plot_timeline: Option<PathBuf>,
    /// Draw the results as SVG: latency by percentile per model, and throughput;
    /// with --sweep, the headline figure against the swept value, one line per model.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Write one HdrHistogram percentile-distribution file per model into DIR.
    #[arg(long, value_name = "DIR")]
    pub hgrm: Option<PathBuf>,
    /// Also run the scenario's real-CPython twin (scripts/*.py, needs python3)
    /// with the same workers, ops and parameters, and add its rows.
    #[arg(long)]
    pub cpython: bool,
    /// Which real interpreters --cpython runs the twin on, comma-separated: names
    /// (`python3.9`, looked up on the PATH, then under pyenv), versions (`3.9`),
    /// paths, or `all` (every CPython on the PATH and under pyenv). Default:
    /// python3. Rows are then named `cpythonX.Y-MODEL`.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "LIST|all",
        requires = "cpython"
    )]
    pub python: Vec<String>,
    /// Measured runs of each model (and of the CPython twin); every figure is then
    /// their median with its spread. Default: at least 3, more while a model's runs
    /// take under 1 s in all (judged from the first run's time), at most 10.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub runs: Option<i64>,
    /// Unmeasured runs of each model before its measured ones (default 0).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub warmup: Option<i64>,
    /// Run the scenario once per value of one parameter, each with its runs: a
    /// `--set` key, or workers, switch_interval, check_interval, ops, duration.
    /// E.g. `--sweep switch_interval=0.5ms,1ms,5ms`. One row per value and model.
    #[arg(long, value_name = "KEY=V1,V2,...", allow_hyphen_values = true)]
    pub sweep: Vec<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `gilbench verify`.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// Which real interpreters to compare with, comma-separated: names
    /// (`python3.9`, looked up on the PATH, then under pyenv), versions (`3.9`),
    /// paths, or `all`. Default: python3.
    #[arg(long, value_delimiter = ',', value_name = "LIST|all")]
    pub python: Vec<String>,
    /// Measured runs of each model and twin per check (default 3).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub runs: Option<i64>,
    /// Only these checks (or every check of these scenarios), comma-separated:
    /// cpu-bound, io-bound, convoy, shared-counter-none, shared-counter-none-call.
    #[arg(long, value_delimiter = ',', value_name = "CHECK,...")]
    pub check: Vec<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `gilbench tour`.
#[derive(Debug, Clone, Args)]
pub struct TourArgs {
    /// Measured runs of each model at every stop; figures are then their medians
    /// with their spread. Default: 5 at the stops whose effect shows in some runs and
    /// not others (convoy, shared-counter, refcount), so each can say in how many
    /// runs it showed; 1 elsewhere.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub runs: Option<i64>,
    /// Unmeasured runs of each model before its measured ones (default 0).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub warmup: Option<i64>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `gilbench ctxswitch`.
#[derive(Debug, Clone, Args)]
pub struct CtxswitchArgs {
    /// Probes to run, comma-separated: thread-futex, thread-pipe, process-pipe,
    /// process-futex, eventfd, yield, gil-handoff, asyncio-handoff (default: all).
    #[arg(long, value_delimiter = ',', value_name = "MODE,...")]
    pub mode: Vec<String>,
    /// CPU placement, comma-separated: same (one CPU: a pure switch), cross (two
    /// CPUs: a wake-up across CPUs), none (the scheduler decides).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "PIN,...",
        default_value = "same,none"
    )]
    pub pin: Vec<String>,
    /// Measured round trips per probe.
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    pub rounds: u64,
    /// Round trips run first and not measured.
    #[arg(long, value_name = "N", default_value_t = 2_000)]
    pub warmup: u64,
    /// Runs of each probe, each with a fresh pair of threads or processes; every
    /// figure is then their median, with its spread. Default 3: the least that can
    /// outvote one disturbed run (each run already times `--rounds` round trips).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub runs: Option<i64>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `gilbench spawn`.
#[derive(Debug, Clone, Args)]
pub struct SpawnArgs {
    /// Methods, comma-separated: thread, interpreter, fork, vfork, posix-spawn,
    /// fork-exec, fork-cow (default: all).
    #[arg(long, value_delimiter = ',', value_name = "METHOD,...")]
    pub method: Vec<String>,
    /// Parent heap sizes to try, comma-separated: `0,64M,512M,2G`.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "SIZE,...",
        default_value = "0,64M"
    )]
    pub heap: Vec<String>,
    /// Creations measured per method and heap size (at most), shared evenly by
    /// its runs.
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub iterations: u64,
    /// Time budget per method and heap size, shared evenly by its runs; each run
    /// makes 3 creations regardless, unless that would take over three times its share.
    #[arg(long, value_name = "D", default_value = "1s")]
    pub max_time: String,
    /// Measured runs of each method and heap size; the latencies are then of all
    /// their creations together, with the spread of the runs' p50s beside them.
    /// Default 3: the least that shows one disturbed run (the runs share
    /// --iterations and --max-time, so it costs no extra time).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub runs: Option<i64>,
    /// Unmeasured runs of each method and heap size before its measured ones
    /// (default 0), each as long as a measured one.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub warmup: Option<i64>,
    /// Let the kernel back the heap with transparent huge pages (2 MiB), which
    /// makes fork's page-table copy far cheaper. Off by default, to show 4 KiB pages.
    #[arg(long)]
    pub huge_pages: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `gilbench zombie`.
#[derive(Debug, Clone, Args)]
pub struct ZombieArgs {
    /// Children to fork; each exits at once.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub children: u64,
    /// How to reap: waitpid, wnohang-loop, sigchld, pidfd or none.
    #[arg(long, value_name = "STRATEGY", default_value = "waitpid")]
    pub reap: String,
    /// Show re-parenting: each child forks a grandchild and exits.
    #[arg(long)]
    pub orphans: bool,
    /// With --orphans: do not make gilbench a child subreaper, so orphans go to
    /// PID 1 (or the nearest subreaper) instead of to gilbench.
    #[arg(long)]
    pub no_subreaper: bool,
    /// Keep the zombies on show this long before reaping (`10s`).
    #[arg(long, value_name = "D", allow_hyphen_values = true)]
    pub hold: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `gilbench __echo-peer` (internal): an I/O worker's echo peer.
#[derive(Debug, Clone, Args)]
pub struct EchoPeerArgs {
    /// The pid of the gilbench that started it (the peer dies with it).
    #[arg(long)]
    pub parent: i32,
    /// The CPU to run on (a pinned convoy's placement).
    #[arg(long)]
    pub cpu: Option<usize>,
}

/// `gilbench __worker` (internal): how a spawned worker learns what to do. Its
/// standard input is the run's memory file, its standard output its result pipe.
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Which worker.
    #[arg(long)]
    pub index: usize,
    /// The supervisor's pid (the worker dies with it).
    #[arg(long)]
    pub parent: i32,
    /// The run's time zero, CLOCK_MONOTONIC ns.
    #[arg(long)]
    pub epoch_ns: u64,
    /// Bytes of the control region at the start of the memory file.
    #[arg(long)]
    pub control_len: u64,
    /// Bytes of the workload's region after it.
    #[arg(long)]
    pub shared_len: u64,
    /// The supervisor's command line (without the program name), to rebuild its plan.
    #[arg(last = true)]
    pub command_line: Vec<std::ffi::OsString>,
}
