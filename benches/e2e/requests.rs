//! New requests while loket runs: dropped into three Dovecot mailboxes (each
//! from its own employee), done when the SMTP sink has accepted both the
//! acknowledgement and the forward (by default counted by the sink: every
//! request sends exactly two mails; with `BENCH_SINK=dump`, read from its dump). A burst measures throughput; a trickle
//! measures the time from arrival to acknowledgement, split into the part
//! before the message was stored (Dovecot announcing it, fetching, storing)
//! and the part after (the outbox).

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use super::sink::{Mode, Sink, Tail, now_ms};
use super::support::{self, TestMailbox, dovecot::Dovecot};

const USERS: [&str; 3] = ["it", "hr", "facility"];

pub struct Sizes {
    pub burst: usize,
    pub trickle: usize,
    /// Between two trickled requests.
    pub trickle_every: Duration,
}

#[derive(Debug)]
pub struct Report {
    pub burst: usize,
    pub burst_secs: f64,
    /// Only when the sink dumps the mails (`BENCH_SINK=dump`).
    pub burst_ack: Option<Percentiles>,
    pub burst_forward: Option<Percentiles>,
    /// CPU time of this process (loket and the bench's own small part) during the burst.
    pub burst_cpu_secs: f64,
    /// From the first arrival to the last request stored, in seconds.
    pub burst_stored_secs: f64,
    /// CPU time of smtp-sink during the burst.
    pub sink_cpu_secs: f64,
    pub trickle: usize,
    pub sink: Mode,
    /// To the acknowledgement accepted; with the sink counting, to the second
    /// of the request's two mails accepted (so at most later than the acknowledgement).
    pub trickle_ack: Percentiles,
    /// Arrival in the mailbox to the message stored.
    pub trickle_stored: Percentiles,
    /// Stored to the acknowledgement accepted.
    pub trickle_outbox: Percentiles,
    pub peak_rss_mib: f64,
}

impl Report {
    pub fn print(&self, store: &str) {
        let rate = self.burst as f64 / self.burst_secs;
        let latency = match (self.burst_ack, self.burst_forward) {
            (Some(ack), Some(forward)) => format!(
                "arrival to ack p50 {:.0} ms, p99 {:.0} ms, to forward p50 {:.0} ms, p99 {:.0} ms; ",
                ack.p50, ack.p99, forward.p50, forward.p99
            ),
            _ => String::new(),
        };
        println!(
            "requests_e2e {store}: {} new requests in 3 mailboxes stored in {:.1} s, done in {:.1} s: {rate:.0} requests/s, {:.0} mails/s; \
             {latency}peak RSS {:.0} MiB; loket's CPU {:.1} s ({:.2} cores), smtp-sink's {:.1} s (sink {:?})",
            self.burst,
            self.burst_stored_secs,
            self.burst_secs,
            rate * 2.0,
            self.peak_rss_mib,
            self.burst_cpu_secs,
            self.burst_cpu_secs / self.burst_secs,
            self.sink_cpu_secs,
            self.sink
        );
        println!(
            "requests_e2e {store}: {} trickled requests: arrival to ack p50 {:.0} ms, p99 {:.0} ms \
             (arrival to stored p50 {:.0} ms, p99 {:.0} ms; stored to ack p50 {:.0} ms, p99 {:.0} ms)",
            self.trickle,
            self.trickle_ack.p50,
            self.trickle_ack.p99,
            self.trickle_stored.p50,
            self.trickle_stored.p99,
            self.trickle_outbox.p50,
            self.trickle_outbox.p99
        );
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
}

impl Percentiles {
    fn of(mut values: Vec<f64>) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        values.sort_by(f64::total_cmp);
        let at = |q: usize| values[(values.len() * q / 100).min(values.len() - 1)];
        Self { p50: at(50), p99: at(99) }
    }
}

/// One request, from its own employee (so that no per-person cap holds its acknowledgement back).
fn request(user: &str, n: usize) -> Vec<u8> {
    let body = "Goedemorgen, mijn laptop start niet meer op en ik heb om elf uur een presentatie.\r\n".repeat(20);
    support::request(
        &format!("Medewerker {n} <employee{n}@example.org>"),
        &format!("{user}@example.org"),
        &format!("{user} request {n}"),
        &body,
        &format!("req-{n}@bench"),
    )
}

/// Puts request `n` into a mailbox as a delivery agent does (tmp, then rename
/// into new), and returns when it arrived.
fn drop_request(dovecot: &Dovecot, owner: Option<(u32, u32)>, n: usize) -> f64 {
    deliver_staged(&stage_request(dovecot, owner, n))
}

/// A request written into a mailbox's `tmp/`, not yet delivered.
struct Staged {
    tmp: std::path::PathBuf,
    new: std::path::PathBuf,
}

/// Writes request `n` into its mailbox's `tmp/`, as a delivery agent does
/// before it delivers. The burst writes all its requests first, so that the
/// delivery agent's work (creating a file per mail, which on this machine's
/// disk costs more CPU than loket spends on a request) is not measured as
/// loket's: on a real installation it happens on the mail server.
fn stage_request(dovecot: &Dovecot, owner: Option<(u32, u32)>, n: usize) -> Staged {
    let user = USERS[n % USERS.len()];
    let maildir = dovecot.maildir(user);
    let name = format!("{}.M{n}P{}.bench", 1_700_000_000 + n, std::process::id());
    let tmp = maildir.join("tmp").join(&name);
    std::fs::write(&tmp, request(user, n)).expect("write");
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(&tmp, Some(uid), Some(gid)).expect("chown");
    }
    Staged { tmp, new: maildir.join("new").join(&name) }
}

/// Delivers a staged request (the rename into `new/`), and returns when it arrived.
fn deliver_staged(staged: &Staged) -> f64 {
    std::fs::rename(&staged.tmp, &staged.new).expect("rename");
    now_ms()
}

fn prepare(dovecot: &Dovecot) {
    for user in USERS {
        let maildir = dovecot.maildir(user);
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub)).expect("maildir");
        }
        if support::is_root() {
            let home = maildir.parent().expect("home");
            let status = Command::new("chown").args(["-R", "nobody:nogroup"]).arg(home).status().expect("chown");
            assert!(status.success());
        }
    }
}

/// Waits until requests `requests` are done; returns when the last was. Counting,
/// a request is done when the sink has accepted two mails per request up to it
/// (requests are numbered from 0 and each sends exactly two).
async fn wait_done(sink: &Sink, tail: Option<&Tail>, requests: std::ops::Range<usize>, limit: Duration) -> f64 {
    let start = std::time::Instant::now();
    let mut reported = start;
    let before = requests.start;
    loop {
        let done = match (tail, sink.counter()) {
            (Some(tail), _) => tail.done(requests.clone()),
            (None, Some(counter)) => (counter.count() / 2).saturating_sub(before).min(requests.len()),
            (None, None) => 0,
        };
        if done == requests.len() {
            return match (tail, sink.counter()) {
                (None, Some(counter)) => counter.accepted(2 * requests.end).unwrap_or_else(now_ms),
                _ => now_ms(),
            };
        }
        if reported.elapsed() >= Duration::from_secs(10) {
            eprintln!("requests_e2e: {done} of {} done", requests.len());
            reported = std::time::Instant::now();
        }
        assert!(start.elapsed() < limit, "only {done} of {} requests done in {limit:?}", requests.len());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn watched(store_url: &str) {
    sqlx::any::install_default_drivers();
    let start = std::time::Instant::now();
    loop {
        if let Ok(pool) = sqlx::AnyPool::connect(store_url).await {
            let count: Result<i64, _> =
                sqlx::query_scalar("SELECT COUNT(*) FROM mailboxes WHERE uidvalidity IS NOT NULL")
                    .fetch_one(&pool)
                    .await;
            pool.close().await;
            if count.is_ok_and(|c| c == USERS.len() as i64) {
                return;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(60), "loket did not watch the mailboxes within a minute");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// When each stored request was stored, by request number.
async fn stored_at(store_url: &str) -> std::collections::HashMap<usize, f64> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(store_url).await.expect("store for reading");
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT message_id, received_at FROM messages WHERE direction = 'in' AND message_id IS NOT NULL",
    )
    .fetch_all(&pool)
    .await
    .expect("stored messages");
    pool.close().await;
    rows.into_iter()
        .filter_map(|(id, at)| {
            let n = id.trim_matches(['<', '>']).strip_prefix("req-")?.strip_suffix("@bench")?.parse().ok()?;
            Some((n, at as f64))
        })
        .collect()
}

/// User and system time of a process so far (clock ticks of 1/100 s).
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

pub fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

pub async fn run(store_url: &str, sizes: &Sizes) -> Report {
    let dovecot = Arc::new(Dovecot::start(&USERS));
    prepare(&dovecot);
    // Dovecot reads the mail as the service user when it runs as root.
    let owner = support::is_root().then(|| {
        let (uid, gid, _) = support::service_user();
        (uid, gid)
    });
    let sink = Sink::start(Mode::from_env());
    let tail = (sink.mode == Mode::Dump).then(|| Tail::follow(&sink));
    let processed = "processed_folder = \"Processed\"";
    let mailboxes = [
        TestMailbox { extra: processed, ..TestMailbox::new("it-old", "it", "it") },
        TestMailbox { extra: processed, ..TestMailbox::new("hr-old", "hr", "hr") },
        TestMailbox { extra: processed, ..TestMailbox::new("facility-old", "facility", "facility") },
    ];
    let smtp = format!("[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n", sink.port);
    // Sixteen SMTP sessions at once, as for a relay of the organisation's own;
    // `BENCH_CONNECTIONS` sets another `outbox.connections`.
    let connections = std::env::var("BENCH_CONNECTIONS").unwrap_or_else(|_| "16".into());
    let smtp = format!("{smtp}[outbox]\nconnections = {connections}\n");
    let config = support::config(store_url, dovecot.port, &mailboxes, &smtp);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let daemon = tokio::spawn(loket::app::run(Arc::new(config), shutdown.clone()));

    // Mail already there when loket first looks is backlog (no acknowledgement):
    // wait until every mailbox has been looked at, then send one request to each,
    // so that every connection is open before the clock starts.
    watched(store_url).await;
    let mut next = 0;
    for _ in USERS {
        drop_request(&dovecot, owner, next);
        next += 1;
    }
    wait_done(&sink, tail.as_ref(), 0..next, Duration::from_secs(60)).await;
    reset_peak_rss();

    let burst = next..next + sizes.burst;
    let from = dovecot.clone();
    let range = burst.clone();
    let staged: Vec<Staged> =
        tokio::task::spawn_blocking(move || range.map(|n| stage_request(&from, owner, n)).collect())
            .await
            .expect("burst written");
    let cpu_before = cpu_secs("self");
    let sink_before = cpu_secs(&sink.pid().to_string());
    let arrived: Vec<f64> =
        tokio::task::spawn_blocking(move || staged.iter().map(deliver_staged).collect()).await.expect("burst");
    let finished = wait_done(&sink, tail.as_ref(), burst.clone(), Duration::from_secs(1200)).await;
    let burst_start = arrived[0];
    let burst_secs = (finished - burst_start) / 1000.0;
    let burst_cpu_secs = cpu_secs("self") - cpu_before;
    let sink_cpu_secs = cpu_secs(&sink.pid().to_string()) - sink_before;
    let burst_ack = tail.as_ref().map(|tail| {
        Percentiles::of(
            burst.clone().zip(&arrived).filter_map(|(n, at)| tail.accepted(n).ack.map(|ack| ack - at)).collect(),
        )
    });
    let burst_forward = tail.as_ref().map(|tail| {
        Percentiles::of(
            burst.clone().zip(&arrived).filter_map(|(n, at)| tail.accepted(n).forward.map(|sent| sent - at)).collect(),
        )
    });
    next = burst.end;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let trickle = next..next + sizes.trickle;
    let (from, range, every) = (dovecot.clone(), trickle.clone(), sizes.trickle_every);
    let arrived: Vec<f64> = tokio::task::spawn_blocking(move || {
        range
            .map(|n| {
                let at = drop_request(&from, owner, n);
                std::thread::sleep(every);
                at
            })
            .collect()
    })
    .await
    .expect("trickle");
    wait_done(&sink, tail.as_ref(), trickle.clone(), Duration::from_secs(120)).await;
    let peak_rss_mib = peak_rss_mib();
    shutdown.cancel();
    daemon.await.expect("join").expect("daemon");

    let stored = stored_at(store_url).await;
    let last_stored = burst.clone().filter_map(|n| stored.get(&n).copied()).fold(f64::MIN, f64::max);
    let burst_stored_secs = (last_stored - burst_start) / 1000.0;
    let (mut ack, mut before, mut after) = (Vec::new(), Vec::new(), Vec::new());
    for (n, at) in trickle.clone().zip(&arrived) {
        let acked = match (&tail, sink.counter()) {
            (Some(tail), _) => tail.accepted(n).ack,
            (None, Some(counter)) => counter.accepted(2 * (n + 1)),
            (None, None) => None,
        };
        let Some(acked) = acked else { continue };
        ack.push(acked - at);
        if let Some(stored) = stored.get(&n) {
            before.push(stored - at);
            after.push(acked - stored);
        }
    }
    let mode = sink.mode;
    drop(tail);
    drop(sink);
    Report {
        burst: sizes.burst,
        burst_secs,
        burst_ack,
        burst_forward,
        burst_cpu_secs,
        burst_stored_secs,
        sink_cpu_secs,
        trickle: sizes.trickle,
        sink: mode,
        trickle_ack: Percentiles::of(ack),
        trickle_stored: Percentiles::of(before),
        trickle_outbox: Percentiles::of(after),
        peak_rss_mib,
    }
}
