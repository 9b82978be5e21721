//! The crate's layers (see `src/lib.rs`): a module may use only modules below it,
//! so results flow one way and no two modules depend on each other.

use std::collections::BTreeSet;
use std::path::Path;

/// Top to bottom, as `src/lib.rs` lists them.
const LAYERS: &[&str] = &[
    // verify sits under app (which runs it) and over cpython (whose interpreters
    // and twins its checks name).
    "app", "verify", "cpython", "report", "probe", "output", "model", "plan", "workload", "manager",
    "runtime", "measure", "scenario", "cli", "sys",
];

/// Every `crate::NAME` a module's code (not its comments) names.
fn uses(module: &str) -> BTreeSet<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let file = src.join(format!("{module}.rs"));
    if file.exists() {
        files.push(file);
    }
    let mut dirs = vec![src.join(module)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut used = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // The code, comments left out, as one string: rustfmt splits a long
        // `use crate::{…}` over lines.
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join(" ");
        let mut rest = code.as_str();
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // `use crate::{a::X, b::{Y, Z}, c};`: the heads at the group's top level.
                used.extend(top_level_items(group).iter().map(|p| head(p.trim())));
            } else {
                used.insert(head(rest));
            }
        }
    }
    used.remove(module);
    used.remove("");
    used
}

/// The comma-separated items of a `{…}` group (`group` starts after its `{`), up to
/// its closing `}`; nested groups stay inside their item.
fn top_level_items(group: &str) -> Vec<&str> {
    let (mut items, mut depth, mut start) = (Vec::new(), 0usize, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..i]);
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&group[start..]);
    items
}

/// The first path segment of `path`.
fn head(path: &str) -> String {
    path.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let mut upward = Vec::new();
    for (level, module) in LAYERS.iter().enumerate() {
        for used in uses(module) {
            let Some(used_level) = LAYERS.iter().position(|m| *m == used) else {
                panic!(
                    "{module} uses crate::{used}, which is not in LAYERS (add it, in its place)"
                );
            };
            if used_level <= level {
                upward.push(format!("{module} -> {used}"));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "modules using a layer above them: {upward:?}"
    );
}

/// The parser sees through rustfmt's multi-line groups and nested groups.
#[test]
fn groups_are_read_at_their_top_level() {
    assert_eq!(
        top_level_items("a::X, b::{Y, Z},\n c }; d"),
        ["a::X", " b::{Y, Z}", "\n c "]
    );
}

#[test]
fn every_module_is_in_a_layer() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    for line in lib.lines() {
        if let Some(name) = line.trim().strip_prefix("pub mod ") {
            let name = name.trim_end_matches(';');
            assert!(LAYERS.contains(&name), "{name} is not in LAYERS");
        }
    }
}
