//! Browser logins across replicas (issue 14): a login started on one
//! replica finishes on another, once, for Imgur and for Flickr; with Redis
//! down, starting one answers 503 `store-unavailable`.

use crate::fleet_favorites::{fleet, fleet_with};
use crate::helpers::{location, no_redirects, url_param, Options};
use pixgate::fake_flickr::Consent;
use pixgate::fake_imgur::Endpoint;
use serde_json::Value;

/// `url` with its scheme, host and port replaced by `address`'s.
fn on(address: &str, url: &str) -> String {
    let path = url.splitn(4, '/').nth(3).unwrap_or_default();
    format!("{address}/{path}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imgur_login_started_on_one_replica_finishes_on_another_once() {
    let fleet = fleet().await;
    let (a, b) = (&fleet.replicas[0], &fleet.replicas[1]);
    let client = no_redirects();
    let login = client
        .get(format!("{}/auth/login?response_type=code", a.address))
        .send()
        .await
        .expect("sent");
    assert_eq!(login.status(), 302);
    let state = url_param(&location(&login), "state").expect("a state");
    let stored: Vec<String> = fleet
        .redis
        .query(redis::cmd("KEYS").arg("{pixgate}:login:imgur:*"));
    assert_eq!(stored.len(), 1, "the pending login is in Redis");
    assert!(!stored[0].contains(&state), "under a hash, not the state");

    let code = fleet.fake.issue_code();
    let before = fleet.fake.calls(Endpoint::Token);
    let callback = format!("/auth/callback?code={code}&state={state}");
    let finished = client
        .get(format!("{}{callback}", b.address))
        .send()
        .await
        .expect("sent");
    let page = finished.status();
    assert_eq!(page, 200, "{}", finished.text().await.unwrap_or_default());
    assert_eq!(
        fleet.fake.calls(Endpoint::Token),
        before + 1,
        "B exchanged the code"
    );
    let status: Value = client
        .get(format!("{}/auth/status", b.address))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(status["authorized"], true);

    let replayed = client
        .get(format!("{}{callback}", a.address))
        .send()
        .await
        .expect("sent");
    assert_eq!(replayed.status(), 400, "a state is used once, fleet-wide");
    assert_eq!(fleet.fake.calls(Endpoint::Token), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flickr_login_started_on_one_replica_finishes_on_another_once() {
    let fleet = fleet_with(Options {
        flickr: Some(Default::default()),
        ..Options::default()
    })
    .await;
    let flickr = fleet.flickr.as_ref().expect("a fake Flickr");
    flickr.set_consent(Consent::Allow);
    let (a, b) = (&fleet.replicas[0], &fleet.replicas[1]);
    let client = no_redirects();
    let login = client
        .get(format!("{}/flickr/auth/login", a.address))
        .send()
        .await
        .expect("sent");
    assert_eq!(login.status(), 302);
    let consented = client.get(location(&login)).send().await.expect("sent");
    let callback = on(&b.address, &location(&consented));
    let page = client.get(&callback).send().await.expect("sent");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("page").contains("Authorized as"));
    let replayed = client
        .get(on(&a.address, &callback))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        replayed.status(),
        400,
        "a request token is used once, fleet-wide"
    );
    assert_eq!(
        flickr.calls(pixgate::fake_flickr::Endpoint::AccessToken),
        1,
        "never retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_a_login_cannot_start() {
    let mut fleet = fleet().await;
    fleet.redis.kill();
    let login = no_redirects()
        .get(format!("{}/auth/login", fleet.replicas[0].address))
        .send()
        .await
        .expect("sent");
    assert_eq!(login.status(), 503);
    let problem: Value = login.json().await.expect("problem JSON");
    assert_eq!(problem["type"], "urn:pixgate:problem:store-unavailable");
}
