//! The edge rules, as pure functions of a request's method and headers:
//! which `Host` names the gateway answers to (against DNS rebinding), and
//! which unsafe requests a browser page may make (against cross-site
//! request forgery). [`super`] applies them to every request.

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::Method;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The host names the gateway answers to, besides any IP literal and
/// `localhost`: the host of `PIXGATE_LISTEN` and `PIXGATE_ALLOWED_HOSTS`.
#[derive(Clone, Debug)]
pub struct AllowedHosts {
    /// `PIXGATE_ALLOWED_HOSTS=*`: every host is allowed.
    any: bool,
    /// Lowercase, without a trailing dot.
    names: Vec<String>,
}

/// An entry of `PIXGATE_ALLOWED_HOSTS` that is not a host name.
#[derive(Debug, thiserror::Error)]
#[error("PIXGATE_ALLOWED_HOSTS entries are host names without scheme or port, or `*`; got {0:?}")]
pub struct BadAllowedHost(pub String);

impl AllowedHosts {
    /// `listen` is `PIXGATE_LISTEN` (its host part is allowed); `extra`
    /// are the entries of `PIXGATE_ALLOWED_HOSTS`, `*` allowing any host.
    pub fn new(listen: &str, extra: &[String]) -> Result<Self, BadAllowedHost> {
        let mut names = Vec::new();
        if let Some((host, _)) = split_host_port(listen) {
            if let Host::Name(name) = Host::of(host) {
                names.push(name);
            }
        }
        let mut any = false;
        for entry in extra.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            if entry == "*" {
                any = true;
                continue;
            }
            match split_host_port(entry) {
                Some((host, None)) => {
                    if let Host::Name(name) = Host::of(host) {
                        names.push(name);
                    }
                }
                _ => return Err(BadAllowedHost(entry.to_owned())),
            }
        }
        Ok(Self { any, names })
    }

    /// Whether every host is allowed (`PIXGATE_ALLOWED_HOSTS=*`).
    pub fn allows_any(&self) -> bool {
        self.any
    }

    /// Checks the request's `Host`. Allowed: no `Host` at all (or an empty
    /// one, as HTTP/1.0 clients send), any IP literal, `localhost`, and the
    /// configured names, in any case, with or without a trailing dot, on
    /// any port. Refused: every other name, and anything malformed
    /// (two `Host` headers, bytes that are not a host, a bad port).
    pub fn check(&self, headers: &HeaderMap) -> Result<(), HostRefusal> {
        if self.any {
            return Ok(());
        }
        let mut values = headers.get_all(header::HOST);
        let Some(value) = values.next() else {
            return Ok(());
        };
        if values.next().is_some() {
            return Err(HostRefusal::Malformed);
        }
        if value.is_empty() {
            return Ok(());
        }
        let text = value.to_str().map_err(|_| HostRefusal::Malformed)?;
        let (host, _port) = split_host_port(text).ok_or(HostRefusal::Malformed)?;
        match Host::of(host) {
            Host::Ip(_) => Ok(()),
            Host::Name(name) if name == "localhost" || self.names.contains(&name) => Ok(()),
            Host::Name(name) => Err(HostRefusal::NotAllowed(name)),
        }
    }
}

/// Why a `Host` was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum HostRefusal {
    /// A well-formed name that is not allowed (lowercase, no trailing dot).
    NotAllowed(String),
    /// Not a `host[:port]` at all, or more than one `Host`.
    Malformed,
}

impl HostRefusal {
    /// The problem's detail.
    pub fn detail(&self) -> String {
        let fix = "Call the gateway as 127.0.0.1 or localhost, or add the name to PIXGATE_ALLOWED_HOSTS (`*` allows any, e.g. behind a reverse proxy that rewrites Host).";
        match self {
            Self::NotAllowed(name) => format!(
                "this gateway does not answer to the host name {name:?} (a protection against DNS rebinding). {fix}"
            ),
            Self::Malformed => format!("the Host header is malformed. {fix}"),
        }
    }
}

/// A host as the rules compare it.
#[derive(Debug, PartialEq, Eq)]
enum Host {
    Ip(IpAddr),
    /// Lowercase, without a trailing dot.
    Name(String),
}

impl Host {
    /// `host` as [`split_host_port`] returned it (IPv6 in brackets).
    fn of(host: &str) -> Self {
        if let Some(v6) = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .and_then(|h| h.parse::<Ipv6Addr>().ok())
        {
            return Self::Ip(IpAddr::V6(v6));
        }
        let name = host.strip_suffix('.').unwrap_or(host);
        match name.parse::<Ipv4Addr>() {
            Ok(v4) => Self::Ip(IpAddr::V4(v4)),
            Err(_) => Self::Name(name.to_ascii_lowercase()),
        }
    }
}

/// Splits `host[:port]` (an IPv6 host in brackets); `None` when it is not
/// one. A host name is letters, digits, `-`, `_` and dots, not empty.
fn split_host_port(value: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if value.starts_with('[') {
        let end = value.find(']')?;
        value[1..end].parse::<Ipv6Addr>().ok()?;
        let (host, rest) = value.split_at(end + 1);
        match rest {
            "" => (host, None),
            _ => (host, Some(rest.strip_prefix(':')?)),
        }
    } else {
        let (host, port) = match value.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (value, None),
        };
        let name_like = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && !host.starts_with('.')
            && !host.contains("..");
        if !name_like {
            return None;
        }
        (host, port)
    };
    let port = match port {
        None => None,
        Some(digits)
            if (1..=5).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some(digits.parse().ok()?)
        }
        Some(_) => return None,
    };
    Some((host, port))
}

/// The origins of `PIXGATE_CORS_ORIGINS`, which may make unsafe requests
/// from a browser.
#[derive(Clone, Debug, Default)]
pub struct TrustedOrigins(Vec<String>);

impl TrustedOrigins {
    /// Origins as `scheme://host[:port]`.
    pub fn new(origins: &[String]) -> Self {
        Self(origins.to_vec())
    }

    /// Go 1.25's `CrossOriginProtection`, with the trusted origins checked
    /// first. Safe methods (GET, HEAD, OPTIONS) always pass; any other
    /// method passes when, in this order:
    /// (a) `Origin` is a trusted origin;
    /// (b) `Sec-Fetch-Site` is present: only when it is `same-origin` or
    ///     `none` (a user's own navigation), so `same-site` (another port of
    ///     the same host) and `cross-site` are refused;
    /// (c) neither `Sec-Fetch-Site` nor `Origin` is present (not a browser,
    ///     or a browser older than 2023 on a same-origin request);
    /// (d) only `Origin` is present: when its `host[:port]` equals `Host`.
    ///
    /// An empty header counts as absent, as in Go.
    pub fn check(&self, method: &Method, headers: &HeaderMap) -> Result<(), CrossOriginRefusal> {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return Ok(());
        }
        let present = |name| headers.get(name).filter(|v: &&HeaderValue| !v.is_empty());
        let origin = present(header::ORIGIN);
        let origin_text = origin.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        if let Some(origin) = origin.and_then(|v| v.to_str().ok()) {
            if self.0.iter().any(|t| t.eq_ignore_ascii_case(origin)) {
                return Ok(());
            }
        }
        if let Some(site) = present(header::HeaderName::from_static("sec-fetch-site")) {
            return match site.as_bytes() {
                b"same-origin" | b"none" => Ok(()),
                _ => Err(CrossOriginRefusal {
                    origin: origin_text,
                    sec_fetch_site: Some(String::from_utf8_lossy(site.as_bytes()).into_owned()),
                }),
            };
        }
        let Some(origin) = origin else {
            return Ok(());
        };
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        match (origin.to_str().ok().and_then(origin_host_port), host) {
            (Some(from), Some(host)) if from.eq_ignore_ascii_case(host) => Ok(()),
            _ => Err(CrossOriginRefusal {
                origin: origin_text,
                sec_fetch_site: None,
            }),
        }
    }
}

/// The `host[:port]` of an `Origin` (`scheme://host[:port]`); `None` for
/// `null` and anything else that is not an origin.
fn origin_host_port(origin: &str) -> Option<&str> {
    let (scheme, rest) = origin.split_once("://")?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    (scheme_ok && split_host_port(rest).is_some()).then_some(rest)
}

/// Why an unsafe request was refused: what the browser said.
#[derive(Debug, PartialEq, Eq)]
pub struct CrossOriginRefusal {
    pub origin: Option<String>,
    pub sec_fetch_site: Option<String>,
}

impl CrossOriginRefusal {
    /// The problem's detail.
    pub fn detail(&self) -> String {
        let from = match (&self.origin, &self.sec_fetch_site) {
            (Some(origin), _) => format!("a web page of {origin:?}"),
            (None, Some(site)) => format!("a web page ({site})"),
            (None, None) => "a web page".to_owned(),
        };
        format!(
            "{from} may not change anything through this gateway (cross-origin request protection). Browser pages may call it from its own origin, or from an origin listed in PIXGATE_CORS_ORIGINS; scripts and curl are not affected."
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderName;

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
                HeaderValue::from_bytes(value).expect("a header value"),
            );
        }
        map
    }

    fn allowed(listen: &str, extra: &[&str]) -> AllowedHosts {
        let extra: Vec<String> = extra.iter().map(|e| e.to_string()).collect();
        AllowedHosts::new(listen, &extra).expect("valid entries")
    }

    #[test]
    fn hosts_are_allowed_by_the_dns_rebinding_rules() {
        let rules = allowed("127.0.0.1:8080", &["pixgate.lan", "Proxy.Example."]);
        let cases: &[(&str, Option<&[u8]>, bool)] = &[
            ("no Host", None, true),
            ("empty Host", Some(b""), true),
            ("IPv4", Some(b"127.0.0.1"), true),
            ("IPv4 with a port", Some(b"127.0.0.1:8080"), true),
            (
                "another IPv4 with another port",
                Some(b"192.168.1.20:1"),
                true,
            ),
            ("IPv4 with a trailing dot", Some(b"127.0.0.1.:8080"), true),
            ("IPv6 loopback in brackets", Some(b"[::1]"), true),
            ("IPv6 in brackets with a port", Some(b"[::1]:8080"), true),
            ("IPv4-mapped IPv6", Some(b"[::ffff:127.0.0.1]:80"), true),
            ("localhost", Some(b"localhost"), true),
            ("localhost with a port", Some(b"localhost:8080"), true),
            (
                "localhost with a trailing dot",
                Some(b"localhost.:8080"),
                true,
            ),
            ("LOCALHOST", Some(b"LocalHost:8080"), true),
            ("a configured name", Some(b"pixgate.lan:443"), true),
            ("a configured name in capitals", Some(b"PIXGATE.LAN"), true),
            (
                "a configured name given with a dot, sent without",
                Some(b"proxy.example"),
                true,
            ),
            (
                "a configured name sent with a dot",
                Some(b"pixgate.lan."),
                true,
            ),
            ("a rebinding name", Some(b"evil.example:8080"), false),
            (
                "a rebinding name without a port",
                Some(b"evil.example"),
                false,
            ),
            ("a subdomain of localhost", Some(b"evil.localhost"), false),
            (
                "a configured name as a suffix",
                Some(b"evilpixgate.lan"),
                false,
            ),
            (
                "a name ending in a configured one",
                Some(b"x.pixgate.lan"),
                false,
            ),
            ("bare IPv6", Some(b"::1"), false),
            ("IPv6 without its closing bracket", Some(b"[::1"), false),
            ("not IPv6 in brackets", Some(b"[localhost]"), false),
            ("junk after the brackets", Some(b"[::1]x"), false),
            ("an empty port", Some(b"localhost:"), false),
            (
                "a port that is not a number",
                Some(b"localhost:http"),
                false,
            ),
            ("a port over 65535", Some(b"localhost:65536"), false),
            ("two ports", Some(b"localhost:1:2"), false),
            ("userinfo", Some(b"user@localhost"), false),
            ("a space", Some(b"local host"), false),
            ("a path", Some(b"localhost/x"), false),
            ("a leading dot", Some(b".localhost"), false),
            ("two dots", Some(b"local..host"), false),
            ("not UTF-8", Some(b"localhost\xff"), false),
            ("a percent-encoded name", Some(b"%6cocalhost"), false),
        ];
        for (case, host, expected) in cases {
            let map = match host {
                Some(value) => headers(&[("host", value)]),
                None => HeaderMap::new(),
            };
            assert_eq!(rules.check(&map).is_ok(), *expected, "{case}");
        }
    }

    #[test]
    fn two_host_headers_are_refused_as_malformed() {
        let rules = allowed("127.0.0.1:8080", &[]);
        let map = headers(&[("host", b"127.0.0.1"), ("host", b"localhost")]);
        assert_eq!(rules.check(&map), Err(HostRefusal::Malformed));
    }

    #[test]
    fn the_listen_host_is_allowed_and_a_star_allows_any_host() {
        let evil = headers(&[("host", b"evil.example")]);
        let named = headers(&[("host", b"gateway.internal:8080")]);
        assert!(allowed("gateway.internal:8080", &[]).check(&named).is_ok());
        assert!(allowed("[::1]:8080", &[]).check(&named).is_err());
        assert!(allowed("0.0.0.0:8080", &["*"]).check(&evil).is_ok());
        assert!(allowed("0.0.0.0:8080", &["*"]).allows_any());
        assert!(!allowed("0.0.0.0:8080", &["a.b"]).allows_any());
    }

    #[test]
    fn allowed_hosts_entries_are_names_without_scheme_or_port() {
        for bad in ["http://a.example", "a.example:8080", "a b", "a/b", "[::1"] {
            assert!(
                AllowedHosts::new("127.0.0.1:8080", &[bad.to_owned()]).is_err(),
                "{bad}"
            );
        }
        let fine = [" a.example ".to_owned(), String::new(), "[::1]".to_owned()];
        assert!(AllowedHosts::new("127.0.0.1:8080", &fine).is_ok());
    }

    #[test]
    fn unsafe_requests_follow_gos_cross_origin_protection_in_order() {
        let trusted = TrustedOrigins::new(&["http://localhost:3000".to_owned()]);
        let host: (&str, &[u8]) = ("host", b"127.0.0.1:8080");
        type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a [u8])], bool);
        let cases: &[Case] = &[
            (
                "(a) a trusted origin",
                "POST",
                &[host, ("origin", b"http://localhost:3000")],
                true,
            ),
            (
                "(a) a trusted origin, cross-site",
                "POST",
                &[
                    host,
                    ("origin", b"http://localhost:3000"),
                    ("sec-fetch-site", b"cross-site"),
                ],
                true,
            ),
            (
                "(a) a trusted origin in capitals",
                "DELETE",
                &[
                    host,
                    ("origin", b"HTTP://LOCALHOST:3000"),
                    ("sec-fetch-site", b"same-site"),
                ],
                true,
            ),
            (
                "(a) a trusted origin on another port",
                "POST",
                &[
                    host,
                    ("origin", b"http://localhost:3001"),
                    ("sec-fetch-site", b"same-site"),
                ],
                false,
            ),
            (
                "(b) same-origin",
                "POST",
                &[host, ("sec-fetch-site", b"same-origin")],
                true,
            ),
            (
                "(b) none: the user's own navigation",
                "POST",
                &[host, ("sec-fetch-site", b"none")],
                true,
            ),
            (
                "(b) same-site: another port on this host",
                "POST",
                &[
                    host,
                    ("origin", b"http://127.0.0.1:9999"),
                    ("sec-fetch-site", b"same-site"),
                ],
                false,
            ),
            (
                "(b) cross-site",
                "POST",
                &[
                    host,
                    ("origin", b"https://evil.example"),
                    ("sec-fetch-site", b"cross-site"),
                ],
                false,
            ),
            (
                "(b) wins over an Origin that matches Host",
                "POST",
                &[
                    host,
                    ("origin", b"http://127.0.0.1:8080"),
                    ("sec-fetch-site", b"cross-site"),
                ],
                false,
            ),
            (
                "(b) an unknown value",
                "POST",
                &[host, ("sec-fetch-site", b"same-origin, none")],
                false,
            ),
            (
                "(b) in capitals (values are lowercase tokens)",
                "POST",
                &[host, ("sec-fetch-site", b"Same-Origin")],
                false,
            ),
            (
                "(b) not UTF-8",
                "POST",
                &[host, ("sec-fetch-site", b"same-origin\xff")],
                false,
            ),
            ("(c) neither header: curl, scripts", "POST", &[host], true),
            ("(c) neither header, no Host either", "DELETE", &[], true),
            (
                "(c) empty headers count as absent",
                "POST",
                &[host, ("origin", b""), ("sec-fetch-site", b"")],
                true,
            ),
            (
                "(d) Origin equal to Host",
                "POST",
                &[host, ("origin", b"http://127.0.0.1:8080")],
                true,
            ),
            (
                "(d) Origin equal to Host in other case",
                "PUT",
                &[
                    ("host", b"LOCALHOST:8080"),
                    ("origin", b"http://localhost:8080"),
                ],
                true,
            ),
            (
                "(d) IPv6 Origin equal to Host",
                "POST",
                &[("host", b"[::1]:8080"), ("origin", b"http://[::1]:8080")],
                true,
            ),
            (
                "(d) Origin on another port",
                "POST",
                &[host, ("origin", b"http://127.0.0.1:9999")],
                false,
            ),
            (
                "(d) Origin without the port",
                "POST",
                &[host, ("origin", b"http://127.0.0.1")],
                false,
            ),
            (
                "(d) another host",
                "PATCH",
                &[host, ("origin", b"https://evil.example")],
                false,
            ),
            (
                "(d) the null origin",
                "POST",
                &[host, ("origin", b"null")],
                false,
            ),
            (
                "(d) an Origin with a path",
                "POST",
                &[host, ("origin", b"http://127.0.0.1:8080/x")],
                false,
            ),
            (
                "(d) an Origin without a scheme",
                "POST",
                &[host, ("origin", b"127.0.0.1:8080")],
                false,
            ),
            (
                "(d) an Origin that is not UTF-8",
                "POST",
                &[host, ("origin", b"http://127.0.0.1:8080\xff")],
                false,
            ),
            (
                "(d) Origin without Host",
                "POST",
                &[("origin", b"http://127.0.0.1:8080")],
                false,
            ),
            (
                "GET is safe",
                "GET",
                &[
                    host,
                    ("origin", b"https://evil.example"),
                    ("sec-fetch-site", b"cross-site"),
                ],
                true,
            ),
            (
                "HEAD is safe",
                "HEAD",
                &[host, ("sec-fetch-site", b"cross-site")],
                true,
            ),
            (
                "OPTIONS is safe (CORS preflights)",
                "OPTIONS",
                &[host, ("sec-fetch-site", b"cross-site")],
                true,
            ),
            (
                "PUT is unsafe",
                "PUT",
                &[host, ("sec-fetch-site", b"cross-site")],
                false,
            ),
            (
                "PATCH is unsafe",
                "PATCH",
                &[host, ("sec-fetch-site", b"same-site")],
                false,
            ),
            (
                "DELETE is unsafe",
                "DELETE",
                &[host, ("sec-fetch-site", b"cross-site")],
                false,
            ),
            (
                "any other method is unsafe",
                "PURGE",
                &[host, ("sec-fetch-site", b"cross-site")],
                false,
            ),
        ];
        for (case, method, pairs, expected) in cases {
            let method = Method::from_bytes(method.as_bytes()).expect("a method");
            assert_eq!(
                trusted.check(&method, &headers(pairs)).is_ok(),
                *expected,
                "{case}"
            );
        }
    }

    #[test]
    fn a_refusal_says_which_origin_was_refused_and_how_to_allow_one() {
        let refusal = TrustedOrigins::default()
            .check(
                &Method::POST,
                &headers(&[
                    ("origin", b"https://evil.example"),
                    ("sec-fetch-site", b"cross-site"),
                ]),
            )
            .expect_err("refused");
        assert!(refusal.detail().contains("https://evil.example"));
        assert!(refusal.detail().contains("PIXGATE_CORS_ORIGINS"));
        let host = allowed("127.0.0.1:8080", &[])
            .check(&headers(&[("host", b"Evil.Example.:80")]))
            .expect_err("refused");
        assert_eq!(host, HostRefusal::NotAllowed("evil.example".into()));
        assert!(host.detail().contains("PIXGATE_ALLOWED_HOSTS"));
    }
}
