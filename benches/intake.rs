//! Intake throughput: parse and normalise (plus the guard) over the real-world fixtures.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use loket::domain::EmailAddress;

fn fixtures() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mime");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    files.into_iter().map(|p| std::fs::read(p).expect("read fixture")).collect()
}

fn intake(c: &mut Criterion) {
    let messages = fixtures();
    let bytes: usize = messages.iter().map(Vec::len).sum();
    let own = [EmailAddress::parse("servicedesk@example.org").expect("address")];
    let mut group = c.benchmark_group("intake");
    group.throughput(Throughput::Elements(messages.len() as u64));
    group.bench_function(format!("parse+normalise {} fixtures ({} KiB)", messages.len(), bytes / 1024), |b| {
        b.iter(|| {
            for raw in &messages {
                let _ = std::hint::black_box(loket::inbound::intake::parse(raw));
            }
        })
    });
    group.bench_function("parse+normalise+guard", |b| {
        b.iter(|| {
            for raw in &messages {
                if let Ok(message) = loket::inbound::intake::parse(raw) {
                    std::hint::black_box(loket::inbound::guard::assess(&message, &own));
                }
            }
        })
    });
    group.finish();
}

criterion_group!(benches, intake);
criterion_main!(benches);
