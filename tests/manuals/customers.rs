//! The customer file (seed 001 五: 客户资料要求按地区详细登记 … 有变更的要及时
//! 更改): kept up to date by the agent on the call, each change in its
//! history, listed by region, on the next screen-pop; on SQLite and
//! PostgreSQL.

use serde_json::json;
use switchboard::rules::customer_file::FieldDef;
use switchboard::testing::TestDb;

use super::code;
use crate::common::TestServer;

#[tokio::test]
async fn the_customer_file_is_kept_up_to_date_with_its_history_on_sqlite() {
    the_customer_file_is_kept_up_to_date_with_its_history(TestDb::sqlite()).await;
}

#[tokio::test]
async fn the_customer_file_is_kept_up_to_date_with_its_history_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    the_customer_file_is_kept_up_to_date_with_its_history(db).await;
}

async fn the_customer_file_is_kept_up_to_date_with_its_history(db: TestDb) {
    let mut config = TestServer::config(&db);
    config.dispatch.wrap_up_secs = 0;
    config.customers.fields = vec![
        FieldDef { name: "dealer".into(), label: "经销商".into(), choices: vec![] },
        FieldDef { name: "level".into(), label: "客户级别".into(), choices: vec!["A".into(), "B".into()] },
    ];
    let mut wrong = config.clone();
    wrong.customers.fields.push(FieldDef { name: "Dealer".into(), label: "x".into(), choices: vec![] });
    assert!(wrong.rules().unwrap_err().to_string().contains("customers.fields"), "a bad field name is refused");

    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["callbacks"]).await;
    server.add_agent(&admin, "wang", &["travel"]).await;
    let (_, fields) = admin.get("/api/v1/customer-fields").await;
    assert_eq!(fields[1]["choices"], json!(["A", "B"]));
    let (status, _) = admin.put("/api/v1/customers/13800138000", json!({"name": "王力", "region": "华东"})).await;
    assert_eq!(status, 200);

    // The call: the screen-pop shows the record; li brings it up to date.
    let mut li = server.console("li").await;
    let call = json!({"kind": "new_signup_callback", "customer_phone": "13800138000"});
    admin.post("/api/v1/tasks", call.clone()).await;
    let offer = li.expect("offer").await;
    assert_eq!(offer["customer"]["customer"]["region"], "华东", "{offer}");
    li.send(json!({"type": "accept", "task_id": offer["task"]["id"]})).await;
    li.expect("task_assigned").await;
    let li_http = server.login("li", "agent-password").await;
    let file = "/api/v1/customers/13800138000";
    let moved = json!({"region": "华南", "address": "广州市天河区体育西路 1 号", "contact_person": "王经理",
                       "other_phones": ["020-8888 8888"], "tags": ["VIP", "回头客"],
                       "fields": {"dealer": "广州一店", "level": "A"}});
    // Wrong parts write nothing.
    for (bad, why) in [
        (json!({"region": "华南", "fields": {"colour": "red"}}), "colour"),
        (json!({"region": "华南", "fields": {"level": "C"}}), "level"),
        (json!({"region": "华南", "other_phones": ["13800138000"]}), "own number"),
    ] {
        let (status, err) = li_http.put(file, bad).await;
        assert_eq!((status, code(&err)), (422, "invalid_field"), "{why}: {err}");
    }
    let wang = server.login("wang", "agent-password").await;
    assert_eq!(code(&wang.put(file, moved.clone()).await.1), "not_your_work");
    let (status, saved) = li_http.put(file, moved).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!((&saved["region"], &saved["fields"]["level"]), (&json!("华南"), &json!("A")), "{saved}");
    assert_eq!(saved["other_phones"], json!(["02088888888"]));

    // Its history: each part, who changed it, newest first.
    let (_, history) = li_http.get(&format!("{file}/changes")).await;
    let parts: Vec<(&str, Option<&str>, Option<&str>)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["field"].as_str().unwrap(), h["old"].as_str(), h["changed_by_name"].as_str()))
        .collect();
    assert_eq!(parts.len(), 9, "{history}");
    assert!(parts.contains(&("region", Some("华东"), Some("li"))), "{history}");
    assert!(parts.contains(&("fields.dealer", None, Some("li"))), "{history}");
    assert_eq!(parts.last().unwrap().0, "name", "the admin's first record, oldest last");
    li.send(json!({"type": "complete", "task_id": offer["task"]["id"], "outcome": "reached"})).await;
    li.expect("ack").await;

    // Listed by region; the next screen-pop shows the new record.
    let (_, south) = admin.get("/api/v1/customers?region=%E5%8D%8E%E5%8D%97").await;
    assert_eq!(south.as_array().unwrap().len(), 1, "{south}");
    let (_, vip) = admin.get("/api/v1/customers?tag=VIP").await;
    assert_eq!(vip[0]["contact_person"], "王经理", "{vip}");
    assert_eq!(li_http.get("/api/v1/customers").await.0, 403, "agents do not list the CRM");
    admin.post("/api/v1/tasks", call).await;
    let offer = li.expect("offer").await;
    let c = &offer["customer"]["customer"];
    assert_eq!(
        (&c["address"], &c["fields"]["dealer"]),
        (&json!("广州市天河区体育西路 1 号"), &json!("广州一店")),
        "{offer}"
    );
    server.stop().await;
}
