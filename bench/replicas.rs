//! Scenario `replicas`: three gateway processes sharing one Redis
//! (`PIXGATE_REDIS_URL`) behind an nginx round-robin balancer, against one
//! replica on the same Redis behind the same balancer. A figure, not a
//! target: every process here (replicas, Redis, nginx, the fake, `oha`)
//! shares this machine's cores, so three replicas cannot triple anything;
//! the figure shows what sharing state costs and what spreading buys.

use crate::procs::{Error, GatewayOptions, GatewayProcess, NginxProcess, RedisProcess, Site};
use crate::report::Row;
use crate::scenarios::{blocking, med, summarize, Bench};
use pixgate::fake_imgur::Endpoint;
use std::net::SocketAddr;

const NAME: &str = "3 replicas on one Redis vs 1";

/// One fleet behind the balancer: its replicas (kept alive) and the balancer.
struct Fleet {
    replicas: Vec<GatewayProcess>,
    balancer: NginxProcess,
}

fn fleet(b: &Bench, redis_url: &str, seed: &str, size: usize, probe: &str) -> Result<Fleet, Error> {
    let mut replicas = Vec::new();
    for _ in 0..size {
        replicas.push(blocking(|| {
            GatewayProcess::start(&GatewayOptions {
                binary: &b.gateway_bin,
                fake: &b.fake,
                cache_max_bytes: None,
                favorites_ttl_secs: 3600,
                perf_data: None,
                redis_url: Some(redis_url),
                seed: Some(seed),
            })
        })?);
    }
    let addresses: Vec<SocketAddr> = replicas
        .iter()
        .map(|r| SocketAddr::from(([127, 0, 0, 1], r.port)))
        .collect();
    let balancer = blocking(|| {
        NginxProcess::serve(
            &b.nginx,
            &Site::Balancer {
                replicas: &addresses,
                probe,
            },
        )
    })?;
    Ok(Fleet { replicas, balancer })
}

pub async fn replicas(b: &mut Bench) -> Result<(), Error> {
    let redis = blocking(|| RedisProcess::start(&b.redis_server))?;
    let redis_url = redis.url();
    let id = b
        .fake
        .favorite_ids()
        .first()
        .cloned()
        .ok_or("the fake has no image")?;
    let favorites = "/v1/favorites";
    let image = format!("/v1/images/{id}");
    let token_calls_before = b.fake.calls(Endpoint::Token);
    let seed = b.fake.current_refresh_token();

    let one = fleet(b, &redis_url, &seed, 1, favorites)?;
    let three = fleet(b, &redis_url, &seed, 3, favorites)?;
    // Fill the cache (and every replica's local tier) before measuring.
    for url in [one.balancer.url(favorites), three.balancer.url(favorites)] {
        for _ in 0..6 {
            b.http.get(&url).send().await?.error_for_status()?;
        }
    }
    let s = &b.settings;
    let (f1_url, f3_url) = (one.balancer.url(favorites), three.balancer.url(favorites));
    let upstream_before = b.fake.calls(Endpoint::Favorites);
    let (f3, f1) = b.compare(
        (&f3_url, &[]),
        (&f1_url, &[]),
        s.connections,
        s.duration,
        s.runs,
    )?;
    let favorites_upstream = b.fake.calls(Endpoint::Favorites) - upstream_before;
    let (i1_url, i3_url) = (one.balancer.url(&image), three.balancer.url(&image));
    let (i3, i1) = b.compare(
        (&i3_url, &[]),
        (&i1_url, &[]),
        s.connections,
        s.duration,
        s.runs,
    )?;
    let token_calls = b.fake.calls(Endpoint::Token) - token_calls_before;
    let replicas = one.replicas.len() + three.replicas.len();
    drop((one, three, redis));

    let c = s.connections;
    let (f3_rps, f1_rps) = (med(&f3, |m| m.rps), med(&f1, |m| m.rps));
    let (i3_rps, i1_rps) = (med(&i3, |m| m.rps), med(&i1, |m| m.rps));
    b.rows.push(
        Row::new(
            NAME,
            format!("`GET /v1/favorites` cache hit, {c} connections, through nginx round robin"),
        )
        .gateway(format!("{f3_rps:.0} req/s (3 replicas)"))
        .reference(format!("{f1_rps:.0} req/s (1 replica)"))
        .ratio_of(f3_rps, f1_rps)
        .target("a figure (2 cores)", true),
    );
    b.rows.push(
        Row::new(
            NAME,
            format!(
                "`GET /v1/images/{{id}}` pass-through, {c} connections, through nginx round robin"
            ),
        )
        .gateway(format!("{i3_rps:.0} req/s (3 replicas)"))
        .reference(format!("{i1_rps:.0} req/s (1 replica)"))
        .ratio_of(i3_rps, i1_rps)
        .target("a figure (2 cores)", true),
    );
    b.detail(
        NAME,
        vec![
            format!("{replicas} gateway processes on one redis-server (AOF on), each fleet behind its own nginx (one worker per core, round robin, kept-alive upstream connections)"),
            summarize("favorites, 3 replicas", &f3),
            summarize("favorites, 1 replica", &f1),
            summarize("pass-through, 3 replicas", &i3),
            summarize("pass-through, 1 replica", &i1),
            format!("upstream favorites calls during the favorites runs: {favorites_upstream} (0: every answer came from a cache tier)"),
            format!("token requests to the fake while {replicas} replicas (one seed, one Redis) started and served: {token_calls} (the first replica's refresh is shared through Redis)"),
        ],
    );
    Ok(())
}
