//! Warranty customers called back, every one (seed 001 7dc、3dc回访,
//! 保修期内客户回访率为100%), and the morning's review of after-sales items
//! left open (seed 004 对前一天的遗留售后问题进行跟踪), on SQLite and
//! PostgreSQL.

use std::time::{Duration, Instant};

use serde_json::json;
use switchboard::domain::{Phone, TaskKind};
use switchboard::rules::dispatch::TaskDraft;
use switchboard::store::NewWarranty;
use switchboard::testing::TestDb;

use super::code;
use crate::common::{TestServer, open_now, stored_tasks};

#[tokio::test]
async fn warranty_customers_are_called_back_reviewed_and_counted_on_sqlite() {
    warranty_customers_are_called_back_reviewed_and_counted(TestDb::sqlite()).await;
}

#[tokio::test]
async fn warranty_customers_are_called_back_reviewed_and_counted_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    warranty_customers_are_called_back_reviewed_and_counted(db).await;
}

async fn warranty_customers_are_called_back_reviewed_and_counted(db: TestDb) {
    let mut config = TestServer::config(&db);
    open_now(&mut config);
    let rules = config.rules().unwrap();
    let cal = rules.calendar.clone();
    let now = jiff::Timestamp::now();
    let today = cal.date_of(now);
    let days = |n: i64| today.checked_add(jiff::Span::new().days(n)).unwrap();

    // Yesterday's 3dc callback of a customer, never made: stored before the
    // server starts, as a node that ran yesterday would have left it.
    let store = db.store().await;
    let yesterday = days(-1);
    let left = Phone::parse("13700137000").unwrap();
    let yesterday_noon = cal.at(yesterday, jiff::civil::time(12, 0, 0, 0));
    let kind = TaskKind::WarrantyCallback;
    let plan = rules.plan(kind, yesterday_noon, None, Some(cal.closing(yesterday)));
    let old = TaskDraft::new(&rules, kind, plan, left.clone(), None, yesterday_noon, None);
    let old_id = old.id.to_string();
    let stored = |id: &str, phone: &Phone, delivered, callbacks| NewWarranty {
        id: id.into(),
        customer_phone: phone.clone(),
        product: "电动车 X1".into(),
        serial_number: None,
        delivered_on: delivered,
        warranty_until: days(360),
        at: yesterday_noon,
        by: None,
        callbacks,
    };
    store.add_warranty(&stored("w-old", &left, days(-4), vec![(3, yesterday, old)])).await.unwrap();
    // Today's own callback, made yesterday: not left over yet.
    let due_today = Phone::parse("13200132000").unwrap();
    let plan = rules.plan(kind, yesterday_noon, None, Some(cal.closing(today)));
    let todays = TaskDraft::new(&rules, kind, plan, due_today.clone(), None, yesterday_noon, None);
    store.add_warranty(&stored("w-today", &due_today, days(-3), vec![(3, today, todays)])).await.unwrap();
    store.close().await;

    let server = TestServer::start_with(config.clone()).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["callbacks"]).await;

    // Bad input writes nothing.
    let body = |phone: &str, delivered: jiff::civil::Date, until: jiff::civil::Date| {
        json!({"customer_phone": phone, "product": "电动车 X1", "delivered_on": delivered.to_string(),
               "warranty_until": until.to_string()})
    };
    let (status, err) = admin
        .post(
            "/api/v1/warranties",
            json!({"customer_phone": "13800138000", "product": "X1", "warranty_until": "2027-01-01"}),
        )
        .await;
    assert_eq!((status, code(&err)), (422, "invalid_body"), "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("delivered_on"), "{err}");
    let (status, err) = admin.post("/api/v1/warranties", body("13800138000", days(-3), days(-4))).await;
    assert_eq!((status, code(&err)), (422, "invalid_field"), "{err}");
    let (_, all) = admin.get("/api/v1/warranties").await;
    assert_eq!(all.as_array().unwrap().len(), 2, "only the ones stored before: {all}");

    // Delivered yesterday: callbacks on days 3 and 7, scheduled.
    let (status, fresh) = admin.post("/api/v1/warranties", body("13900139000", days(-1), days(364))).await;
    assert_eq!(status, 201, "{fresh}");
    let planned: Vec<_> = fresh["callbacks"].as_array().unwrap().iter().map(|c| c["day"].clone()).collect();
    assert_eq!(planned, [json!(days(2).to_string()), json!(days(6).to_string())], "{fresh}");
    assert_eq!(fresh["callbacks"][0]["status"], "scheduled");
    // A warranty ending before day 7 gets only day 3's.
    let (_, short) = admin.post("/api/v1/warranties", body("13500135000", days(-1), days(4))).await;
    assert_eq!(short["callbacks"].as_array().unwrap().len(), 1, "{short}");

    // Delivered ten days ago and recorded late: one call today, offered.
    let mut console = server.console("li").await;
    let (_, late) = admin.post("/api/v1/warranties", body("13600136000", days(-10), days(355))).await;
    let (_, other) = admin.post("/api/v1/warranties", body("13300133000", days(-10), days(355))).await;
    assert_eq!(late["callbacks"].as_array().unwrap().len(), 1, "{late}");
    assert_eq!(
        (&late["callbacks"][0]["days_after"], &late["callbacks"][0]["day"]),
        (&json!(7), &json!(today.to_string()))
    );
    let mut reached = None;
    for _ in 0..8 {
        let offer = console.expect("offer").await;
        let id = offer["task"]["id"].clone();
        if id == late["callbacks"][0]["task_id"] {
            console.send(json!({"type": "accept", "task_id": id})).await;
            console.expect("task_assigned").await;
            console
                .send(json!({"type": "complete", "task_id": id, "outcome": "reached", "summary": "works well"}))
                .await;
            reached = Some(id);
            break;
        }
        console.send(json!({"type": "decline", "task_id": id})).await;
    }
    assert!(reached.is_some(), "the late callback was offered");
    let started = Instant::now();
    loop {
        let (_, mine) = admin.get("/api/v1/warranties?phone=13600136000").await;
        if mine[0]["callbacks"][0]["outcome"] == "reached" {
            assert_eq!(mine[0]["callbacks"][0]["status"], "completed");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{mine}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // This morning's review: yesterday's open callback, once, even after a
    // restart.
    let review = |tasks: Vec<switchboard::store::TaskRecord>| {
        tasks
            .into_iter()
            .map(|t| (t.customer_phone.as_str().to_owned(), t.reason.unwrap_or_default()))
            .collect::<Vec<_>>()
    };
    let reviews = review(stored_tasks(&db, TaskKind::AfterSalesReview).await);
    assert_eq!(reviews.len(), 1, "{reviews:?}");
    assert_eq!(reviews[0].0, left.as_str());
    assert!(reviews[0].1.contains(&format!("day-3 callback of {yesterday} still open")), "{reviews:?}");
    server.stop().await;
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(review(stored_tasks(&db, TaskKind::AfterSalesReview).await).len(), 1, "reviewed once a day");
    let (_, old) = admin.get("/api/v1/warranties?phone=13700137000").await;
    assert_eq!(old[0]["callbacks"][0]["task_id"], old_id.as_str());

    // Today's figures: three customers due today, one reached: under 100 %.
    let (_, report) = admin.get(&format!("/api/v1/reports/daily?date={today}")).await;
    let w = &report["warranty"];
    assert_eq!(
        (&w["customers_due"], &w["customers_called"], &w["customers_reached"]),
        (&json!(3), &json!(1), &json!(1)),
        "{w} ({other})"
    );
    assert_eq!(
        (&w["callback_rate"]["value"], &w["callback_rate"]["breached"]),
        (&json!(1.0 / 3.0), &json!(true)),
        "{w}"
    );
    let (_, month) = admin.get(&format!("/api/v1/reports/monthly?date={today}")).await;
    assert!(month["warranty"]["callbacks_due"].as_u64().unwrap() >= 2, "{month}");
    server.stop().await;
}
