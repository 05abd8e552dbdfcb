//! Private-car drivers over REST, on SQLite and PostgreSQL.

mod common;

use common::TestServer;
use serde_json::json;
use switchboard::testing::TestDb;

async fn drivers_are_kept_by_dispatchers(db: &TestDb) {
    let server = TestServer::start(db).await;
    let admin = server.admin().await;
    let body = json!({"username": "zhou", "password": "dispatcher-password", "role": "dispatcher"});
    assert_eq!(admin.post("/api/v1/users", body).await.0, 201);
    let dispatcher = server.login("zhou", "dispatcher-password").await;

    let (status, wang) = dispatcher
        .post("/api/v1/drivers", json!({"name": "王师傅", "phone": "13900001111", "seats": 6, "area": "浦东机场"}))
        .await;
    assert_eq!(status, 201, "{wang}");
    assert_eq!((&wang["status"], &wang["seats"], &wang["vehicle"]), (&json!("available"), &json!(6), &json!(null)));
    let body = json!({"name": "Li", "phone": "13900002222", "seats": 4, "area": "Hongqiao", "vehicle": "Buick GL8 沪A12345",
        "status": "off_duty"});
    let (status, li) = dispatcher.post("/api/v1/drivers", body).await;
    assert_eq!(status, 201, "{li}");

    // Bad input: a clear 4xx, nothing written.
    for (body, code) in [
        (json!({"name": "X", "phone": "13900003333", "seats": 0, "area": "a"}), 422),
        (json!({"name": "X", "phone": "13900003333", "seats": 61, "area": "a"}), 422),
        (json!({"name": " ", "phone": "13900003333", "seats": 4, "area": "a"}), 422),
        (json!({"name": "X", "phone": "13900003333", "seats": 4, "area": ""}), 422),
        (json!({"name": "X", "phone": "not a phone", "seats": 4, "area": "a"}), 422),
        (json!({"name": "X", "phone": "13900003333", "seats": 4}), 422),
        (json!({"name": "X", "phone": "13900001111", "seats": 4, "area": "a"}), 409),
    ] {
        let (status, err) = dispatcher.post("/api/v1/drivers", body.clone()).await;
        assert_eq!(status, code, "{body} -> {err}");
        assert!(err["error"]["code"].is_string(), "{err}");
    }
    let (_, all) = dispatcher.get("/api/v1/drivers").await;
    assert_eq!(all.as_array().unwrap().len(), 2, "nothing half-written: {all}");

    let (_, free) = dispatcher.get("/api/v1/drivers?status=available").await;
    assert_eq!(free.as_array().unwrap().iter().map(|d| &d["name"]).collect::<Vec<_>>(), [&json!("王师傅")]);
    let li_path = format!("/api/v1/drivers/{}", li["id"].as_str().unwrap());
    let (status, li) = dispatcher.patch(&li_path, json!({"status": "available"})).await;
    assert_eq!((status, &li["status"]), (200, &json!("available")), "{li}");
    let (_, free) = dispatcher.get("/api/v1/drivers?status=available").await;
    assert_eq!(free.as_array().unwrap().len(), 2);
    assert_eq!(dispatcher.patch(&li_path, json!({"status": "asleep"})).await.0, 422);
    let unknown = format!("/api/v1/drivers/{}", switchboard::domain::DriverId::new());
    assert_eq!(dispatcher.get(&unknown).await.0, 404);
    assert_eq!(dispatcher.patch(&unknown, json!({"status": "available"})).await.0, 404);

    // Agents do not keep drivers.
    server.add_agent(&admin, "li", &["callbacks"]).await;
    let agent = server.login("li", "agent-password").await;
    assert_eq!(agent.get("/api/v1/drivers").await.0, 403);
    let body = json!({"name": "X", "phone": "13900004444", "seats": 4, "area": "a"});
    assert_eq!(agent.post("/api/v1/drivers", body).await.0, 403);
    server.stop().await;
}

#[tokio::test]
async fn drivers_on_sqlite() {
    drivers_are_kept_by_dispatchers(&TestDb::sqlite()).await;
}

#[tokio::test]
async fn drivers_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    drivers_are_kept_by_dispatchers(&db).await;
}
