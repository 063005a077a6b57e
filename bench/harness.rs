//! `pixgate-bench`: the benchmark harness behind `bench/run.sh`.
//!
//! It starts the fake Imgur in this process (two workers, no artificial
//! delay), runs the release `pixgate` binary as a separate process against
//! it (a fresh process per scenario, so peak-RSS figures belong to one
//! scenario), drives the external load generator `oha` against the gateway
//! and against a reference measured the same way in the same run (nginx
//! serving the same bytes, or the fake called directly), reads the
//! gateway's `/proc/<pid>/status`, and writes the results file.
//!
//! | module | what it is |
//! |---|---|
//! | [`scenarios`] | the single-instance scenarios and their targets |
//! | [`load`] | running `oha` and reading its JSON |
//! | [`procs`] | the gateway, nginx and Redis processes, `/proc` memory figures |
//! | [`replicas`] | three replicas on one Redis against one, behind nginx |
//! | [`report`] | the Markdown results file |

mod load;
mod procs;
mod replicas;
mod report;
mod scenarios;

use clap::Parser;
use pixgate::fake_imgur::{FakeConfig, FakeImgur};
use procs::{Error, NginxProcess};
use report::{Machine, Report};
use scenarios::{Bench, Settings};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Instant, SystemTime};

/// Benchmarks the release `pixgate` binary against nginx and the fake Imgur.
#[derive(Parser)]
#[command(name = "pixgate-bench")]
struct Args {
    /// The release `pixgate` binary.
    #[arg(long)]
    gateway: PathBuf,
    /// The `oha` load generator.
    #[arg(long, default_value = "oha")]
    oha: PathBuf,
    /// nginx, the reference for cached reads.
    #[arg(long, default_value = "nginx")]
    nginx: PathBuf,
    /// `redis-server`, shared by the replicas of the `replicas` scenario.
    #[arg(long, default_value = "redis-server")]
    redis_server: PathBuf,
    /// Where to write the results (Markdown).
    #[arg(long)]
    out: PathBuf,
    /// Hand-written notes appended to the results (the profile of missed targets).
    #[arg(long)]
    notes: Option<PathBuf>,
    /// The commit measured, for the header.
    #[arg(long)]
    commit: Option<String>,
    /// Fewer and shorter runs (a regression guard for CI).
    #[arg(long)]
    quick: bool,
    /// Only these scenarios (comma-separated): cold-start, favorites,
    /// passthrough, storm, upload, cache-capacity, replicas.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Exit with status 1 when a target is missed.
    #[arg(long)]
    strict: bool,
    /// Record a `perf` profile of every gateway process into this directory
    /// (`bench/profile.sh` reads them).
    #[arg(long)]
    perf_dir: Option<PathBuf>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args).await {
        Ok(missed) if missed > 0 && args.strict => ExitCode::from(1),
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pixgate-bench: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: &Args) -> Result<usize, Error> {
    if let Some(unknown) = args
        .only
        .iter()
        .find(|s| !scenarios::ALL.contains(&s.as_str()))
    {
        return Err(format!(
            "unknown scenario {unknown:?}; known: {}",
            scenarios::ALL.join(", ")
        )
        .into());
    }
    let started = Instant::now();
    let load_before = report::load_average();
    let settings = Settings::new(args.quick);
    let fake = FakeImgur::start_on("127.0.0.1:0", 2, FakeConfig::default()).await?;
    // Millions of requests: counting them is enough (see set_request_log).
    fake.set_request_log(false);
    let mut bench = Bench {
        settings,
        // Absolute: the gateway runs in its own working directory.
        gateway_bin: std::fs::canonicalize(&args.gateway)
            .map_err(|e| format!("{}: {e}", args.gateway.display()))?,
        oha: args.oha.clone(),
        nginx: args.nginx.clone(),
        redis_server: args.redis_server.clone(),
        fake,
        http: reqwest::Client::new(),
        rows: Vec::new(),
        details: Vec::new(),
        perf_dir: match &args.perf_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                Some(std::fs::canonicalize(dir)?)
            }
            None => None,
        },
        started_gateways: Default::default(),
    };
    for name in scenarios::ALL {
        if !args.only.is_empty() && !args.only.iter().any(|s| s == name) {
            continue;
        }
        eprintln!(
            "pixgate-bench: {name} ({:.0} s so far)",
            started.elapsed().as_secs_f64()
        );
        let outcome = match name {
            "cold-start" => scenarios::cold_start(&mut bench).await,
            "favorites" => scenarios::favorites(&mut bench).await,
            "passthrough" => scenarios::passthrough(&mut bench).await,
            "storm" => scenarios::storm(&mut bench).await,
            "upload" => scenarios::upload(&mut bench).await,
            "replicas" => replicas::replicas(&mut bench).await,
            _ => scenarios::cache_capacity(&mut bench).await,
        };
        outcome.map_err(|e| format!("scenario {name}: {e}"))?;
    }
    bench.fake.stop().await;

    let report = Report {
        title: if args.quick {
            "pixgate benchmark results (quick mode)".into()
        } else {
            "pixgate benchmark results".into()
        },
        machine: Machine::read(),
        date: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        commit: args.commit.clone().filter(|c| !c.is_empty()),
        mode: format!(
            "{}{}",
            if args.quick { "quick" } else { "full" },
            if args.perf_dir.is_some() {
                "; gateway profiled with perf (its figures are slowed by it)"
            } else {
                ""
            }
        ),
        tools: vec![
            load::version(&args.oha),
            NginxProcess::version(&args.nginx),
            format!("pixgate binary: `{}`", args.gateway.display()),
        ],
        method: method(&bench.settings),
        rows: std::mem::take(&mut bench.rows),
        details: std::mem::take(&mut bench.details),
        notes: match &args.notes {
            Some(path) => std::fs::read_to_string(path).ok(),
            None => None,
        },
        elapsed_secs: started.elapsed().as_secs_f64(),
        load_before,
        load_after: report::load_average(),
    };
    std::fs::write(&args.out, report.render())?;
    eprintln!(
        "pixgate-bench: wrote {} in {:.0} s; {} target(s) missed",
        args.out.display(),
        started.elapsed().as_secs_f64(),
        report.missed()
    );
    Ok(report.missed())
}

/// How the figures were obtained, for the results file.
fn method(s: &Settings) -> Vec<String> {
    vec![
        "Everything runs on this machine over loopback; the load generator, the gateway, the fake Imgur (in the harness process, 2 workers, no artificial delay) and nginx share its cores.".into(),
        format!(
            "Throughput scenarios: `oha` with {} connections (keep-alive), a {} s warm-up of each side, then {} runs of {} s per side, alternating which side goes first (with three targets, rotating); the table shows medians.",
            s.connections,
            s.warmup.as_secs(),
            s.runs,
            s.duration.as_secs()
        ),
        "The gateway is the release binary, a fresh process per scenario, with its defaults (one worker per core, `RUST_LOG=info`) in an empty working directory; figures from `/proc/<pid>/status` (VmRSS now, VmHWM peak).".into(),
        "nginx: Debian's package, unprivileged, its own prefix and config (`daemon off`, one worker process per core, `access_log off`, `keepalive_requests 1000000`, `sendfile on`), serving the gateway's exact favorites bytes from a file.".into(),
        "Pass-through: three targets measured in the same rounds, each round starting one target later: the gateway, nginx as a reverse proxy in front of the same fake (`/v1/images/` to `/3/image/`, `proxy_http_version 1.1`, an upstream `keepalive 256` pool, `proxy_set_header Authorization` with a bearer token of the same account: what a gateway costs without its own work), and the fake called directly with that header.".into(),
        format!(
            "Refresh storm: 1000 concurrent requests right after the gateway's access token expired (the fake issues 4 s tokens for it; the gateway refreshes a token that short-lived in its last 2 s, and the storm starts after that point), the fake's token endpoint delayed 50 ms; {} run(s) with the connections already open (a first identical burst opened them, a second, with a valid token, is the baseline shown for context), one with 1000 new connections, and, for context, one where the fake instead rejects the still-unexpired token (every request gets Imgur's invalid-token 403 first, then the one refresh, then its replay); the client is a reqwest client in the harness.",
            s.storm_runs
        ),
        format!(
            "Upload: the same reqwest client sends the same 200 MiB multipart `video` part to the gateway and straight to the fake, {} time(s) each, alternating; throughput is size over the median time to the answer.",
            s.upload_runs
        ),
        format!(
            "Cold start: {} starts, timed from spawning the process to the first `/readyz` 200 (which includes the first token refresh); idle RSS read 250 ms later.",
            s.cold_starts
        ),
        "Cache capacity: a second fake with 150 favorites a page (about 74 KB of JSON); 1000 distinct pages read 4 at a time through a fresh gateway, once with `PIXGATE_CACHE_MAX_BYTES` = 4 MiB and once with the default (64 MiB); VmRSS read 0.5 s later; the pages then re-read newest first, counting hits. Bound used: RSS growth over idle <= capacity + 16 MiB (allocator slack, buffers).".into(),
        "Latency percentiles at 50 connections include queueing: with the load generator on the same 2 cores, p50 is roughly connections / throughput, so the pass-through's 1-connection p50 is also shown.".into(),
    ]
}
