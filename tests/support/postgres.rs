//! A private PostgreSQL cluster: initdb in a temp dir, the server on a loopback port.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{free_port, hand_over, is_root, service_user, wait_until};

pub struct Postgres {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
    /// Server options beyond the defaults (TLS), kept for a restart.
    args: Vec<String>,
}

fn bin(name: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path().join("bin").join(name)).filter(|p| p.exists()).collect())
        .unwrap_or_default();
    versions.sort();
    versions.pop().unwrap_or_else(|| PathBuf::from(name))
}

fn as_service_user(command: &mut Command) -> &mut Command {
    if is_root() {
        use std::os::unix::process::CommandExt;
        let (uid, gid, _) = service_user();
        command.uid(uid).gid(gid);
    }
    command
}

impl Postgres {
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// A cluster that also speaks TLS with a `localhost` certificate from a test CA,
    /// whose certificate is returned as a file.
    pub fn start_with_tls() -> (Self, PathBuf) {
        let this = Self::start_with(true);
        let ca = this.dir.path().join("ca.pem");
        (this, ca)
    }

    fn start_with(tls: bool) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        hand_over(dir.path());
        let data = dir.path().join("data");
        let status = as_service_user(
            Command::new(bin("initdb"))
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"])
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .status()
        .expect("initdb could not be started; scripts/test installs postgresql");
        assert!(status.success(), "initdb failed");
        let mut tls_args = Vec::new();
        if tls {
            use std::os::unix::fs::PermissionsExt;
            let ca = super::tls::TestCa::create(dir.path());
            for file in [&ca.ca_file, &ca.cert_file, &ca.key_file] {
                hand_over(file);
            }
            std::fs::set_permissions(&ca.key_file, std::fs::Permissions::from_mode(0o600)).expect("chmod key");
            tls_args = vec![
                "-c".to_owned(),
                "ssl=on".to_owned(),
                "-c".to_owned(),
                format!("ssl_cert_file={}", ca.cert_file.display()),
                "-c".to_owned(),
                format!("ssl_key_file={}", ca.key_file.display()),
            ];
        }
        let port = free_port();
        let child = spawn(dir.path(), port, &tls_args);
        let this = Self { port, dir, child, args: tls_args };
        wait_until("postgres to listen", Duration::from_secs(30), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        this
    }

    /// Stops the server (fast shutdown); [`Postgres::resume`] starts it again.
    pub fn stop(&mut self) {
        super::stop(&mut self.child, "INT");
    }

    /// Starts the stopped server again, on the same port with the same data.
    pub fn resume(&mut self) {
        self.child = spawn(self.dir.path(), self.port, &self.args);
    }

    /// A fresh database on this cluster, as a `postgres://` URL.
    pub async fn database(&self, name: &str) -> String {
        use sqlx::Connection;
        let admin = format!("postgres://postgres@127.0.0.1:{}/postgres", self.port);
        let mut last_error = None;
        for _ in 0..100 {
            match sqlx::PgConnection::connect(&admin).await {
                Ok(mut conn) => {
                    let create = format!("CREATE DATABASE \"{name}\"");
                    sqlx::query(sqlx::AssertSqlSafe(create)).execute(&mut conn).await.expect("create database");
                    return format!("postgres://postgres@127.0.0.1:{}/{name}", self.port);
                }
                Err(error) => last_error = Some(error),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("postgres did not accept connections: {last_error:?}");
    }
}

/// The server on `port` over the cluster in `dir`, tuned for tests (no fsync).
fn spawn(dir: &std::path::Path, port: u16, args: &[String]) -> Child {
    as_service_user(
        Command::new(bin("postgres"))
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-k")
            .arg(dir)
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .spawn()
    .expect("postgres could not be started")
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGINT is PostgreSQL's fast shutdown.
        super::stop(&mut self.child, "INT");
    }
}
