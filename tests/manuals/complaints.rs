//! Complaints and partners, end to end: departments, both sides answered,
//! follow-up cases and the satisfaction rate; partner drivers' and inns'
//! violations and the drivers' ranking they change; the major complaints'
//! warning and the monthly red and black lists.

use super::*;

fn steps_of(case: &Value) -> Vec<String> {
    case["history"].as_array().unwrap().iter().map(|e| e["step"].as_str().unwrap().to_owned()).collect()
}

pub(super) fn code(err: &Value) -> &str {
    err["error"]["code"].as_str().unwrap_or("")
}

/// A complaint sent to the department it belongs to (上报所属的运营小组):
/// its users are told on the console, see and step the case; both sides
/// are answered; a follow-up case is opened on it; the satisfaction call's
/// "not satisfied" reopens it and "satisfied" closes it; the reports and
/// the wallboard give the satisfaction rate. A department's missed reply
/// goes to its lead. Bad input writes nothing.
#[tokio::test]
async fn a_case_goes_to_its_department_both_sides_are_answered_and_satisfaction_is_measured() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    let li = server.add_agent(&admin, "li", &["complaints"]).await;
    let zhao = server.add_agent(&admin, "zhao", &["complaints"]).await;
    let qian = server.add_agent(&admin, "qian", &["complaints"]).await;
    server.add_agent(&admin, "wang", &["complaints"]).await;
    let body = json!({"username": "sun", "password": "agent-password", "role": "supervisor"});
    let (_, sun_user) = admin.post("/api/v1/users", body).await;
    let sun = server.login("sun", "agent-password").await;

    // The department, and what it refuses with nothing written.
    let body = json!({"name": "物流部", "lead": qian, "members": [zhao]});
    let (status, logistics) = sun.post("/api/v1/departments", body).await;
    assert_eq!(status, 201, "{logistics}");
    let mut members: Vec<String> = serde_json::from_value(logistics["members"].clone()).unwrap();
    members.sort();
    let mut expected = vec![zhao.clone(), qian.clone()];
    expected.sort();
    assert_eq!(members, expected, "the lead is a member: {logistics}");
    let nobody = "01a23c2d-bf03-7054-942a-fa85abc6423e";
    for (body, status, expected) in [
        (json!({"name": "售后部", "lead": qian, "members": [nobody]}), 422, "unknown_user"),
        (json!({"name": "售后部", "lead": sun_user["id"]}), 422, "invalid_field"),
        (json!({"name": "售后部", "lead": li, "members": [zhao]}), 409, "in_other_department"),
        (json!({"name": "物流部", "lead": li}), 409, "department_name_taken"),
    ] {
        let (got, err) = sun.post("/api/v1/departments", body.clone()).await;
        assert_eq!((got, code(&err)), (status, expected), "{body}: {err}");
    }
    let li_http = server.login("li", "agent-password").await;
    let (_, departments) = li_http.get("/api/v1/departments").await;
    assert_eq!(departments.as_array().unwrap().len(), 1, "nothing written: {departments}");
    let (_, li_user) = admin.get(&format!("/api/v1/users/{li}")).await;
    assert_eq!(li_user["department_id"], Value::Null, "li stayed out of every department: {li_user}");

    // Li opens a complaint and sends it to the department: Zhao, online, is told.
    let mut zhao_console = server.console("zhao").await;
    let department = logistics["id"].clone();
    let complaint = json!({"channel": "phone", "customer_phone": "13900000011", "merchant": "Sunny Tiles",
        "category": "late delivery", "description": "tiles promised for Monday never came"});
    let mut bad = complaint.clone();
    bad["department"] = json!(nobody);
    let (status, err) = li_http.post("/api/v1/cases", bad).await;
    assert_eq!((status, code(&err)), (422, "unknown_department"), "{err}");
    let mut bad = complaint.clone();
    bad["follows"] = json!(nobody);
    let (status, err) = li_http.post("/api/v1/cases", bad).await;
    assert_eq!((status, code(&err)), (422, "unknown_case"), "{err}");
    let (_, none) = admin.get("/api/v1/cases").await;
    assert_eq!(none, json!([]), "nothing written");
    let mut sent = complaint.clone();
    sent["department"] = department.clone();
    let (status, case) = li_http.post("/api/v1/cases", sent).await;
    assert_eq!((status, &case["department_id"]), (201, &department), "{case}");
    assert_eq!(steps_of(&case), ["received", "sent"]);
    // Listed by when each falls due, which depends on the time of day the
    // test runs (the answer is due 24 h on, the reply at a working day's edge).
    let mut pending: Vec<&str> =
        case["pending"].as_array().unwrap().iter().map(|p| p["deadline"].as_str().unwrap()).collect();
    pending.sort();
    assert_eq!(pending, ["answer", "department_reply"], "{case}");
    let by: Vec<&str> = case["pending"].as_array().unwrap().iter().map(|p| p["by"].as_str().unwrap()).collect();
    assert!(by.windows(2).all(|w| w[0] <= w[1]), "soonest first: {case}");
    let notice = zhao_console.expect("case_sent").await;
    assert_eq!((&notice["case_id"], &notice["department_name"]), (&case["id"], &json!("物流部")), "{notice}");
    assert_eq!(notice["reply_by"], case["department_reply_by"]);

    // Zhao sees and steps it; Wang, outside the department, may not.
    let id = case["id"].as_str().unwrap().to_owned();
    let steps = format!("/api/v1/cases/{id}/steps");
    let zhao_http = server.login("zhao", "agent-password").await;
    let (_, listed) = zhao_http.get("/api/v1/cases").await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "the department's case is on Zhao's list: {listed}");
    let (status, replied) =
        zhao_http.post(&steps, json!({"step": "department_replied", "note": "redelivery booked for Friday"})).await;
    assert_eq!((status, &replied["pending"].as_array().unwrap().len()), (200, &1), "{replied}");
    let wang_http = server.login("wang", "agent-password").await;
    assert_eq!(wang_http.get(&format!("/api/v1/cases/{id}")).await.0, 403);
    assert_eq!(wang_http.post(&steps, json!({"step": "note", "note": "x"})).await.0, 403);
    let (_, wang_list) = wang_http.get("/api/v1/cases").await;
    assert_eq!(wang_list, json!([]));

    // Both sides answered (答复用户及被投诉方), each once.
    let (status, _) = li_http.post(&steps, json!({"step": "answered", "note": "redelivery Friday"})).await;
    assert_eq!(status, 200);
    let (status, both) = li_http.post(&steps, json!({"step": "party_answered", "note": "merchant told"})).await;
    assert_eq!(status, 200, "{both}");
    assert!(both["answered_at"].is_string() && both["party_answered_at"].is_string(), "{both}");
    let (status, err) = li_http.post(&steps, json!({"step": "party_answered"})).await;
    assert_eq!((status, code(&err)), (409, "step_not_allowed"));

    // A follow-up case on it, linked both ways, the customer taken from it.
    let body = json!({"channel": "phone", "follows": id, "description": "the redelivery was damaged too"});
    let (status, follow) = li_http.post("/api/v1/cases", body).await;
    assert_eq!((status, &follow["follows"], &follow["customer_phone"]), (201, &json!(id), &json!("13900000011")));
    assert_eq!(follow["merchant"], "Sunny Tiles", "{follow}");
    let (_, parent) = li_http.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(parent["follow_ups"], json!([follow["id"]]), "{parent}");
    assert!(steps_of(&parent).contains(&"follow_up_opened".to_owned()), "{parent}");

    // The satisfaction call: asked only once resolved, "why" required for
    // "not satisfied", which reopens the case; then "satisfied", once.
    let (status, err) = li_http.post(&steps, json!({"step": "satisfied"})).await;
    assert_eq!((status, code(&err)), (409, "step_not_allowed"), "not resolved yet");
    let (status, resolved) = li_http.post(&steps, json!({"step": "resolved"})).await;
    assert_eq!((status, &resolved["satisfied"]), (200, &Value::Null));
    assert!(resolved["follow_up_task"].is_string(), "the satisfaction call: {resolved}");
    let (status, err) = li_http.post(&steps, json!({"step": "not_satisfied"})).await;
    assert_eq!((status, code(&err)), (422, "invalid_field"), "{err}");
    let (status, reopened) =
        zhao_http.post(&steps, json!({"step": "not_satisfied", "note": "the tiles are the wrong colour"})).await;
    assert_eq!((status, &reopened["status"], &reopened["satisfied"]), (200, &json!("answered"), &json!(false)));
    let (status, _) = li_http.post(&steps, json!({"step": "resolved", "note": "replaced"})).await;
    assert_eq!(status, 200);
    let (status, closed) = li_http.post(&steps, json!({"step": "satisfied"})).await;
    assert_eq!((status, &closed["status"], &closed["satisfied"]), (200, &json!("resolved"), &json!(true)));
    let (status, err) = li_http.post(&steps, json!({"step": "satisfied"})).await;
    assert_eq!((status, code(&err)), (409, "step_not_allowed"), "one answer per resolution");
    let history = steps_of(&closed);
    assert_eq!(
        &history[history.len() - 4..],
        ["resolved", "not_satisfied", "resolved", "satisfied"],
        "the history is kept: {closed}"
    );

    // Today's report and the wallboard: one of two satisfied, under 98 %.
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let today = jiff::Timestamp::now().to_zoned(tz).date();
    let (status, report) = sun.get(&format!("/api/v1/reports/daily?date={today}")).await;
    assert_eq!(status, 200, "{report}");
    let s = &report["satisfaction"];
    assert_eq!((&s["centre"]["asked"], &s["centre"]["satisfied"]), (&json!(2), &json!(1)), "{s}");
    assert_eq!((&s["centre"]["rate"]["value"], &s["centre"]["rate"]["breached"]), (&json!(0.5), &json!(true)));
    assert_eq!((&s["by_department"][0]["name"], &s["by_department"][0]["asked"]), (&json!("物流部"), &json!(2)));
    assert_eq!((&s["by_agent"][0]["name"], &s["by_agent"][0]["satisfied"]), (&json!("li"), &json!(1)), "{s}");
    let started = Instant::now();
    loop {
        let (_ws, first) = Console::wallboard(server.addr, &sun).await;
        let board = &first["board"]["satisfaction"];
        if board["asked"] == 2 {
            assert_eq!((&board["satisfied"], &board["rate"]["value"]), (&json!(1), &json!(0.5)), "{board}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(12), "the wallboard shows {board}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // A case sent to the department ten days ago and never answered by it:
    // after a restart (the case watch's first round) its lead, Qian, is
    // given it, kept for her.
    let mut old = complaint.clone();
    old["department"] = department.clone();
    old["customer_phone"] = json!("13900000012");
    old["received_at"] = json!((jiff::Timestamp::now() - jiff::SignedDuration::from_hours(240)).to_string());
    let (status, old) = li_http.post("/api/v1/cases", old).await;
    assert_eq!((status, &old["overdue"]), (201, &json!(true)), "{old}");
    server.stop().await;
    let server = TestServer::start(&db).await;
    // (The satisfaction calls of the first case wait in the same queue.)
    let mut qian_console = server.console("qian").await;
    let mut escalated = None;
    for _ in 0..4 {
        let offer = qian_console.expect("offer").await;
        if offer["task"]["reason"].as_str().unwrap().contains("department's written reply") {
            escalated = Some(offer);
            break;
        }
        qian_console.send(json!({"type": "decline", "task_id": offer["task"]["id"]})).await;
    }
    let offer = escalated.expect("the department's missed reply is put before its lead");
    assert_eq!(offer["task"]["reserved"]["agent"], json!(qian), "{offer}");
    assert_eq!(offer["task"]["customer_phone"], "13900000012", "{offer}");
    server.stop().await;
}

/// Violations of partner drivers and inns are recorded with the penalty
/// and the feedback given (记录合作客栈和专车的违规行为,对处罚结果进行记录及反馈),
/// and a driver's recent ones rank them after a driver without; bad input
/// writes nothing.
#[tokio::test]
async fn violations_are_recorded_and_rank_a_driver_lower() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    let body = json!({"username": "zhou", "password": "agent-password", "role": "dispatcher", "skills": ["travel"]});
    assert_eq!(admin.post("/api/v1/users", body).await.0, 201);
    let dispatcher = server.login("zhou", "agent-password").await;
    let mut drivers = Vec::new();
    for (name, phone) in [("Aaron", "13900001111"), ("Zhou", "13900002222")] {
        let body = json!({"name": name, "phone": phone, "seats": 6, "area": "PVG"});
        let (status, driver) = dispatcher.post("/api/v1/drivers", body).await;
        assert_eq!(status, 201, "{driver}");
        drivers.push(driver["id"].as_str().unwrap().to_owned());
    }
    let (aaron, zhou) = (&drivers[0], &drivers[1]);
    let time = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(5)).to_string();
    let body = json!({"kind": "dropoff", "passenger": "张三", "phone": "13800138000", "passengers": 2,
        "airport": "PVG", "time": time});
    let (status, order) = dispatcher.post("/api/v1/car-orders", body).await;
    assert_eq!(status, 201, "{order}");
    let suggested = format!("/api/v1/car-orders/{}/suggested-drivers", order["id"].as_str().unwrap());
    let ranked = |list: &Value| -> Vec<String> {
        list.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(ranked(&dispatcher.get(&suggested).await.1), ["Aaron", "Zhou"], "alike: by name");

    // Zhou's violation of last spring is outside the 90 days; Aaron's of
    // yesterday counts: Zhou first now, Aaron after, with why.
    let long_ago = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 100)).to_string();
    let old = json!({"what": "late to the airport", "occurred_at": long_ago, "penalty": "warning"});
    assert_eq!(dispatcher.post(&format!("/api/v1/drivers/{zhou}/violations"), old).await.0, 201);
    let yesterday = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24)).to_string();
    let body = json!({"what": "smoked in the car", "occurred_at": yesterday, "penalty": "fined 200 yuan",
        "feedback": "told the driver and his fleet manager"});
    let path = format!("/api/v1/drivers/{aaron}/violations");
    let (status, violation) = dispatcher.post(&path, body).await;
    assert_eq!((status, &violation["penalty"], &violation["party"]), (201, &json!("fined 200 yuan"), &json!("driver")));
    let (_, list) = dispatcher.get(&suggested).await;
    assert_eq!(ranked(&list), ["Zhou", "Aaron"], "{list}");
    assert!(list[1]["reasons"].as_array().unwrap().contains(&json!("1 recent violation")), "{list}");

    // Bad input: nothing written.
    let nobody = "01a23c2d-bf03-7054-942a-fa85abc6423e";
    let (status, _) = dispatcher.post(&format!("/api/v1/drivers/{nobody}/violations"), json!({"what": "x"})).await;
    assert_eq!(status, 404);
    let future = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(2)).to_string();
    for body in [json!({"what": " "}), json!({"what": "x", "occurred_at": future})] {
        let (status, err) = dispatcher.post(&path, body.clone()).await;
        assert_eq!((status, code(&err)), (422, "invalid_field"), "{body}: {err}");
    }
    let (_, recorded) = dispatcher.get(&path).await;
    assert_eq!(recorded.as_array().unwrap().len(), 1, "{recorded}");
    assert_eq!(recorded[0]["feedback"], "told the driver and his fleet manager");

    // A partner inn's violation, on its record.
    let (status, inn) =
        dispatcher.post("/api/v1/inns", json!({"name": "云栖客栈", "front_desk_phone": "057188886666"})).await;
    assert_eq!(status, 201, "{inn}");
    let path = format!("/api/v1/inns/{}/violations", inn["id"].as_str().unwrap());
    let body = json!({"what": "booking left unprocessed for two hours", "penalty": "listing suspended for a day"});
    assert_eq!(dispatcher.post(&path, body).await.0, 201);
    let (_, recorded) = dispatcher.get(&path).await;
    assert_eq!(
        (recorded[0]["party"].as_str(), recorded[0]["penalty"].as_str()),
        (Some("inn"), Some("listing suspended for a day"))
    );
    assert_eq!(dispatcher.get(&format!("/api/v1/inns/{nobody}/violations")).await.0, 404);
    // Agents may not keep them.
    server.add_agent(&admin, "li", &["hotline"]).await;
    let agent = server.login("li", "agent-password").await;
    assert_eq!(agent.get(&path).await.0, 403);
    server.stop().await;
}

/// The month's red and black list nominations (红黑榜提名), confirmed by a
/// supervisor; a major complaint on the weekly warning while open; bad
/// input writes nothing.
#[tokio::test]
async fn last_months_merchant_lists_are_nominated_and_confirmed() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    let li = server.add_agent(&admin, "li", &["complaints"]).await;
    let body = json!({"username": "sun", "password": "agent-password", "role": "supervisor"});
    assert_eq!(admin.post("/api/v1/users", body).await.0, 201);
    let sun = server.login("sun", "agent-password").await;
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let today = jiff::Timestamp::now().to_zoned(tz.clone()).date();
    let last_month = today.first_of_month().checked_sub(jiff::Span::new().months(1)).unwrap();
    let month = last_month.strftime("%Y-%m").to_string();
    let received = last_month.at(10, 0, 0, 0).to_zoned(tz).unwrap().timestamp().to_string();
    let complaint = |merchant: &str, phone: &str| {
        json!({"channel": "phone", "customer_phone": phone, "merchant": merchant, "category": "quality",
            "description": "cracked", "owner": li, "received_at": received})
    };
    let mut sunny = Vec::new();
    for phone in ["13900000021", "13900000022", "13900000023"] {
        let (status, case) = sun.post("/api/v1/cases", complaint("Sunny Tiles", phone)).await;
        assert_eq!(status, 201, "{case}");
        sunny.push(case["id"].as_str().unwrap().to_owned());
    }
    let (_, blue) = sun.post("/api/v1/cases", complaint("Blue Lake", "13900000024")).await;
    let blue_steps = format!("/api/v1/cases/{}/steps", blue["id"].as_str().unwrap());
    assert_eq!(sun.post(&blue_steps, json!({"step": "resolved"})).await.0, 200);

    // A major complaint, marked once, on today's warning while open.
    let steps = format!("/api/v1/cases/{}/steps", sunny[0]);
    let (status, major) = sun.post(&steps, json!({"step": "marked_major", "note": "the press called"})).await;
    assert_eq!((status, &major["major"]), (200, &json!(true)), "{major}");
    assert_eq!(sun.post(&steps, json!({"step": "marked_major"})).await.0, 409);
    let (_, report) = sun.get(&format!("/api/v1/reports/weekly?date={today}")).await;
    let open: Vec<&Value> = report["open_major"].as_array().unwrap().iter().map(|c| &c["case_id"]).collect();
    assert_eq!(open, [&json!(sunny[0])], "{report}");

    // Last month's nominations: three complaints and a major one put Sunny
    // Tiles forward for the black list; Blue Lake's one, resolved, for the red.
    let path = format!("/api/v1/merchant-lists/{month}");
    let (status, lists) = sun.get(&path).await;
    assert_eq!(status, 200, "{lists}");
    let names = |v: &Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|n| n["merchant"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(names(&lists["nominations"]["black"]), ["Sunny Tiles"], "{lists}");
    assert_eq!(names(&lists["nominations"]["red"]), ["Blue Lake"], "{lists}");
    assert_eq!(lists["nominations"]["black"][0]["why"], json!(["3 complaints (rank 1)", "1 major complaint"]));
    let due = today.first_of_month().checked_add(jiff::Span::new().days(9)).unwrap();
    assert_eq!((&lists["confirm_before"], &lists["confirmed"]), (&json!(due.to_string()), &Value::Null));
    assert_eq!(lists["overdue"], json!(today >= due), "{lists}");

    // Bad input: nothing written.
    let this_month = today.strftime("%Y-%m").to_string();
    for (path, body) in [
        (format!("/api/v1/merchant-lists/{this_month}"), json!({"red": [], "black": []})),
        ("/api/v1/merchant-lists/2026-13".to_owned(), json!({"red": [], "black": []})),
        (path.clone(), json!({"red": ["Sunny Tiles"], "black": ["Sunny Tiles"]})),
        (path.clone(), json!({"red": [" "], "black": []})),
    ] {
        let (status, err) = sun.put(&path, body.clone()).await;
        assert_eq!((status, code(&err)), (422, "invalid_field"), "{path} {body}: {err}");
    }
    assert_eq!(sun.get(&path).await.1["confirmed"], Value::Null);
    let li_http = server.login("li", "agent-password").await;
    assert_eq!(li_http.get(&path).await.0, 403);

    // Confirmed as nominated: no longer overdue.
    let (status, done) = sun.put(&path, json!({"red": ["Blue Lake"], "black": ["Sunny Tiles"]})).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!((&done["confirmed"]["black"], &done["overdue"]), (&json!(["Sunny Tiles"]), &json!(false)));
    server.stop().await;
}
