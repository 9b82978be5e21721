//! A `multiprocessing.Manager`-style server: shared objects in a process of their
//! own, reached by request/response over a Unix socket after an authkey handshake.
//!
//! | file          | what it is                                                                 |
//! |---------------|----------------------------------------------------------------------------|
//! | `frame.rs`    | length-prefixed frames with a size limit                                   |
//! | `protocol.rs` | the [`Request`]/[`Response`] messages, postcard-encoded                    |
//! | `auth.rs`     | the HMAC-SHA256 challenge–response of `multiprocessing.connection`, both ways |
//! | `objects.rs`  | the shared objects: counters, locks, dicts, lists, queues                  |
//! | `server.rs`   | the accept loop and one thread per connection, under a simulated GIL       |
//! | `pending.rs`  | the server's side of the handshake, driven by the accept loop              |
//! | `pool.rs`     | connection threads, kept for the next connection when one ends             |
//! | `client.rs`   | the proxy a worker holds: connect, handshake, typed calls                  |
//! | `dir.rs`      | the private directory the socket lives in, removed however the run ends    |
//! | `home.rs`     | the endpoint written where every worker looks: the shared region's header  |
//! | `process.rs`  | the server forked as a process of its own, and cleaned up after            |

pub mod auth;
pub mod client;
pub mod dir;
pub mod frame;
pub mod home;
pub mod objects;
mod pending;
mod pool;
pub mod process;
pub mod protocol;
pub mod server;

pub use auth::AuthKey;
pub use client::{Client, ClientError};
pub use protocol::{Request, Response, ServerStats};
pub use server::{Server, ServerConfig};

use std::path::PathBuf;

/// Where a manager listens and the key to get in: all a worker needs to connect.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The Unix socket.
    pub path: PathBuf,
    /// The authkey.
    pub key: AuthKey,
}

impl Endpoint {
    /// Connects and runs the handshake.
    pub fn connect(&self) -> Result<Client, ClientError> {
        Client::connect(&self.path, &self.key)
    }
}
