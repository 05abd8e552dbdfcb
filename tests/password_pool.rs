//! The password pool, alone in its process: it is the process's, so any
//! other test running beside this one would share (and fill) it.

mod common;

use common::{TestServer, json_request, raw_request};
use serde_json::{Value, json};
use switchboard::testing::TestDb;

async fn login_from(server: &TestServer, client: &str, user: &str, password: &str) -> (u16, String, Value) {
    let body = json!({"username": user, "password": password});
    let request = json_request("POST", "/api/v1/login", None, &format!("X-Forwarded-For: {client}\r\n"), &body);
    raw_request(server.addr, &request).await
}

fn retry_after(head: &str) -> u64 {
    head.lines().find_map(|l| l.strip_prefix("retry-after:")).map(|v| v.trim().parse().unwrap()).expect("Retry-After")
}

#[tokio::test]
async fn password_checks_wait_in_a_bounded_pool() {
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    config.server.trusted_proxies = vec!["127.0.0.1".into()];
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    // 64 at once, each from its own address and name, so no limit applies:
    // the machine's cores check a few, a short queue waits, the rest are
    // told at once to come back.
    let attempts =
        (0..64).map(|i| {
            let server = &server;
            async move {
                login_from(server, &format!("10.9.{}.{}", i / 200, i % 200), &format!("user{i}"), "x-wrong-x").await
            }
        });
    let (answers, queues) = tokio::join!(futures_util::future::join_all(attempts), admin.get("/api/v1/queues"));
    assert_eq!(queues.0, 200, "the API answers meanwhile");
    let busy: Vec<_> = answers.iter().filter(|(status, _, _)| *status == 503).collect();
    let checked = answers.iter().filter(|(status, _, _)| *status == 401).count();
    assert!(!busy.is_empty(), "no password check was refused: {:?}", answers.iter().map(|a| a.0).collect::<Vec<_>>());
    assert_eq!(busy.len() + checked, 64);
    for (_, head, body) in busy {
        assert_eq!(body["error"]["code"], "busy", "{body}");
        assert!(retry_after(head) >= 1);
    }
    server.stop().await;
}
