//! The layer map holds itself: every `crate::X` path in `src/` must point to
//! X's own layer or below. `KNOWN_UPWARD` names any exception by file (there
//! is none since the wire types moved into `model`); the test fails on any
//! other upward reference, and also when a listed one is gone, so the list
//! can only shrink.
#![allow(clippy::unwrap_used)] // a failing unwrap in a test is a failing test

use std::collections::BTreeSet;
use std::path::Path;

/// Top-level modules of `src/` by layer, bottom first: foundations, then
/// subsystems, then the manager, the TUI and the command line.
const LAYERS: &[&[&str]] = &[
    &[
        "model", "store", "proc", "fs", "lock", "retry", "config", "paths", "time", "redact",
        "layout", "logging", "alloc",
    ],
    &[
        "accounts",
        "aria2",
        "temp",
        "sweep",
        "tasks",
        "shutdown",
        "trash",
        "demo_worker",
    ],
    &["manager"],
    &["tui"],
    &["cli"],
];

/// `(file under src/, module it reaches up to)` pairs allowed to run up the
/// map. Empty: the wire types moved down into `model`; keep it so.
const KNOWN_UPWARD: &[(&str, &str)] = &[];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// Every module named right after `crate::` in `code`, including each name
/// in a `crate::{a, b::c}` group (which may span lines).
fn crate_references(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The top-level items of the group: split at depth-0 commas, up to
            // the matching brace (items may hold groups of their own).
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.extend(first_name(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            out.extend(first_name(&item));
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.insert(name);
        }
    }
    out
}

/// The identifier an item of a `use` group starts with, if any.
fn first_name(item: &str) -> Option<String> {
    let name: String = item
        .trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// The file's text without `//` comments (doc comments name modules freely).
fn code_of(text: &str) -> String {
    text.lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `(file, module)` pair where `file` reaches up the layer map.
fn upward_references(src: &Path) -> BTreeSet<(String, String)> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut upward = BTreeSet::new();
    for path in files {
        let rel = path
            .strip_prefix(src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let top = rel.split('/').next().unwrap().trim_end_matches(".rs");
        if top == "lib" || top == "main" {
            continue;
        }
        let own = layer_of(top).unwrap_or_else(|| {
            panic!("src/{rel}: module {top} is not on the layer map in tests/layers.rs")
        });
        let text = std::fs::read_to_string(&path).unwrap();
        for target in crate_references(&code_of(&text)) {
            if layer_of(&target).is_some_and(|l| l > own) {
                upward.insert((rel.clone(), target));
            }
        }
    }
    upward
}

#[test]
fn no_module_reaches_up_the_layer_map() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = upward_references(&src);
    let known: BTreeSet<(String, String)> = KNOWN_UPWARD
        .iter()
        .map(|(f, m)| (f.to_string(), m.to_string()))
        .collect();
    let new: Vec<_> = found.difference(&known).collect();
    assert!(
        new.is_empty(),
        "upward references (a lower layer naming a higher one): {new:?}; \
         move the shared type down instead"
    );
    let gone: Vec<_> = known.difference(&found).collect();
    assert!(
        gone.is_empty(),
        "no longer upward, take them off KNOWN_UPWARD in tests/layers.rs: {gone:?}"
    );
}

#[test]
fn references_are_found_in_paths_and_groups() {
    let code = code_of(
        "use crate::store::Store;\nuse crate::{\n    proc::{self, ProcId},\n    tui,\n};\n\
         let x = crate::manager::Command::Quit; // crate::cli in a comment\n",
    );
    let found: Vec<String> = crate_references(&code).into_iter().collect();
    assert_eq!(found, ["manager", "proc", "store", "tui"]);
}
