//! A TCP proxy of the tests' own between the engine and one server, whose link can be switched
//! at run time: passing, cut (every connection closed, new ones refused), stalled (connections
//! accepted and kept open, nothing forwarded: a network that silently drops packets) or slow
//! (each chunk delayed). This is how the partition tests and the soak cut the network mid-run
//! without touching the server.
//!
//! ```no_run
//! use std::time::Duration;
//! use templesync_tests::proxy::{Link, Proxy};
//! # async fn demo(server: &templesync_tests::MongoServer) -> anyhow::Result<()> {
//! let proxy = Proxy::start(server.port()).await?;
//! let url = proxy.url(); // give this to the engine instead of server.url()
//! proxy.set(Link::Stall);
//! proxy.set(Link::Slow(Duration::from_millis(50)));
//! proxy.set(Link::Pass);
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// What the link does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// Bytes go through as they come.
    Pass,
    /// Every open connection is closed at once and new ones are closed as soon as accepted.
    Cut,
    /// Connections are accepted and kept open but nothing is forwarded either way, for as long
    /// as the stall lasts (what was held back goes through when the link passes again, as TCP
    /// retransmission would deliver it).
    Stall,
    /// Every chunk (at most 1 KiB) waits this long before it is forwarded.
    Slow(Duration),
}

/// Chunk size while slow, so that a large reply takes many delays.
const SLOW_CHUNK: usize = 1024;

/// A running proxy on `127.0.0.1:<port>` to `127.0.0.1:<upstream>`. Stops (closing every
/// connection) when dropped.
pub struct Proxy {
    port: u16,
    mode: watch::Sender<Link>,
    accepted: Arc<AtomicU64>,
    largest: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy to the server listening on `127.0.0.1:upstream`, passing.
    pub async fn start(upstream: u16) -> anyhow::Result<Proxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let (mode, rx) = watch::channel(Link::Pass);
        let accepted = Arc::new(AtomicU64::new(0));
        let counter = accepted.clone();
        let largest = Arc::new(AtomicU64::new(0));
        let largest_seen = largest.clone();
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    a = listener.accept() => {
                        let Ok((client, _)) = a else { continue };
                        counter.fetch_add(1, Ordering::SeqCst);
                        if *rx.borrow() == Link::Cut {
                            drop(client);
                            continue;
                        }
                        conns.spawn(relay(client, upstream, rx.clone(), largest_seen.clone()));
                    }
                    // Reap finished connections so the set does not grow without bound.
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok(Proxy {
            port,
            mode,
            accepted,
            largest,
            task,
        })
    }

    /// The port engines connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mongodb://127.0.0.1:PORT/?directConnection=true`
    pub fn url(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
    }

    /// Switches the link; takes effect on open connections at once.
    pub fn set(&self, link: Link) {
        self.mode.send_replace(link);
    }

    /// A switch for the link that can be moved into a step hook (`'static`, no borrow of the
    /// proxy): calling it is [`set`](Self::set).
    pub fn switch(&self) -> impl Fn(Link) + Send + Sync + 'static {
        let mode = self.mode.clone();
        move |link| {
            mode.send_replace(link);
        }
    }

    /// What the link does now.
    pub fn link(&self) -> Link {
        *self.mode.borrow()
    }

    /// The largest wire-protocol message a client sent through the proxy so far, in bytes
    /// (its header's `messageLength`): what a server's command size limit applies to.
    pub fn largest_request(&self) -> u64 {
        self.largest.load(Ordering::SeqCst)
    }

    /// How many connections were made to the proxy so far.
    pub fn connections_accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.mode.send_replace(Link::Cut);
        // Dropping the accept task drops its JoinSet, which aborts every relay.
        self.task.abort();
    }
}

/// One client connection: relays both ways until either side closes or the link is cut.
async fn relay(
    client: TcpStream,
    upstream: u16,
    mode: watch::Receiver<Link>,
    largest: Arc<AtomicU64>,
) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    // Whichever direction ends first ends the connection (both sockets are dropped).
    tokio::select! {
        _ = pipe(cr, sw, mode.clone(), Some(Framing::new(largest))) => {}
        _ = pipe(sr, cw, mode, None) => {}
    }
}

/// Forwards one direction, obeying the link.
async fn pipe(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    mut mode: watch::Receiver<Link>,
    mut framing: Option<Framing>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let limit = match *mode.borrow() {
            Link::Slow(_) => SLOW_CHUNK,
            _ => buf.len(),
        };
        let n = tokio::select! {
            r = from.read(&mut buf[..limit]) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            cut = until_cut(&mut mode) => { if cut { return } else { continue } }
        };
        // Hold the bytes while stalled; give up on them if the link is cut.
        loop {
            let link = *mode.borrow_and_update();
            match link {
                Link::Cut => return,
                Link::Stall => {
                    if mode.changed().await.is_err() {
                        return;
                    }
                }
                Link::Slow(delay) => {
                    tokio::time::sleep(delay).await;
                    break;
                }
                Link::Pass => break,
            }
        }
        if let Some(f) = framing.as_mut() {
            f.feed(&buf[..n]);
        }
        if *mode.borrow() == Link::Cut || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Splits a client's byte stream into wire-protocol messages (each starts with its length,
/// 4 bytes little-endian) and keeps the largest length seen.
struct Framing {
    header: Vec<u8>,
    left: usize,
    largest: Arc<AtomicU64>,
}

impl Framing {
    fn new(largest: Arc<AtomicU64>) -> Framing {
        Framing {
            header: Vec::with_capacity(4),
            left: 0,
            largest,
        }
    }

    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.left > 0 {
                let take = self.left.min(bytes.len());
                self.left -= take;
                bytes = &bytes[take..];
                continue;
            }
            let take = (4 - self.header.len()).min(bytes.len());
            self.header.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.header.len() == 4 {
                let len = u32::from_le_bytes([
                    self.header[0],
                    self.header[1],
                    self.header[2],
                    self.header[3],
                ]) as usize;
                self.largest.fetch_max(len as u64, Ordering::SeqCst);
                self.left = len.saturating_sub(4);
                self.header.clear();
            }
        }
    }
}

/// Resolves with `true` when the link becomes cut (or the proxy is gone), `false` on any
/// other change (so the reader re-reads the chunk size).
async fn until_cut(mode: &mut watch::Receiver<Link>) -> bool {
    if mode.changed().await.is_err() {
        return true;
    }
    *mode.borrow_and_update() == Link::Cut
}
