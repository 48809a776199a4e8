//! Synthetic events for demos, tests and benchmarks: the registry's event types with
//! type-specific payloads, exact re-sends as duplicates (some long after the original), a
//! few invalid records of every kind, a few unknown event types and stray fields.
//! Deterministic for a seed.

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use schemas::{FieldType, Registry};
use serde_json::{Map, Value, json};
use std::io::Write;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenerateConfig {
    /// Records to write in all, duplicates and invalid ones included.
    pub records: u64,
    pub duplicate_rate: f64,
    pub invalid_rate: f64,
    pub seed: u64,
    /// `created_at` of the first event (Unix seconds); later ones follow at ~1M/hour.
    pub start: i64,
    /// Seconds between consecutive new events on average.
    pub spacing_seconds: f64,
}

impl Default for GenerateConfig {
    fn default() -> Self {
        GenerateConfig {
            records: 10_000,
            duplicate_rate: 0.05,
            invalid_rate: 0.002,
            seed: 42,
            // 2026-11-01T00:00:00Z
            start: 1_793_491_200,
            spacing_seconds: 0.0036,
        }
    }
}

/// Counts of what was written, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct GenerateSummary {
    pub records: u64,
    pub unique_events: u64,
    pub duplicates: u64,
    pub invalid: u64,
}

const RECENT: usize = 4096;
const OLD: usize = 1024;

/// Writes JSON Lines to `out`.
pub fn generate(
    registry: &Registry,
    config: GenerateConfig,
    out: &mut impl Write,
) -> std::io::Result<GenerateSummary> {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let events: Vec<(&str, Vec<(&str, FieldType)>)> = registry
        .events()
        .map(|e| {
            (
                e.event_name.as_str(),
                e.fields.iter().map(|(n, t)| (n.as_str(), *t)).collect(),
            )
        })
        .collect();
    let mut recent: Vec<String> = Vec::with_capacity(RECENT);
    let mut old: Vec<String> = Vec::with_capacity(OLD);
    let mut summary = GenerateSummary::default();
    for i in 0..config.records {
        let roll: f64 = rng.random();
        let line = if roll < config.invalid_rate {
            summary.invalid += 1;
            invalid_record(&mut rng, i)
        } else if roll < config.invalid_rate + config.duplicate_rate && !recent.is_empty() {
            summary.duplicates += 1;
            let pool = if !old.is_empty() && rng.random_bool(0.2) {
                &old
            } else {
                &recent
            };
            pool[rng.random_range(0..pool.len())].clone()
        } else {
            summary.unique_events += 1;
            let created_at = config.start + (summary.unique_events as f64 * config.spacing_seconds) as i64
                - rng.random_range(0..30);
            let line = event(&mut rng, &events, created_at).to_string();
            remember(
                &mut rng,
                &mut recent,
                &mut old,
                line.clone(),
                summary.unique_events,
            );
            line
        };
        summary.records += 1;
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(summary)
}

fn remember(rng: &mut ChaCha8Rng, recent: &mut Vec<String>, old: &mut Vec<String>, line: String, seen: u64) {
    if recent.len() < RECENT {
        recent.push(line);
        return;
    }
    let slot = rng.random_range(0..RECENT);
    let evicted = std::mem::replace(&mut recent[slot], line);
    // Reservoir sample of evicted events: re-sends of these arrive long after the original.
    if old.len() < OLD {
        old.push(evicted);
    } else if rng.random_range(0..seen) < OLD as u64 {
        let slot = rng.random_range(0..OLD);
        old[slot] = evicted;
    }
}

fn uuid_v4(rng: &mut ChaCha8Rng) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn event(rng: &mut ChaCha8Rng, events: &[(&str, Vec<(&str, FieldType)>)], created_at: i64) -> Value {
    // A skewed mix: a few types are frequent, most are rare, as in real product analytics.
    let pick = ((rng.random::<f64>().powi(2)) * events.len() as f64) as usize;
    let mut object = Map::new();
    object.insert("event_uuid".into(), json!(uuid_v4(rng)));
    if rng.random_bool(0.002) {
        object.insert("event_name".into(), json!("experiment:exposure"));
        object.insert("created_at".into(), json!(created_at));
        object.insert(
            "experiment".into(),
            json!(format!("exp-{}", rng.random_range(1..20))),
        );
        let variant = ["a", "b"][rng.random_range(0..2)];
        object.insert("variant".into(), json!(variant));
        return Value::Object(object);
    }
    let (name, fields) = &events[pick.min(events.len() - 1)];
    object.insert("event_name".into(), json!(name));
    object.insert("created_at".into(), json!(created_at));
    for (field, ty) in fields {
        if rng.random_bool(0.05) {
            continue; // optional fields are sometimes absent
        }
        let value = if rng.random_bool(0.003) {
            json!("not-the-declared-type")
        } else {
            value_for(rng, field, *ty, created_at)
        };
        object.insert((*field).to_owned(), value);
    }
    if rng.random_bool(0.01) {
        object.insert(
            "client_debug".into(),
            json!({"build": rng.random_range(100..999)}),
        );
    }
    Value::Object(object)
}

fn value_for(rng: &mut ChaCha8Rng, field: &str, ty: FieldType, created_at: i64) -> Value {
    const CURRENCIES: [&str; 4] = ["EUR", "USD", "GBP", "PLN"];
    const COUNTRIES: [&str; 6] = ["DE", "US", "FR", "ES", "IT", "BR"];
    const LANGUAGES: [&str; 5] = ["de", "en", "fr", "es", "it"];
    const DEVICES: [&str; 3] = ["ios", "android", "web"];
    match ty {
        FieldType::String => match field {
            "currency" => json!(CURRENCIES[rng.random_range(0..CURRENCIES.len())]),
            "country" => json!(COUNTRIES[rng.random_range(0..COUNTRIES.len())]),
            "language" => json!(LANGUAGES[rng.random_range(0..LANGUAGES.len())]),
            "device" => json!(DEVICES[rng.random_range(0..DEVICES.len())]),
            "app_version" => json!(format!(
                "{}.{}.{}",
                rng.random_range(1..6),
                rng.random_range(0..20),
                rng.random_range(0..10)
            )),
            _ if field.ends_with("_id") => json!(format!(
                "{}-{}",
                &field[..field.len() - 3],
                rng.random_range(1..200_000)
            )),
            _ => json!(format!("{field}-{}", rng.random_range(1..50))),
        },
        FieldType::Integer => json!(rng.random_range(0..10_000)),
        FieldType::Float => json!((rng.random_range(0.0..500.0_f64) * 100.0).round() / 100.0),
        FieldType::Boolean => json!(rng.random_bool(0.7)),
        FieldType::Timestamp => json!(created_at - rng.random_range(0..3600)),
        FieldType::Json => {
            let source = ["push", "email", "organic"][rng.random_range(0..3)];
            json!({"source": source, "rank": rng.random_range(1..10)})
        }
    }
}

fn invalid_record(rng: &mut ChaCha8Rng, i: u64) -> String {
    let uuid = uuid_v4(rng);
    match rng.random_range(0..8) {
        0 => format!("{{\"event_uuid\": \"{uuid}\", \"event_name\": \"account:created\", \"created_at\": "),
        1 => "[\"not\", \"an\", \"object\"]".into(),
        2 => json!({"event_uuid": uuid, "created_at": 1_793_491_200}).to_string(),
        3 => json!({"event_uuid": uuid, "event_name": "account:created", "created_at": "2026-11-01"})
            .to_string(),
        4 => json!({"event_uuid": uuid, "event_name": "bad name:x", "created_at": 1_793_491_200}).to_string(),
        5 => {
            json!({"event_uuid": uuid, "event_name": "account:created", "created_at": 1_793_491_200_000_i64})
                .to_string()
        }
        6 => json!({"event_uuid": "", "event_name": "account:created", "created_at": 1_793_491_200})
            .to_string(),
        _ => json!({"event_uuid": uuid, "event_name": "account:", "created_at": 1_793_491_200 + i as i64})
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_output_and_counts_add_up() {
        let registry = Registry::embedded().expect("registry");
        let config = GenerateConfig {
            records: 3000,
            seed: 7,
            ..GenerateConfig::default()
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let sa = generate(&registry, config, &mut a).expect("generate");
        generate(&registry, config, &mut b).expect("generate");
        assert_eq!(a, b);
        assert_eq!(sa.records, 3000);
        assert_eq!(sa.unique_events + sa.duplicates + sa.invalid, 3000);
        assert!(sa.duplicates > 50 && sa.invalid > 0, "{sa:?}");
        let other =
            generate(&registry, GenerateConfig { seed: 8, ..config }, &mut Vec::new()).expect("generate");
        assert_ne!(other, sa);
    }
}
