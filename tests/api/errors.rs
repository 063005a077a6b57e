//! How Imgur's failures reach the client: one problem+json per failure
//! shape, `Retry-After` and rate-limit headers where they belong, and what
//! the fake received. Also the API key, unknown routes and anonymous mode.

use crate::helpers::{assert_problem, png, spawn_app, spawn_app_with, Options, TestApp};
use pixgate::fake_imgur::{Endpoint, Fault, FaultKind};
use reqwest::multipart::{Form, Part};
use std::time::Duration;

/// An image the fake has from the start (one of the account's favorites).
fn seeded_image(app: &TestApp) -> String {
    app.fake
        .favorite_ids()
        .into_iter()
        .next()
        .expect("the fake seeds favorites")
}

/// Makes the next `GET /3/image/{id}` fail with `kind`.
fn fail_next_image_get(app: &TestApp, kind: FaultKind) {
    app.fake.inject(Fault {
        endpoint: Some(Endpoint::GetImage),
        kind,
        times: 1,
    });
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

fn png_form() -> Form {
    Form::new().part(
        "image",
        Part::bytes(png(256))
            .file_name("cat.png")
            .mime_str("image/png")
            .expect("a valid mime type"),
    )
}

// ---------------------------------------------------------------- Imgur 404

#[tokio::test]
async fn get_image_is_not_found_with_imgurs_message_when_imgur_answers_404() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app.get("/v1/images/doesNotExist1").await;

    // Assert
    let body = assert_problem(response, 404, "not-found").await;
    assert_eq!(body["upstream_status"], 404);
    let detail = body["detail"].as_str().expect("a detail");
    assert!(
        detail.contains("Unable to find an image with the id, doesNotExist1"),
        "detail: {detail}"
    );
    assert_eq!(app.fake.calls(Endpoint::GetImage), 1);
    let request = app
        .fake
        .requests()
        .into_iter()
        .find(|r| r.endpoint == Endpoint::GetImage);
    assert_eq!(
        request.expect("a GetImage request").path,
        "/3/image/doesNotExist1"
    );
}

// ---------------------------------------------------------------- Imgur 429

#[tokio::test]
async fn get_image_is_rate_limited_with_imgurs_retry_after_when_imgur_sends_one() {
    // Arrange
    let app = spawn_app().await;
    let id = seeded_image(&app);
    fail_next_image_get(
        &app,
        FaultKind::RateLimited {
            retry_after: Some(37),
            user_reset_secs: 600,
        },
    );

    // Act
    let response = app.get(&format!("/v1/images/{id}")).await;

    // Assert
    assert_eq!(header(&response, "retry-after"), Some("37"));
    assert_eq!(header(&response, "x-ratelimit-userremaining"), Some("0"));
    assert_eq!(header(&response, "x-ratelimit-userreset"), Some("600"));
    assert_eq!(header(&response, "x-ratelimit-userlimit"), Some("2000"));
    assert_eq!(header(&response, "x-ratelimit-clientlimit"), Some("12500"));
    assert!(header(&response, "x-ratelimit-clientremaining").is_some());
    let body = assert_problem(response, 429, "rate-limited").await;
    assert_eq!(body["upstream_status"], 429);
    let detail = body["detail"].as_str().expect("a detail");
    assert!(
        detail.contains("You are uploading too fast"),
        "detail: {detail}"
    );
    assert_eq!(
        app.fake.calls(Endpoint::GetImage),
        1,
        "a 429 is not retried"
    );
}

#[tokio::test]
async fn get_image_is_rate_limited_with_retry_after_from_the_user_reset_when_imgur_sends_no_retry_after(
) {
    // Arrange
    let app = spawn_app().await;
    let id = seeded_image(&app);
    fail_next_image_get(
        &app,
        FaultKind::RateLimited {
            retry_after: None,
            user_reset_secs: 120,
        },
    );

    // Act
    let response = app.get(&format!("/v1/images/{id}")).await;

    // Assert
    assert_eq!(header(&response, "retry-after"), Some("120"));
    assert_eq!(header(&response, "x-ratelimit-userremaining"), Some("0"));
    assert_eq!(header(&response, "x-ratelimit-userreset"), Some("120"));
    let body = assert_problem(response, 429, "rate-limited").await;
    assert_eq!(body["upstream_status"], 429);
    assert_eq!(app.fake.calls(Endpoint::GetImage), 1);
}

#[tokio::test]
async fn get_image_is_rate_limited_with_too_many_requests_when_imgur_answers_the_errors_array_429()
{
    // Arrange
    let app = spawn_app().await;
    let id = seeded_image(&app);
    fail_next_image_get(&app, FaultKind::ErrorsArray429);

    // Act
    let response = app.get(&format!("/v1/images/{id}")).await;

    // Assert
    let retry_after = header(&response, "retry-after")
        .expect("a Retry-After header")
        .parse::<u64>()
        .expect("Retry-After in seconds");
    assert!(retry_after > 0, "Retry-After: {retry_after}");
    let body = assert_problem(response, 429, "rate-limited").await;
    assert_eq!(body["detail"], "Too Many Requests");
    assert_eq!(body["upstream_status"], 429);
    assert_eq!(app.fake.calls(Endpoint::GetImage), 1);
}

// ----------------------------------------------------------- over capacity

#[tokio::test]
async fn get_image_is_service_unavailable_with_retry_after_when_imgur_is_over_capacity() {
    let cases = [
        ("JSON 403", FaultKind::OverCapacityJson(403), 403),
        ("JSON 500", FaultKind::OverCapacityJson(500), 500),
        ("HTML 503 page", FaultKind::OverCapacityHtml, 503),
    ];
    for (case, kind, upstream_status) in cases {
        // Arrange
        let app = spawn_app().await;
        let id = seeded_image(&app);
        fail_next_image_get(&app, kind);

        // Act
        let response = app.get(&format!("/v1/images/{id}")).await;

        // Assert
        let retry_after = header(&response, "retry-after")
            .unwrap_or_else(|| panic!("{case}: a Retry-After header"))
            .parse::<u64>()
            .unwrap_or_else(|_| panic!("{case}: Retry-After in seconds"));
        assert!(retry_after > 0, "{case}: Retry-After {retry_after}");
        let body = assert_problem(response, 503, "upstream-over-capacity").await;
        assert_eq!(body["upstream_status"], upstream_status, "{case}");
        assert_eq!(app.fake.calls(Endpoint::GetImage), 1, "{case}: not retried");
    }
}

#[tokio::test]
async fn token_is_not_refreshed_when_imgur_answers_an_over_capacity_403() {
    // Arrange
    let app = spawn_app().await;
    let id = seeded_image(&app);
    fail_next_image_get(&app, FaultKind::OverCapacityJson(403));

    // Act
    let response = app.get(&format!("/v1/images/{id}")).await;

    // Assert
    assert_problem(response, 503, "upstream-over-capacity").await;
    assert_eq!(
        app.fake.calls(Endpoint::Token),
        1,
        "only the initial token request"
    );
    assert_eq!(app.fake.issued_access_tokens().len(), 1);
    assert_eq!(app.fake.calls(Endpoint::GetImage), 1, "no replay");
}

// ------------------------------------------------------------ bad gateway

#[tokio::test]
async fn get_image_is_bad_gateway_when_imgur_fails_or_answers_garbage() {
    let cases = [
        (
            "JSON server error",
            FaultKind::ServerError(500),
            500,
            "Internal server error",
        ),
        (
            "bare string data",
            FaultKind::BareStringError(500),
            500,
            "An error occurred",
        ),
        (
            "object data.error",
            FaultKind::ObjectError(500),
            500,
            "File type invalid (1)",
        ),
        ("HTML error page", FaultKind::Html(500), 500, "HTML"),
        ("empty 503", FaultKind::Empty503, 503, "empty"),
        (
            "truncated JSON with 200",
            FaultKind::InvalidJson,
            200,
            "not its JSON format",
        ),
    ];
    for (case, kind, upstream_status, detail_part) in cases {
        // Arrange
        let app = spawn_app().await;
        let id = seeded_image(&app);
        fail_next_image_get(&app, kind);

        // Act
        let response = app.get(&format!("/v1/images/{id}")).await;

        // Assert
        let body = assert_problem(response, 502, "upstream-error").await;
        assert_eq!(body["upstream_status"], upstream_status, "{case}");
        let detail = body["detail"].as_str().expect("a detail");
        assert!(
            detail.contains(detail_part),
            "{case}: detail {detail:?} should contain {detail_part:?}"
        );
        assert_eq!(app.fake.calls(Endpoint::GetImage), 1, "{case}: not retried");
    }
}

#[tokio::test]
async fn upload_is_bad_request_with_imgurs_message_when_imgur_refuses_the_file_with_an_object_error(
) {
    // Arrange
    let app = spawn_app().await;
    app.fake.inject(Fault {
        endpoint: Some(Endpoint::Upload),
        kind: FaultKind::ObjectError(400),
        times: 1,
    });

    // Act
    let response = app
        .http
        .post(app.url("/v1/images"))
        .multipart(png_form())
        .send()
        .await
        .expect("request is sent");

    // Assert
    let body = assert_problem(response, 400, "invalid-input").await;
    assert_eq!(body["upstream_status"], 400);
    let detail = body["detail"].as_str().expect("a detail");
    assert!(detail.contains("File type invalid (1)"), "detail: {detail}");
    assert_eq!(app.fake.calls(Endpoint::Upload), 1);
}

// ---------------------------------------------------------------- timeout

#[tokio::test]
async fn get_image_is_gateway_timeout_when_imgur_answers_after_the_upstream_timeout() {
    // Arrange
    let app = spawn_app_with(Options {
        upstream_timeout: Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    let id = seeded_image(&app);
    fail_next_image_get(&app, FaultKind::Delay(Duration::from_secs(3)));
    let started = std::time::Instant::now();

    // Act
    let response = app.get(&format!("/v1/images/{id}")).await;

    // Assert
    let elapsed = started.elapsed();
    let body = assert_problem(response, 504, "upstream-timeout").await;
    assert!(
        body.get("upstream_status").is_none(),
        "Imgur never answered: {body}"
    );
    assert!(
        elapsed < Duration::from_secs(3),
        "answered after {elapsed:?}, not at the timeout"
    );
    assert_eq!(app.fake.calls(Endpoint::GetImage), 1);
}

#[tokio::test]
async fn account_is_gateway_timeout_when_the_token_endpoint_answers_after_the_upstream_timeout() {
    // Arrange
    let app = spawn_app_with(Options {
        upstream_timeout: Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    app.fake.set_token_delay(Duration::from_secs(3));

    // Act
    let response = app.get("/v1/account").await;

    // Assert
    let body = assert_problem(response, 504, "upstream-timeout").await;
    assert!(
        body.get("upstream_status").is_none(),
        "Imgur never answered: {body}"
    );
    assert_eq!(app.fake.calls(Endpoint::Token), 1);
    assert_eq!(app.api_calls(), 0, "no API call without a token");
}

// ------------------------------------------------------------ unreachable

#[tokio::test]
async fn get_image_is_bad_gateway_without_upstream_status_when_imgur_refuses_connections() {
    // Arrange: anonymous mode, so the image call is the first connection.
    let app = spawn_app_with(Options {
        user: false,
        ..Options::default()
    })
    .await;
    app.fake.stop().await;

    // Act
    let response = app.get("/v1/images/abc123").await;

    // Assert
    let body = assert_problem(response, 502, "upstream-error").await;
    assert!(
        body.get("upstream_status").is_none(),
        "Imgur never answered: {body}"
    );
    assert_eq!(app.api_calls(), 0);
}

#[tokio::test]
async fn account_is_bad_gateway_when_the_token_endpoint_refuses_connections() {
    // Arrange
    let app = spawn_app().await;
    app.fake.stop().await;

    // Act
    let response = app.get("/v1/account").await;

    // Assert
    let body = assert_problem(response, 502, "upstream-error").await;
    assert!(
        body.get("upstream_status").is_none(),
        "Imgur never answered: {body}"
    );
    let detail = body["detail"].as_str().expect("a detail");
    let secrets = [
        app.fake.config().client_secret.clone(),
        app.seed_refresh_token.clone().expect("user mode"),
    ];
    for secret in secrets {
        assert!(
            !detail.contains(&secret),
            "the detail leaks a secret: {detail}"
        );
    }
    assert_eq!(app.fake.calls(Endpoint::Token), 0);
}

// ------------------------------------------- rate-limit headers on success

#[tokio::test]
async fn get_image_copies_imgurs_rate_limit_headers_when_it_succeeds() {
    // Arrange
    let app = spawn_app().await;
    let id = seeded_image(&app);

    // Act
    let response = app.get(&format!("/v1/images/{id}")).await;

    // Assert: the values the fake sends for its second API call (the
    // first, /3/credits, taught the credit guard the budget).
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-ratelimit-userlimit"), Some("2000"));
    assert_eq!(header(&response, "x-ratelimit-userremaining"), Some("1998"));
    assert_eq!(header(&response, "x-ratelimit-clientlimit"), Some("12500"));
    assert_eq!(
        header(&response, "x-ratelimit-clientremaining"),
        Some("12498")
    );
    let reset = header(&response, "x-ratelimit-userreset").expect("x-ratelimit-userreset");
    assert!(
        reset.parse::<u64>().is_ok(),
        "x-ratelimit-userreset: {reset}"
    );
    assert_eq!(app.fake.calls(Endpoint::GetImage), 1);
}

#[tokio::test]
async fn upload_copies_imgurs_post_rate_limit_headers_when_it_succeeds() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app
        .http
        .post(app.url("/v1/images"))
        .multipart(png_form())
        .send()
        .await
        .expect("request is sent");

    // Assert
    assert_eq!(response.status(), 201);
    assert_eq!(header(&response, "x-post-rate-limit-limit"), Some("1250"));
    assert_eq!(
        header(&response, "x-post-rate-limit-remaining"),
        Some("1249")
    );
    let reset = header(&response, "x-post-rate-limit-reset").expect("x-post-rate-limit-reset");
    assert!(
        reset.parse::<u64>().is_ok_and(|s| s <= 3600),
        "x-post-rate-limit-reset: {reset}"
    );
    // 2000, less 1 for /3/credits and 10 for the upload.
    assert_eq!(header(&response, "x-ratelimit-userremaining"), Some("1989"));
    assert_eq!(header(&response, "x-ratelimit-clientlimit"), Some("12500"));
    assert_eq!(app.fake.calls(Endpoint::Upload), 1);
}

// ---------------------------------------------------------------- API key

fn with_api_key() -> Options {
    Options {
        api_key: Some("k3y".into()),
        ..Options::default()
    }
}

#[tokio::test]
async fn v1_is_unauthorized_with_a_bearer_challenge_when_the_api_key_is_missing_or_wrong() {
    let cases: [(&str, Option<&str>); 6] = [
        ("no Authorization header", None),
        ("wrong key", Some("Bearer nope")),
        ("key with a suffix", Some("Bearer k3y4")),
        ("key prefix only", Some("Bearer k3")),
        ("right key, wrong scheme", Some("Basic k3y")),
        ("scheme without a key", Some("Bearer")),
    ];
    for (case, authorization) in cases {
        // Arrange
        let app = spawn_app_with(with_api_key()).await;
        let mut request = app.http.get(app.url("/v1/account"));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }

        // Act
        let response = request.send().await.expect("request is sent");

        // Assert
        assert_eq!(
            header(&response, "www-authenticate"),
            Some("Bearer"),
            "{case}"
        );
        assert_problem(response, 401, "unauthorized").await;
        assert_eq!(app.api_calls(), 0, "{case}: nothing reached Imgur");
        assert_eq!(
            app.fake.calls(Endpoint::Token),
            0,
            "{case}: no token request"
        );
    }
}

#[tokio::test]
async fn v1_is_served_when_the_right_api_key_is_sent() {
    // Arrange
    let app = spawn_app_with(with_api_key()).await;

    // Act
    let response = app
        .http
        .get(app.url("/v1/account"))
        .bearer_auth("k3y")
        .send()
        .await
        .expect("request is sent");

    // Assert
    assert_eq!(response.status(), 200);
    let account: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(account["url"], "demo");
    assert_eq!(app.fake.calls(Endpoint::Account), 1);
    let request = app
        .fake
        .requests()
        .into_iter()
        .find(|r| r.endpoint == Endpoint::Account);
    let authorization = request
        .expect("an Account request")
        .authorization
        .unwrap_or_default();
    assert!(
        !authorization.contains("k3y"),
        "the API key is not forwarded: {authorization}"
    );
}

#[tokio::test]
async fn health_is_served_without_an_api_key_when_one_is_configured() {
    // Arrange
    let app = spawn_app_with(with_api_key()).await;

    // Act
    let response = app.get("/healthz").await;

    // Assert
    assert_eq!(response.status(), 200);
    assert_eq!(app.api_calls(), 0);
}

// ---------------------------------------------------------- unknown routes

#[tokio::test]
async fn unknown_route_is_not_found_problem_when_no_route_matches() {
    let cases = [
        ("outside /v1", "/nope"),
        ("inside /v1", "/v1/nope"),
        ("extra segment", "/v1/images/abc/def/ghi"),
    ];
    for (case, path) in cases {
        // Arrange
        let app = spawn_app().await;

        // Act
        let response = app.get(path).await;

        // Assert
        let body = assert_problem(response, 404, "not-found").await;
        assert!(body.get("upstream_status").is_none(), "{case}: {body}");
        assert_eq!(app.api_calls(), 0, "{case}");
    }
}

// ---------------------------------------------------------- anonymous mode

#[tokio::test]
async fn user_endpoints_are_forbidden_with_how_to_authorize_when_the_gateway_is_anonymous() {
    let cases = [("account", "/v1/account"), ("favorites", "/v1/favorites")];
    for (case, path) in cases {
        // Arrange
        let app = spawn_app_with(Options {
            user: false,
            ..Options::default()
        })
        .await;

        // Act
        let response = app.get(path).await;

        // Assert
        let body = assert_problem(response, 403, "authorization-required").await;
        let detail = body["detail"].as_str().expect("a detail");
        assert!(
            detail.contains("IMGUR_REFRESH_TOKEN"),
            "{case}: detail {detail:?}"
        );
        assert!(body.get("upstream_status").is_none(), "{case}: {body}");
        assert_eq!(app.api_calls(), 0, "{case}: nothing reached Imgur");
        assert_eq!(
            app.fake.calls(Endpoint::Token),
            0,
            "{case}: no token request"
        );
    }
}

#[tokio::test]
async fn readiness_is_ok_when_the_gateway_is_anonymous() {
    // Arrange
    let app = spawn_app_with(Options {
        user: false,
        ..Options::default()
    })
    .await;

    // Act
    let response = app.get("/readyz").await;

    // Assert
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["mode"], "anonymous");
    assert_eq!(app.fake.calls(Endpoint::Token), 0);
    assert_eq!(app.api_calls(), 0);
}

#[tokio::test]
async fn a_known_path_with_another_method_is_405_with_allow() {
    let app = spawn_app().await;
    let cases = [
        ("/v1/favorites", reqwest::Method::POST, "GET, HEAD"),
        (
            "/v1/images/abc",
            reqwest::Method::PUT,
            "GET, HEAD, PATCH, DELETE",
        ),
        (
            "/v1/images/abc/favorite",
            reqwest::Method::GET,
            "POST, PUT, DELETE",
        ),
        ("/v1/images", reqwest::Method::GET, "POST"),
    ];
    for (path, method, allow) in cases {
        let response = app
            .http
            .request(method.clone(), app.url(path))
            .send()
            .await
            .expect("sent");

        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        assert_problem(response, 405, "method-not-allowed").await;
    }
    assert_eq!(app.api_calls(), 0);
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let app = spawn_app().await;
    app.get("/v1/favorites").await;

    let response = app
        .http
        .head(app.url("/v1/favorites"))
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-cache"], "HIT");
    assert!(response.headers().contains_key("etag"));
    assert!(response.bytes().await.expect("body").is_empty());
}

#[tokio::test]
async fn deleting_someone_elses_image_is_403_forbidden_with_imgurs_message() {
    let app = spawn_app().await;
    let not_ours = app.fake.favorite_ids()[0].clone();

    let response = app
        .http
        .delete(app.url(&format!("/v1/images/{not_ours}")))
        .send()
        .await
        .expect("sent");

    let problem = assert_problem(response, 403, "forbidden").await;
    assert_eq!(problem["upstream_status"], 403);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("not the owner"),
        "{problem}"
    );
    assert!(app.fake.image(&not_ours).is_some(), "nothing was deleted");
    assert_eq!(
        app.fake.calls(Endpoint::Token),
        1,
        "a permission refusal does not refresh"
    );
}
