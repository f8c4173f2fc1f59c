//! Headless Chromium (Debian's `chromium` package) against the running server:
//! the page as a browser builds it, and a screenshot kept as a test artefact.

use std::path::{Path, PathBuf};
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium(profile: &Path, args: &[&str]) -> std::process::Output {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's chromium package (scripts/test does)"
    );
    Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium runs")
}

/// The DOM of `url` after Chromium loaded and laid it out.
pub fn dom(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let output = chromium(profile.path(), &["--virtual-time-budget=3000", "--dump-dom", url]);
    assert!(output.status.success(), "chromium --dump-dom failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A screenshot of `url` at a phone's width, kept under `target/test-artifacts/`.
pub fn screenshot(url: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    let profile = tempfile::tempdir().unwrap();
    let output = chromium(
        profile.path(),
        &["--window-size=412,915", "--virtual-time-budget=3000", &format!("--screenshot={}", path.display()), url],
    );
    assert!(output.status.success(), "chromium --screenshot failed: {}", String::from_utf8_lossy(&output.stderr));
    path
}

/// A headless Chromium driven over the DevTools protocol on a pipe (no network
/// port, no extra crate): one page, at a phone's width, that the test fills
/// in and clicks through like a person would.
pub struct Driver {
    child: std::process::Child,
    commands: std::fs::File,
    events: std::io::BufReader<std::fs::File>,
    session: String,
    next: u64,
    _profile: tempfile::TempDir,
}

impl Driver {
    pub fn start() -> Self {
        use std::fs::OpenOptions;
        assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing: install Debian's chromium package");
        let profile = tempfile::tempdir().unwrap();
        let (input, output) = (profile.path().join("in"), profile.path().join("out"));
        for fifo in [&input, &output] {
            assert!(Command::new("mkfifo").arg(fifo).status().unwrap().success(), "mkfifo");
        }
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "exec {CHROMIUM} --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
                 --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars \
                 --user-data-dir=\"$0\" --remote-debugging-pipe 3<\"$1\" 4>\"$2\" 2>/dev/null"
            ))
            .arg(profile.path().join("profile"))
            .arg(&input)
            .arg(&output)
            .spawn()
            .expect("chromium runs");
        // The shell opens its end of each pipe in this order; ours in the same order.
        let commands = OpenOptions::new().write(true).open(&input).unwrap();
        let events = std::io::BufReader::new(OpenOptions::new().read(true).open(&output).unwrap());
        let mut driver = Self { child, commands, events, session: String::new(), next: 0, _profile: profile };
        let target = driver.call("Target.createTarget", serde_json::json!({ "url": "about:blank" }));
        let target = target["targetId"].as_str().unwrap().to_owned();
        let attached = driver.call("Target.attachToTarget", serde_json::json!({ "targetId": target, "flatten": true }));
        driver.session = attached["sessionId"].as_str().unwrap().to_owned();
        driver.call("Page.enable", serde_json::json!({}));
        let phone = serde_json::json!({ "width": 412, "height": 915, "deviceScaleFactor": 1, "mobile": true });
        driver.call("Emulation.setDeviceMetricsOverride", phone);
        driver
    }

    fn send(&mut self, method: &str, params: serde_json::Value) -> u64 {
        use std::io::Write;
        self.next += 1;
        let mut message = serde_json::json!({ "id": self.next, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = serde_json::Value::String(self.session.clone());
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.commands.write_all(&bytes).unwrap();
        self.next
    }

    fn receive(&mut self) -> serde_json::Value {
        use std::io::BufRead;
        let mut bytes = Vec::new();
        self.events.read_until(0, &mut bytes).unwrap();
        assert_eq!(bytes.pop(), Some(0), "chromium closed the pipe");
        serde_json::from_slice(&bytes).unwrap()
    }

    /// Calls `method` and returns its result.
    pub fn call(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        let id = self.send(method, params);
        loop {
            let message = self.receive();
            if message["id"].as_u64() == Some(id) {
                assert!(message.get("error").is_none(), "{method}: {message}");
                return message["result"].clone();
            }
        }
    }

    /// Calls `method`, then waits until the page has loaded.
    fn call_and_load(&mut self, method: &str, params: serde_json::Value) {
        let id = self.send(method, params);
        let (mut answered, mut loaded) = (false, false);
        while !(answered && loaded) {
            let message = self.receive();
            answered |= message["id"].as_u64() == Some(id);
            loaded |= message["method"] == "Page.loadEventFired";
        }
    }

    pub fn open(&mut self, url: &str) {
        self.call_and_load("Page.navigate", serde_json::json!({ "url": url }));
    }

    /// Runs `script` in the page and returns its value.
    pub fn eval(&mut self, script: &str) -> serde_json::Value {
        let result = self.call("Runtime.evaluate", serde_json::json!({ "expression": script, "returnByValue": true }));
        result["result"]["value"].clone()
    }

    /// Types `text` into the field with the id `id`.
    pub fn fill(&mut self, id: &str, text: &str) {
        let script = format!("document.getElementById({id:?}).value = {text:?}; true");
        assert_eq!(self.eval(&script), serde_json::Value::Bool(true), "no field #{id}");
    }

    /// Chooses `file` in the file field with the id `id`.
    pub fn choose_file(&mut self, id: &str, file: &Path) {
        let found = self
            .call("Runtime.evaluate", serde_json::json!({ "expression": format!("document.getElementById({id:?})") }));
        let object = found["result"]["objectId"].as_str().expect("the file field").to_owned();
        let files = serde_json::json!({ "files": [file.display().to_string()], "objectId": object });
        self.call("DOM.setFileInputFiles", files);
    }

    /// Clicks the element with the id `id` and waits for the next page.
    pub fn click_and_wait(&mut self, id: &str) {
        let script = format!("document.getElementById({id:?}).click(); true");
        self.call_and_load("Runtime.evaluate", serde_json::json!({ "expression": script }));
    }

    pub fn url(&mut self) -> String {
        self.eval("location.href").as_str().unwrap_or_default().to_owned()
    }

    pub fn html(&mut self) -> String {
        self.eval("document.documentElement.outerHTML").as_str().unwrap_or_default().to_owned()
    }

    /// A screenshot of the page as it is, kept under `target/test-artifacts/`.
    pub fn screenshot(&mut self, name: &str) -> PathBuf {
        use base64::Engine;
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
        std::fs::create_dir_all(&dir).unwrap();
        let shot =
            self.call("Page.captureScreenshot", serde_json::json!({ "format": "png", "captureBeyondViewport": true }));
        let bytes = base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().unwrap()).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.session.clear();
        let _ = self.send("Browser.close", serde_json::json!({}));
        super::stop(&mut self.child, "TERM");
    }
}
