//! The configuration changed while the centre runs, end to end: checked
//! first, applied at one instant with consoles open, recorded, and in
//! force for what comes next.

mod common;

use std::time::Duration;

use common::TestServer;
use jiff::Timestamp;
use serde_json::{Value, json};
use switchboard::testing::TestDb;

const MARKETING_AT_60: &str = "[kinds.marketing_no_show]\npriority = 60\n\
     [kinds.event_recommendation]\npriority = 60\n[kinds.marketing_attended_no_order]\npriority = 60\n\
     [dispatch]\noffer_timeout_secs = 40\n";

async fn marketing_task(admin: &common::Http, kind: &str) -> Value {
    let (status, task) = admin.post("/api/v1/tasks", json!({"kind": kind, "customer_phone": "13800000050"})).await;
    assert_eq!(status, 201, "{task}");
    task
}

#[tokio::test]
async fn a_reload_re_plans_waiting_work_with_consoles_open_and_is_recorded() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    let li = server.add_agent(&admin, "li", &["marketing"]).await;
    let mut console = server.console("li").await;
    console.send(json!({"type": "set_status", "status": "break", "reason": "meeting"})).await;
    while console.expect("status").await["status"] != "break" {}
    let no_show = marketing_task(&admin, "marketing_no_show").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    marketing_task(&admin, "event_recommendation").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let attended = marketing_task(&admin, "marketing_attended_no_order").await;
    assert_eq!((no_show["priority"].as_u64(), attended["priority"].as_u64()), (Some(51), Some(55)));

    let (status, applied) = admin.put("/api/v1/config", json!({"toml": MARKETING_AT_60, "reevaluate": true})).await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(applied["version"], 1);
    assert_eq!(applied["replanned"], 3);
    let keys: Vec<&str> = applied["changes"].as_array().unwrap().iter().map(|c| c["key"].as_str().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "dispatch.offer_timeout_secs",
            "kinds.event_recommendation.priority",
            "kinds.marketing_attended_no_order.priority",
            "kinds.marketing_no_show.priority"
        ]
    );
    // Stored: a restart would keep the new priority.
    let (_, stored) = admin.get(&format!("/api/v1/tasks/{}", no_show["id"].as_str().unwrap())).await;
    assert_eq!(stored["priority"], 60);

    // The console was not closed: the agent comes back from the break on
    // it and is offered the first queued of the three, for 40 s.
    console.send(json!({"type": "set_status", "status": "available"})).await;
    let offer = console.expect("offer").await;
    assert_eq!(offer["task"]["id"], no_show["id"], "one priority now: the order they were queued in");
    assert_eq!(offer["task"]["priority"], 60);
    let expires: Timestamp = offer["expires_at"].as_str().unwrap().parse().unwrap();
    let left = expires.duration_since(Timestamp::now()).as_secs_f64();
    assert!((35.0..=40.5).contains(&left), "the new offer timeout: {left} s");

    // Work created after the reload is planned by the new rules.
    let newer = marketing_task(&admin, "event_recommendation").await;
    assert_eq!(newer["priority"], 60);

    // The change log says who, how and what.
    let (status, log) = admin.get("/api/v1/config/changes").await;
    assert_eq!(status, 200, "{log}");
    let (_, me) = admin.get("/api/v1/me").await;
    assert_eq!(log.as_array().unwrap().len(), 1);
    assert_eq!((log[0]["version"].clone(), log[0]["source"].clone()), (json!(1), json!("api")));
    assert_eq!((log[0]["changed_by"].clone(), log[0]["reevaluate"].clone()), (me["id"].clone(), json!(true)));
    assert_eq!(log[0]["changes"], applied["changes"]);

    // Agents may neither change it nor read the log.
    let agent = server.login("li", "agent-password").await;
    assert_eq!(agent.put("/api/v1/config", json!({"toml": ""})).await.0, 403);
    assert_eq!(agent.get("/api/v1/config/changes").await.0, 403);
    let _ = li;
    server.stop().await;
}

#[tokio::test]
async fn a_bad_or_non_live_change_is_refused_by_key_and_changes_nothing() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    for (toml, code, names) in [
        ("[dispatch]\noffer_timeout_secs = 0\n", "invalid_config", "dispatch.offer_timeout_secs: must be 1-600"),
        ("[dispatch]\nofer_timeout_secs = 3\n", "invalid_config", "ofer_timeout_secs"),
        ("[kinds.inbound_call]\npriority = \"high\"\n", "invalid_config", "kinds.inbound_call.priority"),
        (
            "[dispatch]\nwrap_up_secs = 5\n[server]\nhttp = \"127.0.0.1:1\"\n",
            "not_live",
            "server.http: a listening address",
        ),
        ("[server]\ndatabase_url = \"sqlite:elsewhere.db\"\n", "not_live", "server.database_url: the database"),
        (
            "queues = [\"hotline\", \"callbacks\", \"marketing\", \"travel\", \"complaints\", \"vip\"]\n",
            "not_live",
            "queues: read when the server starts",
        ),
        ("not toml at all [", "invalid_config", ""),
    ] {
        let (status, body) = admin.put("/api/v1/config", json!({"toml": toml})).await;
        assert_eq!((status, body["error"]["code"].as_str()), (422, Some(code)), "{toml}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(names), "{toml}: {body}");
    }
    let (_, log) = admin.get("/api/v1/config/changes").await;
    assert_eq!(log, json!([]), "nothing recorded");
    // The running rules are the old ones: a new offer has 15 s.
    server.add_agent(&admin, "li", &["hotline"]).await;
    let mut console = server.console("li").await;
    admin.post("/api/v1/tasks", json!({"kind": "inbound_call", "customer_phone": "13800000051"})).await;
    let offer = console.expect("offer").await;
    let expires: Timestamp = offer["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(expires.duration_since(Timestamp::now()).as_secs_f64() <= 15.5);
    // A change that changes nothing records nothing.
    let (status, applied) = admin.put("/api/v1/config", json!({"toml": "[dispatch]\noffer_timeout_secs = 15\n"})).await;
    assert_eq!((status, applied["version"].clone(), applied["changes"].clone()), (200, Value::Null, json!([])));
    server.stop().await;
}

#[tokio::test]
async fn a_change_made_live_outlives_a_restart() {
    let db = TestDb::sqlite();
    let config = TestServer::config(&db);
    let server = TestServer::start_with(config.clone()).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["hotline"]).await;
    let change = json!({"toml": "[dispatch]\noffer_timeout_secs = 40\n"});
    assert_eq!(admin.put("/api/v1/config", change).await.0, 200);
    server.stop().await;

    // The same node started again (or another node taking over): the
    // recorded version applies over the configuration it was started with.
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    let mut console = server.console("li").await;
    admin.post("/api/v1/tasks", json!({"kind": "inbound_call", "customer_phone": "13800000052"})).await;
    let offer = console.expect("offer").await;
    let expires: Timestamp = offer["expires_at"].as_str().unwrap().parse().unwrap();
    let left = expires.duration_since(Timestamp::now()).as_secs_f64();
    assert!((35.0..=40.5).contains(&left), "the recorded offer timeout: {left} s");
    server.stop().await;
}

#[path = "common/binary.rs"]
mod bin;

/// `switchboard reload ARGS --data-dir DIR --config FILE`: its success,
/// standard output and standard error.
fn reload_command(data: &std::path::Path, file: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out =
        bin::binary().arg("reload").args(args).arg("--data-dir").arg(data).arg("--config").arg(file).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

async fn changes_until(admin: &common::Http, count: usize) -> Value {
    for _ in 0..100 {
        let (_, log) = admin.get("/api/v1/config/changes").await;
        if log.as_array().is_some_and(|l| l.len() >= count) {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the change log did not reach {count} entries");
}

#[tokio::test]
async fn the_binary_reloads_its_file_on_sighup_and_when_the_command_asks() {
    let data = switchboard::testing::temp_dir("reload");
    let file = data.join("switchboard.toml");
    std::fs::write(&file, "[dispatch]\noffer_timeout_secs = 15\n").unwrap();
    let (dir, path) = (data.to_str().unwrap(), file.to_str().unwrap());
    let (server, addr) = bin::serve(&["--data-dir", dir, "--config", path], &[]);
    bin::add_admin(&["--data-dir", dir, "--config", path], "a long password");
    let admin = common::Http::login(addr, "admin", "a long password").await;

    // SIGHUP: the file is read again and what changed applied.
    std::fs::write(&file, "[dispatch]\noffer_timeout_secs = 25\n").unwrap();
    let hup = std::process::Command::new("kill").args(["-HUP", &server.pid().to_string()]).status().unwrap();
    assert!(hup.success());
    let log = changes_until(&admin, 1).await;
    assert_eq!(log[0]["source"], "signal");
    assert_eq!(log[0]["changes"], json!([{"key": "dispatch.offer_timeout_secs", "from": 15, "to": 25}]));

    // `switchboard reload --reevaluate`: asked through the store, answered
    // by the server.
    std::fs::write(&file, "[dispatch]\noffer_timeout_secs = 25\n[kinds.event_recommendation]\npriority = 77\n")
        .unwrap();
    let (ok, said, err) = reload_command(&data, &file, &["--reevaluate"]);
    assert!(ok, "{said}{err}");
    assert!(said.contains("applied as version 2: kinds.event_recommendation.priority"), "{said}");
    let log = changes_until(&admin, 2).await;
    assert_eq!((log[0]["source"].clone(), log[0]["reevaluate"].clone()), (json!("cli"), json!(true)));

    // A bad file is refused by the command itself, naming the key; a key
    // read at start is refused by the server; nothing is recorded.
    std::fs::write(&file, "[dispatch]\noffer_timeout_secs = 0\n").unwrap();
    let (ok, _, err) = reload_command(&data, &file, &[]);
    assert!(!ok && err.contains("dispatch.offer_timeout_secs: must be 1-600"), "{err}");
    std::fs::write(&file, "[dispatch]\noffer_timeout_secs = 25\n[kinds.event_recommendation]\npriority = 77\n[auth]\ntoken_ttl_secs = 600\n").unwrap();
    let (ok, _, err) = reload_command(&data, &file, &[]);
    assert!(!ok && err.contains("not_live: auth.token_ttl_secs"), "{err}");
    assert_eq!(changes_until(&admin, 2).await.as_array().unwrap().len(), 2);
    drop(server);

    // With no server on the database, the command says so.
    let (ok, _, err) = reload_command(&data, &file, &["--wait", "1"]);
    assert!(!ok && err.contains("no server answered within 1 s"), "{err}");

    // The file edited while the server was down wins at the next start,
    // recorded as a version of its own.
    std::fs::write(&file, "[dispatch]\noffer_timeout_secs = 25\n[kinds.event_recommendation]\npriority = 78\n")
        .unwrap();
    let (server, addr) = bin::serve(&["--data-dir", dir, "--config", path], &[]);
    let admin = common::Http::login(addr, "admin", "a long password").await;
    let log = changes_until(&admin, 3).await;
    assert_eq!(log[0]["source"], "start");
    assert_eq!(log[0]["changes"], json!([{"key": "kinds.event_recommendation.priority", "from": 77, "to": 78}]));

    // A change made over REST outlives a restart when the file is older.
    let change = json!({"toml": "[kinds.event_recommendation]\npriority = 79\n"});
    assert_eq!(admin.put("/api/v1/config", change).await.0, 200);
    drop(server);
    let (_server, addr) = bin::serve(&["--data-dir", dir, "--config", path], &[]);
    let admin = common::Http::login(addr, "admin", "a long password").await;
    let (_, kinds) = admin.get("/api/v1/kinds").await;
    let kind = kinds.as_array().unwrap().iter().find(|k| k["kind"] == "event_recommendation").unwrap().clone();
    assert_eq!(kind["priority"], 79, "{kind}");
    assert_eq!(changes_until(&admin, 4).await.as_array().unwrap().len(), 4, "nothing more recorded");
}

/// The reload of `tests/common/reload_load.rs` at a rate a debug build
/// keeps up with on two cores (the load test runs it at 1,000 calls/s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_under_sip_load_fails_no_call_and_loses_no_console_or_offer() {
    if !common::sipp::installed() {
        return;
    }
    let outcome = common::reload_load::run(200, 6, 20).await;
    assert!(outcome.passed(), "{}", outcome.report());
    println!("{}", outcome.report());
}
