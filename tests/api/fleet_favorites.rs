//! The favorites cache shared by replicas (issue 14): three real gateways
//! in this process, on one real `redis-server`, one fake Imgur (and one fake
//! Flickr) and one token file. Each test counts what the fakes received.

use crate::helpers::{config, flickr_config, Options};
use crate::redis_server::RedisServer;
use pixgate::config::RedisConfig;
use pixgate::fake_flickr::FakeFlickr;
use pixgate::fake_imgur::{Endpoint, FakeImgur, Fault, FaultKind, Gate};
use pixgate::secret::Secret;
use pixgate::startup::Application;
use serde_json::Value;
use std::time::{Duration, Instant};

/// One gateway of the fleet.
pub(crate) struct Replica {
    pub(crate) address: String,
    http: reqwest::Client,
    _handle: actix_web::dev::ServerHandle,
}

impl Replica {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.get_with(path, &[]).await
    }

    async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.http.get(format!("{}{path}", self.address));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("answered")
    }

    async fn post(&self, path: &str) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.address))
            .send()
            .await
            .expect("answered")
    }

    /// A counter from `/metrics` (`series` with its labels), 0 if absent.
    async fn metric(&self, series: &str) -> u64 {
        let metrics = self.get("/metrics").await.text().await.expect("text");
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{series} ")))
            .and_then(|count| count.trim().parse().ok())
            .unwrap_or(0)
    }

    async fn cache_events(&self, event: &str) -> u64 {
        self.metric(&format!(
            "pixgate_favorites_cache_events_total{{event=\"{event}\"}}"
        ))
        .await
    }
}

/// Three replicas and what they share (the login tests use them too).
pub(crate) struct Fleet {
    pub(crate) redis: RedisServer,
    pub(crate) fake: FakeImgur,
    pub(crate) flickr: Option<FakeFlickr>,
    pub(crate) replicas: Vec<Replica>,
    _dir: tempfile::TempDir,
}

pub(crate) async fn fleet() -> Fleet {
    fleet_with(Options::default()).await
}

pub(crate) async fn fleet_with(options: Options) -> Fleet {
    let redis = RedisServer::start();
    let fake = FakeImgur::start(options.fake.clone())
        .await
        .expect("the fake Imgur starts");
    let flickr = match &options.flickr {
        Some(settings) => Some(
            FakeFlickr::start(settings.clone())
                .await
                .expect("the fake Flickr starts"),
        ),
        None => None,
    };
    let dir = tempfile::tempdir().expect("a temp dir");
    let token_file = dir.path().join("state/tokens.json");
    let seed = fake.current_refresh_token();
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let mut config = config(&fake, &options, &token_file, Some(&seed));
        config.redis = Some(RedisConfig {
            url: Secret::new(redis.url()),
            lock_lease: Duration::from_secs(15),
        });
        config.flickr = flickr.as_ref().map(flickr_config);
        let app = Application::build(config)
            .await
            .expect("the replica starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        replicas.push(Replica {
            address,
            http: reqwest::Client::new(),
            _handle: handle,
        });
    }
    Fleet {
        redis,
        fake,
        flickr,
        replicas,
        _dir: dir,
    }
}

fn x_cache(response: &reqwest::Response) -> String {
    response.headers()["x-cache"]
        .to_str()
        .expect("ascii")
        .to_owned()
}

/// The ids of a favorites page.
async fn ids(response: reqwest::Response) -> Vec<String> {
    let page: Value = response.json().await.expect("json");
    page.as_array()
        .expect("an array")
        .iter()
        .filter_map(|item| item["id"].as_str().map(str::to_owned))
        .collect()
}

/// The favorites pages Redis holds, by key.
fn shared_pages(redis: &RedisServer) -> Vec<String> {
    redis.query(redis::cmd("KEYS").arg("{pixgate}:favorites:page:*"))
}

#[tokio::test]
async fn a_page_filled_by_one_replica_is_a_hit_on_the_others() {
    let fleet = fleet().await;
    let [a, b, c] = &fleet.replicas[..] else {
        unreachable!()
    };

    let filled = a.get("/v1/favorites").await;
    assert_eq!(
        (filled.status().as_u16(), x_cache(&filled)),
        (200, "MISS".into())
    );
    let filled = ids(filled).await;
    let mut served = Vec::new();
    for replica in [b, c, b, c] {
        let response = replica.get("/v1/favorites").await;
        assert_eq!(
            (response.status().as_u16(), x_cache(&response)),
            (200, "HIT".into())
        );
        served.push(ids(response).await);
    }

    assert!(served.iter().all(|page| *page == filled));
    assert_eq!(filled, fleet.fake.favorite_ids()[..10]);
    assert_eq!(
        fleet.fake.calls(Endpoint::Favorites),
        1,
        "0 more upstream calls"
    );
    for replica in [b, c] {
        // The first read came from Redis, the second from the local tier.
        assert_eq!(replica.cache_events("shared_hit").await, 1);
        assert_eq!(replica.cache_events("hit").await, 1);
        assert_eq!(replica.cache_events("miss").await, 0);
    }
    let pages = shared_pages(&fleet.redis);
    assert_eq!(pages.len(), 1, "{pages:?}");
    // The key lives until the stale deadline: TTL 60 s + grace 3600 s.
    let expires_in: i64 = fleet.redis.query(redis::cmd("PTTL").arg(&pages[0]));
    assert!(
        (3_600_000..=3_660_000).contains(&expires_in),
        "{expires_in} ms"
    );
}

#[tokio::test]
async fn an_etag_from_one_replica_gives_304_on_another() {
    let fleet = fleet().await;
    let [a, b, c] = &fleet.replicas[..] else {
        unreachable!()
    };
    let etag = a.get("/v1/favorites").await.headers()["etag"]
        .to_str()
        .expect("ascii")
        .to_owned();

    let on_b = b
        .get_with("/v1/favorites", &[("if-none-match", &etag)])
        .await;
    let on_c = c
        .get_with("/v1/favorites", &[("if-none-match", &etag)])
        .await;

    for response in [on_b, on_c] {
        assert_eq!(response.status(), 304);
        assert_eq!(response.headers()["etag"], etag.as_str());
        assert_eq!(x_cache(&response), "HIT");
        assert!(response.bytes().await.expect("body").is_empty());
    }
    assert_eq!(fleet.fake.calls(Endpoint::Favorites), 1);
}

#[tokio::test]
async fn a_favorite_toggled_through_one_replica_is_fresh_on_the_others_next_read() {
    let fleet = fleet().await;
    let [a, b, c] = &fleet.replicas[..] else {
        unreachable!()
    };
    let favorite = fleet.fake.favorite_ids()[0].clone();
    // Every replica holds the page in its local tier.
    for replica in [a, b, c, b, c] {
        assert!(ids(replica.get("/v1/favorites").await)
            .await
            .contains(&favorite));
    }
    assert_eq!(b.cache_events("hit").await, 1, "B's local tier has it");

    let toggled = a.post(&format!("/v1/images/{favorite}/favorite")).await;
    assert_eq!(toggled.status(), 200);
    assert_eq!(
        toggled.json::<Value>().await.expect("json")["favorited"],
        false
    );

    let on_b = b.get("/v1/favorites").await;
    let on_c = c.get("/v1/favorites").await;
    let on_a = a.get("/v1/favorites").await;
    assert_eq!(
        (x_cache(&on_b), x_cache(&on_c), x_cache(&on_a)),
        ("MISS".into(), "HIT".into(), "HIT".into()),
        "B refetches; C and A take B's page from Redis"
    );
    let expected = fleet.fake.favorite_ids()[..10].to_vec();
    for page in [ids(on_b).await, ids(on_c).await, ids(on_a).await] {
        assert!(!page.contains(&favorite), "the toggle is visible");
        assert_eq!(page, expected);
    }
    assert_eq!(
        fleet.fake.calls(Endpoint::Favorites),
        2,
        "one fill before the toggle, one after it, for the whole fleet"
    );
    assert_eq!(c.cache_events("shared_hit").await, 2);
}

#[tokio::test]
async fn a_dropped_subscription_clears_the_local_tier_and_resubscribes() {
    let fleet = fleet().await;
    let [a, b, _] = &fleet.replicas[..] else {
        unreachable!()
    };
    a.get("/v1/favorites").await;
    b.get("/v1/favorites").await;
    b.get("/v1/favorites").await;
    assert_eq!(
        (
            b.cache_events("shared_hit").await,
            b.cache_events("hit").await
        ),
        (1, 1),
        "B's local tier has the page"
    );

    let killed: i64 = fleet
        .redis
        .query(redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub"));
    assert!(
        killed >= 3,
        "every replica's subscription dropped ({killed})"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while b.metric("pixgate_redis_resubscriptions_total").await < 1 {
        assert!(Instant::now() < deadline, "B never resubscribed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The local tier is cleared when the resubscription is announced,
    // just after the counter: poll until B's read goes to Redis.
    let deadline = Instant::now() + Duration::from_secs(20);
    while b.cache_events("shared_hit").await < 2 {
        assert!(Instant::now() < deadline, "B's local tier was not cleared");
        let read = b.get("/v1/favorites").await;
        assert_eq!(
            (read.status().as_u16(), x_cache(&read)),
            (200, "HIT".into())
        );
    }

    // Subscribed again: a notification clears the local tier again.
    let local_hits = b.cache_events("hit").await;
    assert_eq!(x_cache(&b.get("/v1/favorites").await), "HIT");
    assert_eq!(
        b.cache_events("hit").await,
        local_hits + 1,
        "from the local tier"
    );
    let _: i64 = fleet.redis.query(
        redis::cmd("PUBLISH")
            .arg("{pixgate}:events:favorites")
            .arg("imgur"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while b.cache_events("shared_hit").await < 3 {
        assert!(Instant::now() < deadline, "B never saw the notification");
        b.get("/v1/favorites").await;
    }
    assert_eq!(
        fleet.fake.calls(Endpoint::Favorites),
        1,
        "all from the cache"
    );
}

#[tokio::test]
async fn with_redis_killed_favorites_are_still_served() {
    let mut fleet = fleet().await;
    let before = ids(fleet.replicas[0].get("/v1/favorites").await).await;
    fleet.replicas[1].get("/v1/favorites").await;
    assert_eq!(fleet.fake.calls(Endpoint::Favorites), 1);

    fleet.redis.kill();

    // C never read: it fills from Imgur directly.
    let c = fleet.replicas[2].get("/v1/favorites").await;
    assert_eq!((c.status().as_u16(), x_cache(&c)), (200, "MISS".into()));
    assert_eq!(ids(c).await, before);
    assert_eq!(fleet.fake.calls(Endpoint::Favorites), 2);
    // B serves its local page while it may trust it; past that it asks
    // Imgur, which now fails once: the page is served stale, never a 5xx.
    fleet.fake.inject(Fault {
        endpoint: Some(Endpoint::Favorites),
        kind: FaultKind::ServerError(500),
        times: 1,
    });
    let b = &fleet.replicas[1];
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let read = b.get("/v1/favorites").await;
        assert_eq!(read.status(), 200, "Redis down never fails a read");
        let status = x_cache(&read);
        assert_eq!(ids(read).await, before);
        match status.as_str() {
            "HIT" => assert!(Instant::now() < deadline, "never stale"),
            "STALE" => break,
            other => panic!("X-Cache {other}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        b.cache_events("miss").await,
        0,
        "nothing counted that was not"
    );
    assert!(b.cache_events("stale").await >= 1);
    assert!(
        b.metric(
            "pixgate_redis_round_trips_total{operation=\"favorites_generation\",outcome=\"error\"}"
        )
        .await
            >= 1
    );
    assert_eq!(
        fleet.fake.calls(Endpoint::Favorites),
        3,
        "one refetch, failed"
    );

    // Redis back: the shared tier serves again.
    fleet.redis.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    let shared_hits = fleet.replicas[0].cache_events("shared_hit").await;
    loop {
        let read = fleet.replicas[0].get("/v1/favorites").await;
        assert_eq!(read.status(), 200);
        if fleet.replicas[0].cache_events("shared_hit").await > shared_hits
            || fleet.replicas[0].cache_events("hit").await > 0
        {
            break;
        }
        assert!(Instant::now() < deadline, "the shared tier never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn flickr_favorites_filled_on_one_replica_are_a_hit_on_another() {
    let fleet = fleet_with(Options {
        flickr: Some(Default::default()),
        ..Options::default()
    })
    .await;
    let flickr = fleet.flickr.as_ref().expect("a fake Flickr");
    let [a, b, c] = &fleet.replicas[..] else {
        unreachable!()
    };
    let settings = flickr.config().clone();
    let authorized = a
        .http
        .post(format!("{}/flickr/auth/token", a.address))
        .json(&serde_json::json!({
            "token": settings.access_token,
            "token_secret": settings.access_token_secret,
        }))
        .send()
        .await
        .expect("sent");
    assert_eq!(authorized.status(), 200);
    // The others learn the token from the shared token file.
    for replica in [b, c] {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let status: Value = replica
                .get("/flickr/auth/status")
                .await
                .json()
                .await
                .expect("json");
            if status["authorized"] == true {
                break;
            }
            assert!(Instant::now() < deadline, "never authorized");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    let filled = a.get("/flickr/v1/favorites?per_page=5").await;
    assert_eq!(x_cache(&filled), "MISS");
    let filled: Value = filled.json().await.expect("json");
    for replica in [b, c] {
        let read = replica.get("/flickr/v1/favorites?per_page=5").await;
        assert_eq!(
            (read.status().as_u16(), x_cache(&read)),
            (200, "HIT".into())
        );
        assert_eq!(read.json::<Value>().await.expect("json"), filled);
        assert_eq!(replica.cache_events("shared_hit").await, 1);
    }
    assert_eq!(flickr.method_calls("flickr.favorites.getList"), 1);
    // Another page size is another page.
    assert_eq!(
        x_cache(&b.get("/flickr/v1/favorites?per_page=6").await),
        "MISS"
    );
    assert_eq!(flickr.method_calls("flickr.favorites.getList"), 2);

    // An unfavorite through B is fresh on A's and C's next read.
    let first = filled["photos"][0]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let removed = b
        .http
        .delete(format!("{}/flickr/v1/photos/{first}/favorite", b.address))
        .send()
        .await
        .expect("sent");
    assert_eq!(removed.status(), 200);
    let on_a = a.get("/flickr/v1/favorites?per_page=5").await;
    let on_c = c.get("/flickr/v1/favorites?per_page=5").await;
    assert_eq!(
        (x_cache(&on_a), x_cache(&on_c)),
        ("MISS".into(), "HIT".into())
    );
    for page in [on_a, on_c] {
        let page: Value = page.json().await.expect("json");
        assert_ne!(page["photos"][0]["id"], first.as_str());
    }
    assert_eq!(flickr.method_calls("flickr.favorites.getList"), 3);
}

#[tokio::test]
async fn a_change_whose_notification_is_lost_still_reaches_every_replicas_next_read() {
    let fleet = fleet().await;
    let [a, b, c] = &fleet.replicas[..] else {
        unreachable!()
    };
    for replica in [a, b, c, b, c] {
        assert_eq!(replica.get("/v1/favorites").await.status(), 200);
    }
    assert_eq!(
        c.cache_events("hit").await,
        1,
        "C's local tier has the page"
    );
    let pages = shared_pages(&fleet.redis);
    let account = pages[0]
        .strip_prefix("{pixgate}:favorites:page:imgur:0:0:newest:")
        .expect("generation 0, page 0, newest first");

    // What a replica's change does, without the notification: a lost message.
    let _: u64 = fleet
        .redis
        .query(redis::cmd("INCR").arg(format!("{{pixgate}}:favorites:generation:imgur:{account}")));

    let on_b = b.get("/v1/favorites").await;
    let on_c = c.get("/v1/favorites").await;
    assert_eq!(
        (x_cache(&on_b), x_cache(&on_c)),
        ("MISS".into(), "HIT".into())
    );
    assert_eq!(
        c.cache_events("shared_hit").await,
        2,
        "C asked Redis, not its local tier"
    );
    assert_eq!(fleet.fake.calls(Endpoint::Favorites), 2);
    assert_eq!(
        shared_pages(&fleet.redis).len(),
        2,
        "the old generation's page stays until it expires, unread"
    );
}

#[tokio::test]
async fn a_fill_that_began_before_a_change_stores_no_page_for_anyone() {
    let fleet = fleet().await;
    let [a, b, c] = &fleet.replicas[..] else {
        unreachable!()
    };
    let favorite = fleet.fake.favorite_ids()[0].clone();
    let gate = Gate::new();
    fleet.fake.inject(Fault {
        endpoint: Some(Endpoint::Favorites),
        kind: FaultKind::Held(gate.clone(), None),
        times: 1,
    });
    let early = tokio::spawn(b.http.get(format!("{}/v1/favorites", b.address)).send());
    fleet.fake.wait_for_begun(Endpoint::Favorites, 1).await;

    let toggled = a.post(&format!("/v1/images/{favorite}/favorite")).await;
    assert_eq!(toggled.status(), 200);
    gate.release();
    let early = early.await.expect("joined").expect("answered");
    assert_eq!(
        (early.status().as_u16(), x_cache(&early)),
        (200, "MISS".into())
    );

    let on_c = c.get("/v1/favorites").await;
    assert_eq!(
        x_cache(&on_c),
        "MISS",
        "B's fill, from before the toggle, stored nothing"
    );
    assert!(!ids(on_c).await.contains(&favorite));
    let pages = shared_pages(&fleet.redis);
    assert_eq!(pages.len(), 1, "{pages:?}");
    assert!(
        pages[0].starts_with("{pixgate}:favorites:page:imgur:2:"),
        "C's page, under the generation after the toggle's two bumps: {}",
        pages[0]
    );
    let on_b = b.get("/v1/favorites").await;
    assert_eq!(x_cache(&on_b), "HIT");
    assert!(!ids(on_b).await.contains(&favorite));
    assert_eq!(fleet.fake.calls(Endpoint::Favorites), 2);
}

#[tokio::test]
async fn a_change_made_while_redis_is_down_reaches_the_others_once_it_is_back() {
    let mut fleet = fleet().await;
    let favorite = fleet.fake.favorite_ids()[0].clone();
    for replica in &fleet.replicas {
        assert!(ids(replica.get("/v1/favorites").await)
            .await
            .contains(&favorite));
    }

    fleet.redis.kill();
    let toggled = fleet.replicas[0]
        .post(&format!("/v1/images/{favorite}/favorite"))
        .await;
    assert_eq!(toggled.status(), 200, "a favorite change needs no Redis");
    let on_a = fleet.replicas[0].get("/v1/favorites").await;
    assert_eq!(on_a.status(), 200);
    assert!(
        !ids(on_a).await.contains(&favorite),
        "A's own change, at once"
    );

    // Redis comes back with the old generation and the old page (its AOF):
    // A's kept bump lands by itself, and from then on no replica serves
    // the page from before the change.
    fleet.redis.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    let generation = loop {
        let bumped: Vec<String> = fleet
            .redis
            .query(redis::cmd("KEYS").arg("{pixgate}:favorites:generation:imgur:*"));
        if let [key] = &bumped[..] {
            break key.clone();
        }
        assert!(Instant::now() < deadline, "the kept bump never landed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let bumps: u64 = fleet.redis.query(redis::cmd("GET").arg(&generation));
    assert_eq!(bumps, 1, "the toggle's two bumps, kept as one");
    for replica in &fleet.replicas[1..] {
        let read = replica.get("/v1/favorites").await;
        assert_eq!(read.status(), 200);
        assert!(!ids(read).await.contains(&favorite));
    }
    assert_eq!(fleet.fake.calls(Endpoint::Favorite), 1);
}
