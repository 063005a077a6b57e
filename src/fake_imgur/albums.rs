//! The fake's albums and the account's own lists, in Imgur's wire format.
//!
//! Who may do what: anyone may read an album by id; a change names the album
//! by id (the owner's bearer token) or by deletehash (anyone, anonymous albums
//! included). Images go into an album only when the caller proves they are
//! theirs: `ids` of the account's own images with its bearer token, or
//! `deletehashes`; every other image is skipped without a word, as Imgur does.

use actix_web::HttpResponse;
use serde_json::{json, Value};

use super::server::Request;
use super::state::{now_epoch, random_alnum, Album, Caller, State};
use super::wire::{self, ApiError};
use super::{FakeConfig, StoredAlbum};

/// Imgur's page size without `perPage`, and its largest.
const DEFAULT_PER_PAGE: usize = 50;
const MAX_PER_PAGE: usize = 100;

fn album_not_found(id: &str) -> ApiError {
    ApiError::new(404, format!("Unable to find an album with the id, {id}"))
}

fn not_the_owner(id: &str) -> ApiError {
    ApiError::new(
        403,
        format!("You are not the owner of album '{id}', which means you can't change it. For anonymous albums use the album deletehash."),
    )
}

fn is_account(config: &FakeConfig, owner: Option<&str>) -> bool {
    owner == Some(config.account_username.as_str())
}

/// The id of the album `key` names, if the caller may change it.
fn changeable(
    state: &State,
    config: &FakeConfig,
    caller: &Caller,
    key: &str,
) -> Result<String, ApiError> {
    let (id, by_deletehash) = state.find_album(key).ok_or_else(|| album_not_found(key))?;
    let owner = state
        .albums
        .get(&id)
        .and_then(|a| a.stored.owner.as_deref());
    if by_deletehash || (*caller == Caller::User && is_account(config, owner)) {
        Ok(id)
    } else {
        Err(not_the_owner(key))
    }
}

/// The album an upload's `album` field names, if the caller may add to it.
pub(crate) fn album_for_upload(
    state: &State,
    config: &FakeConfig,
    caller: &Caller,
    key: &str,
) -> Result<String, ApiError> {
    changeable(state, config, caller, key)
}

/// The images of `ids` and `deletehashes` the caller proves are theirs.
fn provable_images(
    state: &State,
    config: &FakeConfig,
    caller: &Caller,
    request: &Request<'_>,
) -> Vec<String> {
    let mut images = Vec::new();
    for id in request.body.id_list("ids") {
        let owned = state.images.get(&id).is_some_and(|image| {
            *caller == Caller::User && is_account(config, image.stored.owner.as_deref())
        });
        if owned && !images.contains(&id) {
            images.push(id);
        }
    }
    for hash in request.body.id_list("deletehashes") {
        if let Some((id, true)) = state.find_for_change(&hash) {
            if !images.contains(&id) {
                images.push(id);
            }
        }
    }
    images
}

fn apply_fields(
    album: &mut StoredAlbum,
    request: &Request<'_>,
    state_images: &State,
) -> Result<(), ApiError> {
    let body = &request.body;
    if let Some(title) = body.field("title") {
        album.title = Some(title.to_owned()).filter(|t| !t.is_empty());
    }
    if let Some(description) = body.field("description") {
        album.description = Some(description.to_owned()).filter(|d| !d.is_empty());
    }
    if let Some(privacy) = body.field("privacy") {
        if !matches!(privacy, "public" | "hidden" | "secret") {
            return Err(ApiError::new(400, "Invalid privacy setting"));
        }
        album.privacy = privacy.to_owned();
    }
    if let Some(cover) = body.field("cover").filter(|c| !c.is_empty()) {
        // Imgur ignores a cover that is no image.
        if state_images.images.contains_key(cover) {
            album.cover = Some(cover.to_owned());
        }
    }
    Ok(())
}

/// `POST /3/album`: the account's album with a bearer token, else anonymous.
pub(crate) fn create(request: &Request<'_>) -> Result<HttpResponse, ApiError> {
    let caller = request.caller()?;
    if let Some(problem) = &request.body.problem {
        return Err(ApiError::new(problem.status, problem.message.clone()));
    }
    let config = &request.shared.config;
    let mut state = request.shared.state();
    let images = provable_images(&state, config, &caller, request);
    let mut stored = StoredAlbum {
        id: state.fresh_id(7),
        deletehash: random_alnum(15),
        owner: (caller == Caller::User).then(|| config.account_username.clone()),
        title: None,
        description: None,
        privacy: "hidden".to_owned(),
        cover: None,
        images,
        favorite: false,
    };
    apply_fields(&mut stored, request, &state)?;
    if stored.cover.is_none() {
        stored.cover = stored.images.first().cloned();
    }
    let answer = json!({"id": stored.id, "deletehash": stored.deletehash});
    let seq = state.seq();
    state.albums.insert(
        stored.id.clone(),
        Album {
            stored,
            datetime: now_epoch(),
            seq,
        },
    );
    Ok(wire::ok(answer))
}

fn album_value(state: &State, config: &FakeConfig, caller: &Caller, album: &Album) -> Value {
    let owner_view = *caller == Caller::User && is_account(config, album.stored.owner.as_deref());
    let images = album
        .stored
        .images
        .iter()
        .filter_map(|id| state.images.get(id))
        .map(|image| {
            let mine = *caller == Caller::User && is_account(config, image.stored.owner.as_deref());
            wire::image_json(
                image,
                mine,
                *caller == Caller::User && image.stored.favorite,
            )
        })
        .collect();
    wire::album_json(album, owner_view, images)
}

/// `GET /3/album/{id}`, or with `images_only` `GET /3/album/{id}/images`.
pub(crate) fn get(
    request: &Request<'_>,
    id: &str,
    images_only: bool,
) -> Result<HttpResponse, ApiError> {
    let caller = request.caller()?;
    let state = request.shared.state();
    let album = state.albums.get(id).ok_or_else(|| album_not_found(id))?;
    let mut value = album_value(&state, &request.shared.config, &caller, album);
    if images_only {
        value = value["images"].take();
    }
    Ok(wire::ok(value))
}

/// `PUT|POST /3/album/{id|deletehash}`: the fields sent; a `POST` with `ids`
/// or `deletehashes` replaces the images.
pub(crate) fn update(
    request: &Request<'_>,
    key: &str,
    replace: bool,
) -> Result<HttpResponse, ApiError> {
    let caller = request.caller()?;
    let config = &request.shared.config;
    let mut state = request.shared.state();
    let id = changeable(&state, config, &caller, key)?;
    let replacement = (replace
        && (!request.body.id_list("ids").is_empty()
            || !request.body.id_list("deletehashes").is_empty()))
    .then(|| provable_images(&state, config, &caller, request));
    let mut stored = state
        .albums
        .get(&id)
        .map(|a| a.stored.clone())
        .ok_or_else(|| album_not_found(key))?;
    apply_fields(&mut stored, request, &state)?;
    if let Some(images) = replacement {
        stored.images = images;
    }
    if let Some(album) = state.albums.get_mut(&id) {
        album.stored = stored;
    }
    Ok(wire::ok(json!(true)))
}

/// `DELETE /3/album/{id|deletehash}`: the album goes, its images stay.
pub(crate) fn delete(request: &Request<'_>, key: &str) -> Result<HttpResponse, ApiError> {
    let caller = request.caller()?;
    let mut state = request.shared.state();
    let id = changeable(&state, &request.shared.config, &caller, key)?;
    state.albums.remove(&id);
    Ok(wire::ok(json!(true)))
}

/// `POST /3/album/{id|deletehash}/add`: adds the provable images, skips the rest.
pub(crate) fn add_images(request: &Request<'_>, key: &str) -> Result<HttpResponse, ApiError> {
    let caller = request.caller()?;
    let config = &request.shared.config;
    let mut state = request.shared.state();
    let id = changeable(&state, config, &caller, key)?;
    let images = provable_images(&state, config, &caller, request);
    if let Some(album) = state.albums.get_mut(&id) {
        for image in images {
            if !album.stored.images.contains(&image) {
                album.stored.images.push(image);
            }
        }
    }
    Ok(wire::ok(json!(true)))
}

/// `POST|DELETE /3/album/{id|deletehash}/remove_images`: images not in the album are no error.
pub(crate) fn remove_images(request: &Request<'_>, key: &str) -> Result<HttpResponse, ApiError> {
    let caller = request.caller()?;
    let mut state = request.shared.state();
    let id = changeable(&state, &request.shared.config, &caller, key)?;
    let remove = request.body.id_list("ids");
    if let Some(album) = state.albums.get_mut(&id) {
        album.stored.images.retain(|image| !remove.contains(image));
    }
    Ok(wire::ok(json!(true)))
}

/// `POST /3/album/{id}/favorite`: a toggle.
pub(crate) fn favorite(request: &Request<'_>, id: &str) -> Result<HttpResponse, ApiError> {
    request.user()?;
    let mut state = request.shared.state();
    let album = state
        .albums
        .get_mut(id)
        .ok_or_else(|| album_not_found(id))?;
    album.stored.favorite = !album.stored.favorite;
    Ok(wire::ok(json!(if album.stored.favorite {
        "favorited"
    } else {
        "unfavorited"
    })))
}

/// The page and page size of an account list: `/{page}` and `?perPage=`.
fn paging(request: &Request<'_>, page: Option<&str>) -> Result<(usize, usize), ApiError> {
    let page = match page {
        None => 0,
        Some(page) => page
            .parse::<usize>()
            .map_err(|_| ApiError::new(400, "Invalid page number"))?,
    };
    let per_page = url_query(request.query, "perPage")
        .map(|v| {
            v.parse::<usize>()
                .map_err(|_| ApiError::new(400, "Invalid perPage"))
        })
        .transpose()?
        .unwrap_or(DEFAULT_PER_PAGE)
        .clamp(1, MAX_PER_PAGE);
    Ok((page, per_page))
}

fn url_query<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Only the token's own account.
fn own_account(request: &Request<'_>, user: &str) -> Result<(), ApiError> {
    request.user()?;
    let config = &request.shared.config;
    if user.eq_ignore_ascii_case("me") || user.eq_ignore_ascii_case(&config.account_username) {
        Ok(())
    } else {
        Err(ApiError::new(403, "Permission denied"))
    }
}

fn page_of<T: Clone>(items: Vec<T>, page: usize, per_page: usize) -> Vec<T> {
    match page.checked_mul(per_page) {
        Some(start) => items.into_iter().skip(start).take(per_page).collect(),
        None => Vec::new(),
    }
}

/// `GET /3/account/{me|username}/images[/{page}]`: the account's images, newest first.
pub(crate) fn account_images(
    request: &Request<'_>,
    user: &str,
    page: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    own_account(request, user)?;
    let (page, per_page) = paging(request, page)?;
    let config = &request.shared.config;
    let state = request.shared.state();
    let mut images: Vec<_> = state
        .images
        .values()
        .filter(|image| is_account(config, image.stored.owner.as_deref()))
        .collect();
    images.sort_by_key(|image| std::cmp::Reverse((image.datetime, image.seq)));
    let items: Vec<Value> = page_of(images, page, per_page)
        .into_iter()
        .map(|image| wire::image_json(image, true, image.stored.favorite))
        .collect();
    Ok(wire::ok(json!(items)))
}

/// `GET /3/account/{me|username}/images/count`.
pub(crate) fn account_images_count(
    request: &Request<'_>,
    user: &str,
) -> Result<HttpResponse, ApiError> {
    own_account(request, user)?;
    let config = &request.shared.config;
    let state = request.shared.state();
    let count = state
        .images
        .values()
        .filter(|image| is_account(config, image.stored.owner.as_deref()))
        .count();
    Ok(wire::ok(json!(count)))
}

/// `GET /3/account/{me|username}/albums[/{page}]`: the account's albums, newest first.
pub(crate) fn account_albums(
    request: &Request<'_>,
    user: &str,
    page: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    own_account(request, user)?;
    let (page, per_page) = paging(request, page)?;
    let config = &request.shared.config;
    let state = request.shared.state();
    let mut albums: Vec<&Album> = state
        .albums
        .values()
        .filter(|album| is_account(config, album.stored.owner.as_deref()))
        .collect();
    albums.sort_by_key(|album| std::cmp::Reverse((album.datetime, album.seq)));
    let items: Vec<Value> = page_of(albums, page, per_page)
        .into_iter()
        .map(|album| album_value(&state, config, &Caller::User, album))
        .collect();
    Ok(wire::ok(json!(items)))
}
