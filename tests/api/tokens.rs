//! Token semantics: proactive and reactive refresh, single flight, rotation
//! stored durably, revocation.

use crate::helpers::{assert_problem, png, spawn_app, spawn_app_with, Options, TestApp};
use futures_util::future::join_all;
use pixgate::fake_imgur::{Endpoint, FakeConfig};
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An id that exists upstream (a seeded favorite).
fn some_image(app: &crate::helpers::TestApp) -> String {
    app.fake
        .favorite_ids()
        .first()
        .expect("seeded favorites")
        .clone()
}

#[tokio::test]
async fn the_access_token_is_reused_while_valid() {
    let app = spawn_app().await;
    let path = format!("/v1/images/{}", some_image(&app));

    for _ in 0..3 {
        assert_eq!(app.get(&path).await.status(), 200);
    }

    assert_eq!(app.fake.calls(Endpoint::Token), 1);
}

/// Restarts `app` with its stored access token set to expire `seconds`
/// from now (negative: already expired).
async fn restart_with_access_token_expiring_in(app: &mut TestApp, seconds: i64) {
    assert_eq!(app.get("/readyz").await.status(), 200);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    app.edit_token_file(|json| json["access_token_expires_at"] = (now + seconds).into());
    let seed = app.seed_refresh_token.clone();
    app.restart(seed).await;
}

#[tokio::test]
async fn a_token_expiring_within_a_minute_is_refreshed_before_the_call() {
    let mut app = spawn_app().await;
    restart_with_access_token_expiring_in(&mut app, 30).await;
    let token_calls = app.fake.calls(Endpoint::Token);

    let response = app.get(&format!("/v1/images/{}", some_image(&app))).await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        app.fake.calls(Endpoint::Token),
        token_calls + 1,
        "refreshed before the call"
    );
    assert_eq!(
        app.fake.calls(Endpoint::GetImage),
        1,
        "Imgur never had to reject the old token"
    );
    let expires_at = app.token_file_json()["access_token_expires_at"]
        .as_i64()
        .expect("stored");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    assert!(expires_at > now + 3000, "the new token's expiry is stored");
}

#[tokio::test]
async fn tokens_that_live_under_two_minutes_are_not_refreshed_on_every_call() {
    let app = spawn_app_with(Options {
        fake: FakeConfig {
            access_token_lifetime: Duration::from_secs(30),
            ..FakeConfig::default()
        },
        ..Options::default()
    })
    .await;
    let path = format!("/v1/images/{}", some_image(&app));

    for _ in 0..3 {
        assert_eq!(app.get(&path).await.status(), 200);
    }

    assert_eq!(app.fake.calls(Endpoint::Token), 1);
}

#[tokio::test]
async fn a_rejected_token_is_refreshed_and_the_upload_replayed_once() {
    let app = spawn_app().await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.fake.expire_access_tokens();
    // Spooled to disk and streamed while it arrives (a video), read twice.
    let bytes = png(3 * 1024 * 1024);
    let form = Form::new().part("video", Part::bytes(bytes.clone()).file_name("a.mp4"));

    let response = app
        .http
        .post(app.url("/v1/images"))
        .multipart(form)
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), 201);
    assert_eq!(
        app.fake.calls(Endpoint::Upload),
        2,
        "rejected once, replayed once"
    );
    assert_eq!(app.fake.calls(Endpoint::Token), 2);
    let body: Value = response.json().await.expect("json");
    let stored = app
        .fake
        .image(body["id"].as_str().expect("id"))
        .expect("stored");
    assert_eq!(
        stored.size,
        bytes.len() as u64,
        "the replay sent the whole file again"
    );
    let upload_lengths = app
        .fake
        .requests()
        .iter()
        .filter(|r| r.endpoint == Endpoint::Upload)
        .map(|r| r.content_length.is_some())
        .collect::<Vec<_>>();
    assert_eq!(
        upload_lengths,
        [false, true],
        "the first attempt streamed while the file arrived, the replay came from the spool"
    );
}

#[tokio::test]
async fn a_hundred_concurrent_requests_on_an_expired_token_cause_one_token_request() {
    let app = spawn_app().await;
    let path = format!("/v1/images/{}", some_image(&app));
    assert_eq!(app.get(&path).await.status(), 200);
    app.fake.expire_access_tokens();
    // A slow token endpoint makes every request arrive while the refresh is in flight.
    app.fake.set_token_delay(Duration::from_millis(300));

    let responses = join_all((0..100).map(|_| app.get(&path))).await;

    assert!(responses.iter().all(|r| r.status() == 200));
    assert_eq!(
        app.fake.calls(Endpoint::Token),
        2,
        "the first token plus exactly one refresh"
    );
}

#[tokio::test]
async fn a_hundred_concurrent_requests_past_expiry_cause_one_token_request() {
    let mut app = spawn_app().await;
    restart_with_access_token_expiring_in(&mut app, -10).await;
    let token_calls = app.fake.calls(Endpoint::Token);
    app.fake.set_token_delay(Duration::from_millis(300));
    let path = format!("/v1/images/{}", some_image(&app));

    let responses = join_all((0..100).map(|_| app.get(&path))).await;

    assert!(responses.iter().all(|r| r.status() == 200));
    assert_eq!(app.fake.calls(Endpoint::Token), token_calls + 1);
}

#[tokio::test]
async fn a_rotated_refresh_token_is_stored_and_used_after_a_restart() {
    let mut app = spawn_app().await;
    let seed = app.seed_refresh_token.clone().expect("user mode");
    assert_eq!(app.get("/readyz").await.status(), 200);
    let rotated = app.fake.current_refresh_token();
    assert_ne!(rotated, seed, "the fake rotated the refresh token");
    assert_eq!(app.token_file_json()["refresh_token"], rotated.as_str());
    assert_eq!(
        app.token_file_json()["previous_refresh_token"],
        seed.as_str()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&app.token_file)
            .expect("file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Same IMGUR_REFRESH_TOKEN as before (now rejected upstream): the file wins.
    app.restart(Some(seed)).await;
    app.fake.expire_access_tokens();
    let path = format!("/v1/images/{}", some_image(&app));
    assert_eq!(app.get(&path).await.status(), 200);

    let token_requests: Vec<_> = app
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::Token)
        .collect();
    let last = token_requests.last().expect("a refresh after the restart");
    assert_eq!(last.fields.get("refresh_token"), Some(&rotated));
    assert_eq!(
        app.token_file_json()["refresh_token"],
        app.fake.current_refresh_token().as_str()
    );
}

#[tokio::test]
async fn a_new_imgur_refresh_token_in_the_environment_replaces_the_stored_one() {
    let mut app = spawn_app().await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    // The user re-authorized elsewhere: Imgur issued a new token.
    let fresh = app.fake.issue_pin();
    let token: Value = app
        .http
        .post(format!("{}/oauth2/token", app.fake.base_url()))
        .form(&[
            ("client_id", app.fake.config().client_id.as_str()),
            ("client_secret", app.fake.config().client_secret.as_str()),
            ("grant_type", "pin"),
            ("pin", fresh.as_str()),
        ])
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let new_refresh = token["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();

    app.restart(Some(new_refresh.clone())).await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    let last = app
        .fake
        .requests()
        .into_iter()
        .rfind(|r| r.endpoint == Endpoint::Token)
        .expect("a refresh");
    assert_eq!(last.fields.get("refresh_token"), Some(&new_refresh));
}

#[tokio::test]
async fn a_revoked_refresh_token_gives_403_and_not_ready_without_hammering_imgur() {
    let app = spawn_app().await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.fake.revoke_refresh_tokens();
    app.fake.expire_access_tokens();
    let path = format!("/v1/images/{}", some_image(&app));

    let problem = assert_problem(app.get(&path).await, 403, "authorization-required").await;
    let detail = problem["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("/auth/login") && detail.contains("pixgate login"),
        "{detail}"
    );
    let token_calls_after_rejection = app.fake.calls(Endpoint::Token);
    for _ in 0..10 {
        assert_problem(
            app.get("/v1/favorites").await,
            403,
            "authorization-required",
        )
        .await;
    }
    assert_problem(app.get("/readyz").await, 503, "not-ready").await;

    assert_eq!(
        app.fake.calls(Endpoint::Token),
        token_calls_after_rejection,
        "no token request while backing off"
    );
    assert_eq!(app.get("/healthz").await.status(), 200, "still serving");
    let stored = app.token_file_json();
    assert!(
        stored["refresh_token"].is_string(),
        "the refresh token is kept for inspection"
    );
}

#[tokio::test]
async fn the_previous_refresh_token_is_tried_when_the_current_one_is_rejected() {
    let app = spawn_app().await;
    let seed = app.seed_refresh_token.clone().expect("user mode");
    assert_eq!(app.get("/readyz").await.status(), 200);
    let rotated = app.fake.current_refresh_token();
    app.fake.revoke_refresh_tokens();
    app.fake.expire_access_tokens();

    let response = app.get(&format!("/v1/images/{}", some_image(&app))).await;

    assert_eq!(response.status(), 403);
    let tried: Vec<String> = app
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::Token)
        .filter_map(|r| r.fields.get("refresh_token").cloned())
        .collect();
    assert_eq!(
        tried,
        vec![seed.clone(), rotated, seed],
        "current first, then the previous one"
    );
}
