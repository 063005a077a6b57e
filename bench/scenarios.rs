//! The scenarios. Each measures pixgate and, where there is one, its
//! reference in the same run, adds rows to the summary and keeps every
//! run's raw figures for the details.

use crate::load::{Load, Measured};
use crate::procs::{CpuTimes, Error, GatewayOptions, GatewayProcess, Memory, NginxProcess, Site};
use crate::report::{list, median, mib, Row};
use bytes::Bytes;
use futures_util::{future, stream, StreamExt};
use pixgate::fake_imgur::{Endpoint, FakeConfig, FakeImgur};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Runs blocking work (process control, the load generator) without
/// stalling the runtime the fake's server future lives on.
pub(crate) fn blocking<T>(work: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(work)
}

/// How long and how often; `--quick` shrinks everything but the shapes.
pub struct Settings {
    pub quick: bool,
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub runs: usize,
    pub unloaded_duration: Duration,
    pub storm_runs: usize,
    pub upload_runs: usize,
    pub cold_starts: usize,
}

impl Settings {
    pub fn new(quick: bool) -> Self {
        if quick {
            Self {
                quick,
                connections: 50,
                warmup: Duration::from_secs(1),
                duration: Duration::from_secs(3),
                runs: 3,
                unloaded_duration: Duration::from_secs(2),
                storm_runs: 1,
                upload_runs: 1,
                cold_starts: 3,
            }
        } else {
            Self {
                quick,
                connections: 50,
                warmup: Duration::from_secs(3),
                duration: Duration::from_secs(10),
                runs: 5,
                unloaded_duration: Duration::from_secs(5),
                storm_runs: 3,
                upload_runs: 3,
                cold_starts: 10,
            }
        }
    }
}

/// Scenario names, for `--only`.
pub const ALL: [&str; 7] = [
    "cold-start",
    "favorites",
    "passthrough",
    "storm",
    "upload",
    "cache-capacity",
    "replicas",
];

/// Concurrent requests of the refresh storm.
const STORM_REQUESTS: usize = 1000;
/// The fake's token latency during the storm.
const TOKEN_DELAY: Duration = Duration::from_millis(50);
/// The storm's answers may take the token latency plus this.
const STORM_ALLOWANCE: Duration = Duration::from_millis(50);
/// The upload: Imgur's video limit.
const UPLOAD_BYTES: usize = 200 * 1024 * 1024;
const UPLOAD_MAX_HWM_KIB: u64 = 64 * 1024;
const COLD_START_MAX: Duration = Duration::from_millis(100);
const IDLE_MAX_RSS_KIB: u64 = 20 * 1024;
/// The cache-capacity scenario: 1000 distinct pages of this many favorites.
const CAPACITY_PAGES: u32 = 1000;
const CAPACITY_PAGE_SIZE: usize = 150;
const SMALL_CACHE_BYTES: u64 = 4 * 1024 * 1024;
const DEFAULT_CACHE_BYTES: u64 = 64 * 1024 * 1024;
/// What a bounded cache may add to the idle RSS beyond its capacity
/// (allocator slack, connection buffers, moka's own bookkeeping).
const CACHE_RSS_ALLOWANCE_KIB: u64 = 16 * 1024;

/// Everything the scenarios share, and what they produce.
pub struct Bench {
    pub settings: Settings,
    pub gateway_bin: PathBuf,
    pub oha: PathBuf,
    pub nginx: PathBuf,
    /// `redis-server`, for the replicas sharing one Redis.
    pub redis_server: PathBuf,
    pub fake: FakeImgur,
    pub http: reqwest::Client,
    pub rows: Vec<Row>,
    pub details: Vec<(String, Vec<String>)>,
    /// Where to write a `perf` profile of every gateway process (not of
    /// the cold starts, which are timed).
    pub perf_dir: Option<PathBuf>,
    pub started_gateways: std::cell::Cell<usize>,
}

impl Bench {
    /// A fresh gateway process; profiled when `--perf-dir` is set.
    fn gateway(&self, label: &str, ttl_secs: u64) -> Result<GatewayProcess, Error> {
        self.gateway_on(&self.fake, label, None, ttl_secs, true)
    }

    fn gateway_on(
        &self,
        fake: &FakeImgur,
        label: &str,
        cache_max_bytes: Option<u64>,
        ttl_secs: u64,
        profile: bool,
    ) -> Result<GatewayProcess, Error> {
        let perf_dir = self.perf_dir.as_ref().filter(|_| profile);
        let perf_data = perf_dir.map(|dir| {
            let n = self.started_gateways.get() + 1;
            self.started_gateways.set(n);
            dir.join(format!("{label}-{n}.perf.data"))
        });
        blocking(|| {
            GatewayProcess::start(&GatewayOptions {
                binary: &self.gateway_bin,
                fake,
                cache_max_bytes,
                favorites_ttl_secs: ttl_secs,
                perf_data,
                redis_url: None,
                seed: None,
            })
        })
    }

    fn load(
        &self,
        url: &str,
        headers: &[String],
        connections: usize,
        duration: Duration,
    ) -> Result<Measured, Error> {
        blocking(|| {
            Load {
                url,
                connections,
                duration,
                headers,
            }
            .run(&self.oha)
        })
    }

    /// Warm-up of both, then `runs` measured runs of each, alternating
    /// which goes first so drift hits both alike.
    pub(crate) fn compare(
        &self,
        gateway: (&str, &[String]),
        reference: (&str, &[String]),
        connections: usize,
        duration: Duration,
        runs: usize,
    ) -> Result<(Vec<Measured>, Vec<Measured>), Error> {
        let mut all = self.compare_all(&[gateway, reference], connections, duration, runs)?;
        let r = all.pop().unwrap_or_default();
        let g = all.pop().unwrap_or_default();
        Ok((g, r))
    }

    /// Warm-up of each target, then `runs` rounds of one measured run of
    /// each, every round starting one target later, so drift hits all
    /// alike; the runs of each target, in the order given.
    fn compare_all(
        &self,
        targets: &[(&str, &[String])],
        connections: usize,
        duration: Duration,
        runs: usize,
    ) -> Result<Vec<Vec<Measured>>, Error> {
        let s = &self.settings;
        for (url, headers) in targets.iter().rev() {
            self.load(url, headers, connections, s.warmup)?;
        }
        let mut measured: Vec<Vec<Measured>> = targets.iter().map(|_| Vec::new()).collect();
        for round in 0..runs {
            for k in 0..targets.len() {
                // Round 0 starts with the last target (a reference), as before.
                let i = (targets.len() - 1 + round + k) % targets.len();
                let (url, headers) = targets[i];
                measured[i].push(self.load(url, headers, connections, duration)?);
            }
        }
        Ok(measured)
    }

    /// An access token for calling the fake directly, from its token
    /// endpoint (a refresh-token grant, as the gateway does).
    async fn direct_token(&self) -> Result<String, Error> {
        let config = self.fake.config();
        let refresh = self.fake.current_refresh_token();
        let answer: serde_json::Value = self
            .http
            .post(format!("{}/oauth2/token", self.fake.base_url()))
            .form(&[
                ("client_id", config.client_id.as_str()),
                ("client_secret", config.client_secret.as_str()),
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
            ])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        answer["access_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "the fake's token answer has no access_token".into())
    }

    pub(crate) fn detail(&mut self, heading: impl Into<String>, lines: Vec<String>) {
        self.details.push((heading.into(), lines));
    }
}

pub(crate) fn summarize(name: &str, runs: &[Measured]) -> String {
    let pick = |f: fn(&Measured) -> f64| runs.iter().map(f).collect::<Vec<_>>();
    format!(
        "{name}: req/s [{}]; p50 ms [{}]; p99 ms [{}]; max ms [{}]; 2xx {}; failed {}",
        list(&pick(|m| m.rps), 0),
        list(&pick(|m| m.p50_ms), 3),
        list(&pick(|m| m.p99_ms), 3),
        list(&pick(|m| m.max_ms), 1),
        runs.iter().map(|m| m.ok).sum::<u64>(),
        runs.iter().map(|m| m.failed).sum::<u64>(),
    )
}

pub(crate) fn med(runs: &[Measured], f: fn(&Measured) -> f64) -> f64 {
    median(&runs.iter().map(f).collect::<Vec<_>>())
}

fn failed(runs: &[Measured]) -> u64 {
    runs.iter().map(|m| m.failed).sum()
}

/// `GET /v1/favorites`, every answer a cache hit, against nginx serving the
/// same bytes from a file.
pub async fn favorites(b: &mut Bench) -> Result<(), Error> {
    const NAME: &str = "`GET /v1/favorites` cache HIT";
    let gateway = b.gateway("favorites", 3600)?;
    let url = gateway.url("/v1/favorites");
    let first = b.http.get(&url).send().await?.error_for_status()?;
    let body = first.bytes().await?;
    let second = b.http.get(&url).send().await?.error_for_status()?;
    let cache = second
        .headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if cache != "HIT" {
        return Err(format!("the second favorites read was {cache:?}, not HIT").into());
    }
    let nginx = blocking(|| NginxProcess::start(&b.nginx, "/v1/favorites", &body))?;
    let nginx_url = nginx.url("/v1/favorites");
    let upstream_before = b.fake.calls(Endpoint::Favorites);
    let s = &b.settings;
    let (g, r) = b.compare(
        (&url, &[]),
        (&nginx_url, &[]),
        s.connections,
        s.duration,
        s.runs,
    )?;
    let upstream_calls = b.fake.calls(Endpoint::Favorites) - upstream_before;
    let memory = gateway.memory()?;
    drop(nginx);
    gateway.stop();

    let c = b.settings.connections;
    let (g_rps, r_rps) = (med(&g, |m| m.rps), med(&r, |m| m.rps));
    let (g_p99, r_p99) = (med(&g, |m| m.p99_ms), med(&r, |m| m.p99_ms));
    let (g_p50, r_p50) = (med(&g, |m| m.p50_ms), med(&r, |m| m.p50_ms));
    let clean = failed(&g) == 0 && upstream_calls == 0;
    b.rows.push(
        Row::new(NAME, format!("throughput, {c} connections"))
            .gateway(format!("{g_rps:.0} req/s"))
            .reference(format!("{r_rps:.0} req/s (nginx, same bytes)"))
            .ratio_of(g_rps, r_rps)
            .target(">= 0.90x nginx", clean && g_rps >= 0.9 * r_rps),
    );
    b.rows.push(
        Row::new(NAME, format!("p99 latency, {c} connections"))
            .gateway(format!("{g_p99:.2} ms"))
            .reference(format!("{r_p99:.2} ms"))
            .ratio_of(g_p99, r_p99)
            .target("<= 2 ms", clean && g_p99 <= 2.0),
    );
    b.rows.push(
        Row::new(NAME, format!("p50 latency, {c} connections"))
            .gateway(format!("{g_p50:.2} ms"))
            .reference(format!("{r_p50:.2} ms"))
            .ratio_of(g_p50, r_p50),
    );
    b.detail(
        NAME,
        vec![
            format!("body: {} bytes of JSON (page 0, served by both)", body.len()),
            summarize("pixgate", &g),
            summarize("nginx", &r),
            format!("upstream favorites calls during the runs: {upstream_calls} (0: every answer was a hit)"),
            format!("gateway after the runs: VmRSS {}, VmHWM {}", mib(memory.rss_kib), mib(memory.hwm_kib)),
        ],
    );
    Ok(())
}

/// `GET /v1/images/{id}`, not cached, against the same request sent
/// straight to the fake with a bearer token, and through nginx as a
/// reverse proxy in front of the same fake that injects the same
/// `Authorization` header (what a gateway minus its own work costs).
pub async fn passthrough(b: &mut Bench) -> Result<(), Error> {
    const NAME: &str = "`GET /v1/images/{id}` pass-through";
    let token = b.direct_token().await?;
    let gateway = b.gateway("passthrough", 60)?;
    let id = b
        .fake
        .favorite_ids()
        .first()
        .cloned()
        .ok_or("the fake has no image")?;
    let path = format!("/v1/images/{id}");
    let url = gateway.url(&path);
    let direct_url = format!("{}/3/image/{id}", b.fake.base_url());
    let auth = vec![format!("Authorization: Bearer {token}")];
    let fake_addr: std::net::SocketAddr =
        b.fake.base_url().trim_start_matches("http://").parse()?;
    let bearer = format!("Bearer {token}");
    let proxy = blocking(|| {
        NginxProcess::serve(
            &b.nginx,
            &Site::Proxy {
                prefix: "/v1/images/",
                upstream: fake_addr,
                upstream_prefix: "/3/image/",
                authorization: &bearer,
                probe: &path,
            },
        )
    })?;
    let proxy_url = proxy.url(&path);
    b.http.get(&url).send().await?.error_for_status()?;
    b.http.get(&proxy_url).send().await?.error_for_status()?;
    b.http
        .get(&direct_url)
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?;
    let s = &b.settings;
    let targets: [(&str, &[String]); 3] = [(&url, &[]), (&proxy_url, &[]), (&direct_url, &auth)];
    let mut runs = b.compare_all(&targets, s.connections, s.duration, s.runs)?;
    let (r, p, g) = (
        runs.pop().unwrap_or_default(),
        runs.pop().unwrap_or_default(),
        runs.pop().unwrap_or_default(),
    );
    let mut runs = b.compare_all(&targets, 1, s.unloaded_duration, s.runs)?;
    let (r1, p1, g1) = (
        runs.pop().unwrap_or_default(),
        runs.pop().unwrap_or_default(),
        runs.pop().unwrap_or_default(),
    );
    // Where the CPU goes, per request, in one more run of each side.
    let cpu_run = |url: &str, headers: &[String]| -> Result<(CpuTimes, Measured), Error> {
        let before = CpuTimes::now(gateway.pid())?;
        let measured = b.load(url, headers, s.connections, s.duration)?;
        Ok((CpuTimes::now(gateway.pid())?.since(&before), measured))
    };
    let (g_cpu, g_cpu_run) = cpu_run(&url, &[])?;
    let nginx_before = proxy.cpu_seconds()?;
    let (p_cpu, p_cpu_run) = cpu_run(&proxy_url, &[])?;
    let nginx_cpu = proxy.cpu_seconds()? - nginx_before;
    let (r_cpu, r_cpu_run) = cpu_run(&direct_url, &auth)?;
    let memory = gateway.memory()?;
    drop(proxy);
    gateway.stop();

    let c = b.settings.connections;
    let clean = failed(&g) == 0 && failed(&g1) == 0;
    let proxy_clean = failed(&p) == 0 && failed(&p1) == 0;
    let per_request = |cpu: f64, m: &Measured| cpu * 1e6 / (m.ok + m.failed).max(1) as f64;
    let g_gateway_us = per_request(g_cpu.gateway, &g_cpu_run);
    let g_fake_us = per_request(g_cpu.harness, &g_cpu_run);
    let g_oha_us = per_request(g_cpu.finished_children, &g_cpu_run);
    let p_nginx_us = per_request(nginx_cpu, &p_cpu_run);
    let p_fake_us = per_request(p_cpu.harness, &p_cpu_run);
    let p_oha_us = per_request(p_cpu.finished_children, &p_cpu_run);
    let r_fake_us = per_request(r_cpu.harness, &r_cpu_run);
    let r_oha_us = per_request(r_cpu.finished_children, &r_cpu_run);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let used = |cpu: &CpuTimes| {
        (cpu.gateway + cpu.harness + cpu.finished_children) / s.duration.as_secs_f64()
    };
    let (g_rps, p_rps, r_rps) = (med(&g, |m| m.rps), med(&p, |m| m.rps), med(&r, |m| m.rps));
    let (g_p50, p_p50, r_p50) = (
        med(&g, |m| m.p50_ms),
        med(&p, |m| m.p50_ms),
        med(&r, |m| m.p50_ms),
    );
    let (g_p99, r_p99) = (med(&g, |m| m.p99_ms), med(&r, |m| m.p99_ms));
    let (g1_p50, p1_p50, r1_p50) = (
        med(&g1, |m| m.p50_ms),
        med(&p1, |m| m.p50_ms),
        med(&r1, |m| m.p50_ms),
    );
    b.rows.push(
        Row::new(NAME, format!("throughput, {c} connections, vs nginx proxy"))
            .gateway(format!("{g_rps:.0} req/s"))
            .reference(format!(
                "{p_rps:.0} req/s (nginx reverse proxy to the fake)"
            ))
            .ratio_of(g_rps, p_rps)
            .target(
                ">= 0.80x nginx proxy",
                clean && proxy_clean && g_rps >= 0.8 * p_rps,
            ),
    );
    b.rows.push(
        Row::new(NAME, "p50 latency, 1 connection, vs nginx proxy")
            .gateway(format!("{g1_p50:.3} ms"))
            .reference(format!("{p1_p50:.3} ms (nginx reverse proxy)"))
            .ratio_text(format!("+{:.3} ms", g1_p50 - p1_p50))
            .target(
                "added <= 0.10 ms",
                clean && proxy_clean && g1_p50 - p1_p50 <= 0.10,
            ),
    );
    b.rows.push(
        Row::new(
            NAME,
            format!("CPU per request, {c} connections, vs nginx proxy"),
        )
        .gateway(format!(
            "{:.0} µs (gateway {g_gateway_us:.0} + fake {g_fake_us:.0} + oha {g_oha_us:.0})",
            g_gateway_us + g_fake_us + g_oha_us
        ))
        .reference(format!(
            "{:.0} µs (nginx {p_nginx_us:.0} + fake {p_fake_us:.0} + oha {p_oha_us:.0})",
            p_nginx_us + p_fake_us + p_oha_us
        ))
        .ratio_text(format!(
            "{:.2}x (throughput ratio if CPU-bound)",
            (p_nginx_us + p_fake_us + p_oha_us) / (g_gateway_us + g_fake_us + g_oha_us)
        )),
    );
    b.rows.push(
        Row::new(NAME, format!("throughput, {c} connections"))
            .gateway(format!("{g_rps:.0} req/s"))
            .reference(format!("{r_rps:.0} req/s (fake, direct)"))
            .ratio_of(g_rps, r_rps)
            .target(">= 0.50x direct", clean && g_rps >= 0.5 * r_rps),
    );
    b.rows.push(
        Row::new(NAME, format!("p50 latency, {c} connections"))
            .gateway(format!("{g_p50:.3} ms"))
            .reference(format!("{r_p50:.3} ms (direct); nginx proxy {p_p50:.3} ms"))
            .ratio_text(format!("+{:.3} ms", g_p50 - r_p50))
            .target("added <= 0.15 ms", clean && g_p50 - r_p50 <= 0.15),
    );
    b.rows.push(
        Row::new(NAME, format!("p99 latency, {c} connections"))
            .gateway(format!("{g_p99:.3} ms"))
            .reference(format!("{r_p99:.3} ms"))
            .ratio_text(format!("+{:.3} ms", g_p99 - r_p99)),
    );
    b.rows.push(
        Row::new(NAME, "p50 latency, 1 connection (no queueing)")
            .gateway(format!("{g1_p50:.3} ms"))
            .reference(format!("{r1_p50:.3} ms (direct)"))
            .ratio_text(format!("+{:.3} ms", g1_p50 - r1_p50)),
    );
    b.rows.push(
        Row::new(NAME, format!("CPU per request, {c} connections"))
            .gateway(format!(
                "{:.0} µs (gateway {g_gateway_us:.0} + fake {g_fake_us:.0} + oha {g_oha_us:.0})",
                g_gateway_us + g_fake_us + g_oha_us
            ))
            .reference(format!(
                "{:.0} µs (fake {r_fake_us:.0} + oha {r_oha_us:.0})",
                r_fake_us + r_oha_us
            ))
            .ratio_text(format!(
                "{:.2}x (throughput ratio if CPU-bound)",
                (r_fake_us + r_oha_us) / (g_gateway_us + g_fake_us + g_oha_us)
            )),
    );
    b.detail(
        NAME,
        vec![
            format!("{c} connections:"),
            summarize("pixgate", &g),
            summarize("nginx proxy", &p),
            summarize("direct", &r),
            "1 connection:".into(),
            summarize("pixgate", &g1),
            summarize("nginx proxy", &p1),
            summarize("direct", &r1),
            format!(
                "CPU accounting (one more {c}-connection run per side; /proc/<pid>/stat, 10 ms ticks): through the gateway {:.0} req/s used {:.2} of {cores:.0} cores (gateway {:.2} s, fake {:.2} s, oha {:.2} s); through the nginx proxy {:.0} req/s used {:.2} cores (nginx {nginx_cpu:.2} s, fake {:.2} s, oha {:.2} s); direct {:.0} req/s used {:.2} cores (fake {:.2} s, oha {:.2} s)",
                g_cpu_run.rps,
                used(&g_cpu),
                g_cpu.gateway,
                g_cpu.harness,
                g_cpu.finished_children,
                p_cpu_run.rps,
                (nginx_cpu + p_cpu.harness + p_cpu.finished_children) / s.duration.as_secs_f64(),
                p_cpu.harness,
                p_cpu.finished_children,
                r_cpu_run.rps,
                used(&r_cpu),
                r_cpu.harness,
                r_cpu.finished_children,
            ),
            format!(
                "gateway after the runs: VmRSS {}, VmHWM {}",
                mib(memory.rss_kib),
                mib(memory.hwm_kib)
            ),
        ],
    );
    Ok(())
}

/// What one storm measured.
struct Storm {
    token_requests: usize,
    ok: usize,
    p50_ms: f64,
    p100_ms: f64,
    /// When the token request reached the fake, from the storm's start.
    token_at_ms: f64,
    /// p100 of the same burst just before, with a valid token and open connections.
    baseline_p100_ms: Option<f64>,
}

impl Storm {
    fn line(&self) -> String {
        let answered_at = self.token_at_ms + TOKEN_DELAY.as_secs_f64() * 1000.0;
        let mut line = format!(
            "token requests {}, 200 answers {}/{STORM_REQUESTS}, p50 {:.1} ms, p100 {:.1} ms; the token request reached the fake at {:.1} ms, was answered at about {answered_at:.1} ms, and the last answer came {:.1} ms after that",
            self.token_requests,
            self.ok,
            self.p50_ms,
            self.p100_ms,
            self.token_at_ms,
            self.p100_ms - answered_at
        );
        if let Some(baseline) = self.baseline_p100_ms {
            line.push_str(&format!(
                "; the same burst with a valid token: p100 {baseline:.1} ms"
            ));
        }
        line
    }
}

/// `STORM_REQUESTS` concurrent `GET /v1/images/{id}` right after the fake
/// expired every access token: each first attempt is refused, the gateway
/// refreshes once (the fake's token endpoint takes `TOKEN_DELAY`) and
/// replays. `warm`: the client's and the gateway's connections are opened
/// by an identical burst before (so only the refresh is measured);
/// otherwise every connection is new.
/// How the storm's access token stops working.
#[derive(Clone, Copy, PartialEq)]
enum Expiry {
    /// It reaches its expiry time: the gateway refreshes before calling
    /// Imgur (the scenario).
    Expired,
    /// Imgur rejects it before its time (revoked): every request first gets
    /// Imgur's invalid-token 403, then the one refresh, then its replay.
    Rejected,
}

/// Lifetime of the storm's access tokens in the [`Expiry::Expired`] runs:
/// the gateway refreshes a token within half its lifetime of the end (for
/// tokens under two minutes), so these count as expired after 2 s.
const STORM_TOKEN_LIFETIME: Duration = Duration::from_secs(4);

async fn storm_once(b: &Bench, warm: bool, expiry: Expiry) -> Result<Storm, Error> {
    let usual_lifetime = b.fake.config().access_token_lifetime;
    if expiry == Expiry::Expired {
        b.fake.set_access_token_lifetime(STORM_TOKEN_LIFETIME);
    }
    let gateway = b.gateway(
        match (warm, expiry) {
            (true, Expiry::Expired) => "storm",
            (true, Expiry::Rejected) => "storm-rejected",
            (false, _) => "storm-new-connections",
        },
        60,
    )?;
    // The gateway takes its first token after this.
    let first_token_after = Instant::now();
    let id = b
        .fake
        .favorite_ids()
        .first()
        .cloned()
        .ok_or("the fake has no image")?;
    let url = gateway.url(&format!("/v1/images/{id}"));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .timeout(Duration::from_secs(30))
        .build()?;
    let burst = || {
        future::join_all((0..STORM_REQUESTS).map(|_| {
            let request = client.get(&url).send();
            async move {
                let started = Instant::now();
                let status = match request.await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let _ = response.bytes().await;
                        status
                    }
                    Err(_) => 0,
                };
                (status, started.elapsed())
            }
        }))
    };
    let p100 = |answers: &[(u16, Duration)]| {
        answers
            .iter()
            .map(|(_, d)| d.as_secs_f64() * 1000.0)
            .fold(0.0, f64::max)
    };
    let mut baseline_p100_ms = None;
    if warm {
        // The first burst opens the connections, the second is the baseline.
        for _ in 0..2 {
            let valid = burst().await;
            if valid.iter().any(|(status, _)| *status != 200) {
                return Err("a burst with a valid token had non-200 answers".into());
            }
            baseline_p100_ms = Some(p100(&valid));
        }
    }
    if expiry == Expiry::Expired {
        // The token in hand (taken at the first request) now reaches the
        // point where the gateway refreshes it before use: sleep past it.
        let due = first_token_after + STORM_TOKEN_LIFETIME / 2 + Duration::from_millis(200);
        if Instant::now() + Duration::from_millis(100) > due {
            return Err("the warm-up bursts outlasted the storm token's lifetime".into());
        }
        tokio::time::sleep_until(due.into()).await;
    }
    b.fake.set_token_delay(TOKEN_DELAY);
    let before = b.fake.calls(Endpoint::Token);
    if expiry == Expiry::Rejected {
        b.fake.expire_access_tokens();
    }
    let started = Instant::now();
    // When the token request reaches the fake (which answers TOKEN_DELAY later).
    let token_arrival = async {
        while b.fake.calls(Endpoint::Token) == before && started.elapsed() < Duration::from_secs(30)
        {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        started.elapsed()
    };
    let (answers, token_at) = future::join(burst(), token_arrival).await;
    let token_requests = b.fake.calls(Endpoint::Token) - before;
    b.fake.set_token_delay(Duration::ZERO);
    b.fake.set_access_token_lifetime(usual_lifetime);
    gateway.stop();
    let ok = answers.iter().filter(|(status, _)| *status == 200).count();
    let latencies: Vec<f64> = answers
        .iter()
        .map(|(_, d)| d.as_secs_f64() * 1000.0)
        .collect();
    Ok(Storm {
        token_requests,
        ok,
        p50_ms: median(&latencies),
        p100_ms: p100(&answers),
        token_at_ms: token_at.as_secs_f64() * 1000.0,
        baseline_p100_ms,
    })
}

/// p100 of the same 1000-request burst sent straight to the fake with a
/// valid token, over open connections: what the machine, the client and
/// the fake need for the burst alone.
async fn direct_burst_p100(b: &Bench) -> Result<f64, Error> {
    let token = b.direct_token().await?;
    let id = b
        .fake
        .favorite_ids()
        .first()
        .cloned()
        .ok_or("the fake has no image")?;
    let url = format!("{}/3/image/{id}", b.fake.base_url());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut p100 = 0.0;
    for _ in 0..2 {
        let answers = future::join_all((0..STORM_REQUESTS).map(|_| {
            let request = client.get(&url).bearer_auth(&token).send();
            async move {
                let started = Instant::now();
                let ok = match request.await {
                    Ok(response) => response.status() == 200 && response.bytes().await.is_ok(),
                    Err(_) => false,
                };
                (ok, started.elapsed())
            }
        }))
        .await;
        if answers.iter().any(|(ok, _)| !ok) {
            return Err("the direct burst had failures".into());
        }
        p100 = answers
            .iter()
            .map(|(_, d)| d.as_secs_f64() * 1000.0)
            .fold(0.0, f64::max);
    }
    Ok(p100)
}

pub async fn storm(b: &mut Bench) -> Result<(), Error> {
    const NAME: &str = "refresh storm, 1000 concurrent";
    let mut runs = Vec::new();
    for _ in 0..b.settings.storm_runs {
        runs.push(storm_once(b, true, Expiry::Expired).await?);
    }
    let cold = storm_once(b, false, Expiry::Expired).await?;
    let rejected = storm_once(b, true, Expiry::Rejected).await?;
    let direct_p100 = direct_burst_p100(b).await?;
    let baseline_p100 = median(
        &runs
            .iter()
            .filter_map(|r| r.baseline_p100_ms)
            .collect::<Vec<_>>(),
    );
    let max_tokens = runs.iter().map(|r| r.token_requests).max().unwrap_or(0);
    let min_tokens = runs.iter().map(|r| r.token_requests).min().unwrap_or(0);
    let min_ok = runs.iter().map(|r| r.ok).min().unwrap_or(0);
    let p100 = median(&runs.iter().map(|r| r.p100_ms).collect::<Vec<_>>());
    let bound = (TOKEN_DELAY + STORM_ALLOWANCE).as_secs_f64() * 1000.0;
    let n = runs.len();
    b.rows.push(
        Row::new(NAME, format!("token requests (each of {n} runs)"))
            .gateway(if min_tokens == max_tokens {
                format!("{max_tokens}")
            } else {
                format!("{min_tokens}..{max_tokens}")
            })
            .target("exactly 1", min_tokens == 1 && max_tokens == 1),
    );
    b.rows.push(
        Row::new(NAME, "answered 200 (worst run)")
            .gateway(format!("{min_ok}/{STORM_REQUESTS}"))
            .target(
                format!("{STORM_REQUESTS}/{STORM_REQUESTS}"),
                min_ok == STORM_REQUESTS,
            ),
    );
    b.rows.push(
        Row::new(NAME, "p100 latency (open connections)")
            .gateway(format!("{p100:.1} ms"))
            .reference(format!(
                "{} ms (fake's token latency)",
                TOKEN_DELAY.as_millis()
            ))
            .ratio_of(p100, TOKEN_DELAY.as_secs_f64() * 1000.0)
            .target(format!("<= {bound:.0} ms"), p100 <= bound),
    );
    b.rows.push(
        Row::new(NAME, "p100 latency (1000 new connections)")
            .gateway(format!("{:.1} ms", cold.p100_ms))
            .reference(format!("{} ms", TOKEN_DELAY.as_millis()))
            .ratio_of(cold.p100_ms, TOKEN_DELAY.as_secs_f64() * 1000.0),
    );
    b.rows.push(
        Row::new(
            NAME,
            "context: p100 when Imgur rejects the token before its time (403, refresh, replay)",
        )
        .gateway(format!(
            "{:.1} ms ({} token request, {}/{STORM_REQUESTS} answered 200)",
            rejected.p100_ms, rejected.token_requests, rejected.ok
        ))
        .reference(format!("{} ms", TOKEN_DELAY.as_millis()))
        .ratio_of(rejected.p100_ms, TOKEN_DELAY.as_secs_f64() * 1000.0),
    );
    b.rows.push(
        Row::new(
            NAME,
            "context: p100 of the same burst with a valid token (no refresh)",
        )
        .gateway(format!("{baseline_p100:.1} ms"))
        .reference(format!("{direct_p100:.1} ms (straight to the fake)"))
        .ratio_of(baseline_p100, direct_p100),
    );
    let mut lines: Vec<String> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| format!("run {} (connections open): {}", i + 1, r.line()))
        .collect();
    lines.push(format!("new connections: {}", cold.line()));
    lines.push(format!(
        "token rejected by Imgur before its time: {}",
        rejected.line()
    ));
    lines.push(format!(
        "the same burst straight to the fake (valid token, open connections): p100 {direct_p100:.1} ms"
    ));
    lines.push(format!(
        "the fake's token endpoint sleeps {} ms; the bound is that plus {} ms",
        TOKEN_DELAY.as_millis(),
        STORM_ALLOWANCE.as_millis()
    ));
    b.detail(NAME, lines);
    Ok(())
}

/// Sends `data` as a multipart `video` part and returns the time to the
/// answer and the new image's id.
async fn upload_once(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
    data: &Bytes,
) -> Result<(Duration, String), Error> {
    let part = reqwest::multipart::Part::stream_with_length(
        reqwest::Body::from(data.clone()),
        data.len() as u64,
    )
    .file_name("bench.mp4")
    .mime_str("video/mp4")?;
    let mut form = reqwest::multipart::Form::new().part("video", part);
    let mut request = http.post(url);
    if let Some(token) = bearer {
        form = form.text("type", "file");
        request = request.bearer_auth(token);
    }
    let started = Instant::now();
    let response = request.multipart(form).send().await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await?;
    let elapsed = started.elapsed();
    if !status.is_success() {
        return Err(format!("upload to {url} answered {status}: {body}").into());
    }
    let id = body["id"]
        .as_str()
        .or_else(|| body["data"]["id"].as_str())
        .ok_or("the upload answer has no id")?;
    Ok((elapsed, id.to_owned()))
}

/// A 200 MiB video through the gateway against the same upload straight to
/// the fake, with the same client.
pub async fn upload(b: &mut Bench) -> Result<(), Error> {
    const NAME: &str = "upload, 200 MiB video";
    let token = b.direct_token().await?;
    let gateway = b.gateway("upload", 60)?;
    let idle = gateway.memory()?;
    let data = Bytes::from(
        (0..UPLOAD_BYTES)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect::<Vec<u8>>(),
    );
    let url = gateway.url("/v1/images");
    let direct_url = format!("{}/3/image", b.fake.base_url());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let check = |id: &str| -> Result<(), Error> {
        match b.fake.image(id) {
            Some(image) if image.size == UPLOAD_BYTES as u64 => Ok(()),
            other => Err(format!("the fake stored {:?} bytes", other.map(|i| i.size)).into()),
        }
    };
    if !b.settings.quick {
        let (_, id) = upload_once(&http, &direct_url, Some(&token), &data).await?;
        check(&id)?;
        let (_, id) = upload_once(&http, &url, None, &data).await?;
        check(&id)?;
    }
    let (mut g, mut r) = (Vec::new(), Vec::new());
    for i in 0..b.settings.upload_runs {
        for gateway_first in [i % 2 == 1, i % 2 == 0] {
            if gateway_first {
                let (elapsed, id) = upload_once(&http, &url, None, &data).await?;
                check(&id)?;
                g.push(elapsed.as_secs_f64());
            } else {
                let (elapsed, id) = upload_once(&http, &direct_url, Some(&token), &data).await?;
                check(&id)?;
                r.push(elapsed.as_secs_f64());
            }
        }
    }
    let peak = gateway.memory()?;
    // The last spool file is deleted just after the answer: allow a moment.
    let deadline = Instant::now() + Duration::from_secs(2);
    while gateway.spool_files() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let spool_left = gateway.spool_files();
    gateway.stop();

    let size_mib = UPLOAD_BYTES as f64 / 1024.0 / 1024.0;
    let g_mibs = size_mib / median(&g);
    let r_mibs = size_mib / median(&r);
    b.rows.push(
        Row::new(NAME, "throughput")
            .gateway(format!("{g_mibs:.0} MiB/s"))
            .reference(format!("{r_mibs:.0} MiB/s (fake, direct)"))
            .ratio_of(g_mibs, r_mibs)
            .target(">= 0.70x direct", g_mibs >= 0.7 * r_mibs),
    );
    b.rows.push(
        Row::new(NAME, "gateway peak RSS (VmHWM)")
            .gateway(mib(peak.hwm_kib))
            .target("<= 64 MiB", peak.hwm_kib <= UPLOAD_MAX_HWM_KIB),
    );
    b.detail(
        NAME,
        vec![
            format!("pixgate seconds per upload: [{}]", list(&g, 3)),
            format!("direct seconds per upload: [{}]", list(&r, 3)),
            format!(
                "gateway memory: idle VmRSS {}, after the uploads VmRSS {}, VmHWM {}",
                mib(idle.rss_kib),
                mib(peak.rss_kib),
                mib(peak.hwm_kib)
            ),
            format!("spool files left in the gateway's TMPDIR: {spool_left}"),
        ],
    );
    Ok(())
}

/// From spawning the binary to the first `/readyz` 200 (which includes the
/// first token refresh against the fake), and the idle RSS after it.
pub async fn cold_start(b: &mut Bench) -> Result<(), Error> {
    const NAME: &str = "cold start";
    let (mut ready, mut rss) = (Vec::new(), Vec::new());
    for _ in 0..b.settings.cold_starts {
        let gateway = b.gateway_on(&b.fake, "cold-start", None, 60, false)?;
        ready.push(gateway.ready_after.as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(250)).await;
        rss.push(gateway.memory()?.rss_kib as f64);
        gateway.stop();
    }
    let ready_median = median(&ready);
    let ready_max = ready.iter().copied().fold(0.0, f64::max);
    let rss_median = median(&rss);
    let bound = COLD_START_MAX.as_secs_f64() * 1000.0;
    b.rows.push(
        Row::new(
            NAME,
            format!("spawn to `/readyz` 200, median of {}", ready.len()),
        )
        .gateway(format!("{ready_median:.1} ms"))
        .target(format!("<= {bound:.0} ms"), ready_median <= bound),
    );
    b.rows.push(
        Row::new(NAME, "spawn to `/readyz` 200, slowest").gateway(format!("{ready_max:.1} ms")),
    );
    b.rows.push(
        Row::new(NAME, "idle RSS after ready (median)")
            .gateway(mib(rss_median as u64))
            .target("<= 20 MiB", rss_median <= IDLE_MAX_RSS_KIB as f64),
    );
    b.detail(
        NAME,
        vec![
            format!("ms to /readyz 200: [{}]", list(&ready, 1)),
            format!(
                "idle VmRSS MiB: [{}]",
                list(&rss.iter().map(|k| k / 1024.0).collect::<Vec<_>>(), 1)
            ),
        ],
    );
    Ok(())
}

/// What filling the cache with the capacity scenario's pages measured.
struct Filled {
    idle: Memory,
    after: Memory,
    page_bytes: u64,
    resident_pages: usize,
}

/// Reads `CAPACITY_PAGES` distinct pages (each a miss), then reads them
/// again, newest first, and counts the hits: about the pages the cache
/// kept (once a read misses, its refill starts evicting).
async fn fill_cache(b: &Bench, fake: &FakeImgur, capacity: Option<u64>) -> Result<Filled, Error> {
    let label = format!(
        "cache-{}",
        capacity.map_or("default".into(), |c| c.to_string())
    );
    let gateway = b.gateway_on(fake, &label, capacity, 3600, true)?;
    let idle = gateway.memory()?;
    let read = |page: u32| {
        let request = b
            .http
            .get(gateway.url(&format!("/v1/favorites?page={page}")))
            .send();
        async move {
            let response = request.await?.error_for_status()?;
            let hit = response
                .headers()
                .get("x-cache")
                .is_some_and(|v| v == "HIT");
            let bytes = response.bytes().await?.len() as u64;
            Ok::<_, Error>((hit, bytes))
        }
    };
    let mut page_bytes = 0;
    let mut pages = stream::iter(0..CAPACITY_PAGES)
        .map(read)
        .buffer_unordered(4);
    while let Some(result) = pages.next().await {
        page_bytes += result?.1;
    }
    drop(pages);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = gateway.memory()?;
    let mut resident_pages = 0;
    let mut pages = stream::iter((0..CAPACITY_PAGES).rev())
        .map(read)
        .buffer_unordered(4);
    while let Some(result) = pages.next().await {
        resident_pages += usize::from(result?.0);
    }
    drop(pages);
    gateway.stop();
    Ok(Filled {
        idle,
        after,
        page_bytes,
        resident_pages,
    })
}

pub async fn cache_capacity(b: &mut Bench) -> Result<(), Error> {
    const NAME: &str = "1000 distinct favorites pages";
    let fake = FakeImgur::start_on(
        "127.0.0.1:0",
        2,
        FakeConfig {
            favorites: CAPACITY_PAGES as usize * CAPACITY_PAGE_SIZE,
            favorites_page_size: CAPACITY_PAGE_SIZE,
            ..FakeConfig::default()
        },
    )
    .await?;
    fake.set_request_log(false);
    let mut lines = Vec::new();
    for (label, capacity) in [
        ("PIXGATE_CACHE_MAX_BYTES=4 MiB", Some(SMALL_CACHE_BYTES)),
        ("default capacity (64 MiB)", None),
    ] {
        let filled = fill_cache(b, &fake, capacity).await?;
        let budget = capacity.unwrap_or(DEFAULT_CACHE_BYTES);
        let growth = filled.after.rss_kib.saturating_sub(filled.idle.rss_kib);
        let bound_kib = budget / 1024 + CACHE_RSS_ALLOWANCE_KIB;
        b.rows.push(
            Row::new(NAME, format!("RSS after caching, {label}"))
                .gateway(format!(
                    "{} (+{} over idle; {} pages kept)",
                    mib(filled.after.rss_kib),
                    mib(growth),
                    filled.resident_pages
                ))
                .reference(format!(
                    "{} of pages (unbounded cache)",
                    mib(filled.page_bytes / 1024)
                ))
                .ratio_text(format!(
                    "{:.2}x capacity",
                    growth as f64 * 1024.0 / budget as f64
                ))
                .target("growth <= capacity + 16 MiB", growth <= bound_kib),
        );
        lines.push(format!(
            "{label}: idle VmRSS {}, after 1000 pages VmRSS {} (VmHWM {}), pages {} in total, {} of 1000 still cached on a second pass",
            mib(filled.idle.rss_kib),
            mib(filled.after.rss_kib),
            mib(filled.after.hwm_kib),
            mib(filled.page_bytes / 1024),
            filled.resident_pages
        ));
    }
    fake.stop().await;
    lines.push(format!(
        "pages of {CAPACITY_PAGE_SIZE} favorites each, from a second fake seeded with {} favorites",
        CAPACITY_PAGES as usize * CAPACITY_PAGE_SIZE
    ));
    b.detail(NAME, lines);
    Ok(())
}
