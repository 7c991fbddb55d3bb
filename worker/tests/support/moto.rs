//! An S3-compatible test server: `moto_server` (PyPI `moto[server]`, installed by `.ci/setup`) on a
//! free port of 127.0.0.1, stopped when dropped, plus a TCP proxy in front of it that can play an
//! unreachable endpoint.

#![allow(dead_code)]

use ferroflink::state::s3::S3Config;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running moto server.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    credentials: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Moto {
    /// Starts a server and waits until it answers HTTP. A bare TCP connect is not proof: a connect
    /// to a free port of the ephemeral range can connect to itself before the server listens.
    pub fn start() -> Moto {
        for _ in 0..3 {
            let port = free_port();
            let mut child = Command::new("moto_server")
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot start moto_server ({e}): run .ci/setup, or pip install 'moto[server]'")
                });
            let endpoint = format!("127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // the port was taken meanwhile: try another
                }
                if request(&endpoint, "GET", "/").is_ok_and(|r| r.starts_with("HTTP/1.")) {
                    let credentials = std::env::temp_dir().join(format!("ff-moto-credentials-{port}"));
                    std::fs::write(&credentials, "[default]\naws_access_key_id = test\naws_secret_access_key = test\n")
                        .unwrap();
                    return Moto { child, endpoint: format!("http://{endpoint}"), credentials };
                }
                assert!(Instant::now() < deadline, "moto_server did not answer on port {port} within 30 s");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("moto_server exited at start three times: is `moto_server -H 127.0.0.1 -p <port>` working?");
    }

    /// Creates a bucket (moto accepts unsigned requests).
    pub fn create_bucket(&self, name: &str) {
        let host = self.endpoint.trim_start_matches("http://");
        let response = request(host, "PUT", &format!("/{name}")).unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "creating bucket {name}: {response}");
    }

    /// How the engine reaches this server (through `endpoint`, which may be a proxy).
    pub fn config(&self, endpoint: &str) -> S3Config {
        S3Config {
            endpoint: Some(endpoint.to_string()),
            region: Some("us-east-1".into()),
            path_style: true,
            credentials_file: Some(self.credentials.clone()),
        }
    }

    /// The credentials file the server accepts.
    pub fn credentials_file(&self) -> &PathBuf {
        &self.credentials
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.credentials);
    }
}

/// A TCP proxy to `target` that refuses every connection while it is down.
pub struct Proxy {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    down: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    /// Forwards connections on a free port to `target` (`http://host:port`).
    pub fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let down = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (target, flag, conns) = (target.trim_start_matches("http://").to_string(), down.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if flag.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else { continue };
                conns.lock().unwrap().push(client.try_clone().unwrap());
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Proxy { endpoint, down, open }
    }

    /// Makes the endpoint unreachable (`true`: open connections are cut, new ones refused) or
    /// reachable again.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
        if down {
            for c in self.open.lock().unwrap().drain(..) {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }
}

/// One HTTP/1.1 request without a body; the whole response.
fn request(host: &str, method: &str, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(host)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    s.read_to_string(&mut response)?;
    Ok(response)
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    });
}
