//! The favorites cache: HIT/MISS, ETag, single upstream call per key,
//! invalidation, bypass, stale-if-error, cancellation. (The byte bound is
//! a unit test in `src/cache.rs`: moka enforces it in batched maintenance.)

use crate::helpers::{spawn_app, spawn_app_with, Options, TestApp};
use futures_util::future::join_all;
use pixgate::fake_imgur::{Endpoint, Fault, FaultKind, Gate};
use serde_json::Value;
use std::time::{Duration, Instant};

fn x_cache(response: &reqwest::Response) -> String {
    response.headers()["x-cache"]
        .to_str()
        .expect("ascii")
        .to_owned()
}

/// How often the gateway's favorites cache saw `event` (`/metrics`).
async fn cache_events(app: &TestApp, event: &str) -> u64 {
    let metrics = app.get("/metrics").await.text().await.expect("text");
    let series = format!("pixgate_favorites_cache_events_total{{event=\"{event}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until `count` reads have joined a running fill (`false` if they
/// have not after 20 s: the caller's assertions then say what went wrong).
async fn joined_fills(app: &TestApp, count: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if cache_events(app, "joined").await >= count {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// `n` concurrent `GET /v1/favorites` in a task of their own: (status, X-Cache, body).
fn concurrent_reads(
    app: &TestApp,
    n: usize,
) -> tokio::task::JoinHandle<Vec<(u16, Option<String>, String)>> {
    let reads = (0..n).map(|_| {
        let request = app.http.get(app.url("/v1/favorites")).send();
        async move {
            let response = request.await.expect("answered");
            let status = response.status().as_u16();
            let cache = response
                .headers()
                .get("x-cache")
                .map(|v| v.to_str().expect("ascii").to_owned());
            (status, cache, response.text().await.expect("a body"))
        }
    });
    tokio::spawn(join_all(reads))
}

#[tokio::test]
async fn favorites_are_served_from_cache_on_the_second_call() {
    let app = spawn_app().await;

    let first = app.get("/v1/favorites").await;
    let second = app.get("/v1/favorites").await;

    assert_eq!(
        (first.status().as_u16(), x_cache(&first)),
        (200, "MISS".into())
    );
    assert_eq!(
        (second.status().as_u16(), x_cache(&second)),
        (200, "HIT".into())
    );
    assert_eq!(first.headers()["etag"], second.headers()["etag"]);
    let first: Value = first.json().await.expect("json");
    let second: Value = second.json().await.expect("json");
    assert_eq!(first, second);
    let ids: Vec<&str> = first
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        app.fake.favorite_ids()[..10]
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    assert_eq!(app.fake.calls(Endpoint::Favorites), 1);
}

#[tokio::test]
async fn if_none_match_with_the_current_etag_gives_304() {
    let app = spawn_app().await;
    let etag = app.get("/v1/favorites").await.headers()["etag"].clone();

    let response = app
        .http
        .get(app.url("/v1/favorites"))
        .header("if-none-match", etag.clone())
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), 304);
    assert_eq!(response.headers()["etag"], etag);
    assert!(response.bytes().await.expect("body").is_empty());
    let other = app
        .http
        .get(app.url("/v1/favorites"))
        .header("if-none-match", "\"something-else\"")
        .send()
        .await
        .expect("sent");
    assert_eq!(other.status(), 200);
}

#[tokio::test]
async fn fifty_concurrent_cold_requests_make_one_upstream_call() {
    let app = spawn_app().await;
    // Obtain the token first, so only the cache is under test.
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.fake.inject(Fault {
        endpoint: Some(Endpoint::Favorites),
        kind: FaultKind::Delay(Duration::from_millis(300)),
        times: 1,
    });

    let responses = join_all((0..50).map(|_| app.get("/v1/favorites"))).await;

    assert!(responses.iter().all(|r| r.status() == 200));
    assert_eq!(responses.iter().filter(|r| x_cache(r) == "MISS").count(), 1);
    assert_eq!(app.fake.calls(Endpoint::Favorites), 1);
}

#[tokio::test]
async fn pages_and_sorts_are_cached_separately_and_forwarded() {
    let app = spawn_app().await;

    let oldest: Value = app
        .get("/v1/favorites?page=1&sort=oldest")
        .await
        .json()
        .await
        .expect("json");
    let newest_page_1: Value = app
        .get("/v1/favorites?page=1")
        .await
        .json()
        .await
        .expect("json");

    assert_eq!(app.fake.calls(Endpoint::Favorites), 2);
    let paths: Vec<String> = app
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::Favorites)
        .map(|r| r.path)
        .collect();
    assert_eq!(
        paths,
        [
            "/3/account/demo/favorites/1/oldest",
            "/3/account/demo/favorites/1/newest"
        ]
    );
    assert_eq!(oldest.as_array().map(Vec::len), Some(2));
    assert_ne!(oldest, newest_page_1);
}

#[tokio::test]
async fn favoriting_through_the_gateway_invalidates_the_cache() {
    let app = spawn_app().await;
    let before: Value = app.get("/v1/favorites").await.json().await.expect("json");
    let created: Value = app
        .http
        .post(app.url("/v1/images"))
        .json(&serde_json::json!({"url": "https://example.com/new.png"}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let id = created["id"].as_str().expect("id");

    let put = app
        .http
        .put(app.url(&format!("/v1/images/{id}/favorite")))
        .send()
        .await
        .expect("sent");
    assert_eq!(put.status(), 200);
    let after = app.get("/v1/favorites").await;

    assert_eq!(x_cache(&after), "MISS");
    let after: Value = after.json().await.expect("json");
    assert_eq!(after[0]["id"], id, "the new favorite is first");
    assert_ne!(before, after);
    assert_eq!(app.fake.calls(Endpoint::Favorites), 2);
}

#[tokio::test]
async fn deleting_an_image_and_toggling_invalidate_the_cache() {
    let app = spawn_app().await;
    let favorite = app.fake.favorite_ids()[0].clone();
    assert_eq!(x_cache(&app.get("/v1/favorites").await), "MISS");

    app.http
        .post(app.url(&format!("/v1/images/{favorite}/favorite")))
        .send()
        .await
        .expect("sent");
    assert_eq!(x_cache(&app.get("/v1/favorites").await), "MISS");
    assert_eq!(x_cache(&app.get("/v1/favorites").await), "HIT");
    app.http
        .delete(app.url(&format!("/v1/images/{favorite}")))
        .send()
        .await
        .expect("sent");
    assert_eq!(x_cache(&app.get("/v1/favorites").await), "MISS");
}

#[tokio::test]
async fn cache_control_no_cache_bypasses_and_refreshes_the_entry() {
    let app = spawn_app().await;
    app.get("/v1/favorites").await;

    let bypass = app
        .http
        .get(app.url("/v1/favorites"))
        .header("cache-control", "no-cache")
        .send()
        .await
        .expect("sent");

    assert_eq!(x_cache(&bypass), "MISS");
    assert_eq!(app.fake.calls(Endpoint::Favorites), 2);
    assert_eq!(
        x_cache(&app.get("/v1/favorites").await),
        "HIT",
        "the refreshed entry is cached"
    );
}

#[tokio::test]
async fn an_expired_page_is_served_stale_when_imgur_fails() {
    // TTL 0: every read refetches, with the default one-hour stale grace.
    let app = spawn_app_with(Options {
        favorites_ttl: Duration::ZERO,
        ..Options::default()
    })
    .await;
    let fresh: Value = app.get("/v1/favorites").await.json().await.expect("json");
    let cases = [
        ("5xx", FaultKind::ServerError(500)),
        ("over capacity", FaultKind::OverCapacityJson(403)),
        ("HTML", FaultKind::OverCapacityHtml),
    ];
    for (case, kind) in cases {
        app.fake.inject(Fault {
            endpoint: Some(Endpoint::Favorites),
            kind,
            times: 1,
        });

        let stale = app.get("/v1/favorites").await;

        assert_eq!(
            (stale.status().as_u16(), x_cache(&stale)),
            (200, "STALE".into()),
            "{case}"
        );
        assert_eq!(stale.json::<Value>().await.expect("json"), fresh, "{case}");
    }
    assert_eq!(
        x_cache(&app.get("/v1/favorites").await),
        "MISS",
        "recovered"
    );
}

#[tokio::test]
async fn a_failure_without_a_stale_page_is_an_error() {
    let app = spawn_app().await;
    app.fake.inject(Fault {
        endpoint: Some(Endpoint::Favorites),
        kind: FaultKind::ServerError(500),
        times: 1,
    });

    assert_eq!(app.get("/v1/favorites").await.status(), 502);
    assert_eq!(
        x_cache(&app.get("/v1/favorites").await),
        "MISS",
        "errors are not cached"
    );
}

#[tokio::test]
async fn a_client_leaving_during_the_fill_does_not_cancel_it_for_others() {
    let app = spawn_app().await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    let gate = Gate::new();
    app.fake.inject(Fault {
        endpoint: Some(Endpoint::Favorites),
        kind: FaultKind::Held(gate.clone(), None),
        times: 1,
    });

    let impatient = send_on_own_connection(&app, "GET", "/v1/favorites").await;
    app.fake.wait_for_begun(Endpoint::Favorites, 1).await;
    reset(impatient);
    let left = abandoned(&app, "GET").await;
    let patient = concurrent_reads(&app, 1);
    let joined = joined_fills(&app, 1).await;
    gate.release();
    let patient = patient.await.expect("joined");

    assert!(left, "the first client disconnected");
    assert_eq!(patient[0].0, 200);
    assert_eq!(
        app.fake.calls(Endpoint::Favorites),
        1,
        "the first fill was finished, not restarted"
    );
    assert!(joined, "the second read waited for the first one's fill");
}

#[tokio::test]
async fn fifty_cold_requests_while_imgur_fails_share_one_call_and_its_failure() {
    // Every favorites call fails after 1 s, and is held until the test has
    // seen all 50 requests waiting (so no count depends on machine speed).
    let upstream_timeout = Duration::from_secs(10);
    let app = spawn_app_with(Options {
        upstream_timeout,
        ..Options::default()
    })
    .await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    let gate = Gate::new();
    app.fake.inject(Fault {
        endpoint: Some(Endpoint::Favorites),
        kind: FaultKind::Held(
            gate.clone(),
            Some(Box::new(FaultKind::Late(
                Duration::from_secs(1),
                Box::new(FaultKind::ServerError(500)),
            ))),
        ),
        times: usize::MAX,
    });

    let reads = concurrent_reads(&app, 50);
    let all_waiting = joined_fills(&app, 49).await;
    gate.release();
    let released = Instant::now();
    let answers = reads.await.expect("joined");
    let waited = released.elapsed();

    assert_eq!(app.fake.calls(Endpoint::Favorites), 1, "one upstream call");
    assert!(
        answers.iter().all(|(status, cache, body)| *status == 502
            && cache.is_none()
            && body.contains("urn:pixgate:problem:")),
        "every read got the one failure: {answers:?}"
    );
    // One failing call takes 1 s; fifty in turn would take 50 s.
    assert!(
        waited < upstream_timeout,
        "all answered within one upstream timeout ({waited:?})"
    );
    assert!(all_waiting, "49 reads joined the first one's fill");
}

#[tokio::test]
async fn every_waiter_gets_the_stale_page_as_soon_as_the_one_refetch_fails() {
    // TTL 0: every read refetches, with the default one-hour stale grace.
    let app = spawn_app_with(Options {
        favorites_ttl: Duration::ZERO,
        ..Options::default()
    })
    .await;
    let fresh = app.get("/v1/favorites").await.text().await.expect("body");
    let gate = Gate::new();
    app.fake.inject(Fault {
        endpoint: Some(Endpoint::Favorites),
        kind: FaultKind::Held(gate.clone(), Some(Box::new(FaultKind::ServerError(500)))),
        times: usize::MAX,
    });

    let reads = concurrent_reads(&app, 50);
    let all_waiting = joined_fills(&app, 49).await;
    gate.release();
    let answers = reads.await.expect("joined");

    assert_eq!(
        app.fake.calls(Endpoint::Favorites),
        2,
        "the first fill and one refetch"
    );
    assert!(all_waiting, "49 reads joined the first one's refetch");
    assert!(
        answers.iter().all(|(status, cache, body)| *status == 200
            && cache.as_deref() == Some("STALE")
            && *body == fresh),
        "every read got the stale page: {answers:?}"
    );
}

#[tokio::test]
async fn a_no_cache_request_gets_imgurs_error_rather_than_a_stale_page() {
    // Long enough for the normal calls on a busy machine; the held call
    // times out after it.
    let upstream_timeout = Duration::from_secs(2);
    let app = spawn_app_with(Options {
        favorites_ttl: Duration::ZERO,
        upstream_timeout,
        ..Options::default()
    })
    .await;
    let fresh = app.get("/v1/favorites").await.text().await.expect("body");
    let no_cache = || {
        app.http
            .get(app.url("/v1/favorites"))
            .header("cache-control", "no-cache")
            .send()
    };

    app.fake.inject(Fault {
        endpoint: Some(Endpoint::Favorites),
        kind: FaultKind::ServerError(500),
        times: 1,
    });
    let answered_error = no_cache().await.expect("answered");
    assert_eq!(answered_error.status(), 502, "Imgur's failure, passed on");
    assert!(answered_error.headers().get("x-cache").is_none());

    // Imgur does not answer at all (held past the upstream timeout): then
    // the page within its grace is better than nothing.
    let gate = Gate::new();
    app.fake.inject(Fault {
        endpoint: Some(Endpoint::Favorites),
        kind: FaultKind::Held(gate.clone(), None),
        times: 1,
    });
    let unanswered = no_cache().await.expect("answered");
    gate.release();
    assert_eq!(
        (unanswered.status().as_u16(), x_cache(&unanswered)),
        (200, "STALE".into())
    );
    assert_eq!(unanswered.text().await.expect("body"), fresh);
    assert_eq!(app.fake.calls(Endpoint::Favorites), 3);
}

#[tokio::test]
async fn a_no_cache_request_does_not_wait_for_a_fill_that_started_before_it() {
    let app = spawn_app().await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    let gate = Gate::new();
    app.fake.inject(Fault {
        endpoint: Some(Endpoint::Favorites),
        kind: FaultKind::Held(gate.clone(), None),
        times: 1,
    });
    let plain = concurrent_reads(&app, 1);
    app.fake.wait_for_begun(Endpoint::Favorites, 1).await;

    let bypass = app
        .http
        .get(app.url("/v1/favorites"))
        .header("cache-control", "no-cache")
        .timeout(Duration::from_secs(20))
        .send()
        .await;
    gate.release();

    let bypass = bypass.expect("answered while the earlier fill is held");
    assert_eq!(
        (bypass.status().as_u16(), x_cache(&bypass)),
        (200, "MISS".into())
    );
    let plain = plain.await.expect("joined");
    assert_eq!(plain[0].0, 200);
    assert_eq!(app.fake.calls(Endpoint::Favorites), 2, "a call of its own");
}

/// Waits until the gateway has counted a `method` request as abandoned by
/// its client (`false` after 20 s).
async fn abandoned(app: &TestApp, method: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    let series = format!("pixgate_http_requests_abandoned_total{{method=\"{method}\"}} ");
    while Instant::now() < deadline {
        let metrics = app.get("/metrics").await.text().await.expect("text");
        if metrics.lines().any(|line| line.starts_with(&series)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// Reads `/v1/favorites` until it is not a `HIT` (after 20 s: the last answer).
async fn next_read_after_invalidation(app: &TestApp) -> reqwest::Response {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let read = app.get("/v1/favorites").await;
        if x_cache(&read) != "HIT" || Instant::now() >= deadline {
            return read;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sends `method path` (no body) on a connection of its own, and leaves
/// the answer unread.
async fn send_on_own_connection(app: &TestApp, method: &str, path: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let host = app.address.trim_start_matches("http://");
    let mut client = tokio::net::TcpStream::connect(host)
        .await
        .expect("connects");
    let request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n");
    client.write_all(request.as_bytes()).await.expect("sent");
    client
}

/// Resets the connection, as when a browser tab or a process goes away
/// (actix-web lets a half-closed connection finish its request; a reset
/// cancels it).
fn reset(client: tokio::net::TcpStream) {
    client.set_zero_linger().expect("linger");
    drop(client);
}

/// Sends `method path` on a connection of its own, waits until the fake
/// holds its call to `endpoint`, reads the favorites meanwhile (a fill that
/// reads Imgur before the change), then resets the connection and waits
/// until the gateway saw the client leave; returns the gate holding the
/// call and the read's body.
async fn change_and_leave(
    app: &TestApp,
    endpoint: Endpoint,
    method: &str,
    path: &str,
) -> (Gate, String) {
    let gate = Gate::new();
    app.fake.inject(Fault {
        endpoint: Some(endpoint),
        kind: FaultKind::Held(gate.clone(), None),
        times: 1,
    });
    let client = send_on_own_connection(app, method, path).await;
    app.fake.wait_for_begun(endpoint, 1).await;
    let during = app.get("/v1/favorites").await;
    assert_eq!(x_cache(&during), "MISS", "a fill during the change");
    let during = during.text().await.expect("body");

    reset(client);
    assert!(
        abandoned(app, method).await,
        "the gateway saw the client leave"
    );
    (gate, during)
}

#[tokio::test]
async fn a_toggle_whose_client_disconnects_still_invalidates_the_cache() {
    let app = spawn_app().await;
    let favorite = app.fake.favorite_ids()[0].clone();
    assert_eq!(x_cache(&app.get("/v1/favorites").await), "MISS");
    let path = format!("/v1/images/{favorite}/favorite");

    let (gate, during) = change_and_leave(&app, Endpoint::Favorite, "POST", &path).await;
    gate.release();
    let after = next_read_after_invalidation(&app).await;

    assert!(during.contains(&favorite), "read before the toggle");
    assert_eq!(x_cache(&after), "MISS", "the change invalidated the cache");
    assert!(!after.text().await.expect("body").contains(&favorite));
    assert_eq!(app.fake.calls(Endpoint::Favorite), 1);
    assert_eq!(
        app.fake.calls(Endpoint::Favorites),
        3,
        "before, during and after the toggle"
    );
    assert_eq!(app.fake.image(&favorite).map(|i| i.favorite), Some(false));
}

#[tokio::test]
async fn a_delete_whose_client_disconnects_still_invalidates_the_cache_and_is_recorded() {
    let app = spawn_app().await;
    let created: Value = app
        .http
        .post(app.url("/v1/images"))
        .json(&serde_json::json!({"url": "https://example.com/mine.png"}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let id = created["id"].as_str().expect("id").to_owned();
    let put = app
        .http
        .put(app.url(&format!("/v1/images/{id}/favorite")))
        .send()
        .await
        .expect("sent");
    assert_eq!(put.status(), 200);
    assert_eq!(x_cache(&app.get("/v1/favorites").await), "MISS");
    let path = format!("/v1/images/{id}");

    let (gate, during) = change_and_leave(&app, Endpoint::DeleteImage, "DELETE", &path).await;
    gate.release();
    let after = next_read_after_invalidation(&app).await;

    assert!(during.contains(&id), "read before the delete");
    assert_eq!(x_cache(&after), "MISS", "the delete invalidated the cache");
    assert!(!after.text().await.expect("body").contains(&id));
    assert!(app.fake.image(&id).is_none(), "deleted at Imgur");
    assert_eq!(app.fake.calls(Endpoint::Favorites), 3);
    let uploads: Value = app.get("/v1/uploads").await.json().await.expect("json");
    let entry = uploads
        .as_array()
        .and_then(|items| items.iter().find(|item| item["id"] == id.as_str()))
        .cloned();
    assert!(
        entry.is_some_and(|entry| !entry["deleted_at"].is_null()),
        "the ledger recorded the deletion: {uploads}"
    );
}
