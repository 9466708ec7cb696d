//! `assets/steward.example.toml` cannot drift from the config: it loads with
//! steward's own loader, sets every key the config knows to its default (or,
//! where a key has no default, shows it commented out with an example that
//! loads too), and says why on each key's line or the comment above it. The
//! keys come from serializing `Config::default()`, so a field added to any
//! config struct fails here until the example names it.
#![allow(clippy::unwrap_used)] // a failing unwrap in a test is a failing test

use std::path::Path;

use serde_json::Value;
use steward::config::Config;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/steward.example.toml");

/// One key the config knows: its table, its name and its default, as
/// `Config::default()` serializes it.
struct Known {
    table: String,
    key: String,
    default: Value,
}

impl Known {
    /// A key without a default (an `Option` left `None`) serializes to null
    /// and cannot be written in TOML: the example shows it commented out.
    fn is_unset(&self) -> bool {
        self.default.is_null()
    }
}

/// Every `[table] key` of the config. JSON, not TOML: the TOML serializer
/// drops `None` fields, and those keys must be named too.
fn known_keys() -> Vec<Known> {
    let Value::Object(tables) = serde_json::to_value(Config::default()).unwrap() else {
        panic!("Config does not serialize to a map");
    };
    let mut out = Vec::new();
    for (table, keys) in tables {
        let Value::Object(keys) = keys else {
            panic!(
                "top-level key {table:?} is not a table: this test walks [table] key = value; extend it"
            );
        };
        for (key, default) in keys {
            out.push(Known {
                table: table.clone(),
                key,
                default,
            });
        }
    }
    assert!(out.len() > 20, "too few keys found: {}", out.len());
    out
}

fn example_text() -> String {
    std::fs::read_to_string(EXAMPLE).unwrap()
}

/// One line of the example file, with the `[table]` it stands in.
struct Line<'t> {
    number: usize,
    table: String,
    text: &'t str,
}

fn lines(text: &str) -> Vec<Line<'_>> {
    let mut table = String::new();
    let mut out = Vec::new();
    for (i, text) in text.lines().enumerate() {
        let trimmed = text.trim_start();
        if let Some(rest) = trimmed.strip_prefix('[') {
            table = rest.split(']').next().unwrap().trim().to_owned();
        }
        out.push(Line {
            number: i + 1,
            table: table.clone(),
            text,
        });
    }
    out
}

/// `key = value` at the start of a line (after `# ` for a commented one).
fn key_of(line: &str) -> Option<&str> {
    let (key, _) = line.split_once(" = ")?;
    let key = key.trim();
    (!key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
    .then_some(key)
}

/// The commented-out `# key = value` lines: the examples of keys without a default.
fn commented_examples<'t>(lines: &'t [Line<'t>]) -> Vec<(&'t Line<'t>, &'t str)> {
    lines
        .iter()
        .filter_map(|l| {
            let body = l.text.strip_prefix("# ")?;
            key_of(body).map(|k| (l, k))
        })
        .collect()
}

#[test]
fn the_example_loads_with_steward_s_loader_and_every_value_is_the_default() {
    let loaded = Config::load(Path::new(EXAMPLE), true).unwrap_or_else(|e| panic!("{e}"));
    let (got, want) = (
        serde_json::to_value(&loaded).unwrap(),
        serde_json::to_value(Config::default()).unwrap(),
    );
    let differing: Vec<String> = known_keys()
        .iter()
        .filter(|k| got[&k.table][&k.key] != k.default)
        .map(|k| {
            format!(
                "[{}] {} is {} (default {})",
                k.table, k.key, got[&k.table][&k.key], k.default
            )
        })
        .collect();
    assert!(
        differing.is_empty(),
        "assets/steward.example.toml must set every key to its default: {differing:?}"
    );
    assert_eq!(got, want);
    assert_eq!(loaded, Config::default());
}

#[test]
fn the_example_names_every_key_the_config_knows() {
    let text = example_text();
    let parsed: toml::Table = text.parse().unwrap();
    let lines = lines(&text);
    let examples = commented_examples(&lines);
    let mut missing = Vec::new();
    for k in known_keys() {
        let set = parsed
            .get(&k.table)
            .and_then(|t| t.as_table())
            .is_some_and(|t| t.contains_key(&k.key));
        let shown = examples
            .iter()
            .any(|(l, key)| l.table == k.table && *key == k.key);
        if !(set || (k.is_unset() && shown)) {
            missing.push(if k.is_unset() {
                format!(
                    "[{}] {} (no default: add `# {} = EXAMPLE` with a line of why)",
                    k.table, k.key, k.key
                )
            } else {
                format!(
                    "[{}] {} = {} (its default, with a line of why)",
                    k.table, k.key, k.default
                )
            });
        }
    }
    assert!(
        missing.is_empty(),
        "assets/steward.example.toml lacks keys the config knows; add:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_key_in_the_example_says_why() {
    let text = example_text();
    let lines = lines(&text);
    let known = known_keys();
    let mut bare = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let body = line.text.strip_prefix("# ").unwrap_or(line.text);
        let Some(key) = key_of(body) else { continue };
        if !known.iter().any(|k| k.table == line.table && k.key == key) {
            continue;
        }
        let commented = body.len() != line.text.len();
        // A set key says why after its value; a commented one (and a set
        // one, if it likes) on the comment line above it.
        let trailing = !commented && line.text.contains(" # ");
        let above = i > 0 && {
            let prev = lines[i - 1].text.trim_start();
            prev.starts_with('#') && key_of(prev.trim_start_matches("# ")).is_none()
        };
        if !(trailing || above) {
            bare.push(format!("line {}: {}", line.number, line.text));
        }
    }
    assert!(
        bare.is_empty(),
        "keys without a line of why in assets/steward.example.toml:\n{}",
        bare.join("\n")
    );
}

#[test]
fn each_commented_example_loads_and_sets_its_key() {
    let text = example_text();
    let lines = lines(&text);
    let examples = commented_examples(&lines);
    let known = known_keys();
    for (line, key) in &examples {
        let k = known
            .iter()
            .find(|k| k.table == line.table && k.key == *key)
            .unwrap_or_else(|| {
                panic!(
                    "line {}: {:?} is not a key of [{}]",
                    line.number, line.text, line.table
                )
            });
        assert!(
            k.is_unset(),
            "line {}: [{}] {} has a default ({}): set it, do not comment it out",
            line.number,
            k.table,
            k.key,
            k.default
        );
        let uncommented: String = text
            .lines()
            .enumerate()
            .map(|(i, l)| {
                let l = if i + 1 == line.number {
                    &l["# ".len()..]
                } else {
                    l
                };
                format!("{l}\n")
            })
            .collect();
        let config = Config::from_str_named(&uncommented, "steward.example.toml")
            .unwrap_or_else(|e| panic!("the example on line {}: {e}", line.number));
        let value = serde_json::to_value(&config).unwrap();
        assert!(
            !value[&k.table][&k.key].is_null(),
            "line {}: uncommented, [{}] {} is still unset",
            line.number,
            k.table,
            k.key
        );
    }
}
