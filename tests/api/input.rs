//! Input validated at the edge: every bad id, query, body and upload is
//! refused with a problem and never reaches Imgur.

use crate::helpers::{assert_problem, png, spawn_app, TestApp};
use base64::Engine;
use pixgate::fake_imgur::Endpoint;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use std::io::{Read, Write};

const IMAGE_MAX_BYTES: usize = 10 * 1024 * 1024;

/// An answer read off the wire by [`raw_request`].
struct RawResponse {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

/// Sends one HTTP/1.1 request with `target` exactly as given: reqwest's URL
/// parser would resolve `%2e%2e` as `..` before sending, so the gateway
/// would never see it.
async fn raw_request(app: &TestApp, method: &str, target: &str, body: Option<&str>) -> RawResponse {
    let host = app.address.trim_start_matches("http://").to_owned();
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    match body {
        Some(body) => request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )),
        None => request.push_str("Content-Length: 0\r\n\r\n"),
    }
    let raw = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&host).expect("connects to the gateway");
        stream
            .write_all(request.as_bytes())
            .expect("request is sent");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("answer is read");
        raw
    })
    .await
    .expect("the raw request task completes");
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> RawResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let content_type = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-type"))
        .map(|(_, value)| value.trim().to_owned())
        .unwrap_or_default();
    RawResponse {
        status,
        content_type,
        body: raw[split + 4..].to_vec(),
    }
}

/// Asserts a raw answer is a problem with one of `statuses` and, for a 400,
/// the `invalid-input` type.
fn assert_raw_problem(response: &RawResponse, statuses: &[u16], case: &str) {
    assert!(
        statuses.contains(&response.status),
        "{case}: status {} not in {statuses:?}",
        response.status
    );
    assert_eq!(response.content_type, "application/problem+json", "{case}");
    let body: Value = serde_json::from_slice(&response.body)
        .unwrap_or_else(|e| panic!("{case}: a JSON problem ({e})"));
    assert_eq!(body["status"], response.status, "{case}");
    let slug = if response.status == 400 {
        "invalid-input"
    } else {
        "not-found"
    };
    let problem_type = body["type"].as_str().unwrap_or_default();
    assert!(
        problem_type.ends_with(slug),
        "{case}: type {problem_type} should end in {slug}"
    );
}

async fn post_multipart(app: &TestApp, form: Form) -> reqwest::Response {
    app.http
        .post(app.url("/v1/images"))
        .multipart(form)
        .send()
        .await
        .expect("request is sent")
}

async fn post_json(app: &TestApp, body: &Value) -> reqwest::Response {
    app.http
        .post(app.url("/v1/images"))
        .json(body)
        .send()
        .await
        .expect("request is sent")
}

fn image_part(bytes: Vec<u8>) -> Part {
    Part::bytes(bytes)
        .file_name("cat.png")
        .mime_str("image/png")
        .expect("a valid mime type")
}

/// Builds a fresh form per case (a `Form` cannot be cloned).
type MakeForm = fn() -> Form;

// ----------------------------------------------------------------- ids

/// Bad ids as sent on the wire, and the statuses each may get.
const BAD_IDS: [(&str, &str, &[u16]); 7] = [
    ("dot inside", "a.b", &[400]),
    ("encoded dot-dot", "%2e%2e", &[400]),
    ("33 characters", "abcdefghijklmnopqrstuvwxyz0123456", &[400]),
    ("Cyrillic look-alike a", "%D0%B0bc", &[400]),
    ("encoded space", "a%20b", &[400]),
    ("encoded slash", "a%2Fb", &[400, 404]),
    ("encoded NUL", "a%00b", &[400]),
];

#[tokio::test]
async fn image_routes_are_bad_request_without_calling_imgur_when_the_id_is_not_alphanumeric() {
    let routes = [
        ("GET", "/v1/images/{id}", None),
        ("PATCH", "/v1/images/{id}", Some(r#"{"title":"t"}"#)),
        ("DELETE", "/v1/images/{id}", None),
        ("PUT", "/v1/images/{id}/favorite", None),
        ("DELETE", "/v1/images/{id}/favorite", None),
        ("POST", "/v1/images/{id}/favorite", None),
    ];
    for (method, template, body) in routes {
        for (case, id, statuses) in BAD_IDS {
            // Arrange
            let app = spawn_app().await;
            let target = template.replace("{id}", id);
            let case = format!("{method} {target} ({case})");

            // Act
            let response = raw_request(&app, method, &target, body).await;

            // Assert
            assert_raw_problem(&response, statuses, &case);
            assert_eq!(app.api_calls(), 0, "{case}: nothing reached Imgur");
        }
    }
}

#[tokio::test]
async fn get_image_reaches_imgur_when_the_id_is_32_letters_and_digits() {
    // Arrange: the longest valid id, so the table above is not refusing everything.
    let app = spawn_app().await;
    let id = "abcdefghijklmnopqrstuvwxyz012345";

    // Act
    let response = raw_request(&app, "GET", &format!("/v1/images/{id}"), None).await;

    // Assert
    assert_eq!(response.status, 404, "Imgur has no such image");
    let request = app
        .fake
        .requests()
        .into_iter()
        .find(|r| r.endpoint == Endpoint::GetImage);
    assert_eq!(
        request.expect("a GetImage request").path,
        format!("/3/image/{id}")
    );
}

// ------------------------------------------------------------ favorites

#[tokio::test]
async fn favorites_are_bad_request_without_calling_imgur_when_page_or_sort_is_invalid() {
    let cases = [
        ("negative page", "page=-1"),
        ("page is not a number", "page=x"),
        ("page past u32", "page=4294967296"),
        ("unknown sort", "sort=random"),
        ("sort in capitals", "sort=NEWEST"),
    ];
    for (case, query) in cases {
        // Arrange
        let app = spawn_app().await;

        // Act
        let response = app.get(&format!("/v1/favorites?{query}")).await;

        // Assert
        assert_problem(response, 400, "invalid-input").await;
        assert_eq!(app.api_calls(), 0, "{case}: nothing reached Imgur");
    }
}

// --------------------------------------------------------------- PATCH

#[tokio::test]
async fn update_image_is_bad_request_without_calling_imgur_when_the_body_is_not_a_change() {
    let cases = [
        ("empty object", "{}"),
        ("null title only", r#"{"title":null}"#),
        ("invalid JSON", r#"{"title":"#),
        ("unknown field", r#"{"title":"t","tags":["x"]}"#),
        ("title is not a string", r#"{"title":42}"#),
        ("a JSON string", r#""title""#),
    ];
    for (case, body) in cases {
        // Arrange
        let app = spawn_app().await;

        // Act
        let response = app
            .http
            .patch(app.url("/v1/images/abc123"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request is sent");

        // Assert
        assert_problem(response, 400, "invalid-input").await;
        assert_eq!(app.api_calls(), 0, "{case}: nothing reached Imgur");
    }
}

#[tokio::test]
async fn update_image_is_unsupported_media_type_without_calling_imgur_when_the_body_is_not_json() {
    let cases = [
        ("text/plain", "text/plain", r#"{"title":"t"}"#),
        ("form", "application/x-www-form-urlencoded", "title=t"),
    ];
    for (case, content_type, body) in cases {
        // Arrange
        let app = spawn_app().await;

        // Act
        let response = app
            .http
            .patch(app.url("/v1/images/abc123"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request is sent");

        // Assert
        assert_problem(response, 415, "unsupported-media-type").await;
        assert_eq!(app.api_calls(), 0, "{case}: nothing reached Imgur");
    }
}

#[tokio::test]
async fn update_image_is_payload_too_large_without_calling_imgur_when_the_json_is_over_2_mib() {
    // Arrange
    let app = spawn_app().await;
    let body = json!({ "title": "x".repeat(2 * 1024 * 1024) });

    // Act
    let response = app
        .http
        .patch(app.url("/v1/images/abc123"))
        .json(&body)
        .send()
        .await
        .expect("request is sent");

    // Assert
    assert_problem(response, 413, "payload-too-large").await;
    assert_eq!(app.api_calls(), 0);
}

// -------------------------------------------------------------- upload

#[tokio::test]
async fn upload_is_bad_request_without_calling_imgur_when_the_multipart_fields_are_wrong() {
    let cases: [(&str, MakeForm); 7] = [
        ("no file or url field", || {
            Form::new().text("title", "A cat")
        }),
        ("both image and url", || {
            Form::new()
                .part("image", image_part(png(256)))
                .text("url", "https://example.com/cat.png")
        }),
        ("two image parts", || {
            Form::new()
                .part("image", image_part(png(256)))
                .part("image", image_part(png(256)))
        }),
        ("unknown field", || {
            Form::new()
                .part("image", image_part(png(256)))
                .text("tags", "cats")
        }),
        ("ftp url", || {
            Form::new().text("url", "ftp://example.com/cat.png")
        }),
        ("empty image", || {
            Form::new().part("image", image_part(Vec::new()))
        }),
        ("album that is not an id", || {
            Form::new()
                .part("image", image_part(png(256)))
                .text("album", "../x")
        }),
    ];
    for (case, form) in cases {
        // Arrange
        let app = spawn_app().await;

        // Act
        let response = post_multipart(&app, form()).await;

        // Assert
        let body = assert_problem(response, 400, "invalid-input").await;
        assert!(body.get("upstream_status").is_none(), "{case}: {body}");
        assert_eq!(app.api_calls(), 0, "{case}: nothing reached Imgur");
    }
}

#[tokio::test]
async fn upload_is_bad_request_without_calling_imgur_when_the_json_fields_are_wrong() {
    let cases = [
        (
            "both url and base64",
            json!({"url": "https://example.com/cat.png", "base64": "aGVsbG8="}),
        ),
        ("neither url nor base64", json!({"title": "A cat"})),
        (
            "base64 that is not base64",
            json!({"base64": "not base64!"}),
        ),
        ("empty base64", json!({"base64": ""})),
        ("ftp url", json!({"url": "ftp://example.com/cat.png"})),
        ("not a url", json!({"url": "cat.png"})),
        (
            "unknown field",
            json!({"url": "https://example.com/cat.png", "tags": "cats"}),
        ),
    ];
    for (case, body) in cases {
        // Arrange
        let app = spawn_app().await;

        // Act
        let response = post_json(&app, &body).await;

        // Assert
        assert_problem(response, 400, "invalid-input").await;
        assert_eq!(app.api_calls(), 0, "{case}: nothing reached Imgur");
    }
}

#[tokio::test]
async fn upload_is_bad_request_without_calling_imgur_when_the_json_is_malformed() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app
        .http
        .post(app.url("/v1/images"))
        .header("content-type", "application/json")
        .body(r#"{"url":"#)
        .send()
        .await
        .expect("request is sent");

    // Assert
    assert_problem(response, 400, "invalid-input").await;
    assert_eq!(app.api_calls(), 0);
}

#[tokio::test]
async fn upload_is_unsupported_media_type_without_calling_imgur_when_the_body_is_not_multipart_or_json(
) {
    let cases = [
        ("text/plain", Some("text/plain")),
        ("raw image/png", Some("image/png")),
        ("no content type", None),
    ];
    for (case, content_type) in cases {
        // Arrange
        let app = spawn_app().await;
        let mut request = app.http.post(app.url("/v1/images")).body(png(256));
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }

        // Act
        let response = request.send().await.expect("request is sent");

        // Assert
        assert_problem(response, 415, "unsupported-media-type").await;
        assert_eq!(app.api_calls(), 0, "{case}: nothing reached Imgur");
    }
}

#[tokio::test]
async fn upload_is_payload_too_large_without_calling_imgur_when_the_image_is_over_10_mib() {
    // Arrange
    let app = spawn_app().await;
    let form = Form::new().part("image", image_part(png(IMAGE_MAX_BYTES + 1)));

    // Act
    let response = post_multipart(&app, form).await;

    // Assert
    assert_problem(response, 413, "payload-too-large").await;
    assert_eq!(app.api_calls(), 0);
    assert_eq!(
        app.fake.begun(Endpoint::Upload),
        0,
        "no upload request even began"
    );
}

#[tokio::test]
async fn upload_reaches_imgur_when_the_image_is_exactly_10_mib() {
    // Arrange: the boundary of the case above.
    let app = spawn_app().await;
    let form = Form::new().part("image", image_part(png(IMAGE_MAX_BYTES)));

    // Act
    let response = post_multipart(&app, form).await;

    // Assert
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("JSON");
    let id = body["id"].as_str().expect("an id");
    assert_eq!(
        app.fake.image(id).expect("Imgur has it").size,
        IMAGE_MAX_BYTES as u64
    );
    assert_eq!(app.fake.calls(Endpoint::Upload), 1);
}

#[tokio::test]
async fn upload_is_payload_too_large_without_calling_imgur_when_the_base64_image_decodes_to_over_10_mib(
) {
    // Arrange
    let app = spawn_app().await;
    let data = base64::engine::general_purpose::STANDARD.encode(png(IMAGE_MAX_BYTES + 1));

    // Act
    let response = post_json(&app, &json!({ "base64": data })).await;

    // Assert
    assert_problem(response, 413, "payload-too-large").await;
    assert_eq!(app.api_calls(), 0);
}
