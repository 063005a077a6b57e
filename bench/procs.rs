//! The processes the harness starts: the release `pixgate` binary and the
//! nginx reference, each in its own temp dir, on a loopback port, stopped
//! when dropped. Plus the two things read from the outside: `/proc/<pid>/status`
//! and a bare HTTP/1.1 GET that costs no client-library warm-up.

use pixgate::fake_imgur::FakeImgur;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// How long a process gets to answer its first request.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Memory figures of a process, from `/proc/<pid>/status`, in KiB.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    /// Resident set size now.
    pub rss_kib: u64,
    /// Peak resident set size (high-water mark).
    pub hwm_kib: u64,
}

impl Memory {
    pub fn of(pid: u32) -> Result<Self, Error> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let field = |name: &str| -> Result<u64, Error> {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .ok_or_else(|| format!("no {name} in /proc/{pid}/status").into())
        };
        Ok(Self {
            rss_kib: field("VmRSS:")?,
            hwm_kib: field("VmHWM:")?,
        })
    }
}

/// CPU time used so far, in seconds (user + system, 10 ms resolution):
/// by this process (the harness, where the fake Imgur runs), by its
/// children that have exited (each `oha` run), and by `pid` (a gateway).
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuTimes {
    pub harness: f64,
    pub finished_children: f64,
    pub gateway: f64,
}

impl CpuTimes {
    pub fn now(gateway: u32) -> Result<Self, Error> {
        Ok(Self {
            harness: cpu_seconds("self", [14, 15])?,
            finished_children: cpu_seconds("self", [16, 17])?,
            gateway: cpu_seconds(&gateway.to_string(), [14, 15])?,
        })
    }

    /// What was used between `earlier` and `self`.
    pub fn since(&self, earlier: &CpuTimes) -> CpuTimes {
        CpuTimes {
            harness: self.harness - earlier.harness,
            finished_children: self.finished_children - earlier.finished_children,
            gateway: self.gateway - earlier.gateway,
        }
    }
}

/// The sum of two time fields (clock ticks) of `/proc/{pid}/stat`, in seconds.
fn cpu_seconds(pid: &str, fields: [usize; 2]) -> Result<f64, Error> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let values: Vec<&str> = rest.split_whitespace().collect();
    let mut sum = 0.0;
    for field in fields {
        // `field` counts from 1 as in proc(5); `rest` starts at field 3.
        let value: f64 = values
            .get(field - 3)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no field {field} in /proc/{pid}/stat"))?;
        sum += value;
    }
    // USER_HZ is 100 on Linux.
    Ok(sum / 100.0)
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> Result<u16, Error> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `GET path` on `127.0.0.1:port` with `Connection: close`: the status code
/// and the body. No client library: cold-start polling must not pay for one.
pub fn raw_get(port: u16, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let bad = || std::io::Error::other("not an HTTP answer");
    let head_end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(bad)?;
    let status = std::str::from_utf8(&answer[..head_end])
        .ok()
        .and_then(|head| head.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(bad)?;
    Ok((status, answer[head_end + 4..].to_vec()))
}

/// Sends `signal` (a `kill` name such as `TERM`) to `pid`.
fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// Signals the child, waits up to five seconds, then kills it.
fn stop_child(child: &mut Child, how: &str) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    signal(child.id(), how);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Options for one gateway process.
pub struct GatewayOptions<'a> {
    pub binary: &'a Path,
    pub fake: &'a FakeImgur,
    /// `PIXGATE_CACHE_MAX_BYTES`; the gateway's default when `None`.
    pub cache_max_bytes: Option<u64>,
    /// `PIXGATE_FAVORITES_TTL`, seconds; long, so a throughput run only hits.
    pub favorites_ttl_secs: u64,
    /// Record a `perf` profile of the ready gateway into this file.
    pub perf_data: Option<PathBuf>,
    /// `PIXGATE_REDIS_URL`: a replica sharing its state through this Redis.
    pub redis_url: Option<&'a str>,
    /// `IMGUR_REFRESH_TOKEN`; the fake's current one when `None`. Replicas
    /// of one fleet share a seed, as a deployment's replicas share settings.
    pub seed: Option<&'a str>,
}

/// The release `pixgate` binary, running as a separate process against the
/// fake, in an empty temp dir (no `.env` is read) with its own token file
/// and `TMPDIR` (where upload spools go).
pub struct GatewayProcess {
    child: Child,
    pub port: u16,
    /// From spawning the process to the first `/readyz` 200.
    pub ready_after: Duration,
    dir: tempfile::TempDir,
    perf: Option<Child>,
}

impl GatewayProcess {
    /// Starts the gateway and waits for `/readyz` to answer 200 (user mode:
    /// the first access token has been fetched and stored).
    pub fn start(options: &GatewayOptions<'_>) -> Result<Self, Error> {
        let dir = tempfile::Builder::new()
            .prefix("pixgate-bench-")
            .tempdir()?;
        let cwd = dir.path().join("cwd");
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&cwd)?;
        std::fs::create_dir(&tmp)?;
        let port = free_port()?;
        let log = File::create(dir.path().join("gateway.log"))?;
        let fake = options.fake;
        let mut command = Command::new(options.binary);
        command
            .current_dir(&cwd)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TMPDIR", &tmp)
            .env("IMGUR_CLIENT_ID", &fake.config().client_id)
            .env("IMGUR_CLIENT_SECRET", &fake.config().client_secret)
            .env(
                "IMGUR_REFRESH_TOKEN",
                options
                    .seed
                    .map_or_else(|| fake.current_refresh_token(), str::to_owned),
            )
            .env("IMGUR_API_URL", fake.base_url())
            .env("PIXGATE_TOKEN_FILE", dir.path().join("state/tokens.json"))
            .env("PIXGATE_DB", dir.path().join("state/pixgate.db"))
            // The fake counts credits like Imgur (2,000 an hour); a benchmark
            // spends more, so the credit guard must not refuse.
            .env("PIXGATE_CREDIT_RESERVE", "0")
            .env("PIXGATE_LISTEN", format!("127.0.0.1:{port}"))
            .env(
                "PIXGATE_FAVORITES_TTL",
                options.favorites_ttl_secs.to_string(),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if let Some(bytes) = options.cache_max_bytes {
            command.env("PIXGATE_CACHE_MAX_BYTES", bytes.to_string());
        }
        if let Some(url) = options.redis_url {
            command.env("PIXGATE_REDIS_URL", url);
        }
        let started = Instant::now();
        let child = command.spawn()?;
        let mut gateway = Self {
            child,
            port,
            ready_after: Duration::ZERO,
            dir,
            perf: None,
        };
        loop {
            if let Ok((200, _)) = raw_get(port, "/readyz") {
                gateway.ready_after = started.elapsed();
                if let Some(data) = &options.perf_data {
                    gateway.perf = Some(start_perf(gateway.pid(), data)?);
                }
                return Ok(gateway);
            }
            if let Ok(Some(status)) = gateway.child.try_wait() {
                return Err(format!(
                    "the gateway exited with {status} before it was ready; its log:\n{}",
                    gateway.log()
                )
                .into());
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(format!(
                    "the gateway was not ready within {START_TIMEOUT:?}; its log:\n{}",
                    gateway.log()
                )
                .into());
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn memory(&self) -> Result<Memory, Error> {
        Memory::of(self.pid())
    }

    /// Files in the gateway's `TMPDIR` (upload spools not yet removed).
    pub fn spool_files(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("tmp")).map_or(0, |dir| dir.count())
    }

    /// What the gateway logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gateway.log")).unwrap_or_default()
    }

    /// Ends the profile, if one is recorded, then stops the gateway:
    /// SIGTERM (graceful stop), then SIGKILL after five seconds.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        if let Some(perf) = &mut self.perf {
            // perf writes its file on SIGINT.
            stop_child(perf, "INT");
        }
        stop_child(&mut self.child, "TERM");
    }
}

/// `perf record` attached to `pid`, with DWARF call graphs (the release
/// build has no frame pointers), until it gets SIGINT.
fn start_perf(pid: u32, data: &Path) -> Result<Child, Error> {
    let perf = Command::new("perf")
        .args([
            "record",
            "-q",
            "-F",
            "999",
            "--call-graph",
            "dwarf,16384",
            "-o",
        ])
        .arg(data)
        .arg("-p")
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run perf: {e}"))?;
    // perf needs a moment to attach to every thread.
    std::thread::sleep(Duration::from_millis(300));
    Ok(perf)
}

/// nginx, as an unprivileged process (`nobody` when the harness runs as
/// root) with its own prefix and config, `daemon off`, on loopback, with one
/// worker process per core (the gateway's default is one worker thread per
/// core; this machine's nginx gets the same), serving a [`Site`].
pub struct NginxProcess {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

/// What the nginx reference serves.
pub enum Site<'a> {
    /// One file's bytes at `url_path`.
    File { url_path: &'a str, body: &'a [u8] },
    /// A reverse proxy: requests under `prefix` go to `upstream` with
    /// `prefix` replaced by `upstream_prefix`, over kept-alive HTTP/1.1
    /// connections, with `Authorization: {authorization}` set (what the
    /// gateway adds). `probe` is a path under `prefix` that answers 200.
    Proxy {
        prefix: &'a str,
        upstream: std::net::SocketAddr,
        upstream_prefix: &'a str,
        authorization: &'a str,
        probe: &'a str,
    },
    /// A round-robin load balancer in front of gateway replicas, over
    /// kept-alive connections. `probe` is a path that answers 200.
    Balancer {
        replicas: &'a [std::net::SocketAddr],
        probe: &'a str,
    },
}

impl NginxProcess {
    /// nginx serving `body` at `url_path`.
    pub fn start(binary: &Path, url_path: &str, body: &[u8]) -> Result<Self, Error> {
        Self::serve(binary, &Site::File { url_path, body })
    }

    /// nginx serving `site`; returns once it answered its first request.
    pub fn serve(binary: &Path, site: &Site<'_>) -> Result<Self, Error> {
        let dir = tempfile::Builder::new()
            .prefix("pixgate-bench-nginx-")
            .tempdir()?;
        let prefix = dir.path().to_owned();
        let root = prefix.join("root");
        std::fs::create_dir_all(&root)?;
        if let Site::File { url_path, body } = site {
            let file = root.join(url_path.trim_start_matches('/'));
            std::fs::create_dir_all(file.parent().ok_or("a file path")?)?;
            std::fs::write(&file, body)?;
        }
        let port = free_port()?;
        let conf = prefix.join("nginx.conf");
        std::fs::write(&conf, nginx_conf(&prefix, &root, port, site))?;
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut command = Command::new(binary);
        command
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg("stderr")
            .arg("-g")
            .arg(format!("worker_processes {workers};"))
            .stdin(Stdio::null())
            .stdout(File::create(prefix.join("stdout.log"))?)
            .stderr(File::create(prefix.join("stderr.log"))?);
        if running_as_root() {
            use std::os::unix::process::CommandExt;
            for path in walk(&prefix)? {
                std::os::unix::fs::chown(&path, Some(NOBODY), Some(NOBODY))?;
            }
            command.uid(NOBODY).gid(NOBODY);
        }
        let mut child = command.spawn()?;
        let probe = match site {
            Site::File { url_path, .. } => url_path,
            Site::Proxy { probe, .. } | Site::Balancer { probe, .. } => probe,
        };
        let started = Instant::now();
        loop {
            match raw_get(port, probe) {
                Ok((200, served)) => match site {
                    Site::File { body, .. } if served != *body => {
                        let _ = child.kill();
                        return Err("nginx answered other bytes".into());
                    }
                    _ => break,
                },
                Ok((status, _)) => {
                    let _ = child.kill();
                    return Err(format!("nginx answered {status} to {probe}").into());
                }
                Err(_) if started.elapsed() < START_TIMEOUT => {
                    if let Ok(Some(status)) = child.try_wait() {
                        let log =
                            std::fs::read_to_string(prefix.join("stderr.log")).unwrap_or_default();
                        return Err(format!("nginx exited with {status}:\n{log}").into());
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => {
                    let _ = child.kill();
                    return Err(format!("nginx did not start: {e}").into());
                }
            }
        }
        Ok(Self {
            child,
            port,
            _dir: dir,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// CPU time (user + system, seconds) used so far by the master and
    /// its worker processes (which live as long as it does).
    pub fn cpu_seconds(&self) -> Result<f64, Error> {
        let master = self.child.id();
        let children = std::fs::read_to_string(format!("/proc/{master}/task/{master}/children"))?;
        let mut total = cpu_seconds(&master.to_string(), [14, 15])?;
        for worker in children.split_whitespace() {
            total += cpu_seconds(worker, [14, 15])?;
        }
        Ok(total)
    }

    /// nginx's version line (`nginx -v` prints it on stderr).
    pub fn version(binary: &Path) -> String {
        Command::new(binary)
            .arg("-v")
            .output()
            .map(|out| String::from_utf8_lossy(&out.stderr).trim().to_owned())
            .unwrap_or_else(|_| "nginx (version unknown)".into())
    }
}

impl Drop for NginxProcess {
    fn drop(&mut self) {
        // The master stops its workers on TERM; SIGKILL would orphan them.
        stop_child(&mut self.child, "TERM");
    }
}

const NOBODY: u32 = 65534;

fn nginx_conf(prefix: &Path, root: &Path, port: u16, site: &Site<'_>) -> String {
    let p = prefix.display();
    let (upstream, location) = match site {
        Site::File { .. } => (
            String::new(),
            "location / {\n            default_type application/json;\n        }".to_owned(),
        ),
        Site::Proxy {
            prefix,
            upstream,
            upstream_prefix,
            authorization,
            ..
        } => (
            // Kept-alive upstream connections, as the gateway's client keeps them.
            format!(
                "upstream imgur {{\n        server {upstream};\n        keepalive 256;\n        keepalive_requests 1000000;\n    }}"
            ),
            format!(
                r#"location {prefix} {{
            proxy_pass http://imgur{upstream_prefix};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "{authorization}";
        }}"#
            ),
        ),
        Site::Balancer { replicas, .. } => (
            format!(
                "upstream replicas {{\n        {}\n        keepalive 256;\n        keepalive_requests 1000000;\n    }}",
                replicas
                    .iter()
                    .map(|r| format!("server {r};"))
                    .collect::<Vec<_>>()
                    .join("\n        ")
            ),
            r#"location / {
            proxy_pass http://replicas;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host 127.0.0.1;
        }"#
            .to_owned(),
        ),
    };
    format!(
        r#"daemon off;
pid {p}/nginx.pid;
error_log stderr warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    client_body_temp_path {p}/client_body;
    proxy_temp_path {p}/proxy;
    fastcgi_temp_path {p}/fastcgi;
    uwsgi_temp_path {p}/uwsgi;
    scgi_temp_path {p}/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    {upstream}
    server {{
        listen 127.0.0.1:{port};
        root {root};
        {location}
    }}
}}
"#,
        root = root.display()
    )
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Every path under `dir`, `dir` included.
fn walk(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut paths = vec![dir.to_owned()];
    let mut i = 0;
    while i < paths.len() {
        if paths[i].is_dir() {
            for entry in std::fs::read_dir(&paths[i])? {
                paths.push(entry?.path());
            }
        }
        i += 1;
    }
    Ok(paths)
}

/// A `redis-server` of its own (Debian's package), on a free port with AOF
/// on, as docs/scale-out.md configures it; stopped when dropped.
pub struct RedisProcess {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl RedisProcess {
    pub fn start(binary: &Path) -> Result<Self, Error> {
        let dir = tempfile::Builder::new()
            .prefix("pixgate-bench-redis-")
            .tempdir()?;
        let port = free_port()?;
        let child = Command::new(binary)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
            ])
            .args(["--maxmemory-policy", "noeviction", "--dir"])
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        let mut redis = Self {
            child,
            port,
            _dir: dir,
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = redis.child.try_wait() {
                return Err(format!("redis-server exited with {status}").into());
            }
            if started.elapsed() > START_TIMEOUT {
                return Err("redis-server did not start".into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        stop_child(&mut self.child, "TERM");
    }
}
