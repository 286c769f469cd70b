//! Tests of the configuration layers: defaults, file, environment and flags, every problem
//! reported at once with its source, and secrets that stay hidden.

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
