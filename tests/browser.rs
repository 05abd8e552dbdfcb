//! The pages in a real headless Chromium: an agent takes an offer created
//! over REST and completes it with a summary on `/agent`, while a
//! supervisor's `/wallboard` in a second browser follows the figures live;
//! a supervisor runs a what-if on `/simulations` and reads its charts.
//! Screenshots of each page are kept in `target/browser-artefacts/`.

mod common;

use std::time::Duration;

use common::TestServer;
use common::browser::Driver;
use serde_json::json;
use switchboard::testing::TestDb;

/// What "live" means here: the wallboard shows a change within this long
/// of the action that caused it (WebDriver's own round trips included).
const LIVE: Duration = Duration::from_secs(1);
const PAGE_LOAD: Duration = Duration::from_secs(15);

/// One test's browsers at a time: the timings above are the server's, not
/// those of two Chromiums sharing the machine's cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn an_agent_completes_an_offer_while_the_wallboard_follows_live() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(driver) = Driver::start().await else { return };
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let base = format!("http://{}", server.addr);
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["callbacks", "hotline"]).await;
    let sup = json!({"username": "sun", "password": "supervisor-password", "role": "supervisor"});
    assert_eq!(admin.post("/api/v1/users", sup).await.0, 201);
    admin.put("/api/v1/customers/13800138000", json!({"name": "Wang Li", "notes": "prefers calls after 18:00"})).await;

    // The supervisor's wallboard: Chinese labels first, English at a click.
    let wall = driver.browser().await;
    wall.go(&format!("{base}/wallboard")).await;
    wall.log_in("sun", "supervisor-password").await;
    wall.wait_for("body[data-seq]", PAGE_LOAD).await;
    wall.wait_text("[data-t=handled_today]", "今日处理", LIVE).await;
    wall.screenshot("wallboard-zh").await;
    wall.click(".lang-toggle").await;
    wall.wait_text("[data-t=handled_today]", "Handled today", LIVE).await;
    wall.wait_text("#total-waiting", "0", LIVE).await;
    wall.wait_text("#handled-today", "0", LIVE).await;
    // Set once; a reload would lose it.
    wall.eval("window.loadedOnce = true; return null;").await;

    // The agent logs in and goes to lunch, so the next task waits.
    let agent = driver.browser().await;
    agent.go(&format!("{base}/agent")).await;
    agent.log_in("li", "agent-password").await;
    agent.wait_for("#state.connected", PAGE_LOAD).await;
    agent.wait_text("#my-status", "空闲", PAGE_LOAD).await;
    agent.click("#set-lunch").await;
    agent.wait_text("#my-status", "小休 (lunch)", LIVE).await;

    let (status, task) = admin
        .post("/api/v1/tasks", json!({"kind": "new_signup_callback", "customer_phone": "13800138000", "reason": "registered for the expo"}))
        .await;
    assert_eq!(status, 201, "{task}");
    let task_id = task["id"].as_str().unwrap().to_owned();
    let took = wall.wait_text("#total-waiting", "1", LIVE).await;
    println!("wallboard: waiting 0 -> 1 in {took:?} after the REST call returned");
    // The queue's estimated wait for a newcomer: its only agent is expected
    // back from lunch when a break ends (`[planning] break_minutes`, 15),
    // then takes the waiting callback (180 s assumed, 30 s wrap-up): 18:30.
    // The staffing tile counts nobody at work. Published each second.
    wall.wait_text("td[data-wait='callbacks']", "18:30", Duration::from_secs(3)).await;
    wall.wait_text("#at-work", "0", Duration::from_secs(3)).await;
    wall.screenshot("wallboard-estimated-wait").await;

    // Back from lunch: the offer pops up, and the task stops waiting.
    agent.click("#set-available").await;
    let took = wall.wait_text("#total-waiting", "0", LIVE).await;
    println!("wallboard: waiting 1 -> 0 in {took:?} after the agent became available");
    wall.wait_text("#at-work", "1", Duration::from_secs(3)).await;
    agent.wait_for(&format!("section.offer[data-task='{task_id}'] button.accept"), LIVE).await;
    let pop = agent.text("section.offer").await.unwrap();
    for shown in ["Wang Li", "prefers calls after 18:00", "registered for the expo", "13800138000"] {
        assert!(pop.contains(shown), "the screen-pop shows {shown:?}: {pop}");
    }
    let countdown = agent.text("section.offer dd.deadline").await.unwrap();
    assert!(countdown.contains(':'), "the deadline counts down: {countdown:?}");
    agent.screenshot("agent-offer").await;

    agent.click("section.offer button.accept").await;
    agent.wait_for(&format!(".held-task[data-task='{task_id}']"), LIVE).await;
    agent.type_into(".held-task textarea.summary", "confirmed 2 seats for the expo").await;
    agent.eval("document.querySelector('.held-task select.outcome').value = 'reached'; return null;").await;
    // Re-drawn (here by switching language there and back), the console
    // keeps what the agent was writing.
    agent.click(".lang-toggle").await;
    agent.click(".lang-toggle").await;
    let draft = agent.eval("return document.querySelector('.held-task textarea.summary').value;").await;
    assert_eq!(draft, json!("confirmed 2 seats for the expo"));
    agent.screenshot("agent-held").await;
    agent.click(".held-task button.complete").await;
    let took = wall.wait_text("#handled-today", "1", LIVE).await;
    println!("wallboard: handled 0 -> 1 in {took:?} after the agent completed");
    agent.wait_text("#held", "无", LIVE).await;
    assert_eq!(wall.eval("return window.loadedOnce === true;").await, json!(true), "the wallboard never reloaded");
    assert_eq!(wall.text("#abandon-rate").await.as_deref(), Some("–"), "no calls yet: no abandon rate");
    wall.screenshot("wallboard").await;

    // A hotline call: the interval now running has had one, which needs
    // one agent, and one is at work (no one was scheduled).
    let (status, _) =
        admin.post("/api/v1/tasks", json!({"kind": "inbound_call", "customer_phone": "13800138009"})).await;
    assert_eq!(status, 201);
    wall.wait_text("#staffing tr.now td:nth-child(2)", "≈1", Duration::from_secs(3)).await;
    wall.wait_text("#staffing tr.now td:nth-child(3)", "1", LIVE).await;
    wall.wait_text("#staffing tr.now td:nth-child(5)", "0", LIVE).await;
    wall.wait_text("#needed-now", "1", LIVE).await;
    wall.wait_text("#at-work", "1", LIVE).await;
    wall.eval("document.getElementById('staffing').scrollIntoView(); return null;").await;
    wall.screenshot("wallboard-staffing").await;

    // The record holds what the agent wrote.
    let (_, record) = admin.get(&format!("/api/v1/tasks/{task_id}")).await;
    let started = std::time::Instant::now();
    let mut record = record;
    while record["status"] != "completed" && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        record = admin.get(&format!("/api/v1/tasks/{task_id}")).await.1;
    }
    assert_eq!(record["status"], "completed", "{record}");
    let attempt = &record["attempts"][0];
    assert_eq!(
        (&attempt["outcome"], &attempt["summary"]),
        (&json!("reached"), &json!("confirmed 2 seats for the expo")),
        "{record}"
    );

    // The agent cannot watch the wallboard: the page refuses it.
    agent.go(&format!("{base}/wallboard")).await;
    agent.wait_text("#login-error", "此页面仅限主管/管理员", PAGE_LOAD).await;
    agent.screenshot("wallboard-refused").await;

    wall.close().await;
    agent.close().await;
    server.stop().await;
}

#[tokio::test]
async fn a_dispatcher_sees_new_car_orders_on_the_board_without_reload() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(driver) = Driver::start().await else { return };
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    let body = json!({"username": "zhou", "password": "agent-password", "role": "dispatcher", "skills": ["travel"]});
    assert_eq!(admin.post("/api/v1/users", body).await.0, 201);
    let body = json!({"name": "王师傅", "phone": "13900001111", "seats": 6, "area": "PVG"});
    assert_eq!(admin.post("/api/v1/drivers", body).await.0, 201);

    let desk = driver.browser().await;
    desk.go(&format!("http://{}/dispatch", server.addr)).await;
    desk.log_in("zhou", "agent-password").await;
    desk.wait_for("#board table", PAGE_LOAD).await;
    assert!(desk.text("#board").await.unwrap().contains("王师傅"), "the drivers are on the board");
    desk.eval("window.loadedOnce = true; return null;").await;

    let time = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(5);
    let time = jiff::Timestamp::from_second(time.as_second()).unwrap().to_string();
    let body = json!({"kind": "dropoff", "passenger": "张三", "phone": "13800138000", "passengers": 2, "airport": "PVG", "time": time});
    let (status, order) = admin.post("/api/v1/car-orders", body).await;
    assert_eq!(status, 201, "{order}");
    desk.wait_for(&format!("#board tr[data-order='{}']", order["id"].as_str().unwrap()), LIVE * 3).await;
    assert!(desk.text("#board").await.unwrap().contains("张三 13800138000"));
    assert_eq!(desk.eval("return window.loadedOnce === true;").await, json!(true), "the board never reloaded");
    desk.screenshot("dispatch").await;
    desk.close().await;
    server.stop().await;
}

/// On a call in hand the console asks the week-before question for each
/// coming event the customer registered for (确认是否到场,统计预到场人数),
/// registers them for another (代报名) and updates their file.
#[tokio::test]
async fn an_agent_counts_attendance_registers_and_updates_a_customer_from_the_console() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(driver) = Driver::start().await else { return };
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["callbacks"]).await;
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let day = |n: i64| {
        let today = jiff::Timestamp::now().to_zoned(tz.clone()).date();
        today.checked_add(jiff::Span::new().days(n)).unwrap().to_string()
    };
    for (id, name, date) in [("floor-expo", "安信地板专场", day(10)), ("spring-show", "春季家装展", day(20))]
    {
        let (status, body) =
            admin.put(&format!("/api/v1/events/{id}"), json!({"name": name, "date": date, "kind": "special"})).await;
        assert_eq!(status, 200, "{body}");
    }
    let signup = json!({"customer_phone": "13800138000", "customer_kind": "new", "event_id": "floor-expo",
                        "event_date": day(10), "event_kind": "special"});
    assert_eq!(admin.post("/api/v1/registrations", signup).await.0, 201);

    let agent = driver.browser().await;
    agent.go(&format!("http://{}/agent", server.addr)).await;
    agent.log_in("li", "agent-password").await;
    agent.wait_for("section.offer button.accept", PAGE_LOAD).await;
    agent.click("section.offer button.accept").await;
    agent.wait_for(".held-task .attendance[data-event='floor-expo'] button.save-attendance", LIVE * 3).await;
    agent.eval("document.querySelector('.held-task .attendance input.people').value = '3'; return null;").await;
    agent.click(".held-task .attendance button.save-attendance").await;
    agent.wait_text(".held-task .attendance span.muted", "预到场人数 3", LIVE * 3).await;
    agent.eval("document.querySelector('.held-task .register select.event').value = 'spring-show'; return null;").await;
    agent.click(".held-task .register button.register-event").await;
    agent.screenshot("agent-events").await;
    let started = std::time::Instant::now();
    loop {
        let (_, show) = admin.get("/api/v1/events/spring-show").await;
        if show["attendance"]["registered"] == 1 {
            break;
        }
        assert!(started.elapsed() < LIVE * 3, "registered from the console: {show}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, expo) = admin.get("/api/v1/events/floor-expo").await;
    assert_eq!(expo["attendance"]["expected_people"], 3, "{expo}");

    // The customer moved: the agent updates the file on the call.
    agent.click(".held-task details.file-editor summary").await;
    agent.type_into(".held-task input.file-region", "华南").await;
    agent.type_into(".held-task input.file-tags", "VIP，回头客").await;
    agent.click(".held-task button.save-file").await;
    agent.wait_text(".held-task span.file-saved", "已保存", LIVE * 3).await;
    agent.screenshot("agent-customer-file").await;
    let (_, file) = admin.get("/api/v1/customers/13800138000").await;
    assert_eq!(
        (&file["customer"]["region"], &file["customer"]["tags"]),
        (&json!("华南"), &json!(["VIP", "回头客"])),
        "{file}"
    );
    agent.close().await;
    server.stop().await;
}

#[tokio::test]
async fn a_supervisor_runs_a_what_if_and_reads_it_as_charts() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(driver) = Driver::start().await else { return };
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    config.dispatch.wrap_up_secs = 0;
    let server = TestServer::start_with(config).await;
    let base = format!("http://{}", server.addr);
    let admin = server.admin().await;
    // A recorded day: two callbacks done by one agent.
    server.add_agent(&admin, "li", &["callbacks"]).await;
    let mut li = server.console("li").await;
    for phone in ["13800138001", "13800138002"] {
        admin.post("/api/v1/tasks", json!({"kind": "new_signup_callback", "customer_phone": phone})).await;
        let offer = li.expect("offer").await;
        li.send(json!({"type": "accept", "task_id": offer["task"]["id"]})).await;
        li.expect("task_assigned").await;
        li.send(json!({"type": "complete", "task_id": offer["task"]["id"], "outcome": "reached", "ref": phone})).await;
        while li.expect("ack").await["ref"] != phone {}
    }
    let sup = json!({"username": "sun", "password": "supervisor-password", "role": "supervisor"});
    assert_eq!(admin.post("/api/v1/users", sup).await.0, 201);

    let page = driver.browser().await;
    page.go(&format!("{base}/simulations")).await;
    page.log_in("sun", "supervisor-password").await;
    page.wait_for("form#ask", PAGE_LOAD).await;
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap()).date();
    let set = format!(
        "const f = document.getElementById('ask'); f.from.value = '{}'; f.to.value = '{}'; return null;",
        today.yesterday().unwrap(),
        today.tomorrow().unwrap()
    );
    page.eval(&set).await;
    // Nobody who serves callbacks: none would have been done.
    page.eval(r#"document.getElementById('ask').staffing.value = '{"agents": [{"name": "m", "skills": ["marketing"], "shift": "00:00-23:59"}]}'; return null;"#).await;
    page.click("form#ask button[type=submit]").await;
    page.wait_for("body[data-shown=done]", Duration::from_secs(20)).await;
    page.wait_for("#chart-callbacks rect.bar.recorded", LIVE).await;
    let recorded = page.text("tr[data-figure=callbacks_done] td:nth-child(2)").await.unwrap();
    let simulated = page.text("tr[data-figure=callbacks_done] td:nth-child(3)").await.unwrap();
    assert_eq!((recorded.as_str(), simulated.as_str()), ("2", "0"));
    page.wait_text("#runs tr td:nth-child(3)", "完成", LIVE).await;
    page.screenshot("simulations").await;
    page.click(".lang-toggle").await;
    page.wait_text("tr[data-figure=callbacks_done] td:first-child", "Callbacks done", LIVE).await;
    page.screenshot("simulations-en").await;
    page.eval("document.querySelector('.charts').scrollIntoView(); return null;").await;
    page.screenshot("simulations-charts").await;

    // A bad change is refused with the key named, on the page.
    page.eval("document.getElementById('ask').changes.value = '[dispatch]\\nwrap_up_secs = \"soon\"'; return null;")
        .await;
    page.click("form#ask button[type=submit]").await;
    page.wait_for("#ask-error:not(:empty)", LIVE).await;
    let error = page.text("#ask-error").await.unwrap();
    assert!(error.contains("wrap_up_secs"), "{error}");
    page.close().await;
    server.stop().await;
}
