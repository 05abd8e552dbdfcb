//! End to end: the real server in-process on ephemeral ports, real HTTP and
//! WebSocket clients, a real database.

mod common;

use common::{Console, TestServer};
use serde_json::json;
use switchboard::domain::{Outcome, TaskId, TaskStatus};
use switchboard::store::Store;
use switchboard::testing::TestDb;

async fn offers_accept_complete_and_records(db: TestDb) {
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    let li = server.add_agent(&admin, "li", &["callbacks"]).await;
    let wang = server.add_agent(&admin, "wang", &["hotline", "callbacks"]).await;
    let mut li_console = server.console("li").await;
    let mut wang_console = server.console("wang").await;

    // The CRM knows the caller; the screen-pop must show it.
    let (status, _) = admin.put("/api/v1/customers/13800138000", json!({"name": "Wang Li", "notes": "VIP"})).await;
    assert_eq!(status, 200);

    let (status, task) = admin
        .post("/api/v1/tasks", json!({"kind": "new_signup_callback", "customer_phone": "13800138000", "reason": "registered for the expo"}))
        .await;
    assert_eq!(status, 201, "{task}");
    assert_eq!(task["priority"], 90);
    assert!(task["deadline"].is_string());
    let task_id = task["id"].as_str().unwrap().to_owned();

    // li connected first, so has been idle longest.
    let offer = li_console.expect("offer").await;
    assert_eq!(offer["task"]["id"], task_id);
    assert_eq!(offer["task"]["reason"], "registered for the expo");
    assert_eq!(offer["customer"]["customer"]["name"], "Wang Li");
    assert_eq!(offer["why"]["rule"], "longest_idle_agent");
    assert_eq!(offer["why"]["agents_in_queue"], 2);

    // Another agent cannot take li's offer, and nothing changes.
    wang_console.send(json!({"type": "accept", "task_id": task_id, "ref": "w1"})).await;
    let err = wang_console.expect("error").await;
    assert_eq!((err["code"].as_str(), err["ref"].as_str()), (Some("not_offered_to_you"), Some("w1")));

    li_console.send(json!({"type": "accept", "task_id": task_id, "ref": "a1"})).await;
    assert_eq!(li_console.expect("task_assigned").await["task"]["id"], task_id);
    assert_eq!(li_console.expect("status").await["status"], "busy");
    assert_eq!(li_console.expect("ack").await["ref"], "a1");

    // li is on a call: a hotline call goes to wang.
    let (_, call) = admin.post("/api/v1/tasks", json!({"kind": "inbound_call", "customer_phone": "13900139000"})).await;
    let offer = wang_console.expect("offer").await;
    assert_eq!(offer["task"]["id"], call["id"]);
    assert!(offer["customer"]["customer"].is_null());

    li_console
        .send(json!({"type": "complete", "task_id": task_id, "outcome": "reached", "summary": "confirmed 2 seats"}))
        .await;
    assert_eq!(li_console.expect("status").await["status"], "wrap_up");
    assert!(li_console.expect("ack").await["ref"].is_null());

    // REST shows the task closed with its attempt and trail.
    let (status, rec) = admin.get(&format!("/api/v1/tasks/{task_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(rec["status"], "completed");
    assert_eq!(rec["attempts"][0]["summary"], "confirmed 2 seats");
    assert_eq!(rec["attempts"][0]["agent_id"], li.as_str());
    let events: Vec<&str> = rec["events"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["created", "offered", "accepted", "completed"]);

    // An agent sees only its own tasks.
    let (_, mine) = li_console.http.as_ref().unwrap().get("/api/v1/tasks").await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    let (status, _) =
        li_console.http.as_ref().unwrap().get(&format!("/api/v1/tasks/{}", call["id"].as_str().unwrap())).await;
    assert_eq!(status, 403);

    let (_, agents) = admin.get("/api/v1/agents").await;
    let wang_view = agents.as_array().unwrap().iter().find(|a| a["id"] == wang.as_str()).unwrap();
    assert_eq!(wang_view["connected"], true);

    server.stop().await;

    // The records are in the database itself.
    let store = Store::connect(&db.url).await.unwrap();
    let rec = store.task(task_id.parse::<TaskId>().unwrap()).await.unwrap().unwrap();
    assert_eq!(rec.status, TaskStatus::Completed);
    assert_eq!(rec.outcome, Some(Outcome::Reached));
    assert_eq!(rec.attempts.len(), 1);
    let profile = store.customer_profile(&rec.customer_phone).await.unwrap();
    assert_eq!(profile.past_calls[0].summary.as_deref(), Some("confirmed 2 seats"));
    store.close().await;
}

#[tokio::test]
async fn offers_accept_complete_and_records_on_sqlite() {
    offers_accept_complete_and_records(TestDb::sqlite()).await;
}

#[tokio::test]
async fn offers_accept_complete_and_records_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    offers_accept_complete_and_records(db).await;
}

#[tokio::test]
async fn waiting_and_held_tasks_survive_a_restart() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["callbacks", "marketing"]).await;
    let mut ids = Vec::new();
    for (kind, phone) in
        [("community_outreach", "1001"), ("new_signup_callback", "1002"), ("marketing_no_show", "1003")]
    {
        let (status, t) = admin.post("/api/v1/tasks", json!({"kind": kind, "customer_phone": phone})).await;
        assert_eq!(status, 201);
        ids.push(t["id"].as_str().unwrap().to_owned());
    }
    // li takes the most urgent one and holds it across the restart.
    let mut console = server.console("li").await;
    let held = console.expect("offer").await["task"]["id"].as_str().unwrap().to_owned();
    assert_eq!(held, ids[1]);
    console.send(json!({"type": "accept", "task_id": held})).await;
    console.expect("ack").await;
    drop(console);
    server.stop().await;

    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    let (_, queues) = admin.get("/api/v1/queues").await;
    let marketing = queues.as_array().unwrap().iter().find(|q| q["name"] == "marketing").unwrap();
    assert_eq!(marketing["waiting"], 2);
    let callbacks = queues.as_array().unwrap().iter().find(|q| q["name"] == "callbacks").unwrap();
    assert_eq!(callbacks["assigned"], 1);

    // li reconnects within the grace period: the held task is still theirs.
    let http = server.login("li", "agent-password").await;
    let mut console = Console::open(server.addr).await;
    console.auth(&http).await;
    let hello = console.expect("hello").await;
    assert_eq!(hello["snapshot"]["held"][0]["id"], held.as_str());
    assert_eq!(hello["snapshot"]["status"], "busy");
    console.send(json!({"type": "complete", "task_id": held, "outcome": "no_answer"})).await;
    console.expect("ack").await;
    // After wrap-up the waiting tasks come in their old order: no-show (50) before outreach (10).
    admin
        .put(&format!("/api/v1/agents/{}/status", hello["user"].as_str().unwrap()), json!({"status": "available"}))
        .await;
    let next = console.expect("offer").await;
    assert_eq!(next["task"]["id"], ids[2].as_str());
    server.stop().await;
}

#[tokio::test]
async fn bad_input_gets_clear_errors_and_changes_nothing() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["callbacks"]).await;
    server.add_agent(&admin, "wang", &["callbacks"]).await;

    let (s, b) = admin.raw("POST", "/api/v1/tasks", Some("{\"kind\": ".into()), "application/json").await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("malformed_json")));
    let (s, b) = admin.post("/api/v1/tasks", json!({"kind": "taxi", "customer_phone": "1001"})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (422, Some("invalid_body")));
    assert!(b["error"]["message"].as_str().unwrap().contains("unknown task kind `taxi`"), "{b}");
    let (s, b) = admin.post("/api/v1/tasks", json!({"kind": "inbound_call"})).await;
    assert_eq!(s, 422);
    assert!(b["error"]["message"].as_str().unwrap().contains("missing field `customer_phone`"));
    let (s, _) = admin.post("/api/v1/tasks", json!({"kind": "inbound_call", "customer_phone": "not a phone"})).await;
    assert_eq!(s, 422);
    let (s, _) = admin.raw("POST", "/api/v1/tasks", Some("{}".into()), "text/plain").await;
    assert_eq!(s, 415);
    let (s, b) = admin.get("/api/v1/tasks/not-a-uuid").await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("bad_path")));
    let (s, _) = admin.get(&format!("/api/v1/tasks/{}", TaskId::new())).await;
    assert_eq!(s, 404);
    let (s, b) = admin.get("/api/v1/nowhere").await;
    assert_eq!((s, b["error"]["code"].as_str()), (404, Some("not_found")));

    // Authentication and roles.
    let (s, _) = server.client(None).get("/api/v1/tasks").await;
    assert_eq!(s, 401);
    let (s, _) = server.client(Some("v1.forged.admin.1.00".into())).get("/api/v1/tasks").await;
    assert_eq!(s, 401);
    let (s, b) = server.client(None).post("/api/v1/login", json!({"username": "admin", "password": "wrong"})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (401, Some("unauthorized")));
    let li = server.login("li", "agent-password").await;
    let (s, b) = li.post("/api/v1/agents", json!({"username": "eve", "password": "12345678"})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (403, Some("forbidden")));
    let (s, _) = li.get("/api/v1/agents").await;
    assert_eq!(s, 403);
    let (s, b) = admin
        .post("/api/v1/agents", json!({"username": "eve", "password": "a fine password", "skills": ["nowhere"]}))
        .await;
    assert_eq!(s, 422, "{b}");
    let (s, _) = admin.post("/api/v1/agents", json!({"username": "li", "password": "a fine password"})).await;
    assert_eq!(s, 409);

    // A WebSocket that never authenticates is closed.
    let mut silent = Console::open(server.addr).await;
    assert_eq!(silent.expect("error").await["code"], "auth_timeout");
    assert_eq!(silent.closed().await, 1008);
    // A wrong ticket, and a ticket used twice, are refused.
    let mut wrong = Console::open(server.addr).await;
    wrong.send(json!({"type": "auth", "ticket": "00"})).await;
    assert_eq!(wrong.expect("error").await["code"], "auth_required");
    assert_eq!(wrong.closed().await, 1008);
    let (_, ticket) = li.post("/api/v1/ws-ticket", json!({})).await;
    let mut first = Console::open(server.addr).await;
    first.send(json!({"type": "auth", "ticket": ticket["ticket"]})).await;
    first.expect("hello").await;
    let mut second = Console::open(server.addr).await;
    second.send(json!({"type": "auth", "ticket": ticket["ticket"]})).await;
    assert_eq!(second.closed().await, 1008);

    // Malformed and unknown messages get an error and change nothing.
    first.send(json!({"type": "teleport"})).await;
    assert_eq!(first.expect("error").await["code"], "bad_message");
    first.send(json!({"type": "set_status", "status": "busy"})).await;
    assert_eq!(first.expect("error").await["code"], "status_not_settable");
    first.ws.send_binary(vec![1, 2, 3]).await;
    assert_eq!(first.expect("error").await["code"], "binary_not_supported");

    // An oversized frame closes the socket with 1009.
    let big = "x".repeat(server.config.websocket.max_message_bytes + 1);
    first.send(json!({"type": "ping", "pad": big})).await;
    assert_eq!(first.closed().await, 1009);

    // Nothing was created by any of it.
    let (_, tasks) = admin.get("/api/v1/tasks").await;
    assert_eq!(tasks.as_array().unwrap().len(), 0);
    server.stop().await;
}

trait SendBinary {
    async fn send_binary(&mut self, bytes: Vec<u8>);
}

impl SendBinary for tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    async fn send_binary(&mut self, bytes: Vec<u8>) {
        use futures_util::SinkExt;
        self.send(tokio_tungstenite::tungstenite::Message::Binary(bytes.into())).await.unwrap();
    }
}

#[tokio::test]
async fn shutdown_closes_consoles_and_hands_offers_back() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["callbacks"]).await;
    let mut console = server.console("li").await;
    let (_, task) = admin.post("/api/v1/tasks", json!({"kind": "new_signup_callback", "customer_phone": "1001"})).await;
    console.expect("offer").await;
    let stopping = tokio::spawn(server.stop());
    assert_eq!(console.closed().await, 1001);
    stopping.await.unwrap();
    // The offer was handed back: the store shows the task waiting.
    let store = Store::connect(&db.url).await.unwrap();
    let rec = store.task(task["id"].as_str().unwrap().parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(rec.status, TaskStatus::Waiting);
    assert_eq!(rec.events.last().unwrap().event, "disconnected");
    store.close().await;
}

#[tokio::test]
async fn a_supervisor_frees_an_agent_stuck_on_a_call() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    let li = server.add_agent(&admin, "li", &["hotline"]).await;
    let mut console = server.console("li").await;
    let (_, call) = admin.post("/api/v1/tasks", json!({"kind": "inbound_call", "customer_phone": "1001"})).await;
    console.expect("offer").await;
    console.send(json!({"type": "accept", "task_id": call["id"]})).await;
    console.expect("ack").await;
    // The agent's own request waits for the call to end...
    let own = console.http.clone().unwrap();
    let (s, view) = own.put(&format!("/api/v1/agents/{li}/status"), json!({"status": "offline"})).await;
    assert_eq!((s, view["status"].as_str()), (200, Some("busy")));
    // ...a supervisor's applies at once and the call goes back to the queue.
    let (s, view) = admin.put(&format!("/api/v1/agents/{li}/status"), json!({"status": "offline"})).await;
    assert_eq!((s, view["status"].as_str()), (200, Some("offline")));
    assert_eq!(console.expect("task_revoked").await["task_id"], call["id"]);
    let (_, queues) = admin.get("/api/v1/queues").await;
    assert_eq!(queues[0]["waiting"], 1);
    // Another agent may not change li's status.
    server.add_agent(&admin, "wang", &["hotline"]).await;
    let wang = server.login("wang", "agent-password").await;
    let (s, _) = wang.put(&format!("/api/v1/agents/{li}/status"), json!({"status": "available"})).await;
    assert_eq!(s, 403);
    server.stop().await;
}

/// A read tells one story: right after each decline and the offer to the
/// next agent, the task's status, agent and history agree (the last event
/// is the offer to the agent the status names, after the decline).
#[tokio::test]
async fn a_task_read_after_a_change_shows_it_in_state_and_history() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    let mut ids = Vec::new();
    let mut consoles = Vec::new();
    for name in ["li", "wang", "zhao"] {
        ids.push(server.add_agent(&admin, name, &["callbacks"]).await);
        consoles.push(server.console(name).await);
    }
    for round in 0..10 {
        let phone = format!("13800138{round:03}");
        let (_, task) =
            admin.post("/api/v1/tasks", json!({"kind": "new_signup_callback", "customer_phone": phone})).await;
        let id = task["id"].as_str().unwrap().to_owned();
        // Whoever is offered it declines, until each agent has passed.
        for _ in 0..ids.len() {
            let mut holder = None;
            for (i, c) in consoles.iter_mut().enumerate() {
                if let Some(offer) = c.expect_within("offer", std::time::Duration::from_millis(300)).await {
                    assert_eq!(offer["task"]["id"], json!(id));
                    holder = Some(i);
                    break;
                }
            }
            let Some(i) = holder else { break };
            consoles[i].send(json!({"type": "decline", "task_id": id})).await;
            consoles[i].expect("ack").await;
            let (_, read) = admin.get(&format!("/api/v1/tasks/{id}")).await;
            let events = read["events"].as_array().unwrap();
            let last = events.last().unwrap();
            match read["status"].as_str().unwrap() {
                "offered" => {
                    assert_eq!((&last["event"], &last["agent_id"]), (&json!("offered"), &read["agent_id"]), "{read}");
                    assert_eq!(events[events.len() - 2]["event"], "declined", "{read}");
                }
                "waiting" => assert_eq!(last["event"], "declined", "{read}"),
                other => panic!("unexpected status {other}: {read}"),
            }
        }
        let (s, _) = admin.post(&format!("/api/v1/tasks/{id}/cancel"), json!({})).await;
        assert_eq!(s, 200);
    }
    server.stop().await;
}
