//! Tests of the configuration layers: defaults, file, environment and flags, every problem
//! reported at once with its source, and secrets that stay hidden.

use std::path::Path;

use secrecy::ExposeSecret;

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn defaults_are_the_embedded_paper_setup() {
    let dir = tempfile::tempdir().unwrap();
    let c = Config::load(
        FlagLayer {
            config_file: Some(dir.path().join("none.toml")),
            ..FlagLayer::default()
        },
        &env(&[]),
    );
    // An explicitly named file that does not exist is a problem, not a silent default.
    assert!(c.is_err());
    let c = Config::load(FlagLayer::default(), &env(&[])).unwrap();
    assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
    assert_eq!(c.bitvavo.base_url, None);
    assert_eq!(c.bitvavo.access_window, Duration::from_secs(10));
}

#[test]
fn layers_override_in_order_file_env_flag() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vigil.toml");
    std::fs::write(&file, "[database]\nurl = \"sqlite://from-file.db\"\n[bitvavo]\noperator_id = 7\naccess_window_ms = 5000\n").unwrap();
    let flags = || FlagLayer {
        config_file: Some(file.clone()),
        database_url: None,
    };
    let c = Config::load(flags(), &env(&[("VIGIL_BITVAVO_OPERATOR_ID", "9")])).unwrap();
    assert_eq!(c.database_url, "sqlite://from-file.db");
    assert_eq!(c.bitvavo.operator_id, 9);
    assert_eq!(c.bitvavo.access_window, Duration::from_millis(5000));
    let c = Config::load(
        FlagLayer {
            database_url: Some("postgres://x@h/db".into()),
            ..flags()
        },
        &env(&[("VIGIL_DATABASE_URL", "sqlite://env.db")]),
    )
    .unwrap();
    assert_eq!(c.database_url, "postgres://x@h/db");
}

#[test]
fn every_problem_is_reported_at_once_with_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vigil.toml");
    std::fs::write(&file, "[bitvavo]\noperator_id = -3\nsurprise = 1\n").unwrap();
    let err = Config::load(
        FlagLayer {
            config_file: Some(file),
            database_url: Some("mysql://nope".into()),
        },
        &env(&[
            ("VIGIL_LOG_FORMAT", "xml"),
            ("VIGIL_TYPO", "1"),
            ("VIGIL_TEST_PG_URL", "ignored"),
        ]),
    )
    .unwrap_err();
    let keys: Vec<_> = err.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "bitvavo.surprise",
            "VIGIL_TYPO",
            "database.url",
            "bitvavo.operator_id",
            "log.format"
        ]
    );
    let text = err.to_string();
    assert!(text.contains("flag --database-url"), "{text}");
    assert!(
        text.contains("environment variable VIGIL_LOG_FORMAT"),
        "{text}"
    );
    assert!(text.contains("expected text or json"), "{text}");
}

#[test]
fn the_advisor_needs_its_prices() {
    let err = Config::load(
        FlagLayer::default(),
        &env(&[("VIGIL_ADVISOR_BASE_URL", "https://llm.example/v1")]),
    )
    .unwrap_err();
    let keys: Vec<_> = err.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "advisor.prompt_usd_per_million",
            "advisor.completion_usd_per_million"
        ]
    );
    let c = Config::load(
        FlagLayer::default(),
        &env(&[
            ("VIGIL_ADVISOR_BASE_URL", "https://llm.example/v1"),
            ("VIGIL_ADVISOR_PROMPT_USD_PER_MILLION", "0.15"),
            ("VIGIL_ADVISOR_COMPLETION_USD_PER_MILLION", "0.6"),
        ]),
    )
    .unwrap();
    let advisor = c.advisor.unwrap();
    assert_eq!(advisor.model, "gpt-4o-mini");
    assert_eq!(advisor.max_tokens, 800);
    assert!(Config::load(FlagLayer::default(), &env(&[]))
        .unwrap()
        .advisor
        .is_none());
}

#[test]
fn malformed_toml_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vigil.toml");
    std::fs::write(&file, "[database\nurl=").unwrap();
    let err = Config::load(
        FlagLayer {
            config_file: Some(file),
            ..FlagLayer::default()
        },
        &env(&[]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("not valid TOML"), "{err}");
}

#[test]
fn sim_table_is_passed_through() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vigil.toml");
    std::fs::write(&file, "[sim]\nseed = 3\n").unwrap();
    let c = Config::load(
        FlagLayer {
            config_file: Some(file),
            ..FlagLayer::default()
        },
        &env(&[]),
    )
    .unwrap();
    assert_eq!(c.sim.unwrap()["seed"].as_integer(), Some(3));
}

#[test]
fn keys_come_in_pairs_and_secrets_stay_hidden() {
    let keys = ExchangeKeys::from_env(&env(&[
        ("VIGIL_BITVAVO_READ_KEY", "abcd1234"),
        ("VIGIL_BITVAVO_READ_SECRET", "s3cr3t-value"),
    ]))
    .unwrap();
    let read = keys.read.unwrap();
    assert_eq!(read.secret.expose_secret(), "s3cr3t-value");
    let debug = format!("{read:?}");
    assert!(
        !debug.contains("s3cr3t") && !debug.contains("abcd1234"),
        "{debug}"
    );
    let err = ExchangeKeys::from_env(&env(&[("VIGIL_BITVAVO_TRADE_KEY", "k")])).unwrap_err();
    assert_eq!(err.problems[0].key, "VIGIL_BITVAVO_TRADE_SECRET");
}

#[test]
fn every_documented_request_timeout_builds_a_client() {
    for ms in ["100", "4999", "5000", "120000"] {
        let c = Config::load(
            FlagLayer::default(),
            &env(&[("VIGIL_BITVAVO_REQUEST_TIMEOUT_MS", ms)]),
        )
        .unwrap();
        let client_config = c.bitvavo.client_config("http://127.0.0.1:1");
        assert!(client_config.connect_timeout <= client_config.request_timeout);
        let key = vigil_bitvavo::ReadOnlyKey::new(
            vigil_sim::DEMO_VIEW_KEY,
            SecretString::from(vigil_sim::DEMO_VIEW_SECRET),
        )
        .unwrap();
        let built = vigil_bitvavo::ReadOnlyClient::new(
            &client_config,
            key,
            std::sync::Arc::new(vigil_core::SystemClock),
        );
        assert!(built.is_ok(), "{ms} ms: {:?}", built.err());
    }
    for ms in ["99", "120001"] {
        let err = Config::load(
            FlagLayer::default(),
            &env(&[("VIGIL_BITVAVO_REQUEST_TIMEOUT_MS", ms)]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("bitvavo.request_timeout_ms"), "{err}");
    }
}

#[test]
fn the_policy_ceilings_are_configured_and_checked() {
    let c = Config::load(FlagLayer::default(), &env(&[])).unwrap();
    assert_eq!(c.limits, vigil_store::PolicyCeilings::default());
    let c = Config::load(
        FlagLayer::default(),
        &env(&[
            ("VIGIL_LIMITS_ORDER_NOTIONAL_MAX", "40"),
            ("VIGIL_LIMITS_LLM_DAILY_BUDGET_USD", "0"),
        ]),
    )
    .unwrap();
    assert_eq!(
        c.limits.order_notional_max,
        vigil_core::Notional::from_whole(40)
    );
    assert_eq!(c.limits.llm_daily_budget, rust_decimal::Decimal::ZERO);
    let err = Config::load(
        FlagLayer::default(),
        &env(&[
            ("VIGIL_LIMITS_DAILY_NOTIONAL_MAX", "0"),
            ("VIGIL_LIMITS_LLM_DAILY_BUDGET_USD", "-1"),
        ]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("limits.daily_notional_max"), "{err}");
    assert!(err.contains("limits.llm_daily_budget_usd"), "{err}");
}

/// #18 case 9: a file value of the wrong TOML type is a problem naming the key, the type it has
/// and the one expected; it is never read as the text it prints as (`log.level = 5`).
#[test]
fn a_file_value_of_the_wrong_type_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vigil.toml");
    let load = |text: &str| {
        std::fs::write(&file, text).unwrap();
        Config::load(
            FlagLayer {
                config_file: Some(file.clone()),
                ..FlagLayer::default()
            },
            &env(&[]),
        )
    };
    for (text, key, got) in [
        ("[log]\nlevel = 5\n", "log.level", "integer"),
        (
            "[bitvavo]\noperator_id = \"7\"\n",
            "bitvavo.operator_id",
            "string",
        ),
        (
            "[dead_mans_switch]\nenabled = \"true\"\n",
            "dead_mans_switch.enabled",
            "string",
        ),
        (
            "[limits]\norder_notional_max = 25.5\n",
            "limits.order_notional_max",
            "float",
        ),
        (
            "[server]\nallow_non_loopback = 1\n",
            "server.allow_non_loopback",
            "integer",
        ),
    ] {
        let err = load(text).unwrap_err();
        assert_eq!(err.problems.len(), 1, "{text}: {err}");
        let problem = &err.problems[0];
        assert_eq!(problem.key, key, "{text}: {err}");
        assert!(
            problem.message.contains(got) && problem.message.contains("expected"),
            "{text}: {err}"
        );
    }
    // The right types are read.
    let c = load(
        "[log]\nlevel = \"debug\"\n[limits]\norder_notional_max = \"25.5\"\ndaily_notional_max = 300\n[server]\nallow_non_loopback = true\n",
    )
    .unwrap();
    assert_eq!(c.log_filter, "debug");
    assert_eq!(c.limits.order_notional_max.to_string(), "25.5");
    assert_eq!(c.limits.daily_notional_max.to_string(), "300");
    assert!(c.server.allow_non_loopback);
    assert!(!load("").unwrap().server.allow_non_loopback, "the default");
}

/// #18 case 9: a SQLite URL must name a file; `sqlite://` alone is refused naming its source.
#[test]
fn a_sqlite_url_without_a_path_is_refused() {
    for url in ["sqlite://", "sqlite:", "sqlite://?mode=rwc", "sqlite://   "] {
        let err =
            Config::load(FlagLayer::default(), &env(&[("VIGIL_DATABASE_URL", url)])).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("database.url") && text.contains("VIGIL_DATABASE_URL"),
            "{url}: {text}"
        );
    }
    for url in [
        "sqlite://./x.db",
        "sqlite:x.db",
        "sqlite:///tmp/x.db?mode=rwc",
    ] {
        let c = Config::load(FlagLayer::default(), &env(&[("VIGIL_DATABASE_URL", url)]));
        assert!(c.is_ok(), "{url}: {:?}", c.err().map(|e| e.to_string()));
    }
}

/// #18 case 7: a ceiling a decimal cannot hold exactly is refused quoting what was given, never
/// rounded.
#[test]
fn a_ceiling_that_cannot_be_stored_exactly_is_refused() {
    let typed = "25.00000000000000000000000000001";
    let err = Config::load(
        FlagLayer::default(),
        &env(&[("VIGIL_LIMITS_ORDER_NOTIONAL_MAX", typed)]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("limits.order_notional_max"), "{err}");
    assert!(err.contains(&format!("got \"{typed}\"")), "{err}");
    assert!(err.contains("never rounded"), "{err}");
}

/// #18 case 15: a delivery deadline shorter than one attempt's timeout is blamed on where the
/// deadline came from, never on "the default".
#[test]
fn a_deadline_shorter_than_an_attempt_names_where_it_was_set() {
    let err = Config::load(
        FlagLayer::default(),
        &env(&[
            ("VIGIL_ALERTS_DELIVERY_DEADLINE_SECONDS", "3"),
            ("VIGIL_ALERTS_ATTEMPT_TIMEOUT_MS", "5000"),
        ]),
    )
    .unwrap_err();
    let problem = err
        .problems
        .iter()
        .find(|p| p.key == "alerts.delivery_deadline_seconds")
        .unwrap_or_else(|| panic!("{err}"));
    assert_eq!(
        problem.source,
        Source::Env("VIGIL_ALERTS_DELIVERY_DEADLINE_SECONDS".into()),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("environment variable VIGIL_ALERTS_DELIVERY_DEADLINE_SECONDS"),
        "{err}"
    );
}

/// The table is the one place a key is declared: each path is unique, dotted
/// (`section.name`), and gives a `VIGIL_*` variable no other key or reserved variable has; each
/// default is a value its own parser accepts.
#[test]
fn every_key_in_the_table_is_unique_and_its_default_parses() {
    let mut paths = std::collections::BTreeSet::new();
    let mut vars = std::collections::BTreeSet::new();
    for key in keys::ALL {
        let path = key.path();
        assert!(paths.insert(path), "{path} is declared twice");
        let (section, name) = path.split_once('.').unwrap_or_else(|| panic!("{path}"));
        assert!(
            [section, name]
                .iter()
                .all(|part| !part.is_empty()
                    && part.chars().all(|c| c.is_ascii_lowercase() || c == '_')),
            "{path} is not section.name"
        );
        let var = keys::env_name(path);
        assert!(vars.insert(var.clone()), "{var} is derived twice");
        assert!(
            !keys::RESERVED_ENV.contains(&var.as_str()),
            "{var} is reserved"
        );
        assert!(
            !key.expected().is_empty(),
            "{path} says nothing of what it expects"
        );
        if let Some(default) = key.default() {
            assert!(
                key.accepts(default),
                "{path}: its default {default:?} is refused"
            );
        }
    }
}

/// Every key's environment variable is known (whatever its value, it is not an unknown key).
#[test]
fn every_key_is_known_by_its_environment_variable() {
    for key in keys::ALL {
        let var = keys::env_name(key.path());
        let value = key.default().unwrap_or("x");
        if let Err(err) = Config::load(FlagLayer::default(), &env(&[(var.as_str(), value)])) {
            assert!(err.problems.iter().all(|p| p.key != var), "{var}: {err}");
        }
    }
}

/// A file value of the wrong TOML kind names the kind the key takes and its expectation, for
/// every key in the table.
#[test]
fn a_file_value_of_the_wrong_kind_names_the_kind() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vigil.toml");
    for key in keys::ALL {
        let (section, name) = key.path().split_once('.').unwrap();
        let (wrong, shown, type_name) = match key.kind() {
            keys::ValueKind::Text | keys::ValueKind::Integer => ("true", "true", "boolean"),
            keys::ValueKind::Bool | keys::ValueKind::Amount => ("1.5", "1.5", "float"),
        };
        std::fs::write(&file, format!("[{section}]\n{name} = {wrong}\n")).unwrap();
        let err = Config::load(
            FlagLayer {
                config_file: Some(file.clone()),
                ..FlagLayer::default()
            },
            &env(&[]),
        )
        .unwrap_err();
        assert_eq!(err.problems.len(), 1, "{}: {err}", key.path());
        let problem = &err.problems[0];
        assert_eq!(problem.key, key.path());
        assert_eq!(problem.source, Source::File(file.clone()));
        assert_eq!(
            problem.message,
            format!(
                "got {shown} (a {type_name}), expected {}: {}",
                key.kind().name(),
                key.expected()
            )
        );
    }
}

/// The path of every key is written once in the source outside the tests: in the table.
#[test]
fn every_key_path_is_written_once() {
    fn sources(dir: &std::path::Path, out: &mut Vec<(PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs")
                && path.file_name().is_some_and(|n| n != "tests.rs")
            {
                let text = std::fs::read_to_string(&path).unwrap();
                // The part before a file's own test module.
                let code = text.split("#[cfg(test)]\nmod tests {").next().unwrap();
                out.push((path, code.to_owned()));
            }
        }
    }
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() > 10, "{files:?}");
    for key in keys::ALL {
        let quoted = format!("\"{}\"", key.path());
        let places: Vec<_> = files
            .iter()
            .flat_map(|(path, code)| {
                code.matches(&quoted)
                    .map(move |_| path.display().to_string())
            })
            .collect();
        assert_eq!(places.len(), 1, "{quoted} is written in {places:?}");
    }
}

/// README's configuration table names every key, and names none that does not exist.
#[test]
fn the_readme_configuration_table_lists_every_key() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let section = readme
        .split("\n## Configuration\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .unwrap();
    let quoted = |text: &str| -> Vec<String> {
        text.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    };
    let mentioned = quoted(section);
    for key in keys::ALL {
        assert!(
            mentioned.iter().any(|m| m == key.path()),
            "README's configuration section does not mention `{}`",
            key.path()
        );
    }
    let rows = section.lines().filter(|l| l.starts_with("| `"));
    for row in rows {
        let mut cells = row.split('|').skip(1);
        let (first, second) = (cells.next().unwrap(), cells.next().unwrap());
        let listed: Vec<_> = quoted(first)
            .into_iter()
            .filter(|cell| !cell.starts_with('['))
            .collect();
        for path in &listed {
            let key = keys::ALL.iter().find(|k| k.path() == path);
            assert!(key.is_some(), "README lists `{path}`, which is no key");
        }
        for var in quoted(second).iter().filter(|v| !v.ends_with('…')) {
            assert!(
                listed.iter().any(|p| keys::env_name(p) == *var)
                    || keys::RESERVED_ENV.contains(&var.as_str()),
                "README gives {var} for {listed:?}"
            );
        }
    }
}

/// A price the advisor needs is blamed on where `advisor.base_url` was set, and a refused value
/// of an advisor key counts only once the advisor is configured.
#[test]
fn a_missing_advisor_price_names_where_the_url_came_from() {
    let err = Config::load(
        FlagLayer::default(),
        &env(&[
            ("VIGIL_ADVISOR_BASE_URL", "https://llm.example/v1"),
            ("VIGIL_ADVISOR_PROMPT_USD_PER_MILLION", "0.15"),
        ]),
    )
    .unwrap_err();
    assert_eq!(err.problems.len(), 1, "{err}");
    assert_eq!(err.problems[0].key, keys::COMPLETION_PRICE.path);
    assert_eq!(
        err.problems[0].source,
        Source::Env("VIGIL_ADVISOR_BASE_URL".into())
    );
    let unused = Config::load(
        FlagLayer::default(),
        &env(&[("VIGIL_ADVISOR_MAX_TOKENS", "0")]),
    );
    assert!(unused.is_ok(), "{:?}", unused.err().map(|e| e.to_string()));
}
