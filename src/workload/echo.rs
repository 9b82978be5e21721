//! An echo peer for I/O round trips: one end of a socketpair for the worker, the
//! other served by a plain OS thread that needs no GIL, like a server across a
//! network. The thread ends (and is joined) when the worker's end is dropped.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

/// The worker's end of a socketpair whose other end echoes every message.
#[derive(Debug)]
pub struct EchoPeer {
    socket: UnixStream,
    echo: Option<std::thread::JoinHandle<()>>,
    message: Vec<u8>,
}

impl EchoPeer {
    /// Starts the echo thread; messages are `message_bytes` long.
    pub fn new(message_bytes: usize) -> std::io::Result<EchoPeer> {
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
        Ok(EchoPeer {
            socket,
            echo: Some(echo),
            message: vec![0x5a; message_bytes],
        })
    }

    /// Sends the message (blocking call).
    pub fn send(&mut self) -> std::io::Result<()> {
        self.socket.write_all(&self.message)
    }

    /// Waits for the reply (blocking call).
    pub fn recv(&mut self) -> std::io::Result<()> {
        self.socket.read_exact(&mut self.message)
    }
}

impl Drop for EchoPeer {
    fn drop(&mut self) {
        // EOF ends the echo loop; join so no thread outlives the worker.
        let _ = self.socket.shutdown(std::net::Shutdown::Both);
        if let Some(echo) = self.echo.take() {
            let _ = echo.join();
        }
    }
}
