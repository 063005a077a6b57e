//! Verifying a request as Flickr's OAuth layer does: from the request
//! exactly as received (method, the URL with the `Host` it was sent to,
//! the query, the `Authorization: OAuth` header or `oauth_*` query and
//! form parameters, and the urlencoded body or multipart text fields), it
//! rebuilds the base string and recomputes the HMAC-SHA1 signature with
//! [`crate::flickr::signing`]. A mismatch is refused with Flickr's 401
//! `oauth_problem=signature_invalid&debug_sbs=<base string>`, so any signer
//! bug (another URL, method, parameter or secret) fails the tests.
//!
//! Then the timestamp must be within the window (`timestamp_refused`) and
//! the nonce new for its (key, token, timestamp) (`nonce_used`).

use super::state::{Leg, Shared};
use crate::flickr::signing;

/// The request as it arrived.
pub(crate) struct Incoming<'a> {
    pub(crate) http_method: &'a str,
    /// `http://{Host}{path}`: the base URI is computed from it.
    pub(crate) url: &'a str,
    pub(crate) authorization: Option<&'a str>,
    /// The query's pairs, decoded.
    pub(crate) query: &'a [(String, String)],
    /// The urlencoded body's pairs or the multipart text fields, decoded.
    pub(crate) fields: &'a [(String, String)],
}

/// Which token a request must be signed with.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// None (a request-token request): the key is `consumer_secret&`.
    None,
    /// A request token (the access-token exchange).
    Request,
    /// The user's access token, if any (REST and upload).
    Access,
}

/// How the endpoint refuses: the OAuth endpoints always in OAuth's form,
/// REST and upload with a `stat: fail` where Flickr does (key, token).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    OAuth,
    Api,
}

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// HTTP 401 `text/plain` `oauth_problem=…` and more pairs (`debug_sbs` last, raw).
    OAuth {
        problem: &'static str,
        extra: Vec<(&'static str, String)>,
    },
    /// `stat: fail` with this code and message.
    Stat { code: u32, message: String },
}

impl Refusal {
    fn oauth(problem: &'static str) -> Refusal {
        Refusal::OAuth {
            problem,
            extra: Vec::new(),
        }
    }

    /// A short label for the request log.
    pub(crate) fn label(&self) -> String {
        match self {
            Refusal::OAuth { problem, .. } => (*problem).to_owned(),
            Refusal::Stat { code, .. } => format!("stat {code}"),
        }
    }
}

/// A verified request.
#[derive(Debug)]
pub(crate) struct Verified {
    /// The `oauth_token` it was signed with (`None`: a consumer-only request).
    pub(crate) token: Option<String>,
    /// The OAuth protocol parameters, decoded (`oauth_callback`, `oauth_verifier`, …).
    pub(crate) protocol: Vec<(String, String)>,
}

impl Verified {
    pub(crate) fn protocol_param(&self, name: &str) -> Option<&str> {
        get(&self.protocol, name)
    }
}

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

const REQUIRED: [&str; 5] = [
    "oauth_consumer_key",
    "oauth_nonce",
    "oauth_signature",
    "oauth_signature_method",
    "oauth_timestamp",
];

/// Verifies `incoming`. Returns the outcome and the base string the fake
/// computed, if it got that far (the request log keeps it).
pub(crate) fn verify(
    shared: &Shared,
    incoming: &Incoming<'_>,
    kind: TokenKind,
    shape: Shape,
) -> (Result<Verified, Refusal>, Option<String>) {
    let config = &shared.config;
    let header = incoming
        .authorization
        .and_then(signing::parse_authorization_header);
    // The protocol parameters come from the header if there is one, else
    // from the query and the body (RFC 5849 §3.5; Flickr takes all three).
    let protocol: Vec<(String, String)> = match &header {
        Some(params) => params.clone(),
        None => incoming
            .query
            .iter()
            .chain(incoming.fields)
            .filter(|(n, _)| n.starts_with("oauth_"))
            .cloned()
            .collect(),
    };
    if protocol.is_empty() && shape == Shape::Api {
        // An unsigned call: Flickr serves public methods with a valid api_key.
        let api_key = get(incoming.query, "api_key").or_else(|| get(incoming.fields, "api_key"));
        return match api_key {
            Some(key) if key == config.api_key => (
                Ok(Verified {
                    token: None,
                    protocol,
                }),
                None,
            ),
            _ => (Err(invalid_api_key()), None),
        };
    }
    let absent: Vec<&str> = REQUIRED
        .into_iter()
        .filter(|name| get(&protocol, name).is_none())
        .collect();
    if !absent.is_empty() {
        return (
            Err(Refusal::OAuth {
                problem: "parameter_absent",
                extra: vec![("oauth_parameters_absent", absent.join("&"))],
            }),
            None,
        );
    }
    let param = |name: &str| get(&protocol, name).unwrap_or("");
    if param("oauth_consumer_key") != config.api_key {
        let refusal = match shape {
            Shape::Api => invalid_api_key(),
            Shape::OAuth => Refusal::oauth("consumer_key_unknown"),
        };
        return (Err(refusal), None);
    }
    if param("oauth_signature_method") != "HMAC-SHA1" {
        return (Err(Refusal::oauth("signature_method_rejected")), None);
    }
    if get(&protocol, "oauth_version").is_some_and(|v| v != "1.0") {
        return (Err(Refusal::oauth("version_rejected")), None);
    }

    let token = get(&protocol, "oauth_token").map(str::to_owned);
    let token_secret = match (kind, &token) {
        (TokenKind::None, _) => String::new(),
        (TokenKind::Request, None) => {
            return (
                Err(Refusal::OAuth {
                    problem: "parameter_absent",
                    extra: vec![("oauth_parameters_absent", "oauth_token".to_owned())],
                }),
                None,
            )
        }
        (TokenKind::Request, Some(token)) => match shared.state().request_tokens.get(token) {
            Some(request) => request.secret.clone(),
            None => return (Err(Refusal::oauth("token_rejected")), None),
        },
        (TokenKind::Access, None) => String::new(),
        (TokenKind::Access, Some(token)) => match shared.state().access_tokens.get(token) {
            Some(access) => access.secret.clone(),
            None => return (Err(invalid_token()), None),
        },
    };

    // Everything signed: the query, the header's parameters (not realm or
    // the signature), and the body's fields; never oauth_signature.
    let mut signed: Vec<(String, String)> = incoming.query.to_vec();
    if let Some(params) = &header {
        signed.extend(params.iter().cloned());
    }
    signed.extend(incoming.fields.iter().cloned());
    signed.retain(|(n, _)| n != "oauth_signature");
    let url = incoming.url.split('?').next().unwrap_or(incoming.url);
    let base_string = match signing::base_string(incoming.http_method, url, &signed) {
        Ok(base) => base,
        Err(_) => return (Err(Refusal::oauth("signature_invalid")), None),
    };
    let expected = signing::signature(&base_string, &config.api_secret, &token_secret);
    if param("oauth_signature") != expected {
        return (
            Err(Refusal::OAuth {
                problem: "signature_invalid",
                extra: vec![("debug_sbs", base_string.clone())],
            }),
            Some(base_string),
        );
    }

    let now = signing::unix_time();
    let window = config.timestamp_window.as_secs();
    let timestamp = param("oauth_timestamp").parse::<u64>().ok();
    let Some(timestamp) = timestamp.filter(|ts| ts.abs_diff(now) <= window) else {
        return (
            Err(Refusal::OAuth {
                problem: "timestamp_refused",
                extra: vec![(
                    "oauth_acceptable_timestamps",
                    format!("{}-{}", now.saturating_sub(window), now + window),
                )],
            }),
            Some(base_string),
        );
    };
    let mut state = shared.state();
    let nonce_key = (
        param("oauth_consumer_key").to_owned(),
        token.clone().unwrap_or_default(),
        timestamp,
        param("oauth_nonce").to_owned(),
    );
    if !state.use_nonce(nonce_key, now, window) {
        return (Err(Refusal::oauth("nonce_used")), Some(base_string));
    }
    // A revoked token is known, so its signature could be checked; Flickr
    // then answers 98 like for any invalid token.
    if kind == TokenKind::Access {
        if let Some(token) = &token {
            if state.access_tokens.get(token).is_none_or(|t| t.revoked) {
                return (Err(invalid_token()), Some(base_string));
            }
        }
    }
    if kind == TokenKind::Request {
        if let Some(token) = &token {
            let spent = state
                .request_tokens
                .get(token)
                .is_none_or(|t| matches!(t.leg, Leg::Used | Leg::Denied));
            if spent {
                return (Err(Refusal::oauth("token_rejected")), Some(base_string));
            }
        }
    }
    drop(state);
    (Ok(Verified { token, protocol }), Some(base_string))
}

fn invalid_api_key() -> Refusal {
    Refusal::Stat {
        code: 100,
        message: "Invalid API Key (Key not found)".into(),
    }
}

fn invalid_token() -> Refusal {
    Refusal::Stat {
        code: 98,
        message: "Invalid auth token".into(),
    }
}
