//! The HTTP side of the fake: one catch-all service that routes by hand.
//!
//! Every request goes through the same steps, in this order, so that the
//! controls behave predictably: read the body (streaming files), record and count
//! the request, apply the next matching fault, authenticate, then answer. Routing
//! by hand (rather than with actix routes) keeps that pipeline in one place and
//! makes unknown paths answer Imgur's 404 envelope.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::albums;
use super::authorize;
use super::body::{self, png_size, sniff, Body, Media, ReceivedFile, IMAGE_LIMIT, VIDEO_LIMIT};
use super::state::{
    hex, now_epoch, AuthFailure, Caller, Image, RateSnapshot, Shared, SOMEONE, SOMEONE_ID,
};
use super::wire::{self, ApiError, Ctx};
use super::{Endpoint, FaultKind, RecordedRequest, StoredImage};

/// Starts the server on `listener` and spawns it on the current tokio runtime.
pub(crate) fn spawn(
    listener: TcpListener,
    workers: usize,
    shared: Arc<Shared>,
) -> std::io::Result<ServerHandle> {
    let data = web::Data::from(shared);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(dispatch))
    })
    .workers(workers)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(async move {
        if let Err(error) = server.await {
            tracing::warn!(%error, "fake Imgur server stopped with an error");
        }
    });
    Ok(handle)
}

/// A request's route, with its path parameters.
enum Route {
    Token,
    /// The authorize page; `submitted` for the `POST` of its form.
    Authorize {
        submitted: bool,
    },
    Account(String),
    Favorites {
        user: String,
        page: Option<String>,
        sort: Option<String>,
    },
    Upload,
    GetImage(String),
    UpdateImage(String),
    DeleteImage(String),
    Favorite(String),
    Credits,
    CreateAlbum,
    /// `images_only`: `/images`, answering just the album's image objects.
    GetAlbum {
        id: String,
        images_only: bool,
    },
    /// `replace`: a `POST`, whose `ids` replace the album's images.
    UpdateAlbum {
        key: String,
        replace: bool,
    },
    DeleteAlbum(String),
    AddAlbumImages(String),
    RemoveAlbumImages(String),
    AlbumFavorite(String),
    AccountImages {
        user: String,
        page: Option<String>,
    },
    AccountImagesCount(String),
    AccountAlbums {
        user: String,
        page: Option<String>,
    },
    NotFound,
}

impl Route {
    fn classify(method: &str, path: &str) -> Route {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let owned = |s: &&str| (*s).to_owned();
        match (method, segments.as_slice()) {
            ("POST", ["oauth2", "token"]) => Route::Token,
            ("GET", ["oauth2", "authorize"]) => Route::Authorize { submitted: false },
            ("POST", ["oauth2", "authorize"]) => Route::Authorize { submitted: true },
            ("GET", ["3", "account", user]) => Route::Account(owned(user)),
            ("GET", ["3", "account", user, "favorites", rest @ ..]) if rest.len() <= 2 => {
                Route::Favorites {
                    user: owned(user),
                    page: rest.first().map(owned),
                    sort: rest.get(1).map(owned),
                }
            }
            ("POST", ["3", "image" | "upload"]) => Route::Upload,
            ("GET", ["3", "image", id]) => Route::GetImage(owned(id)),
            ("POST" | "PUT", ["3", "image", id]) => Route::UpdateImage(owned(id)),
            ("DELETE", ["3", "image", id]) => Route::DeleteImage(owned(id)),
            ("POST", ["3", "image", id, "favorite"]) => Route::Favorite(owned(id)),
            ("GET", ["3", "credits"]) => Route::Credits,
            ("POST", ["3", "album"]) => Route::CreateAlbum,
            ("GET", ["3", "album", id]) => Route::GetAlbum {
                id: owned(id),
                images_only: false,
            },
            ("GET", ["3", "album", id, "images"]) => Route::GetAlbum {
                id: owned(id),
                images_only: true,
            },
            ("PUT" | "POST", ["3", "album", key]) => Route::UpdateAlbum {
                key: owned(key),
                replace: method == "POST",
            },
            ("DELETE", ["3", "album", key]) => Route::DeleteAlbum(owned(key)),
            ("POST" | "PUT", ["3", "album", key, "add"]) => Route::AddAlbumImages(owned(key)),
            ("POST" | "DELETE", ["3", "album", key, "remove_images"]) => {
                Route::RemoveAlbumImages(owned(key))
            }
            ("POST", ["3", "album", id, "favorite"]) => Route::AlbumFavorite(owned(id)),
            ("GET", ["3", "account", user, "images", "count"]) => {
                Route::AccountImagesCount(owned(user))
            }
            ("GET", ["3", "account", user, "images", rest @ ..]) if rest.len() <= 1 => {
                Route::AccountImages {
                    user: owned(user),
                    page: rest.first().map(owned),
                }
            }
            ("GET", ["3", "account", user, "albums", rest @ ..]) if rest.len() <= 1 => {
                Route::AccountAlbums {
                    user: owned(user),
                    page: rest.first().map(owned),
                }
            }
            _ => Route::NotFound,
        }
    }

    fn endpoint(&self) -> Endpoint {
        match self {
            Route::Token => Endpoint::Token,
            Route::Authorize { .. } => Endpoint::Authorize,
            Route::Account(_) => Endpoint::Account,
            Route::Favorites { .. } => Endpoint::Favorites,
            Route::Upload => Endpoint::Upload,
            Route::GetImage(_) => Endpoint::GetImage,
            Route::UpdateImage(_) => Endpoint::UpdateImage,
            Route::DeleteImage(_) => Endpoint::DeleteImage,
            Route::Favorite(_) => Endpoint::Favorite,
            Route::Credits => Endpoint::Credits,
            Route::CreateAlbum => Endpoint::CreateAlbum,
            Route::GetAlbum { .. } => Endpoint::GetAlbum,
            Route::UpdateAlbum { .. } => Endpoint::UpdateAlbum,
            Route::DeleteAlbum(_) => Endpoint::DeleteAlbum,
            Route::AddAlbumImages(_) => Endpoint::AddAlbumImages,
            Route::RemoveAlbumImages(_) => Endpoint::RemoveAlbumImages,
            Route::AlbumFavorite(_) => Endpoint::AlbumFavorite,
            Route::AccountImages { .. } | Route::AccountImagesCount(_) => Endpoint::AccountImages,
            Route::AccountAlbums { .. } => Endpoint::AccountAlbums,
            Route::NotFound => Endpoint::Other,
        }
    }
}

async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let method = req.method().as_str().to_owned();
    let path = req.path().to_owned();
    let route = Route::classify(&method, &path);
    let endpoint = route.endpoint();
    let api = path.starts_with("/3/");
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let content_length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let headers = req
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();

    shared.begin(endpoint);
    let mut body = body::read(&req, payload, matches!(route, Route::Upload)).await;
    if body.cut_off {
        tracing::debug!(%method, %path, "fake Imgur: request body cut off; ignored");
        return HttpResponse::BadRequest().finish();
    }
    if matches!(route, Route::Authorize { submitted: false }) {
        body.add_query(req.query_string());
    }
    let (rate, fault) = {
        let mut state = shared.state();
        let rate = state.record(
            RecordedRequest {
                endpoint,
                method: method.clone(),
                path: path.clone(),
                authorization: authorization.clone(),
                content_length,
                headers,
                fields: std::mem::take(&mut body.recorded),
            },
            api,
        );
        (rate, state.take_fault(endpoint))
    };
    tracing::debug!(?endpoint, %method, %path, fault = ?fault, "fake Imgur request");
    let fault = wait_out(fault).await;

    let ctx = Ctx {
        path: &path,
        method: &method,
    };
    let mut rate_headers = api;
    let mut response = match fault
        .as_ref()
        .and_then(|kind| wire::fault_response(kind, &ctx))
    {
        Some((response, with_rate_headers)) => {
            rate_headers &= with_rate_headers;
            response
        }
        None => {
            if let Some(FaultKind::Delay(delay)) = fault {
                tokio::time::sleep(delay).await;
            }
            let request = Request {
                shared: &shared,
                authorization: authorization.as_deref(),
                query: req.query_string(),
                body,
                rate,
            };
            handle(route, request)
                .await
                .unwrap_or_else(|error| error.into_response(&ctx))
        }
    };
    if rate_headers {
        wire::add_rate_headers(&mut response, &rate, method == "POST");
    }
    response
}

/// Waits out a `Late` or `Held` fault and returns the fault to answer
/// after it (`None`: the normal answer); any other fault as it is.
async fn wait_out(mut fault: Option<FaultKind>) -> Option<FaultKind> {
    loop {
        match fault {
            Some(FaultKind::Late(delay, then)) => {
                tokio::time::sleep(delay).await;
                fault = Some(*then);
            }
            Some(FaultKind::Held(gate, then)) => {
                gate.passed().await;
                fault = then.map(|then| *then);
            }
            other => return other,
        }
    }
}

/// What a handler gets.
pub(super) struct Request<'a> {
    pub(super) shared: &'a Shared,
    authorization: Option<&'a str>,
    /// The URL's query string.
    pub(super) query: &'a str,
    pub(super) body: Body,
    rate: RateSnapshot,
}

impl Request<'_> {
    pub(super) fn caller(&self) -> Result<Caller, ApiError> {
        self.shared
            .state()
            .authenticate(&self.shared.config, self.authorization)
            .map_err(|failure| match failure {
                AuthFailure::Missing => ApiError::authentication_required(),
                AuthFailure::InvalidToken => ApiError::invalid_token(),
            })
    }

    /// Like [`Request::caller`], but `Client-ID` is refused.
    pub(super) fn user(&self) -> Result<(), ApiError> {
        match self.caller()? {
            Caller::User => Ok(()),
            Caller::Anonymous => Err(ApiError::requires_user()),
        }
    }
}

async fn handle(route: Route, request: Request<'_>) -> Result<HttpResponse, ApiError> {
    match route {
        Route::Token => token(request).await,
        Route::Authorize { submitted } => {
            Ok(authorize::respond(request.shared, &request.body, submitted))
        }
        Route::Account(user) => account(&request, &user),
        Route::Favorites { user, page, sort } => {
            favorites(&request, &user, page.as_deref(), sort.as_deref())
        }
        Route::Upload => upload(request),
        Route::GetImage(id) => get_image(&request, &id),
        Route::UpdateImage(key) => update_image(request, &key),
        Route::DeleteImage(key) => delete_image(&request, &key),
        Route::Favorite(id) => favorite(&request, &id),
        Route::Credits => {
            request.caller()?;
            Ok(wire::ok(wire::credits_json(&request.rate)))
        }
        Route::CreateAlbum => albums::create(&request),
        Route::GetAlbum { id, images_only } => albums::get(&request, &id, images_only),
        Route::UpdateAlbum { key, replace } => albums::update(&request, &key, replace),
        Route::DeleteAlbum(key) => albums::delete(&request, &key),
        Route::AddAlbumImages(key) => albums::add_images(&request, &key),
        Route::RemoveAlbumImages(key) => albums::remove_images(&request, &key),
        Route::AlbumFavorite(id) => albums::favorite(&request, &id),
        Route::AccountImages { user, page } => {
            albums::account_images(&request, &user, page.as_deref())
        }
        Route::AccountImagesCount(user) => albums::account_images_count(&request, &user),
        Route::AccountAlbums { user, page } => {
            albums::account_albums(&request, &user, page.as_deref())
        }
        Route::NotFound => Err(ApiError::new(404, "Not found")),
    }
}

/// `POST /oauth2/token`. Sleeps the token delay first, so that two refreshes racing
/// with the same refresh token see rotation (the second one gets a 400).
async fn token(request: Request<'_>) -> Result<HttpResponse, ApiError> {
    let delay = request.shared.state().token_delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let body = request.body;
    if let Some(problem) = body.problem {
        return Err(problem);
    }
    let config = &request.shared.config;
    if body.field("client_id") != Some(config.client_id.as_str())
        || body.field("client_secret") != Some(config.client_secret.as_str())
    {
        return Err(ApiError::new(401, "Invalid client"));
    }
    let mut state = request.shared.state();
    let (accepted, refusal) = match body.field("grant_type") {
        Some("refresh_token") => (
            body.field("refresh_token")
                .is_some_and(|t| state.use_refresh_token(t)),
            "Invalid refresh token",
        ),
        Some("authorization_code") => (
            body.field("code").is_some_and(|c| state.use_code(c)),
            "Invalid authorization code",
        ),
        Some("pin") => (
            body.field("pin").is_some_and(|p| state.use_pin(p)),
            "Invalid pin",
        ),
        _ => (false, "Invalid grant_type parameter or parameter missing"),
    };
    if !accepted {
        return Err(ApiError::new(400, refusal));
    }
    let grant = state.grant();
    drop(state);
    Ok(wire::json_response(
        200,
        &json!({
            "access_token": grant.access_token,
            "expires_in": grant.expires_in,
            "token_type": "bearer",
            "scope": null,
            "refresh_token": grant.refresh_token,
            "account_id": config.account_id,
            "account_username": config.account_username,
        }),
    ))
}

/// `GET /3/account/{username|me}`.
fn account(request: &Request<'_>, user: &str) -> Result<HttpResponse, ApiError> {
    let caller = request.caller()?;
    let config = &request.shared.config;
    let (id, url, created) = if user.eq_ignore_ascii_case("me") {
        if caller != Caller::User {
            return Err(ApiError::requires_user());
        }
        (
            config.account_id,
            config.account_username.as_str(),
            1481839668,
        )
    } else if user.eq_ignore_ascii_case(&config.account_username) {
        (
            config.account_id,
            config.account_username.as_str(),
            1481839668,
        )
    } else if user.eq_ignore_ascii_case(SOMEONE) {
        (SOMEONE_ID, SOMEONE, 1388534400)
    } else {
        return Err(ApiError::new(
            404,
            format!("A user with the name {user} doesn't exist"),
        ));
    };
    Ok(wire::ok(json!({
        "id": id,
        "url": url,
        "bio": null,
        "avatar": null,
        "reputation": 0,
        "reputation_name": "Neutral",
        "created": created,
        "pro_expiration": false,
        "user_follow": {"status": false},
    })))
}

/// `GET /3/account/{username|me}/favorites/{page}/{sort}`: only the token's own account.
fn favorites(
    request: &Request<'_>,
    user: &str,
    page: Option<&str>,
    sort: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    request.user()?;
    let config = &request.shared.config;
    if !user.eq_ignore_ascii_case("me") && !user.eq_ignore_ascii_case(&config.account_username) {
        return Err(ApiError::new(403, "Permission denied"));
    }
    let page = match page {
        None => 0,
        Some(page) => page
            .parse::<usize>()
            .map_err(|_| ApiError::new(400, "Invalid page number"))?,
    };
    let oldest_first = match sort {
        None | Some("newest") => false,
        Some("oldest") => true,
        Some(_) => return Err(ApiError::new(400, "Invalid sort option")),
    };
    let size = config.favorites_page_size.max(1);
    let state = request.shared.state();
    let mut ids: Vec<&String> = state.favorites.iter().collect();
    if oldest_first {
        ids.reverse();
    }
    let items: Vec<serde_json::Value> = match page.checked_mul(size) {
        Some(start) => ids
            .into_iter()
            .skip(start)
            .take(size)
            .filter_map(|id| state.images.get(id))
            .map(wire::gallery_image_json)
            .collect(),
        None => Vec::new(),
    };
    Ok(wire::ok(json!(items)))
}

/// What an upload turned out to be.
struct Upload {
    mime: String,
    size: u64,
    sha256: String,
    is_video: bool,
    source_url: Option<String>,
    width: u32,
    height: u32,
    filename: Option<String>,
}

fn no_image_data() -> ApiError {
    ApiError::new(400, "No image data was sent to the upload api")
}

fn over_size_limit() -> ApiError {
    ApiError::new(400, "File is over the size limit")
}

fn non_empty(value: Option<&str>) -> Option<String> {
    value.filter(|v| !v.is_empty()).map(str::to_owned)
}

/// `POST /3/image` and `POST /3/upload`.
fn upload(request: Request<'_>) -> Result<HttpResponse, ApiError> {
    let caller = request.caller()?;
    let body = request.body;
    if let Some(problem) = body.problem {
        return Err(problem);
    }
    let upload_type = body.field("type").map(str::to_ascii_lowercase);
    let received = match body.media.as_ref().ok_or_else(no_image_data)? {
        Media::File(file) => from_file(file)?,
        Media::Text { field, value } => from_text(field, value, upload_type.as_deref())?,
    };
    let config = &request.shared.config;
    let (owner, account_id) = match &caller {
        Caller::User => (Some(config.account_username.clone()), config.account_id),
        Caller::Anonymous => (None, 0),
    };
    let name = non_empty(body.field("name"))
        .or(received.filename)
        .unwrap_or_default();

    let mut state = request.shared.state();
    let album = match non_empty(body.field("album")) {
        Some(key) => Some(albums::album_for_upload(&state, config, &caller, &key)?),
        None => None,
    };
    let id = state.fresh_id(7);
    let seq = state.seq();
    let image = Image {
        stored: StoredImage {
            id: id.clone(),
            deletehash: super::state::random_alnum(15),
            owner,
            title: non_empty(body.field("title")),
            description: non_empty(body.field("description")),
            mime: received.mime,
            size: received.size,
            sha256: received.sha256,
            is_video: received.is_video,
            source_url: received.source_url,
            favorite: false,
        },
        account_id,
        datetime: now_epoch(),
        width: received.width,
        height: received.height,
        views: 0,
        name,
        seq,
    };
    let data = wire::image_json(&image, true, false);
    let left_out = image.stored.is_video && state.video_album_bug;
    if let (Some(album), false) = (album, left_out) {
        if let Some(album) = state.albums.get_mut(&album) {
            album.stored.images.push(id.clone());
        }
    }
    state.images.insert(id, image);
    Ok(wire::ok(data))
}

fn from_file(file: &ReceivedFile) -> Result<Upload, ApiError> {
    if file.over_limit {
        return Err(over_size_limit());
    }
    if file.size == 0 {
        return Err(no_image_data());
    }
    let mime = file
        .content_type
        .as_deref()
        .filter(|c| *c != "application/octet-stream")
        .or_else(|| sniff(&file.head))
        .unwrap_or("application/octet-stream")
        .to_owned();
    let (width, height) = png_size(&file.head).unwrap_or((0, 0));
    Ok(Upload {
        is_video: mime.starts_with("video/") || file.field == "video",
        mime,
        size: file.size,
        sha256: file.sha256.clone(),
        source_url: None,
        width,
        height,
        filename: file.filename.clone(),
    })
}

fn from_text(field: &str, value: &str, upload_type: Option<&str>) -> Result<Upload, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(no_image_data());
    }
    let is_url = match upload_type {
        Some("url") => true,
        Some("base64" | "file") => false,
        _ => value.starts_with("http://") || value.starts_with("https://"),
    };
    if is_url {
        // No network: the URL is recorded, never fetched.
        return Ok(Upload {
            mime: "image/jpeg".to_owned(),
            size: 0,
            sha256: hex(&Sha256::digest(b"")),
            is_video: false,
            source_url: Some(value.to_owned()),
            width: 0,
            height: 0,
            filename: None,
        });
    }
    let bytes = decode_base64(value)
        .ok_or_else(|| ApiError::new(400, "Image format not supported, or image is corrupt."))?;
    let limit = if field == "video" {
        VIDEO_LIMIT
    } else {
        IMAGE_LIMIT
    };
    if bytes.len() as u64 > limit {
        return Err(over_size_limit());
    }
    if bytes.is_empty() {
        return Err(no_image_data());
    }
    let mime = sniff(&bytes)
        .unwrap_or("application/octet-stream")
        .to_owned();
    let (width, height) = png_size(&bytes).unwrap_or((0, 0));
    Ok(Upload {
        is_video: mime.starts_with("video/") || field == "video",
        mime,
        size: bytes.len() as u64,
        sha256: hex(&Sha256::digest(&bytes)),
        source_url: None,
        width,
        height,
        filename: None,
    })
}

/// Decodes standard or URL-safe base64, padded or not, ignoring whitespace and a
/// `data:…;base64,` prefix.
fn decode_base64(value: &str) -> Option<Vec<u8>> {
    const CONFIG: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let data = match value.split_once(";base64,") {
        Some((prefix, rest)) if prefix.starts_with("data:") => rest,
        _ => value,
    };
    let cleaned: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    GeneralPurpose::new(&alphabet::STANDARD, CONFIG)
        .decode(&cleaned)
        .or_else(|_| GeneralPurpose::new(&alphabet::URL_SAFE, CONFIG).decode(&cleaned))
        .ok()
}

/// `GET /3/image/{id}`.
fn get_image(request: &Request<'_>, id: &str) -> Result<HttpResponse, ApiError> {
    let is_user = request.caller()? == Caller::User;
    let config = &request.shared.config;
    let state = request.shared.state();
    let image = state
        .images
        .get(id)
        .ok_or_else(|| ApiError::image_not_found(id))?;
    let owner_view = is_user && image.stored.owner.as_deref() == Some(&config.account_username);
    let favorite = is_user && image.stored.favorite;
    Ok(wire::ok(wire::image_json(image, owner_view, favorite)))
}

/// The id of the image `key` names, if the caller may change it: anyone with the
/// deletehash, or the owner's bearer token with the id.
fn changeable_image(request: &Request<'_>, key: &str) -> Result<String, ApiError> {
    let caller = request.caller()?;
    let config = &request.shared.config;
    let state = request.shared.state();
    let (id, by_deletehash) = state
        .find_for_change(key)
        .ok_or_else(|| ApiError::image_not_found(key))?;
    let owner = state
        .images
        .get(&id)
        .and_then(|image| image.stored.owner.as_deref());
    if by_deletehash || (caller == Caller::User && owner == Some(&config.account_username)) {
        Ok(id)
    } else {
        Err(ApiError::new(403, "You are not the owner of this image"))
    }
}

/// `POST|PUT /3/image/{id|deletehash}`.
fn update_image(request: Request<'_>, key: &str) -> Result<HttpResponse, ApiError> {
    let id = changeable_image(&request, key)?;
    if let Some(problem) = request.body.problem {
        return Err(problem);
    }
    let mut state = request.shared.state();
    let image = state
        .images
        .get_mut(&id)
        .ok_or_else(|| ApiError::image_not_found(key))?;
    if let Some(title) = request.body.field("title") {
        image.stored.title = non_empty(Some(title));
    }
    if let Some(description) = request.body.field("description") {
        image.stored.description = non_empty(Some(description));
    }
    Ok(wire::ok(json!(true)))
}

/// `DELETE /3/image/{id|deletehash}`.
fn delete_image(request: &Request<'_>, key: &str) -> Result<HttpResponse, ApiError> {
    let id = changeable_image(request, key)?;
    request.shared.state().remove_image(&id);
    Ok(wire::ok(json!(true)))
}

/// `POST /3/image/{id}/favorite`: a toggle.
fn favorite(request: &Request<'_>, id: &str) -> Result<HttpResponse, ApiError> {
    request.user()?;
    let now_favorite = request
        .shared
        .state()
        .toggle_favorite(id)
        .ok_or_else(|| ApiError::image_not_found(id))?;
    Ok(wire::ok(json!(if now_favorite {
        "favorited"
    } else {
        "unfavorited"
    })))
}
