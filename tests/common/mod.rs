//! Helpers for end-to-end tests: a real server in-process on ephemeral
//! ports, a small HTTP client and a WebSocket agent console.
#![allow(dead_code)]

pub mod browser;
pub mod child;
pub mod reload_load;
pub mod sipp;
pub mod tls;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchboard::auth::accounts::{self, NewAccount};
use switchboard::domain::Role;
use switchboard::testing::TestDb;
use switchboard::{Config, Listeners};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

pub const ADMIN_PASSWORD: &str = "a long test password";

pub struct TestServer {
    pub addr: SocketAddr,
    pub sip_addr: SocketAddr,
    /// The SIP TLS listener, when `server.sip_tls` is set.
    pub sip_tls_addr: Option<SocketAddr>,
    pub config: Config,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<Result<(), switchboard::ServerError>>>,
}

impl TestServer {
    pub fn config(db: &TestDb) -> Config {
        let mut config = Config::default();
        config.server.database_url = db.url.clone();
        config.server.http = "127.0.0.1:0".parse().unwrap();
        config.server.sip = "127.0.0.1:0".parse().unwrap();
        // The token-signing secret's file goes with the server's own data.
        config.server.data_dir = switchboard::testing::temp_dir("server");
        config.auth.ws_auth_timeout_secs = 1;
        config
    }

    /// Starts a server with an `admin` user on the given database.
    pub async fn start(db: &TestDb) -> TestServer {
        Self::start_with(Self::config(db)).await
    }

    pub async fn start_with(config: Config) -> TestServer {
        let store = switchboard::store::Store::connect(&config.database_url()).await.unwrap();
        store.migrate().await.unwrap();
        if store.user_by_name("admin").await.unwrap().is_none() {
            let admin = NewAccount {
                username: "admin".into(),
                password: ADMIN_PASSWORD.into(),
                role: Role::Admin,
                display_name: None,
                work_number: None,
                sip_uri: None,
                skills: vec![],
                levels: Default::default(),
                voice_capacity: None,
                back_office_capacity: None,
            };
            accounts::create(&store, &config.rules().unwrap(), 2, admin).await.unwrap();
        }
        store.close().await;
        let sip = switchboard::app::server::bind_sip(config.server.sip).await.unwrap();
        let sip_tls = match config.server.sip_tls {
            Some(addr) => Some(TcpListener::bind(addr).await.unwrap()),
            None => None,
        };
        let http = TcpListener::bind(config.server.http).await.unwrap();
        let dialler = match &config.sip.outbound {
            Some(o) => Some(tokio::net::UdpSocket::bind(o.listen).await.unwrap()),
            None => None,
        };
        let listeners = Listeners { http, sip: Some(sip), sip_tls, dialler };
        let addr = listeners.http_addr().unwrap();
        let sip_addr = listeners.sip_addr().unwrap();
        let sip_tls_addr = listeners.sip_tls.as_ref().map(|l| l.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(switchboard::run(config.clone(), listeners, shutdown.clone()));
        TestServer { addr, sip_addr, sip_tls_addr, config, shutdown, task: Some(task) }
    }

    /// Graceful shutdown; waits until the server has written everything.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        self.task.take().unwrap().await.unwrap().unwrap();
    }

    /// Waits up to `wait` for the server to stop without being asked, and
    /// returns how it ended (`None`: still running).
    pub async fn ended_within(&mut self, wait: Duration) -> Option<Result<(), switchboard::ServerError>> {
        let task = self.task.as_mut()?;
        let ended = tokio::time::timeout(wait, task).await.ok()?.unwrap();
        self.task = None;
        Some(ended)
    }

    pub fn client(&self, token: Option<String>) -> Http {
        Http { addr: self.addr, token }
    }

    pub async fn admin(&self) -> Http {
        self.login("admin", ADMIN_PASSWORD).await
    }

    pub async fn login(&self, user: &str, password: &str) -> Http {
        Http::login(self.addr, user, password).await
    }

    /// Creates an agent through the API and returns its id.
    pub async fn add_agent(&self, admin: &Http, name: &str, skills: &[&str]) -> String {
        let body = json!({"username": name, "password": "agent-password", "skills": skills, "sip_uri": format!("sip:{name}@pbx")});
        let (status, body) = admin.post("/api/v1/agents", body).await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Logs an agent in and opens its console.
    pub async fn console(&self, name: &str) -> Console {
        let http = self.login(name, "agent-password").await;
        let mut console = Console::open(self.addr).await;
        console.auth(&http).await;
        let hello = console.expect("hello").await;
        assert_eq!(hello["snapshot"]["status"], "available", "{hello}");
        console.http = Some(http);
        console
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A calendar on which the centre is open now, whenever the test runs: a
/// fixed-offset zone in which it is about noon, every day a working day.
/// For tests of rules that move work into working hours.
pub fn open_now(config: &mut Config) {
    let utc_hour = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).hour() as i32;
    let offset = 12 - utc_hour; // -11..=12: Etc/GMT names it with the sign reversed
    config.calendar.time_zone = match offset {
        0 => "Etc/GMT".to_owned(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    };
    config.calendar.working_days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map(String::from).to_vec();
    config.calendar.holidays.clear();
}

/// The tasks of one kind as the store has them (at most 100, newest first).
pub async fn stored_tasks(db: &TestDb, kind: switchboard::domain::TaskKind) -> Vec<switchboard::store::TaskRecord> {
    let store = switchboard::store::Store::connect(&db.url).await.unwrap();
    let filter = switchboard::store::TaskFilter { kind: Some(kind), limit: 100, ..Default::default() };
    let tasks = store.tasks(&filter).await.unwrap();
    store.close().await;
    tasks
}

/// A minimal HTTP/1.1 client: one request per connection.
#[derive(Clone)]
pub struct Http {
    pub addr: SocketAddr,
    pub token: Option<String>,
}

impl Http {
    /// Logs in to the server at `addr` and keeps the token.
    pub async fn login(addr: SocketAddr, user: &str, password: &str) -> Http {
        let (status, body) =
            Http { addr, token: None }.post("/api/v1/login", json!({"username": user, "password": password})).await;
        assert_eq!(status, 200, "{body}");
        Http { addr, token: Some(body["token"].as_str().unwrap().to_owned()) }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.raw("GET", path, None, "application/json").await
    }
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.raw("POST", path, Some(body.to_string()), "application/json").await
    }
    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.raw("PUT", path, Some(body.to_string()), "application/json").await
    }
    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.raw("PATCH", path, Some(body.to_string()), "application/json").await
    }
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.raw("DELETE", path, None, "application/json").await
    }

    pub async fn raw(&self, method: &str, path: &str, body: Option<String>, content_type: &str) -> (u16, Value) {
        self.try_raw(method, path, body, content_type).await.expect("an HTTP response")
    }

    /// A GET that may find no server (it is still starting): `None` then.
    pub async fn try_get(&self, path: &str) -> Option<(u16, Value)> {
        self.try_raw("GET", path, None, "application/json").await
    }

    /// A POST that may find no server (it was killed): `None` then.
    pub async fn try_post(&self, path: &str, body: Value) -> Option<(u16, Value)> {
        self.try_raw("POST", path, Some(body.to_string()), "application/json").await
    }

    async fn try_raw(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        content_type: &str,
    ) -> Option<(u16, Value)> {
        let mut stream = TcpStream::connect(self.addr).await.ok()?;
        let body = body.unwrap_or_default();
        let auth = self.token.as_ref().map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: {content_type}\r\n{auth}Content-Length: {}\r\n\r\n{body}",
            body.len(),
            addr = self.addr,
        );
        stream.write_all(request.as_bytes()).await.ok()?;
        let response = tokio::time::timeout(Duration::from_secs(10), read_response(&mut stream)).await.ok()??;
        let text = String::from_utf8(response).ok()?;
        let (head, body) = text.split_once("\r\n\r\n")?;
        let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
        let value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(body).unwrap_or(Value::String(body.into()))
        };
        Some((status, value))
    }
}

/// One request written out by hand (any headers), on a connection of its
/// own: the status, the head as text (lower case) and the body as JSON.
pub async fn raw_request(addr: SocketAddr, request: &str) -> (u16, String, Value) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), read_response(&mut stream)).await.unwrap().unwrap();
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), serde_json::from_str(body).unwrap_or(Value::String(body.into())))
}

/// A JSON request with `extra` header lines (each ending in `\r\n`).
pub fn json_request(method: &str, path: &str, token: Option<&str>, extra: &str, body: &Value) -> String {
    let body = if body.is_null() { String::new() } else { body.to_string() };
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: application/json\r\n{auth}{extra}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// One HTTP/1.1 response: up to its `Content-Length` when it gives one
/// (some servers keep the connection open despite `Connection: close`),
/// else to the end of the stream.
async fn read_response(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut response = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&response[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if let Some(length) = length {
                while response.len() < end + 4 + length {
                    let n = stream.read(&mut chunk).await.ok()?;
                    if n == 0 {
                        break;
                    }
                    response.extend_from_slice(&chunk[..n]);
                }
                return Some(response);
            }
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return Some(response);
        }
        response.extend_from_slice(&chunk[..n]);
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// An agent's console over a real WebSocket.
pub struct Console {
    pub ws: Ws,
    pub http: Option<Http>,
    pub last_seq: u64,
}

impl Console {
    pub async fn open(addr: SocketAddr) -> Console {
        // A small read buffer, as the server uses: the default 128 KiB is zeroed on every read.
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4096);
        let (ws, _) =
            tokio_tungstenite::connect_async_with_config(format!("ws://{addr}/ws"), Some(config), false).await.unwrap();
        Console { ws, http: None, last_seq: 0 }
    }

    /// Opens `/ws` or `/ws/wallboard` with extra handshake headers (an
    /// `Origin`, say); the server's refusal comes back as the status.
    pub async fn open_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Result<Console, u16> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
        for (name, value) in headers {
            request.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((ws, _)) => Ok(Console { ws, http: None, last_seq: 0 }),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
            Err(e) => panic!("{e}"),
        }
    }

    /// Opens `/ws/wallboard` as `http`'s user; returns it with its first
    /// message (the whole board, or a refusal). A wallboard's `seq` is the
    /// board's version, so it is read raw, not through `next`.
    pub async fn wallboard(addr: SocketAddr, http: &Http) -> (Console, Value) {
        let mut ws = Console::open_with(addr, "/ws/wallboard", &[]).await.unwrap();
        ws.auth(http).await;
        let first = match tokio::time::timeout(Duration::from_secs(5), ws.ws.next()).await.unwrap() {
            Some(Ok(Message::Text(t))) => serde_json::from_str::<Value>(&t).unwrap(),
            other => panic!("{other:?}"),
        };
        (ws, first)
    }

    pub async fn auth(&mut self, http: &Http) {
        let (status, body) = http.post("/api/v1/ws-ticket", json!({})).await;
        assert_eq!(status, 200, "{body}");
        self.send(json!({"type": "auth", "ticket": body["ticket"]})).await;
    }

    pub async fn send(&mut self, v: Value) {
        self.ws.send(Message::Text(v.to_string().into())).await.unwrap();
    }

    /// The next message, checking that sequence numbers have no gaps.
    pub async fn next(&mut self) -> Value {
        self.next_within(Duration::from_secs(5)).await.expect("no message within 5 s")
    }

    /// The next message if one arrives within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        loop {
            let msg =
                tokio::time::timeout(wait, self.ws.next()).await.ok()?.expect("socket closed").expect("socket error");
            match msg {
                Message::Text(t) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    let seq = v["seq"].as_u64().unwrap();
                    assert_eq!(seq, self.last_seq + 1, "sequence gap before {v}");
                    self.last_seq = seq;
                    return Some(v);
                }
                Message::Close(c) => panic!("closed: {c:?}"),
                _ => continue,
            }
        }
    }

    /// Skips messages until one of type `kind`.
    pub async fn expect(&mut self, kind: &str) -> Value {
        self.expect_within(kind, Duration::from_secs(5)).await.unwrap_or_else(|| panic!("no {kind} within 5 s"))
    }

    /// Skips messages until one of type `kind`, if it comes with no gap of
    /// more than `wait` between messages.
    pub async fn expect_within(&mut self, kind: &str, wait: Duration) -> Option<Value> {
        loop {
            let v = self.next_within(wait).await?;
            if v["type"] == kind {
                return Some(v);
            }
        }
    }

    /// Waits for the server to close the socket and returns the close code.
    pub async fn closed(&mut self) -> u16 {
        loop {
            match tokio::time::timeout(Duration::from_secs(5), self.ws.next()).await.expect("not closed within 5 s") {
                Some(Ok(Message::Close(Some(frame)))) => return frame.code.into(),
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => return 0,
                Some(Ok(_)) => continue,
            }
        }
    }
}

/// Sends raw bytes over UDP from `from` and returns the status codes of the
/// responses that arrive within `wait`.
pub async fn udp_exchange(server: &TestServer, from: &str, bytes: &[u8], wait: Duration) -> Vec<u16> {
    let responses = udp_responses(server, from, bytes, wait).await;
    responses.iter().map(|text| text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)).collect()
}

/// Sends raw bytes over UDP from `from` and returns the responses that
/// arrive within `wait`, as text.
pub async fn udp_responses(server: &TestServer, from: &str, bytes: &[u8], wait: Duration) -> Vec<String> {
    let socket = tokio::net::UdpSocket::bind(format!("{from}:0")).await.unwrap();
    socket.send_to(bytes, server.sip_addr).await.unwrap();
    let mut responses = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(Ok((n, _))) = tokio::time::timeout(wait, socket.recv_from(&mut buf)).await {
        responses.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    responses
}

pub fn sip_request(method: &str, branch: &str, extra: &str) -> Vec<u8> {
    format!(
        "{method} sip:4000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK{branch}\r\n\
         From: <sip:13900009999@pbx>;tag=f{branch}\r\nTo: <sip:4000@pbx>\r\nCall-ID: {branch}@test\r\n\
         CSeq: 1 {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// A PBX route for placed calls in tests: the dialler on an ephemeral
/// port, the PBX (SIPp or Kamailio) at `pbx`, short ring times, no least
/// gap between calls to a number, a one-second drain.
pub fn outbound(pbx: u16) -> switchboard::sip::settings::OutboundConfig {
    switchboard::sip::settings::OutboundConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        advertise: None,
        pbx: format!("127.0.0.1:{pbx}").parse().unwrap(),
        customer_uri: "sip:{number}@pbx.invalid".into(),
        caller_id: "sip:4008001234@pbx.invalid".into(),
        caller_name: None,
        agent_ring_secs: 10,
        customer_ring_secs: 10,
        least_gap_minutes: 0,
        drain_secs: 1,
    }
}
