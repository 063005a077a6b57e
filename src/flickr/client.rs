//! The Flickr client: one method per upstream call, all going through one
//! private [`FlickrClient::send`], which signs exactly the URL it sends
//! (OAuth parameters in the `Authorization` header, marked sensitive), adds
//! the timeout, counts the call against the key's budget, reads the answer
//! with a size bound and sorts Flickr's failures into [`Error`].
//!
//! Nothing is retried here. OAuth 1.0a has no refresh, a request token is
//! single use (a retried exchange is answered `token_rejected`), and a
//! streamed upload cannot be replayed; whoever calls decides.
//!
//! Where the parameters go: a `GET` carries the method's arguments in the
//! query; a write is a `POST` with an urlencoded body (signed, RFC 5849
//! §3.4.1.3.1); the upload is multipart, signed with every text field and
//! without `photo`, as Flickr requires. Tokens never go in a URL (the
//! explicit `oauth_token` of checkToken travels in a `POST` body), so no
//! error message or log line can show one.

use super::budget::{BudgetSnapshot, CallBudget};
use super::config::FlickrConfig;
use super::credentials::{Authorization, LoginUser, Perms, RequestToken, Token, TokenCheck};
use super::error::{redact_base_string, Error};
use super::photo::{FavoritesPage, MetaUpdate, PageRequest, Photo, PhotoId};
use super::signing::{self, Credentials, Freshness, Protocol, SystemFreshness};
use super::upload::PhotoUpload;
use super::wire::{self, Answer};
use crate::upload::{FileHead, Parts, SendBody};
use bytes::Bytes;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::Method;
use serde::de::DeserializeOwned;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The largest answer read from Flickr (a 500-photo favorites page with
/// descriptions is well under this); anything longer is a bad body.
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// What a favorite call did: Flickr's "already in favorites" (add, code 3)
/// and "not in favorites" (remove, code 1) are successes that changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FavoriteChange {
    Changed,
    Unchanged,
}

/// Talks to Flickr (or the fake) at the configured base URLs.
#[derive(Clone)]
pub struct FlickrClient {
    http: reqwest::Client,
    config: Arc<FlickrConfig>,
    freshness: Arc<dyn Freshness>,
    budget: Arc<CallBudget>,
}

impl fmt::Debug for FlickrClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlickrClient")
            .field("api_url", &self.config.api_url)
            .field("upload_url", &self.config.upload_url)
            .field("oauth_url", &self.config.oauth_url)
            .finish_non_exhaustive()
    }
}

/// Where a request's arguments travel.
enum Payload {
    /// In the query string (a `GET`).
    Query,
    /// As an urlencoded body (a `POST`).
    Form,
    /// As multipart text fields, with the photo after them (the upload).
    Upload(Box<PhotoUpload>),
}

/// One signed request, as [`FlickrClient::send`] takes it.
struct Call<'a> {
    /// For logs: the Flickr method or OAuth step.
    name: &'static str,
    method: Method,
    /// The endpoint without a query.
    url: String,
    /// The arguments, decoded; all are signed.
    args: Vec<(String, String)>,
    payload: Payload,
    token: Option<&'a Token>,
    callback: Option<&'a str>,
    verifier: Option<&'a str>,
    timeout: Duration,
}

impl FlickrClient {
    /// Builds the pooled HTTP client.
    pub fn new(config: FlickrConfig) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("pixgate/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::Transport(e.to_string()))?;
        Ok(Self {
            http,
            config: Arc::new(config),
            freshness: Arc::new(SystemFreshness),
            budget: Arc::new(CallBudget::default()),
        })
    }

    /// Uses `freshness` for every nonce and timestamp (tests pin them).
    pub fn with_freshness(mut self, freshness: Arc<dyn Freshness>) -> Self {
        self.freshness = freshness;
        self
    }

    /// Calls made with the app's key in the last hour, against Flickr's 3,600.
    pub fn budget(&self) -> BudgetSnapshot {
        self.budget.snapshot()
    }

    /// Leg 1: a request token for `callback` (`oob` when the user copies the
    /// verifier from Flickr's page, as the CLI does).
    #[tracing::instrument(skip_all)]
    pub async fn request_token(&self, callback: &str) -> Result<RequestToken, Error> {
        let body = self
            .send(Call {
                callback: Some(callback),
                ..self.oauth_call("request_token", "/services/oauth/request_token")
            })
            .await?;
        wire::request_token(&body)
    }

    /// Leg 2: the page where the user grants `perms` to the request token
    /// (not signed). pixgate asks for `delete`, since its API deletes.
    pub fn authorize_url(&self, request_token: &RequestToken, perms: Perms) -> String {
        format!(
            "{}/services/oauth/authorize?oauth_token={}&perms={}",
            self.config.oauth_url,
            signing::encode(request_token.0.token.expose()),
            perms.as_str()
        )
    }

    /// Leg 3: exchanges the request token and the verifier Flickr gave the
    /// user (passed verbatim, dashes included) for the access token. Never
    /// retried: a second try is answered `token_rejected`.
    #[tracing::instrument(skip_all)]
    pub async fn access_token(
        &self,
        request_token: &RequestToken,
        verifier: &str,
    ) -> Result<Authorization, Error> {
        let body = self
            .send(Call {
                token: Some(&request_token.0),
                verifier: Some(verifier),
                ..self.oauth_call("access_token", "/services/oauth/access_token")
            })
            .await?;
        wire::authorization(&body)
    }

    /// `flickr.auth.oauth.checkToken`: the token's perms and user. Flickr
    /// answers 98 unless `oauth_token` is also passed as an argument.
    #[tracing::instrument(skip_all)]
    pub async fn check_token(&self, token: &Token) -> Result<TokenCheck, Error> {
        let args = vec![("oauth_token", token.token.expose().to_owned())];
        let answer = self
            .rest::<wire::CheckTokenAnswer>(
                "flickr.auth.oauth.checkToken",
                Method::POST,
                token,
                args,
            )
            .await?;
        ok(answer, Perms::Read)?.into_check()
    }

    /// `flickr.test.login`: who the token belongs to.
    #[tracing::instrument(skip_all)]
    pub async fn test_login(&self, token: &Token) -> Result<LoginUser, Error> {
        let answer = self
            .rest::<wire::LoginAnswer>("flickr.test.login", Method::GET, token, Vec::new())
            .await?;
        Ok(ok(answer, Perms::Read)?.into_user())
    }

    /// `flickr.photos.getInfo`.
    #[tracing::instrument(skip_all, fields(photo_id = %id))]
    pub async fn photo(&self, token: &Token, id: &PhotoId) -> Result<Photo, Error> {
        let args = vec![("photo_id", id.to_string())];
        let answer = self
            .rest::<wire::InfoAnswer>("flickr.photos.getInfo", Method::GET, token, args)
            .await?;
        Ok(ok(answer, Perms::Read)?.into_photo())
    }

    /// `flickr.photos.setMeta` (POST): sets the title and/or description;
    /// a field the update leaves out is not sent.
    #[tracing::instrument(skip_all, fields(photo_id = %id))]
    pub async fn set_meta(
        &self,
        token: &Token,
        id: &PhotoId,
        update: &MetaUpdate,
    ) -> Result<(), Error> {
        let mut args = vec![("photo_id", id.to_string())];
        if let Some(title) = update.title() {
            args.push(("title", title.to_owned()));
        }
        if let Some(description) = update.description() {
            args.push(("description", description.to_owned()));
        }
        let answer = self
            .rest::<wire::Empty>("flickr.photos.setMeta", Method::POST, token, args)
            .await?;
        ok(answer, Perms::Write).map(drop)
    }

    /// `flickr.photos.delete` (POST; needs `delete` perms).
    #[tracing::instrument(skip_all, fields(photo_id = %id))]
    pub async fn delete(&self, token: &Token, id: &PhotoId) -> Result<(), Error> {
        let args = vec![("photo_id", id.to_string())];
        let answer = self
            .rest::<wire::Empty>("flickr.photos.delete", Method::POST, token, args)
            .await?;
        ok(answer, Perms::Delete).map(drop)
    }

    /// `flickr.favorites.add` (POST); a photo already in the favorites is a success.
    #[tracing::instrument(skip_all, fields(photo_id = %id))]
    pub async fn add_favorite(&self, token: &Token, id: &PhotoId) -> Result<FavoriteChange, Error> {
        // 2: the photo is the user's own; 4: the user cannot see it.
        self.favorite_call("flickr.favorites.add", token, id, 3, &[2, 4])
            .await
    }

    /// `flickr.favorites.remove` (POST); a photo not in the favorites is a success.
    #[tracing::instrument(skip_all, fields(photo_id = %id))]
    pub async fn remove_favorite(
        &self,
        token: &Token,
        id: &PhotoId,
    ) -> Result<FavoriteChange, Error> {
        // 2: not this user's favorites; 3: user not found.
        self.favorite_call("flickr.favorites.remove", token, id, 1, &[2, 3])
            .await
    }

    /// A favorite add or remove, where Flickr's code `unchanged` means "it
    /// already was so" and the `refused` codes are the method's refusals.
    async fn favorite_call(
        &self,
        method: &'static str,
        token: &Token,
        id: &PhotoId,
        unchanged: u32,
        refused: &[u32],
    ) -> Result<FavoriteChange, Error> {
        let args = vec![("photo_id", id.to_string())];
        match self
            .rest::<wire::Empty>(method, Method::POST, token, args)
            .await?
        {
            Answer::Ok(_) => Ok(FavoriteChange::Changed),
            Answer::Fail { code, .. } if code == unchanged => Ok(FavoriteChange::Unchanged),
            Answer::Fail { code, message } if refused.contains(&code) => {
                Err(Error::Refused { code, message })
            }
            Answer::Fail { code, message } => Err(Error::from_stat(code, message, Perms::Write)),
        }
    }

    /// `flickr.favorites.getList`: one page of the token's user's favorites,
    /// with the extras the photo schema needs.
    #[tracing::instrument(skip_all, fields(page = page.page()))]
    pub async fn favorites(
        &self,
        token: &Token,
        page: PageRequest,
    ) -> Result<FavoritesPage, Error> {
        let args = vec![
            ("extras", wire::LIST_EXTRAS.to_owned()),
            ("page", page.page().to_string()),
            ("per_page", page.per_page().to_string()),
        ];
        let answer = self
            .rest::<wire::ListAnswer>("flickr.favorites.getList", Method::GET, token, args)
            .await?;
        Ok(ok(answer, Perms::Read)?.into_page())
    }

    /// Uploads a photo (multipart `POST /services/upload/`), streaming its
    /// bytes as they come; returns the new photo's id.
    #[tracing::instrument(skip_all)]
    pub async fn upload(&self, token: &Token, upload: PhotoUpload) -> Result<PhotoId, Error> {
        let args = upload
            .fields
            .text_fields()
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        let body = self
            .send(Call {
                name: "upload",
                method: Method::POST,
                url: format!("{}/services/upload/", self.config.upload_url),
                args,
                payload: Payload::Upload(Box::new(upload)),
                token: Some(token),
                callback: None,
                verifier: None,
                timeout: self.config.upload_timeout,
            })
            .await?;
        let id = ok(wire::upload(&body)?, Perms::Write)?;
        PhotoId::parse(&id).map_err(|_| Error::BadBody {
            detail: "Flickr's upload answer holds no valid photo id".into(),
        })
    }

    /// A signed call to an OAuth endpoint (`GET`, no arguments).
    fn oauth_call(&self, name: &'static str, path: &str) -> Call<'static> {
        Call {
            name,
            method: Method::GET,
            url: format!("{}{path}", self.config.oauth_url),
            args: Vec::new(),
            payload: Payload::Query,
            token: None,
            callback: None,
            verifier: None,
            timeout: self.config.timeout,
        }
    }

    /// A REST call in JSON: `method=…&format=json&nojsoncallback=1` plus
    /// `args`, in the query of a `GET` or the body of a `POST`.
    async fn rest<T: DeserializeOwned>(
        &self,
        flickr_method: &'static str,
        http_method: Method,
        token: &Token,
        args: Vec<(&'static str, String)>,
    ) -> Result<Answer<T>, Error> {
        let mut all: Vec<(String, String)> = vec![
            ("method".into(), flickr_method.into()),
            ("format".into(), "json".into()),
            ("nojsoncallback".into(), "1".into()),
        ];
        all.extend(args.into_iter().map(|(n, v)| (n.to_owned(), v)));
        let payload = if http_method == Method::GET {
            Payload::Query
        } else {
            Payload::Form
        };
        let body = self
            .send(Call {
                name: flickr_method,
                method: http_method,
                url: format!("{}/services/rest", self.config.api_url),
                args: all,
                payload,
                token: Some(token),
                callback: None,
                verifier: None,
                timeout: self.config.timeout,
            })
            .await?;
        wire::rest::<T>(&body)
    }

    /// Signs and sends one request, then sorts the answer: an OAuth
    /// refusal, 429, 503 or another error status becomes an [`Error`];
    /// any 2xx body is returned for the caller's parser.
    async fn send(&self, call: Call<'_>) -> Result<Bytes, Error> {
        let url = match call.payload {
            Payload::Query if !call.args.is_empty() => {
                format!("{}?{}", call.url, encode_pairs(&call.args))
            }
            _ => call.url,
        };
        // The query's arguments are signed from the URL itself; the others
        // (form body, multipart text fields) as extra parameters.
        let extra: &[(String, String)] = match call.payload {
            Payload::Query => &[],
            Payload::Form | Payload::Upload(_) => &call.args,
        };
        let protocol = Protocol {
            nonce: self.freshness.nonce(),
            timestamp: self.freshness.timestamp(),
            callback: call.callback.map(str::to_owned),
            verifier: call.verifier.map(str::to_owned),
            version: true,
        };
        let credentials = Credentials {
            consumer_key: self.config.api_key.expose(),
            consumer_secret: self.config.api_secret.expose(),
            token: call.token.map(|t| (t.token.expose(), t.secret.expose())),
        };
        let signed = signing::sign(call.method.as_str(), &url, extra, credentials, &protocol)?;
        let mut authorization =
            HeaderValue::from_str(&signed.authorization_header()).map_err(|_| Error::BadBody {
                detail: "the OAuth header could not be built".into(),
            })?;
        authorization.set_sensitive(true);

        let request = self
            .http
            .request(call.method, &url)
            .header(AUTHORIZATION, authorization)
            .timeout(call.timeout);
        let request = match call.payload {
            Payload::Query => request,
            Payload::Form => request
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(encode_pairs(&call.args)),
            Payload::Upload(upload) => upload_request(request, &call.args, *upload),
        };

        self.budget.record();
        let response = request.send().await.map_err(|e| transport_error(&e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let body = read_limited(response).await?;

        if let Some(problem) = wire::oauth_problem(&body) {
            let error = problem.into_error();
            if let Error::SignatureInvalid { debug_sbs } = &error {
                tracing::debug!(
                    call = call.name,
                    flickr_base_string = debug_sbs.as_deref().unwrap_or("(none sent)"),
                    our_base_string = %redact_base_string(&signed.base_string),
                    "Flickr refused the signature; compare the base strings (redacted)"
                );
            }
            return Err(error);
        }
        match status {
            200..=299 => Ok(body),
            429 => Err(Error::RateLimited { retry_after }),
            503 => Err(Error::ServiceUnavailable {
                code: None,
                message: "HTTP 503".into(),
            }),
            _ => Err(Error::Upstream { status }),
        }
    }
}

/// A REST or upload answer's payload, or its `stat: fail` sorted.
fn ok<T>(answer: Answer<T>, needed: Perms) -> Result<T, Error> {
    match answer {
        Answer::Ok(value) => Ok(value),
        Answer::Fail { code, message } => Err(Error::from_stat(code, message, needed)),
    }
}

/// `name=value&…`, each RFC 3986-encoded (what the signer decodes back).
fn encode_pairs(pairs: &[(String, String)]) -> String {
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(name, value)| format!("{}={}", signing::encode(name), signing::encode(value)))
        .collect();
    encoded.join("&")
}

/// The upload's multipart body, framed by the gateway's one encoder: the
/// text fields (all signed), then `photo` as a file part streamed from the
/// upload's body (not signed).
fn upload_request(
    request: reqwest::RequestBuilder,
    fields: &[(String, String)],
    upload: PhotoUpload,
) -> reqwest::RequestBuilder {
    let head = FileHead {
        file_name: upload.file_name,
        content_type: upload.content_type,
    };
    let text: Vec<(&str, &str)> = fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let parts = Parts {
        before: &text,
        file_field: "photo",
        after: &[],
    };
    SendBody::file(parts, &head, upload.body, upload.length).into_request(request)
}

/// Reads an answer's body, refusing more than [`MAX_RESPONSE_BYTES`].
async fn read_limited(mut response: reqwest::Response) -> Result<Bytes, Error> {
    let too_large = || Error::BadBody {
        detail: format!("Flickr's answer exceeded {MAX_RESPONSE_BYTES} bytes"),
    };
    if response
        .content_length()
        .is_some_and(|len| len > MAX_RESPONSE_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(&e))? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Sorts a reqwest failure into timeout or transport. The message carries
/// the URL, which never holds a token (see the module docs), and the causes.
fn transport_error(e: &reqwest::Error) -> Error {
    if e.is_timeout() {
        return Error::Timeout;
    }
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    Error::Transport(message)
}
