//! UDP and TCP: bytes in, [`Inbound`] to the connector; responses out.
//!
//! UDP: one datagram is one message (trailing octets ignored). TCP: messages
//! are framed by Content-Length; a connection that sends more than the size
//! limit, a message that cannot be framed, or nothing for the idle timeout
//! (including half a message) is closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::connector::Inbound;
use super::parse::{ParseError, Transport, parse};
use super::transaction::Peer;
use super::trust::RateLimiter;

/// Reads datagrams until shutdown. A full connector queue drops the
/// datagram: SIP retransmits, and a flood must not grow memory.
///
/// A source over its rate (`rate_per_source` datagrams a second) is dropped
/// here, before parsing and before the connector's queue: a flood then
/// costs one table lookup per datagram, and cannot fill the queue that the
/// PBX's own calls go through.
pub async fn serve_udp(
    socket: Arc<UdpSocket>,
    to_connector: mpsc::Sender<Inbound>,
    max: usize,
    rate_per_source: u32,
    shutdown: CancellationToken,
) {
    let mut limiter = RateLimiter::new(rate_per_source);
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
        if !limiter.allow(from.ip(), jiff::Timestamp::now().as_millisecond()) {
            continue;
        }
        let peer = Peer { addr: from, reliable: false };
        let bytes = &buf[..len];
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            continue; // keep-alive
        }
        let inbound = match parse(bytes, Transport::Datagram, max) {
            Ok((msg, _)) => Inbound::Message { msg, peer, tcp: None },
            Err(error) => Inbound::Garbage { bytes: bytes.to_vec(), error, peer, tcp: None },
        };
        let _ = to_connector.try_send(inbound);
    }
}

/// Accepts connections until shutdown.
pub async fn serve_tcp(
    listener: TcpListener,
    to_connector: mpsc::Sender<Inbound>,
    max: usize,
    idle: Duration,
    shutdown: CancellationToken,
) {
    let tracker = TaskTracker::new();
    loop {
        let (stream, from) = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(error = %e, "SIP TCP accept failed");
                    continue;
                }
            },
        };
        tracker.spawn(connection(stream, from, to_connector.clone(), max, idle, shutdown.clone()));
    }
    tracker.close();
    tracker.wait().await;
}

async fn connection(
    stream: TcpStream,
    from: SocketAddr,
    to_connector: mpsc::Sender<Inbound>,
    max: usize,
    idle: Duration,
    shutdown: CancellationToken,
) {
    let (mut reader, mut writer) = stream.into_split();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let peer = Peer { addr: from, reliable: true };
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            out = out_rx.recv() => match out {
                Some(bytes) => if writer.write_all(&bytes).await.is_err() { break },
                None => break,
            },
            read = tokio::time::timeout(idle, reader.read(&mut chunk)) => {
                let n = match read {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    Err(_) => {
                        tracing::debug!(%from, "SIP TCP connection idle or half-sent too long; closing");
                        break;
                    }
                    Ok(Ok(n)) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                if !drain_messages(&mut buf, peer, &out_tx, &to_connector, max).await {
                    // Answer what can be answered, then close.
                    while let Ok(bytes) = out_rx.try_recv() {
                        let _ = writer.write_all(&bytes).await;
                    }
                    break;
                }
            }
        }
    }
    let _ = writer.shutdown().await;
}

/// Hands every complete message in `buf` to the connector. Returns `false`
/// when the stream cannot go on (too large, or unframeable).
async fn drain_messages(
    buf: &mut Vec<u8>,
    peer: Peer,
    out_tx: &mpsc::UnboundedSender<Vec<u8>>,
    to_connector: &mpsc::Sender<Inbound>,
    max: usize,
) -> bool {
    loop {
        match parse(buf, Transport::Stream, max) {
            Ok((msg, used)) => {
                buf.drain(..used);
                let inbound = Inbound::Message { msg, peer, tcp: Some(out_tx.clone()) };
                if to_connector.send(inbound).await.is_err() {
                    return false;
                }
            }
            Err(ParseError::Incomplete) => {
                if buf.iter().all(|b| b.is_ascii_whitespace()) {
                    buf.clear();
                }
                return true;
            }
            Err(error) => {
                let bytes = std::mem::take(buf);
                let _ = to_connector.send(Inbound::Garbage { bytes, error, peer, tcp: Some(out_tx.clone()) }).await;
                // Give the connector a moment to answer before the close.
                tokio::time::sleep(Duration::from_millis(20)).await;
                return false;
            }
        }
    }
}
