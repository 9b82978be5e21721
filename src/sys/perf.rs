//! `perf_event_open(2)` uprobes: a breakpoint at a file offset of an ELF file
//! that records, each time any thread runs over it, which process and thread
//! it was and when (on `CLOCK_MONOTONIC`, the clock of every simulated event).
//!
//! The system call and its structures come from the `perf-event-open-sys`
//! crate; what lives here is the unsafe part around it: opening the events,
//! mapping their ring buffers, enabling them, and reading the records out.
//!
//! # Shape
//!
//! One event per probe *per CPU* (`pid = -1, cpu = N`): system-wide, so that
//! every thread of the traced process is seen, including the threads and
//! children it creates later, without `inherit`. (`inherit` on a per-process
//! event was tried and broke a traced twin's own `fork()`: the kernel must copy
//! the events into the child, and with uprobes that failed with EFAULT.) The
//! caller filters the samples by pid. System-wide events need CAP_PERFMON (root)
//! or `perf_event_paranoid` ≤ 0; the uprobe PMU itself wants CAP_PERFMON.
//!
//! On each CPU the first probe's event owns a ring buffer and the others write
//! into it (`PERF_EVENT_IOC_SET_OUTPUT`), so a sample's place in the buffer
//! orders it against the other probes of that CPU; `PERF_SAMPLE_IDENTIFIER`
//! says which probe it was.
//!
//! # Nothing left behind
//!
//! A perf uprobe lives exactly as long as its file descriptor: [`Uprobes`] owns
//! every descriptor and mapping and releases them on drop, however the run ends;
//! the kernel removes the breakpoints from the traced process when the last
//! descriptor closes. Nothing is written to tracefs.

use perf_event_open_sys as sys;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

/// Why probes could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum PerfError {
    /// The kernel has no uprobe PMU (`CONFIG_UPROBES` off, or an old kernel).
    #[error("this kernel has no uprobe PMU (/sys/bus/event_source/devices/uprobe)")]
    NoUprobes,
    /// perf_event_open said EACCES or EPERM.
    #[error("not permitted: {0}")]
    NotPermitted(std::io::Error),
    /// Anything else.
    #[error("{what}: {err}")]
    Os {
        /// What was being done.
        what: &'static str,
        /// The OS error.
        err: std::io::Error,
    },
}

/// One probe: a file, an offset in it, and whether it fires on return.
#[derive(Debug, Clone)]
pub struct UprobeSpec {
    /// The ELF file (as mapped by the traced process).
    pub path: std::path::PathBuf,
    /// File offset of the instruction to probe.
    pub offset: u64,
    /// Fire on return from the function instead of on entry.
    pub retprobe: bool,
    /// Record the function's first argument (an entry probe's; see [`FIRST_ARG_REG`]).
    pub first_arg: bool,
}

/// The `perf_regs` index of the register holding a function's first integer
/// argument (`rdi` on x86-64, `x0` on arm64); `None` where not known.
pub const FIRST_ARG_REG: Option<u32> = if cfg!(target_arch = "x86_64") {
    Some(5) // PERF_REG_X86_DI
} else if cfg!(target_arch = "aarch64") {
    Some(0) // PERF_REG_ARM64_X0
} else {
    None
};

/// One record: which probe fired, in which process and thread, when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Index into the specs given to [`Uprobes::open`].
    pub probe: usize,
    /// Process id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// `CLOCK_MONOTONIC`, ns.
    pub time_ns: u64,
    /// The first argument, for a probe that asked for it.
    pub arg: Option<u64>,
}

/// The uprobe PMU: its `type` and the config bit that makes a probe a return probe.
#[derive(Debug, Clone, Copy)]
pub struct UprobePmu {
    type_: u32,
    retprobe_bit: u32,
}

const PMU_DIR: &str = "/sys/bus/event_source/devices/uprobe";

impl UprobePmu {
    /// Reads the PMU's type and return-probe bit from sysfs.
    pub fn find() -> Result<UprobePmu, PerfError> {
        let read = |name: &str| std::fs::read_to_string(format!("{PMU_DIR}/{name}")).ok();
        let type_ = read("type")
            .and_then(|s| s.trim().parse().ok())
            .ok_or(PerfError::NoUprobes)?;
        // "config:0": the bit of `config` that asks for a return probe.
        let retprobe_bit = read("format/retprobe")
            .and_then(|s| s.trim().strip_prefix("config:")?.parse().ok())
            .unwrap_or(0);
        Ok(UprobePmu {
            type_,
            retprobe_bit,
        })
    }
}

/// The online CPUs, from `/sys/devices/system/cpu/online` (`0-3,6`).
pub fn online_cpus() -> Vec<i32> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
    let cpus = parse_cpu_list(&text);
    if cpus.is_empty() {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        (0..n as i32).collect()
    } else {
        cpus
    }
}

fn parse_cpu_list(text: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(lo), Ok(hi)) = (lo.trim().parse::<i32>(), hi.trim().parse::<i32>()) {
            out.extend(lo..=hi);
        }
    }
    out
}

/// One CPU's ring buffer: the mapping of its first probe's event.
#[derive(Debug)]
struct Ring {
    base: *mut u8,
    len: usize,
    data_offset: usize,
    data_size: usize,
}

// SAFETY (Send): the mapping is owned by this value alone; the kernel writes its
// data area concurrently whichever thread reads it, and the reader synchronises
// with the kernel through data_head/data_tail atomics, not through thread identity.
#[allow(clippy::non_send_fields_in_send_ty)]
unsafe impl Send for Ring {}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are exactly the mapping made in `Uprobes::open` and
        // not yet unmapped (only this drop unmaps it); nothing borrows from it past
        // `drain`, which copies every record out.
        unsafe {
            libc::munmap(self.base.cast(), self.len);
        }
    }
}

/// Open uprobe events on every online CPU, with their ring buffers.
#[derive(Debug)]
pub struct Uprobes {
    /// One per CPU. Declared before `fds`, so dropped first: unmapped before
    /// the descriptors close (either order is sound; this one is perf's own).
    rings: Vec<Ring>,
    /// Every event's descriptor; closing them removes the probes.
    fds: Vec<OwnedFd>,
    /// Sample id (`PERF_EVENT_IOC_ID`) → probe index, and whether its samples
    /// carry a register.
    ids: Vec<(u64, usize, bool)>,
    /// Records the kernel could not store because a ring was full.
    lost: u64,
    scratch: Vec<u8>,
}

const SAMPLE_TYPE: u64 = (sys::bindings::PERF_SAMPLE_IDENTIFIER
    | sys::bindings::PERF_SAMPLE_TID
    | sys::bindings::PERF_SAMPLE_TIME) as u64;

fn os(what: &'static str) -> PerfError {
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => PerfError::NotPermitted(err),
        _ => PerfError::Os { what, err },
    }
}

impl Uprobes {
    /// Opens every probe of `specs` on every online CPU, disabled, each CPU with
    /// a ring buffer of `pages` (a power of two) pages.
    pub fn open(specs: &[UprobeSpec], pages: usize) -> Result<Uprobes, PerfError> {
        let pmu = UprobePmu::find()?;
        let pages = pages.max(1).next_power_of_two();
        let page = super::mem::page_size();
        let paths: Vec<CString> = specs
            .iter()
            .map(|s| {
                CString::new(s.path.as_os_str().as_encoded_bytes()).map_err(|_| PerfError::Os {
                    what: "probe path",
                    err: std::io::Error::from(std::io::ErrorKind::InvalidInput),
                })
            })
            .collect::<Result<_, _>>()?;
        let mut set = Uprobes {
            fds: Vec::new(),
            rings: Vec::new(),
            ids: Vec::new(),
            lost: 0,
            scratch: Vec::new(),
        };
        for cpu in online_cpus() {
            let mut leader: Option<i32> = None;
            for (index, (spec, path)) in specs.iter().zip(&paths).enumerate() {
                let mut attr = sys::bindings::perf_event_attr {
                    type_: pmu.type_,
                    size: std::mem::size_of::<sys::bindings::perf_event_attr>() as u32,
                    config: if spec.retprobe {
                        1u64 << pmu.retprobe_bit
                    } else {
                        0
                    },
                    sample_type: SAMPLE_TYPE,
                    clockid: libc::CLOCK_MONOTONIC,
                    ..Default::default()
                };
                attr.__bindgen_anon_1.sample_period = 1;
                let regs = spec.first_arg.then_some(FIRST_ARG_REG).flatten();
                if let Some(reg) = regs {
                    attr.sample_type |= sys::bindings::PERF_SAMPLE_REGS_USER as u64;
                    attr.sample_regs_user = 1u64 << reg;
                }
                attr.__bindgen_anon_3.uprobe_path = path.as_ptr() as u64;
                attr.__bindgen_anon_4.probe_offset = spec.offset;
                attr.set_disabled(1);
                attr.set_use_clockid(1);
                // SAFETY: `attr` is a fully initialised perf_event_attr whose `size`
                // is its own; the path it points to (`paths`) outlives the call (the
                // kernel copies it during the call); pid -1 with a real cpu is the
                // documented system-wide form; no group fd.
                let fd = unsafe {
                    sys::perf_event_open(
                        &mut attr,
                        -1,
                        cpu,
                        -1,
                        sys::bindings::PERF_FLAG_FD_CLOEXEC as libc::c_ulong,
                    )
                };
                if fd < 0 {
                    return Err(os("perf_event_open"));
                }
                // SAFETY: a fresh descriptor from the kernel that nobody else owns.
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                let mut id = 0u64;
                // SAFETY: `fd` is a perf event descriptor we own; ID writes one u64
                // through the pointer, which points at a live local.
                if unsafe { sys::ioctls::ID(fd, &mut id) } < 0 {
                    return Err(os("PERF_EVENT_IOC_ID"));
                }
                set.ids.push((id, index, regs.is_some()));
                match leader {
                    None => {
                        let len = (pages + 1) * page;
                        // SAFETY: maps `len` bytes of a perf descriptor we own, shared,
                        // at an address the kernel chooses; the result is checked.
                        let base = unsafe {
                            libc::mmap(
                                std::ptr::null_mut(),
                                len,
                                libc::PROT_READ | libc::PROT_WRITE,
                                libc::MAP_SHARED,
                                fd,
                                0,
                            )
                        };
                        if base == libc::MAP_FAILED {
                            return Err(os("mmap of a perf ring buffer"));
                        }
                        set.rings.push(Ring {
                            base: base.cast(),
                            len,
                            data_offset: page,
                            data_size: pages * page,
                        });
                        leader = Some(fd);
                    }
                    Some(leader_fd) => {
                        // SAFETY: both are perf descriptors we own, on the same CPU;
                        // SET_OUTPUT takes the target descriptor by value.
                        if unsafe { sys::ioctls::SET_OUTPUT(fd, leader_fd) } < 0 {
                            return Err(os("PERF_EVENT_IOC_SET_OUTPUT"));
                        }
                    }
                }
                set.fds.push(owned);
            }
        }
        Ok(set)
    }

    /// Starts (true) or stops (false) every probe.
    pub fn set_enabled(&self, on: bool) -> Result<(), PerfError> {
        for fd in &self.fds {
            // SAFETY: a perf descriptor we own; ENABLE/DISABLE take an integer flag.
            let rc = unsafe {
                if on {
                    sys::ioctls::ENABLE(fd.as_raw_fd(), 0)
                } else {
                    sys::ioctls::DISABLE(fd.as_raw_fd(), 0)
                }
            };
            if rc < 0 {
                return Err(os("PERF_EVENT_IOC_ENABLE"));
            }
        }
        Ok(())
    }

    /// Records the kernel dropped because a ring buffer was full.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Moves every record out of the ring buffers into `out` (samples of any
    /// process: the caller filters).
    pub fn drain(&mut self, out: &mut Vec<Sample>) {
        for r in 0..self.rings.len() {
            let (base, data_offset, data_size) = {
                let ring = &self.rings[r];
                (ring.base, ring.data_offset, ring.data_size)
            };
            let meta = base.cast::<sys::bindings::perf_event_mmap_page>();
            // SAFETY: `meta` is the first page of a live mapping; data_head and
            // data_tail are naturally aligned u64s the kernel and we share, read and
            // written only through atomics (the protocol perf_event_open(2) gives).
            let (head_ptr, tail_ptr) = unsafe {
                (
                    &*(std::ptr::addr_of!((*meta).data_head).cast::<AtomicU64>()),
                    &*(std::ptr::addr_of!((*meta).data_tail).cast::<AtomicU64>()),
                )
            };
            let head = head_ptr.load(Ordering::Acquire);
            let mut tail = tail_ptr.load(Ordering::Relaxed);
            self.scratch.clear();
            let available = head.wrapping_sub(tail) as usize;
            if available == 0 {
                continue;
            }
            let start = (tail as usize) % data_size;
            let first = available.min(data_size - start);
            // SAFETY: [start, start+first) and [0, available-first) lie inside the
            // data area (available ≤ data_size, as the kernel never overruns the
            // tail); the kernel does not write them until we advance data_tail.
            unsafe {
                let data = base.add(data_offset);
                self.scratch
                    .extend_from_slice(std::slice::from_raw_parts(data.add(start), first));
                self.scratch
                    .extend_from_slice(std::slice::from_raw_parts(data, available - first));
            }
            tail = head;
            tail_ptr.store(tail, Ordering::Release);
            self.lost += parse_records(&self.scratch, &self.ids, out);
        }
    }
}

/// Parses raw records (`perf_event_header` + body); returns the lost-record count.
fn parse_records(bytes: &[u8], ids: &[(u64, usize, bool)], out: &mut Vec<Sample>) -> u64 {
    let u64_at = |b: &[u8], at: usize| -> Option<u64> {
        Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?))
    };
    let mut lost = 0;
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let kind = u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap_or_default());
        let size =
            u16::from_ne_bytes(bytes[at + 6..at + 8].try_into().unwrap_or_default()) as usize;
        if size < 8 || at + size > bytes.len() {
            break;
        }
        let body = &bytes[at + 8..at + size];
        if kind == sys::bindings::PERF_RECORD_SAMPLE {
            // IDENTIFIER, then TID (pid u32, tid u32), then TIME, then for
            // REGS_USER the ABI (0: no registers) and the one register asked for.
            if let (Some(id), Some(pid_tid), Some(time)) =
                (u64_at(body, 0), u64_at(body, 8), u64_at(body, 16))
            {
                if let Some(&(_, probe, regs)) = ids.iter().find(|(i, _, _)| *i == id) {
                    let arg = if regs && u64_at(body, 24).is_some_and(|abi| abi != 0) {
                        u64_at(body, 32)
                    } else {
                        None
                    };
                    out.push(Sample {
                        probe,
                        pid: (pid_tid & 0xffff_ffff) as u32,
                        tid: (pid_tid >> 32) as u32,
                        time_ns: time,
                        arg,
                    });
                }
            }
        } else if kind == sys::bindings::PERF_RECORD_LOST {
            lost += u64_at(body, 8).unwrap_or(0);
        }
        at += size;
    }
    lost
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-1\n"), vec![0, 1]);
        assert_eq!(parse_cpu_list("0,2-3,7"), vec![0, 2, 3, 7]);
        assert!(parse_cpu_list("").is_empty());
        assert!(!online_cpus().is_empty());
    }

    #[test]
    fn records_parse_and_unknown_ids_are_skipped() {
        let mut bytes = Vec::new();
        let mut sample = |id: u64, pid: u32, tid: u32, t: u64| {
            bytes.extend_from_slice(&sys::bindings::PERF_RECORD_SAMPLE.to_ne_bytes());
            bytes.extend_from_slice(&0u16.to_ne_bytes());
            bytes.extend_from_slice(&32u16.to_ne_bytes());
            bytes.extend_from_slice(&id.to_ne_bytes());
            bytes.extend_from_slice(&pid.to_ne_bytes());
            bytes.extend_from_slice(&tid.to_ne_bytes());
            bytes.extend_from_slice(&t.to_ne_bytes());
        };
        sample(7, 10, 11, 100);
        sample(99, 10, 12, 200);
        let mut lostrec = Vec::new();
        lostrec.extend_from_slice(&sys::bindings::PERF_RECORD_LOST.to_ne_bytes());
        lostrec.extend_from_slice(&0u16.to_ne_bytes());
        lostrec.extend_from_slice(&24u16.to_ne_bytes());
        lostrec.extend_from_slice(&7u64.to_ne_bytes());
        lostrec.extend_from_slice(&5u64.to_ne_bytes());
        bytes.extend_from_slice(&lostrec);
        let mut out = Vec::new();
        let lost = parse_records(&bytes, &[(7, 2, false)], &mut out);
        assert_eq!(lost, 5);
        assert_eq!(
            out,
            vec![Sample {
                probe: 2,
                pid: 10,
                tid: 11,
                time_ns: 100,
                arg: None,
            }]
        );
        // With a register: ABI, then its value.
        let mut regs = Vec::new();
        regs.extend_from_slice(&sys::bindings::PERF_RECORD_SAMPLE.to_ne_bytes());
        regs.extend_from_slice(&0u16.to_ne_bytes());
        regs.extend_from_slice(&48u16.to_ne_bytes());
        for v in [8u64, (13u64 << 32) | 12, 300, 2, 0xdead] {
            regs.extend_from_slice(&v.to_ne_bytes());
        }
        out.clear();
        parse_records(&regs, &[(8, 0, true)], &mut out);
        assert_eq!(out[0].arg, Some(0xdead));
        assert_eq!((out[0].pid, out[0].tid), (12, 13));
    }
}
