//! The Imgur API client: one method per upstream call, all going through one
//! private [`ImgurClient::send`] that adds the `Authorization` header, the
//! timeout and the single refresh-and-replay, reads the answer with a size
//! bound and unwraps the envelope or sorts the error.

use super::credits::{BudgetView, Cost, CreditGuard, Observation, Outcome};
use super::error::{Error, ErrorKind, RateLimits};
use super::token_store::{StoreError, TokenStore};
use super::tokens::AccessToken;
use super::tokens::TokenOwner;
use super::wire;
use crate::config::ImgurConfig;
use crate::metrics::Metrics;
use crate::model::{FavoritesSort, ImageId, ImageUpdate, ResponseType};
use crate::upload::{ImageUpload, Live, Parts, SendBody, UploadFields, UploadSource};
use bytes::Bytes;
use reqwest::{Method, RequestBuilder};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The largest answer read from Imgur; anything longer is a 502, not a
/// memory spike.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// Uploads get this much extra time per byte: the limit assumes at least
/// 256 KiB/s towards Imgur.
const UPLOAD_BYTES_PER_SECOND: u64 = 256 * 1024;

/// An Imgur answer's `data` plus its rate-limit headers.
#[derive(Debug)]
pub struct Reply<T> {
    pub data: T,
    pub rate_limits: RateLimits,
}

/// Which credentials a call needs.
#[derive(Clone, Copy)]
pub(super) enum Auth {
    /// The user's bearer token; refused locally in anonymous mode.
    User,
    /// The user's token in user mode, else the app's `Client-ID`.
    Either,
}

/// Talks to Imgur (or the fake) at the configured base URL.
#[derive(Clone)]
pub struct ImgurClient {
    http: reqwest::Client,
    /// `{IMGUR_API_URL or IMGUR_RAPIDAPI_URL}/3`.
    api: String,
    /// `IMGUR_API_URL`: the authorize page (and the token endpoint) stay
    /// there even with RapidAPI.
    oauth: String,
    /// `x-rapidapi-host` and `x-rapidapi-key`, with `IMGUR_RAPIDAPI_KEY`.
    rapidapi: Option<(String, crate::secret::Secret)>,
    /// The owner of Imgur's credit budget.
    credits: Arc<CreditGuard>,
    client_id: String,
    tokens: TokenOwner,
    timeout: Duration,
    metrics: Arc<Metrics>,
    /// Set when Imgur answered a chunked upload with 411 Length Required.
    chunked_refused: Arc<AtomicBool>,
}

impl ImgurClient {
    /// Counts the credit budget in `budget` (shared by replicas) instead of
    /// in this process, with the same reserve.
    pub fn with_credit_budget(mut self, budget: Arc<dyn super::CreditBudget>) -> Self {
        self.credits = Arc::new(CreditGuard::with_budget(
            budget,
            self.credits.kept_back().clone(),
            Arc::clone(&self.metrics),
        ));
        self
    }

    /// Builds the pooled HTTP client and opens the token store.
    pub fn new(
        config: &ImgurConfig,
        store: Arc<dyn TokenStore>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, StoreError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("pixgate/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.connect_timeout.min(config.timeout))
            .read_timeout(config.read_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| StoreError::Read {
                path: store.location().into(),
                source: std::io::Error::other(e),
            })?;
        let tokens = TokenOwner::open(config, store, http.clone(), Arc::clone(&metrics))?;
        let (api, rapidapi) = match &config.rapidapi {
            Some(rapid) => (
                format!("{}/3", rapid.url),
                Some((rapid.host(), rapid.key.clone())),
            ),
            None => (format!("{}/3", config.api_url), None),
        };
        Ok(Self {
            http,
            credits: Arc::new(CreditGuard::new(
                config.credit_reserve.clone(),
                Arc::clone(&metrics),
            )),
            metrics,
            api,
            oauth: config.api_url.clone(),
            rapidapi,
            client_id: config.client_id.clone(),
            tokens,
            timeout: config.timeout,
            chunked_refused: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Imgur's authorize page for this app, answering with `response_type`
    /// and echoing `state`.
    pub fn authorize_url(&self, response_type: ResponseType, state: &str) -> String {
        let base = &self.oauth;
        let mut url = match reqwest::Url::parse(&format!("{base}/oauth2/authorize")) {
            Ok(url) => url,
            Err(_) => return format!("{base}/oauth2/authorize"),
        };
        url.query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("response_type", response_type.as_str())
            .append_pair("state", state);
        url.into()
    }

    /// `.../3`, where every API call goes.
    pub(super) fn api_base(&self) -> &str {
        &self.api
    }

    pub(super) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The limit of one ordinary call.
    pub(super) fn call_timeout(&self) -> Duration {
        self.timeout
    }

    /// The token owner (mode, account, readiness).
    pub fn tokens(&self) -> &TokenOwner {
        &self.tokens
    }

    /// `GET /3/account/me`.
    pub async fn account(&self) -> Result<Reply<Bytes>, Error> {
        let url = format!("{}/account/me", self.api);
        self.send("account", Auth::User, self.timeout, || {
            self.plain(Method::GET, &url)
        })
        .await
    }

    /// `GET /3/account/{username}/favorites/{page}/{sort}`.
    pub async fn favorites(
        &self,
        username: &str,
        page: u32,
        sort: FavoritesSort,
    ) -> Result<Reply<Bytes>, Error> {
        let url = format!(
            "{}/account/{username}/favorites/{page}/{}",
            self.api,
            sort.as_str()
        );
        self.send("favorites", Auth::User, self.timeout, || {
            self.plain(Method::GET, &url)
        })
        .await
    }

    /// `GET /3/image/{id}`.
    pub async fn image(&self, id: &ImageId) -> Result<Reply<Bytes>, Error> {
        self.image_as(id, Auth::Either).await
    }

    /// `GET /3/image/{id}` as the user, for its `favorite` field (which
    /// means something only then); refused locally in anonymous mode.
    pub async fn image_as_user(&self, id: &ImageId) -> Result<Reply<Bytes>, Error> {
        self.image_as(id, Auth::User).await
    }

    async fn image_as(&self, id: &ImageId, auth: Auth) -> Result<Reply<Bytes>, Error> {
        let url = format!("{}/image/{id}", self.api);
        self.send("image", auth, self.timeout, || {
            self.plain(Method::GET, &url)
        })
        .await
    }

    /// `POST /3/image` with one of `image` (file or URL) or `video`,
    /// from the spool, unless the live attempt ([`ImgurClient::upload_live`])
    /// already got Imgur's answer. After a rejected token the body is
    /// rebuilt from the spool for the one replay.
    pub async fn upload(
        &self,
        upload: &ImageUpload,
        first_attempt: LiveAttempt,
    ) -> Result<Reply<Bytes>, Error> {
        let url = format!("{}/image", self.api);
        let timeout = self.upload_timeout(upload.size());
        let build = || async {
            let body = upload_body(upload).await?;
            Ok(body.into_request(self.http.post(&url)))
        };
        match first_attempt {
            LiveAttempt::NotStarted | LiveAttempt::Incomplete => {
                self.send("upload", Auth::Either, timeout, build).await
            }
            LiveAttempt::Answered { token, result } => match result {
                Err(error) if matches!(error.kind, ErrorKind::InvalidToken) => {
                    let token = self.after_rejection(token, false, error).await?;
                    self.send_with("upload", Some(token), true, timeout, build)
                        .await
                }
                result => result,
            },
        }
    }

    /// The first attempt at a file upload, sent while the client is still
    /// sending the video (`live`): `POST /3/image` with a chunked body in
    /// Imgur's format, the file, then `type` and the text fields, as
    /// [`ImgurClient::upload`] sends them from the spool. Only a video goes
    /// live, so its field is `video`.
    pub async fn upload_live(&self, live: Live) -> LiveAttempt {
        if self.chunked_refused.load(Ordering::Relaxed) {
            return LiveAttempt::NotStarted;
        }
        let Some(start) = live.start().await else {
            return LiveAttempt::NotStarted;
        };
        let token = match self.credentials(Auth::Either).await {
            Ok(token) => token,
            Err(error) => {
                return LiveAttempt::Answered {
                    token: None,
                    result: Err(error),
                }
            }
        };
        let timeout = self.upload_timeout(start.size_hint());
        let (body, completion) = start.body(media_field(true), imgur_fields_after_media);
        let request = body.into_request(self.http.post(format!("{}/image", self.api)));
        let result = self
            .attempt("upload", token.as_ref(), timeout, request)
            .await;
        match result {
            // A server that wants a Content-Length: every upload from the spool.
            Err(error) if matches!(error.upstream_status, Some(411)) => {
                tracing::warn!("Imgur refused a chunked upload (411); uploads wait for the whole file from now on");
                self.chunked_refused.store(true, Ordering::Relaxed);
                LiveAttempt::Incomplete
            }
            // Imgur cannot have stored a body that did not end.
            Err(error) if error.upstream_status.is_none() && !completion.is_complete() => {
                tracing::debug!(error = %error, "the live upload did not complete; sending it from the spool");
                LiveAttempt::Incomplete
            }
            result => LiveAttempt::Answered { token, result },
        }
    }

    /// An upload's time limit: the usual one plus time for its bytes.
    fn upload_timeout(&self, size: u64) -> Duration {
        self.timeout + Duration::from_secs(size / UPLOAD_BYTES_PER_SECOND)
    }

    /// `POST /3/image/{id}` with `title` and/or `description` (Imgur answers `true`).
    pub async fn update_image(
        &self,
        id: &ImageId,
        update: &ImageUpdate,
    ) -> Result<Reply<()>, Error> {
        let url = format!("{}/image/{id}", self.api);
        let mut fields: Vec<(&str, &str)> = Vec::new();
        if let Some(title) = &update.title {
            fields.push(("title", title));
        }
        if let Some(description) = &update.description {
            fields.push(("description", description));
        }
        let reply = self
            .send("update_image", Auth::Either, self.timeout, || async {
                Ok(self.http.post(&url).form(&fields))
            })
            .await?;
        Ok(Reply {
            data: (),
            rate_limits: reply.rate_limits,
        })
    }

    /// `DELETE /3/image/{id or deletehash}`.
    pub async fn delete_image(&self, id: &ImageId) -> Result<Reply<()>, Error> {
        let url = format!("{}/image/{id}", self.api);
        let reply = self
            .send("delete_image", Auth::Either, self.timeout, || {
                self.plain(Method::DELETE, &url)
            })
            .await?;
        Ok(Reply {
            data: (),
            rate_limits: reply.rate_limits,
        })
    }

    /// `POST /3/image/{id}/favorite`, Imgur's toggle; returns the new state.
    pub async fn toggle_favorite(&self, id: &ImageId) -> Result<Reply<bool>, Error> {
        let url = format!("{}/image/{id}/favorite", self.api);
        let reply = self
            .send("favorite", Auth::User, self.timeout, || {
                self.plain(Method::POST, &url)
            })
            .await?;
        toggled(reply)
    }

    /// Imgur's credit budget as pixgate knows it (from `GET /3/credits`
    /// first, when nothing is known yet).
    pub async fn credits(&self) -> Result<BudgetView, Error> {
        let token = self.credentials(Auth::Either).await?;
        self.credits
            .learn_if_unknown(|| self.fetch_credits(token.as_ref()))
            .await;
        Ok(self.credits.view())
    }

    /// `GET /3/credits`, outside the guard (it is how the guard learns).
    async fn fetch_credits(&self, token: Option<&AccessToken>) -> Option<Observation> {
        let request = self
            .with_credentials(self.http.get(format!("{}/credits", self.api)), token)
            .timeout(self.timeout)
            .build()
            .ok()?;
        match self.exchange("credits", request).await {
            Ok(reply) => Observation::from_credits(&reply.data)
                .map(|seen| seen.or(Observation::from_headers(&reply.rate_limits))),
            Err(error) => {
                tracing::debug!(%error, "GET /3/credits failed; the credit guard learns from the next answers");
                Observation::from_headers(&error.rate_limits)
            }
        }
    }

    pub(super) async fn plain(&self, method: Method, url: &str) -> Result<RequestBuilder, Error> {
        Ok(self.http.request(method, url))
    }

    /// Sends the request `build` makes, with credentials for `auth`. If Imgur
    /// rejects the bearer token (401, or 403 with the invalid-token message),
    /// refreshes once and replays once with a freshly built request.
    pub(super) async fn send<F, Fut>(
        &self,
        endpoint: &'static str,
        auth: Auth,
        timeout: Duration,
        build: F,
    ) -> Result<Reply<Bytes>, Error>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<RequestBuilder, Error>>,
    {
        let token = self.credentials(auth).await?;
        self.send_with(endpoint, token, false, timeout, build).await
    }

    /// [`ImgurClient::send`] with `token` (`None`: the app's client id);
    /// `replayed` says the one replay was already used.
    async fn send_with<F, Fut>(
        &self,
        endpoint: &'static str,
        mut token: Option<AccessToken>,
        mut replayed: bool,
        timeout: Duration,
        build: F,
    ) -> Result<Reply<Bytes>, Error>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<RequestBuilder, Error>>,
    {
        // The first call learns the budget first (a streamed upload, which
        // cannot wait, is judged once something is known).
        self.credits
            .learn_if_unknown(|| self.fetch_credits(token.as_ref()))
            .await;
        let mut second_replay = false;
        loop {
            let result = self
                .attempt(endpoint, token.as_ref(), timeout, build().await?)
                .await;
            match result {
                Err(error) if matches!(error.kind, ErrorKind::InvalidToken) => {
                    // With replicas, the token a refresh hands back may be
                    // one another replica got, and Imgur may have replaced
                    // it since: one more refresh and replay then.
                    let last_chance = replayed && self.tokens.is_shared() && !second_replay;
                    if last_chance {
                        second_replay = true;
                    }
                    token = Some(
                        self.after_rejection(token, replayed && !last_chance, error)
                            .await?,
                    );
                    replayed = true;
                }
                other => return other,
            }
        }
    }

    /// After Imgur rejected `token`: a refreshed token for the one replay,
    /// or the error to answer.
    async fn after_rejection(
        &self,
        token: Option<AccessToken>,
        replayed: bool,
        mut error: Error,
    ) -> Result<AccessToken, Error> {
        let status = error.upstream_status.unwrap_or_default();
        error.kind = match token {
            Some(rejected) if !replayed => {
                tracing::info!(
                    status,
                    "Imgur rejected the access token; refreshing and replaying once"
                );
                if let Some(token) = self.tokens.refresh_after_rejection(&rejected, status).await? {
                    return Ok(token);
                }
                ErrorKind::Upstream {
                    message: "Imgur refused the access token it issued moments ago; pixgate does not refresh again within 10 seconds of a refresh".into(),
                }
            }
            Some(_) => ErrorKind::AuthorizationRequired(
                "Imgur rejected a freshly refreshed access token. Authorize again and set IMGUR_REFRESH_TOKEN to the new refresh token.".into(),
            ),
            None => ErrorKind::Upstream {
                message: format!("Imgur refused the app's client id (HTTP {status}); check IMGUR_CLIENT_ID"),
            },
        };
        Err(error)
    }

    /// One exchange: adds the credentials and the timeout, reserves the
    /// call's credits (or refuses it: credit reserve), reads the answer with
    /// a size bound, records it, and unwraps the envelope or sorts the error
    /// (a rejected token stays [`ErrorKind::InvalidToken`]).
    async fn attempt(
        &self,
        endpoint: &'static str,
        token: Option<&AccessToken>,
        timeout: Duration,
        request: RequestBuilder,
    ) -> Result<Reply<Bytes>, Error> {
        let request = self
            .with_credentials(request, token)
            .timeout(timeout)
            .build()
            .map_err(|e| transport_error(&e))?;
        let cost = Cost::of(endpoint == "upload", request.method() == Method::POST);
        let reservation = self.credits.reserve(cost)?;
        let result = self.exchange(endpoint, request).await;
        let (rate_limits, answered) = match &result {
            Ok(reply) => (&reply.rate_limits, true),
            Err(error) => (&error.rate_limits, error.upstream_status.is_some()),
        };
        match Observation::from_headers(rate_limits) {
            Some(seen) => reservation.settle(Outcome::Seen(&seen)),
            None if answered => reservation.settle(Outcome::Spent),
            None => reservation.settle(Outcome::NotSent),
        }
        result
    }

    /// `Authorization` (the bearer token, or the app's client id) and, for
    /// RapidAPI, its host and key.
    fn with_credentials(
        &self,
        request: RequestBuilder,
        token: Option<&AccessToken>,
    ) -> RequestBuilder {
        let request = match token {
            Some(token) => request.bearer_auth(token.value.expose()),
            None => request.header(
                reqwest::header::AUTHORIZATION,
                format!("Client-ID {}", self.client_id),
            ),
        };
        match &self.rapidapi {
            Some((host, key)) => {
                let mut key = reqwest::header::HeaderValue::from_str(key.expose())
                    .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static(""));
                key.set_sensitive(true);
                request
                    .header("x-rapidapi-host", host.as_str())
                    .header("x-rapidapi-key", key)
            }
            None => request,
        }
    }

    /// Sends a built request and sorts the answer.
    async fn exchange(
        &self,
        endpoint: &'static str,
        request: reqwest::Request,
    ) -> Result<Reply<Bytes>, Error> {
        let started = Instant::now();
        let response = self.http.execute(request).await.map_err(|e| {
            let error = transport_error(&e);
            self.metrics
                .upstream_call(endpoint, error_label(&error), started.elapsed());
            error
        })?;
        let status = response.status().as_u16();
        let rate_limits = RateLimits::from_headers(response.headers());
        let cdn_error = response
            .headers()
            .get("cdn-error")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("yes"));
        let content_type = header_text(response.headers(), reqwest::header::CONTENT_TYPE);
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(wire::parse_retry_after);
        let body = read_limited(response).await.map_err(|mut e| {
            e.upstream_status = Some(status);
            e
        });
        let outcome = match &body {
            Ok(_) => status.to_string(),
            Err(e) => error_label(e).to_owned(),
        };
        self.metrics
            .upstream_call(endpoint, &outcome, started.elapsed());
        let body = body?;

        if (200..300).contains(&status) {
            return match wire::unwrap_data(&body) {
                Some(data) => Ok(Reply { data, rate_limits }),
                None => Err(Error {
                    kind: ErrorKind::InvalidResponse {
                        detail: format!(
                            "Imgur answered HTTP {status} with a body that is not its JSON format"
                        ),
                    },
                    upstream_status: Some(status),
                    rate_limits,
                }),
            };
        }
        let kind = wire::classify_error(status, &content_type, &body, retry_after, &rate_limits);
        Err(Error {
            kind: wire::cdn_refusal(status, cdn_error, kind),
            upstream_status: Some(status),
            rate_limits,
        })
    }

    pub(super) async fn credentials(&self, auth: Auth) -> Result<Option<AccessToken>, Error> {
        match auth {
            Auth::Either => self.tokens.access_token_if_user().await,
            Auth::User => self.tokens.access_token().await.map(Some),
        }
    }
}

/// Imgur's answer to a favorite toggle (image or album): the new state.
pub(super) fn toggled(reply: Reply<Bytes>) -> Result<Reply<bool>, Error> {
    let favorited = wire::favorite_toggle_state(&reply.data).ok_or_else(|| Error {
        kind: ErrorKind::InvalidResponse {
            detail: "Imgur's favorite answer was neither \"favorited\" nor \"unfavorited\"".into(),
        },
        upstream_status: Some(200),
        rate_limits: reply.rate_limits.clone(),
    })?;
    Ok(Reply {
        data: favorited,
        rate_limits: reply.rate_limits,
    })
}

/// Imgur's multipart upload body: the media in `image` or `video` (from
/// the spool), `type`, and the optional fields; or, for a URL, `image`,
/// `type` and the fields alone.
async fn upload_body(upload: &ImageUpload) -> Result<SendBody, Error> {
    match &upload.source {
        UploadSource::Image(file) | UploadSource::Video(file) => {
            let video = matches!(upload.source, UploadSource::Video(_));
            let after = imgur_fields_after_media(&upload.fields);
            let after: Vec<(&str, &str)> = after.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let parts = Parts {
                before: &[],
                file_field: media_field(video),
                after: &after,
            };
            file.body(parts)
                .await
                .map_err(|e| Error::local(ErrorKind::Spool(e.to_string())))
        }
        UploadSource::Url(url) => {
            let fields: Vec<(&str, &str)> = [("image", url.as_str()), ("type", "url")]
                .into_iter()
                .chain(text_fields(&upload.fields))
                .collect();
            Ok(SendBody::fields(&fields))
        }
    }
}

/// The media's field: `video` or `image`.
fn media_field(video: bool) -> &'static str {
    if video {
        "video"
    } else {
        "image"
    }
}

/// What Imgur receives after a file: `type`, then the optional fields.
/// The spooled and the live upload both send exactly this.
fn imgur_fields_after_media(fields: &UploadFields) -> Vec<(&'static str, String)> {
    std::iter::once(("type", "file".to_owned()))
        .chain(
            text_fields(fields)
                .into_iter()
                .map(|(n, v)| (n, v.to_owned())),
        )
        .collect()
}

/// The optional text fields Imgur receives after the media, in order.
fn text_fields(fields: &UploadFields) -> Vec<(&'static str, &str)> {
    let optional = [
        ("title", &fields.title),
        ("description", &fields.description),
        ("album", &fields.album),
        ("name", &fields.name),
    ];
    let mut text: Vec<(&'static str, &str)> = optional
        .into_iter()
        .filter_map(|(name, value)| Some((name, value.as_deref()?)))
        .collect();
    if fields.disable_audio {
        text.push(("disable_audio", "1"));
    }
    text
}

/// How a live upload went, for [`ImgurClient::upload`] to finish.
pub enum LiveAttempt {
    /// Nothing was sent: the file fit in memory, or the request had none.
    NotStarted,
    /// The request ended before its body did (the client's upload failed,
    /// or the connection did), so Imgur cannot have stored it; or Imgur
    /// wants a length. Upload again from the spool.
    Incomplete,
    /// Imgur answered (or the exchange failed after the whole body went),
    /// with `token` as the credentials used.
    Answered {
        token: Option<AccessToken>,
        result: Result<Reply<Bytes>, Error>,
    },
}

/// Reads an answer's body, refusing more than [`MAX_RESPONSE_BYTES`].
pub(super) async fn read_limited(mut response: reqwest::Response) -> Result<Bytes, Error> {
    let too_large = || {
        Error::local(ErrorKind::InvalidResponse {
            detail: format!("Imgur's answer exceeded {MAX_RESPONSE_BYTES} bytes"),
        })
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

/// The metrics label of a call that got no readable answer.
pub(super) fn error_label(error: &Error) -> &'static str {
    match error.kind {
        ErrorKind::Timeout => "timeout",
        ErrorKind::InvalidResponse { .. } => "invalid_body",
        _ => "unreachable",
    }
}

/// Sorts a reqwest failure into timeout or unreachable. reqwest's messages
/// carry the URL (ids only, never a token) and the cause.
pub(super) fn transport_error(e: &reqwest::Error) -> Error {
    if e.is_timeout() {
        return Error::local(ErrorKind::Timeout);
    }
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    Error::local(ErrorKind::Unreachable(message))
}

fn header_text(headers: &reqwest::header::HeaderMap, name: reqwest::header::HeaderName) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}
