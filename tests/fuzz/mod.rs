//! Fuzzing the pure stages with proptest, on the stable toolchain: real messages
//! (`tests/fixtures/mime`, `tests/fixtures/fuzz/seeds`, the routing scenarios and
//! the inputs found before, `tests/fixtures/fuzz/found`) mutated and fed to intake,
//! the guard, threading, quote stripping, language detection and the classifier.
//!
//! The default run is a smoke run of 128 cases per property. `PROPTEST_CASES=N` runs
//! N cases per property, `FUZZ_WORD_MAX` and `FUZZ_HEADER_MAX` raise the longest
//! generated word and header line (`LOKET_*` names would be read as config keys). A case that panics is written to
//! `target/fuzz-found/` before the panic is passed on; a case that takes longer than
//! the per-case timeout fails the run.

mod mutate;
mod stages;

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use loket::config::Config;
use loket::domain::TicketRef;
use loket::inbound::intake::{self, AttachmentData, IntakeError, Normalised};
use loket::routing::classify::Routing;
use loket::sign::Signer;
use proptest::test_runner::{Config as ProptestConfig, RngSeed};

const SMOKE_SEED: u64 = 0x6c6f_6b65_7466_757a;

/// How big and how many: the smoke run's defaults, raised from the environment.
pub struct Limits {
    pub cases: u32,
    pub word_max: u16,
    pub header_max: u32,
}

pub fn limits() -> &'static Limits {
    static LIMITS: OnceLock<Limits> = OnceLock::new();
    LIMITS.get_or_init(|| {
        let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
        Limits {
            cases: var("PROPTEST_CASES").map_or(128, |n| n.clamp(1, u64::from(u32::MAX)) as u32),
            word_max: var("FUZZ_WORD_MAX").map_or(2_000, |n| n.clamp(2, u64::from(u16::MAX)) as u16),
            header_max: var("FUZZ_HEADER_MAX").map_or(100_000, |n| n.clamp(2, 1 << 30) as u32),
        }
    })
}

/// The smoke run tries the same cases every time, so that a failure in the test
/// command is never chance; a longer run (`PROPTEST_CASES`) draws new ones, and
/// `PROPTEST_RNG_SEED` replays a run.
pub fn proptest_config() -> ProptestConfig {
    let default = ProptestConfig::default();
    let rng_seed = match (std::env::var_os("PROPTEST_RNG_SEED"), std::env::var_os("PROPTEST_CASES")) {
        (Some(_), _) => default.rng_seed,
        (None, Some(_)) => RngSeed::Random,
        (None, None) => RngSeed::Fixed(SMOKE_SEED),
    };
    ProptestConfig {
        cases: limits().cases,
        rng_seed,
        // Hangs fail the run instead of stalling it; debug builds are slow, so loose.
        timeout: 60_000,
        max_shrink_time: 120_000,
        failure_persistence: None,
        ..default
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read_dir(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "eml"));
    files.sort();
    files
}

/// The seed corpus: every real message in the fixtures, the routing scenarios
/// without their directive lines, and the inputs found before.
pub fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut seeds = Vec::new();
        for dir in ["mime", "fuzz/seeds", "fuzz/found"] {
            seeds.extend(read_dir(&fixtures().join(dir)).iter().map(|p| std::fs::read(p).unwrap()));
        }
        for path in read_dir(&fixtures().join("routing")) {
            let text = std::fs::read_to_string(&path).unwrap();
            let raw: Vec<&str> = text.lines().filter(|l| !l.starts_with("#!")).collect();
            seeds.push((raw.join("\r\n") + "\r\n").into_bytes());
        }
        assert!(seeds.len() >= 280, "only {} seed messages", seeds.len());
        seeds
    })
}

pub fn signer() -> Signer {
    Signer::new(b"fuzzing secret")
}

/// A Message-ID loket signed, so that mutations can put one in a reply.
pub fn signed_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| signer().message_id(&TicketRef::new("SD", 42), "ack", "desk.example.org"))
}

/// The out-of-the-box departments and mailboxes, with a rule on keywords.
pub fn config() -> Arc<Config> {
    static CONFIG: OnceLock<Arc<Config>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut text = String::from(
                "[store]\nurl = \"sqlite://unused.db\"\n[desk]\nname = \"Service Desk\"\n\
                 address = \"servicedesk@example.org\"\nbase_url = \"http://127.0.0.1\"\n\
                 [[routing.rules]]\nname = \"badges\"\ndepartment = \"facility\"\nkeywords = [\"toegangspas\"]\n",
            );
            for id in ["it", "hr", "facility"] {
                text.push_str(&format!(
                    "[[departments]]\nid = \"{id}\"\nname = \"{id}\"\nqueue_address = \"{id}-queue@example.org\"\n\
                     [[mailboxes]]\nname = \"{id}-old\"\ndepartment = \"{id}\"\nmaildir = \"/nonexistent/{id}\"\n"
                ));
            }
            text.push_str("[[mailboxes]]\nname = \"desk\"\nmaildir = \"/nonexistent/desk\"\n");
            Arc::new(loket::config::load_str(&text).expect("fuzzing config"))
        })
        .clone()
}

/// The classifier trained once from the shipped examples.
pub fn routing() -> Arc<Routing> {
    static ROUTING: OnceLock<Arc<Routing>> = OnceLock::new();
    ROUTING.get_or_init(|| Arc::new(Routing::from_config(&config()))).clone()
}

/// mail-parser 0.11.9 checks this with `debug_assert!` while parsing some nested
/// `message/rfc822` parts, real mail among them (a 1996 Netscape test message in
/// the seeds). Release builds leave the check out, and the daemon quarantines what
/// panics in the parser (`plan::plan`), so here it counts as a refused message.
const PARSER_DEBUG_ASSERTION: &str = "Invalid part ID, could not find multipart.";

/// `intake::parse`, or `None` where only mail-parser's debug assertion stops it.
pub fn parse(raw: &[u8]) -> Option<Result<Normalised, IntakeError>> {
    match catch_unwind(|| intake::parse(raw)) {
        Ok(parsed) => Some(parsed),
        Err(panic) if panic.downcast_ref::<&str>() == Some(&PARSER_DEBUG_ASSERTION) => None,
        Err(panic) => resume_unwind(panic),
    }
}

/// `intake::attachment_data`, or `None` where only mail-parser's debug assertion stops it.
pub fn attachment_data(raw: &[u8]) -> Option<Vec<AttachmentData>> {
    match catch_unwind(|| intake::attachment_data(raw)) {
        Ok(data) => Some(data),
        Err(panic) if panic.downcast_ref::<&str>() == Some(&PARSER_DEBUG_ASSERTION) => None,
        Err(panic) => resume_unwind(panic),
    }
}

/// Runs one case; when it panics, its input is kept in `target/fuzz-found/`
/// (named by its hash) so that it can be replayed and committed.
pub fn keep_if_panics<T>(stage: &str, input: &[u8], check: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(check)) {
        Ok(value) => value,
        Err(panic) => {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-found");
            let name = format!("{stage}-{}.eml", &intake::sha256_hex(input)[..16]);
            if std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(dir.join(&name), input)).is_ok() {
                eprintln!("fuzz: {stage} failed on target/fuzz-found/{name}");
            }
            resume_unwind(panic)
        }
    }
}
