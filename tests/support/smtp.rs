//! A private SMTP server (aiosmtpd) that stores what it receives, with STARTTLS
//! and implicit TLS from the test CA; optionally with a login whose password the
//! test changes while the server runs, and with recipients it refuses.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::tls::TestCa;
use super::{free_port, wait_until};

pub struct SmtpSink {
    pub port: u16,
    pub tls_port: u16,
    pub ca_file: PathBuf,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// The user that must log in, when a login is required.
    user: Option<String>,
    /// The introspection endpoint that checks XOAUTH2 tokens, when those are required.
    introspect: Option<String>,
}

/// Debian's python3-aiosmtpd lives with the system interpreter.
fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" }
}

impl SmtpSink {
    pub fn start() -> Self {
        Self::create(None)
    }

    /// A server that takes mail only after a login as `user` with `password`.
    pub fn with_login(user: &str, password: &str) -> Self {
        Self::create(Some((user, password)))
    }

    /// A server that takes mail only after AUTH XOAUTH2 with a token that the
    /// introspection endpoint at `url` calls active.
    pub fn with_oauth(url: &str) -> Self {
        let mut this = Self::prepare(None);
        this.introspect = Some(url.to_owned());
        this.resume();
        this
    }

    fn create(login: Option<(&str, &str)>) -> Self {
        let mut this = Self::prepare(login);
        this.resume();
        this
    }

    fn prepare(login: Option<(&str, &str)>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("mail")).expect("mail dir");
        let ca = TestCa::create(dir.path());
        let user = login.map(|(user, _)| user.to_owned());
        let this = Self {
            port: free_port(),
            tls_port: free_port(),
            ca_file: ca.ca_file.clone(),
            dir,
            child: None,
            user,
            introspect: None,
        };
        if let Some((_, password)) = login {
            this.set_password(password);
        }
        this
    }

    /// From now on, logins need this password (as when an administrator rotates it).
    pub fn set_password(&self, password: &str) {
        std::fs::write(self.dir.path().join("password"), password).expect("password file");
    }

    /// Refuses mail to `address` at RCPT with 550 from now on.
    pub fn refuse(&self, address: &str) {
        let path = self.dir.path().join("mail/refused.txt");
        let mut list = std::fs::read_to_string(&path).unwrap_or_default();
        list.push_str(address);
        list.push('\n');
        std::fs::write(path, list).expect("refused list");
    }

    /// Refuses every address at `@domain` at RCPT with `reply` (code and text) from now on.
    pub fn refuse_domain(&self, domain: &str, reply: &str) {
        self.refuse(&format!("@{domain} {reply}"));
    }

    /// Waits `delay` before answering the end of every mail's DATA from now on, as
    /// a slow server does.
    pub fn slow_down(&self, delay: Duration) {
        std::fs::write(self.dir.path().join("mail/delay.txt"), delay.as_secs_f64().to_string()).expect("delay file");
    }

    /// Takes mail to every address again.
    pub fn refuse_nobody(&self) {
        let _ = std::fs::remove_file(self.dir.path().join("mail/refused.txt"));
    }

    /// Stops the server: connections are refused until [`SmtpSink::resume`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            super::stop(&mut child, "INT");
        }
    }

    /// Starts the server (again) on the same ports.
    pub fn resume(&mut self) {
        let root = self.dir.path();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        let mut command = Command::new(python());
        command.arg(script);
        if let Some(user) = &self.user {
            command.args(["--user", user]).arg("--password-file").arg(root.join("password"));
        }
        if let Some(url) = &self.introspect {
            command.args(["--introspect", url]);
        }
        let child = command
            .args(["--port", &self.port.to_string(), "--tls-port", &self.tls_port.to_string()])
            .arg("--cert")
            .arg(root.join("cert.pem"))
            .arg("--key")
            .arg(root.join("key.pem"))
            .arg("--dir")
            .arg(root.join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the SMTP sink could not be started; scripts/test installs python3-aiosmtpd");
        self.child = Some(child);
        let (port, tls_port) = (self.port, self.tls_port);
        wait_until("the SMTP sink to listen", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_ok()
        });
    }

    /// The `[smtp]` section that sends to this server (STARTTLS with its CA).
    pub fn section(&self) -> String {
        format!(
            "[smtp]\nhost = \"localhost\"\nport = {}\ntls = \"starttls\"\nca_file = \"{}\"\ntimeout_secs = 10\n",
            self.port,
            self.ca_file.display()
        )
    }

    /// Every stored message with its envelope, oldest first.
    pub fn received(&self) -> Vec<Received> {
        let folder = self.dir.path().join("mail");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&folder)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .into_iter()
            .map(|path| {
                let meta: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(path.with_extension("json")).expect("meta"))
                        .expect("json");
                Received {
                    mail_from: meta["mail_from"].as_str().unwrap_or_default().to_owned(),
                    rcpt_tos: meta["rcpt_tos"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                        .unwrap_or_default(),
                    tls: meta["tls"].as_bool().unwrap_or(false),
                    bytes: std::fs::read(&path).expect("eml"),
                }
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub tls: bool,
    pub bytes: Vec<u8>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}
