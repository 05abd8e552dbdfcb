//! The layout keeps the design (ARCHITECTURE.md, "Architecture
//! invariants"): the rules are pure, the folders import each other in one
//! direction, nothing below the wiring imports it, and no file grows past
//! what a reader takes in at once. These read the source; they need nothing
//! running.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).expect("read source folder") {
        let path = entry.expect("folder entry").path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The code of a file without its comments, so that a doc comment that
/// names tokio (to say why it is not used) does not count.
fn code(path: &Path) -> String {
    let text = fs::read_to_string(path).expect("read source file");
    text.lines()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the pure rules must never name: the runtime, the store's and the
/// live store's drivers, the HTTP framework, and the clock (time is an
/// argument).
const IMPURE: [&str; 10] = [
    "tokio::",
    "tokio_util::",
    "sqlx::",
    "redis::",
    "axum::",
    "Timestamp::now",
    "Zoned::now",
    "SystemTime",
    "Instant::now",
    "std::thread",
];

#[test]
fn the_rules_do_no_io_and_read_no_clock() {
    let rules = src().join("rules");
    let files = rust_files(&rules);
    assert!(files.len() > 10, "the rules folder holds the rules");
    let mut found = Vec::new();
    for file in &files {
        let code = code(file);
        for word in IMPURE {
            // As a path, not inside a longer name (`is_redis::` is not redis).
            let named = code
                .match_indices(word)
                .any(|(i, _)| !code[..i].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_'));
            if named {
                found.push(format!("{} names {word}", file.strip_prefix(src()).unwrap().display()));
            }
        }
    }
    assert!(found.is_empty(), "the rules must stay pure: {found:#?}");
}

/// The top-level part a file belongs to: its folder, or its own name for a
/// file at the root of `src/`.
fn part_of(file: &Path) -> String {
    let rel = file.strip_prefix(src()).unwrap();
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_owned()
}

fn is_test_file(file: &Path) -> bool {
    file.components().any(|c| c.as_os_str() == "tests")
        || file.file_name().is_some_and(|n| n.to_string_lossy().ends_with("tests.rs"))
}

/// Which parts each part's non-test code uses (`crate::PART`).
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&src()) {
        let part = part_of(&file);
        if ["lib", "main", "testing"].contains(&part.as_str()) || is_test_file(&file) {
            continue;
        }
        let mut code = code(&file);
        if let Some(i) = code.find("#[cfg(test)]") {
            code.truncate(i);
        }
        let uses = graph.entry(part.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() && name != part {
                uses.insert(name);
            }
        }
    }
    graph
}

#[test]
fn folders_import_each_other_in_one_direction() {
    let graph = imports();
    assert!(graph.contains_key("rules") && graph.contains_key("runtime"), "{graph:?}");
    // Depth-first search for a cycle, reporting its path.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        let cycle = visit(node, &graph, &mut Vec::new(), &mut done);
        assert!(cycle.is_none(), "an import cycle between folders: {}", cycle.unwrap().join(" -> "));
    }
}

#[test]
fn nothing_below_the_wiring_imports_it() {
    let graph = imports();
    let leaks: Vec<_> = graph.iter().filter(|(part, uses)| *part != "app" && uses.contains("app")).collect();
    assert!(leaks.is_empty(), "only main and the tests start from app/: {leaks:?}");
    // The rules import only the vocabulary.
    let rules: Vec<_> = graph["rules"].iter().filter(|p| *p != "domain").collect();
    assert!(rules.is_empty(), "rules/ imports only domain, not {rules:?}");
}

#[test]
fn no_file_grows_past_what_a_reader_takes_in() {
    const MOST: usize = 650;
    let mut long = Vec::new();
    for dir in ["src", "tests", "load-tests", "benches"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        if !dir.exists() {
            continue;
        }
        for file in rust_files(&dir) {
            let lines = fs::read_to_string(&file).expect("read").lines().count();
            if lines > MOST {
                long.push(format!("{} has {lines} lines", file.display()));
            }
        }
    }
    assert!(long.is_empty(), "split these (at most about 600 lines): {long:#?}");
}

/// Every REST route is declared with `routes!` beside its handler, which
/// registers it and its OpenAPI entry together: a plain `.route(` in the API
/// would serve something the document does not describe. `/metrics`
/// (Prometheus's format, not the API's) is the one exception.
#[test]
fn every_api_route_is_declared_with_its_document_entry() {
    let mut plain = Vec::new();
    for file in rust_files(&src().join("api")) {
        if is_test_file(&file) {
            continue;
        }
        for line in code(&file).lines().filter(|l| l.contains(".route(")) {
            if !line.contains("\"/metrics\"") {
                plain.push(format!("{}: {}", file.strip_prefix(src()).unwrap().display(), line.trim()));
            }
        }
    }
    assert!(plain.is_empty(), "routes served without an OpenAPI entry: {plain:#?}");
}
