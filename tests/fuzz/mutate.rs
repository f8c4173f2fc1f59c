//! Mutations of real messages: each is small to describe (so proptest can shrink
//! a failing list of them) and is applied to the bytes of a seed message.

use proptest::collection::vec;
use proptest::prelude::*;

use super::limits;

/// A place in a message, as a fraction of its length, so that a mutation means
/// something whatever the seed's size.
fn at(fraction: u16, len: usize) -> usize {
    (usize::from(fraction) * len) >> 16
}

/// One change to a message's bytes.
#[derive(Debug, Clone)]
pub enum Mutation {
    FlipBytes { at: u16, mask: u8, count: u8 },
    Truncate { at: u16 },
    Splice { other: usize, from: u16, to: u16, at: u16 },
    Duplicate { from: u16, len: u16, at: u16 },
    RepeatBoundary { times: u16, at: u16 },
    HugeHeader { len: u32 },
    LongWord { len: u16, alphabet: u8, at: u16 },
    Nest { depth: u8, multipart: bool },
    Nul { at: u16, count: u8 },
    InvalidUtf8 { at: u16, which: u8 },
    Header { which: u8 },
    BodyLine { which: u8, at: u16 },
    Chars { at: u16, chars: String },
    LineEndings { which: u8 },
}

/// Header lines that steer intake, the guard and threading; `{signed}` is a
/// Message-ID loket signed.
const HEADERS: &[&str] = &[
    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"",
    "Content-Type: multipart/mixed; boundary=\"=_b\"",
    "Content-Type: message/rfc822",
    "Content-Type: text/html; charset=utf-7",
    "Content-Type: text/plain; charset=iso-2022-jp",
    "Content-Transfer-Encoding: base64",
    "Content-Transfer-Encoding: quoted-printable",
    "Return-Path: <>",
    "Auto-Submitted: auto-replied",
    "Precedence: bulk",
    "X-Loket-Loop: servicedesk@example.org",
    "In-Reply-To: <{signed}>",
    "References: <a@b> <{signed}> <",
    "Subject: Re: [SD-00042] [sd-9999999999999999999] [SD-] [",
    "Subject: =?utf-8?b?4pyTIMOgIGxhIG1vZGU=?= =?iso-2022-jp?B?GyRCJUYlOSVIGyhC?= =?x?q?=FF=00?=",
    "From: \"=?utf-8?q?Anna=0D=0ABcc:_x@y.z?=\" <anna@example.org>",
    "From: <>",
    "From: a@b@c, <@>, \"unterminated",
    "Reply-To: =?utf-8?b?!!!?= <reply@example.org>",
    "Message-ID: <<>>",
    "Date: Mon, 99 Foo 99999 99:99:99 +9999",
];

/// Lines that quote stripping, signatures and department commands look for.
const BODY_LINES: &[&str] = &[
    "On Tue, 3 Mar 2026 at 10:00, Service Desk <desk@example.org>",
    "wrote:",
    "Op di 3 mrt 2026 om 10:00 schreef Servicedesk <desk@example.org>:",
    "> quoted line",
    "-----Original Message-----",
    "-----Oorspronkelijk bericht-----",
    "From: Service Desk",
    "Sent: Tuesday",
    "________________________________",
    "Met vriendelijke groet,",
    "-- ",
    "This e-mail is confidential and intended for the addressee only.",
    "#route facility",
    "#resolve",
    "#note extra",
    "#",
    "Mijn telefoonaanvraag voor een nieuwe medewerker, de laptop valt uit.",
    "Since this morning my laptop does not start any more.",
];

fn mutation(seeds: usize) -> impl Strategy<Value = Mutation> {
    let word_max = limits().word_max;
    let header_max = limits().header_max;
    prop_oneof![
        (any::<u16>(), any::<u8>(), 1..16u8).prop_map(|(at, mask, count)| Mutation::FlipBytes { at, mask, count }),
        any::<u16>().prop_map(|at| Mutation::Truncate { at }),
        (0..seeds, any::<u16>(), any::<u16>(), any::<u16>()).prop_map(|(other, from, to, at)| Mutation::Splice {
            other,
            from,
            to,
            at
        }),
        (any::<u16>(), any::<u16>(), any::<u16>()).prop_map(|(from, len, at)| Mutation::Duplicate { from, len, at }),
        (1..2_000u16, any::<u16>()).prop_map(|(times, at)| Mutation::RepeatBoundary { times, at }),
        (1..header_max).prop_map(|len| Mutation::HugeHeader { len }),
        (1..word_max, any::<u8>(), any::<u16>()).prop_map(|(len, alphabet, at)| Mutation::LongWord {
            len,
            alphabet,
            at
        }),
        (1..64u8, any::<bool>()).prop_map(|(depth, multipart)| Mutation::Nest { depth, multipart }),
        (any::<u16>(), 1..8u8).prop_map(|(at, count)| Mutation::Nul { at, count }),
        (any::<u16>(), any::<u8>()).prop_map(|(at, which)| Mutation::InvalidUtf8 { at, which }),
        any::<u8>().prop_map(|which| Mutation::Header { which }),
        (any::<u8>(), any::<u16>()).prop_map(|(which, at)| Mutation::BodyLine { which, at }),
        (any::<u16>(), vec(any::<char>(), 1..32))
            .prop_map(|(at, chars)| Mutation::Chars { at, chars: chars.into_iter().collect() }),
        any::<u8>().prop_map(|which| Mutation::LineEndings { which }),
    ]
}

/// A seed (by index) and the mutations to apply to it, in order.
pub fn case(seeds: usize) -> impl Strategy<Value = (usize, Vec<Mutation>)> {
    (0..seeds, vec(mutation(seeds), 0..6))
}

/// The seed's bytes with the mutations applied.
pub fn apply(seeds: &[Vec<u8>], seed: usize, mutations: &[Mutation], signed: &str) -> Vec<u8> {
    let mut raw = seeds[seed].clone();
    for m in mutations {
        let len = raw.len();
        match m {
            Mutation::FlipBytes { at: a, mask, count } => {
                for i in 0..usize::from(*count) {
                    let i = (at(*a, len) + i * 7) % len.max(1);
                    if let Some(byte) = raw.get_mut(i) {
                        *byte ^= mask;
                    }
                }
            }
            Mutation::Truncate { at: a } => raw.truncate(at(*a, len)),
            Mutation::Splice { other, from, to, at: a } => {
                let other = &seeds[*other];
                let (x, y) = (at(*from, other.len()), at(*to, other.len()));
                let piece = other[x.min(y)..x.max(y)].to_vec();
                raw.splice(at(*a, len)..at(*a, len), piece);
            }
            Mutation::Duplicate { from, len: n, at: a } => {
                let start = at(*from, len);
                let end = (start + usize::from(*n) % 4096).min(len);
                let piece = raw[start..end].to_vec();
                raw.splice(at(*a, len)..at(*a, len), piece);
            }
            Mutation::RepeatBoundary { times, at: a } => {
                let boundary = boundary_of(&raw).unwrap_or_else(|| {
                    raw.splice(0..0, b"Content-Type: multipart/mixed; boundary=\"=_b\"\r\n".iter().copied());
                    b"=_b".to_vec()
                });
                let mut part = b"\r\n--".to_vec();
                part.extend_from_slice(&boundary);
                part.extend_from_slice(b"\r\nContent-Type: text/plain\r\n\r\nx");
                let spot = at(*a, raw.len());
                raw.splice(spot..spot, part.repeat(usize::from(*times)));
            }
            Mutation::HugeHeader { len: n } => {
                let mut line = b"X-Long: ".to_vec();
                line.extend(std::iter::repeat_n(b'a', *n as usize));
                line.extend_from_slice(b"\r\n");
                raw.splice(0..0, line);
            }
            Mutation::LongWord { len: n, alphabet, at: a } => {
                let word = long_word(usize::from(*n), *alphabet);
                raw.splice(at(*a, len)..at(*a, len), word.into_bytes());
            }
            Mutation::Nest { depth, multipart } => raw = nest(raw, usize::from(*depth), *multipart),
            Mutation::Nul { at: a, count } => {
                raw.splice(at(*a, len)..at(*a, len), std::iter::repeat_n(0u8, usize::from(*count)));
            }
            Mutation::InvalidUtf8 { at: a, which } => {
                let bad: &[u8] =
                    [&b"\xff"[..], b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80\x80"]
                        [usize::from(*which) % 6];
                raw.splice(at(*a, len)..at(*a, len), bad.iter().copied());
            }
            Mutation::Header { which } => {
                let line = HEADERS[usize::from(*which) % HEADERS.len()].replace("{signed}", signed) + "\r\n";
                raw.splice(0..0, line.into_bytes());
            }
            Mutation::BodyLine { which, at: a } => {
                let line = format!("\r\n{}\r\n", BODY_LINES[usize::from(*which) % BODY_LINES.len()]);
                let spot = body_start(&raw).max(at(*a, len));
                raw.splice(spot..spot, line.into_bytes());
            }
            Mutation::Chars { at: a, chars } => {
                raw.splice(at(*a, len)..at(*a, len), chars.as_bytes().iter().copied());
            }
            Mutation::LineEndings { which } => raw = line_endings(&raw, *which),
        }
    }
    raw
}

/// A word of `len` characters: letters only (one long token for the classifier),
/// all different (the most distinct n-grams), or mixed scripts.
fn long_word(len: usize, alphabet: u8) -> String {
    match alphabet % 4 {
        0 => "a".repeat(len),
        1 => (0..len as u64).map(|i| char::from(b'a' + (mix(i) % 26) as u8)).collect(),
        2 => (0..len).filter_map(|i| char::from_u32(0x4e00 + (i as u32 * 31) % 0x5000)).collect(),
        _ => (0..len).map(|i| ['é', 'ß', 'İ', 'Σ', 'x', 'ﬃ', 'ǅ'][i % 7]).collect(),
    }
}

/// A well-spread hash of `i` (splitmix64's finaliser): letters from it repeat no pattern.
pub fn mix(i: u64) -> u64 {
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn boundary_of(raw: &[u8]) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(raw);
    let lower = text.to_ascii_lowercase();
    let start = lower.find("boundary=")? + "boundary=".len();
    let rest = text.get(start..)?.trim_start_matches('"');
    let end = rest.find(['"', ';', '\r', '\n']).unwrap_or(rest.len());
    Some(rest.as_bytes()[..end].to_vec()).filter(|b| !b.is_empty())
}

fn body_start(raw: &[u8]) -> usize {
    raw.windows(4).position(|w| w == b"\r\n\r\n").map_or(raw.len(), |i| i + 2)
}

/// The message wrapped `depth` times in `message/rfc822` or `multipart/mixed`.
fn nest(mut raw: Vec<u8>, depth: usize, multipart: bool) -> Vec<u8> {
    for level in 0..depth {
        let mut outer = if multipart {
            format!("Content-Type: multipart/mixed; boundary=\"n{level}\"\r\n\r\n--n{level}\r\n").into_bytes()
        } else {
            b"From: nest@example.org\r\nContent-Type: message/rfc822\r\n\r\n".to_vec()
        };
        outer.extend_from_slice(&raw);
        if multipart {
            outer.extend_from_slice(format!("\r\n--n{level}--\r\n").as_bytes());
        }
        raw = outer;
    }
    raw
}

fn line_endings(raw: &[u8], which: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    for &byte in raw {
        match (which % 3, byte) {
            (0, b'\r') => {}
            (1, b'\n') => out.push(b'\r'),
            (2, b'\n') => out.extend_from_slice(b"\n\r\n"),
            _ => out.push(byte),
        }
    }
    out
}
