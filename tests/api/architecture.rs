//! The layering of `src/` (README: Architecture): no module depends, directly or through others, on a module that
//! depends on it. Read from the source: every `crate::` and `super::` path (in `use` trees and inline) is an edge
//! from the module of its file to the module it names. Checked at two levels:
//!
//! - the top-level modules (`services`, `mail`, `graphql`, `db`, ...): `mail` may not reach back into `services`;
//! - the modules one level inside a folder module (`services::filings`, `graphql::query`, `mail::dispatcher`):
//!   `services::rules` may not call `services::filings` when `services::filings` calls `services::rules`.
//!
//! Deeper modules (files inside `src/graphql/objects/`, say) form one unit with their folder: the GraphQL object
//! graph is cyclic by nature, and a folder is where such types belong together.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module's path below `crate`, as segments.
type ModPath = Vec<String>;

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file defines: `src/services/filings.rs` is `services::filings`, `src/mail/mod.rs` is `mail`.
fn module_of(src: &Path, file: &Path) -> ModPath {
    let relative = file.strip_prefix(src).expect("a file under src/").with_extension("");
    let mut parts: ModPath = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

/// Source text without comments, string and character literals (so that a path in a doc comment or a message is
/// not taken for a dependency).
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !is_ident(chars.get(i.wrapping_sub(1))) {
            // A raw string: r"...", r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (0..hashes).all(|k| chars.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            out.push_str("\"\"");
            i += 1;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{..}'), or a lifetime ('a), which stays.
            let close = if next == Some('\\') {
                (i + 2..chars.len().min(i + 12)).find(|&k| chars[k] == '\'')
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match close {
                Some(end) => {
                    out.push_str("' '");
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// The paths a use tree starting at `text[at..]` names, each as segments after the prefix already read.
fn use_tree(text: &[char], mut at: usize, prefix: &[String], out: &mut Vec<ModPath>) -> usize {
    let skip_space = |at: &mut usize| {
        while *at < text.len() && text[*at].is_whitespace() {
            *at += 1;
        }
    };
    skip_space(&mut at);
    if text.get(at) == Some(&'{') {
        at += 1;
        loop {
            skip_space(&mut at);
            match text.get(at) {
                None => return at,
                Some('}') => return at + 1,
                Some(',') => at += 1,
                Some(_) => {
                    let before = at;
                    at = use_tree(text, at, prefix, out);
                    if at == before {
                        at += 1;
                    }
                }
            }
        }
    }
    let start = at;
    while at < text.len() && (text[at].is_alphanumeric() || text[at] == '_' || text[at] == '*') {
        at += 1;
    }
    if at == start {
        return at;
    }
    let name: String = text[start..at].iter().collect();
    let mut after = at;
    skip_space(&mut after);
    if text.get(after) == Some(&':') && text.get(after + 1) == Some(&':') {
        let mut path = prefix.to_vec();
        path.push(name);
        return use_tree(text, after + 2, &path, out);
    }
    let mut path = prefix.to_vec();
    if name != "self" && name != "*" {
        path.push(name);
    }
    out.push(path);
    at
}

/// Every module path the file's code names through `crate::` or `super::`, resolved from `module`.
fn referenced_paths(module: &ModPath, code: &str) -> Vec<ModPath> {
    let text: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    for keyword in ["crate", "super"] {
        let pattern: Vec<char> = keyword.chars().collect();
        let mut i = 0;
        while i + pattern.len() < text.len() {
            let starts = text[i..].starts_with(&pattern) && !is_ident(i.checked_sub(1).and_then(|k| text.get(k)));
            let mut j = i + pattern.len();
            while j < text.len() && text[j].is_whitespace() {
                j += 1;
            }
            if starts && text.get(j) == Some(&':') && text.get(j + 1) == Some(&':') {
                let base: ModPath = match keyword {
                    "crate" => Vec::new(),
                    // In `a/b.rs` and in `a/b/mod.rs` alike, `super` is the parent of the file's module.
                    _ => module[..module.len().saturating_sub(1)].to_vec(),
                };
                let mut found = Vec::new();
                use_tree(&text, j + 2, &base, &mut found);
                out.extend(found);
                i = j + 2;
            } else {
                i += 1;
            }
        }
    }
    out
}

struct Modules {
    /// Folder modules (`src/services/`) and the submodules each holds.
    folders: BTreeMap<String, BTreeSet<String>>,
    top: BTreeSet<String>,
}

impl Modules {
    /// The unit a path belongs to: a top-level module, or a module one level inside a folder module.
    fn unit(&self, path: &[String]) -> Option<String> {
        let first = path.first()?;
        if !self.top.contains(first) {
            return None;
        }
        match (self.folders.get(first), path.get(1)) {
            (Some(subs), Some(second)) if subs.contains(second) => Some(format!("{first}::{second}")),
            _ => Some(first.clone()),
        }
    }
}

fn top_of(unit: &str) -> &str {
    unit.split("::").next().unwrap_or(unit)
}

/// The edges between units, with one file that makes each (for the report).
fn dependency_graph() -> BTreeMap<String, BTreeMap<String, String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    files.sort();
    let mut modules = Modules { folders: BTreeMap::new(), top: BTreeSet::new() };
    for file in &files {
        let module = module_of(&src, file);
        if let Some(first) = module.first() {
            modules.top.insert(first.clone());
            if let Some(second) = module.get(1) {
                modules.folders.entry(first.clone()).or_default().insert(second.clone());
            }
        }
    }
    let mut edges: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        let Some(from) = modules.unit(&module) else { continue };
        let code = code_only(&std::fs::read_to_string(file).expect("a readable source file"));
        let mut paths = referenced_paths(&module, &code);
        // `use crate::services;` then `services::filings::get(...)`: the folder module's name, used as a prefix.
        let aliases: Vec<String> = paths
            .iter()
            .filter(|p| p.len() == 1 && modules.folders.contains_key(&p[0]))
            .map(|p| p[0].clone())
            .collect();
        for alias in aliases {
            let text: Vec<char> = code.chars().collect();
            let name: Vec<char> = alias.chars().collect();
            for i in 0..text.len().saturating_sub(name.len()) {
                let before = i.checked_sub(1).and_then(|k| text.get(k));
                if text[i..].starts_with(&name) && !is_ident(before) && before != Some(&':') {
                    let after = i + name.len();
                    if text.get(after) == Some(&':') && text.get(after + 1) == Some(&':') {
                        let mut found = Vec::new();
                        use_tree(&text, after + 2, std::slice::from_ref(&alias), &mut found);
                        paths.extend(found);
                    }
                }
            }
        }
        let shown = file.strip_prefix(&src).unwrap_or(file).display().to_string();
        for path in paths {
            let Some(to) = modules.unit(&path) else { continue };
            // A module and its own parent folder module (e.g. `services::filings` naming `super::ServiceError`).
            if to == from || from.starts_with(&format!("{to}::")) || to.starts_with(&format!("{from}::")) {
                continue;
            }
            edges.entry(from.clone()).or_default().entry(to).or_insert_with(|| format!("src/{shown}"));
        }
    }
    edges
}

/// The strongly connected components with more than one member (Tarjan), each a dependency cycle.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.edges.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.found
}

fn report(graph: &BTreeMap<String, BTreeMap<String, String>>, found: &[Vec<String>], level: &str) -> String {
    let mut text = String::new();
    for component in found {
        text.push_str(&format!("\ncycle between {level} modules {component:?}; the edges inside it:\n"));
        for from in component {
            for (to, file) in graph.get(from).into_iter().flatten() {
                let to_unit = if level == "top-level" { top_of(to) } else { to };
                if component.iter().any(|c| c == to_unit) && to_unit != from {
                    text.push_str(&format!("  {from} -> {to}   (e.g. in {file})\n"));
                }
            }
        }
    }
    text
}

#[test]
fn no_module_of_src_depends_on_itself_through_others() {
    let graph = dependency_graph();
    assert!(graph.contains_key("services::workflow"), "the reader found no edges: {graph:?}");
    let inner: BTreeMap<String, BTreeSet<String>> =
        graph.iter().map(|(from, tos)| (from.clone(), tos.keys().cloned().collect())).collect();
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, tos) in &inner {
        for to in tos {
            if top_of(from) != top_of(to) {
                top.entry(top_of(from).to_owned()).or_default().insert(top_of(to).to_owned());
            }
        }
    }
    let mut problems = report(&graph, &cycles(&inner), "second-level");
    let mut top_graph: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (from, tos) in &graph {
        for (to, file) in tos {
            if top_of(from) != top_of(to) {
                top_graph.entry(top_of(from).to_owned()).or_default().entry(to.clone()).or_insert_with(|| file.clone());
            }
        }
    }
    problems.push_str(&report(&top_graph, &cycles(&top), "top-level"));
    assert!(problems.is_empty(), "dependency cycles in src/ (README: Architecture):{problems}");
}

#[test]
fn the_cycle_finder_finds_cycles_and_reads_use_trees() {
    let edges: BTreeMap<String, BTreeSet<String>> =
        [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a", "d"]), ("d", vec![]), ("e", vec!["e"])]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
            .collect();
    assert_eq!(cycles(&edges), vec![vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]]);

    let code = code_only(
        "use crate::{a::{b, c::D}, e};\n// crate::commented::out\nlet s = \"crate::in_a_string\";\n\
         super::f::g(); let c = '\"'; crate::h::i();",
    );
    let mut paths = referenced_paths(&vec!["x".to_owned(), "y".to_owned()], &code);
    paths.sort();
    let expected: Vec<ModPath> = vec![
        vec!["a".into(), "b".into()],
        vec!["a".into(), "c".into(), "D".into()],
        vec!["e".into()],
        vec!["h".into(), "i".into()],
        vec!["x".into(), "f".into(), "g".into()],
    ];
    assert_eq!(paths, expected);
}
