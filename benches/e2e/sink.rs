//! Postfix's `smtp-sink` as the relay: a C server that takes mail as fast as it
//! comes. It either counts the mails it accepted ([`Mode::Count`], its `-c`
//! counter, read by [`Counter`]), or also appends every mail to one dump file
//! ([`Mode::Dump`]), which [`Tail`] follows to see which request's
//! acknowledgement and forward were accepted, and when (to within the few
//! milliseconds between two reads). The dump costs `smtp-sink` about a
//! millisecond of CPU per mail on this machine's disk (a file created and
//! removed per mail), more than loket spends on a request, so throughput is
//! measured with the counter.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::support::{free_port, hand_over, is_root, stop, wait_until};

/// The line `smtp-sink -S` writes before every mail.
const MARKER: &str = "@@loket-bench@@";
/// How often the dump file is read.
const TAIL_EVERY: Duration = Duration::from_millis(2);

/// What `smtp-sink` keeps of the mail it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only a count, with the time each mail was accepted.
    Count,
    /// Every mail, in a dump file, to tell whose acknowledgement and forward each is.
    Dump,
}

impl Mode {
    /// `BENCH_SINK=dump` or `count` (the default).
    pub fn from_env() -> Self {
        match std::env::var("BENCH_SINK").as_deref() {
            Ok("dump") => Self::Dump,
            _ => Self::Count,
        }
    }
}

pub struct Sink {
    pub port: u16,
    pub mode: Mode,
    dir: tempfile::TempDir,
    child: Child,
    counter: Option<Counter>,
}

impl Sink {
    /// True when Postfix's `smtp-sink` is installed (`scripts/bench-e2e` installs it).
    pub fn available() -> bool {
        ["/usr/sbin/smtp-sink", "/usr/local/sbin/smtp-sink"].into_iter().any(|p| Path::new(p).exists())
    }

    pub fn start(mode: Mode) -> Self {
        let binary = ["/usr/sbin/smtp-sink", "/usr/local/sbin/smtp-sink"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("smtp-sink is missing: scripts/bench-e2e installs Debian's postfix package");
        let dir = tempfile::tempdir().expect("temp dir");
        hand_over(dir.path());
        let port = free_port();
        let mut command = Command::new(binary);
        if is_root() {
            command.args(["-u", "nobody"]);
        }
        match mode {
            Mode::Dump => command.args(["-S", &format!("{MARKER}\\n"), "-D"]).arg(dir.path().join("dump")),
            Mode::Count => command.arg("-c"),
        };
        let mut child = command
            .arg(format!("127.0.0.1:{port}"))
            .arg("256")
            .stdout(if mode == Mode::Count { Stdio::piped() } else { Stdio::null() })
            .stderr(Stdio::null())
            .spawn()
            .expect("smtp-sink could not be started");
        let counter = child.stdout.take().map(Counter::follow);
        wait_until("smtp-sink to listen", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Self { port, mode, dir, child, counter }
    }

    /// The counter of a sink in [`Mode::Count`].
    pub fn counter(&self) -> Option<&Counter> {
        self.counter.as_ref()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn dump(&self) -> PathBuf {
        self.dir.path().join("dump")
    }
}

/// Reads the `-c` counter that `smtp-sink` writes after every mail
/// (`sess=1 quit=0 msg=42\r`) and keeps the time each mail was accepted.
pub struct Counter {
    times: Arc<Mutex<Vec<f64>>>,
}

impl Counter {
    fn follow(mut stdout: std::process::ChildStdout) -> Self {
        let times = Arc::new(Mutex::new(Vec::new()));
        let into = times.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            let mut line = Vec::new();
            while let Ok(read) = stdout.read(&mut buffer) {
                if read == 0 {
                    break;
                }
                let at = now_ms();
                for byte in &buffer[..read] {
                    if *byte != b'\r' && *byte != b'\n' {
                        line.push(*byte);
                        continue;
                    }
                    let text = String::from_utf8_lossy(&line);
                    if let Some(count) =
                        text.split_whitespace().find_map(|f| f.strip_prefix("mesg=")?.parse::<usize>().ok())
                    {
                        let mut times = into.lock().expect("counter lock");
                        while times.len() < count {
                            times.push(at);
                        }
                    }
                    line.clear();
                }
            }
        });
        Self { times }
    }

    /// How many mails were accepted so far.
    pub fn count(&self) -> usize {
        self.times.lock().expect("counter lock").len()
    }

    /// When the `n`th mail (from 1) was accepted.
    pub fn accepted(&self, n: usize) -> Option<f64> {
        n.checked_sub(1).and_then(|i| self.times.lock().expect("counter lock").get(i).copied())
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        stop(&mut self.child, "TERM");
    }
}

/// When a request's mails were accepted, in milliseconds since the epoch.
#[derive(Debug, Clone, Copy, Default)]
pub struct Accepted {
    pub ack: Option<f64>,
    pub forward: Option<f64>,
}

impl Accepted {
    pub fn done(&self) -> bool {
        self.ack.is_some() && self.forward.is_some()
    }
}

/// Follows the sink's dump file on a thread of its own.
pub struct Tail {
    seen: Arc<Mutex<HashMap<usize, Accepted>>>,
    stopped: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Tail {
    pub fn follow(sink: &Sink) -> Self {
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let stopped = Arc::new(AtomicBool::new(false));
        let (path, into, stop) = (sink.dump(), seen.clone(), stopped.clone());
        let thread = std::thread::spawn(move || follow(&path, &into, &stop));
        Self { seen, stopped, thread: Some(thread) }
    }

    /// How many of `requests` have both mails accepted.
    pub fn done(&self, requests: std::ops::Range<usize>) -> usize {
        let seen = self.seen.lock().expect("tail lock");
        requests.filter(|r| seen.get(r).is_some_and(Accepted::done)).count()
    }

    pub fn accepted(&self, request: usize) -> Accepted {
        self.seen.lock().expect("tail lock").get(&request).copied().unwrap_or_default()
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub fn now_ms() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Which mail is being read: the forward goes to a department's queue, the
/// acknowledgement to the requester; the request is the first `<req-N@bench>`
/// in it (the acknowledgement's In-Reply-To, the forward's attached original).
#[derive(Default)]
struct Current {
    forward: Option<bool>,
    request: Option<usize>,
    noted: bool,
}

fn follow(path: &Path, seen: &Mutex<HashMap<usize, Accepted>>, stopped: &AtomicBool) {
    let mut offset = 0u64;
    let mut pending: Vec<u8> = Vec::new();
    let mut current = Current::default();
    let mut chunk = Vec::new();
    while !stopped.load(Ordering::Relaxed) {
        std::thread::sleep(TAIL_EVERY);
        let Ok(mut file) = std::fs::File::open(path) else { continue };
        if file.seek(SeekFrom::Start(offset)).is_err() {
            continue;
        }
        chunk.clear();
        let Ok(read) = file.read_to_end(&mut chunk) else { continue };
        offset += read as u64;
        pending.extend_from_slice(&chunk);
        let Some(last) = pending.iter().rposition(|b| *b == b'\n') else { continue };
        let at = now_ms();
        let mut noted = Vec::new();
        for line in pending[..last].split(|b| *b == b'\n') {
            let line = String::from_utf8_lossy(line);
            if line == MARKER {
                current = Current::default();
            } else if let Some(rcpt) = line.strip_prefix("X-Rcpt-Args: ") {
                current.forward = Some(rcpt.contains("-queue@"));
            } else if current.request.is_none()
                && let Some(request) = request_of(&line)
            {
                current.request = Some(request);
            }
            if let (false, Some(forward), Some(request)) = (current.noted, current.forward, current.request) {
                current.noted = true;
                noted.push((request, forward));
            }
        }
        pending.drain(..=last);
        let mut seen = seen.lock().expect("tail lock");
        for (request, forward) in noted {
            let entry = seen.entry(request).or_default();
            let slot = if forward { &mut entry.forward } else { &mut entry.ack };
            slot.get_or_insert(at);
        }
    }
}

fn request_of(line: &str) -> Option<usize> {
    let start = line.find("<req-")? + "<req-".len();
    let rest = &line[start..];
    let end = rest.find("@bench>")?;
    rest[..end].parse().ok()
}
