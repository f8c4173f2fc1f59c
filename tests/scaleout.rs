//! Several instances: SQLite refuses a second one; on PostgreSQL they share the
//! mailboxes and the outbox, each mailbox read and each mail claimed by one at a
//! time, on the database's clock.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::support::{eventually, free_port};

fn spawn_daemon(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_loket"))
        .args(["run", "--config"])
        .arg(config)
        .env("LOKET_LOG", "warn")
        .env_remove("LOKET_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start loket")
}

fn loket(args: &[&str], config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loket"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env("LOKET_LOG", "warn")
        .env_remove("LOKET_CONFIG")
        .output()
        .expect("run loket")
}

/// A daemon on a SQLite file and a maildir, serving its operators' listener on `ops`.
fn sqlite_config(dir: &Path, ops: u16) -> std::path::PathBuf {
    let maildir = dir.join("it");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let extra = format!(
        "[web]\nlisten = \"127.0.0.1:{}\"\nops_listen = \"127.0.0.1:{ops}\"\n\n[outbox]\nfile_dir = \"{}\"\n",
        free_port(),
        dir.join("outbox").display()
    );
    let mut text = crate::support::config_text(&crate::support::sqlite_url(dir), 143, &[], &extra)
        .replace("[smtp]\nhost = \"127.0.0.1\"\nport = 2525\ntls = \"none\"", "");
    text.push_str(&format!(
        "\n[[mailboxes]]\nname = \"it-old\"\ndepartment = \"it\"\nmaildir = \"{}\"\n",
        maildir.display()
    ));
    let path = dir.join("loket.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// SQLite serves one instance: a second `loket run` on the same file refuses
/// with a message naming it, while the command line keeps working beside the daemon.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_on_the_same_sqlite_file_refuses_to_start_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let ops = free_port();
    let config = sqlite_config(dir.path(), ops);
    let mut first = spawn_daemon(&config);
    eventually("the first daemon's operators' listener", Duration::from_secs(30), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", ops)).await.is_ok()
    })
    .await;

    let second = loket(&["run"], &config);
    let message = String::from_utf8_lossy(&second.stderr).into_owned();
    assert!(!second.status.success(), "the second instance ran: {message}");
    assert!(message.contains(&dir.path().join("loket.db").display().to_string()), "{message}");
    assert!(message.contains("another loket instance"), "{message}");

    let listed = loket(&["tickets", "list"], &config);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    assert!(first.try_wait().unwrap().is_none(), "the first daemon still runs");

    crate::support::stop(&mut first, "TERM");
    let again = spawn_daemon(&config);
    let mut again = again;
    eventually("a new daemon once the first has stopped", Duration::from_secs(30), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", ops)).await.is_ok()
    })
    .await;
    assert!(again.try_wait().unwrap().is_none(), "the lock went with the stopped daemon");
    crate::support::stop(&mut again, "TERM");
}
