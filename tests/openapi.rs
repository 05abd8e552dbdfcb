//! The OpenAPI document is exactly true: the reference validator
//! (openapi-spec-validator) accepts it, and real requests to the task,
//! case and report routes, with the responses they got, validate against
//! it with openapi-core (paths, methods, query parameters, bodies, status
//! codes, content types). Both are Python programs; `.ci/run` installs
//! them in `target/openapi-venv` (`SWITCHBOARD_OPENAPI_PYTHON` names
//! another interpreter). Without them the test says SKIPPED, and fails
//! under `CI=true`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{TestServer, json_request, raw_request};
use serde_json::{Value, json};
use switchboard::testing::TestDb;

/// The Python with both validators, or `None` (SKIPPED) outside CI.
fn validators() -> Option<PathBuf> {
    let python = std::env::var_os("SWITCHBOARD_OPENAPI_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/openapi-venv/bin/python"));
    let found = Command::new(&python)
        .args(["-c", "import openapi_core, openapi_spec_validator"])
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(python);
    }
    let why = format!("{} with openapi-core and openapi-spec-validator (see .ci/run)", python.display());
    assert!(std::env::var("CI").as_deref() != Ok("true"), "missing under CI: {why}");
    eprintln!("SKIPPED: {why} is not installed; set CI=true to make this a failure");
    None
}

/// One request made to the server and what it answered, as the checker reads it.
struct Recorder {
    addr: std::net::SocketAddr,
    token: String,
    exchanges: Vec<Value>,
}

impl Recorder {
    async fn call(&mut self, method: &str, path: &str, body: Value) -> (u16, Value) {
        self.exchange(method, path, body, false).await
    }

    /// A request the document itself forbids (a value outside an enum):
    /// the server's refusal is checked, and the request must fail the
    /// document too.
    async fn invalid(&mut self, method: &str, path: &str, body: Value) -> (u16, Value) {
        self.exchange(method, path, body, true).await
    }

    async fn exchange(&mut self, method: &str, path: &str, body: Value, invalid: bool) -> (u16, Value) {
        let request = json_request(method, path, Some(&self.token), "", &body);
        let (status, head, response) = raw_request(self.addr, &request).await;
        let content_type =
            head.lines().find_map(|l| l.strip_prefix("content-type:")).map(|v| v.trim().to_owned()).unwrap_or_default();
        let text = match &response {
            Value::String(s) if !content_type.contains("json") => s.clone(),
            other => other.to_string(),
        };
        self.exchanges.push(json!({
            "method": method,
            "path": path,
            "request": if body.is_null() { Value::Null } else { json!(body.to_string()) },
            "status": status,
            "content_type": content_type,
            "response": text,
            "invalid": invalid,
        }));
        (status, response)
    }
}

fn check(python: &Path, doc: &Value, exchanges: Option<&[Value]>) -> (bool, String) {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("switchboard-openapi-{}-{run}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let doc_file = dir.join("openapi.json");
    std::fs::write(&doc_file, doc.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openapi_check.py");
    let mut cmd = Command::new(python);
    cmd.arg(&script).arg(&doc_file);
    if let Some(x) = exchanges {
        let file = dir.join("exchanges.json");
        std::fs::write(&file, Value::from(x.to_vec()).to_string()).unwrap();
        cmd.arg(file);
    }
    let out = cmd.output().expect("run the checker");
    let _ = std::fs::remove_dir_all(&dir);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test]
async fn the_document_is_valid_and_real_exchanges_match_it() {
    let Some(python) = validators() else { return };
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    let li = server.add_agent(&admin, "li", &["complaints", "callbacks"]).await;
    let (_, doc) = admin.get("/api/v1/openapi.json").await;
    let mut r = Recorder { addr: server.addr, token: admin.token.clone().unwrap(), exchanges: Vec::new() };

    // Tasks: created, listed with each query parameter, read, cancelled, refused.
    let (s, task) = r
        .call(
            "POST",
            "/api/v1/tasks",
            json!({"kind": "new_signup_callback", "customer_phone": "13800138000",
            "reason": "signed up on the website", "customer_name": "张三"}),
        )
        .await;
    assert_eq!(s, 201, "{task}");
    let id = task["id"].as_str().unwrap().to_owned();
    r.call(
        "POST",
        "/api/v1/tasks",
        json!({"kind": "marketing_no_show", "customer_phone": "13800138001",
        "not_before": "2099-01-01T02:00:00Z"}),
    )
    .await;
    r.call("GET", "/api/v1/tasks?status=waiting&kind=new_signup_callback&limit=10", Value::Null).await;
    r.call("GET", &format!("/api/v1/tasks?agent={li}"), Value::Null).await;
    r.call("GET", &format!("/api/v1/tasks/{id}"), Value::Null).await;
    r.call("POST", &format!("/api/v1/tasks/{id}/cancel"), Value::Null).await;
    r.call("POST", &format!("/api/v1/tasks/{id}/cancel"), Value::Null).await;
    r.call("GET", &format!("/api/v1/tasks/{}", switchboard::domain::TaskId::new()), Value::Null).await;
    r.call("POST", "/api/v1/tasks", json!({"kind": "new_signup_callback", "customer_phone": "not a phone"})).await;
    r.invalid("POST", "/api/v1/tasks", json!({"kind": "no_such_kind", "customer_phone": "13800138000"})).await;
    r.invalid("GET", "/api/v1/tasks?status=nonsense", Value::Null).await;

    // Cases: opened for an owner, listed, read, stepped to resolution.
    let (s, case) = r
        .call(
            "POST",
            "/api/v1/cases",
            json!({"channel": "phone", "customer_phone": "13900000001",
            "merchant": "鸿运餐厅", "category": "late delivery", "description": "the order came two hours late",
            "owner": li}),
        )
        .await;
    assert_eq!(s, 201, "{case}");
    let case_id = case["id"].as_str().unwrap().to_owned();
    r.call("GET", "/api/v1/cases?status=open&overdue=false&limit=5", Value::Null).await;
    r.call("GET", &format!("/api/v1/cases?owner={li}"), Value::Null).await;
    r.call("GET", &format!("/api/v1/cases/{case_id}"), Value::Null).await;
    r.call("POST", &format!("/api/v1/cases/{case_id}/steps"), json!({"step": "answered", "note": "called back"})).await;
    r.call("POST", &format!("/api/v1/cases/{case_id}/steps"), json!({"step": "resolved"})).await;
    r.invalid("POST", &format!("/api/v1/cases/{case_id}/steps"), json!({"step": "no_such_step"})).await;

    // Reports: each period, a given day, as JSON and as CSV; a bad period.
    r.call("GET", "/api/v1/reports/daily", Value::Null).await;
    r.call("GET", "/api/v1/reports/weekly?date=2026-12-01", Value::Null).await;
    r.call("GET", "/api/v1/reports/monthly?date=2026-12-01&format=csv", Value::Null).await;
    r.call("GET", "/api/v1/reports/yearly", Value::Null).await;

    let failed: Vec<_> = r.exchanges.iter().filter(|x| x["status"].as_u64().unwrap_or(0) >= 500).collect();
    assert!(failed.is_empty(), "server errors: {failed:?}");
    let (ok, out) = check(&python, &doc, Some(&r.exchanges));
    assert!(ok, "the document does not describe what the server does:\n{out}");
    println!("{out}");
}

/// The checker is not a formality: a document whose query parameter is
/// declared in the path, or whose response is not the one served, fails.
#[tokio::test]
async fn a_wrong_document_is_caught() {
    let Some(python) = validators() else { return };
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    let (_, doc) = admin.get("/api/v1/openapi.json").await;
    let mut r = Recorder { addr: server.addr, token: admin.token.clone().unwrap(), exchanges: Vec::new() };
    r.call("GET", "/api/v1/tasks?limit=5", Value::Null).await;
    assert!(check(&python, &doc, Some(&r.exchanges)).0, "the true document passes");

    let mut in_path = doc.clone();
    for p in in_path["paths"]["/api/v1/tasks"]["get"]["parameters"].as_array_mut().unwrap() {
        p["in"] = json!("path");
        p["required"] = json!(true);
    }
    let (ok, out) = check(&python, &in_path, Some(&r.exchanges));
    assert!(!ok, "query parameters declared in the path must fail:\n{out}");

    let mut wrong_body = doc.clone();
    wrong_body["paths"]["/api/v1/tasks"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] =
        json!({"type": "object"});
    let (ok, out) = check(&python, &wrong_body, Some(&r.exchanges));
    assert!(!ok, "a response body unlike the document's must fail:\n{out}");
}
