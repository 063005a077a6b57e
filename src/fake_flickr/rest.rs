//! The REST methods (`/services/rest`) and the upload (`/services/upload/`),
//! after the request's signature was verified. Each method checks what
//! Flickr checks, in this order: the HTTP method (setters need `POST`,
//! else 116), the token's perms (99), then its arguments.

use serde_json::{json, Value};

use super::body::Body;
use super::state::{random_hex, Shared, SERVER};
use super::wire;
use super::StoredPhoto;
use crate::flickr::signing::unix_time;
use crate::flickr::Perms;

/// Flickr's answer for a missing photo, or one the caller may not change.
fn photo_not_found() -> (u32, String) {
    (1, "Photo not found".into())
}

/// A verified REST call.
pub(crate) struct Call<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) http_method: &'a str,
    /// The query's and the body's pairs.
    pub(crate) args: &'a [(String, String)],
    /// The access token it was signed with.
    pub(crate) token: Option<&'a str>,
}

impl Call<'_> {
    fn arg(&self, name: &str) -> Option<&str> {
        self.args
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The caller's perms (`None`: not signed with a token).
    fn perms(&self) -> Option<Perms> {
        let token = self.token?;
        self.shared
            .state()
            .access_tokens
            .get(token)
            .map(|t| t.perms)
    }

    fn require(&self, needed: Perms) -> Result<(), (u32, String)> {
        match self.perms() {
            Some(perms) if perms.allows(needed) => Ok(()),
            granted => Err((
                99,
                format!(
                    "Insufficient permissions. Method requires {needed} privileges; {} granted.",
                    granted.map_or("none", Perms::as_str)
                ),
            )),
        }
    }

    fn require_post(&self) -> Result<(), (u32, String)> {
        if self.http_method == "POST" {
            Ok(())
        } else {
            Err((
                116,
                "The POST method is now required for all setters".into(),
            ))
        }
    }

    fn photo_id(&self) -> Result<String, (u32, String)> {
        self.arg("photo_id")
            .map(str::to_owned)
            .ok_or_else(photo_not_found)
    }
}

/// Answers one REST method: the payload, or `(code, message)`.
pub(crate) fn handle(call: &Call<'_>, method: &str) -> Result<Value, (u32, String)> {
    match method {
        "flickr.test.login" => test_login(call),
        "flickr.auth.oauth.checkToken" => check_token(call),
        "flickr.photos.getInfo" => get_info(call),
        "flickr.photos.setMeta" => set_meta(call),
        "flickr.photos.delete" => delete(call),
        "flickr.favorites.add" => add_favorite(call),
        "flickr.favorites.remove" => remove_favorite(call),
        "flickr.favorites.getList" => get_list(call),
        other => Err((112, format!("Method \"{other}\" not found"))),
    }
}

fn test_login(call: &Call<'_>) -> Result<Value, (u32, String)> {
    call.require(Perms::Read)?;
    let config = &call.shared.config;
    Ok(json!({"user": {"id": config.user_nsid, "username": {"_content": config.username}}}))
}

/// Reads the token from the `oauth_token` *argument*, not the signature:
/// without it Flickr answers 98 (flickrapi #123).
fn check_token(call: &Call<'_>) -> Result<Value, (u32, String)> {
    let invalid = || (98, "Invalid token".to_owned());
    let token = call.arg("oauth_token").ok_or_else(invalid)?;
    let perms = {
        let state = call.shared.state();
        let access = state.access_tokens.get(token).filter(|t| !t.revoked);
        access.map(|t| t.perms).ok_or_else(invalid)?
    };
    let config = &call.shared.config;
    Ok(json!({"oauth": {
        "token": {"_content": token},
        "perms": {"_content": perms.as_str()},
        "user": {"nsid": config.user_nsid, "username": config.username, "fullname": config.fullname},
    }}))
}

fn get_info(call: &Call<'_>) -> Result<Value, (u32, String)> {
    let id = call.photo_id()?;
    let is_user = call.perms().is_some();
    let config = &call.shared.config;
    let state = call.shared.state();
    let photo = state.photos.get(&id).ok_or_else(photo_not_found)?;
    let own = is_user && photo.owner == config.user_nsid;
    if !photo.is_public && !own {
        return Err(photo_not_found());
    }
    Ok(wire::photo_info(
        config,
        photo,
        is_user && state.is_favorite(&id),
    ))
}

fn set_meta(call: &Call<'_>) -> Result<Value, (u32, String)> {
    call.require_post()?;
    call.require(Perms::Write)?;
    let id = call.photo_id()?;
    let (title, description) = (call.arg("title"), call.arg("description"));
    let config = &call.shared.config;
    let mut state = call.shared.state();
    let photo = state
        .photos
        .get_mut(&id)
        .filter(|p| p.owner == config.user_nsid)
        .ok_or_else(photo_not_found)?;
    if title.is_none() && description.is_none() {
        return Err((2, "At least one of title or description must be set".into()));
    }
    if let Some(title) = title {
        photo.title = title.to_owned();
    }
    if let Some(description) = description {
        photo.description = description.to_owned();
    }
    Ok(json!({}))
}

fn delete(call: &Call<'_>) -> Result<Value, (u32, String)> {
    call.require_post()?;
    call.require(Perms::Delete)?;
    let id = call.photo_id()?;
    let config = &call.shared.config;
    let mut state = call.shared.state();
    if state
        .photos
        .get(&id)
        .is_none_or(|p| p.owner != config.user_nsid)
    {
        return Err(photo_not_found());
    }
    state.remove_photo(&id);
    Ok(json!({}))
}

fn add_favorite(call: &Call<'_>) -> Result<Value, (u32, String)> {
    call.require_post()?;
    call.require(Perms::Write)?;
    let id = call.photo_id()?;
    let config = &call.shared.config;
    let mut state = call.shared.state();
    let photo = state.photos.get(&id).ok_or_else(photo_not_found)?;
    if photo.owner == config.user_nsid {
        return Err((2, "Photo is owned by you".into()));
    }
    if !photo.is_public {
        return Err((4, "User cannot see photo".into()));
    }
    if state.is_favorite(&id) {
        return Err((3, "Photo is already in favorites".into()));
    }
    state.set_favorite(&id, true, unix_time());
    Ok(json!({}))
}

fn remove_favorite(call: &Call<'_>) -> Result<Value, (u32, String)> {
    call.require_post()?;
    call.require(Perms::Write)?;
    let id = call.photo_id()?;
    let mut state = call.shared.state();
    if !state.is_favorite(&id) {
        return Err((1, "Photo not in favorites".into()));
    }
    state.set_favorite(&id, false, unix_time());
    Ok(json!({}))
}

/// The caller's favorites (or `user_id`'s: only the configured account has
/// any), newest first; `per_page` defaults to 100 and is capped at 500.
fn get_list(call: &Call<'_>) -> Result<Value, (u32, String)> {
    let config = &call.shared.config;
    let user = match call.arg("user_id") {
        Some(user) => user.to_owned(),
        None if call.perms().is_some() => config.user_nsid.clone(),
        None => return Err((1, "User not found".into())),
    };
    let page: u64 = call
        .arg("page")
        .and_then(|p| p.parse().ok())
        .filter(|p| *p > 0)
        .unwrap_or(1);
    let per_page: u64 = call
        .arg("per_page")
        .and_then(|p| p.parse().ok())
        .filter(|p| *p > 0)
        .unwrap_or(100)
        .min(500);
    let extras: Vec<&str> = call
        .arg("extras")
        .map(|e| e.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let state = call.shared.state();
    let favorites: &[(String, u64)] = if user == config.user_nsid {
        &state.favorites
    } else if wire::account(config, &user).0.is_empty() {
        return Err((1, "User not found".into()));
    } else {
        &[]
    };
    let total = favorites.len() as u64;
    let start = (page - 1).saturating_mul(per_page);
    let items: Vec<Value> = favorites
        .iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(per_page as usize)
        .filter_map(|(id, faved)| {
            let photo = state.photos.get(id)?;
            Some(wire::list_item(config, photo, *faved, &extras))
        })
        .collect();
    // As Flickr does: page, pages and perpage are numbers, total a string.
    Ok(json!({"photos": {
        "page": page, "pages": total.div_ceil(per_page), "perpage": per_page,
        "total": total.to_string(), "photo": items,
    }}))
}

/// `POST /services/upload/`: stores the photo (its hash and size, never its
/// bytes) with the text fields; answers `(code, message)` for `<err>`.
pub(crate) fn upload(
    shared: &Shared,
    token: Option<&str>,
    body: &Body,
) -> Result<String, (u32, String)> {
    let perms = token.and_then(|t| shared.state().access_tokens.get(t).map(|a| a.perms));
    if !perms.is_some_and(|p| p.allows(Perms::Write)) {
        return Err((
            99,
            "Insufficient permissions. Method requires write privileges".into(),
        ));
    }
    if let Some(problem) = &body.problem {
        return Err((3, format!("General upload failure: {problem}")));
    }
    let photo = body
        .files
        .iter()
        .find(|f| f.field == "photo")
        .ok_or_else(|| (2, "No photo specified".to_owned()))?;
    if photo.size == 0 {
        return Err((4, "Filesize was zero".into()));
    }
    let field = |name: &str| {
        body.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let flag = |name: &str, default: bool| field(name).map_or(default, |v| v == "1");
    let number = |name: &str, default: u8| {
        field(name)
            .and_then(|v| v.parse().ok())
            .filter(|n| *n > 0 && *n < 9)
            .unwrap_or(default)
    };
    let config = &shared.config;
    let mut state = shared.state();
    let id = state.fresh_id();
    let stored = StoredPhoto {
        id: id.clone(),
        owner: config.user_nsid.clone(),
        secret: random_hex(10),
        server: SERVER.to_owned(),
        title: field("title").unwrap_or_default().to_owned(),
        description: field("description").unwrap_or_default().to_owned(),
        tags: field("tags").unwrap_or_default().to_owned(),
        is_public: flag("is_public", true),
        is_friend: flag("is_friend", false),
        is_family: flag("is_family", false),
        safety_level: number("safety_level", 1),
        hidden: number("hidden", 1),
        size: photo.size,
        sha256: photo.sha256.clone(),
        file_name: photo.file_name.clone(),
        content_type: photo.content_type.clone(),
        posted: unix_time(),
        favorite: false,
    };
    state.photos.insert(id.clone(), stored);
    Ok(id)
}
