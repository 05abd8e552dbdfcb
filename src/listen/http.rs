//! The HTTP server loop: HTTP/1.1 (and WebSocket upgrades) over plain TCP
//! or TLS, with bounds on what a connection may hold.
//!
//! hyper's defaults keep a connection open for as long as its client
//! trickles bytes: 1,000 connections sending a header line every 10 s stayed
//! open for good, and under a 256-file limit they starved `/health`. Here
//! every connection is in one of three phases, watched by its own task:
//!
//! - reading a request head, from its first byte (or from the accept):
//!   closed if the whole head has not arrived `header_read_timeout` later;
//!   the clock does not restart with each byte;
//! - busy, from the end of the head until the response is being written:
//!   a handler may take its time;
//! - idle between requests (kept alive): closed after `idle_timeout`.
//!
//! A connection past the caps of its [`Gate`] (in total, per client
//! address) is answered 503 and closed at once. Upgraded connections (the
//! sockets) leave this loop's watch: their sessions have limits of their
//! own.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::tls::Tls;
use super::{ClientAddr, Gate, accept, client_ip};
use crate::listen::net::Net;

/// What the loop needs to know; cheap to clone.
#[derive(Clone)]
pub struct HttpSettings {
    pub tls: Option<Tls>,
    pub gate: Gate,
    pub proxies: Arc<[Net]>,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
}

/// Serves `app` on `listener` until `stop`, then lets open requests finish
/// and returns once every connection it served has closed.
pub async fn serve(listener: &TcpListener, app: Router, settings: HttpSettings, stop: CancellationToken) {
    let connections = TaskTracker::new();
    while let Some((stream, peer)) = accept(listener, &stop, "HTTP").await {
        let Some(pass) = settings.gate.admit(peer.ip()) else {
            connections.spawn(refuse(stream));
            continue;
        };
        let (settings, app, stop) = (settings.clone(), app.clone(), stop.clone());
        connections.spawn(async move {
            let _pass = pass;
            connection(stream, peer, app, settings, stop).await;
        });
    }
    connections.close();
    connections.wait().await;
}

/// Tells a client over the caps why it is turned away, then closes. What
/// it sent is read and dropped for a moment first: closing with unread
/// bytes would reset the connection before the client reads the answer.
async fn refuse(mut stream: TcpStream) {
    const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: application/json\r\n\
        Content-Length: 93\r\nConnection: close\r\n\r\n\
        {\"error\":{\"code\":\"too_many_connections\",\"message\":\"too many open connections; retry shortly\"}}";
    let answered = async {
        stream.write_all(BUSY).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), answered).await;
}

async fn connection(stream: TcpStream, peer: SocketAddr, app: Router, settings: HttpSettings, stop: CancellationToken) {
    let _ = stream.set_nodelay(true);
    match &settings.tls {
        None => run(stream, peer, app, &settings, stop).await,
        Some(tls) => {
            let handshake = tokio::time::timeout(settings.header_read_timeout, tls.http_acceptor().accept(stream));
            match handshake.await {
                Ok(Ok(stream)) => run(stream, peer, app, &settings, stop).await,
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake took too long; closed"),
            }
        }
    }
}

async fn run<IO>(io: IO, peer: SocketAddr, app: Router, settings: &HttpSettings, stop: CancellationToken)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Mutex::new(Activity::new(Instant::now())));
    let io = Watched { io, activity: activity.clone() };
    let proxies = settings.proxies.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let client = client_ip(peer.ip(), req.headers(), &proxies);
        req.extensions_mut().insert(ClientAddr(client));
        let mut app = app.clone();
        async move { tower_service::Service::call(&mut app, req).await }
    });
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), service).with_upgrades();
    tokio::pin!(conn);
    let limits = (settings.header_read_timeout, settings.idle_timeout);
    let mut stopping = false;
    loop {
        let deadline = activity.lock().expect("activity lock").deadline(limits);
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(|| Instant::now() + limits.1)) => {
                let late = activity.lock().expect("activity lock").deadline(limits).is_some_and(|d| d <= Instant::now());
                if late {
                    tracing::debug!(%peer, "HTTP connection too slow to send its request, or idle too long; closed");
                    return;
                }
            }
            _ = stop.cancelled(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Reading a request head that began at `since`; `tail` the last bytes
    /// seen, to find the blank line that ends it across reads.
    Head {
        since: Instant,
        tail: [u8; 3],
    },
    Busy,
    Idle {
        since: Instant,
    },
}

#[derive(Debug)]
struct Activity {
    phase: Phase,
}

impl Activity {
    /// A new connection owes its first request head from now.
    fn new(now: Instant) -> Activity {
        Activity { phase: Phase::Head { since: now, tail: [0; 3] } }
    }

    fn deadline(&self, (header, idle): (Duration, Duration)) -> Option<Instant> {
        match self.phase {
            Phase::Head { since, .. } => Some(since + header),
            Phase::Busy => None,
            Phase::Idle { since } => Some(since + idle),
        }
    }

    fn read(&mut self, bytes: &[u8], now: Instant) {
        if bytes.is_empty() {
            return;
        }
        let tail = match self.phase {
            Phase::Busy => return,
            Phase::Idle { .. } => [0; 3],
            Phase::Head { tail, .. } => tail,
        };
        let since = match self.phase {
            Phase::Head { since, .. } => since,
            _ => now,
        };
        let mut window = tail.to_vec();
        window.extend_from_slice(&bytes[..bytes.len().min(64 * 1024)]);
        if window.windows(4).any(|w| w == b"\r\n\r\n") {
            self.phase = Phase::Busy;
        } else {
            let n = window.len();
            let tail = [window[n - 3], window[n - 2], window[n - 1]];
            self.phase = Phase::Head { since, tail };
        }
    }

    fn wrote(&mut self, now: Instant) {
        self.phase = Phase::Idle { since: now };
    }
}

/// The connection's stream, telling its [`Activity`] what passes.
struct Watched<IO> {
    io: IO,
    activity: Arc<Mutex<Activity>>,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let fresh = &buf.filled()[before..];
            self.activity.lock().expect("activity lock").read(fresh, Instant::now());
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled
            && n > 0
        {
            self.activity.lock().expect("activity lock").wrote(Instant::now());
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled
            && n > 0
        {
            self.activity.lock().expect("activity lock").wrote(Instant::now());
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: (Duration, Duration) = (Duration::from_secs(10), Duration::from_secs(60));

    #[test]
    fn a_head_has_its_whole_time_however_it_trickles() {
        let t0 = Instant::now();
        let mut a = Activity::new(t0);
        assert_eq!(a.deadline(LIMITS), Some(t0 + LIMITS.0), "from the accept");
        for (i, line) in ["GET / HTTP/1.1\r", "\nHost: x\r\n", "X-A: 1\r\n"].iter().enumerate() {
            a.read(line.as_bytes(), t0 + Duration::from_secs(i as u64 * 3));
            assert_eq!(a.deadline(LIMITS), Some(t0 + LIMITS.0), "a byte does not restart the clock");
        }
        a.read(b"\r", t0 + Duration::from_secs(9));
        a.read(b"\n", t0 + Duration::from_secs(9));
        assert_eq!(a.deadline(LIMITS), None, "the blank line ends the head, split across reads");
        a.read(b"body bytes", t0 + Duration::from_secs(20));
        assert_eq!(a.deadline(LIMITS), None, "a body is read while busy");
        let t1 = t0 + Duration::from_secs(30);
        a.wrote(t1);
        assert_eq!(a.deadline(LIMITS), Some(t1 + LIMITS.1), "idle between requests");
        let t2 = t1 + Duration::from_secs(50);
        a.read(b"GET /health", t2);
        assert_eq!(a.deadline(LIMITS), Some(t2 + LIMITS.0), "the next head from its first byte");
    }
}
