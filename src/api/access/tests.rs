//! The matrix against the routes: every route of the OpenAPI document has
//! an entry, every entry a route, each principal gets exactly what its
//! entry grants, and `docs/security.md` shows the same table.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use jiff::SignedDuration;
use serde_json::Value;
use tower::ServiceExt;

use super::*;
use crate::api::state::Shared;
use crate::config::Config;
use crate::rules::dispatch::Dispatcher;
use crate::runtime::live_rules::LiveRules;
use crate::testing::TestDb;

const PBX_TOKEN: &str = "pbx-token-0123456789abcdefghijklmnopqrstuvwxyz";
const BACK_OFFICE_TOKEN: &str = "back-office-token-0123456789abcdefghijklmnopq";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Anyone,
    User(Role),
    Pbx,
    BackOffice,
}

async fn state(db: &TestDb) -> AppState {
    let store = db.store().await;
    let mut config = Config::default();
    config.cti.tokens.insert("pbx-1".into(), PBX_TOKEN.into());
    config.access.back_office_tokens.insert("inns".into(), BACK_OFFICE_TOKEN.into());
    let rules = config.rules().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let writer = crate::runtime::record_writer::Writer::spawn(store.clone()).0;
    let (hub, _task) =
        crate::runtime::hub::spawn(Dispatcher::new(rules.clone()), writer, None, None, None, shutdown.clone());
    let auth = crate::auth::Auth::new(&"k".repeat(32), SignedDuration::from_mins(5), SignedDuration::from_secs(30));
    let checkpoints = config.checkpoints().unwrap();
    AppState::new(
        store,
        hub,
        auth.into(),
        config,
        LiveRules::new(rules),
        checkpoints,
        Shared { shutdown, ..Default::default() },
    )
}

/// A path of the document with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{id}", &uuid::Uuid::now_v7().to_string())
        .replace("{task_id}", &uuid::Uuid::now_v7().to_string())
        .replace("{phone}", "13800138000")
        .replace("{period}", "daily")
        .replace("{name}", "common.js")
}

/// What a principal should get from a route, by its entry.
fn expected(access: &Access, who: Who) -> Grant {
    match (access, who) {
        (Access::Public | Access::Ticket(_), _) => Yes,
        (Access::Tokens { .. }, Who::Anyone) => No,
        (Access::Tokens { .. }, Who::User(role)) => access.grant(role),
        (Access::Tokens { pbx, .. }, Who::Pbx) => {
            if *pbx {
                Yes
            } else {
                No
            }
        }
        (Access::Tokens { back_office, .. }, Who::BackOffice) => {
            if *back_office {
                Yes
            } else {
                No
            }
        }
    }
}

#[tokio::test]
async fn every_route_admits_exactly_whom_the_matrix_names() {
    let db = TestDb::sqlite();
    let state = state(&db).await;
    let app = crate::app::server::app(&state);
    let doc = serde_json::to_value(crate::api::openapi()).unwrap();
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    for (method, path) in &documented {
        assert!(
            MATRIX.iter().any(|r| r.method == method && r.path == path),
            "{method} {path} is routed and documented but has no entry in the security matrix (api/access.rs)"
        );
    }
    let mut principals = vec![Who::Anyone, Who::Pbx, Who::BackOffice];
    principals.extend(Role::ALL.iter().map(|r| Who::User(*r)));
    // A stored user of each role, so that a handler's own look-ups find them.
    let mut users = std::collections::HashMap::new();
    for role in Role::ALL {
        let new = crate::store::NewUser {
            work_number: None,
            username: role.as_str().to_owned(),
            role: *role,
            password_hash: "not a hash".into(),
            display_name: role.as_str().to_owned(),
            sip_uri: None,
            skills: vec!["hotline".into()],
            levels: Default::default(),
            voice_capacity: 1,
            back_office_capacity: 2,
        };
        users.insert(*role, state.store.create_user(new, jiff::Timestamp::now()).await.unwrap().id);
    }
    let mut checked = 0;
    for route in MATRIX {
        let in_doc = documented.iter().any(|(m, p)| m == route.method && p == route.path);
        assert!(
            in_doc || !route.path.starts_with("/api/"),
            "{} {} is in the matrix but not in the OpenAPI document",
            route.method,
            route.path
        );
        for who in &principals {
            let token = match who {
                Who::Anyone => None,
                Who::User(role) => Some(state.auth.token_for_tests(users[role], *role).0),
                Who::Pbx => Some(PBX_TOKEN.to_owned()),
                Who::BackOffice => Some(BACK_OFFICE_TOKEN.to_owned()),
            };
            let mut req = Request::builder().method(route.method).uri(concrete(route.path));
            if let Some(t) = &token {
                req = req.header("authorization", format!("Bearer {t}"));
            }
            let req = req.header("content-type", "application/json").body(Body::from("{}")).unwrap();
            let resp = app.clone().oneshot(req).await.unwrap();
            let status = resp.status();
            let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
            let error = serde_json::from_slice::<Value>(&body).ok().map(|b| b["error"].clone()).unwrap_or_default();
            let code = error["code"].as_str().unwrap_or_default();
            let refused =
                status == StatusCode::UNAUTHORIZED || (status == StatusCode::FORBIDDEN && code == "forbidden");
            let what = format!("{who:?} on {} {}: {status} {error}", route.method, route.path);
            let unrouted = status == StatusCode::METHOD_NOT_ALLOWED || error["message"] == "no such route";
            assert!(!unrouted, "not routed: {what}");
            match expected(&route.access, *who) {
                No => assert!(refused, "refused by the matrix: {what}"),
                Yes | Own => assert!(!refused, "admitted by the matrix: {what}"),
            }
            checked += 1;
        }
    }
    assert!(checked > 400, "{checked} requests");
}

#[test]
fn the_document_for_operators_shows_the_matrix_as_enforced() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/security.md")).unwrap();
    let (start, end) = ("<!-- matrix:begin -->\n", "<!-- matrix:end -->");
    let table = doc
        .split_once(start)
        .and_then(|(_, rest)| rest.split_once(end))
        .map(|(t, _)| t)
        .expect("docs/security.md has the matrix between its markers");
    let rendered = render();
    if table != rendered {
        panic!("docs/security.md's matrix differs from api/access.rs; put this between the markers:\n{rendered}");
    }
}

#[test]
fn every_entry_is_unique() {
    for (i, a) in MATRIX.iter().enumerate() {
        assert!(!MATRIX[..i].iter().any(|b| a.method == b.method && a.path == b.path), "{} {} twice", a.method, a.path);
    }
}
