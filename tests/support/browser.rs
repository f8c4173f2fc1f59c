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
