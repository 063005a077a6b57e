//! OAuth 1.0a request signing (RFC 5849, HMAC-SHA1, the only method Flickr
//! supports), as pure functions: the same inputs always give the same
//! signature, so the published test vectors pin it byte for byte, and the
//! fake Flickr verifies every request by calling [`base_string`] and
//! [`signature`] on what it received.
//!
//! The rules (RFC 5849 §3.4):
//! - **Base string**: `UPPER(method) & enc(base_uri) & enc(normalized_params)`.
//! - **Base URI** ([`base_uri`]): scheme and host lowercased, the default port
//!   dropped, no query or fragment; the path exactly as given, so the URL
//!   signed is the URL sent (trailing slash included, none added).
//! - **Parameters**: the URL's query, the `oauth_*` protocol parameters (never
//!   `realm` or `oauth_signature`), and the body only when it is single-part
//!   `application/x-www-form-urlencoded`. Flickr's upload is the one
//!   deviation: its multipart text fields are signed too, the `photo` file is
//!   not; the caller passes those fields as `extra`.
//! - **Normalization**: every name and value [`encode`]d, sorted by encoded
//!   name and then encoded value (byte order, duplicates kept), joined with
//!   `=` and `&` (an empty value keeps its `=`).
//! - **Key**: `enc(consumer_secret) & enc(token_secret)`, the `&` always there.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha1::Sha1;
use std::time::{SystemTime, UNIX_EPOCH};

/// Everything but RFC 3986's unreserved characters `A-Z a-z 0-9 - . _ ~`.
const RESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// RFC 3986 percent-encoding of the UTF-8 bytes (RFC 5849 §3.6): unreserved
/// characters stay, everything else becomes `%XX` with uppercase hex, so a
/// space is `%20` (never `+`) and `! ' ( ) *` are encoded.
pub fn encode(value: &str) -> String {
    utf8_percent_encode(value, RESERVED).to_string()
}

/// Decodes `application/x-www-form-urlencoded` text (a query or a body):
/// `+` is a space, `%XX` a byte, a pair without `=` has an empty value.
pub fn form_pairs(text: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(text.as_bytes())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

/// Why a URL cannot be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot sign {0:?}: not an absolute http(s) URL")]
pub struct InvalidUrl(pub String);

/// The base string URI of `url` (RFC 5849 §3.4.1.2): the scheme and host in
/// lowercase, the port only if it is not the scheme's default, the path as
/// given, no query and no fragment.
pub fn base_uri(url: &str) -> Result<String, InvalidUrl> {
    let invalid = || InvalidUrl(without_query(url).to_owned());
    let (scheme, rest) = url.split_once("://").ok_or_else(invalid)?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => "80",
        "https" => "443",
        _ => return Err(invalid()),
    };
    let rest = without_query(rest);
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(invalid());
    }
    // A port follows the last `:` unless that `:` is inside an IPv6 literal.
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (authority, None),
    };
    if host.is_empty()
        || port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid());
    }
    let host = host.to_ascii_lowercase();
    Ok(match port {
        Some(port) if port != default_port => format!("{scheme}://{host}:{port}{path}"),
        _ => format!("{scheme}://{host}{path}"),
    })
}

/// `url` up to its query or fragment.
fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// The decoded parameters of `url`'s query string (none without one).
pub fn query_pairs(url: &str) -> Vec<(String, String)> {
    let Some((_, query)) = url.split_once('?') else {
        return Vec::new();
    };
    form_pairs(query.split('#').next().unwrap_or(query))
}

/// The normalized parameter string (RFC 5849 §3.4.1.3.2) of decoded pairs.
pub fn normalized_parameters<N, V>(params: &[(N, V)]) -> String
where
    N: AsRef<str>,
    V: AsRef<str>,
{
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .map(|(name, value)| (encode(name.as_ref()), encode(value.as_ref())))
        .collect();
    encoded.sort();
    let pairs: Vec<String> = encoded
        .into_iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    pairs.join("&")
}

/// The signature base string of a request (RFC 5849 §3.4.1): `url`'s query
/// parameters are added to `params`, which hold everything else signed (the
/// protocol parameters and any body fields), decoded.
pub fn base_string<N, V>(method: &str, url: &str, params: &[(N, V)]) -> Result<String, InvalidUrl>
where
    N: AsRef<str>,
    V: AsRef<str>,
{
    let uri = base_uri(url)?;
    let mut all: Vec<(String, String)> = query_pairs(url);
    all.extend(
        params
            .iter()
            .map(|(n, v)| (n.as_ref().to_owned(), v.as_ref().to_owned())),
    );
    Ok(format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        encode(&uri),
        encode(&normalized_parameters(&all))
    ))
}

/// The HMAC-SHA1 signature of a base string (RFC 5849 §3.4.2), base64 and not
/// yet percent-encoded. The token secret is empty for a request token.
pub fn signature(base_string: &str, consumer_secret: &str, token_secret: &str) -> String {
    let key = format!("{}&{}", encode(consumer_secret), encode(token_secret));
    // HMAC takes a key of any length, so this never fails.
    let mut mac = match Hmac::<Sha1>::new_from_slice(key.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(base_string.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The credentials a request is signed with. The secrets never leave this
/// module except inside the signature.
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    /// The app's consumer key (Flickr's API key), sent as `oauth_consumer_key`.
    pub consumer_key: &'a str,
    /// The app's consumer secret (Flickr's API secret).
    pub consumer_secret: &'a str,
    /// The token (request or access) and its secret; `None` for a request token.
    pub token: Option<(&'a str, &'a str)>,
}

/// The per-request protocol parameters besides the credentials.
#[derive(Clone, Debug, Default)]
pub struct Protocol {
    /// Unique per (timestamp, credentials) (RFC 5849 §3.3).
    pub nonce: String,
    /// Unix seconds.
    pub timestamp: u64,
    /// `oauth_callback` of a request-token request (`oob` when there is none).
    pub callback: Option<String>,
    /// `oauth_verifier` of an access-token request.
    pub verifier: Option<String>,
    /// Whether to send `oauth_version=1.0` (optional in RFC 5849, omitted
    /// ones stay omitted; Flickr's examples send it).
    pub version: bool,
}

/// A signed request's protocol parameters, `oauth_signature` last.
#[derive(Clone, Debug)]
pub struct Signed {
    /// The `oauth_*` parameters including `oauth_signature`, decoded.
    pub oauth_params: Vec<(String, String)>,
    /// The base string that was signed (it holds the token; log it only redacted).
    pub base_string: String,
}

impl Signed {
    /// The signature (base64, not percent-encoded).
    pub fn signature(&self) -> &str {
        self.oauth_params
            .iter()
            .find(|(name, _)| name == "oauth_signature")
            .map(|(_, value)| value.as_str())
            .unwrap_or("")
    }

    /// The `Authorization: OAuth …` header value (RFC 5849 §3.5.1): every
    /// name and value encoded, values quoted, separated by `, `.
    pub fn authorization_header(&self) -> String {
        let params: Vec<String> = self
            .oauth_params
            .iter()
            .map(|(name, value)| format!("{}=\"{}\"", encode(name), encode(value)))
            .collect();
        format!("OAuth {}", params.join(", "))
    }
}

/// Signs a request: `method`, the `url` exactly as it will be sent (its query
/// is signed), and `extra`, the decoded parameters that travel elsewhere (an
/// urlencoded body, or the text fields of Flickr's multipart upload).
pub fn sign<N, V>(
    method: &str,
    url: &str,
    extra: &[(N, V)],
    credentials: Credentials<'_>,
    protocol: &Protocol,
) -> Result<Signed, InvalidUrl>
where
    N: AsRef<str>,
    V: AsRef<str>,
{
    let mut oauth: Vec<(String, String)> = Vec::with_capacity(8);
    if let Some(callback) = &protocol.callback {
        oauth.push(("oauth_callback".into(), callback.clone()));
    }
    oauth.push(("oauth_consumer_key".into(), credentials.consumer_key.into()));
    oauth.push(("oauth_nonce".into(), protocol.nonce.clone()));
    oauth.push(("oauth_signature_method".into(), "HMAC-SHA1".into()));
    oauth.push(("oauth_timestamp".into(), protocol.timestamp.to_string()));
    if let Some((token, _)) = credentials.token {
        oauth.push(("oauth_token".into(), token.into()));
    }
    if let Some(verifier) = &protocol.verifier {
        oauth.push(("oauth_verifier".into(), verifier.clone()));
    }
    if protocol.version {
        oauth.push(("oauth_version".into(), "1.0".into()));
    }
    let mut params: Vec<(String, String)> = oauth.clone();
    params.extend(
        extra
            .iter()
            .map(|(n, v)| (n.as_ref().to_owned(), v.as_ref().to_owned())),
    );
    let base_string = base_string(method, url, &params)?;
    let token_secret = credentials.token.map_or("", |(_, secret)| secret);
    let signature = signature(&base_string, credentials.consumer_secret, token_secret);
    oauth.push(("oauth_signature".into(), signature));
    Ok(Signed {
        oauth_params: oauth,
        base_string,
    })
}

/// The parameters of an `Authorization: OAuth …` header, decoded, `realm`
/// dropped; `None` if the header is not of the OAuth scheme or malformed.
pub fn parse_authorization_header(header: &str) -> Option<Vec<(String, String)>> {
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(char::is_whitespace)
        .unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("OAuth") {
        return None;
    }
    let mut params = Vec::new();
    for item in rest.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, value) = item.split_once('=')?;
        let value = value.trim().strip_prefix('"')?.strip_suffix('"')?;
        let name = percent_decode(name.trim())?;
        if name != "realm" {
            params.push((name, percent_decode(value)?));
        }
    }
    Some(params)
}

/// Strict percent-decoding (no `+` rule), `None` for invalid UTF-8.
fn percent_decode(value: &str) -> Option<String> {
    percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// The current time in Unix seconds, as `oauth_timestamp` counts it.
pub fn unix_time() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Where a client gets each request's nonce and timestamp; tests inject
/// fixed ones to pin a signature or provoke a refusal.
pub trait Freshness: Send + Sync {
    /// A new nonce, unique per request.
    fn nonce(&self) -> String;
    /// The current time in Unix seconds.
    fn timestamp(&self) -> u64;
}

/// The real clock and 16 random bytes as 32 hex digits (unreserved
/// characters only, so the nonce reads the same encoded and decoded).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemFreshness;

impl Freshness for SystemFreshness {
    fn nonce(&self) -> String {
        format!("{:032x}", rand::random::<u128>())
    }

    fn timestamp(&self) -> u64 {
        unix_time()
    }
}

#[cfg(test)]
mod tests {
    //! Every vector of `flickr-api.md` §3, byte-exact.

    use super::*;

    /// The RFC 5849 §1.2 client's credentials, with `token` if any.
    fn rfc(token: Option<(&'static str, &'static str)>) -> Credentials<'static> {
        Credentials {
            consumer_key: "dpf43f3p2l4k3l03",
            consumer_secret: "kd94hf93k423kf44",
            token,
        }
    }

    fn protocol(nonce: &str, timestamp: u64) -> Protocol {
        Protocol {
            nonce: nonce.into(),
            timestamp,
            ..Protocol::default()
        }
    }

    const NO_EXTRA: &[(&str, &str)] = &[];

    /// V1's request, signed for `url`.
    fn v1(url: &str) -> Signed {
        let protocol = Protocol {
            callback: Some("http://printer.example.com/ready".into()),
            ..protocol("wIjqoS", 137131200)
        };
        sign("POST", url, NO_EXTRA, rfc(None), &protocol).unwrap()
    }

    #[test]
    fn v1_rfc_temporary_credentials_request_matches() {
        let signed = v1("https://photos.example.net/initiate");
        assert_eq!(
            signed.base_string,
            "POST&https%3A%2F%2Fphotos.example.net%2Finitiate&oauth_callback%3Dhttp%253A%252F%252Fprinter.example.com%252Fready%26oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3DwIjqoS%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131200"
        );
        assert_eq!(signed.signature(), "74KNZJeDHnMBp0EMJ9ZHt/XKycU=");
    }

    #[test]
    fn v1_signed_over_http_instead_of_https_does_not_match() {
        let signed = v1("http://photos.example.net/initiate");
        assert_ne!(signed.signature(), "74KNZJeDHnMBp0EMJ9ZHt/XKycU=");
    }

    #[test]
    fn v2_rfc_token_request_matches() {
        let signed = sign(
            "POST",
            "https://photos.example.net/token",
            NO_EXTRA,
            rfc(Some(("hh5s93j4hdidpola", "hdhd0244k9j7ao03"))),
            &Protocol {
                verifier: Some("hfdp7dh39dks9884".into()),
                ..protocol("walatlh", 137131201)
            },
        )
        .unwrap();
        assert_eq!(signed.signature(), "gKgrFCywp7rO0OXSjdot/IHF7IU=");
    }

    #[test]
    fn v3_rfc_resource_request_over_http_matches() {
        let signed = sign(
            "GET",
            "http://photos.example.net/photos?file=vacation.jpg&size=original",
            NO_EXTRA,
            rfc(Some(("nnch734d00sl2jdk", "pfkkdhi9sl3r4s00"))),
            &protocol("chapoH", 137131202),
        )
        .unwrap();
        assert_eq!(
            signed.base_string,
            "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3DchapoH%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131202%26oauth_token%3Dnnch734d00sl2jdk%26size%3Doriginal"
        );
        assert_eq!(signed.signature(), "MdpQcU8iPSUjWoN/UDMsK2sui9I=");
    }

    #[test]
    fn v4_oauth_core_appendix_a_with_version_matches() {
        let signed = sign(
            "GET",
            "http://photos.example.net/photos?file=vacation.jpg&size=original",
            NO_EXTRA,
            rfc(Some(("nnch734d00sl2jdk", "pfkkdhi9sl3r4s00"))),
            &Protocol {
                version: true,
                ..protocol("kllo9940pd9333jh", 1191242096)
            },
        )
        .unwrap();
        assert_eq!(signed.signature(), "tR3+Ty81lMeYAr/Fid0kMTYa/WM=");
    }

    fn v5(url: &str, token_secret: Option<&str>) -> Result<Signed, InvalidUrl> {
        // V5b signs with a token secret but no oauth_token parameter, so the
        // secret goes straight into the key.
        let protocol = Protocol {
            callback: Some("http://www.wackylabs.net/oauth/test".into()),
            version: true,
            ..protocol("C2F26CD5C075BA9050AD8EE90644CF29", 1316657628)
        };
        let credentials = Credentials {
            consumer_key: "768fe946d252b119746fda82e1599980",
            consumer_secret: "1a3c208e172d3edc",
            token: None,
        };
        let signed = sign("GET", url, NO_EXTRA, credentials, &protocol)?;
        Ok(match token_secret {
            None => signed,
            Some(secret) => {
                let sig = signature(&signed.base_string, credentials.consumer_secret, secret);
                let mut params = signed.oauth_params;
                if let Some(last) = params.last_mut() {
                    last.1 = sig;
                }
                Signed {
                    oauth_params: params,
                    base_string: signed.base_string,
                }
            }
        })
    }

    #[test]
    fn v5_flickr_request_token_matches() {
        let signed = v5("http://www.flickr.com/services/oauth/request_token", None).unwrap();
        assert_eq!(
            signed.base_string,
            "GET&http%3A%2F%2Fwww.flickr.com%2Fservices%2Foauth%2Frequest_token&oauth_callback%3Dhttp%253A%252F%252Fwww.wackylabs.net%252Foauth%252Ftest%26oauth_consumer_key%3D768fe946d252b119746fda82e1599980%26oauth_nonce%3DC2F26CD5C075BA9050AD8EE90644CF29%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1316657628%26oauth_version%3D1.0"
        );
        assert_eq!(signed.signature(), "0fhNGlzpFNAsTme/hDfUb5HPB5U=");
    }

    #[test]
    fn v5b_flickr_request_token_with_a_token_secret_matches() {
        let signed = v5(
            "http://www.flickr.com/services/oauth/request_token",
            Some("token12345secret"),
        )
        .unwrap();
        assert_eq!(signed.signature(), "dXyfrCetFSTpzD3djSrkFhj0MIQ=");
    }

    #[test]
    fn v5_over_https_matches_the_derived_value() {
        let signed = v5("https://www.flickr.com/services/oauth/request_token", None).unwrap();
        assert_eq!(signed.signature(), "C2dT+JtfKMQ/IGjezSsQS/OoeV8=");
    }

    #[test]
    fn v6_sdk_params_without_oauth_match_with_and_without_a_token_secret() {
        let params = [("foo", "123"), ("bar", "456")];
        let base = base_string("GET", "http://www.example.com", &params).unwrap();
        assert_eq!(
            base,
            "GET&http%3A%2F%2Fwww.example.com&bar%3D456%26foo%3D123"
        );
        assert_eq!(
            signature(&base, "consumer secret", ""),
            "lNBTzyWRRHBuoXmgK13Nht5oiKs="
        );
        assert_eq!(
            signature(&base, "consumer secret", "keyboard cat"),
            "pytjoWTzMmvq13/Bai9YVX1tV9c="
        );
    }

    #[test]
    fn v7_twitter_guide_with_space_plus_bang_and_comma_matches() {
        let body = form_pairs(
            "status=Hello%20Ladies%20%2B%20Gentlemen%2C%20a%20signed%20OAuth%20request%21",
        );
        assert_eq!(
            body[0].1,
            "Hello Ladies + Gentlemen, a signed OAuth request!"
        );
        let signed = sign(
            "POST",
            "https://api.twitter.com/1.1/statuses/update.json?include_entities=true",
            &body,
            Credentials {
                consumer_key: "xvz1evFS4wEEPTGEFPHBog",
                consumer_secret: "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
                token: Some((
                    "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
                    "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
                )),
            },
            &Protocol {
                version: true,
                ..protocol("kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg", 1318622958)
            },
        )
        .unwrap();
        assert_eq!(signed.signature(), "hCtSmYh+iHYCEqBWrE7C7hYmtUk=");
    }

    #[test]
    fn rfc_3_4_1_1_base_string_example_matches() {
        // Host example.com, form body `c2&a3=2+q`, header params as listed.
        let mut params = form_pairs("c2&a3=2+q");
        let header = parse_authorization_header(
            r#"OAuth realm="Example", oauth_consumer_key="9djdj82h48djs9d2", oauth_token="kkk9d7dh3k39sjv7", oauth_signature_method="HMAC-SHA1", oauth_timestamp="137131201", oauth_nonce="7d8f3e4a", oauth_signature="djosJKDKJSD8743243%2Fjdk33klY%3D""#,
        )
        .unwrap();
        params.extend(header.into_iter().filter(|(n, _)| n != "oauth_signature"));
        let base = base_string(
            "POST",
            "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b",
            &params,
        )
        .unwrap();
        assert_eq!(
            base,
            "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7"
        );
    }

    #[test]
    fn flickr_doc_request_token_base_string_matches() {
        let signed = sign(
            "GET",
            "https://www.flickr.com/services/oauth/request_token",
            NO_EXTRA,
            Credentials {
                consumer_key: "653e7a6ecc1d528c516cc8f92cf98611",
                consumer_secret: "unpublished",
                token: None,
            },
            &Protocol {
                callback: Some("http://www.example.com".into()),
                version: true,
                ..protocol("95613465", 1305586162)
            },
        )
        .unwrap();
        assert_eq!(
            signed.base_string,
            "GET&https%3A%2F%2Fwww.flickr.com%2Fservices%2Foauth%2Frequest_token&oauth_callback%3Dhttp%253A%252F%252Fwww.example.com%26oauth_consumer_key%3D653e7a6ecc1d528c516cc8f92cf98611%26oauth_nonce%3D95613465%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1305586162%26oauth_version%3D1.0"
        );
    }

    #[test]
    fn sdk_double_encoding_of_sub_delims_matches() {
        let base = base_string("GET", "http://www.example.com", &[("foo", "!'()*")]).unwrap();
        assert!(base.ends_with("&foo%3D%2521%2527%2528%2529%252A"), "{base}");
    }

    #[test]
    fn upload_signature_covers_every_text_field_and_not_the_photo() {
        let fields = [
            ("title", "Sunset ünd Meer"),
            ("description", "<b>limited</b> HTML & more"),
            ("tags", "sea \"sun set\""),
            ("is_public", "1"),
            ("is_friend", "0"),
            ("is_family", "0"),
            ("safety_level", "1"),
            ("hidden", "2"),
        ];
        let credentials = Credentials {
            consumer_key: "key",
            consumer_secret: "secret",
            token: Some(("token", "token-secret")),
        };
        let signed = sign(
            "POST",
            "https://up.flickr.com/services/upload/",
            &fields,
            credentials,
            &protocol("n", 1),
        )
        .unwrap();
        let params = signed.base_string.split('&').nth(2).unwrap();
        for (name, value) in fields {
            let pair = encode(&format!("{}={}", encode(name), encode(value)));
            assert!(params.contains(&pair), "{name} is signed: {params}");
        }
        assert!(!signed.base_string.contains("photo"), "photo is not signed");
        // Dropping any one field changes the signature: each one is covered.
        for skip in 0..fields.len() {
            let fewer: Vec<_> = fields
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, f)| *f)
                .collect();
            let other = sign(
                "POST",
                "https://up.flickr.com/services/upload/",
                &fewer,
                credentials,
                &protocol("n", 1),
            )
            .unwrap();
            assert_ne!(other.signature(), signed.signature(), "field {skip}");
        }
    }

    #[test]
    fn encode_keeps_only_unreserved_characters_with_uppercase_hex() {
        assert_eq!(encode("AZaz09-._~"), "AZaz09-._~");
        assert_eq!(encode("a b+c/d?e=f&g"), "a%20b%2Bc%2Fd%3Fe%3Df%26g");
        assert_eq!(encode("é"), "%C3%A9");
        assert_eq!(encode("日本"), "%E6%97%A5%E6%9C%AC");
    }

    #[test]
    fn base_uri_normalizes_scheme_host_and_default_port_only() {
        let cases = [
            (
                "HTTP://Example.COM:80/r%20v/X?id=123",
                "http://example.com/r%20v/X",
            ),
            (
                "https://www.example.net:8080/?q=1",
                "https://www.example.net:8080/",
            ),
            (
                "https://api.flickr.com:443/services/rest/",
                "https://api.flickr.com/services/rest/",
            ),
            (
                "http://127.0.0.1:4567/services/rest#frag",
                "http://127.0.0.1:4567/services/rest",
            ),
            ("http://[::1]:80/x", "http://[::1]/x"),
            ("http://www.example.com", "http://www.example.com"),
        ];
        for (url, expected) in cases {
            assert_eq!(base_uri(url).as_deref(), Ok(expected), "{url}");
        }
        for bad in [
            "ftp://x/y",
            "/relative",
            "http://",
            "http://u:p@host/",
            "http://h:x/",
        ] {
            assert!(base_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn duplicate_names_are_kept_and_sorted_by_value() {
        assert_eq!(
            normalized_parameters(&[("a", "2"), ("a", "1"), ("b", ""), ("a", "1")]),
            "a=1&a=1&a=2&b="
        );
    }

    #[test]
    fn authorization_header_round_trips_through_the_parser() {
        let signed = sign(
            "GET",
            "https://api.flickr.com/services/rest?method=flickr.test.login",
            NO_EXTRA,
            Credentials {
                consumer_key: "k",
                consumer_secret: "s",
                token: Some(("t", "ts")),
            },
            &Protocol {
                callback: Some("http://x/cb?a=1&b=2 3".into()),
                ..protocol("n0nce", 42)
            },
        )
        .unwrap();
        let header = signed.authorization_header();
        assert!(
            header.starts_with("OAuth oauth_callback=\"http%3A%2F%2Fx%2Fcb%3Fa%3D1%26b%3D2%203\"")
        );
        assert_eq!(
            parse_authorization_header(&header),
            Some(signed.oauth_params)
        );
        assert_eq!(parse_authorization_header("Bearer abc"), None);
        assert_eq!(parse_authorization_header("OAuth a=unquoted"), None);
    }
}
