//! The served OpenAPI document and Swagger UI.

use crate::helpers::spawn_app;
use serde_json::Value;

#[tokio::test]
async fn the_served_openapi_document_equals_the_committed_one() {
    let app = spawn_app().await;

    let served: Value = app.get("/openapi.json").await.json().await.expect("JSON");

    let committed_path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(committed_path).expect("committed document"))
            .expect("committed document is JSON");
    assert!(
        served == committed,
        "openapi/openapi.json is out of date: regenerate it with `cargo run -- openapi --output openapi/openapi.json`"
    );
    assert_eq!(served["openapi"], "3.1.0");
}

#[tokio::test]
async fn every_v1_operation_is_documented_for_client_generation() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.expect("JSON");

    let paths = doc["paths"].as_object().expect("paths");
    let mut operation_ids = Vec::new();
    for (path, item) in paths.iter().filter(|(p, _)| p.starts_with("/v1/")) {
        for (method, operation) in item.as_object().expect("path item") {
            let name = format!("{method} {path}");
            operation_ids.push(operation["operationId"].as_str().expect(&name).to_owned());
            assert!(operation["summary"].is_string(), "{name} has a summary");
            let responses = operation["responses"].as_object().expect("responses");
            for status in ["401", "403", "429", "500", "502", "503", "504"] {
                let content = &responses[status]["content"]["application/problem+json"];
                assert!(
                    content.is_object(),
                    "{name} documents {status} as a problem"
                );
            }
            assert_eq!(
                operation["security"][0]["api_key"],
                serde_json::json!([]),
                "{name}"
            );
        }
    }
    assert_eq!(operation_ids.len(), 22);
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"]["scheme"],
        "bearer"
    );
    let upload = &doc["paths"]["/v1/images"]["post"]["requestBody"]["content"];
    assert!(upload["multipart/form-data"].is_object() && upload["application/json"].is_object());
}

#[tokio::test]
async fn every_reference_in_the_document_resolves() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.expect("JSON");

    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);

    assert!(!refs.is_empty());
    for reference in refs {
        let pointer = reference.strip_prefix('#').expect("a local reference");
        assert!(
            doc.pointer(pointer).is_some(),
            "{reference} does not resolve"
        );
    }
}

fn collect_refs(value: &Value, refs: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match (key.as_str(), child.as_str()) {
                    ("$ref", Some(target)) => refs.push(target.to_owned()),
                    _ => collect_refs(child, refs),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, refs)),
        _ => {}
    }
}

#[tokio::test]
async fn swagger_ui_is_served_at_docs() {
    let app = spawn_app().await;

    let page = app.get("/docs/").await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("html").contains("swagger-ui"));
    let initializer = app
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .expect("js");
    assert!(
        initializer.contains("/openapi.json"),
        "the UI loads the served document"
    );
    let no_follow = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let redirect = no_follow.get(app.url("/docs")).send().await.expect("sent");
    assert_eq!(redirect.status(), 302);
    assert_eq!(redirect.headers()["location"], "/docs/");
}

#[tokio::test]
async fn every_flickr_operation_documents_its_problems() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.expect("JSON");

    let paths = doc["paths"].as_object().expect("paths");
    let mut operations = 0;
    for (path, item) in paths.iter().filter(|(p, _)| p.starts_with("/flickr/")) {
        for (method, operation) in item.as_object().expect("path item") {
            let name = format!("{method} {path}");
            operations += 1;
            assert!(operation["summary"].is_string(), "{name} has a summary");
            let responses = operation["responses"].as_object().expect("responses");
            let mut statuses = vec!["403", "404"];
            if path.starts_with("/flickr/v1/") {
                statuses.extend(["401", "429", "500", "502", "503", "504"]);
            }
            for status in statuses {
                let content = &responses[status]["content"]["application/problem+json"];
                assert!(
                    content.is_object(),
                    "{name} documents {status} as a problem"
                );
            }
        }
    }
    assert_eq!(operations, 12);
    let photo = &doc["components"]["schemas"]["Photo"]["properties"];
    for field in [
        "id",
        "title",
        "description",
        "owner",
        "username",
        "datetime",
        "link",
        "image_url",
        "is_public",
        "favorite",
    ] {
        assert!(photo[field].is_object(), "Photo documents {field}");
    }
}
