//! UDP, TCP and TLS: bytes in, [`Inbound`] to the connector; responses out.
//!
//! UDP: one datagram is one message (trailing octets ignored). TCP and TLS:
//! messages are framed by Content-Length. A stream connection is closed
//! when it sends more than the size limit or a message that cannot be
//! framed, when it stays idle longer than `sip.tcp_idle_secs` between
//! messages, or when a message it began does not arrive whole within
//! `sip.tcp_message_secs` (the clock does not restart with each byte, so a
//! peer trickling one byte a second cannot hold a connection for good).
//! Stream connections are capped in total and per address; the accept loop
//! backs off when the process is out of file descriptors.
//!
//! Rate limits apply here, before parsing and before the connector's
//! queue, so a flooding address costs a table lookup per datagram: the
//! trusted PBXes at `sip.rate_per_source`, anyone else (who is only ever
//! told 403) at `sip.untrusted_replies_per_sec`, each table bounded.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::connector::Inbound;
use super::parse::{ParseError, Transport, parse};
use super::settings::{SipConfig, UntrustedPolicy};
use super::transaction::Peer;
use crate::limits::{KeyedBuckets, Rate};
use crate::listen::net::Net;
use crate::listen::{Gate, accept};

/// Sources kept in a rate table at most (each about 40 bytes).
const TRUSTED_SOURCES: usize = 4096;
const UNTRUSTED_SOURCES: usize = 65_536;

/// The transports' settings and their shared rate tables; cheap to clone.
#[derive(Clone)]
pub struct TransportSettings {
    pub max_message_bytes: usize,
    pub tcp_idle: Duration,
    pub tcp_message: Duration,
    pub gate: Gate,
    trusted: Arc<[Net]>,
    untrusted: UntrustedPolicy,
    rates: Arc<Mutex<Rates>>,
}

struct Rates {
    trusted: KeyedBuckets<IpAddr>,
    untrusted: KeyedBuckets<IpAddr>,
}

impl TransportSettings {
    /// `sip` must have passed the configuration's checks.
    pub fn new(sip: &SipConfig) -> TransportSettings {
        let per_source = sip.rate_per_source as f64;
        let replies = sip.untrusted_replies_per_sec as f64;
        TransportSettings {
            max_message_bytes: sip.max_message_bytes,
            tcp_idle: Duration::from_secs(sip.tcp_idle_secs),
            tcp_message: Duration::from_secs(sip.tcp_message_secs),
            gate: Gate::new(sip.max_tcp_connections, sip.max_tcp_connections_per_address, Vec::new()),
            trusted: sip.trusted.iter().filter_map(|n| Net::parse(n)).collect(),
            untrusted: sip.untrusted,
            rates: Arc::new(Mutex::new(Rates {
                trusted: KeyedBuckets::new(Rate::new(per_source, per_source), TRUSTED_SOURCES),
                untrusted: KeyedBuckets::new(Rate::new(replies, replies), UNTRUSTED_SOURCES),
            })),
        }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|n| n.contains(ip))
    }

    /// Whether a message from `ip` goes on: within its source's rate, and
    /// from an untrusted source only when it is to be answered at all.
    fn admit(&self, ip: IpAddr) -> bool {
        let now = jiff::Timestamp::now().as_millisecond();
        let mut rates = self.rates.lock().expect("rate table lock");
        if self.is_trusted(ip) {
            rates.trusted.allow(&ip, now)
        } else {
            self.untrusted == UntrustedPolicy::Reject && rates.untrusted.allow(&ip, now)
        }
    }

    /// Sources in the rate tables (trusted, untrusted), for tests and the flood test.
    pub fn sources(&self) -> (usize, usize) {
        let rates = self.rates.lock().expect("rate table lock");
        (rates.trusted.len(), rates.untrusted.len())
    }
}

/// Reads datagrams until shutdown. A full connector queue drops the
/// datagram: SIP retransmits, and a flood must not grow memory.
pub async fn serve_udp(
    socket: Arc<UdpSocket>,
    to_connector: mpsc::Sender<Inbound>,
    settings: TransportSettings,
    shutdown: CancellationToken,
) {
    let mut buf = vec![0u8; 65536];
    loop {
        let (len, from) = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(error = %e, "SIP UDP receive failed");
                    continue;
                }
            },
        };
        let bytes = &buf[..len];
        if bytes.iter().all(|b| b.is_ascii_whitespace()) || !settings.admit(from.ip()) {
            continue; // a keep-alive, or over its rate
        }
        let peer = Peer { addr: from, reliable: false };
        let inbound = match parse(bytes, Transport::Datagram, settings.max_message_bytes) {
            Ok((msg, _)) => Inbound::Message { msg, peer, tcp: None },
            Err(error) => Inbound::Garbage { bytes: bytes.to_vec(), error, peer, tcp: None },
        };
        let _ = to_connector.try_send(inbound);
    }
}

/// Accepts TCP connections (TLS ones when `tls` is given) until shutdown.
pub async fn serve_tcp(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    to_connector: mpsc::Sender<Inbound>,
    settings: TransportSettings,
    shutdown: CancellationToken,
) {
    let tracker = TaskTracker::new();
    while let Some((stream, from)) = accept(&listener, &shutdown, "SIP").await {
        let untrusted_dropped = !settings.is_trusted(from.ip()) && settings.untrusted == UntrustedPolicy::Drop;
        let Some(pass) = settings.gate.admit(from.ip()).filter(|_| !untrusted_dropped) else {
            continue; // closed at once: over the caps, or nobody to answer
        };
        let (to_connector, settings, shutdown, tls) =
            (to_connector.clone(), settings.clone(), shutdown.clone(), tls.clone());
        tracker.spawn(async move {
            let _pass = pass;
            let _ = stream.set_nodelay(true);
            match tls {
                None => connection(stream, from, to_connector.clone(), &settings, shutdown).await,
                Some(tls) => match tokio::time::timeout(settings.tcp_message, tls.accept(stream)).await {
                    Ok(Ok(stream)) => connection(stream, from, to_connector.clone(), &settings, shutdown).await,
                    _ => tracing::debug!(%from, "SIP TLS handshake failed or took too long"),
                },
            }
            let _ = to_connector.send(Inbound::Closed { addr: from }).await;
        });
    }
    tracker.close();
    tracker.wait().await;
}

/// How long a stream connection may still go without the next read: the
/// idle limit, and once a message has begun no later than its deadline.
fn read_deadline(started: Option<Instant>, settings: &TransportSettings) -> Instant {
    let idle = Instant::now() + settings.tcp_idle;
    match started {
        Some(at) => idle.min(at + settings.tcp_message),
        None => idle,
    }
}

async fn connection<S: AsyncRead + AsyncWrite>(
    stream: S,
    from: SocketAddr,
    to_connector: mpsc::Sender<Inbound>,
    settings: &TransportSettings,
    shutdown: CancellationToken,
) {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let peer = Peer { addr: from, reliable: true };
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    // When the message now in `buf` began; `None` between messages.
    let mut started: Option<Instant> = None;
    loop {
        let deadline = read_deadline(started, settings);
        tokio::select! {
            _ = shutdown.cancelled() => break,
            out = out_rx.recv() => match out {
                Some(bytes) => if writer.write_all(&bytes).await.is_err() { break },
                None => break,
            },
            read = tokio::time::timeout_at(deadline, reader.read(&mut chunk)) => {
                let n = match read {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    Err(_) => {
                        tracing::debug!(%from, "SIP stream idle too long, or a message not whole in time; closing");
                        break;
                    }
                    Ok(Ok(n)) => n,
                };
                if started.is_none() && chunk[..n].iter().any(|b| !b.is_ascii_whitespace()) {
                    started = Some(Instant::now());
                }
                buf.extend_from_slice(&chunk[..n]);
                match drain_messages(&mut buf, peer, &out_tx, &to_connector, settings).await {
                    Drained::Open => {
                        if buf.is_empty() {
                            started = None;
                        }
                    }
                    Drained::Close => {
                        // Answer what can be answered, then close.
                        while let Ok(bytes) = out_rx.try_recv() {
                            let _ = writer.write_all(&bytes).await;
                        }
                        break;
                    }
                }
            }
        }
    }
    let _ = writer.shutdown().await;
}

enum Drained {
    Open,
    Close,
}

/// Hands every complete message in `buf` to the connector.
async fn drain_messages(
    buf: &mut Vec<u8>,
    peer: Peer,
    out_tx: &mpsc::UnboundedSender<Vec<u8>>,
    to_connector: &mpsc::Sender<Inbound>,
    settings: &TransportSettings,
) -> Drained {
    loop {
        match parse(buf, Transport::Stream, settings.max_message_bytes) {
            Ok((msg, used)) => {
                buf.drain(..used);
                if !settings.admit(peer.addr.ip()) {
                    continue; // over its rate: dropped like a datagram
                }
                let inbound = Inbound::Message { msg, peer, tcp: Some(out_tx.clone()) };
                if to_connector.send(inbound).await.is_err() {
                    return Drained::Close;
                }
            }
            Err(ParseError::Incomplete) => {
                if buf.iter().all(|b| b.is_ascii_whitespace()) {
                    buf.clear();
                }
                return Drained::Open;
            }
            Err(error) => {
                let bytes = std::mem::take(buf);
                let _ = to_connector.send(Inbound::Garbage { bytes, error, peer, tcp: Some(out_tx.clone()) }).await;
                // Give the connector a moment to answer before the close.
                tokio::time::sleep(Duration::from_millis(20)).await;
                return Drained::Close;
            }
        }
    }
}
