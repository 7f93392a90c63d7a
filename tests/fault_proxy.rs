//! A loopback TCP proxy that misbehaves on a fixed schedule, put between Stepwise and an
//! AWS-compatible endpoint to show that uploads and monitoring survive a bad network: some
//! connections are answered with a throttling error, some are cut part-way through, the rest
//! are forwarded untouched.
//!
//! Written with `std::net` and a thread per connection: a test needs no more, and a schedule
//! by connection number (not by chance) makes every run fail the same way.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

/// What happens to the n-th connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Forward,
    /// Read the request head, answer a throttling error and close (Step Functions'
    /// `ThrottlingException` when the request names an `X-Amz-Target`, S3's `503 SlowDown`
    /// otherwise).
    Throttle,
    /// Forward, but close both sides once this many bytes have crossed in either direction.
    CutAfter(usize),
}

/// Counts of what the proxy did, to check that the faults really happened.
#[derive(Default, Debug)]
pub struct FaultStats {
    pub connections: AtomicUsize,
    pub throttled: AtomicUsize,
    pub cut: AtomicUsize,
}

pub struct FaultProxy {
    pub url: String,
    pub stats: Arc<FaultStats>,
    stop: Arc<AtomicBool>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

impl FaultProxy {
    /// Proxies `upstream` (`host:port`); `schedule(n)` picks the fate of connection n (from 0).
    pub fn start(upstream: &str, schedule: impl Fn(usize) -> Fault + Send + Sync + 'static) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stats = Arc::new(FaultStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st, up) = (stats.clone(), stop.clone(), upstream.to_owned());
        let schedule = Arc::new(schedule);
        thread::spawn(move || {
            for client in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let n = s.connections.fetch_add(1, Ordering::SeqCst);
                let fault = schedule(n);
                let (s, up) = (s.clone(), up.clone());
                thread::spawn(move || handle(client, &up, fault, &s));
            }
        });
        FaultProxy { url, stats, stop }
    }
}

fn handle(mut client: TcpStream, upstream: &str, fault: Fault, stats: &FaultStats) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(120)));
    match fault {
        Fault::Throttle => {
            let head = read_head(&mut client);
            let sfn = head.to_ascii_lowercase().contains("x-amz-target:");
            let (status, content_type, body) = if sfn {
                ("400 Bad Request", "application/x-amz-json-1.0", r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_owned())
            } else {
                ("503 Slow Down", "application/xml", "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>".to_owned())
            };
            let extra = if sfn { "x-amzn-ErrorType: ThrottlingException\r\n" } else { "" };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            stats.throttled.fetch_add(1, Ordering::SeqCst);
            let _ = client.write_all(response.as_bytes());
            let _ = client.shutdown(Shutdown::Both);
        }
        Fault::Forward | Fault::CutAfter(_) => {
            let Ok(server) = TcpStream::connect(upstream) else {
                let _ = client.shutdown(Shutdown::Both);
                return;
            };
            let limit = match fault {
                Fault::CutAfter(n) => n,
                _ => usize::MAX,
            };
            let crossed = Arc::new(AtomicUsize::new(0));
            let cut = Arc::new(AtomicBool::new(false));
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (x2, k2) = (crossed.clone(), cut.clone());
            let up = thread::spawn(move || pump(c2, s2, &x2, limit, &k2));
            pump(server, client, &crossed, limit, &cut);
            let _ = up.join();
            if cut.load(Ordering::SeqCst) {
                stats.cut.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

/// Copies `from` → `to` until either side closes or `limit` bytes have crossed in total (then
/// both sockets are shut, which the client sees as a dropped connection).
fn pump(mut from: TcpStream, mut to: TcpStream, crossed: &AtomicUsize, limit: usize, cut: &AtomicBool) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let before = crossed.fetch_add(n, Ordering::SeqCst);
        if before + n > limit {
            let allowed = limit.saturating_sub(before);
            let _ = to.write_all(&buf[..allowed]);
            cut.store(true, Ordering::SeqCst);
            break;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// The request line and headers (the body, if any, is left unread: the connection closes).
fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}
