//! The fleet soak: the soak's mixed traffic spread over three gateway
//! processes sharing one real `redis-server` (`PIXGATE_REDIS_URL`), for a
//! bounded time (PIXGATE_FLEET_SOAK_SECONDS, default 600), with access
//! tokens expiring every 3 s, upstream faults every 500 ms, and both Imgur
//! (the fake, state kept) and Redis (SIGKILL, then a restart from its AOF)
//! restarted on a schedule. It checks that no upload is lost (every upload
//! answered 201 exists upstream with identical bytes and, once Redis is
//! back, is in the shared ledger), that no replica is ever locked out
//! (no 403 to a user call, and every replica still gets a fresh token at
//! the end), and that no replica wrote a local token file behind Redis's
//! back; then writes its figures to docs/RELIABILITY.md.
//!
//! Not part of `cargo test`; run it with
//! `cargo test --test api fleet_soak -- --ignored --nocapture`.

use crate::helpers::GatewayProcess;
use crate::redis_server::RedisServer;
use crate::soak::{inject_fault, worker, Tally, FAULT_EVERY, TOKEN_EXPIRY_EVERY, WORKERS};
use pixgate::fake_imgur::{Endpoint, FakeConfig, FakeImgur};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

const REPLICAS: usize = 3;
const IMGUR_RESTART_EVERY: Duration = Duration::from_secs(45);
const IMGUR_DOWN: Duration = Duration::from_secs(1);
const REDIS_RESTART_EVERY: Duration = Duration::from_secs(60);
const REDIS_DOWN: Duration = Duration::from_secs(2);
/// How long after the run the ledger may take to write what it queued
/// while Redis was down (its retry backoff is at most a minute).
const LEDGER_CATCH_UP: Duration = Duration::from_secs(90);

/// Every id in the shared ledger, read through `base` (all pages).
async fn ledger_ids(http: &reqwest::Client, base: &str) -> Option<BTreeSet<String>> {
    let mut ids = BTreeSet::new();
    for page in 0.. {
        let response = http
            .get(format!("{base}/v1/uploads?page={page}&per_page=100"))
            .send()
            .await
            .ok()?;
        if response.status() != 200 {
            return None;
        }
        let entries: Vec<serde_json::Value> = response.json().await.ok()?;
        if entries.is_empty() {
            break;
        }
        ids.extend(
            entries
                .iter()
                .filter_map(|e| e["id"].as_str().map(str::to_owned)),
        );
    }
    Some(ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "takes minutes: cargo test --test api fleet_soak -- --ignored"]
async fn fleet_soak() {
    let seconds: u64 = std::env::var("PIXGATE_FLEET_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let fake = Arc::new(
        FakeImgur::start_on("127.0.0.1:0", 2, FakeConfig::default())
            .await
            .expect("fake starts"),
    );
    let mut redis = RedisServer::start();
    let redis_url = redis.url();
    let dirs: Vec<_> = (0..REPLICAS)
        .map(|_| tempfile::tempdir().expect("temp dir"))
        .collect();
    let refresh_token = fake.current_refresh_token();
    let replicas: Vec<GatewayProcess> = dirs
        .iter()
        .map(|dir| {
            GatewayProcess::start(
                &fake,
                dir.path(),
                &dir.path().join("tokens.json"),
                &[
                    ("IMGUR_REFRESH_TOKEN", refresh_token.as_str()),
                    ("PIXGATE_REDIS_URL", redis_url.as_str()),
                    ("PIXGATE_REDIS_LOCK_LEASE", "3"),
                    ("TMPDIR", dir.path().to_str().expect("utf-8")),
                    ("RUST_LOG", "warn,pixgate::startup=info"),
                    ("PIXGATE_FAVORITES_TTL", "2"),
                    // The fake counts credits like Imgur; the soak spends more.
                    ("PIXGATE_CREDIT_RESERVE", "0"),
                ],
            )
        })
        .collect();
    let bases: Vec<String> = replicas.iter().map(|r| r.url("")).collect();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds.max(30));
    let tally = Arc::new(Tally::default());
    let workers: Vec<_> = (0..WORKERS)
        .map(|id| {
            tokio::spawn(worker(
                id,
                bases.clone(),
                Arc::clone(&fake),
                Arc::clone(&tally),
                deadline,
            ))
        })
        .collect();

    let (mut injected, mut injected_failures, mut expiries) = (0u64, 0u64, 0u64);
    let (mut imgur_restarts, mut redis_restarts) = (0u64, 0u64);
    let mut last_expiry = Instant::now();
    let mut last_imgur_restart = Instant::now();
    // Redis restarts half a period after Imgur's, so the two outages never overlap.
    let mut last_redis_restart = Instant::now() - REDIS_RESTART_EVERY / 2;
    while Instant::now() < deadline {
        tokio::time::sleep(FAULT_EVERY).await; // pacing the chaos, not synchronisation
        if inject_fault(&fake, injected) {
            injected_failures += 1;
        }
        injected += 1;
        if last_expiry.elapsed() >= TOKEN_EXPIRY_EVERY {
            fake.expire_access_tokens();
            expiries += 1;
            last_expiry = Instant::now();
        }
        if last_imgur_restart.elapsed() >= IMGUR_RESTART_EVERY {
            fake.restart(IMGUR_DOWN).await.expect("the fake comes back");
            imgur_restarts += 1;
            last_imgur_restart = Instant::now();
        }
        if last_redis_restart.elapsed() >= REDIS_RESTART_EVERY {
            redis.kill();
            tokio::time::sleep(REDIS_DOWN).await; // the outage being simulated
            tokio::task::block_in_place(|| redis.restart());
            redis_restarts += 1;
            last_redis_restart = Instant::now();
        }
    }
    for worker in workers {
        worker.await.expect("worker");
    }

    // No lockout: every replica still gets a fresh access token.
    let http = reqwest::Client::new();
    fake.expire_access_tokens();
    let mut final_reads = Vec::new();
    for base in &bases {
        // A fault injected last may still be waiting for its call: a few tries.
        let mut status = 0;
        for _ in 0..5 {
            status = http
                .get(format!("{base}/v1/favorites"))
                .header("Cache-Control", "no-cache")
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            if status == 200 || status == 403 {
                break;
            }
        }
        final_reads.push(status);
    }
    let by_status = tally.by_status.lock().expect("tally").clone();
    let lockouts: u64 = by_status
        .iter()
        .filter(|(key, _)| key.ends_with(" 403"))
        .map(|(_, n)| n)
        .sum();

    // No lost upload: each one answered 201 reaches the shared ledger.
    let answered: BTreeSet<String> = tally
        .answered_uploads
        .lock()
        .expect("uploads")
        .iter()
        .cloned()
        .collect();
    let catch_up = Instant::now() + LEDGER_CATCH_UP;
    let missing = loop {
        let missing: Vec<String> = match ledger_ids(&http, &bases[REPLICAS - 1]).await {
            Some(ledger) => answered.difference(&ledger).cloned().collect(),
            None => answered.iter().cloned().collect(),
        };
        if missing.is_empty() || Instant::now() > catch_up {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(500)).await; // polling the ledger's retries
    };
    let token_files: Vec<_> = dirs
        .iter()
        .map(|d| d.path().join("tokens.json"))
        .filter(|p| p.exists())
        .collect();
    let mismatched = tally.mismatched.lock().expect("mismatched").clone();
    let requests = tally.requests.load(Ordering::Relaxed);
    let server_errors = tally.server_errors();
    let token_requests = fake.calls(Endpoint::Token);
    drop(replicas);

    let mut report = format!(
        "## Fleet soak: {REPLICAS} replicas, one Redis\n\nProduced by `cargo test --test api fleet_soak -- --ignored` (tests/api/fleet_soak.rs) on {date}, {cores} cores. \
{REPLICAS} real `pixgate` processes ({profile} build) shared one `redis-server` (AOF, `appendfsync always`) and the in-process fake Imgur for {seconds} s; \
{WORKERS} clients spread the soak's mixed traffic over them (favorites, uploads up to 3 MiB, title updates, favorite toggles, deletes). \
Every access token expired every {expiry} s, one upstream fault came every {fault_ms} ms, the fake Imgur restarted every {imgur_every} s ({imgur_down} s down, state kept), \
and `redis-server` was SIGKILLed and restarted from its AOF every {redis_every} s ({redis_down} s down).\n\n\
| figure | value |\n|---|---|\n\
| requests | {requests} |\n| uploads answered 201, bytes checked upstream | {uploads} |\n| uploads whose bytes differ upstream (or missing) | {mismatched} |\n\
| uploads answered 201 missing from the shared ledger after the run | {missing} |\n| upload requests that failed without an answer | {upload_failures} |\n\
| faults injected (of which failing answers) | {injected} ({injected_failures}) |\n| token expiries forced | {expiries} |\n\
| Imgur restarts / Redis restarts | {imgur_restarts} / {redis_restarts} |\n| token requests made by the fleet | {token_requests} |\n\
| lockouts (403 to a user call) | {lockouts} |\n| final fresh-token read on each replica | {final_reads:?} |\n\
| 5xx answers (faults, outages) | {server_errors} |\n| local token files written | {token_files} |\n\n\
### Answers by operation and status\n\n| operation and status | count |\n|---|---|\n",
        date = httpdate::fmt_http_date(std::time::SystemTime::now()),
        cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        profile = if cfg!(debug_assertions) { "debug" } else { "release" },
        expiry = TOKEN_EXPIRY_EVERY.as_secs(),
        fault_ms = FAULT_EVERY.as_millis(),
        imgur_every = IMGUR_RESTART_EVERY.as_secs(),
        imgur_down = IMGUR_DOWN.as_secs(),
        redis_every = REDIS_RESTART_EVERY.as_secs(),
        redis_down = REDIS_DOWN.as_secs(),
        uploads = tally.verified.load(Ordering::Relaxed),
        mismatched = mismatched.len(),
        missing = missing.len(),
        upload_failures = tally.upload_failures.load(Ordering::Relaxed),
        token_files = token_files.len(),
    );
    for (key, count) in &by_status {
        report.push_str(&format!("| {key} | {count} |\n"));
    }
    println!("{report}");
    write_section(&report);

    assert!(
        mismatched.is_empty(),
        "uploads that differ upstream: {mismatched:?}"
    );
    assert!(
        missing.is_empty(),
        "uploads missing from the ledger: {missing:?}"
    );
    assert_eq!(lockouts, 0, "user calls answered 403: {by_status:?}");
    assert!(final_reads.iter().all(|s| *s == 200), "{final_reads:?}");
    assert!(
        token_files.is_empty(),
        "token files written: {token_files:?}"
    );
    assert!(requests > 0);
}

/// Replaces this soak's section of docs/RELIABILITY.md (or appends it),
/// keeping the rest of the file.
fn write_section(section: &str) {
    const HEADING: &str = "\n## Fleet soak";
    let path = std::env::var("PIXGATE_SOAK_REPORT")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/docs/RELIABILITY.md").to_owned());
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let (before, after) = match old.find(HEADING) {
        Some(at) => {
            let rest = &old[at + HEADING.len()..];
            let end = rest
                .find("\n## ")
                .map_or(old.len(), |n| at + HEADING.len() + n);
            (&old[..at], &old[end..])
        }
        None => (old.as_str(), ""),
    };
    let written = format!(
        "{}\n\n{}{}",
        before.trim_end_matches('\n'),
        section.trim_end_matches('\n'),
        if after.is_empty() {
            "\n".to_owned()
        } else {
            format!("\n{after}")
        }
    );
    std::fs::write(&path, written).expect("report written");
}
