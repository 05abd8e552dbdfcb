//! A headless Chromium driven over WebDriver (W3C, by ChromeDriver), with
//! the few commands the page tests need. Talks HTTP with the tests' own
//! small client.
//!
//! ChromeDriver and Chromium come from Debian's `chromium-driver` and
//! `chromium` (`.ci/run` installs them). When they are missing the test is
//! skipped on a developer machine and fails when `CI=true`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Http;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One ChromeDriver process; browsers are its sessions.
pub struct Driver {
    child: Child,
    http: Http,
}

impl Driver {
    /// Starts ChromeDriver, or `None` (after saying why) when it or
    /// Chromium is not installed outside CI.
    pub async fn start() -> Option<Driver> {
        for program in [CHROMEDRIVER, CHROMIUM] {
            if !std::path::Path::new(program).exists() {
                switchboard::testing::require_service(
                    "Chromium",
                    program,
                    "not installed (Debian: chromium chromium-driver)",
                );
                return None;
            }
        }
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let driver = Driver { child, http: Http { addr, token: None } };
        let started = Instant::now();
        loop {
            if let Some((200, status)) = driver.http.try_get("/status").await
                && status["value"]["ready"] == true
            {
                return Some(driver);
            }
            assert!(started.elapsed() < Duration::from_secs(20), "chromedriver did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A new headless browser window.
    pub async fn browser(&self) -> Browser {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1400,1000", "--lang=en-GB"],
            },
        }}});
        let (status, body) = self.http.post("/session", caps).await;
        assert_eq!(status, 200, "new browser session: {body}");
        let id = body["value"]["sessionId"].as_str().unwrap().to_owned();
        Browser { http: self.http.clone(), base: format!("/session/{id}") }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Browser {
    http: Http,
    base: String,
}

impl Browser {
    async fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let path = format!("{}{path}", self.base);
        let body = (method != "GET").then(|| body.to_string());
        let (status, reply) = self.http.raw(method, &path, body, "application/json").await;
        assert_eq!(status, 200, "{method} {path}: {reply}");
        reply["value"].clone()
    }

    pub async fn go(&self, url: &str) {
        self.command("POST", "/url", json!({"url": url})).await;
    }

    /// Runs `script` (a function body) in the page and returns its value.
    pub async fn eval(&self, script: &str) -> Value {
        self.command("POST", "/execute/sync", json!({"script": script, "args": []})).await
    }

    /// The text of the first element matching `css`, `None` while there is none.
    pub async fn text(&self, css: &str) -> Option<String> {
        let script = format!("const e = document.querySelector({}); return e ? e.textContent : null;", json!(css));
        self.eval(&script).await.as_str().map(str::to_owned)
    }

    /// Waits up to `within` for `css` to match a visible element.
    pub async fn wait_for(&self, css: &str, within: Duration) {
        let script = format!(
            "const e = document.querySelector({}); return !!e && !e.closest('[hidden]') && e.getClientRects().length > 0;",
            json!(css)
        );
        let started = Instant::now();
        while self.eval(&script).await != json!(true) {
            assert!(started.elapsed() < within, "no visible {css} within {within:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits up to `within` for the text of `css` to read `expected`;
    /// returns how long it took.
    pub async fn wait_text(&self, css: &str, expected: &str, within: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let text = self.text(css).await;
            if text.as_deref().map(str::trim) == Some(expected) {
                return started.elapsed();
            }
            assert!(started.elapsed() < within, "{css} read {text:?}, not {expected:?}, after {within:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn element(&self, css: &str) -> String {
        let found = self.command("POST", "/element", json!({"using": "css selector", "value": css})).await;
        found[ELEMENT].as_str().unwrap_or_else(|| panic!("{css}: {found}")).to_owned()
    }

    pub async fn click(&self, css: &str) {
        let e = self.element(css).await;
        self.command("POST", &format!("/element/{e}/click"), json!({})).await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.element(css).await;
        self.command("POST", &format!("/element/{e}/value"), json!({"text": text})).await;
    }

    /// Fills the page's login form and submits it.
    pub async fn log_in(&self, user: &str, password: &str) {
        self.wait_for("#login input[name=username]", Duration::from_secs(10)).await;
        self.type_into("#login input[name=username]", user).await;
        self.type_into("#login input[name=password]", password).await;
        self.click("#login button[type=submit]").await;
    }

    /// Saves a PNG of the window under `target/browser-artefacts/`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let data = self.command("GET", "/screenshot", Value::Null).await;
        let png = base64_decode(data.as_str().unwrap());
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/browser-artefacts");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    pub async fn close(self) {
        let _ = self.http.raw("DELETE", &self.base, None, "application/json").await;
    }
}

/// Standard base64 (RFC 4648 §4), as WebDriver sends screenshots.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=').map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, d)| n | u32::from(*d) << (18 - 6 * i));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}
