//! The layer map holds itself: every `crate::X` path in `src/` must point to
//! X's own layer or below. `KNOWN_UPWARD` names any exception by file (there
//! is none since the wire types moved into `model`); the test fails on any
//! other upward reference, and also when a listed one is gone, so the list
//! can only shrink.
//! Likewise no two files may name each other, directly or through others
//! (import circles between files, below), apart from `KNOWN_CIRCLES`.
#![allow(clippy::unwrap_used)] // a failing unwrap in a test is a failing test

use std::collections::BTreeSet;
use std::path::Path;

/// Top-level modules of `src/` by layer, bottom first: foundations, then
/// subsystems, then the manager, the TUI and the command line.
const LAYERS: &[&[&str]] = &[
    &[
        "model", "store", "proc", "fs", "lock", "retry", "config", "paths", "time", "redact",
        "layout", "logging", "alloc", "link", "systemd", "host",
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

// ---------------------------------------------------------------------------
// Import circles between files.
//
// A file names a file when one of its paths that starts with `crate::`,
// `super::` or `self::` (or with the name of one of its own child modules,
// which is the same as `self::`) resolves into that other file. A path is
// resolved like rustc does for modules: the longest prefix that is a file's
// module picks the file; when the next name is not defined there but
// re-exported (`pub use child::Item`, `pub use child::*`), the path follows
// the re-export to the file that defines it. A `pub use` line is itself an
// edge only when its name is used again in the same file (a pure re-export
// is an alias, not a dependency of the parent's code).
//
// Test modules: an inline `mod tests { use super::*; }` resolves `super` to
// the file it sits in, so naming its parent is no edge at all; test code
// naming another file is an edge like any other (a circle through test code
// is a circle of the test build). Files that are test modules of their own
// (`#[cfg(test)] mod app_tests;`) are ordinary files: they name their subject,
// and nothing names them back.
//
// What it does not see: names brought in by a glob (`use super::*`) count as
// one edge to the module the glob names, not to each re-exported item's file;
// macros' bodies are read as tokens like any code.
// ---------------------------------------------------------------------------

/// Circles (strongly connected groups of files, by path under `src/`)
/// allowed to stay. Empty since issue 14 broke the last ones; the test fails
/// on any circle not listed, and when a listed one shrinks or is gone, so the
/// list can only shrink.
const KNOWN_CIRCLES: &[&[&str]] = &[];

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
}

/// The tokens of `text` that matter for paths: identifiers, `::` and single
/// punctuation; comments, string and character literals are dropped.
fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '\'' {
            if at(i + 1) == '\\' {
                // '\n', '\'', '\u{1F600}'
                i += 3;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1; // a lifetime: its name follows as an identifier
            }
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let hashes = chars[i..].iter().take_while(|&&h| h == '#').count();
            if (word == "r" || word == "br") && at(i + hashes) == '"' {
                // A raw string: up to `"` and as many `#` as it opened with.
                i += hashes + 1;
                while i < chars.len()
                    && !(chars[i] == '"' && chars[i + 1..].iter().take(hashes).all(|&h| h == '#'))
                {
                    i += 1;
                }
                i += 1 + hashes;
            } else if word != "b" || !matches!(at(i), '"' | '\'') {
                out.push(Token::Ident(word));
            }
        } else if c == ':' && at(i + 1) == ':' {
            out.push(Token::PathSep);
            i += 2;
        } else {
            if !c.is_whitespace() {
                out.push(Token::Punct(c));
            }
            i += 1;
        }
    }
    out
}

/// One path a `use` or an expression names, made absolute (from the crate
/// root); `glob` for `path::*`.
#[derive(Debug)]
struct Named {
    path: Vec<String>,
    /// The name it is known by in the naming file (`as` alias or last segment).
    local: String,
    glob: bool,
    /// Part of a `pub use` (a re-export).
    reexport: bool,
}

/// Parses the path (or `use` tree) at `toks[i]`, whose first segment is
/// applied to `base` (the module the code is in), into `out`; returns the
/// index after it.
fn parse_tree(toks: &[Token], mut i: usize, base: Vec<String>, out: &mut Vec<Named>) -> usize {
    let tok = |i: usize| toks.get(i).cloned().unwrap_or(Token::Punct(';'));
    let mut path = base;
    let mut first = true;
    loop {
        match tok(i) {
            Token::Ident(word) => {
                match word.as_str() {
                    "crate" if first => path.clear(),
                    "super" => {
                        path.pop();
                    }
                    "self" => {}
                    _ => path.push(word.clone()),
                }
                first = false;
                i += 1;
                if tok(i) == Token::PathSep {
                    i += 1;
                    continue;
                }
                let mut local = path.last().cloned().unwrap_or_default();
                if tok(i) == Token::Ident("as".into()) {
                    if let Token::Ident(alias) = tok(i + 1) {
                        local = alias;
                    }
                    i += 2;
                }
                out.push(Named {
                    path,
                    local,
                    glob: false,
                    reexport: false,
                });
                return i;
            }
            Token::Punct('{') => {
                i += 1;
                while !matches!(tok(i), Token::Punct('}') | Token::Punct(';')) {
                    i = parse_tree(toks, i, path.clone(), out);
                    if tok(i) == Token::Punct(',') {
                        i += 1;
                    }
                }
                return i + 1;
            }
            Token::Punct('*') => {
                out.push(Named {
                    path,
                    local: String::new(),
                    glob: true,
                    reexport: false,
                });
                return i + 1;
            }
            // `Vec::<u8>` and the like: the path ends before the generics.
            _ => {
                let local = path.last().cloned().unwrap_or_default();
                out.push(Named {
                    path,
                    local,
                    glob: false,
                    reexport: false,
                });
                return i;
            }
        }
    }
}

/// One `.rs` file under `src/`.
struct SourceFile {
    /// Path under `src/`, e.g. `tui/app.rs`.
    rel: String,
    /// Its module path from the crate root: `tui/mod.rs` is `[tui]`.
    module: Vec<String>,
    /// Names defined in it (`struct X`, `fn x`, `mod x`, ...), at any depth.
    defines: BTreeSet<String>,
    /// Every path it names, absolute.
    named: Vec<Named>,
    /// How often each identifier occurs in it outside `pub use` lines.
    idents: std::collections::BTreeMap<String, usize>,
}

fn module_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(String::from)
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Reads every file under `src` and the paths each one names. `main.rs` is
/// the binary's root, a crate of its own, and is left out.
fn read_sources(src: &Path) -> Vec<SourceFile> {
    let mut paths = Vec::new();
    rust_files(src, &mut paths);
    let mut files: Vec<SourceFile> = paths
        .iter()
        .map(|path| {
            path.strip_prefix(src)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|rel| rel != "main.rs")
        .map(|rel| SourceFile {
            module: module_of(&rel),
            rel,
            defines: BTreeSet::new(),
            named: Vec::new(),
            idents: Default::default(),
        })
        .collect();
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| f.module.clone()).collect();
    for file in &mut files {
        let toks = tokens(&std::fs::read_to_string(src.join(&file.rel)).unwrap());
        let tok = |i: usize| toks.get(i).cloned().unwrap_or(Token::Punct(';'));
        let word = |i: usize, w: &str| tok(i) == Token::Ident(w.into());
        // Inline modules (`mod tests { ... }`) by the brace depth they opened at.
        let mut inline: Vec<(String, usize)> = Vec::new();
        let mut depth = 0;
        let mut i = 0;
        while i < toks.len() {
            match tok(i) {
                Token::Punct('{') => depth += 1,
                Token::Punct('}') => {
                    depth -= 1;
                    if inline.last().is_some_and(|(_, d)| *d == depth) {
                        inline.pop();
                    }
                }
                Token::Ident(w) => {
                    const ITEMS: &[&str] = &[
                        "struct", "enum", "fn", "type", "trait", "const", "static", "mod", "union",
                    ];
                    let name_at = if w == "macro_rules" { i + 2 } else { i + 1 };
                    if (ITEMS.contains(&w.as_str()) || w == "macro_rules")
                        && let Token::Ident(name) = tok(name_at)
                    {
                        file.defines.insert(name.clone());
                        if w == "mod" && tok(i + 2) == Token::Punct('{') {
                            inline.push((name, depth));
                        }
                    }
                    let here: Vec<String> = file
                        .module
                        .iter()
                        .cloned()
                        .chain(inline.iter().map(|(name, _)| name.clone()))
                        .collect();
                    let child = [here.clone(), vec![w.clone()]].concat();
                    let starts_path = tok(i + 1) == Token::PathSep
                        && (i == 0 || tok(i - 1) != Token::PathSep)
                        && (matches!(w.as_str(), "crate" | "super" | "self")
                            || modules.contains(&child));
                    if starts_path {
                        let reexport = i >= 2
                            && word(i - 1, "use")
                            && (word(i - 2, "pub")
                                || (tok(i - 2) == Token::Punct(')') && word(i - 5, "pub")));
                        let before = file.named.len();
                        let end = parse_tree(&toks, i, here, &mut file.named);
                        for named in &mut file.named[before..] {
                            named.reexport = reexport;
                        }
                        if !reexport {
                            for t in &toks[i..end] {
                                if let Token::Ident(w) = t {
                                    *file.idents.entry(w.clone()).or_default() += 1;
                                }
                            }
                        }
                        i = end;
                        continue;
                    }
                    *file.idents.entry(w).or_default() += 1;
                }
                _ => {}
            }
            i += 1;
        }
    }
    files
}

/// The index of the file that defines the item `path` names.
fn resolve(files: &[SourceFile], path: &[String], hops: usize) -> Option<usize> {
    let (len, at) = (0..=path.len())
        .rev()
        .find_map(|len| Some((len, files.iter().position(|f| f.module == path[..len])?)))?;
    let Some(name) = path.get(len) else {
        return Some(at);
    };
    let file = &files[at];
    if file.defines.contains(name) || hops > 8 {
        return Some(at);
    }
    let rest = &path[len + 1..];
    for named in file.named.iter().filter(|n| n.reexport) {
        if !named.glob && &named.local == name {
            return resolve(
                files,
                &[named.path.clone(), rest.to_vec()].concat(),
                hops + 1,
            );
        }
    }
    for named in file.named.iter().filter(|n| n.reexport && n.glob) {
        let through = [named.path.clone(), path[len..].to_vec()].concat();
        if let Some(there) = resolve(files, &through, hops + 1)
            && there != at
            && files[there].defines.contains(name)
        {
            return Some(there);
        }
    }
    Some(at)
}

/// `file -> files it names` (indices into `files`), without self-edges.
fn file_graph(files: &[SourceFile]) -> Vec<BTreeSet<usize>> {
    files
        .iter()
        .enumerate()
        .map(|(at, file)| {
            file.named
                .iter()
                .filter(|n| !n.reexport || file.idents.contains_key(&n.local))
                .filter_map(|n| resolve(files, &n.path, 0))
                .filter(|&to| to != at)
                .collect()
        })
        .collect()
}

/// The strongly connected groups of more than one file (Tarjan), each sorted.
fn circles(edges: &[BTreeSet<usize>]) -> Vec<Vec<usize>> {
    struct State<'a> {
        edges: &'a [BTreeSet<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        stack: Vec<usize>,
        on_stack: Vec<bool>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in s.edges[v].iter() {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut group = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on_stack[w] = false;
                group.push(w);
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                s.out.push(group);
            }
        }
    }
    let n = edges.len();
    let mut s = State {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        stack: Vec::new(),
        on_stack: vec![false; n],
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.out.sort();
    s.out
}

#[test]
fn no_import_circle_between_files() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = read_sources(&src);
    let edges = file_graph(&files);
    let found: BTreeSet<Vec<String>> = circles(&edges)
        .into_iter()
        .map(|group| group.into_iter().map(|f| files[f].rel.clone()).collect())
        .collect();
    for group in &found {
        // Each edge inside the group, so a failure says where to cut.
        let files = &files;
        let inside: Vec<String> = group
            .iter()
            .flat_map(|from| {
                let at = files.iter().position(|f| &f.rel == from).unwrap();
                edges[at]
                    .iter()
                    .filter(|to| group.contains(&files[**to].rel))
                    .map(move |to| format!("{from} -> {}", files[*to].rel))
            })
            .collect();
        eprintln!("circle of {} files: {inside:#?}", group.len());
    }
    let known: BTreeSet<Vec<String>> = KNOWN_CIRCLES
        .iter()
        .map(|group| group.iter().map(|f| f.to_string()).collect())
        .collect();
    let new: Vec<_> = found.difference(&known).collect();
    assert!(
        new.is_empty(),
        "import circles between files (listed above edge by edge): {new:?}; \
         move what both sides need into a leaf module"
    );
    let gone: Vec<_> = known.difference(&found).collect();
    assert!(
        gone.is_empty(),
        "circles in KNOWN_CIRCLES that are gone or smaller now: {gone:?}; \
         take them off (or replace them by what is left)"
    );
}

#[test]
fn paths_resolve_to_the_file_that_defines_the_item() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir(src.join("a")).unwrap();
    for (rel, code) in [
        ("lib.rs", "pub mod a;\n"),
        // A parent naming a child by a bare path; a re-export used nowhere
        // else in the parent, and a glob re-export: neither is an edge.
        (
            "a/mod.rs",
            "mod b;\nmod c;\npub use b::Bee;\npub use c::*;\n\
             pub struct Shared;\nfn f() { b::helper(); }\n",
        ),
        // `super::*` in the inline test module is the file itself; the test
        // naming `c` is an edge.
        (
            "a/b.rs",
            "use super::Shared;\npub struct Bee;\npub fn helper() {}\n\
             #[cfg(test)]\nmod tests {\n    use super::*;\n    use crate::a::c::Sea;\n}\n",
        ),
        // A group over lines whose item is re-exported by the parent: the
        // edge goes to the file that defines it. Comments and strings are
        // not code.
        (
            "a/c.rs",
            "use crate::{\n    a::{\n        Bee, // crate::a::Shared\n    },\n};\n\
             pub struct Sea;\nconst S: &str = \"super::Shared\";\n",
        ),
    ] {
        std::fs::write(src.join(rel), code).unwrap();
    }
    let files = read_sources(src);
    let edges: Vec<(String, String)> = file_graph(&files)
        .iter()
        .enumerate()
        .flat_map(|(from, to)| to.iter().map(move |&to| (from, to)))
        .map(|(from, to)| (files[from].rel.clone(), files[to].rel.clone()))
        .collect();
    let edge = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        edges,
        [
            edge("a/b.rs", "a/c.rs"),
            edge("a/b.rs", "a/mod.rs"),
            edge("a/c.rs", "a/b.rs"),
            edge("a/mod.rs", "a/b.rs"),
        ]
    );
    let groups: Vec<Vec<&str>> = circles(&file_graph(&files))
        .into_iter()
        .map(|g| g.into_iter().map(|f| files[f].rel.as_str()).collect())
        .collect();
    assert_eq!(groups, [["a/b.rs", "a/c.rs", "a/mod.rs"]]);
}
