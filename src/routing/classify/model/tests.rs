//! The model's own tests: what it reads, how sure it is, and what it refuses.

use super::*;

fn sample(department: &str, words: &[&str]) -> Sample {
    Sample {
        label: Label { department: DepartmentId::parse(department).expect("a test department"), category: None },
        features: words.iter().map(|w| (Feature::from(format!("w:{w}")), 1.0)).collect(),
        weight: 1.0,
    }
}

fn samples() -> Vec<Sample> {
    let mut samples = Vec::new();
    for i in 0..20 {
        let extra = format!("x{i}");
        samples.push(sample("it", &["laptop", "screen", &extra]));
        samples.push(sample("it", &["phone", "voicemail", &extra]));
        samples.push(sample("hr", &["salary", "payslip", &extra]));
        samples.push(sample("hr", &["leave", "holiday", &extra]));
        samples.push(sample("facility", &["lamp", "desk", &extra]));
    }
    samples
}

#[test]
fn clear_words_win_with_high_confidence_and_unknown_words_stay_unsure() {
    let model = Model::train(&samples());
    let features: HashMap<String, f32> = [("w:payslip".to_owned(), 1.0), ("w:salary".to_owned(), 1.0)].into();
    let scores = model.predict(&features);
    assert_eq!(model.labels[scores.ranked[0].0].department, "hr");
    assert!(scores.ranked[0].1 > 0.8, "{scores:?}");
    let sum: f64 = scores.ranked.iter().map(|r| r.1).sum();
    assert!((sum - 1.0).abs() < 1e-9);
    let unknown: HashMap<String, f32> = [("w:zebra".to_owned(), 1.0)].into();
    let scores = model.predict(&unknown);
    assert!(scores.ranked[0].1 < 0.6, "only the priors speak: {scores:?}");
}

/// Requests of three telling words whose words name the right department
/// nine times in ten.
fn nine_in_ten() -> Vec<Sample> {
    let hr = ["payslip", "salary", "leave", "holiday", "pension"];
    let it = ["laptop", "screen", "printer", "vpn", "password"];
    let mut samples = Vec::new();
    for i in 0..400 {
        let (a, b) = if (i / 5) % 10 == 0 { ("it", "hr") } else { ("hr", "it") };
        let pick = |words: &[&'static str; 5]| [words[i % 5], words[(i + 1) % 5], words[(i + 2) % 5]];
        let (p, q) = (format!("p{i}"), format!("q{i}"));
        let [x, y, z] = pick(&hr);
        samples.push(sample(a, &[x, y, z, &p]));
        let [x, y, z] = pick(&it);
        samples.push(sample(b, &[x, y, z, &q]));
    }
    samples
}

#[test]
fn words_that_are_right_nine_times_in_ten_give_about_ninety_percent() {
    for kind in [ModelKind::NaiveBayes, ModelKind::Logistic] {
        let model = Model::train_as(kind, &nine_in_ten());
        let features: HashMap<String, f32> =
            ["w:payslip", "w:salary", "w:leave"].iter().map(|w| ((*w).to_owned(), 1.0)).collect();
        let scores = model.predict(&features);
        assert_eq!(model.labels[scores.ranked[0].0].department, "hr");
        assert!((0.85..0.95).contains(&scores.ranked[0].1), "{kind:?}: {scores:?}");
    }
}

#[test]
fn an_example_weighted_below_another_counts_for_less() {
    let mut samples = samples();
    for _ in 0..10 {
        samples.push(sample("it", &["headset"]));
        let mut weak = sample("facility", &["headset"]);
        weak.weight = 0.5;
        samples.push(weak);
    }
    let model = Model::train(&samples);
    let features: HashMap<String, f32> = [("w:headset".to_owned(), 1.0)].into();
    let scores = model.predict(&features);
    assert_eq!(model.labels[scores.ranked[0].0].department, "it", "{scores:?}");
    for sample in samples.iter_mut().filter(|s| s.label.department == "facility") {
        sample.weight = 2.0;
    }
    let model = Model::train(&samples);
    let scores = model.predict(&features);
    assert_eq!(model.labels[scores.ranked[0].0].department, "facility", "{scores:?}");
}

/// Ten short requests of each department, one of IT's a long mail that
/// says "badge" two hundred times: it counts as one request, not as two hundred.
#[test]
fn one_long_example_does_not_outweigh_ten_short_ones() {
    let mut samples = Vec::new();
    for _ in 0..10 {
        samples.push(sample("facility", &["badge", "door"]));
    }
    for _ in 0..9 {
        samples.push(sample("it", &["printer", "screen"]));
    }
    let mut long = sample("it", &[]);
    long.features = vec![("w:badge".into(), 200.0), ("w:printer".into(), 20.0)];
    samples.push(long);
    let model = Model::train(&samples);
    let features: HashMap<String, f32> = [("w:badge".to_owned(), 1.0)].into();
    let scores = model.predict(&features);
    assert_eq!(model.labels[scores.ranked[0].0].department, "facility", "{scores:?}");
}

#[test]
fn evidence_names_the_words_that_decided() {
    let model = Model::train(&samples());
    let features: HashMap<String, f32> =
        [("w:phone".to_owned(), 1.0), ("w:desk".to_owned(), 0.5), ("w:zebra".to_owned(), 1.0)].into();
    let scores = model.predict(&features);
    let (best, second) = (scores.ranked[0].0, scores.ranked[1].0);
    assert_eq!(model.labels[best].department, "it");
    let evidence = model.evidence(&features, best, second, 3);
    assert_eq!(evidence[0].0, "w:phone");
    assert!(evidence.iter().all(|(f, _)| *f != "w:zebra"));
}

#[test]
fn a_stored_model_that_does_not_add_up_is_refused_with_its_reason() {
    let json = serde_json::to_string(&Model::train(&samples())).unwrap();
    assert!(Model::from_json(&json).is_ok());
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    value["log_likelihood"] = serde_json::json!([]);
    let error = Model::from_json(&value.to_string()).unwrap_err();
    assert!(error.to_string().contains("3 labels, but 3 priors and 0 rows"), "{error}");
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    value["labels"].as_array_mut().unwrap().truncate(1);
    assert!(matches!(Model::from_json(&value.to_string()), Err(Unreadable::Labels { .. })));
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    value["log_likelihood"][1].as_array_mut().unwrap().pop();
    assert!(matches!(Model::from_json(&value.to_string()), Err(Unreadable::Row { .. })));
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    value["vocabulary"]["w:laptop"] = serde_json::json!(4_000_000);
    assert!(matches!(Model::from_json(&value.to_string()), Err(Unreadable::Index { index: 4_000_000, .. })));
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    value["temperature"] = serde_json::json!(0.0);
    assert!(matches!(Model::from_json(&value.to_string()), Err(Unreadable::Temperature(_))));
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    value["log_likelihood"][0][0] = serde_json::json!(-1e39);
    assert!(matches!(Model::from_json(&value.to_string()), Err(Unreadable::Weight(_))), "infinite in an f32");
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    value["log_prior"][2] = serde_json::json!(3e38);
    assert!(matches!(Model::from_json(&value.to_string()), Err(Unreadable::Weight(_))), "sums would overflow");
    assert!(matches!(Model::from_json("[1, 2"), Err(Unreadable::Json(_))));
}

/// Every distinct word of a mail is a feature: past the bound, the features
/// of the fewest examples are left out, so that random words cannot grow the model.
#[test]
fn the_vocabulary_keeps_the_features_of_the_most_examples_up_to_its_bound() {
    let mut samples = samples();
    let mut junk = sample("it", &[]);
    junk.features = (0..MAX_VOCABULARY + 10).map(|i| (Feature::from(format!("w:junk{i}")), 1.0)).collect();
    samples.push(junk);
    let model = Model::train(&samples);
    assert_eq!(model.vocabulary.len(), MAX_VOCABULARY);
    for word in ["w:laptop", "w:payslip", "w:lamp", "w:x7"] {
        assert!(model.knows(word), "{word} is in twenty examples and stays");
    }
    let features: HashMap<String, f32> = [("w:payslip".to_owned(), 1.0)].into();
    assert_eq!(model.labels[model.predict(&features).ranked[0].0].department, "hr");
}

#[test]
fn the_model_survives_a_round_trip_through_json_and_an_empty_training_set() {
    let model = Model::train(&samples());
    let back: Model = serde_json::from_str(&serde_json::to_string(&model).unwrap()).unwrap();
    let features: HashMap<String, f32> = [("w:lamp".to_owned(), 1.0)].into();
    assert_eq!(model.predict(&features), back.predict(&features));
    let empty = Model::train(&[]);
    assert!(empty.predict(&features).ranked.is_empty());
}
