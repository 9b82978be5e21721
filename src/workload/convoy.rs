//! `convoy`: one I/O worker's round trips while CPU-bound workers run (bpo-7946).

use super::{spin, Common, ParamError, WorkerBody, WorkerSpec, Workload};
use crate::runtime::interp::Interp;
use crate::runtime::shm::SharedRegion;
use serde::Deserialize;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

/// Parameters of `convoy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvoyParams {
    /// CPU-bound workers beside the I/O worker (default: `workers - 1`).
    pub cpu_workers: Option<i64>,
    /// Round trips of the I/O worker (default: `ops`).
    pub rounds: Option<i64>,
    /// Bytes per request and reply.
    #[serde(default = "default_message_bytes")]
    pub message_bytes: i64,
    /// Simulated bytecodes per op of a CPU-bound worker.
    #[serde(default = "default_ticks")]
    pub ticks_per_op: i64,
}

fn default_message_bytes() -> i64 {
    64
}

fn default_ticks() -> i64 {
    20_000
}

/// Worker 0 does round trips to an echo peer; the others compute until it is done.
#[derive(Debug)]
pub struct Convoy {
    message_bytes: usize,
    ticks_per_op: u64,
    workers: Vec<WorkerSpec>,
}

impl Convoy {
    /// Checks the parameters.
    pub fn new(params: ConvoyParams, common: Common) -> Result<Convoy, ParamError> {
        let cpu_workers = params.cpu_workers.unwrap_or(common.workers as i64 - 1);
        if cpu_workers < 0 {
            return Err(ParamError::field("cpu_workers", "must not be negative"));
        }
        let rounds = params.rounds.unwrap_or(common.ops as i64);
        if rounds < 1 {
            return Err(ParamError::field("rounds", "must be at least 1"));
        }
        if !(1..=65536).contains(&params.message_bytes) {
            return Err(ParamError::field("message_bytes", "must be 1 to 65536"));
        }
        if params.ticks_per_op < 1 {
            return Err(ParamError::field("ticks_per_op", "must be at least 1"));
        }
        let mut workers = vec![WorkerSpec {
            role: "io",
            ops: Some(rounds as u64),
        }];
        workers.extend((0..cpu_workers).map(|_| WorkerSpec {
            role: "cpu",
            ops: None,
        }));
        Ok(Convoy {
            message_bytes: params.message_bytes as usize,
            ticks_per_op: params.ticks_per_op as u64,
            workers,
        })
    }
}

/// The I/O worker's end of a socketpair whose other end is an echo thread. The peer
/// is a plain OS thread with no GIL, like a server on the other side of a network.
struct RoundTripper {
    socket: UnixStream,
    echo: Option<std::thread::JoinHandle<()>>,
    message: Vec<u8>,
}

impl RoundTripper {
    fn new(message_bytes: usize) -> std::io::Result<RoundTripper> {
        let (socket, mut peer) = UnixStream::pair()?;
        let echo = std::thread::Builder::new()
            .name("echo-peer".into())
            .spawn(move || {
                let mut buf = vec![0u8; message_bytes];
                while peer.read_exact(&mut buf).is_ok() {
                    if peer.write_all(&buf).is_err() {
                        break;
                    }
                }
            })?;
        Ok(RoundTripper {
            socket,
            echo: Some(echo),
            message: vec![0x5a; message_bytes],
        })
    }
}

impl WorkerBody for RoundTripper {
    fn op(&mut self, interp: &mut Interp<'_>) -> std::io::Result<()> {
        let (socket, message) = (&mut self.socket, &mut self.message);
        // Like CPython's socket module: send and recv each release the GIL.
        interp.allow_threads(|| socket.write_all(message))?;
        interp.check_point();
        interp.allow_threads(|| socket.read_exact(message))?;
        interp.check_point();
        Ok(())
    }
}

impl Drop for RoundTripper {
    fn drop(&mut self) {
        // EOF ends the echo loop; join so no thread outlives the worker.
        let _ = self.socket.shutdown(std::net::Shutdown::Both);
        if let Some(echo) = self.echo.take() {
            let _ = echo.join();
        }
    }
}

struct Hog {
    ticks: u64,
    state: u64,
}

impl WorkerBody for Hog {
    fn op(&mut self, interp: &mut Interp<'_>) -> std::io::Result<()> {
        spin(interp, self.ticks, &mut self.state);
        Ok(())
    }
}

impl Workload for Convoy {
    fn workers(&self) -> &[WorkerSpec] {
        &self.workers
    }

    fn worker<'a>(
        &'a self,
        index: usize,
        _shared: &'a SharedRegion,
    ) -> std::io::Result<Box<dyn WorkerBody + 'a>> {
        if index == 0 {
            Ok(Box::new(RoundTripper::new(self.message_bytes)?))
        } else {
            Ok(Box::new(Hog {
                ticks: self.ticks_per_op,
                state: index as u64,
            }))
        }
    }
}
