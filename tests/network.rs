//! On the wire: TLS for HTTPS, WSS and SIP (with a certificate replaced on
//! disk), and the bounds on connections that trickle, idle or crowd in,
//! over HTTP and SIP streams alike; a short 403 for untrusted SIP.

mod common;

use std::time::{Duration, Instant};

use common::tls::{TestCa, https, presented};
use common::{TestServer, raw_request};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchboard::testing::{TestDb, temp_dir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

fn options(branch: &str) -> String {
    format!(
        "OPTIONS sip:4000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bK{branch}\r\n\
         From: <sip:pbx@127.0.0.1>;tag=t{branch}\r\nTo: <sip:4000@127.0.0.1>\r\nCall-ID: {branch}@test\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Reads from `stream` until `want` has arrived or `wait` passed.
async fn read_until<S: AsyncReadExt + Unpin>(stream: &mut S, want: &str, wait: Duration) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    while !String::from_utf8_lossy(&got).contains(want) {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn https_wss_and_sips_with_a_certificate_replaced_on_disk() {
    let db = TestDb::sqlite();
    let dir = temp_dir("tls");
    let ca = TestCa::new("Switchboard test CA");
    let first = ca.issue(&dir, "server");
    let mut config = TestServer::config(&db);
    config.server.tls.cert = first.cert.clone();
    config.server.tls.key = first.key.clone();
    config.server.sip_tls = Some("127.0.0.1:0".parse().unwrap());
    let server = TestServer::start_with(config).await;
    let sips = server.sip_tls_addr.expect("a SIP TLS listener");

    // HTTPS: a real client checks the chain and the name.
    let login = json!({"username": "admin", "password": common::ADMIN_PASSWORD}).to_string();
    let request = format!(
        "POST /api/v1/login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{login}",
        login.len()
    );
    let (status, body, leaf) = https(&ca, server.addr, &request).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(leaf, first.leaf);
    let token = serde_json::from_str::<Value>(&body).unwrap()["token"].as_str().unwrap().to_owned();
    // Plain HTTP on the TLS port is not served.
    let plain = TcpStream::connect(server.addr).await.unwrap();
    let mut plain = plain;
    plain.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    assert!(!read_until(&mut plain, "HTTP/1.1 200", Duration::from_secs(2)).await.contains("200 OK"));

    // WSS: the console over TLS.
    let ticket_request = format!(
        "POST /api/v1/ws-ticket HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: 0\r\n\r\n"
    );
    let (status, body, _) = https(&ca, server.addr, &ticket_request).await;
    assert_eq!(status, 200, "{body}");
    let ticket = serde_json::from_str::<Value>(&body).unwrap()["ticket"].as_str().unwrap().to_owned();
    let stream = ca.connect(server.addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async("wss://localhost/ws/wallboard", stream).await.unwrap();
    ws.send(Message::Text(json!({"type": "auth", "ticket": ticket}).to_string().into())).await.unwrap();
    match tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap() {
        Some(Ok(Message::Text(t))) => assert!(t.contains("\"figures\""), "{t}"),
        other => panic!("{other:?}"),
    }

    // SIP over TLS: an OPTIONS answered on the sips: listener.
    let mut sip = ca.connect(sips).await.unwrap();
    assert_eq!(presented(&sip), first.leaf);
    sip.write_all(options("tls1").as_bytes()).await.unwrap();
    let answer = read_until(&mut sip, "\r\n\r\n", Duration::from_secs(5)).await;
    assert!(answer.starts_with("SIP/2.0 200 OK"), "{answer}");

    // A new certificate on disk: the next connections get it, open ones keep theirs.
    let second = ca.issue(&dir, "server");
    assert_ne!(second.leaf, first.leaf);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, leaf) =
            https(&ca, server.addr, "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await;
        assert_eq!(status, 200);
        if leaf == second.leaf {
            break;
        }
        assert!(Instant::now() < deadline, "the replaced certificate was not picked up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(presented(&ca.connect(sips).await.unwrap()), second.leaf, "and by the SIP listener");
    sip.write_all(options("tls2").as_bytes()).await.unwrap();
    let answer = read_until(&mut sip, "\r\n\r\n", Duration::from_secs(5)).await;
    assert!(answer.starts_with("SIP/2.0 200 OK"), "the open connection goes on: {answer}");
    ws.send(Message::Text(json!({"type": "ping"}).to_string().into())).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn http_connections_that_trickle_idle_or_crowd_are_bounded() {
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    config.server.header_read_timeout_secs = 1;
    config.server.idle_timeout_secs = 2;
    config.server.max_connections_per_address = 20;
    let server = TestServer::start_with(config).await;

    // A head trickled a line every 300 ms is cut off at its deadline, though
    // bytes keep coming (the clock is the whole head's).
    let started = Instant::now();
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
    let mut closed_after = None;
    for i in 0..20 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if slow.write_all(format!("X-Trickle-{i}: 1\r\n").as_bytes()).await.is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        let mut probe = [0u8; 1];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(1), slow.read(&mut probe)).await {
            closed_after = Some(started.elapsed());
            break;
        }
    }
    let closed_after = closed_after.expect("the trickling connection was never closed");
    assert!(closed_after < Duration::from_millis(2500), "closed after {closed_after:?}");

    // Idle after a request on a kept-alive connection: closed after idle_timeout_secs.
    let mut kept = TcpStream::connect(server.addr).await.unwrap();
    kept.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    assert!(read_until(&mut kept, "\"status\"", Duration::from_secs(2)).await.contains("200 OK"));
    let idle_from = Instant::now();
    let mut buf = [0u8; 64];
    let eof = tokio::time::timeout(Duration::from_secs(5), kept.read(&mut buf)).await.expect("closed when idle");
    assert!(matches!(eof, Ok(0) | Err(_)));
    let idle = idle_from.elapsed();
    assert!(idle >= Duration::from_millis(1500) && idle < Duration::from_millis(3500), "idle {idle:?}");

    // One address may hold max_connections_per_address; the next is turned away.
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(TcpStream::connect(server.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, head, body) = raw_request(server.addr, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("too_many_connections")), "{head}");
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _, _) = raw_request(server.addr, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status, 200, "places free again");
    server.stop().await;
}

/// The connector's count of open SIP streams, from `/metrics`.
async fn stream_peers(server: &TestServer) -> i64 {
    let (_, text) = server.client(None).get("/metrics").await;
    let text = text.as_str().unwrap().to_owned();
    let line = text.lines().find(|l| l.starts_with("switchboard_sip_stream_peers ")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn sip_streams_that_trickle_or_crowd_are_bounded_and_forgotten_when_closed() {
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    config.sip.tcp_message_secs = 1;
    config.sip.max_tcp_connections_per_address = 5;
    let server = TestServer::start_with(config).await;

    // Answered, then the way back forgotten when the connection closes.
    for i in 0..3 {
        let mut tcp = TcpStream::connect(server.sip_addr).await.unwrap();
        tcp.write_all(options(&format!("tcp{i}")).as_bytes()).await.unwrap();
        assert!(read_until(&mut tcp, "\r\n\r\n", Duration::from_secs(5)).await.starts_with("SIP/2.0 200 OK"));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while stream_peers(&server).await != 0 {
        assert!(Instant::now() < deadline, "closed streams are still remembered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A message trickled a byte every 100 ms is cut off at its deadline.
    let started = Instant::now();
    let mut slow = TcpStream::connect(server.sip_addr).await.unwrap();
    let mut closed_after = None;
    for byte in options("slow").bytes().cycle().take(100) {
        if slow.write_all(&[byte]).await.is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        let mut probe = [0u8; 1];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(100), slow.read(&mut probe)).await {
            closed_after = Some(started.elapsed());
            break;
        }
    }
    let closed_after = closed_after.expect("the trickling SIP stream was never closed");
    assert!(closed_after < Duration::from_millis(2500), "closed after {closed_after:?}");

    // Five streams from one address; the sixth is closed at once.
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(TcpStream::connect(server.sip_addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut sixth = TcpStream::connect(server.sip_addr).await.unwrap();
    let _ = sixth.write_all(options("sixth").as_bytes()).await;
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(2), sixth.read(&mut buf)).await.expect("closed at once");
    assert!(matches!(read, Ok(0) | Err(_)), "the sixth stream was served");
    server.stop().await;
}

#[tokio::test]
async fn an_untrusted_source_gets_a_short_403_and_only_a_few() {
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    config.sip.trusted = vec!["192.0.2.1".into()];
    config.sip.untrusted_replies_per_sec = 5;
    config.sip.server_header = String::new();
    let server = TestServer::start_with(config).await;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // A request of 10 KiB, mostly Via headers to be echoed.
    let vias: String = (0..200)
        .map(|i| format!("Via: SIP/2.0/UDP 10.0.{}.{}:5060;branch=z9hG4bKpad{i}\r\n", i / 200, i % 200))
        .collect();
    let big = options("big").replacen("Max-Forwards", &format!("{vias}Max-Forwards"), 1);
    assert!(big.len() > 10_000, "{}", big.len());
    for _ in 0..50 {
        socket.send_to(big.as_bytes(), server.sip_addr).await.unwrap();
    }
    let mut answers = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(Ok((n, _))) = tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buf)).await {
        answers.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(!answers.is_empty() && answers.len() <= 6, "{} answers to 50 requests", answers.len());
    for a in &answers {
        assert!(a.starts_with("SIP/2.0 403 Forbidden"), "{a}");
        assert!(a.len() <= 512, "{} bytes answered to {} sent", a.len(), big.len());
        assert_eq!(a.matches("Via:").count(), 1, "{a}");
        assert!(!a.contains("Server:"), "sip.server_header = \"\" sends none");
    }
    server.stop().await;
}

#[tokio::test]
async fn the_sip_server_header_is_configurable() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let wait = Duration::from_millis(500);
    let answers = common::udp_responses(&server, "127.0.0.1", options("hdr").as_bytes(), wait).await;
    assert!(answers[0].contains(&format!("Server: switchboard/{}", env!("CARGO_PKG_VERSION"))), "{}", answers[0]);
    server.stop().await;
}
