//! The manager server under abuse: wrong keys, no handshake, garbage, oversized and
//! truncated frames, a client killed mid-request, the server killed mid-run.
//!
//! Most tests run a real server on threads of this process and talk to it over its
//! Unix socket. The two that kill a process re-run this test binary as the client
//! or the server (`child_roles`, steered by environment variables), so the kill is a
//! real `SIGKILL` of a real process holding a real connection.

use gilbench::manager::auth::{AuthError, AuthKey};
use gilbench::manager::dir::SocketDir;
use gilbench::manager::frame::{self, FrameReader, MAX_FRAME};
use gilbench::manager::protocol::{self, Request, ServerStats};
use gilbench::manager::server::Stopper;
use gilbench::manager::{Client, ClientError, Endpoint, Server, ServerConfig};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A server on threads of this process, in its own private directory.
struct TestServer {
    endpoint: Endpoint,
    stopper: Stopper,
    thread: JoinHandle<std::io::Result<ServerStats>>,
    dir: SocketDir,
}

fn start_with(config: ServerConfig) -> TestServer {
    let dir = SocketDir::create().unwrap();
    let key = AuthKey::random().unwrap();
    let server = Server::bind(&dir.socket_path(), key.clone(), config).unwrap();
    let stopper = server.stopper();
    let thread = std::thread::spawn(move || server.run());
    TestServer {
        endpoint: Endpoint {
            path: dir.socket_path(),
            key,
        },
        stopper,
        thread,
        dir,
    }
}

fn start() -> TestServer {
    start_with(ServerConfig::default())
}

impl TestServer {
    fn client(&self) -> Client {
        self.endpoint
            .connect()
            .expect("a client with the key gets in")
    }

    /// Stops the server and returns its statistics; the directory goes with it.
    fn stop(self) -> ServerStats {
        self.stopper.stop();
        let stats = self.thread.join().unwrap().unwrap();
        let path = self.dir.path().to_path_buf();
        drop(self.dir);
        assert!(!path.exists(), "socket directory left behind");
        stats
    }
}

/// A connection that has done nothing yet: not even read the challenge.
fn raw(endpoint: &Endpoint) -> UnixStream {
    let stream = UnixStream::connect(&endpoint.path).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}

/// Reads frames until the server closes the connection; returns them.
fn frames_until_closed(stream: &mut UnixStream) -> Vec<Vec<u8>> {
    let mut reader = FrameReader::new();
    let mut frames = Vec::new();
    loop {
        match reader.read(stream, 1 << 16) {
            Ok(f) => frames.push(f.to_vec()),
            Err(frame::FrameError::Closed) => return frames,
            Err(frame::FrameError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return frames
            }
            Err(e) => panic!("expected the server to close the connection, got {e}"),
        }
    }
}

fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    frame::push(&mut out, payload);
    out
}

fn encoded(request: &Request<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    protocol::encode(request, &mut out, MAX_FRAME).unwrap();
    out
}

/// An authenticated connection whose socket the test writes to directly.
fn authenticated_raw(server: &TestServer) -> Client {
    let mut client = server.client();
    client.ping().unwrap(); // flushes the pending #WELCOME#
    client
}

#[test]
fn serves_every_object_kind_after_the_handshake() {
    let server = start();
    let mut a = server.client();
    let mut b = server.client();
    assert_eq!(a.value_increment("c", 1).unwrap(), 1);
    assert_eq!(b.value_increment("c", 1).unwrap(), 2);
    b.value_set("c", 40).unwrap();
    assert_eq!(a.value_get("c").unwrap(), 40);
    a.dict_set("d", "k", b"v").unwrap();
    assert_eq!(b.dict_get("d", "k").unwrap(), Some(&b"v"[..]));
    assert_eq!(b.dict_len("d").unwrap(), 1);
    assert!(b.dict_delete("d", "k").unwrap());
    a.list_append("l", b"x").unwrap();
    assert_eq!(b.list_get("l", -1).unwrap(), Some(&b"x"[..]));
    assert_eq!(b.list_len("l").unwrap(), 1);
    a.queue_put("q", b"item").unwrap();
    assert_eq!(b.queue_get("q", None).unwrap(), Some(&b"item"[..]));
    assert_eq!(
        b.queue_get("q", Some(Duration::from_millis(5))).unwrap(),
        None
    );
    assert!(a.lock_acquire("L", None).unwrap());
    assert!(!b.lock_acquire("L", Some(Duration::from_millis(5))).unwrap());
    a.lock_release("L").unwrap();
    assert!(matches!(a.lock_release("L"), Err(ClientError::Remote(m)) if m.contains("unlocked")));
    drop((a, b));
    let stats = server.stop();
    assert_eq!(
        (stats.connections, stats.authenticated, stats.refused),
        (2, 2, 0)
    );
    assert!(stats.requests >= 17, "{stats:?}");
    assert!(
        stats.gil.unwrap().stats.acquisitions > 0,
        "the GIL is on by default"
    );
}

#[test]
fn wrong_authkey_is_refused_and_the_server_goes_on() {
    let server = start();
    let mut good = server.client();
    good.value_increment("c", 1).unwrap();
    let impostor = Endpoint {
        path: server.endpoint.path.clone(),
        key: AuthKey::random().unwrap(),
    };
    match impostor.connect() {
        Err(ClientError::Auth(AuthError::Refused)) => {}
        other => panic!("a wrong key must be refused, got {other:?}"),
    }
    // The one already in, and newcomers with the key, carry on.
    good.value_increment("c", 1).unwrap();
    assert_eq!(server.client().value_get("c").unwrap(), 2);
    drop(good);
    let stats = server.stop();
    assert_eq!(stats.refused, 1, "{stats:?}");
    assert_eq!(stats.authenticated, 2, "{stats:?}");
}

#[test]
fn no_request_is_served_before_the_handshake() {
    let server = start();
    // Skip the handshake: answer the challenge with a request.
    let mut rude = raw(&server.endpoint);
    rude.write_all(&encoded(&Request::ValueIncrement { name: "c", by: 1 }))
        .unwrap();
    let frames = frames_until_closed(&mut rude);
    assert!(frames[0].starts_with(b"#CHALLENGE#{sha256}"), "{frames:?}");
    assert_eq!(frames[1..], [b"#FAILURE#".to_vec()]);
    assert_eq!(
        server.client().value_get("c").unwrap(),
        0,
        "nothing was served"
    );
    let stats = server.stop();
    assert_eq!(stats.refused, 1);
    assert_eq!(stats.requests, 1, "only the good client's");
}

#[test]
fn a_client_that_never_answers_is_dropped_without_blocking_others() {
    let server = start_with(ServerConfig {
        handshake_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    });
    let mut silent = raw(&server.endpoint);
    // While it sits there, others get in and are served.
    for _ in 0..3 {
        server.client().ping().unwrap();
    }
    let start = Instant::now();
    let frames = frames_until_closed(&mut silent);
    assert_eq!(frames.len(), 1, "only the challenge: {frames:?}");
    assert!(start.elapsed() < Duration::from_secs(10));
    let stats = server.stop();
    assert_eq!((stats.refused, stats.authenticated), (1, 3), "{stats:?}");
}

#[test]
fn garbage_before_the_handshake_is_refused() {
    let server = start();
    let mut junk = raw(&server.endpoint);
    junk.write_all(b"GET / HTTP/1.1\r\nHost: manager\r\n\r\n")
        .unwrap();
    let frames = frames_until_closed(&mut junk);
    assert!(
        frames.len() <= 2,
        "challenge and at most a #FAILURE#: {frames:?}"
    );
    let mut junk = raw(&server.endpoint);
    junk.write_all(&framed(&[0xde, 0xad, 0xbe, 0xef])).unwrap();
    assert_eq!(frames_until_closed(&mut junk).last().unwrap(), b"#FAILURE#");
    server.client().ping().unwrap();
    let stats = server.stop();
    assert_eq!(stats.refused, 2, "{stats:?}");
}

#[test]
fn garbage_after_the_handshake_is_answered_with_an_error() {
    let server = start();
    let mut client = authenticated_raw(&server);
    let mut stream = client.stream().try_clone().unwrap();
    // A well-formed frame whose payload is not a request.
    stream
        .write_all(&framed(&[0xff, 0xff, 0xff, 0x0f, 1, 2, 3]))
        .unwrap();
    let mut reader = FrameReader::new();
    let reply = reader.read(&mut stream, MAX_FRAME).unwrap().to_vec();
    let reply: protocol::Response<'_> = protocol::decode(&reply).unwrap();
    assert!(
        matches!(reply, protocol::Response::Error(m) if m.starts_with("bad request")),
        "{reply:?}"
    );
    // The connection is still good.
    assert_eq!(client.value_increment("c", 5).unwrap(), 5);
    drop((client, stream));
    let stats = server.stop();
    assert_eq!(stats.bad_requests, 1);
    assert_eq!(stats.dropped, 0);
}

#[test]
fn an_oversized_frame_drops_that_connection_only() {
    let server = start();
    let mut bystander = server.client();
    bystander.value_increment("c", 1).unwrap();
    let client = authenticated_raw(&server);
    let mut stream = client.stream().try_clone().unwrap();
    // Announce 4 GiB - 1: the server must not try to read (or allocate) it.
    stream
        .write_all(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0])
        .unwrap();
    assert!(frames_until_closed(&mut stream).is_empty());
    // Just over the limit, too.
    let client = authenticated_raw(&server);
    let mut stream = client.stream().try_clone().unwrap();
    stream
        .write_all(&((MAX_FRAME + 1) as u32).to_be_bytes())
        .unwrap();
    assert!(frames_until_closed(&mut stream).is_empty());
    // A client that tries to send one is stopped before anything goes out.
    let mut careful = server.client();
    let huge = vec![0u8; MAX_FRAME + 1];
    assert!(matches!(
        careful.queue_put("q", &huge),
        Err(ClientError::TooLarge(_))
    ));
    assert_eq!(careful.value_increment("c", 1).unwrap(), 2);
    assert_eq!(bystander.value_increment("c", 1).unwrap(), 3);
    drop((bystander, careful));
    let stats = server.stop();
    assert_eq!(stats.dropped, 2, "{stats:?}");
}

#[test]
fn a_truncated_frame_drops_that_connection_only() {
    let server = start();
    let mut bystander = server.client();
    let client = authenticated_raw(&server);
    let mut stream = client.stream().try_clone().unwrap();
    let whole = encoded(&Request::ValueIncrement { name: "c", by: 1 });
    stream.write_all(&whole[..whole.len() - 2]).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(frames_until_closed(&mut stream).is_empty());
    assert_eq!(
        bystander.value_get("c").unwrap(),
        0,
        "half a request does nothing"
    );
    // A header cut short, too.
    let client = authenticated_raw(&server);
    let mut stream = client.stream().try_clone().unwrap();
    stream.write_all(&[0, 0]).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(frames_until_closed(&mut stream).is_empty());
    bystander.ping().unwrap();
    drop(bystander);
    let stats = server.stop();
    assert_eq!(stats.dropped, 2, "{stats:?}");
}

#[test]
fn manager_gil_off_serves_the_same() {
    let server = start_with(ServerConfig {
        gil: None,
        ..ServerConfig::default()
    });
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let mut c = server.client();
                for _ in 0..500 {
                    c.value_increment("c", 1).unwrap();
                }
            });
        }
    });
    assert_eq!(server.client().value_get("c").unwrap(), 2000);
    let stats = server.stop();
    assert!(stats.gil.is_none());
}

#[test]
fn lock_pattern_loses_nothing_and_get_then_set_can_lose() {
    let server = start();
    let workers = 3;
    let ops = 400;
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                let mut c = server.client();
                for _ in 0..ops {
                    assert!(c.lock_acquire("L", None).unwrap());
                    let v = c.value_get("locked").unwrap();
                    c.value_set("locked", v + 1).unwrap();
                    c.lock_release("L").unwrap();
                }
            });
        }
    });
    let mut c = server.client();
    assert_eq!(c.value_get("locked").unwrap(), workers * ops);
    drop(c);
    server.stop();
}

#[test]
fn shutdown_reports_and_stops_the_server() {
    let server = start();
    let mut worker = server.client();
    worker.value_increment("c", 1).unwrap();
    drop(worker);
    let stats = server.client().shutdown().unwrap();
    assert!(stats.requests >= 1, "{stats:?}");
    let TestServer { thread, dir, .. } = server;
    thread.join().unwrap().unwrap();
    drop(dir);
}

// ---------------------------------------------------------------------------
// Real processes, killed for real.

const ROLE: &str = "GILBENCH_TEST_MANAGER_ROLE";
const PATH: &str = "GILBENCH_TEST_MANAGER_PATH";
const KEY: &str = "GILBENCH_TEST_MANAGER_KEY";

fn hex(key: &AuthKey) -> String {
    key.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> AuthKey {
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap();
    }
    AuthKey::from_bytes(bytes)
}

/// Not a test of its own: the body of the child processes below. Run normally
/// (without the environment variables) it does nothing.
#[test]
fn child_roles() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let path = std::path::PathBuf::from(std::env::var(PATH).unwrap());
    let key = unhex(&std::env::var(KEY).unwrap());
    match role.as_str() {
        "client-blocked-on-lock" => {
            let mut client = Client::connect(&path, &key).unwrap();
            client.ping().unwrap();
            println!("CONNECTED");
            std::io::stdout().flush().unwrap();
            // Blocks in the server until the test kills us.
            client.lock_acquire("L", None).unwrap();
            println!("UNEXPECTEDLY ACQUIRED");
        }
        "server" => {
            let server = Server::bind(&path, key, ServerConfig::default()).unwrap();
            println!("READY");
            std::io::stdout().flush().unwrap();
            server.run().unwrap();
        }
        other => panic!("unknown role {other}"),
    }
}

/// Runs `child_roles` in a new process of this test binary, as `role`.
fn spawn_role(
    role: &str,
    path: &std::path::Path,
    key: &AuthKey,
) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_roles", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(PATH, path)
        .env(KEY, hex(key))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    (child, stdout)
}

fn wait_for_line(stdout: &mut BufReader<std::process::ChildStdout>, wanted: &str) {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "child ended before printing {wanted}"
        );
        if line.trim_end().ends_with(wanted) {
            return;
        }
    }
}

#[test]
fn a_client_killed_mid_request_is_dropped_and_its_lock_freed() {
    let server = start();
    let mut holder = server.client();
    assert!(holder.lock_acquire("L", None).unwrap());
    let (mut child, mut stdout) = spawn_role(
        "client-blocked-on-lock",
        &server.endpoint.path,
        &server.endpoint.key,
    );
    wait_for_line(&mut stdout, "CONNECTED");
    // Give its acquire time to reach the server and block there.
    std::thread::sleep(Duration::from_millis(100));
    child.kill().unwrap();
    child.wait().unwrap();
    // Handing the lock on wakes the dead client's thread: it takes the lock, fails
    // to send the reply, drops the connection, and the lock comes back.
    holder.lock_release("L").unwrap();
    assert!(
        holder
            .lock_acquire("L", Some(Duration::from_secs(10)))
            .unwrap(),
        "the lock of a killed client must be released"
    );
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(!rest.contains("UNEXPECTEDLY"), "{rest}");
    drop(holder);
    let stats = server.stop();
    assert_eq!(stats.dropped, 1, "{stats:?}");
}

#[test]
fn the_server_killed_mid_run_is_a_clear_error_not_a_hang() {
    let dir = SocketDir::create().unwrap();
    let key = AuthKey::random().unwrap();
    let (mut server, mut stdout) = spawn_role("server", &dir.socket_path(), &key);
    wait_for_line(&mut stdout, "READY");
    let mut client = Client::connect(&dir.socket_path(), &key).unwrap();
    client.value_increment("c", 1).unwrap();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        server.kill().unwrap();
        server.wait().unwrap()
    });
    // Mid-request: blocked in a get that would never return.
    let start = Instant::now();
    let err = client.queue_get("q", None).unwrap_err();
    assert!(matches!(err, ClientError::Lost(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("lost the connection to the manager server"),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_secs(10));
    killer.join().unwrap();
    assert!(
        dir.socket_path().exists(),
        "a killed server cannot clean up…"
    );
    let path = dir.path().to_path_buf();
    drop(dir);
    assert!(!path.exists(), "…so the directory's owner does");
    // Nobody is listening any more.
    assert!(matches!(
        Client::connect(&path.join("manager.sock"), &key),
        Err(ClientError::Connect { .. })
    ));
}

#[test]
fn a_flood_of_idle_connections_sheds_the_oldest_and_a_client_still_gets_in() {
    let server = start();
    let flood = gilbench::manager::server::MAX_PENDING + 50;
    // Idle clients that never answer the challenge, more than the server keeps.
    let idle: Vec<UnixStream> = (0..flood).map(|_| raw(&server.endpoint)).collect();
    let mut client = server.client();
    assert_eq!(client.value_increment("c", 1).unwrap(), 1);
    drop(client);
    drop(idle);
    let stats = server.stop();
    assert!(stats.refused >= 50, "the oldest were not shed: {stats:?}");
    assert_eq!(stats.authenticated, 1, "{stats:?}");
}
