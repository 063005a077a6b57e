//! The soak: mixed traffic against the real gateway process for a bounded
//! time (PIXGATE_SOAK_SECONDS, default 300), with access tokens expiring
//! every few seconds and faults injected upstream. It checks that every
//! upload answered 201 exists upstream with identical bytes, that no temp
//! file remains, that RSS grew less than 10 % after warm-up, and that no
//! 5xx came back beyond the injected faults; then writes the figures to
//! docs/RELIABILITY.md.
//!
//! Not part of `cargo test` (it takes minutes); run it with
//! `cargo test --test api soak -- --ignored` (add `--release` for
//! release-build figures; PIXGATE_SOAK_SECONDS sets the length).

use crate::helpers::{png, GatewayProcess};
use pixgate::fake_imgur::{Endpoint, FakeConfig, FakeImgur, Fault, FaultKind};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) const WORKERS: usize = 8;
/// The shortest warm-up; it is a third of the run when that is longer,
/// since bounded structures (caches, the deletehash map, allocator arenas)
/// fill during the first minutes and are not growth.
const MIN_WARM_UP: Duration = Duration::from_secs(20);
pub(crate) const TOKEN_EXPIRY_EVERY: Duration = Duration::from_secs(3);
/// The size of every tenth upload: past the 2 MiB memory spool.
const LARGE_UPLOAD: usize = 3 * 1024 * 1024 + 512;
pub(crate) const FAULT_EVERY: Duration = Duration::from_millis(500);

pub(crate) fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// What the clients saw; shared with the fleet soak.
#[derive(Default)]
pub(crate) struct Tally {
    pub(crate) by_status: Mutex<BTreeMap<String, u64>>,
    pub(crate) requests: AtomicU64,
    /// Our uploads still alive (for updates and deletes).
    pub(crate) uploads: Mutex<Vec<String>>,
    /// Every upload answered 201 and found upstream, deleted later or not.
    pub(crate) answered_uploads: Mutex<Vec<String>>,
    /// Uploads answered 201 whose bytes were checked upstream, and those that differed.
    pub(crate) verified: AtomicU64,
    pub(crate) mismatched: Mutex<Vec<String>>,
    pub(crate) upload_failures: AtomicU64,
}

impl Tally {
    fn record(&self, operation: &str, status: u16) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut by_status = self.by_status.lock().expect("tally");
        *by_status
            .entry(format!("{operation} {status}"))
            .or_default() += 1;
    }

    pub(crate) fn server_errors(&self) -> u64 {
        let by_status = self.by_status.lock().expect("tally");
        by_status
            .iter()
            .filter(|(key, _)| key.rsplit(' ').next().is_some_and(|s| s.starts_with('5')))
            .map(|(_, n)| n)
            .sum()
    }
}

/// One client's mixed traffic until `deadline`, each request to the next
/// of `bases` (one gateway, or the replicas of a fleet).
pub(crate) async fn worker(
    id: usize,
    bases: Vec<String>,
    fake: Arc<FakeImgur>,
    tally: Arc<Tally>,
    deadline: Instant,
) {
    let http = reqwest::Client::new();
    let mut round = 0u64;
    while Instant::now() < deadline {
        round += 1;
        let base = &bases[(round as usize + id) % bases.len()];
        let favorites = fake.favorite_ids();
        let some_favorite = favorites
            .get((round as usize + id) % favorites.len().max(1))
            .cloned();
        match round % 6 {
            0 | 1 => {
                if let Ok(r) = http
                    .get(format!("{base}/v1/favorites?page={}", round % 2))
                    .send()
                    .await
                {
                    tally.record("favorites", r.status().as_u16());
                }
            }
            2 => {
                // Every tenth upload outgrows the memory spool, so it goes
                // to Imgur while it arrives (the live path).
                let len = if round % 60 == 2 {
                    LARGE_UPLOAD
                } else {
                    1024 + ((round as usize * 7919 + id) % (256 * 1024))
                };
                let bytes = png(len);
                let form = reqwest::multipart::Form::new().part(
                    "image",
                    reqwest::multipart::Part::bytes(bytes.clone()).file_name("soak.png"),
                );
                match http
                    .post(format!("{base}/v1/images"))
                    .multipart(form)
                    .send()
                    .await
                {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        tally.record("upload", status);
                        if status == 201 {
                            let body: serde_json::Value = r.json().await.unwrap_or_default();
                            let digest: String = Sha256::digest(&bytes)
                                .iter()
                                .map(|b| format!("{b:02x}"))
                                .collect();
                            let id = body["id"].as_str().unwrap_or_default().to_owned();
                            // Checked at once, before any delete can remove it.
                            match fake.image(&id) {
                                Some(stored) if stored.sha256 == digest => {
                                    tally.verified.fetch_add(1, Ordering::Relaxed);
                                    tally
                                        .answered_uploads
                                        .lock()
                                        .expect("uploads")
                                        .push(id.clone());
                                    tally.uploads.lock().expect("uploads").push(id);
                                }
                                _ => tally.mismatched.lock().expect("mismatched").push(id),
                            }
                        }
                    }
                    Err(_) => {
                        tally.upload_failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            3 => {
                let own = tally.uploads.lock().expect("uploads").last().cloned();
                if let Some(own) = own {
                    let r = http
                        .patch(format!("{base}/v1/images/{own}"))
                        .json(&serde_json::json!({"title": format!("soak {round}")}))
                        .send()
                        .await;
                    if let Ok(r) = r {
                        tally.record("update", r.status().as_u16());
                    }
                }
            }
            4 => {
                if let Some(image) = &some_favorite {
                    if let Ok(r) = http
                        .post(format!("{base}/v1/images/{image}/favorite"))
                        .send()
                        .await
                    {
                        tally.record("toggle favorite", r.status().as_u16());
                    }
                }
            }
            _ => {
                // Delete an upload of our own, and forget it.
                let own = {
                    let mut uploads = tally.uploads.lock().expect("uploads");
                    (uploads.len() > 20).then(|| uploads.remove(0))
                };
                if let Some(own) = own {
                    if let Ok(r) = http.delete(format!("{base}/v1/images/{own}")).send().await {
                        tally.record("delete", r.status().as_u16());
                    }
                }
            }
        }
    }
}

/// Injects the `n`th upstream fault of the fixed schedule (one call each);
/// true when it is a failing answer (not a delay or a spurious 403 that a
/// refresh and replay absorb).
pub(crate) fn inject_fault(fake: &FakeImgur, n: u64) -> bool {
    let kinds = [
        FaultKind::ServerError(500),
        FaultKind::OverCapacityJson(403),
        FaultKind::RateLimited {
            retry_after: Some(1),
            user_reset_secs: 60,
        },
        FaultKind::Html(500),
        FaultKind::Delay(Duration::from_millis(300)),
        FaultKind::InvalidToken,
    ];
    let endpoints = [
        Endpoint::Favorites,
        Endpoint::Upload,
        Endpoint::GetImage,
        Endpoint::Favorite,
        Endpoint::UpdateImage,
    ];
    let kind = kinds[n as usize % kinds.len()].clone();
    let failing = !matches!(kind, FaultKind::Delay(_) | FaultKind::InvalidToken);
    fake.inject(Fault {
        endpoint: Some(endpoints[n as usize % endpoints.len()]),
        kind,
        times: 1,
    });
    failing
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "takes minutes: cargo test --test api soak -- --ignored"]
async fn soak() {
    let seconds: u64 = std::env::var("PIXGATE_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let fake = Arc::new(
        FakeImgur::start_on("127.0.0.1:0", 2, FakeConfig::default())
            .await
            .expect("fake starts"),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let spools = tempfile::tempdir().expect("spool dir");
    let refresh_token = fake.current_refresh_token();
    let gateway = GatewayProcess::start(
        &fake,
        dir.path(),
        &dir.path().join("tokens.json"),
        &[
            ("IMGUR_REFRESH_TOKEN", refresh_token.as_str()),
            ("TMPDIR", spools.path().to_str().expect("utf-8")),
            ("RUST_LOG", "warn,pixgate::startup=info"),
            ("PIXGATE_FAVORITES_TTL", "2"),
            // The fake counts credits like Imgur; the soak spends more.
            ("PIXGATE_CREDIT_RESERVE", "0"),
        ],
    );
    let pid = gateway.child.id();
    let base = gateway.url("");
    let started = Instant::now();
    let run = Duration::from_secs(seconds.max(MIN_WARM_UP.as_secs() + 10));
    let warm_up = MIN_WARM_UP.max(run / 3);
    let deadline = started + run;
    let tally = Arc::new(Tally::default());
    let workers: Vec<_> = (0..WORKERS)
        .map(|id| {
            tokio::spawn(worker(
                id,
                vec![base.clone()],
                Arc::clone(&fake),
                Arc::clone(&tally),
                deadline,
            ))
        })
        .collect();

    // Chaos: expiring tokens and upstream faults, on a fixed schedule.
    let mut injected = 0u64;
    let mut injected_failures = 0u64;
    let mut expiries = 0u64;
    let mut rss_after_warm_up = None;
    let mut rss_peak = 0;
    let mut last_expiry = Instant::now();
    let rss_start = rss_kib(pid);
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
        if rss_after_warm_up.is_none() && started.elapsed() >= warm_up {
            rss_after_warm_up = Some(rss_kib(pid));
        }
        rss_peak = rss_peak.max(rss_kib(pid));
    }
    for worker in workers {
        worker.await.expect("worker");
    }
    let rss_end = rss_kib(pid);
    let rss_warm = rss_after_warm_up.unwrap_or(rss_start);

    // Checks.
    let verified = tally.verified.load(Ordering::Relaxed);
    let mismatched = tally.mismatched.lock().expect("mismatched").clone();
    let leftover_files = std::fs::read_dir(spools.path())
        .map(|d| d.count())
        .unwrap_or(0);
    let server_errors = tally.server_errors();
    let growth = (rss_end as f64 - rss_warm as f64) / rss_warm.max(1) as f64 * 100.0;
    let requests = tally.requests.load(Ordering::Relaxed);
    let by_status = tally.by_status.lock().expect("tally").clone();
    let token_requests = fake.calls(Endpoint::Token);
    drop(gateway);

    let mut report = format!(
        "# Reliability: soak run\n\nProduced by `cargo test --test api soak -- --ignored` (tests/api/soak.rs) on {date}, {cores} cores. \
The real `pixgate` binary ({profile} build) ran against the in-process fake Imgur for {seconds} s with {WORKERS} concurrent clients \
(favorites, uploads of 1 KiB to 257 KiB and every tenth of 3 MiB, which streams to Imgur while it arrives, title updates, favorite toggles, deletes), every access token expiring every {expiry} s, \
and one upstream fault injected every {fault_ms} ms (5xx JSON, over-capacity 403, 429, HTML 500, a 300 ms delay, a spurious invalid-token 403).\n\n\
| figure | value |\n|---|---|\n\
| requests | {requests} |\n| uploads answered 201 and checked upstream | {uploads} |\n| uploads whose bytes differ upstream (or missing) | {mismatched} |\n\
| upload requests that failed without an answer | {upload_failures} |\n| faults injected (of which failing answers) | {injected} ({injected_failures}) |\n\
| token expiries forced | {expiries} |\n| token requests made by the gateway | {token_requests} |\n\
| 5xx answers | {server_errors} (bound: {injected_failures} injected failures) |\n| temp files left | {leftover_files} |\n\
| RSS at start / after {warm} s warm-up / peak / end (KiB) | {rss_start} / {rss_warm} / {rss_peak} / {rss_end} |\n| RSS growth after warm-up | {growth:.1} % |\n\n\
## Answers by operation and status\n\n| operation and status | count |\n|---|---|\n",
        date = httpdate::fmt_http_date(std::time::SystemTime::now()),
        cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        expiry = TOKEN_EXPIRY_EVERY.as_secs(),
        fault_ms = FAULT_EVERY.as_millis(),
        uploads = verified,
        profile = if cfg!(debug_assertions) { "debug" } else { "release" },
        mismatched = mismatched.len(),
        upload_failures = tally.upload_failures.load(Ordering::Relaxed),
        warm = warm_up.as_secs(),
    );
    for (key, count) in &by_status {
        report.push_str(&format!("| {key} | {count} |\n"));
    }
    println!("{report}");
    let path = std::env::var("PIXGATE_SOAK_REPORT")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/docs/RELIABILITY.md").to_owned());
    // The crash test's section (written by hand from its runs) stays.
    let kept = std::fs::read_to_string(&path)
        .ok()
        .and_then(|old| old.find("\n## Crash safety").map(|at| old[at..].to_owned()))
        .unwrap_or_default();
    std::fs::write(
        &path,
        format!("{}{kept}", report.trim_end_matches('\n').to_owned() + "\n"),
    )
    .expect("report written");

    assert!(
        mismatched.is_empty(),
        "uploads that differ upstream: {mismatched:?}"
    );
    assert_eq!(leftover_files, 0, "temp files left");
    assert!(
        server_errors <= injected_failures,
        "{server_errors} 5xx for {injected_failures} injected failures"
    );
    assert!(growth < 10.0, "RSS grew {growth:.1} % after warm-up");
    assert!(requests > 0);
}
