//! A private Dovecot: IMAP on a loopback port, IMAPS on another, STARTTLS,
//! IDLE, MOVE and UIDPLUS, users from a passwd-file, mail in Maildirs under
//! the temp dir.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::tls::TestCa;
use super::{free_port, hand_over, is_root, service_user, wait_until};

pub const PASSWORD: &str = "secret";

/// The capabilities of a server from before RFC 4315 and RFC 6851: no MOVE, no UIDPLUS.
pub const WITHOUT_MOVE_AND_UIDPLUS: &str =
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ NAMESPACE CHILDREN";

/// How the private server differs from the default.
#[derive(Debug, Default, Clone, Copy)]
pub struct Options {
    /// The whole CAPABILITY answer after login, for a server with less.
    pub capability: Option<&'static str>,
}

pub struct Dovecot {
    pub port: u16,
    pub tls_port: u16,
    pub ca_file: PathBuf,
    dir: tempfile::TempDir,
    child: Child,
}

fn binary() -> String {
    ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("dovecot")
        .to_owned()
}

impl Dovecot {
    /// Starts Dovecot with the given users, all with [`PASSWORD`].
    pub fn start(users: &[&str]) -> Self {
        Self::start_with(users, Options::default())
    }

    /// Like [`Dovecot::start`], and the users may also sign in with XOAUTH2 or
    /// OAUTHBEARER with a token that the introspection endpoint at `url` (RFC 7662)
    /// says is active and theirs.
    pub fn with_oauth(users: &[&str], introspection_url: &str) -> Self {
        Self::create(users, Options::default(), Some(introspection_url))
    }

    /// Starts Dovecot with the given users and options.
    pub fn start_with(users: &[&str], options: Options) -> Self {
        Self::create(users, options, None)
    }

    fn create(users: &[&str], options: Options, introspection_url: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        hand_over(root);
        for sub in ["run", "state", "home"] {
            std::fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        hand_over(&root.join("home"));
        let ca = TestCa::create(root);
        let passwd: String = users.iter().map(|u| format!("{u}:{{PLAIN}}{PASSWORD}\n")).collect();
        std::fs::write(root.join("passwd"), passwd).expect("passwd");
        let (_, _, user) = service_user();
        let (login_user, internal_user) =
            if is_root() { ("dovenull".to_owned(), "dovecot".to_owned()) } else { (user.clone(), user.clone()) };
        let port = free_port();
        let tls_port = free_port();
        let r = root.display();
        let capability = options.capability.map(|c| format!("imap_capability = {c}\n")).unwrap_or_default();
        let config = format!(
            r#"{capability}
base_dir = {r}/run
state_dir = {r}/state
log_path = {r}/dovecot.log
info_log_path = {r}/dovecot.log
listen = 127.0.0.1
protocols = imap
default_login_user = {login_user}
default_internal_user = {internal_user}
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login{oauth_mechanisms}
mail_location = maildir:~/Maildir
mail_fsync = never
passdb {{
  driver = passwd-file
  args = {r}/passwd
}}
{oauth_passdb}
userdb {{
  driver = static
  args = uid={user} gid={group} home={r}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
protocol imap {{
  mail_max_userip_connections = 200
}}
"#,
            oauth_mechanisms = if introspection_url.is_some() { " xoauth2 oauthbearer" } else { "" },
            oauth_passdb = if introspection_url.is_some() {
                format!(
                    "passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {r}/oauth2.conf\n}}"
                )
            } else {
                String::new()
            },
            cert = ca.cert_file.display(),
            key = ca.key_file.display(),
            group = if is_root() { "nogroup".to_owned() } else { user.clone() },
        );
        if let Some(url) = introspection_url {
            let oauth = format!(
                "introspection_mode = post\nintrospection_url = {url}\nusername_attribute = username\n\
                 active_attribute = active\nactive_value = true\nforce_introspection = yes\n"
            );
            std::fs::write(root.join("oauth2.conf"), oauth).expect("oauth2.conf");
        }
        let config_path = root.join("dovecot.conf");
        std::fs::write(&config_path, config).expect("dovecot.conf");
        let child = spawn(&config_path);
        let this = Self { port, tls_port, ca_file: ca.ca_file.clone(), dir, child };
        this.wait_for_listeners();
        this
    }

    fn wait_for_listeners(&self) {
        let (port, tls_port) = (self.port, self.tls_port);
        wait_until("dovecot to listen", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_ok()
        });
    }

    /// Stops the server, dropping every connection, and starts it again on the same ports.
    pub fn restart(&mut self) {
        self.restart_after(|_| {});
    }

    /// Stops the server, runs `meanwhile` on its home directory (the users'
    /// Maildirs are under it), and starts it again on the same ports.
    pub fn restart_after(&mut self, meanwhile: impl FnOnce(&std::path::Path)) {
        super::stop(&mut self.child, "TERM");
        wait_until("dovecot to stop listening", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err()
        });
        meanwhile(&self.dir.path().join("home"));
        self.child = spawn(&self.dir.path().join("dovecot.conf"));
        self.wait_for_listeners();
    }

    /// Ends every session of `user`, as a server does when it stops trusting a login.
    pub fn kick(&self, user: &str) {
        let doveadm = binary().replace("sbin/dovecot", "bin/doveadm");
        let status = Command::new(doveadm)
            .arg("-c")
            .arg(self.dir.path().join("dovecot.conf"))
            .args(["kick", user])
            .stdout(Stdio::null())
            .status()
            .expect("doveadm");
        assert!(status.success(), "doveadm kick {user}");
    }

    /// Open IMAP sessions per user, as `doveadm who` counts them.
    pub fn sessions(&self) -> std::collections::HashMap<String, usize> {
        let doveadm = binary().replace("sbin/dovecot", "bin/doveadm");
        let output = Command::new(doveadm)
            .arg("-c")
            .arg(self.dir.path().join("dovecot.conf"))
            .arg("who")
            .output()
            .expect("doveadm who");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .skip(1)
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                Some((fields.next()?.to_owned(), fields.next()?.parse().ok()?))
            })
            .collect()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// The Maildir of a user, as Dovecot keeps it.
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.dir.path().join("home").join(user).join("Maildir")
    }
}

fn spawn(config: &std::path::Path) -> Child {
    Command::new(binary())
        .args(["-F", "-c"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dovecot could not be started; scripts/test installs dovecot-imapd")
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        super::stop(&mut self.child, "TERM");
    }
}
