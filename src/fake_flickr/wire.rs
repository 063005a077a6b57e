//! Flickr's wire format as the fake writes it: REST JSON (with the
//! `jsonFlickrApi(…)` wrapper unless `nojsoncallback=1`), the upload's XML,
//! the OAuth layer's form-encoded answers and refusals, and HTML pages.
//! Numbers come as Flickr sends them, some as numbers and some as strings.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde_json::{json, Value};

use super::oauth::Refusal;
use super::state::{OTHER_FULLNAME, OTHER_NSID, OTHER_USERNAME};
use super::{FakeFlickrConfig, StoredPhoto};
use crate::flickr::signing::encode;

/// How the REST caller asked to be answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// `format=json&nojsoncallback=1`.
    Json,
    /// `format=json` alone: JSONP.
    Jsonp,
    /// Anything else; the fake speaks JSON only and says so in XML.
    Other,
}

impl Format {
    pub(crate) fn of(args: &[(String, String)]) -> Format {
        let get = |name: &str| {
            args.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        match (get("format"), get("nojsoncallback")) {
            (Some("json"), Some("1")) => Format::Json,
            (Some("json"), _) => Format::Jsonp,
            _ => Format::Other,
        }
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A REST answer, HTTP 200: `payload` plus `"stat":"ok"`, or a failure.
pub(crate) fn rest(format: Format, result: Result<Value, (u32, String)>) -> HttpResponse {
    let body = match result {
        Ok(mut payload) => {
            if let Some(object) = payload.as_object_mut() {
                object.insert("stat".into(), json!("ok"));
            }
            payload
        }
        Err((code, message)) => json!({"stat": "fail", "code": code, "message": message}),
    };
    match format {
        Format::Json => HttpResponse::Ok()
            .content_type("application/json; charset=utf-8")
            .body(body.to_string()),
        Format::Jsonp => HttpResponse::Ok()
            .content_type("text/javascript; charset=utf-8")
            .body(format!("jsonFlickrApi({body})")),
        Format::Other => xml_fail(
            111,
            "Format not found (the fake Flickr answers REST methods in format=json only)",
        ),
    }
}

/// The upload's success: `<rsp stat="ok"><photoid>…</photoid></rsp>`.
pub(crate) fn xml_photo_id(id: &str) -> HttpResponse {
    xml(format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n<rsp stat=\"ok\">\n<photoid>{id}</photoid>\n</rsp>\n"
    ))
}

/// `<rsp stat="fail"><err code msg/></rsp>`, HTTP 200.
pub(crate) fn xml_fail(code: u32, message: &str) -> HttpResponse {
    xml(format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n<rsp stat=\"fail\">\n\t<err code=\"{code}\" msg=\"{}\" />\n</rsp>\n",
        escape_html(message)
    ))
}

fn xml(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/xml; charset=utf-8")
        .body(body)
}

/// A form-encoded token answer, `text/plain` as Flickr sends it.
pub(crate) fn form(pairs: &[(&str, &str)]) -> HttpResponse {
    let body: Vec<String> = pairs
        .iter()
        .map(|(name, value)| format!("{name}={}", encode(value)))
        .collect();
    HttpResponse::Ok()
        .content_type("text/plain;charset=UTF-8")
        .body(body.join("&"))
}

/// A refusal, in the endpoint's shape: OAuth problems as HTTP 401
/// `text/plain` (with `debug_sbs` last and raw, as Flickr sends it),
/// `stat: fail` as JSON or XML.
pub(crate) fn refusal(refusal: &Refusal, xml_api: bool) -> HttpResponse {
    match refusal {
        Refusal::OAuth { problem, extra } => {
            let mut body = format!("oauth_problem={problem}");
            for (name, value) in extra {
                if *name == "debug_sbs" {
                    body.push_str(&format!("&debug_sbs={value}"));
                } else {
                    body.push_str(&format!("&{name}={}", encode(value)));
                }
            }
            HttpResponse::Unauthorized()
                .content_type("text/plain;charset=UTF-8")
                .body(body)
        }
        Refusal::Stat { code, message } if xml_api => xml_fail(*code, message),
        Refusal::Stat { code, message } => rest(Format::Json, Err((*code, message.clone()))),
    }
}

/// An HTML page.
pub(crate) fn html(code: u16, title: &str, body: &str) -> HttpResponse {
    let mut response = HttpResponse::build(status(code))
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\n<body><main>\n<h1>{title}</h1>\n{body}\n</main></body></html>\n"
        ));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An HTML error page with status `code` (a fault).
pub(crate) fn error_page(code: u16) -> HttpResponse {
    html(
        code,
        &format!("Flickr: error {code}"),
        "<p>Flickr is having a problem. Please try again later.</p>",
    )
}

/// HTML and XML escaping of text and attribute values.
pub(crate) fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The username and real name of an account the fake knows.
pub(crate) fn account(config: &FakeFlickrConfig, nsid: &str) -> (String, String) {
    if nsid == config.user_nsid {
        (config.username.clone(), config.fullname.clone())
    } else if nsid == OTHER_NSID {
        (OTHER_USERNAME.to_owned(), OTHER_FULLNAME.to_owned())
    } else {
        (String::new(), String::new())
    }
}

/// `flickr.photos.getInfo`'s `photo`, as the caller sees it.
pub(crate) fn photo_info(config: &FakeFlickrConfig, photo: &StoredPhoto, favorite: bool) -> Value {
    let (username, realname) = account(config, &photo.owner);
    let tags: Vec<Value> = photo
        .tags
        .split_whitespace()
        .enumerate()
        .map(|(i, raw)| {
            json!({"id": format!("{}-{}-{i}", photo.owner, photo.id), "author": photo.owner,
                   "authorname": username, "raw": raw, "_content": raw.to_lowercase(), "machine_tag": 0})
        })
        .collect();
    json!({"photo": {
        "id": photo.id, "secret": photo.secret, "server": photo.server, "farm": 66,
        "dateuploaded": photo.posted.to_string(), "isfavorite": u8::from(favorite),
        "license": "0", "safety_level": photo.safety_level.to_string(), "rotation": 0,
        "owner": {"nsid": photo.owner, "username": username, "realname": realname,
                  "location": "", "iconserver": "0", "iconfarm": 0, "path_alias": null},
        "title": {"_content": photo.title},
        "description": {"_content": photo.description},
        "visibility": {"ispublic": u8::from(photo.is_public), "isfriend": u8::from(photo.is_friend),
                       "isfamily": u8::from(photo.is_family)},
        "dates": {"posted": photo.posted.to_string(), "taken": "2024-01-01 12:00:00",
                  "takengranularity": 0, "takenunknown": "1", "lastupdate": photo.posted.to_string()},
        "views": "0",
        "tags": {"tag": tags},
        "urls": {"url": [{"type": "photopage",
                          "_content": format!("https://www.flickr.com/photos/{}/{}/", photo.owner, photo.id)}]},
        "media": "photo",
    }})
}

/// One `flickr.favorites.getList` item, with the `extras` asked for.
pub(crate) fn list_item(
    config: &FakeFlickrConfig,
    photo: &StoredPhoto,
    date_faved: u64,
    extras: &[&str],
) -> Value {
    let mut item = json!({
        "id": photo.id, "owner": photo.owner, "secret": photo.secret, "server": photo.server,
        "farm": 66, "title": photo.title, "ispublic": u8::from(photo.is_public),
        "isfriend": u8::from(photo.is_friend), "isfamily": u8::from(photo.is_family),
        "date_faved": date_faved.to_string(),
    });
    if let Some(object) = item.as_object_mut() {
        if extras.contains(&"description") {
            object.insert("description".into(), json!({"_content": photo.description}));
        }
        if extras.contains(&"owner_name") {
            object.insert("ownername".into(), json!(account(config, &photo.owner).0));
        }
        if extras.contains(&"date_upload") {
            object.insert("dateupload".into(), json!(photo.posted.to_string()));
        }
    }
    item
}
