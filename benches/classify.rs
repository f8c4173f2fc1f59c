//! Classification throughput: the whole decision (rules, text preparation,
//! stemming, n-grams, the model) for each shipped example, and training.

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use loket::inbound::language::Language;
use loket::routing::classify::{Arrival, Routing, data};

fn classify(c: &mut Criterion) {
    // The documented default: IT, HR and Facility, no rules.
    let config = Arc::new(loket::config::load_str(loket::config::EXAMPLE).expect("config"));
    let examples = data::shipped();
    let messages: Vec<_> = examples
        .iter()
        .map(|e| {
            let raw = format!("From: a@example.org\r\nSubject: {}\r\n\r\n{}\r\n", e.subject, e.body);
            loket::inbound::intake::parse(raw.as_bytes()).expect("example parses")
        })
        .collect();
    let routing = Routing::from_config(&config);
    let classifier = routing.get();
    let arrival = Arrival::desk(classifier.settings());
    let mut group = c.benchmark_group("classify");
    group.throughput(Throughput::Elements(messages.len() as u64));
    group.bench_function(format!("decide {} requests", messages.len()), |b| {
        b.iter(|| {
            for message in &messages {
                std::hint::black_box(classifier.decide_at(&arrival, message, Language::Nl));
            }
        })
    });
    group.finish();
    let mut group = c.benchmark_group("train");
    group.sample_size(10);
    group.bench_function(format!("{} shipped examples with 5-fold calibration", examples.len()), |b| {
        b.iter(|| std::hint::black_box(data::train(classifier.settings(), &[])))
    });
    group.finish();
}

criterion_group!(benches, classify);
criterion_main!(benches);
