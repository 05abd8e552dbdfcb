//! Router tests with `oneshot`: no sockets, a real SQLite store and hub.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use jiff::{SignedDuration, Timestamp};
use tower::ServiceExt;

use super::*;
use crate::api::state::Shared;
use crate::auth::Auth;
use crate::config::Config;
use crate::domain::{Role, UserId};
use crate::rules::dispatch::Dispatcher;
use crate::runtime::live_rules::LiveRules;
use crate::testing::TestDb;

async fn app(db: &TestDb) -> (Router, AppState) {
    let store = db.store().await;
    let config = Config::default();
    let rules = config.rules().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let (hub, _task) = crate::runtime::hub::spawn(
        Dispatcher::new(rules.clone()),
        crate::runtime::record_writer::Writer::spawn(store.clone()).0,
        None,
        None,
        None,
        shutdown.clone(),
    );
    let auth = Auth::new(&"k".repeat(32), SignedDuration::from_mins(5), SignedDuration::from_secs(30));
    let checkpoints = config.checkpoints().unwrap();
    let state = AppState::new(
        store,
        hub,
        auth.into(),
        config,
        LiveRules::new(rules),
        checkpoints,
        Shared { shutdown, ..Default::default() },
    );
    (crate::app::server::app(&state), state)
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, serde_json::Value) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let db = TestDb::sqlite();
    let (app, _) = app(&db).await;
    let (status, doc) = call(&app, Request::get("/api/v1/openapi.json").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/login",
        "/api/v1/ws-ticket",
        "/api/v1/me",
        "/api/v1/tasks",
        "/api/v1/tasks/{id}",
        "/api/v1/tasks/{id}/cancel",
        "/api/v1/users",
        "/api/v1/agents",
        "/api/v1/agents/{id}",
        "/api/v1/agents/{id}/status",
        "/api/v1/queues",
        "/api/v1/figures",
        "/api/v1/reports/{period}",
        "/api/v1/customers/{phone}",
        "/api/v1/cti/events",
        "/api/v1/calls",
        "/api/v1/calls/{task_id}",
        "/api/v1/missed-calls",
        "/api/v1/registrations",
        "/api/v1/events/{id}/ended",
        "/health",
    ] {
        assert!(paths.contains_key(path), "{path} missing from the OpenAPI document");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn health_and_errors_have_the_documented_shape() {
    let db = TestDb::sqlite();
    let (app, state) = app(&db).await;
    let (status, body) = call(&app, Request::get("/health").body(Body::empty()).unwrap()).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ok")));

    let (status, body) = call(&app, Request::get("/api/v1/queues").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    assert!(body["error"]["message"].is_string());

    // A supervisor's token, forged with the server's key: roles are enforced.
    let (token, _) = state.auth.token_for_tests(UserId::new(), Role::Supervisor);
    let req =
        |uri: &str| Request::get(uri).header("authorization", format!("Bearer {token}")).body(Body::empty()).unwrap();
    let (status, body) = call(&app, req("/api/v1/queues")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.as_array().unwrap().len(), 5);
    let create = Request::post("/api/v1/users")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(r#"{"username":"x","password":"12345678","role":"admin"}"#))
        .unwrap();
    let (status, body) = call(&app, create).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
    let big = Request::post("/api/v1/tasks")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(vec![b' '; MAX_BODY_BYTES + 1]))
        .unwrap();
    let (status, _) = call(&app, big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

fn post_json(uri: &str, token: &str, body: serde_json::Value) -> Request<Body> {
    Request::post(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn missed_calls_are_reported_with_their_checkpoint() {
    let db = TestDb::sqlite();
    let (app, state) = app(&db).await;
    let (admin, _) = state.auth.token_for_tests(UserId::new(), Role::Admin);
    let (agent, _) = state.auth.token_for_tests(UserId::new(), Role::Agent);
    let report = |token: &str, body| post_json("/api/v1/missed-calls", token, body);

    // Reported late, after their checkpoints passed: each waits for the
    // next checkpoint from now, keeping its own time (Asia/Shanghai).
    let cases = [
        ("2026-11-24T09:59:00+08:00", "2026-11-24T09:59:00+08:00"),
        ("2026-11-24T01:30:00Z", "2026-11-24T09:30:00+08:00"),
        ("2026-11-20T17:30:00+08:00", "2026-11-20T17:30:00+08:00"),
    ];
    let next_checkpoint = || {
        let t = state.checkpoints.release_at(&state.rules.get().calendar, jiff::Timestamp::now());
        t.to_zoned(state.rules.get().calendar.time_zone().clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    };
    for (at, local_at) in cases {
        let body = serde_json::json!({"caller": "139-0000-0001", "called": "4000", "at": at});
        let before = next_checkpoint();
        let (status, entry) = call(&app, report(&admin, body)).await;
        let after = next_checkpoint();
        assert_eq!(status, StatusCode::CREATED, "{entry}");
        assert_eq!(entry["at"], local_at);
        let release_at = entry["release_at"].as_str().unwrap();
        assert!(release_at == before || release_at == after, "{at}: {entry}");
        assert_eq!(entry["caller"], "13900000001");
        assert_eq!(entry["queue"], "hotline");
        assert_eq!(entry["reason"], "reported");
    }
    let get = |token: &str| {
        Request::get("/api/v1/missed-calls")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    let (status, backlog) = call(&app, get(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    let times: Vec<&str> = backlog.as_array().unwrap().iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert_eq!(times, ["2026-11-20T17:30:00+08:00", "2026-11-24T09:30:00+08:00", "2026-11-24T09:59:00+08:00"]);

    // Bad input: nothing is added.
    let future = (Timestamp::now() + SignedDuration::from_mins(10)).to_string();
    let bad = [
        (serde_json::json!({"caller": "call me", "called": "4000"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_phone"),
        (serde_json::json!({"caller": "13900000001", "called": ""}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        (
            serde_json::json!({"caller": "13900000001", "called": "4000", "at": future}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "at_in_future",
        ),
        (
            serde_json::json!({"caller": "13900000001", "called": "4000", "at": "yesterday"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (serde_json::json!({"called": "4000"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
    ];
    for (body, status, code) in bad {
        let (got, err) = call(&app, report(&admin, body.clone())).await;
        assert_eq!((got, err["error"]["code"].as_str()), (status, Some(code)), "{body}");
    }
    let (status, _) = call(&app, report(&agent, serde_json::json!({"caller": "13900000001", "called": "4000"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) =
        call(&app, report("not-a-token", serde_json::json!({"caller": "13900000001", "called": "4000"}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&app, get(&agent)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(state.store.missed_backlog().await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_task_past_its_deadline_reads_as_overdue() {
    let db = TestDb::sqlite();
    let (app, state) = app(&db).await;
    let (admin, _) = state.auth.token_for_tests(UserId::new(), Role::Admin);
    let deadline = (Timestamp::now() + SignedDuration::from_millis(300)).to_string();
    let body =
        serde_json::json!({"kind": "new_signup_callback", "customer_phone": "13900000009", "deadline": deadline});
    let (status, task) = call(&app, post_json("/api/v1/tasks", &admin, body)).await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    assert_eq!(task["overdue"], false);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let get = Request::get(format!("/api/v1/tasks/{}", task["id"].as_str().unwrap()))
        .header("authorization", format!("Bearer {admin}"))
        .body(Body::empty())
        .unwrap();
    let (status, task) = call(&app, get).await;
    assert_eq!(
        (status, &task["overdue"], &task["status"]),
        (StatusCode::OK, &serde_json::json!(true), &serde_json::json!("waiting"))
    );
    let queues =
        Request::get("/api/v1/queues").header("authorization", format!("Bearer {admin}")).body(Body::empty()).unwrap();
    let (_, queues) = call(&app, queues).await;
    let callbacks = queues.as_array().unwrap().iter().find(|q| q["name"] == "callbacks").unwrap();
    assert_eq!(callbacks["overdue"], 1, "{callbacks}");
}

#[tokio::test]
async fn reports_refuse_agents_unknown_periods_and_dates_out_of_range() {
    let db = TestDb::sqlite();
    let (app, state) = app(&db).await;
    let token = |role| state.auth.token_for_tests(UserId::new(), role).0;
    let (sup, agent) = (token(Role::Supervisor), token(Role::Agent));
    let get = |uri: &str, token: &str| {
        Request::get(uri).header("authorization", format!("Bearer {token}")).body(Body::empty()).unwrap()
    };
    let (status, report) = call(&app, get("/api/v1/reports/weekly?date=2026-03-04", &sup)).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        (&report["first_day"], &report["next_day"]),
        (&serde_json::json!("2026-03-02"), &serde_json::json!("2026-03-09"))
    );
    assert_eq!(report["calls"]["today"]["answered"], 0);

    let resp = app.clone().oneshot(get("/api/v1/reports/daily?format=csv", &sup)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    assert!(body.starts_with(b"section,item,metric,value\r\nperiod,daily,first_day,"));

    for (uri, code) in [
        ("/api/v1/reports/daily?date=2999-01-01", "date_out_of_range"),
        ("/api/v1/reports/monthly?date=1999-12-31", "date_out_of_range"),
        ("/api/v1/reports/daily?date=2026-02-30", "invalid_date"),
        ("/api/v1/reports/daily?date=yesterday", "invalid_date"),
        ("/api/v1/reports/yearly", "invalid_period"),
        ("/api/v1/reports/daily?format=xml", "invalid_format"),
    ] {
        let (status, body) = call(&app, get(uri, &sup)).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some(code)), "{uri}: {body}");
    }
    let (status, _) = call(&app, get("/api/v1/reports/daily", &agent)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(&app, get("/api/v1/figures", &agent)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the live figures are for supervisors too");
}
