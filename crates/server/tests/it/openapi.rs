//! The OpenAPI document and the golden list of endpoints.
//!
//! The document is generated from the handlers' attributes; the router is built from the route
//! table. These tests tie the two together (every served route is documented, with the bearer
//! scheme exactly when it needs credentials, and nothing else is), and pin the table in
//! `golden/endpoints.txt`, so adding, removing or re-protecting a route is a visible change.
//! Set `VIGIL_BLESS=1` to rewrite the golden file after an intended change.

use std::collections::BTreeSet;

use serde_json::Value;
use vigil_server::route_table;

use crate::app::TestApp;

const GOLDEN: &str = "tests/it/golden/endpoints.txt";

fn rendered_table() -> String {
    let mut text = String::from(
        "# METHOD PATH ACCESS: every route vigil-server serves (tests/it/openapi.rs checks it).\n",
    );
    for route in route_table() {
        text.push_str(&route.to_string());
        text.push('\n');
    }
    text
}

#[test]
fn route_table_matches_the_golden_file() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    let actual = rendered_table();
    if std::env::var_os("VIGIL_BLESS").is_some() {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        actual, expected,
        "the route table changed; if intended, run with VIGIL_BLESS=1 and review the diff of {GOLDEN}"
    );
}

#[test]
fn route_table_has_no_duplicates() {
    let mut seen = BTreeSet::new();
    for route in route_table() {
        assert!(
            seen.insert((route.method.to_string(), route.path)),
            "{route} appears twice"
        );
    }
}

async fn openapi_document_lists_exactly_the_served_routes(app: &TestApp) {
    let doc: Value = app
        .send(reqwest::Method::GET, "/api/v1/openapi.json", None, None)
        .await
        .expect(200)
        .json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(doc["info"]["title"], "Vigil API");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let secured = operation
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
            documented.insert((method.to_ascii_uppercase(), path.clone(), secured));
        }
    }
    let served: BTreeSet<_> = route_table()
        .into_iter()
        .map(|r| {
            (
                r.method.to_string(),
                r.path.to_owned(),
                r.access.needs_credentials(),
            )
        })
        .collect();
    assert_eq!(
        documented, served,
        "the OpenAPI document and the router disagree"
    );
    // Every schema a path refers to is defined.
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for reference in text.split("\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(
            schemas.contains_key(name),
            "schema {name} is referenced but not defined"
        );
    }
}

vigil_testkit::backend_tests!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    crate::app::TestApp::run;
    openapi_document_lists_exactly_the_served_routes);
