//! The `switchboard` binary as operators and scripts use it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use switchboard::testing::temp_dir;

#[path = "common/binary.rs"]
mod bin;
use bin::binary;

fn user_add(data: &std::path::Path, args: &[&str], password: &str) -> std::process::Output {
    let args: Vec<&str> = ["add"].into_iter().chain(args.iter().copied()).collect();
    bin::user_command(data, &args, password)
}

#[test]
fn user_add_reads_the_password_from_stdin_and_refuses_bad_input() {
    let data = temp_dir("cli");
    let out = user_add(&data, &["admin", "--role", "admin"], "a long password\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("created admin admin"));
    assert!(data.join("switchboard.db").exists());

    let out = user_add(&data, &["admin", "--role", "admin"], "a long password\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("username is taken"));

    let out = user_add(&data, &["li", "--role", "agent", "--skills", "hotline,nowhere"], "a long password\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`nowhere` is not a queue"));

    let out = user_add(&data, &["li", "--role", "agent"], "short\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("password: at least 8 characters"));
    std::fs::remove_dir_all(data).unwrap();
}

#[test]
fn the_database_is_chosen_by_flag_or_database_url() {
    let dir = temp_dir("cli");
    let db = dir.join("elsewhere.db");
    let url = format!("sqlite:{}?mode=rwc", db.display());
    let out = binary().args(["migrate", "--database-url", &url]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(db.exists(), "migrated where the flag said");
    std::fs::remove_file(&db).unwrap();
    let out = binary().arg("migrate").env("DATABASE_URL", &url).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(db.exists(), "migrated where DATABASE_URL said");
    let out = binary().arg("migrate").env("DATABASE_URL", "mysql://db/x").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("server.database_url: must be empty, postgres://... or sqlite:..."), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn check_config_names_the_bad_key() {
    let dir = temp_dir("cli");
    let file = dir.join("bad.toml");
    std::fs::write(&file, "[dispatch]\noffer_timeout_secs = 0\nwrap_up_secs = 99999\n").unwrap();
    let out = binary().args(["check-config", "--config"]).arg(&file).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dispatch.offer_timeout_secs: must be 1-600"), "{err}");
    assert!(err.contains("dispatch.wrap_up_secs: must be at most 3600"), "{err}");
    std::fs::write(&file, "[kinds.taxi]\npriority = 1\n").unwrap();
    let out = binary().args(["check-config", "--config"]).arg(&file).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("kinds.taxi"));
    let out = binary().args(["check-config", "--config", "config/switchboard.toml"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = binary().args(["check-config", "--config"]).arg(dir.join("missing.toml")).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn every_command_has_help() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["migrate", "--help"],
        &["check-config", "--help"],
        &["user", "add", "--help"],
        &["replay", "--help"],
    ] {
        let out = binary().args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"), "{args:?}");
    }
    let out = binary().args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--config", "--http", "--sip", "--data-dir"] {
        assert!(help.contains(flag), "serve --help lacks {flag}");
    }
}

#[test]
fn a_fresh_serve_says_how_to_create_the_first_user_and_stops_on_sigterm() {
    let data = temp_dir("cli");
    let mut child = binary()
        .args(["serve", "--http", "127.0.0.1:0", "--sip", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "no hint within 20 s: {seen:?}");
        let line = lines.next().expect("server exited early").unwrap();
        if line.contains("switchboard is serving") {
            break;
        }
        seen.push(line);
    }
    assert!(seen.iter().any(|l| l.contains("switchboard user add admin --role admin")), "{seen:?}");
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0");
    std::fs::remove_dir_all(data).unwrap();
}
