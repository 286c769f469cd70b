//! Tidy: the project's conventions, checked by machine rather than by review.
//!
//! - `vigil-core` stays pure: its dependency tree contains no tokio, sqlx or reqwest (STYLE 1).
//! - Dependencies point the way DESIGN.md's "Parts" table says (the simulator never depends on
//!   the client it is meant to test; the store and the client depend only on core; the money
//!   path, the proposal sources, the operator tools and alerting are separate crates), only the
//!   store (and the test tools) speak SQL, and the money path has no HTTP client of its own.
//! - Every Rust source file starts with a `//!` comment saying what it is for.
//! - No source file grows past the length limit (split it into modules instead).
//! - Money modules (core, store, client, engine, scan, ops, server) contain no `f64`/`f32`
//!   (money is `Decimal`).
//!
//! - The CLI builds the store, the exchange clients, the executor, the reconciler and alert
//!   delivery in its composition root (`crates/cli/src/deployment/`) only; the CLI and the API
//!   change proposals, policies and kill switches only through `vigil_ops::Operations`.
//!
//! The test reads `cargo metadata` and the files on disk; it needs no network.

// Helpers outside #[test] functions unwrap freely: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;

const MAX_LINES: usize = 800;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Package name → names of its normal (non-dev, non-build) dependencies, for the whole graph.
fn normal_dependency_graph() -> BTreeMap<String, BTreeSet<String>> {
    // Only the host platform's graph: resolving every target would download crates this machine
    // never builds.
    let rustc = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc runs");
    let host = String::from_utf8(rustc.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc -vV names the host");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--filter-platform",
            &host,
        ])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let mut graph = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().unwrap() {
        let name = names[node["id"].as_str().unwrap()].to_owned();
        let deps: BTreeSet<String> = node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k["kind"].is_null())
            })
            .map(|d| names[d["pkg"].as_str().unwrap()].to_owned())
            .collect();
        graph.entry(name).or_insert_with(BTreeSet::new).extend(deps);
    }
    graph
}

fn transitive(graph: &BTreeMap<String, BTreeSet<String>>, root: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![root.to_owned()];
    while let Some(next) = todo.pop() {
        for dep in graph.get(&next).into_iter().flatten() {
            if seen.insert(dep.clone()) {
                todo.push(dep.clone());
            }
        }
    }
    seen
}

#[test]
fn core_has_no_io_or_async_dependencies() {
    let graph = normal_dependency_graph();
    // The walk itself must see through the graph, or the check below proves nothing.
    assert!(
        transitive(&graph, "vigil-store").contains("tokio"),
        "graph walk misses tokio under vigil-store"
    );
    let deps = transitive(&graph, "vigil-core");
    for banned in ["tokio", "sqlx", "reqwest", "sqlx-core", "hyper", "axum"] {
        assert!(
            !deps.contains(banned),
            "vigil-core must stay pure, but depends on {banned}"
        );
    }
}

#[test]
fn dependencies_point_the_way_the_design_says() {
    let graph = normal_dependency_graph();
    let vigil = |name: &str| -> BTreeSet<String> {
        graph
            .get(name)
            .into_iter()
            .flatten()
            .filter(|d| d.starts_with("vigil-"))
            .cloned()
            .collect()
    };
    // Each part may depend only on the parts DESIGN.md lists for it.
    let allowed: &[(&str, &[&str])] = &[
        ("vigil-core", &[]),
        ("vigil-store", &["vigil-core"]),
        ("vigil-bitvavo", &["vigil-core"]),
        ("vigil-sim", &["vigil-core"]),
        (
            "vigil-engine",
            &["vigil-core", "vigil-store", "vigil-bitvavo"],
        ),
        (
            "vigil-scan",
            &["vigil-core", "vigil-store", "vigil-bitvavo"],
        ),
        // Alerting reads the exchange clients' rate-limit budgets (the rate-limit watch); it
        // never depends on the money path, which raises alerts through the core's seam.
        (
            "vigil-alerting",
            &["vigil-core", "vigil-store", "vigil-bitvavo"],
        ),
        (
            "vigil-ops",
            &[
                "vigil-core",
                "vigil-store",
                "vigil-bitvavo",
                "vigil-engine",
                "vigil-alerting",
            ],
        ),
        (
            "vigil-server",
            &[
                "vigil-core",
                "vigil-store",
                "vigil-bitvavo",
                "vigil-engine",
                "vigil-scan",
                "vigil-ops",
            ],
        ),
    ];
    // Every workspace crate is in the table (a new crate must say where it sits), except the
    // binary, which wires them all, and the development tools.
    let listed: BTreeSet<&str> = allowed.iter().map(|(p, _)| *p).collect();
    for package in graph.keys().filter(|p| p.starts_with("vigil-")) {
        assert!(
            listed.contains(package.as_str())
                || ["vigil-cli", "vigil-testkit", "vigil-bench"].contains(&package.as_str()),
            "{package} is not in the table of allowed dependencies; add it with its arrows"
        );
    }
    for (package, may) in allowed {
        let may: BTreeSet<String> = may.iter().map(|s| (*s).to_owned()).collect();
        let has = vigil(package);
        let extra: Vec<_> = has.difference(&may).collect();
        assert!(extra.is_empty(), "{package} must not depend on {extra:?}");
    }
    // No library depends on the test harness. The benchmark binary is a development tool
    // (publish = false, never linked into Vigil) that builds its scratch databases with it.
    for (package, deps) in &graph {
        if package.starts_with("vigil-") && package != "vigil-bench" {
            assert!(
                !deps.contains("vigil-testkit"),
                "{package} has vigil-testkit as a normal dependency"
            );
        }
    }
}

#[test]
fn only_the_store_speaks_sql_and_the_money_path_speaks_no_http() {
    let graph = normal_dependency_graph();
    // The store owns every SQL statement; the test harness and the benchmark build scratch
    // databases for themselves.
    for (package, deps) in &graph {
        if package.starts_with("vigil-")
            && !["vigil-store", "vigil-testkit", "vigil-bench"].contains(&package.as_str())
        {
            assert!(
                !deps.contains("sqlx"),
                "{package} depends on sqlx; SQL belongs in vigil-store"
            );
        }
    }
    // The money path talks to the exchange only through vigil-bitvavo's typed clients, and
    // retries nothing on its own.
    let engine = &graph["vigil-engine"];
    for banned in ["reqwest", "backon", "tempfile"] {
        assert!(
            !engine.contains(banned),
            "vigil-engine depends on {banned} directly; the money path needs none"
        );
    }
}

fn rust_sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut todo = vec![workspace_root().join("crates")];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(
        files.len() > 10,
        "found too few Rust files; is the walk broken?"
    );
    files
}

#[test]
fn every_source_file_says_what_it_is_for() {
    let missing: Vec<_> = rust_sources()
        .into_iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            !first.trim_start().starts_with("//!")
        })
        .collect();
    assert!(
        missing.is_empty(),
        "files without a //! module comment: {missing:#?}"
    );
}

#[test]
fn no_source_file_is_too_long() {
    let long: Vec<_> = rust_sources()
        .into_iter()
        .filter_map(|path| {
            let lines = std::fs::read_to_string(&path).unwrap().lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", path.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines (split them): {long:#?}"
    );
}

#[test]
fn money_modules_use_no_floating_point() {
    let root = workspace_root();
    let money_dirs = [
        "crates/core/src",
        "crates/store/src",
        "crates/bitvavo/src",
        "crates/engine/src",
        "crates/scan/src",
        "crates/ops/src",
        "crates/server/src",
    ];
    let offenders: Vec<_> = rust_sources()
        .into_iter()
        .filter(|p| money_dirs.iter().any(|d| p.starts_with(root.join(d))))
        .filter(|p| {
            std::fs::read_to_string(p).unwrap().lines().any(|line| {
                let code = line.split("//").next().unwrap_or("");
                code.split(|c: char| !c.is_alphanumeric() && c != '_')
                    .any(|w| w == "f64" || w == "f32")
            })
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "floating point in money code: {offenders:#?}"
    );
}

/// `file calls needle` for each of `needles` found in a source file `select` picks; unit-test
/// modules (`tests.rs`) are left out: they build what their test needs.
fn calls_in(select: impl Fn(&Path) -> bool, needles: &[&str]) -> Vec<String> {
    rust_sources()
        .into_iter()
        .filter(|p| select(p))
        .filter(|p| p.file_name().is_some_and(|n| n != "tests.rs"))
        .flat_map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            needles
                .iter()
                .filter(|n| text.contains(**n))
                .map(|n| format!("{} calls {n}", p.display()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_cli_builds_its_parts_in_one_composition_root() {
    // The store, the exchange clients, the executor, the reconciler and alert delivery are built
    // by `crates/cli/src/deployment/` only, so every command (`vigil run` and the one-shot ones)
    // gets the same parts, wired the same way (alerts reaching the webhook included).
    let root = workspace_root();
    let cli = root.join("crates/cli/src");
    let composition_root = cli.join("deployment");
    let constructors = [
        "Store::connect(",
        "BitvavoClients::new(",
        "ReadOnlyClient::new(",
        "TradingClient::new(",
        "CancelClient::new(",
        "AlertDelivery::new(",
        "Executor::new(",
        "Reconciler::new(",
    ];
    let offenders = calls_in(
        |p| p.starts_with(&cli) && !p.starts_with(&composition_root),
        &constructors,
    );
    assert!(
        offenders.is_empty(),
        "parts built outside the composition root (crates/cli/src/deployment/): {offenders:#?}"
    );
}

#[test]
fn the_front_ends_change_proposals_policies_and_switches_through_the_operations() {
    // Creating, approving or rejecting a proposal, replacing a policy and flipping a kill
    // switch are composed once, in `vigil_ops::Operations`; the CLI and the API call it and
    // never the store's writes for them, so both keep the same rules.
    let root = workspace_root();
    let front_ends = [root.join("crates/cli/src"), root.join("crates/server/src")];
    let writes = [
        ".proposal_insert(",
        ".proposal_transition(",
        ".policy_replace(",
        ".kill_switch_set(",
    ];
    let offenders = calls_in(|p| front_ends.iter().any(|f| p.starts_with(f)), &writes);
    assert!(
        offenders.is_empty(),
        "front ends writing what vigil_ops::Operations owns: {offenders:#?}"
    );
}
