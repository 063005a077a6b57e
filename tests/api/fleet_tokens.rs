//! Several gateway processes sharing one account through a real
//! `redis-server` (issue 14): the token record, its compare-and-set and
//! candidates, the refresh lock and its lease, and Redis going away.

use crate::helpers::GatewayProcess;
use crate::redis_server::RedisServer;
use pixgate::fake_imgur::{Endpoint, FakeConfig, FakeImgur, Fault, FaultKind, Gate};
use pixgate::fleet::{Fleet, RedisStore};
use pixgate::imgur::{FileStore, StoreError, StoreLock, StoredTokens, TokenStore};
use pixgate::metrics::Metrics;
use pixgate::secret::Secret;
use serde_json::Value;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// The lease the multi-process tests use: short, so a dead leader's lock
/// runs out within the test.
const LEASE: &str = "2";

/// The shared token record as the test reads it from Redis.
fn record(redis: &RedisServer) -> (u64, Value) {
    let (revision, tokens): (Option<u64>, Option<String>) = redis.query(
        redis::cmd("HMGET")
            .arg("{pixgate}:token")
            .arg("revision")
            .arg("tokens"),
    );
    let tokens = tokens
        .filter(|t| !t.is_empty())
        .map(|t| serde_json::from_str(&t).expect("the record is JSON"))
        .unwrap_or(Value::Null);
    (revision.unwrap_or(0), tokens)
}

/// The refresh tokens of the candidates list, newest first.
fn candidates(redis: &RedisServer) -> Vec<String> {
    let listed: Vec<String> = redis.query(
        redis::cmd("LRANGE")
            .arg("{pixgate}:token:candidates")
            .arg(0)
            .arg(-1),
    );
    listed
        .iter()
        .filter_map(|c| serde_json::from_str::<Value>(c).ok())
        .filter_map(|c| c["refresh_token"].as_str().map(str::to_owned))
        .collect()
}

/// The refresh tokens the fake was shown, in order.
fn presented(fake: &FakeImgur) -> Vec<String> {
    fake.requests()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::Token)
        .filter_map(|r| r.fields.get("refresh_token").cloned())
        .collect()
}

/// `n` replicas of the real binary on `redis`, each in its own directory.
fn replicas(
    fake: &FakeImgur,
    redis: &RedisServer,
    dirs: &[tempfile::TempDir],
) -> Vec<GatewayProcess> {
    let seed = fake.current_refresh_token();
    let url = redis.url();
    dirs.iter()
        .map(|dir| {
            GatewayProcess::start(
                fake,
                dir.path(),
                &dir.path().join("tokens.json"),
                &[
                    ("IMGUR_REFRESH_TOKEN", seed.as_str()),
                    ("PIXGATE_REDIS_URL", url.as_str()),
                    ("PIXGATE_REDIS_LOCK_LEASE", LEASE),
                    ("PIXGATE_CREDIT_RESERVE", "0"),
                ],
            )
        })
        .collect()
}

/// A fake Imgur with the previous-token grace, one `redis-server`, and `n`
/// replicas on them, each with its own (unused) directory.
async fn fleet_of(
    n: usize,
) -> (
    FakeImgur,
    RedisServer,
    Vec<tempfile::TempDir>,
    Vec<GatewayProcess>,
) {
    let fake = fake_with_grace().await;
    let redis = RedisServer::start();
    let dirs = temp_dirs(n);
    let replicas = tokio::task::block_in_place(|| replicas(&fake, &redis, &dirs));
    (fake, redis, dirs, replicas)
}

/// No replica wrote a token file behind Redis's back.
fn assert_no_token_file(dirs: &[tempfile::TempDir]) {
    for dir in dirs {
        assert!(
            !dir.path().join("tokens.json").exists(),
            "no local token file behind Redis's back"
        );
    }
}

fn temp_dirs(n: usize) -> Vec<tempfile::TempDir> {
    (0..n)
        .map(|_| tempfile::tempdir().expect("temp dir"))
        .collect()
}

async fn fake_with_grace() -> FakeImgur {
    let fake = FakeImgur::start_on("127.0.0.1:0", 2, FakeConfig::default())
        .await
        .expect("fake starts");
    fake.set_refresh_grace(Some(Duration::from_secs(60)));
    fake
}

async fn status_of(http: &reqwest::Client, url: String) -> u16 {
    http.get(url)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

fn signal(process: &GatewayProcess, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &process.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// One image that exists upstream, to read through the replicas.
fn an_image(fake: &FakeImgur) -> String {
    fake.favorite_ids()
        .first()
        .cloned()
        .expect("a seeded image")
}

/// Expires every access token, holds Imgur's next token answer, and
/// starts a user call to `url`; returns once that call's token request
/// reached Imgur (the gate, the token requests begun before, the call).
async fn expire_and_hold_the_refresh(
    fake: &FakeImgur,
    http: &reqwest::Client,
    url: String,
) -> (Gate, usize, tokio::task::JoinHandle<u16>) {
    let gate = Gate::new();
    fake.inject(Fault {
        endpoint: Some(Endpoint::Token),
        kind: FaultKind::Held(gate.clone(), None),
        times: 1,
    });
    fake.expire_access_tokens();
    let begun = fake.begun(Endpoint::Token);
    let call = {
        let http = http.clone();
        tokio::spawn(async move { status_of(&http, url).await })
    };
    fake.wait_for_begun(Endpoint::Token, begun + 1).await;
    (gate, begun, call)
}

// ---- the store contract, for both stores ----

fn sample(refresh: &str) -> StoredTokens {
    StoredTokens {
        refresh_token: Some(Secret::new(refresh)),
        access_token: Some(Secret::new(format!("{refresh}-access"))),
        account_username: Some("someone".into()),
        ..StoredTokens::default()
    }
}

/// What every store must do: `store` and `other` are two handles on the
/// same record (two processes).
fn store_contract(store: Arc<dyn TokenStore>, other: Arc<dyn TokenStore>) {
    assert_eq!(store.load().expect("loads"), None, "nothing yet");
    let lock = store.lock().expect("locked");
    let first = store.save(&lock, &sample("r1")).expect("saved");
    assert_eq!(first, 1);
    assert!(store.confirm(&lock).expect("confirms"), "the lock is held");
    drop(lock);
    let loaded = other.load().expect("loads").expect("a record");
    assert_eq!(loaded.refresh_token, Some(Secret::new("r1")));
    assert_eq!(loaded.revision, 1);

    // The other handle sees a change through its watch.
    let (changed, seen) = mpsc::channel();
    let _watch = other.watch(Box::new(move || {
        let _ = changed.send(());
    }));
    let lock = store.lock().expect("locked");
    let second = store
        .save(
            &lock,
            &StoredTokens {
                revision: 1,
                ..sample("r2")
            },
        )
        .expect("saved");
    assert_eq!(second, 2);
    drop(lock);
    seen.recv_timeout(Duration::from_secs(10))
        .expect("the watch saw the other writer's save");

    // The lock excludes: the second holder gets it only after the first let go.
    let order = Arc::new(Mutex::new(Vec::new()));
    let lock = store.lock().expect("locked");
    let waiter = {
        let other = Arc::clone(&other);
        let order = Arc::clone(&order);
        std::thread::spawn(move || {
            let lock = other.lock().expect("locked in turn");
            order.lock().expect("order").push("second acquired");
            drop(lock);
        })
    };
    std::thread::sleep(Duration::from_millis(300)); // giving the waiter a chance to cut in
    order.lock().expect("order").push("first released");
    drop(lock);
    waiter.join().expect("the waiter ends");
    assert_eq!(
        *order.lock().expect("order"),
        vec!["first released", "second acquired"]
    );

    let lock = store.lock().expect("locked");
    store.remove(&lock).expect("removed");
    drop(lock);
    assert_eq!(
        other.load().expect("loads"),
        None,
        "a logout leaves nothing"
    );
}

#[test]
fn the_file_store_keeps_the_store_contract() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tokens.json");
    store_contract(
        Arc::new(FileStore::new(&path)),
        Arc::new(FileStore::new(&path)),
    );
}

/// A Redis store on `redis` with its own connection (as another process has).
fn redis_store(redis: &RedisServer, runtime: &tokio::runtime::Runtime) -> Arc<dyn TokenStore> {
    let _entered = runtime.enter();
    let fleet =
        Fleet::connect(&Secret::new(redis.url()), Arc::new(Metrics::new())).expect("a Redis URL");
    Arc::new(RedisStore::new(fleet, Duration::from_secs(2)))
}

#[test]
fn the_redis_store_keeps_the_store_contract() {
    let redis = RedisServer::start();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    store_contract(redis_store(&redis, &runtime), redis_store(&redis, &runtime));
}

#[test]
fn a_save_on_a_stale_revision_is_kept_as_a_candidate_not_written() {
    let redis = RedisServer::start();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (leader, late) = (redis_store(&redis, &runtime), redis_store(&redis, &runtime));
    let lock = leader.lock().expect("locked");
    leader.save(&lock, &sample("r1")).expect("saved");
    leader
        .save(
            &lock,
            &StoredTokens {
                revision: 1,
                ..sample("r2")
            },
        )
        .expect("saved");
    drop(lock);
    // A writer whose base is revision 1 (it was paused past its lease).
    let stale = late.save(
        &lock_of(&late),
        &StoredTokens {
            revision: 1,
            ..sample("r3")
        },
    );
    assert!(
        matches!(stale, Err(StoreError::Conflict { .. })),
        "{stale:?}"
    );
    let (revision, tokens) = record(&redis);
    assert_eq!(revision, 2, "never a rollback");
    assert_eq!(tokens["refresh_token"], "r2");
    assert_eq!(candidates(&redis), vec!["r3"], "the late token is kept");
    let kept = late.candidates().expect("candidates");
    assert_eq!(kept[0].refresh_token, Some(Secret::new("r3")));
}

/// A lock of `store` taken after the current holder's lease ran out.
fn lock_of(store: &Arc<dyn TokenStore>) -> StoreLock {
    store.lock().expect("locked once the lease ran out")
}

#[test]
fn a_lost_lease_is_not_confirmed() {
    let redis = RedisServer::start();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let store = redis_store(&redis, &runtime);
    let lock = store.lock().expect("locked");
    // Another holder's lease, as if this one had run out while paused.
    let _: () = redis.query(
        redis::cmd("SET")
            .arg("{pixgate}:token:lock")
            .arg("someone-else"),
    );
    assert!(!store.confirm(&lock).expect("asks Redis"));
    drop(lock);
    let value: Option<String> = redis.query(redis::cmd("GET").arg("{pixgate}:token:lock"));
    assert_eq!(
        value.as_deref(),
        Some("someone-else"),
        "a release never deletes another holder's lock"
    );
}

// ---- three real processes on one Redis ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_hundred_requests_over_three_replicas_after_expiry_make_one_token_request() {
    let (fake, _redis, dirs, replicas) = fleet_of(3).await;
    let http = reqwest::Client::new();
    let image = an_image(&fake);
    for replica in &replicas {
        assert_eq!(
            status_of(&http, replica.url(&format!("/v1/images/{image}"))).await,
            200
        );
    }
    fake.expire_access_tokens();
    let before = fake.calls(Endpoint::Token);
    let requests: Vec<_> = (0..300)
        .map(|n| {
            let url = replicas[n % 3].url("/v1/account/images");
            let http = http.clone();
            tokio::spawn(async move { status_of(&http, url).await })
        })
        .collect();
    let mut statuses = Vec::new();
    for request in requests {
        statuses.push(request.await.expect("request task"));
    }
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(
        fake.calls(Endpoint::Token) - before,
        1,
        "one token request for the whole fleet"
    );
    assert_no_token_file(&dirs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_killed_during_its_refresh_is_replaced_after_its_lease_without_a_lockout() {
    let (fake, redis, _dirs, mut replicas) = fleet_of(3).await;
    let http = reqwest::Client::new();
    let path = "/v1/account/images";
    assert_eq!(status_of(&http, replicas[0].url(path)).await, 200);
    let (_, before) = record(&redis);
    let first = before["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();

    // The leader's token request is held by Imgur, then the leader dies.
    let (gate, _, leader) = expire_and_hold_the_refresh(&fake, &http, replicas[0].url(path)).await;
    replicas[0].child.kill().expect("SIGKILL");
    let _ = replicas[0].child.wait();
    assert_eq!(leader.await.expect("task"), 0, "the leader never answered");

    // Another replica takes the lock once the lease ran out, and refreshes.
    let started = Instant::now();
    assert_eq!(status_of(&http, replicas[1].url(path)).await, 200);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the next replica waited {:?}",
        started.elapsed()
    );
    gate.release();
    assert_eq!(status_of(&http, replicas[2].url(path)).await, 200);

    let (_, after) = record(&redis);
    let current = after["refresh_token"].as_str().expect("a refresh token");
    assert_ne!(current, first, "the record moved on");
    assert!(
        fake.valid_refresh_tokens().contains(&current.to_owned()),
        "no lockout"
    );
    // A linear chain: every token the fleet presented was the record's at the time.
    let shown = presented(&fake);
    let refreshes: Vec<&String> = shown.iter().filter(|t| **t == first).collect();
    assert!(
        refreshes.len() <= 2,
        "the dead leader's token and its successor's: {shown:?}"
    );
    // And the next refresh of the fleet uses the new record.
    fake.expire_access_tokens();
    assert_eq!(status_of(&http, replicas[2].url(path)).await, 200);
    assert_eq!(presented(&fake).last().map(String::as_str), Some(current));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_paused_past_its_lease_keeps_its_late_answer_as_a_candidate() {
    let (fake, redis, _dirs, replicas) = fleet_of(2).await;
    let http = reqwest::Client::new();
    let path = "/v1/account/images";
    assert_eq!(status_of(&http, replicas[0].url(path)).await, 200);
    let (revision_before, _) = record(&redis);

    let (gate, _, paused) = expire_and_hold_the_refresh(&fake, &http, replicas[0].url(path)).await;
    signal(&replicas[0], "STOP");

    // The other replica refreshes once the paused one's lease ran out.
    assert_eq!(status_of(&http, replicas[1].url(path)).await, 200);
    let (revision_refreshed, refreshed) = record(&redis);
    assert!(revision_refreshed > revision_before);
    let refreshed = refreshed["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();

    // Imgur answers the paused leader late; then it runs again.
    gate.release();
    signal(&replicas[0], "CONT");
    assert_eq!(
        paused.await.expect("task"),
        200,
        "its caller still gets an answer"
    );

    let (revision_after, after) = record(&redis);
    assert!(revision_after >= revision_refreshed, "never a rollback");
    let current = after["refresh_token"].as_str().expect("refresh").to_owned();
    let kept = candidates(&redis);
    // Every refresh token Imgur still honours is the record's or a candidate.
    for valid in fake.valid_refresh_tokens() {
        assert!(
            valid == current || kept.contains(&valid),
            "{valid} was issued and lost (record {current}, candidates {kept:?}, first refresh {refreshed})"
        );
    }
    let metrics = reqwest::get(replicas[0].url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("pixgate_token_record_cas_losses_total 1"),
        "the lost compare-and-set is counted"
    );
    // Its base was stale: the compare-and-set refused it, so it is a candidate.
    assert_eq!(
        current, refreshed,
        "the record is the refresh made meanwhile"
    );
    assert_eq!(kept.len(), 1, "the late answer is kept: {kept:?}");
    assert!(
        fake.valid_refresh_tokens().contains(&kept[0]),
        "and Imgur honours it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_redis_down_replicas_serve_what_they_hold_and_refuse_what_needs_it() {
    let (fake, mut redis, dirs, replicas) = fleet_of(2).await;
    let http = reqwest::Client::new();
    let image = an_image(&fake);
    let read = format!("/v1/images/{image}");
    for replica in &replicas {
        assert_eq!(status_of(&http, replica.url(&read)).await, 200);
        assert_eq!(status_of(&http, replica.url("/readyz")).await, 200);
    }
    let (_, stored) = record(&redis);

    redis.kill();
    // The access token each replica holds keeps working.
    assert_eq!(status_of(&http, replicas[0].url(&read)).await, 200);
    assert_eq!(status_of(&http, replicas[1].url("/readyz")).await, 503);
    // A refresh needs the lock: 503 store-unavailable, never a refresh without it.
    fake.expire_access_tokens();
    let before = fake.calls(Endpoint::Token);
    let refused = http
        .get(replicas[1].url("/v1/account/images"))
        .send()
        .await
        .expect("answered");
    assert_eq!(refused.status(), 503);
    let problem: Value = refused.json().await.expect("problem JSON");
    assert_eq!(problem["type"], "urn:pixgate:problem:store-unavailable");
    assert_eq!(fake.calls(Endpoint::Token), before, "Imgur was not asked");
    // So does a login.
    let login = http
        .post(replicas[0].url("/auth/refresh-token"))
        .json(&serde_json::json!({"refresh_token": fake.current_refresh_token()}))
        .send()
        .await
        .expect("answered");
    assert_eq!(login.status(), 503, "{:?}", login.text().await);

    redis.restart();
    // The token survived (AOF); the replicas reconnect and refresh again.
    let (_, survived) = record(&redis);
    assert_eq!(survived["refresh_token"], stored["refresh_token"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    for replica in &replicas {
        while status_of(&http, replica.url("/readyz")).await != 200 {
            assert!(Instant::now() < deadline, "/readyz stayed 503");
            tokio::time::sleep(Duration::from_millis(100)).await; // polling /readyz
        }
        assert_eq!(
            status_of(&http, replica.url("/v1/account/images")).await,
            200
        );
    }
    assert_no_token_file(&dirs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rejected_record_is_recovered_from_a_candidate_before_authorization_is_required() {
    let (fake, redis, _dirs, replicas) = fleet_of(1).await;
    let http = reqwest::Client::new();
    let path = "/v1/account/images";
    assert_eq!(status_of(&http, replicas[0].url(path)).await, 200);
    let (revision, mut tokens) = record(&redis);
    let good = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    // The record now names refresh tokens Imgur rejects; the good one is
    // only a candidate (as a replica that lost the race leaves it).
    let candidate = tokens.clone();
    tokens["refresh_token"] = "rejected-1".into();
    tokens["previous_refresh_token"] = "rejected-0".into();
    tokens["access_token"] = Value::Null;
    let _: () = redis.query(
        redis::cmd("HSET")
            .arg("{pixgate}:token")
            .arg("revision")
            .arg(revision + 1)
            .arg("tokens")
            .arg(tokens.to_string()),
    );
    let _: () = redis.query(
        redis::cmd("LPUSH")
            .arg("{pixgate}:token:candidates")
            .arg(candidate.to_string()),
    );
    fake.expire_access_tokens();
    // The replica may not have seen the edit yet; it reads it under the lock.
    let status = status_of(&http, replicas[0].url(path)).await;
    assert_eq!(
        status,
        200,
        "{:#?} {:?}",
        replicas[0].logs(),
        presented(&fake)
    );
    let shown = presented(&fake);
    assert!(
        shown.contains(&"rejected-1".to_owned()),
        "the record was tried first: {shown:?}"
    );
    assert_eq!(shown.last(), Some(&good), "then the candidate");
    let (_, recovered) = record(&redis);
    assert_eq!(
        recovered["previous_refresh_token"],
        good.as_str(),
        "the candidate became the record"
    );
    assert!(candidates(&redis).is_empty(), "and left the candidates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_login_with_redis_is_the_fleets_and_writes_no_file() {
    let fake = fake_with_grace().await;
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("tokens.json");
    let url = redis.url();
    let env = [("PIXGATE_REDIS_URL", url.as_str())];
    let refresh = fake.current_refresh_token();
    let login = tokio::task::block_in_place(|| {
        crate::helpers::run_pixgate(
            &fake,
            &token_file,
            &["login", "--refresh-token", &refresh],
            "",
            &env,
        )
    });
    assert!(
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    assert!(String::from_utf8_lossy(&login.stdout).contains("Redis at"));
    let (_, stored) = record(&redis);
    assert!(stored["refresh_token"].is_string(), "the login is in Redis");
    assert!(!token_file.exists(), "and not in a file");
    let status = tokio::task::block_in_place(|| {
        crate::helpers::run_pixgate(&fake, &token_file, &["status"], "", &env)
    });
    let status: Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    assert_eq!(status["authorized"], true);

    // A replica with no seed of its own uses it.
    let replica =
        tokio::task::block_in_place(|| GatewayProcess::start(&fake, dir.path(), &token_file, &env));
    let http = reqwest::Client::new();
    assert_eq!(
        status_of(&http, replica.url("/v1/account/images")).await,
        200
    );
    drop(replica);
    let logout = tokio::task::block_in_place(|| {
        crate::helpers::run_pixgate(&fake, &token_file, &["logout"], "", &env)
    });
    assert!(logout.status.success());
    let (_, after) = record(&redis);
    assert!(after.is_null(), "the logout left a tombstone: {after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_slower_than_the_lease_keeps_the_lock_and_the_others_wait_for_it() {
    let (fake, _redis, _dirs, replicas) = fleet_of(2).await;
    let http = reqwest::Client::new();
    let path = "/v1/account/images";
    assert_eq!(status_of(&http, replicas[0].url(path)).await, 200);

    // Imgur takes three leases to answer the leader's token request.
    let (gate, begun, leader) =
        expire_and_hold_the_refresh(&fake, &http, replicas[0].url(path)).await;
    let waiter = {
        let (http, url) = (http.clone(), replicas[1].url(path));
        tokio::spawn(async move { status_of(&http, url).await })
    };
    // Three leases long, the leader renews its lease, and the other replica
    // keeps waiting for the lock instead of refreshing on its own.
    let lease = Duration::from_secs(LEASE.parse().expect("seconds"));
    tokio::time::sleep(lease * 3).await; // the slow token endpoint being simulated
    assert_eq!(
        fake.begun(Endpoint::Token),
        begun + 1,
        "nobody refreshed beside the leader"
    );
    gate.release();
    assert_eq!(leader.await.expect("task"), 200);
    assert_eq!(
        waiter.await.expect("task"),
        200,
        "it used the leader's token"
    );
    assert_eq!(
        fake.begun(Endpoint::Token),
        begun + 1,
        "one token request in all"
    );
    let metrics = reqwest::get(replicas[0].url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("pixgate_token_lock_lease_renewals_total{outcome=\"renewed\"}"),
        "renewals are counted"
    );
    let waits = reqwest::get(replicas[1].url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        waits.contains("pixgate_token_lock_wait_seconds_count{outcome=\"acquired\"}"),
        "lock waits are measured"
    );
    assert!(
        waits.contains("pixgate_redis_round_trips_total{operation=\"token_lock\",outcome=\"ok\"}")
    );
}
