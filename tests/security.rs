//! Safe on a centre's network, end to end: login limits and the password
//! pool, sessions that end, users managed at once, least privilege, the
//! sockets' origin check and rate limits, the security headers.
//! (TLS and connection bounds: `tests/network.rs`; the command line and
//! files at rest: `tests/cli.rs`.)

mod common;

use std::time::Duration;

use common::{Console, Http, TestServer, json_request, raw_request};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchboard::testing::TestDb;
use tokio_tungstenite::tungstenite::Message;

/// A login from `client` (named by X-Forwarded-For, which the server
/// believes of 127.0.0.1 in these tests).
async fn login_from(server: &TestServer, client: &str, user: &str, password: &str) -> (u16, String, Value) {
    let body = json!({"username": user, "password": password});
    let request = json_request("POST", "/api/v1/login", None, &format!("X-Forwarded-For: {client}\r\n"), &body);
    raw_request(server.addr, &request).await
}

fn behind_a_proxy(db: &TestDb) -> switchboard::Config {
    let mut config = TestServer::config(db);
    config.server.trusted_proxies = vec!["127.0.0.1".into()];
    config
}

fn retry_after(head: &str) -> u64 {
    head.lines().find_map(|l| l.strip_prefix("retry-after:")).map(|v| v.trim().parse().unwrap()).expect("Retry-After")
}

#[tokio::test]
async fn failed_logins_are_limited_per_address_and_per_name() {
    let db = TestDb::sqlite();
    let server = TestServer::start_with(behind_a_proxy(&db)).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["hotline"]).await;
    server.add_agent(&admin, "wang", &["hotline"]).await;

    // Five wrong passwords a minute from one address are answered...
    for _ in 0..5 {
        assert_eq!(login_from(&server, "198.51.100.1", "li", "wrong password").await.0, 401);
    }
    // ...the sixth is refused before any check, with when to try again.
    let (status, head, body) = login_from(&server, "198.51.100.1", "li", "wrong password").await;
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("rate_limited")), "{body}");
    assert!((50..=60).contains(&retry_after(&head)), "{head}");
    // Even the right password, from another address: the name is locked.
    let (status, _, _) = login_from(&server, "198.51.100.2", "li", "agent-password").await;
    assert_eq!(status, 429, "the username is limited from every address");
    // And the address is locked for every name.
    assert_eq!(login_from(&server, "198.51.100.1", "wang", "agent-password").await.0, 429);
    assert_eq!(login_from(&server, "198.51.100.3", "wang", "agent-password").await.0, 200);

    // A name that does not exist is limited the same way, at the same cost.
    let mut known = Duration::ZERO;
    let mut unknown = Duration::ZERO;
    for i in 0..5 {
        let started = std::time::Instant::now();
        assert_eq!(login_from(&server, &format!("203.0.113.{i}"), "wang", "not it at all").await.0, 401);
        known += started.elapsed();
        let started = std::time::Instant::now();
        assert_eq!(login_from(&server, &format!("203.0.113.{}", 10 + i), "ghost", "not it at all").await.0, 401);
        unknown += started.elapsed();
    }
    assert_eq!(login_from(&server, "203.0.113.99", "ghost", "not it at all").await.0, 429);
    assert!(unknown * 2 > known, "an unknown name is checked against a decoy: {unknown:?} vs {known:?}");
    server.stop().await;
}

#[tokio::test]
async fn weak_or_oversized_passwords_are_refused() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    for (password, why) in [
        ("wangfang2026", "must not be or contain the username"),
        ("password1", "most common passwords"),
        ("qwertyuiop", "most common passwords"),
        ("short", "at least 8 characters"),
    ] {
        let (status, body) = admin.post("/api/v1/agents", json!({"username": "wangfang", "password": password})).await;
        assert_eq!((status, body["error"]["code"].as_str()), (422, Some("weak_password")), "{password}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(why), "{body}");
    }
    let huge = "x".repeat(1025);
    let (status, body) = Http { addr: server.addr, token: None }
        .post("/api/v1/login", json!({"username": "admin", "password": huge}))
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("password_too_long")), "{body}");
    server.stop().await;
}

/// A console of `name`, opened with its own login; returns both.
async fn console_of(server: &TestServer, name: &str) -> (Http, Console) {
    console_with(server, name, "agent-password").await
}

async fn console_with(server: &TestServer, name: &str, password: &str) -> (Http, Console) {
    let http = server.login(name, password).await;
    let mut console = Console::open(server.addr).await;
    console.auth(&http).await;
    console.expect("hello").await;
    (http, console)
}

/// The socket's `error` with code `session_ended`, then its close code.
async fn ended(console: &mut Console) -> u16 {
    let error = console.expect("error").await;
    assert_eq!(error["code"], "session_ended", "{error}");
    console.closed().await
}

#[tokio::test]
async fn logging_out_ends_that_token_and_its_sockets_only() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["hotline"]).await;
    let (li, mut console) = console_of(&server, "li").await;
    let other = server.login("li", "agent-password").await;
    assert_eq!(li.post("/api/v1/logout", json!({})).await.0, 204);
    assert_eq!(ended(&mut console).await, 4003);
    let (status, body) = li.get("/api/v1/me").await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("session_ended")), "{body}");
    assert_eq!(li.post("/api/v1/ws-ticket", json!({})).await.0, 401);
    assert_eq!(other.get("/api/v1/me").await.0, 200, "another login of li's goes on");
    server.stop().await;
}

#[tokio::test]
async fn admins_change_users_and_it_applies_at_once() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    let li = server.add_agent(&admin, "li", &["hotline"]).await;
    let user = format!("/api/v1/users/{li}");

    // Skills and SIP URI: routing follows, the console stays.
    let (li_http, mut console) = console_of(&server, "li").await;
    let (status, body) = admin.patch(&user, json!({"skills": ["callbacks"], "sip_uri": "sip:2002@pbx"})).await;
    assert_eq!((status, &body["skills"]), (200, &json!(["callbacks"])), "{body}");
    let (_, task) =
        admin.post("/api/v1/tasks", json!({"kind": "new_signup_callback", "customer_phone": "13800000001"})).await;
    assert_eq!(console.expect("offer").await["task"]["id"], task["id"], "li now serves callbacks");
    let (status, _) = admin.patch(&user, json!({"sip_uri": "sip:2002@pbx?Route=%3Csip:evil%3E"})).await;
    assert_eq!(status, 422, "no URI headers into a 302's Contact");

    // A new role: tokens and sockets end; a new login carries the new role.
    assert_eq!(admin.patch(&user, json!({"role": "supervisor"})).await.0, 200);
    assert_eq!(ended(&mut console).await, 4003);
    assert_eq!(li_http.get("/api/v1/me").await.0, 401);
    let li_http = server.login("li", "agent-password").await;
    assert_eq!(li_http.get("/api/v1/me").await.1["role"], "supervisor");
    assert_eq!(admin.patch(&user, json!({"role": "agent"})).await.0, 200);

    // Disabled: no login, no token; enabled again: login works.
    let (li_http, mut console) = console_of(&server, "li").await;
    assert_eq!(admin.patch(&user, json!({"disabled": true})).await.0, 200);
    assert_eq!(ended(&mut console).await, 4003);
    assert_eq!(li_http.get("/api/v1/queues").await.0, 401);
    let (status, body) = Http { addr: server.addr, token: None }
        .post("/api/v1/login", json!({"username": "li", "password": "agent-password"}))
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("account_disabled")), "{body}");
    let (_, agents) = admin.get("/api/v1/agents").await;
    assert!(agents.as_array().unwrap().iter().all(|a| a["username"] != "li"), "a disabled agent takes no work");
    assert_eq!(admin.patch(&user, json!({"disabled": false})).await.0, 200);

    // A password reset ends the sessions; the new password logs in.
    let (li_http, mut console) = console_of(&server, "li").await;
    assert_eq!(admin.put(&format!("{user}/password"), json!({"password": "another long one"})).await.0, 204);
    assert_eq!(ended(&mut console).await, 4003);
    assert_eq!(li_http.get("/api/v1/me").await.0, 401);
    let li_http = server.login("li", "another long one").await;

    // Changing one's own password: the current one is needed.
    let (status, _) = li_http
        .put("/api/v1/me/password", json!({"current_password": "wrong one!", "new_password": "a third long one"}))
        .await;
    assert_eq!(status, 403);
    let (status, body) = li_http
        .put("/api/v1/me/password", json!({"current_password": "another long one", "new_password": "a third long one"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(li_http.get("/api/v1/me").await.0, 401, "the old token ended");
    let fresh = Http { addr: server.addr, token: Some(body["token"].as_str().unwrap().into()) };
    assert_eq!(fresh.get("/api/v1/me").await.0, 200, "the answer carries a new one");

    // Deleted: gone for every purpose, but the last admin stays.
    let (_, mut console) = console_with(&server, "li", "a third long one").await;
    assert_eq!(admin.delete(&user).await.0, 204);
    assert_eq!(ended(&mut console).await, 4003);
    assert_eq!(fresh.get("/api/v1/me").await.0, 401);
    assert_eq!(admin.get(&user).await.0, 404);
    let (_, me) = admin.get("/api/v1/me").await;
    let (status, body) = admin.delete(&format!("/api/v1/users/{}", me["id"].as_str().unwrap())).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("last_admin")));
    server.stop().await;
}

#[tokio::test]
async fn agents_see_and_create_only_their_own_work() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["callbacks"]).await;
    server.add_agent(&admin, "wang", &["hotline"]).await;
    let body = json!({"username": "zhou", "password": "agent-password", "role": "dispatcher", "skills": ["travel"]});
    assert_eq!(admin.post("/api/v1/agents", body).await.0, 201);
    let mut li_console = server.console("li").await;
    let (li, wang, zhou) = (
        li_console.http.clone().unwrap(),
        server.login("wang", "agent-password").await,
        server.login("zhou", "agent-password").await,
    );
    let customer = "/api/v1/customers/13800000002";
    assert_eq!(admin.put(customer, json!({"name": "Chen", "notes": "prefers mornings"})).await.0, 200);

    // Not li's work yet: li cannot read or write the record.
    assert_eq!(li.get(customer).await.1["error"]["code"], "not_your_work");
    let (_, task) =
        admin.post("/api/v1/tasks", json!({"kind": "new_signup_callback", "customer_phone": "13800000002"})).await;
    assert_eq!(li_console.expect("offer").await["task"]["id"], task["id"]);
    // Offered to li: li can; wang and the dispatcher cannot; a supervisor can.
    let (status, record) = li.get(customer).await;
    assert_eq!((status, &record["customer"]["name"]), (200, &json!("Chen")), "{record}");
    assert_eq!(li.put(customer, json!({"notes": "called back"})).await.0, 200);
    for other in [&wang, &zhou] {
        let (status, body) = other.get(customer).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("not_your_work")), "{body}");
        assert_eq!(other.put(customer, json!({"notes": "overwritten"})).await.0, 403);
    }
    assert_eq!(admin.get(customer).await.1["customer"]["notes"], "called back");

    // Tasks: the kinds the centre lets agents make, at their own priority.
    let make = |kind: &str, extra: Value| {
        let mut body = json!({"kind": kind, "customer_phone": "13800000003"});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let (status, body) = wang.post("/api/v1/tasks", make("event_callback", json!({"priority": 255}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("priority_not_allowed")), "{body}");
    let (status, body) = wang.post("/api/v1/tasks", make("inbound_call", json!({}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("kind_not_allowed")), "{body}");
    let (status, body) = wang.post("/api/v1/tasks", make("event_callback", json!({}))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(admin.post("/api/v1/tasks", make("event_callback", json!({"priority": 255}))).await.0, 201);

    // Car orders: an agent reads the ones they took, no one else's.
    let driver = json!({"name": "Zhao", "phone": "13900000001", "seats": 6, "area": "PVG", "status": "available"});
    assert_eq!(admin.post("/api/v1/drivers", driver).await.0, 201);
    let time = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(30)).to_string();
    let order = json!({"kind": "pickup", "passenger": "Lin", "phone": "13800000004", "passengers": 2,
        "airport": "PVG", "time": time});
    let (status, by_admin) = admin.post("/api/v1/car-orders", order.clone()).await;
    assert_eq!(status, 201, "{by_admin}");
    let (status, by_wang) = wang.post("/api/v1/car-orders", order).await;
    assert_eq!(status, 201, "{by_wang}");
    let path = |o: &Value| format!("/api/v1/car-orders/{}", o["id"].as_str().unwrap());
    assert_eq!(wang.get(&path(&by_admin)).await.1["error"]["code"], "not_your_work");
    assert_eq!(wang.get(&path(&by_wang)).await.0, 200);
    assert_eq!(zhou.get(&path(&by_admin)).await.0, 200, "dispatchers see every order");
    assert_eq!(wang.get("/api/v1/car-orders").await.0, 403);
    server.stop().await;
}

#[tokio::test]
async fn sockets_refuse_other_origins_and_floods() {
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    config.server.allowed_origins = vec!["https://wallboard.example".into()];
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["hotline"]).await;
    server.add_agent(&admin, "wang", &["hotline"]).await;
    let own = format!("http://{}", server.addr);
    for (origin, admitted) in
        [("https://evil.example", false), (own.as_str(), true), ("https://wallboard.example", true)]
    {
        let opened = Console::open_with(server.addr, "/ws", &[("Origin", origin)]).await;
        assert_eq!(opened.is_ok(), admitted, "{origin}");
        if !admitted {
            assert_eq!(opened.err(), Some(403));
        }
    }

    // A console that floods is told, then closed; the other goes on.
    let mut li = server.console("li").await;
    let mut wang = server.console("wang").await;
    for _ in 0..200 {
        if li.ws.send(Message::Text(json!({"type": "ping"}).to_string().into())).await.is_err() {
            break;
        }
    }
    let mut pongs = 0;
    let mut limited = 0;
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(5), li.ws.next()).await.expect("an answer") {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                match v["type"].as_str() {
                    Some("pong") => pongs += 1,
                    Some("error") if v["code"] == "rate_limited" => limited += 1,
                    _ => {}
                }
            }
            Some(Ok(Message::Close(Some(frame)))) => break u16::from(frame.code),
            Some(Ok(_)) => {}
            None | Some(Err(_)) => break 0,
        }
    };
    assert_eq!(code, 1008, "closed for the flood");
    assert!((40..=45).contains(&pongs), "the burst is served: {pongs}");
    assert!(limited > 0);
    wang.send(json!({"type": "ping"})).await;
    assert_eq!(wang.expect("pong").await["type"], "pong");
    server.stop().await;
}

#[tokio::test]
async fn status_changes_are_bounded_and_a_change_to_the_same_writes_nothing() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["hotline"]).await;
    let mut li = server.console("li").await;
    let rows = || async {
        let store = switchboard::store::Store::connect(&db.url).await.unwrap();
        let n = store.status_rows().await.unwrap();
        store.close().await;
        n
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rows().await;
    li.send(json!({"type": "set_status", "status": "available", "ref": "same"})).await;
    assert_eq!(li.expect("ack").await["ref"], "same");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rows().await, before, "available again changes nothing and writes nothing");

    // Twelve changes a minute, then refused, over the console and REST alike.
    let mut refused = 0;
    for i in 0..14 {
        let status = if i % 2 == 0 {
            json!({"type": "set_status", "status": "break", "reason": "rest"})
        } else {
            json!({"type": "set_status", "status": "available"})
        };
        li.send(status).await;
        loop {
            let v = li.next().await;
            match v["type"].as_str() {
                Some("ack") => break,
                Some("error") => {
                    assert_eq!(v["code"], "rate_limited", "{v}");
                    refused += 1;
                    break;
                }
                _ => {}
            }
        }
    }
    // The change to the same status above took a turn of the twelve.
    assert_eq!(refused, 3);
    let http = li.http.clone().unwrap();
    let (_, me) = http.get("/api/v1/me").await;
    let (status, body) = http
        .put(&format!("/api/v1/agents/{}/status", me["id"].as_str().unwrap()), json!({"status": "available"}))
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("rate_limited")), "{body}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rows().await, before + 11);
    server.stop().await;
}

#[tokio::test]
async fn wallboards_and_tickets_are_capped_per_user() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    let body = json!({"username": "sun", "password": "agent-password", "role": "supervisor"});
    assert_eq!(admin.post("/api/v1/users", body).await.0, 201);
    let sun = server.login("sun", "agent-password").await;
    let mut boards = Vec::new();
    for i in 0..5 {
        let (mut ws, first) = Console::wallboard(server.addr, &sun).await;
        if i < 4 {
            assert_eq!(first["type"], "figures", "{first}");
            boards.push(ws);
        } else {
            assert_eq!((&first["type"], &first["code"]), (&json!("error"), &json!("too_many_sockets")), "{first}");
            assert_eq!(ws.closed().await, 1008);
        }
    }
    drop(boards);
    for _ in 0..8 {
        assert_eq!(sun.post("/api/v1/ws-ticket", json!({})).await.0, 200);
    }
    let (status, body) = sun.post("/api/v1/ws-ticket", json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("too_many_tickets")), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn responses_carry_the_security_headers() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    let request = json_request("GET", "/api/v1/queues", admin.token.as_deref(), "", &Value::Null);
    let (status, head, _) = raw_request(server.addr, &request).await;
    assert_eq!(status, 200);
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(head.contains("referrer-policy: no-referrer"), "{head}");
    assert!(head.contains("cache-control: no-store"), "{head}");
    server.stop().await;
}
