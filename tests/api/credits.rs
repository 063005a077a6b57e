//! The credit guard, Imgur's regional block, and the commercial endpoint.

use crate::helpers::{
    assert_problem, png, spawn_app, spawn_app_with, Options, RapidApiAt, TestApp,
};
use pixgate::fake_imgur::{Endpoint, Fault, FaultKind};
use reqwest::multipart::{Form, Part};
use serde_json::Value;

fn png_form() -> Form {
    Form::new().part(
        "image",
        Part::bytes(png(100))
            .file_name("cat.png")
            .mime_str("image/png")
            .expect("mime"),
    )
}

async fn upload(app: &TestApp) -> reqwest::Response {
    app.http
        .post(app.url("/v1/images"))
        .multipart(png_form())
        .send()
        .await
        .expect("sent")
}

/// A gateway that already knows the budget (its first call fetched it).
async fn warmed_up(options: Options) -> TestApp {
    let app = spawn_app_with(options).await;
    assert_eq!(app.get("/v1/account").await.status(), 200);
    app
}

#[tokio::test]
async fn a_call_that_would_dip_into_the_reserve_is_refused_without_calling_imgur() {
    let app = warmed_up(Options::default()).await;
    // The default reserve is 5 % of the user limit of 2000: 100 credits.
    app.fake.set_rate_remaining(101, 12_000, 1_000);
    assert_eq!(
        app.get("/v1/account").await.status(),
        200,
        "101 - 1 leaves the 100"
    );
    let calls = app.api_calls();

    let refused = app.get("/v1/account").await;

    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
    let problem = assert_problem(refused, 429, "credit-reserve").await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("PIXGATE_CREDIT_RESERVE")),
        "{problem}"
    );
    assert_eq!(app.api_calls(), calls, "nothing reached Imgur");
    let view: Value = app.get("/v1/rate-limits").await.json().await.expect("JSON");
    let user = &view["imgur"]["limits"]["user"];
    assert_eq!(
        (
            user["limit"].as_u64(),
            user["remaining"].as_i64(),
            user["reserve"].as_u64()
        ),
        (Some(2000), Some(100), Some(100))
    );
    let metrics = app.get("/metrics").await.text().await.expect("text");
    assert!(
        metrics.contains(r#"pixgate_imgur_credit_reserve_refusals_total{limit="user"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"pixgate_imgur_credit_reserve{limit="user"} 100"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_upload_counts_ten_credits() {
    let app = warmed_up(Options::default()).await;
    app.fake.set_rate_remaining(110, 12_000, 1_000);
    assert_eq!(
        app.get("/v1/account").await.status(),
        200,
        "teaches the guard: 109 left"
    );

    assert_problem(upload(&app).await, 429, "credit-reserve").await;
    assert_eq!(app.fake.calls(Endpoint::Upload), 0);
    assert_eq!(
        app.get("/v1/account").await.status(),
        200,
        "a 1-credit call still fits"
    );
}

#[tokio::test]
async fn concurrent_uploads_count_each_others_credits_in_flight() {
    let app = warmed_up(Options::default()).await;
    app.fake.set_rate_remaining(161, 12_000, 1_000);
    assert_eq!(
        app.get("/v1/account").await.status(),
        200,
        "160 left: room for 6 uploads"
    );
    app.fake.inject(Fault {
        endpoint: Some(Endpoint::Upload),
        kind: FaultKind::Delay(std::time::Duration::from_millis(300)),
        times: 10,
    });

    let answers = futures_util::future::join_all((0..10).map(|_| upload(&app))).await;

    let created = answers.iter().filter(|r| r.status() == 201).count();
    let refused = answers.iter().filter(|r| r.status() == 429).count();
    assert_eq!((created, refused), (6, 4));
    assert_eq!(app.fake.calls(Endpoint::Upload), 6);
}

#[tokio::test]
async fn with_the_reserve_at_0_every_call_passes_through() {
    let app = warmed_up(Options {
        credit_reserve: "0".parse().expect("valid"),
        ..Options::default()
    })
    .await;
    app.fake.set_rate_remaining(1, 1, 1);
    assert_eq!(app.get("/v1/account").await.status(), 200);

    assert_eq!(upload(&app).await.status(), 201);
    assert_eq!(app.get("/v1/account").await.status(), 200);
    assert_eq!(app.fake.calls(Endpoint::Upload), 1);
    let view: Value = app.get("/v1/rate-limits").await.json().await.expect("JSON");
    assert_eq!(view["imgur"]["guard"], false);
}

#[tokio::test]
async fn the_rate_limits_are_pixgates_view_learned_once_from_imgurs_credits() {
    let app = spawn_app().await;

    let first: Value = app.get("/v1/rate-limits").await.json().await.expect("JSON");
    let second = app.get("/v1/rate-limits").await;

    assert_eq!(second.status(), 200);
    assert_eq!(app.fake.calls(Endpoint::Credits), 1, "learned once");
    let imgur = &first["imgur"];
    assert_eq!(
        (imgur["reserve"].as_str(), imgur["guard"].as_bool()),
        (Some("5%"), Some(true))
    );
    assert_eq!(imgur["limits"]["client"]["limit"], 12500);
    assert_eq!(imgur["limits"]["client"]["reserve"], 625);
    assert!(imgur["limits"]["user"]["reset_in"]
        .as_u64()
        .is_some_and(|s| s <= 3600));
}

#[tokio::test]
async fn these_actions_are_forbidden_is_a_block_never_refreshed_nor_retried() {
    let cases = [
        ("400 with CDN-Error", 400, true),
        ("403 with CDN-Error", 403, true),
        ("400 without the header", 400, false),
        ("403 without the header", 403, false),
    ];
    for (case, status, cdn_error) in cases {
        let app = warmed_up(Options::default()).await;
        let id = app.fake.favorite_ids()[0].clone();
        let tokens = app.fake.calls(Endpoint::Token);
        app.fake.inject(Fault {
            endpoint: Some(Endpoint::GetImage),
            kind: FaultKind::Blocked { status, cdn_error },
            times: 5,
        });

        let response = app.get(&format!("/v1/images/{id}")).await;

        let problem = assert_problem(response, 403, "blocked-by-imgur").await;
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("Authorizing again will not help"),
            "{case}: {detail}"
        );
        assert_eq!(
            app.fake.calls(Endpoint::Token),
            tokens,
            "{case}: no token request"
        );
        assert_eq!(app.fake.calls(Endpoint::GetImage), 1, "{case}: not retried");
    }
}

#[tokio::test]
async fn a_blocked_upload_is_not_retried_either() {
    let app = warmed_up(Options::default()).await;
    let tokens = app.fake.calls(Endpoint::Token);
    app.fake.inject(Fault {
        endpoint: Some(Endpoint::Upload),
        kind: FaultKind::Blocked {
            status: 400,
            cdn_error: true,
        },
        times: 5,
    });

    assert_problem(upload(&app).await, 403, "blocked-by-imgur").await;
    assert_eq!(app.fake.calls(Endpoint::Upload), 1);
    assert_eq!(app.fake.calls(Endpoint::Token), tokens);
}

#[tokio::test]
async fn with_a_rapidapi_key_api_calls_go_to_rapidapi_with_its_headers_and_oauth_does_not() {
    let app = spawn_app_with(Options {
        rapidapi: Some(RapidApiAt {
            host: "localhost".into(),
            key: "rapid-secret-key".into(),
        }),
        ..Options::default()
    })
    .await;
    let port = app
        .fake
        .base_url()
        .rsplit(':')
        .next()
        .expect("a port")
        .to_owned();

    assert_eq!(app.get("/v1/account").await.status(), 200);
    assert_eq!(upload(&app).await.status(), 201);

    let requests = app.fake.requests();
    let token = requests
        .iter()
        .find(|r| r.endpoint == Endpoint::Token)
        .expect("a token request");
    assert_eq!(
        token.headers["host"],
        format!("127.0.0.1:{port}"),
        "OAuth stays on IMGUR_API_URL"
    );
    assert!(!token.headers.contains_key("x-rapidapi-key"));
    let api: Vec<_> = requests
        .iter()
        .filter(|r| r.path.starts_with("/3/"))
        .collect();
    assert!(api.len() >= 2, "{api:?}");
    for request in api {
        assert_eq!(
            request.headers["host"],
            format!("localhost:{port}"),
            "{}",
            request.path
        );
        assert_eq!(
            request.headers["x-rapidapi-host"],
            format!("localhost:{port}")
        );
        assert_eq!(request.headers["x-rapidapi-key"], "rapid-secret-key");
        assert!(
            request
                .authorization
                .as_deref()
                .is_some_and(|a| a.starts_with("Bearer ")),
            "{}",
            request.path
        );
    }
}

#[tokio::test]
async fn the_first_call_learns_the_budget_with_one_credits_request() {
    let app = spawn_app().await;
    let path = format!("/v1/images/{}", app.fake.favorite_ids()[0]);

    let answers = futures_util::future::join_all((0..5).map(|_| app.get(&path))).await;

    assert!(answers.iter().all(|r| r.status() == 200));
    assert_eq!(app.fake.calls(Endpoint::Credits), 1);
}
