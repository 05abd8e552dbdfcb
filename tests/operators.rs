//! The real binary as an operator runs it: users managed from the command
//! line while the server runs, the data files and the signing secret at
//! rest, `check-config`'s warnings, and a server out of file descriptors.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::{Console, Http};
use serde_json::json;
use switchboard::testing::temp_dir;

#[path = "common/binary.rs"]
mod bin;

const PASSWORD: &str = "a long password";

/// `switchboard user ARGS --data-dir DIR`, with `stdin` as standard input.
fn user(data: &std::path::Path, args: &[&str], stdin: &str) -> std::process::Output {
    let out = bin::user_command(data, args, stdin);
    assert!(out.status.success(), "user {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn users_managed_on_the_command_line_take_effect_in_the_running_server() {
    let data = temp_dir("operators");
    let dir = data.to_str().unwrap();
    // The README's order: the server first, then the users.
    let (_server, addr) = bin::serve(&["--data-dir", dir], &[]);
    user(&data, &["add", "admin", "--role", "admin"], &format!("{PASSWORD}\n"));
    user(&data, &["add", "li", "--role", "agent", "--skills", "callbacks"], &format!("{PASSWORD}\n"));
    let admin = Http::login(addr, "admin", PASSWORD).await;
    let li = Http::login(addr, "li", PASSWORD).await;

    // li takes work at once: no restart, no `not_an_agent`.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut console = loop {
        let mut console = Console::open(addr).await;
        console.auth(&li).await;
        let first = console.next().await;
        if first["type"] == "hello" {
            break console;
        }
        assert!(Instant::now() < deadline, "li is not an agent in the running server: {first}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (status, task) =
        admin.post("/api/v1/tasks", json!({"kind": "new_signup_callback", "customer_phone": "13800000010"})).await;
    assert_eq!(status, 201, "{task}");
    assert_eq!(console.expect("offer").await["task"]["id"], task["id"]);

    // Disabled from the command line: the console is closed, the token refused.
    user(&data, &["disable", "li"], "");
    let error = console.expect_within("error", Duration::from_secs(5)).await.expect("told within seconds");
    assert_eq!(error["code"], "session_ended", "{error}");
    assert_eq!(console.closed().await, 4003);
    assert_eq!(li.get("/api/v1/me").await.0, 401);
    user(&data, &["enable", "li"], "");
    user(&data, &["passwd", "li"], "another long password\n");
    let li = Http::login(addr, "li", "another long password").await;
    user(&data, &["set", "li", "--role", "dispatcher", "--skills", "travel"], "");
    let deadline = Instant::now() + Duration::from_secs(5);
    while li.get("/api/v1/me").await.0 != 401 {
        assert!(Instant::now() < deadline, "a new role did not end li's token");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let li = Http::login(addr, "li", "another long password").await;
    assert_eq!(li.get("/api/v1/me").await.1["role"], "dispatcher");
    user(&data, &["delete", "li"], "");
    let deadline = Instant::now() + Duration::from_secs(5);
    while li.get("/api/v1/me").await.0 != 401 {
        assert!(Instant::now() < deadline, "a deleted user's token still works");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(admin.get("/api/v1/agents").await.1, json!([]));
}

#[tokio::test]
async fn the_data_files_are_private_and_the_signing_secret_is_not_in_the_database() {
    let data = temp_dir("operators").join("data");
    let dir = data.to_str().unwrap();
    let (server, addr) = bin::serve(&["--data-dir", dir], &[]);
    assert_eq!(mode(&data), 0o700, "the data folder");
    assert_eq!(mode(&data.join("switchboard.db")), 0o600, "the database");
    let secret_file = data.join("token_secret");
    assert_eq!(mode(&secret_file), 0o600, "the signing secret");
    drop(server);

    // Whoever reads the database finds no secret to sign with...
    let url = format!("sqlite://{}", data.join("switchboard.db").display());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM server_secrets").fetch_one(&pool).await.unwrap();
    assert_eq!(rows, 0, "no secret kept in the database");
    pool.close().await;
    // ...and the file's secret is the one that signs: a token made with it works.
    user(&data, &["add", "admin", "--role", "admin"], &format!("{PASSWORD}\n"));
    let (_server, addr2) = bin::serve(&["--data-dir", dir], &[]);
    let _ = addr;
    let secret = std::fs::read_to_string(&secret_file).unwrap();
    let auth = switchboard::auth::Auth::new(
        secret.trim(),
        jiff::SignedDuration::from_mins(5),
        jiff::SignedDuration::from_secs(5),
    );
    let admin = Http::login(addr2, "admin", PASSWORD).await;
    let (_, me) = admin.get("/api/v1/me").await;
    let id = me["id"].as_str().unwrap().parse().unwrap();
    let (forged, _) = auth.issue_token(id, switchboard::domain::Role::Admin, jiff::Timestamp::now());
    assert_eq!(Http { addr: addr2, token: Some(forged) }.get("/api/v1/me").await.0, 200);
}

#[test]
fn check_config_warns_of_clear_text_and_files_others_can_read() {
    let dir = temp_dir("operators");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(data.join("token_secret"), "0123456789abcdef0123456789abcdef\n").unwrap();
    std::fs::set_permissions(data.join("token_secret"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let file = dir.join("switchboard.toml");
    std::fs::write(&file, format!("[server]\nhttp = \"0.0.0.0:8080\"\ndata_dir = \"{}\"\n", data.display())).unwrap();
    let out = bin::binary().args(["check-config", "--config"]).arg(&file).output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: server.http 0.0.0.0 is not a loopback address and [server.tls] is not set"),
        "{stderr}"
    );
    assert!(stderr.contains("the data folder") && stderr.contains("chmod 700"), "{stderr}");
    assert!(stderr.contains("the token-signing secret") && stderr.contains("chmod 600"), "{stderr}");

    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(data.join("token_secret"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&file, format!("[server]\ndata_dir = \"{}\"\n", data.display())).unwrap();
    let out = bin::binary().args(["check-config", "--config"]).arg(&file).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// CPU seconds (user and system) a process has used.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

#[tokio::test]
async fn out_of_file_descriptors_the_server_waits_instead_of_spinning() {
    if std::process::Command::new("prlimit").arg("--version").output().is_err() {
        return switchboard::testing::require_service(
            "prlimit",
            "PATH",
            "util-linux runs the server with few descriptors",
        );
    }
    let data = temp_dir("operators");
    let dir = data.to_str().unwrap();
    let mut cmd = std::process::Command::new("prlimit");
    cmd.args(["--nofile=96:96", "--", env!("CARGO_BIN_EXE_switchboard")]);
    let (server, addr, sip) = bin::serve_command(cmd, &["--data-dir", dir], &[]);
    let pid = server.pid();
    // Take every descriptor the server has left, and more.
    let mut held = Vec::new();
    for _ in 0..150 {
        match tokio::net::TcpStream::connect(sip).await {
            Ok(s) => held.push(s),
            Err(_) => break,
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = cpu_secs(pid);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let used = cpu_secs(pid) - before;
    assert!(used < 0.6, "the server burned {used:.2} s of CPU in 3 s while out of descriptors");
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    let anonymous = Http { addr, token: None };
    loop {
        if let Some((200, _)) = anonymous.try_get("/health").await {
            break;
        }
        assert!(Instant::now() < deadline, "the server did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
