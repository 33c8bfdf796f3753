//! A small WebDriver client for the browser tests: starts Debian's chromedriver with headless
//! Chromium and speaks the W3C WebDriver protocol over HTTP with reqwest.

use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    http: reqwest::Client,
    session: String,
    driver: Child,
    profile: PathBuf,
}

/// The chromedriver on this machine, if any.
fn chromedriver() -> Option<PathBuf> {
    std::env::var_os("CHROMEDRIVER").map(PathBuf::from).or_else(|| {
        ["/usr/bin/chromedriver", "/usr/local/bin/chromedriver"].iter().map(PathBuf::from).find(|p| p.exists())
    })
}

/// axe-core's script: `AXE_CORE_JS`, else where `.ci/run` installs it.
fn axe_script() -> Option<String> {
    let path = std::env::var_os("AXE_CORE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/peyvand-axe/node_modules/axe-core/axe.min.js"));
    std::fs::read_to_string(path).ok()
}

impl Browser {
    /// Starts a headless browser, or `None` (saying so) when chromedriver is not installed.
    pub async fn start() -> Option<Browser> {
        let Some(driver_path) = chromedriver() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the browser tests: install chromium and chromium-driver"
            );
            eprintln!("skipped: no chromedriver (.ci/run installs Debian's chromium and chromium-driver)");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        // In a process group of its own, with the browsers it starts, so that all of them are
        // stopped together when the test ends, whatever its outcome (see `Drop`).
        let driver = Command::new(driver_path)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = std::env::temp_dir().join(format!("peyvand-chrome-{port}"));
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=1280,900", format!("--user-data-dir={}", profile.display())]
        }}}});
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("json");
        let session = r["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {r}")).to_string();
        Some(Browser { http, session: format!("{base}/session/{session}"), driver, profile })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.session));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r: Value = req.send().await.expect("webdriver").json().await.expect("json");
        if r["value"].get("error").is_some() {
            panic!("webdriver {path}: {}", r["value"]);
        }
        r["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None).await.as_str().unwrap_or_default().to_string()
    }

    /// The first element matching a CSS selector, waiting up to 5 s for it.
    pub async fn find(&self, css: &str) -> String {
        for _ in 0..50 {
            let r: Value = self
                .http
                .post(format!("{}/element", self.session))
                .json(&json!({"using": "css selector", "value": css}))
                .send()
                .await
                .expect("webdriver")
                .json()
                .await
                .expect("json");
            if let Some(id) = r["value"][ELEMENT].as_str() {
                return id.to_string();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no element matches {css}");
    }

    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/click"), Some(json!({}))).await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/clear"), Some(json!({}))).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/value"), Some(json!({ "text": text }))).await;
    }

    /// Sends keys to an element as typed (WebDriver key codes: "\u{E009}" Control, "\u{E008}"
    /// Shift, "\u{E007}" Enter, "\u{E012}"/"\u{E014}" left/right arrows), keeping what it holds.
    pub async fn keys(&self, css: &str, keys: &str) {
        let id = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/value"), Some(json!({ "text": keys }))).await;
    }

    pub async fn select(&self, css: &str, value: &str) {
        self.click(&format!("{css} option[value=\"{value}\"]")).await;
    }

    pub async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn value(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{id}/property/value"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The text of the first element matching `css` now, if there is one (no waiting).
    async fn try_text(&self, css: &str) -> Option<String> {
        let r: Value = self
            .http
            .post(format!("{}/element", self.session))
            .json(&json!({"using": "css selector", "value": css}))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let id = r["value"][ELEMENT].as_str()?;
        let r: Value =
            self.http.get(format!("{}/element/{id}/text", self.session)).send().await.ok()?.json().await.ok()?;
        r["value"].as_str().map(str::to_string)
    }

    /// Waits until the text of `css` contains `needle` (5 s at most), across page loads, and
    /// returns the text.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let mut last = String::new();
        for _ in 0..50 {
            last = self.try_text(css).await.unwrap_or_default();
            if last.contains(needle) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} never showed {needle:?}; it shows {last:?}");
    }

    /// Runs JavaScript in the page and returns its result.
    pub async fn script(&self, code: &str) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({ "script": code, "args": [] }))).await
    }

    /// Runs asynchronous JavaScript (it calls `arguments[arguments.length - 1]` with its result).
    pub async fn script_async(&self, code: &str) -> Value {
        self.call(reqwest::Method::POST, "/execute/async", Some(json!({ "script": code, "args": [] }))).await
    }

    /// The serious and critical findings of axe-core on the page as it is now, one line each
    /// (rule, what it asks, where). axe-core comes from npm (`.ci/run` installs it); without it,
    /// an empty list and a line saying so (CI fails instead).
    pub async fn accessibility_problems(&self) -> Vec<String> {
        let Some(axe) = axe_script() else {
            assert!(std::env::var_os("CI").is_none(), "CI must run axe-core: .ci/run installs it with npm");
            eprintln!("skipped: no axe-core (.ci/run installs it under /var/tmp/peyvand-axe)");
            return Vec::new();
        };
        if self.script("return typeof window.axe;").await != json!("object") {
            self.script(&format!("{axe}\nreturn true;")).await;
        }
        let found = self
            .script_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] }).then((r) => done(r.violations
                   .filter((v) => v.impact === 'serious' || v.impact === 'critical')
                   .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`)))
                   .catch((e) => done([`axe failed: ${e}`]));",
            )
            .await;
        found.as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect()
    }

    /// Waits until a JavaScript expression is true (5 s at most).
    pub async fn wait_until(&self, expression: &str) {
        for _ in 0..50 {
            if self.script(&format!("return !!({expression});")).await == Value::Bool(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("never true: {expression}");
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.call(reqwest::Method::POST, "/window/rect", Some(json!({"width": width, "height": height}))).await;
    }

    /// Saves a screenshot as `target/screenshots/NAME.png`, for people to look at, when
    /// `PEYVAND_SCREENSHOTS` is set (each costs a second or two on two cores; CI skips them).
    pub async fn screenshot(&self, name: &str) {
        if std::env::var_os("PEYVAND_SCREENSHOTS").is_none() {
            return;
        }
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = decode_base64(png.as_str().unwrap_or_default());
        let dir =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).parent().map(|p| p.join("screenshots")).expect("target dir");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), bytes).expect("write screenshot");
    }

    /// Ends the session; the processes stop when the browser is dropped.
    pub async fn quit(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

impl Drop for Browser {
    /// Stops chromedriver and every Chromium process it started (its process group), also when
    /// a test failed half-way: a panicking test never reaches `quit`, and left them running.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        for signal in ["-TERM", "-KILL"] {
            let _ = Command::new("kill").args([signal, "--", &group]).stderr(Stdio::null()).status();
            if signal == "-TERM" {
                std::thread::sleep(Duration::from_millis(300));
            }
        }
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in text.bytes().filter_map(value) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
