//! Routing a centre can tune while it runs, end to end on a real server:
//! proficiency levels set over REST count at the next decision, and the
//! offer's explanation names the routing step.

mod common;

use std::time::Duration;

use common::TestServer;
use serde_json::json;
use switchboard::config::StepConfig;
use switchboard::testing::TestDb;

/// A server whose hotline calls want level 4 for a minute first.
async fn stepped_server(db: &TestDb) -> TestServer {
    let mut config = TestServer::config(db);
    config.kinds.get_mut("inbound_call").unwrap().steps =
        vec![StepConfig { skills: [("hotline".to_owned(), 4)].into(), wait_secs: 60 }];
    TestServer::start_with(config).await
}

#[tokio::test]
async fn a_level_set_over_rest_counts_at_the_next_decision() {
    let db = TestDb::sqlite();
    let server = stepped_server(&db).await;
    let admin = server.admin().await;
    let li = server.add_agent(&admin, "li", &["hotline", "callbacks"]).await;
    let mut console = server.console("li").await;
    let (status, task) =
        admin.post("/api/v1/tasks", json!({"kind": "inbound_call", "customer_phone": "13800000001"})).await;
    assert_eq!(status, 201, "{task}");
    assert!(console.expect_within("offer", Duration::from_millis(700)).await.is_none(), "level 1 is below the step");

    // Raised to 4: offered at once, with the step and the levels named;
    // the console was not reconnected.
    let (status, agent) = admin.patch(&format!("/api/v1/agents/{li}"), json!({"levels": {"hotline": 4}})).await;
    assert_eq!(status, 200, "{agent}");
    assert_eq!(agent["levels"], json!({"hotline": 4}));
    let offer = console.expect("offer").await;
    assert_eq!(offer["task"]["id"], task["id"]);
    let step = &offer["why"]["step"];
    assert_eq!((step["step"].as_u64(), step["of"].as_u64()), (Some(1), Some(1)), "{offer}");
    assert_eq!(step["wants"], json!([{"skill": "hotline", "level": 4}]));
    assert_eq!(step["agent_levels"], json!([{"skill": "hotline", "level": 4}]));

    // Kept on the agent's record, with its skills; a skill dropped takes
    // its level with it.
    let (_, read) = admin.get(&format!("/api/v1/agents/{li}")).await;
    assert_eq!(
        (read["skills"].clone(), read["levels"].clone()),
        (json!(["hotline", "callbacks"]), json!({"hotline": 4}))
    );
    let (_, read) = admin.patch(&format!("/api/v1/agents/{li}"), json!({"skills": ["callbacks"]})).await;
    assert_eq!(read["levels"], json!({}));

    // The kinds list the steps.
    let (_, kinds) = admin.get("/api/v1/kinds").await;
    let call = kinds.as_array().unwrap().iter().find(|k| k["kind"] == "inbound_call").unwrap();
    assert_eq!(call["steps"], json!([{"wants": [{"skill": "hotline", "level": 4}], "wait_secs": 60}]));
    server.stop().await;
}

#[tokio::test]
async fn a_bad_level_is_refused_and_changes_nothing() {
    let db = TestDb::sqlite();
    let server = stepped_server(&db).await;
    let admin = server.admin().await;
    let li = server.add_agent(&admin, "li", &["hotline"]).await;
    for (levels, problem) in [
        (json!({"hotline": 6}), "a level is 1 (learning) to 5 (expert)"),
        (json!({"hotline": 0}), "a level is 1 (learning) to 5 (expert)"),
        (json!({"travel": 3}), "`travel` is not one of the agent's skills"),
    ] {
        let (status, body) = admin.patch(&format!("/api/v1/agents/{li}"), json!({"levels": levels})).await;
        assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_field")), "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(problem), "{body}");
    }
    let (_, read) = admin.get(&format!("/api/v1/agents/{li}")).await;
    assert_eq!(read["levels"], json!({}));
    // Created with levels in one step.
    let body =
        json!({"username": "wang", "password": "agent-password", "skills": ["hotline"], "levels": {"hotline": 5}});
    let (status, created) = admin.post("/api/v1/agents", body).await;
    assert_eq!((status, created["levels"].clone()), (201, json!({"hotline": 5})), "{created}");
    server.stop().await;
}

#[tokio::test]
async fn a_callback_waits_for_the_agent_who_last_spoke_to_the_customer() {
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    config.routing.stick_to_last_agent_minutes = 60;
    config.routing.wait_for_preferred_secs = 30;
    config.dispatch.wrap_up_secs = 1;
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    let li = server.add_agent(&admin, "li", &["callbacks"]).await;
    let mut li_console = server.console("li").await;
    // Li speaks to the customer.
    let customer = json!({"kind": "event_callback", "customer_phone": "13800000042"});
    let (_, first) = admin.post("/api/v1/tasks", customer.clone()).await;
    let offer = li_console.expect("offer").await;
    li_console.send(json!({"type": "accept", "task_id": offer["task"]["id"]})).await;
    li_console.expect("task_assigned").await;
    li_console.send(json!({"type": "complete", "task_id": first["id"], "outcome": "reached"})).await;
    li_console.expect("ack").await;
    // Records reach the store just after the console hears.
    for _ in 0..50 {
        if admin.get(&format!("/api/v1/tasks/{}", first["id"].as_str().unwrap())).await.1["status"] == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Wang is free; the customer's next callback waits for li (in a
    // second's wrap-up), and li gets it.
    server.add_agent(&admin, "wang", &["callbacks"]).await;
    let mut wang_console = server.console("wang").await;
    let (status, second) = admin.post("/api/v1/tasks", customer.clone()).await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["reserved"]["agent"], json!(li), "{second}");
    let offer = li_console.expect("offer").await;
    assert_eq!(offer["task"]["id"], second["id"]);
    assert!(wang_console.expect_within("offer", Duration::from_millis(300)).await.is_none());

    // Another customer is anyone's.
    let (_, third) =
        admin.post("/api/v1/tasks", json!({"kind": "event_callback", "customer_phone": "13800000043"})).await;
    assert!(third["reserved"].is_null(), "{third}");
    assert_eq!(wang_console.expect("offer").await["task"]["id"], third["id"]);
    server.stop().await;
}

#[tokio::test]
async fn a_task_avoiding_an_agent_keeps_avoiding_them_after_a_restart() {
    let db = TestDb::sqlite();
    let config = TestServer::config(&db);
    let server = TestServer::start_with(config.clone()).await;
    let admin = server.admin().await;
    let li = server.add_agent(&admin, "li", &["complaints"]).await;
    let body = json!({"kind": "complaint_follow_up", "customer_phone": "13800000044", "avoid_agent": li});
    let (status, task) = admin.post("/api/v1/tasks", body).await;
    assert_eq!((status, task["avoid_agent"].clone()), (201, json!(li)), "{task}");
    // Refused: the same agent preferred and avoided; an agent naming another.
    let both =
        json!({"kind": "complaint_follow_up", "customer_phone": "13800000045", "avoid_agent": li, "prefer_agent": li});
    let (status, body) = admin.post("/api/v1/tasks", both).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_field")), "{body}");
    let nobody = json!({"kind": "complaint_follow_up", "customer_phone": "13800000045", "avoid_agent": "01a252d6-6a45-7627-89b5-1a58ce0ed703"});
    let (status, body) = admin.post("/api/v1/tasks", nobody).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_field")), "{body}");
    server.stop().await;

    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    let mut li_console = server.console("li").await;
    assert!(li_console.expect_within("offer", Duration::from_millis(700)).await.is_none(), "still avoided");
    server.add_agent(&admin, "wang", &["complaints"]).await;
    let mut wang_console = server.console("wang").await;
    let offer = wang_console.expect("offer").await;
    assert_eq!(offer["task"]["id"], task["id"]);
    server.stop().await;
}
