//! The long `--help` texts of the probe commands (`after_help`): what each mode measures, and
//! how the figures compare with `perf bench`.

/// `gilbench ctxswitch --help`, after the flags.
pub const CTXSWITCH: &str = "Examples:
  gilbench ctxswitch
  gilbench ctxswitch --mode process-pipe,thread-futex --pin same --rounds 100000
  gilbench ctxswitch --pin same,cross,none --format json
  taskset -c 1 gilbench ctxswitch --pin same   # `same` uses the first CPU allowed

Modes (two sides hand a token back and forth; the waiting side sleeps, so every
hand-off is a context switch):
  thread-futex   two threads, one futex word (what mutexes and condvars sleep on)
  thread-pipe    two threads, one byte over two pipes   ~ perf bench sched pipe -T
  process-pipe   two processes, one byte over two pipes ~ perf bench sched pipe
                 (and lmbench's lat_ctx)
  process-futex  two processes, a futex word in shared memory
  eventfd        two threads, an eventfd counter each way
  yield          two threads on one CPU taking turns with sched_yield (always
                 pinned to one CPU; the kernel counts these switches as involuntary)
  gil-handoff    two threads handing the simulated CPython GIL over, a forced
                 switch each time: what a thread switch costs under the GIL
  asyncio-handoff  two coroutines on one event loop taking turns with
                 `await asyncio.sleep(0)`: one thread, no OS switch at all

Pinning: `same` puts both sides on one CPU (a pure switch), `cross` on two (each
hand-off wakes the other CPU: an inter-processor interrupt and an idle exit),
`none` lets the scheduler choose.

Reading it beside perf: perf prints usecs/op, the mean of whole round trips
(two switches); gilbench prints the round trip and ns per switch (round trip / 2)
as p50/p99/max, plus the kernel's own count of switches. Pin perf the same way:
`taskset -c 0 perf bench sched pipe` matches `--pin same`. The p50 shrugs off
the preemptions a busy machine adds; perf's mean does not, so on a shared machine
gilbench's figure is the tighter one. scripts/ctxswitch_vs_perf.sh runs both
alternately. Measured together on a 2-vCPU VM (Linux 6.18, busy), µs per round trip:
  one CPU:    perf 6.3-18 (processes), 6.6-20 (-T)  |  gilbench p50 process-pipe 5.8-6.2,
              thread-pipe 6.2-6.9, thread-futex 5.5
  unpinned:   perf 10-20 (processes), 9.7-17 (-T)   |  gilbench p50 process-pipe 6.1-7.8,
              thread-pipe 6.2-6.8, thread-futex 5.5-6.4";

/// `gilbench spawn --help`, after the flags.
pub const SPAWN: &str = "Examples:
  gilbench spawn
  gilbench spawn --heap 0,64M,512M,2G
  gilbench spawn --method fork,posix-spawn --heap 0,1G --huge-pages

Methods:
  thread       std::thread::spawn of an empty closure, then join
  interpreter  create a subinterpreter (simulated: the heap and start-up work
               CPython 3.12/3.13's _interpreters.create() does), destroy it
  fork         fork; the child _exits at once; waitpid
  vfork        clone(CLONE_VM|CLONE_VFORK) + execve of /bin/true (what glibc's
               posix_spawn does inside); waitpid
  posix-spawn  posix_spawn of /bin/true; waitpid
  fork-exec    fork + execve of /bin/true; waitpid
  fork-cow     fork; the child writes one byte in every page of the inherited
               heap: one copy-on-write fault per page (timed in the child)

For each --heap size the parent first allocates and touches that much memory.
fork copies the page tables (and marks every page copy-on-write), so its cost
grows with the heap; vfork, posix_spawn and threads share the parent's memory
and stay flat. `call returns` is when the creating call came back in the parent;
`done+reaped` adds the child's run, exit and the wait.";

/// `gilbench zombie --help`, after the flags.
pub const ZOMBIE: &str = "Examples:
  gilbench zombie
  gilbench zombie --children 10000 --reap pidfd
  gilbench zombie --children 100 --reap sigchld
  gilbench zombie --orphans
  gilbench zombie --reap none --hold 10s   # meanwhile: ps -o pid,ppid,stat,cmd --ppid PID

Strategies (--reap):
  waitpid       a blocking waitpid(pid) per child (Popen.wait, Process.join)
  wnohang-loop  waitpid(-1, WNOHANG) in a loop until all are collected
  sigchld       sleep until SIGCHLD (a signalfd), then drain with waitpid(-1, WNOHANG);
                one pending SIGCHLD stands for many children
  pidfd         pidfd_open + poll + waitid(P_PIDFD) per child (immune to pid reuse)
  none          never wait: the zombies stay until their parent waits or exits
                (gilbench still reaps them before it exits)

--orphans: each child forks a grandchild, then exits. The orphan is re-parented to
the nearest child subreaper — gilbench, which declares itself one
(PR_SET_CHILD_SUBREAPER) unless --no-subreaper — or else to PID 1, and its new
parent reaps it. Ctrl-C at any point still reaps everything (exit code 130).";
