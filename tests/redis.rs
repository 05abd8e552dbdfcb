//! Redis as the live store, against real Redis servers. Trouble with
//! Redis is shown on a `redis-server` this test starts itself (so stopping
//! it with SIGSTOP disturbs no other test); the shared Redis is used with a
//! key prefix of the test's own.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TestServer;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchboard::live::Live;
use switchboard::testing::{TestDb, require_service, temp_dir};
use tokio_tungstenite::tungstenite::Message;

/// A `redis-server` of the test's own on a free port, killed when dropped.
struct OwnRedis {
    child: Child,
    url: String,
    dir: std::path::PathBuf,
}

impl OwnRedis {
    async fn start() -> Option<OwnRedis> {
        Self::start_with(&[]).await
    }

    async fn start_with(extra: &[&str]) -> Option<OwnRedis> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = temp_dir("redis");
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(extra)
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) => {
                require_service("redis-server (Debian package redis-server)", "PATH", &e.to_string());
                return None;
            }
        };
        let url = format!("redis://127.0.0.1:{port}");
        let client = redis::Client::open(url.as_str()).unwrap();
        for _ in 0..100 {
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok()
            {
                return Some(OwnRedis { child, url, dir });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server on port {port} did not start");
    }

    fn signal(&self, signal: &str) {
        let ok = Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap().success();
        assert!(ok, "kill {signal}");
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn health(server: &TestServer) -> Value {
    let (status, body) = server.client(None).get("/health").await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Live tasks in the dispatcher, by the queue counts.
async fn live_in_dispatcher(admin: &common::Http) -> u64 {
    let (_, queues) = admin.get("/api/v1/queues").await;
    queues
        .as_array()
        .unwrap()
        .iter()
        .map(|q| ["waiting", "offered", "assigned"].map(|k| q[k].as_u64().unwrap()).iter().sum::<u64>())
        .sum()
}

/// An agent `li` on a console, and three callbacks created.
async fn one_agent_three_tasks(server: &TestServer) -> (common::Http, common::Console) {
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["callbacks"]).await;
    let console = server.console("li").await;
    for i in 0..3 {
        let body = json!({"kind": "new_signup_callback", "customer_phone": format!("1390000000{i}")});
        assert_eq!(admin.post("/api/v1/tasks", body).await.0, 201);
    }
    (admin, console)
}

#[tokio::test]
async fn redis_stopped_for_ten_seconds_degrades_then_reconciles_without_duplicates() {
    let Some(redis) = OwnRedis::start().await else { return };
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    config.redis.url = redis.url.clone();
    config.redis.max_pending = 100;
    let server = TestServer::start_with(config).await;
    let (admin, mut console) = one_agent_three_tasks(&server).await;
    console.expect("offer").await;
    assert_eq!(health(&server).await["redis"], "ok");

    redis.signal("-STOP");
    let stopped = Instant::now();
    // Reported within a lease renewal and a response time-out.
    let degraded = loop {
        let h = health(&server).await;
        if h["status"] == "degraded" {
            break stopped.elapsed();
        }
        assert!(stopped.elapsed() < Duration::from_secs(6), "never reported degraded: {h}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("degraded reported {degraded:?} after Redis stopped");
    // Keep-alives go on: WebSocket ping, SIP OPTIONS.
    console.ws.send(Message::Ping(b"still there?".to_vec().into())).await.unwrap();
    let pong = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            if let Some(Ok(Message::Pong(p))) = console.ws.next().await {
                return p;
            }
        }
    })
    .await
    .expect("a pong while Redis is stopped");
    assert_eq!(&pong[..], b"still there?");
    let options = common::udp_exchange(
        &server,
        "127.0.0.1",
        &common::sip_request("OPTIONS", "r1", ""),
        Duration::from_millis(300),
    )
    .await;
    assert_eq!(options, [200]);

    // New work is held up to the buffer, then refused with 503.
    let mut posts = Vec::new();
    for i in 0..130 {
        let admin = admin.clone();
        posts.push(tokio::spawn(async move {
            let body = json!({"kind": "new_signup_callback", "customer_phone": format!("1380000{i:04}")});
            admin.post("/api/v1/tasks", body).await
        }));
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let h = health(&server).await;
    assert!(h["pending_changes"].as_u64().unwrap() >= 100, "{h}");
    let invite = common::udp_responses(
        &server,
        "127.0.0.1",
        &common::sip_request("INVITE", "r2", ""),
        Duration::from_millis(300),
    )
    .await;
    assert!(invite.iter().any(|r| r.starts_with("SIP/2.0 503") && r.contains("Retry-After: 5")), "{invite:?}");
    let refused_now =
        admin.post("/api/v1/tasks", json!({"kind": "new_signup_callback", "customer_phone": "13700000000"})).await;
    assert_eq!((refused_now.0, &refused_now.1["error"]["code"]), (503, &json!("live_store_unavailable")));

    tokio::time::sleep(Duration::from_secs(10).saturating_sub(stopped.elapsed())).await;
    redis.signal("-CONT");
    let resumed = Instant::now();
    let mut created = 0;
    let mut refused = 0;
    for post in posts {
        match post.await.unwrap() {
            (201, _) => created += 1,
            (503, body) => {
                assert_eq!(body["error"]["code"], "live_store_unavailable", "{body}");
                refused += 1;
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    println!(
        "held and then created: {created}, refused: {refused}; answered {:?} after Redis resumed",
        resumed.elapsed()
    );
    assert!(created >= 90 && refused >= 20, "created {created}, refused {refused}");
    loop {
        let h = health(&server).await;
        if h["status"] == "ok" && h["pending_changes"] == 0 {
            break;
        }
        assert!(resumed.elapsed() < Duration::from_secs(10), "not ok again: {h}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The counts match: dispatcher, Redis and SQL, with no duplicates.
    let expected = 3 + created;
    assert_eq!(live_in_dispatcher(&admin).await, expected);
    let live = Live::connect(&redis.url, "switchboard", Duration::from_secs(5), "test", "127.0.0.1:1").await.unwrap();
    assert_eq!(live.tasks().await.unwrap().len() as u64, expected, "Redis's live tasks");
    let (_, stored) = admin.get("/api/v1/tasks?kind=new_signup_callback&limit=1000").await;
    let stored = stored.as_array().unwrap();
    assert_eq!(stored.len() as u64, expected, "SQL's tasks: nothing written for a refused request");
    let phones: std::collections::HashSet<&str> =
        stored.iter().map(|t| t["customer_phone"].as_str().unwrap()).collect();
    assert_eq!(phones.len(), stored.len(), "no task twice");
    // And the agent's console goes on working.
    let offer = console.expect("offer").await;
    console.send(json!({"type": "decline", "task_id": offer["task"]["id"]})).await;
    console.expect("offer").await;
    server.stop().await;
}

#[tokio::test]
async fn a_leader_whose_lease_another_node_took_stops_and_cannot_write() {
    let Some(redis) = switchboard::testing::TestRedis::new("fenced").await else { return };
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    config.redis.url = redis.url.clone();
    config.redis.prefix = redis.prefix.clone();
    config.redis.lease_ms = 1000;
    let mut server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    let body = json!({"kind": "new_signup_callback", "customer_phone": "13900000001"});
    assert_eq!(admin.post("/api/v1/tasks", body).await.0, 201);

    // As if this node had been paused past its lease and another took over.
    let other = Live::connect(&redis.url, &redis.prefix, Duration::from_secs(1), "other", "127.0.0.1:1").await.unwrap();
    let client = redis::Client::open(redis.url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: i64 = redis::cmd("DEL").arg(format!("{{{}}}:lease", redis.prefix)).query_async(&mut conn).await.unwrap();
    let epoch = other.take_lease(None).await.unwrap().expect("the lease is free");
    let before = other.tasks().await.unwrap();

    let ended = server.ended_within(Duration::from_secs(5)).await.expect("the fenced node stops by itself");
    assert!(matches!(ended, Err(switchboard::ServerError::Fenced)), "{ended:?}");
    assert_eq!(other.tasks().await.unwrap(), before, "the fenced node changed nothing after");
    assert_eq!(other.take_lease(Some(epoch)).await.unwrap(), Some(epoch), "the new leader keeps its lease");
}

#[tokio::test]
async fn on_a_redis_cluster_the_live_state_sits_in_one_slot() {
    let mut nodes = Vec::new();
    for _ in 0..3 {
        let Some(node) = OwnRedis::start_with(&["--cluster-enabled", "yes"]).await else { return };
        nodes.push(node);
    }
    let addrs: Vec<String> = nodes.iter().map(|n| n.url.trim_start_matches("redis://").to_owned()).collect();
    let created = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addrs)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(created.success(), "redis-cli --cluster create");
    for node in &nodes {
        let client = redis::Client::open(node.url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        for _ in 0..100 {
            let info: String = redis::cmd("CLUSTER").arg("INFO").query_async(&mut conn).await.unwrap();
            if info.contains("cluster_state:ok") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let urls: Vec<&str> = nodes.iter().map(|n| n.url.as_str()).collect();
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    config.redis.url = urls.join(",");
    config.redis.cluster = true;
    let server = TestServer::start_with(config).await;
    let (_admin, mut console) = one_agent_three_tasks(&server).await;
    let offer = console.expect("offer").await;
    console.send(json!({"type": "accept", "task_id": offer["task"]["id"]})).await;
    console.expect("task_assigned").await;

    let live =
        Live::connect_cluster(&urls, "switchboard", Duration::from_secs(5), "test", "127.0.0.1:1").await.unwrap();
    let tasks = live.tasks().await.unwrap();
    assert_eq!(tasks.len(), 3);
    assert_eq!(tasks[offer["task"]["id"].as_str().unwrap()].split(' ').next(), Some("assigned"));
    // Every key of the centre on the one node that owns its slot.
    let mut holders = 0;
    for node in &nodes {
        let client = redis::Client::open(node.url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS").arg("{switchboard}:*").query_async(&mut conn).await.unwrap();
        holders += usize::from(!keys.is_empty());
    }
    assert_eq!(holders, 1, "one node holds all of the centre's keys");
    server.stop().await;
}
