//! What `docs/protocol.md` promises a console, on a real socket: a
//! message too big is closed with 1009 before authentication as after it,
//! even when far beyond what the transport reads; a message that is valid
//! JSON but not a valid message gets its `ref` back; a status asked during
//! a call is acknowledged as deferred; a task no longer live is refused
//! as `task_not_live`, the code REST gives the dispatcher's same refusal
//! (`DispatchError::code`).

mod common;

use common::{Console, TestServer};
use serde_json::json;
use switchboard::testing::TestDb;

#[tokio::test]
async fn oversized_messages_close_with_1009_before_and_after_authentication() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["callbacks"]).await;
    let limit = server.config.websocket.max_message_bytes;
    // Before authenticating: just over the limit, and 1 MiB (past what the
    // transport reads at all).
    for size in [limit + 1, 1 << 20] {
        let mut console = Console::open(server.addr).await;
        console.send(json!({"type": "auth", "ticket": "x".repeat(size)})).await;
        assert_eq!(console.closed().await, 1009, "{size} bytes before authentication");
    }
    // After: 1 MiB too.
    let mut console = server.console("li").await;
    console.send(json!({"type": "ping", "pad": "x".repeat(1 << 20)})).await;
    assert_eq!(console.closed().await, 1009, "1 MiB after authentication");
    server.stop().await;
}

#[tokio::test]
async fn refusals_echo_their_ref() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["callbacks"]).await;
    let mut console = server.console("li").await;
    // A task that was and is no longer: stored, cancelled, not live.
    let (_, made) = admin.post("/api/v1/tasks", json!({"kind": "new_signup_callback", "customer_phone": "1001"})).await;
    let task = made["id"].clone();
    console.expect("offer").await;
    let (s, _) = admin.post(&format!("/api/v1/tasks/{}/cancel", task.as_str().unwrap()), json!({})).await;
    assert_eq!(s, 200);
    let cases = [
        (json!({"type": "teleport", "ref": "a"}), "bad_message"),
        (json!({"type": "accept", "ref": "b"}), "bad_message"),
        (json!({"type": "accept", "task_id": "not-a-uuid", "ref": "c"}), "bad_message"),
        (json!({"type": "complete", "task_id": task, "outcome": "splendid", "ref": "d"}), "bad_message"),
        (json!({"type": "accept", "task_id": task, "ref": "e"}), "task_not_live"),
    ];
    for (msg, code) in cases {
        let reference = msg["ref"].clone();
        console.send(msg.clone()).await;
        let error = console.expect("error").await;
        assert_eq!((&error["code"], &error["ref"]), (&json!(code), &reference), "{msg} -> {error}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_status_asked_during_a_call_is_acknowledged_as_deferred() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["hotline"]).await;
    let mut console = server.console("li").await;
    console.send(json!({"type": "set_status", "status": "available", "ref": "1"})).await;
    let ack = console.expect("ack").await;
    assert_eq!((&ack["ref"], ack.get("deferred")), (&json!("1"), None), "{ack}");
    let (_, call) = admin.post("/api/v1/tasks", json!({"kind": "inbound_call", "customer_phone": "1001"})).await;
    console.expect("offer").await;
    console.send(json!({"type": "accept", "task_id": call["id"]})).await;
    console.expect("ack").await;
    console.send(json!({"type": "set_status", "status": "offline", "ref": "2"})).await;
    let ack = console.expect("ack").await;
    assert_eq!((&ack["ref"], &ack["deferred"]), (&json!("2"), &json!(true)), "{ack}");
    server.stop().await;
}
