//! Flickr's wire format, and the only code that knows it:
//! - REST answers in JSON (`format=json&nojsoncallback=1`): `{"stat":"ok",…}`
//!   or HTTP 200 `{"stat":"fail","code":N,"message":…}`. Attributes arrive as
//!   string members, text nodes as `"_content"`, and numbers sometimes as
//!   numbers, sometimes as strings, so every number and flag here is read
//!   as either.
//! - The upload's XML: `<rsp stat="ok"><photoid>…</photoid></rsp>` or
//!   `<rsp stat="fail"><err code="…" msg="…"/></rsp>` (read with quick-xml).
//! - The OAuth endpoints' form-encoded answers, and the OAuth layer's 401
//!   `oauth_problem=…&debug_sbs=…` (whose `debug_sbs` is the raw base string,
//!   `&` and all, up to the end of the body).
//!
//! Every parser takes any bytes without panicking (a proptest below says so).

use super::credentials::{Authorization, LoginUser, Perms, RequestToken, Token, TokenCheck};
use super::error::Error;
use super::photo::{image_url, photo_page_url, FavoritesPage, Photo};
use super::signing::form_pairs;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use serde::de::{DeserializeOwned, Deserializer, IgnoredAny};
use serde::Deserialize;

/// A REST or upload answer: Flickr's `stat` decides.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Answer<T> {
    Ok(T),
    Fail { code: u32, message: String },
}

fn bad_body(detail: impl Into<String>) -> Error {
    Error::BadBody {
        detail: detail.into(),
    }
}

/// A REST answer's envelope, then its payload as `T`.
pub(crate) fn rest<T: DeserializeOwned>(body: &[u8]) -> Result<Answer<T>, Error> {
    if body.starts_with(b"jsonFlickrApi(") {
        return Err(bad_body(
            "Flickr answered JSONP: the request lacked nojsoncallback=1",
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| bad_body(format!("Flickr's answer is not JSON: {e}")))?;
    match value.get("stat").and_then(|s| s.as_str()) {
        Some("ok") => serde_json::from_value(value)
            .map(Answer::Ok)
            .map_err(|e| bad_body(format!("Flickr's answer lacks what was expected: {e}"))),
        Some("fail") => {
            let code = value.get("code").and_then(flex_number).unwrap_or(0);
            let message = value
                .get("message")
                .and_then(|m| m.as_str())
                .unwrap_or("(no message)")
                .to_owned();
            Ok(Answer::Fail {
                code: u32::try_from(code).unwrap_or(u32::MAX),
                message,
            })
        }
        _ => Err(bad_body("Flickr's answer has no stat of ok or fail")),
    }
}

/// An answer that is only `{"stat":"ok"}` (setMeta, delete, favorites.add/remove).
pub(crate) type Empty = IgnoredAny;

/// A JSON number, or a string holding one.
fn flex_number(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// What Flickr sends for a scalar.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Number(serde_json::Number),
    Text(String),
    Bool(bool),
}

/// A number sent as a number or a numeric string.
fn de_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    flex_number(&value).ok_or_else(|| serde::de::Error::custom("expected a number"))
}

/// Like [`de_u64`], `None` for null, an empty string or something else.
fn de_opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(flex_number(&value).filter(|n| *n > 0))
}

/// A flag: `1`/`0`, `"1"`/`"0"` or `true`/`false`.
fn de_flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match Scalar::deserialize(d)? {
        Scalar::Number(n) => n.as_u64().is_some_and(|n| n != 0),
        Scalar::Text(s) => matches!(s.trim(), "1" | "true"),
        Scalar::Bool(b) => b,
    })
}

fn de_opt_flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    de_flag(d).map(Some)
}

/// An id, secret or server: a string, or a number Flickr sent bare.
fn de_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Scalar::deserialize(d)? {
        Scalar::Number(n) => n.to_string(),
        Scalar::Text(s) => s,
        Scalar::Bool(b) => b.to_string(),
    })
}

/// A text node, which JSON maps to `{"_content": …}`, or a plain string
/// (the same field is an object in getInfo and a string in list items).
#[derive(Default)]
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Shape {
            Content {
                #[serde(rename = "_content", default, deserialize_with = "de_text")]
                content: String,
            },
            Plain(#[serde(deserialize_with = "de_text")] String),
        }
        Ok(Text(match Shape::deserialize(d)? {
            Shape::Content { content } => content,
            Shape::Plain(s) => s,
        }))
    }
}

impl Text {
    fn non_empty(self) -> Option<String> {
        Some(self.0).filter(|s| !s.is_empty())
    }
}

/// `flickr.photos.getInfo`.
#[derive(Deserialize)]
pub(crate) struct InfoAnswer {
    photo: InfoPhoto,
}

#[derive(Deserialize)]
struct InfoPhoto {
    #[serde(deserialize_with = "de_text")]
    id: String,
    #[serde(deserialize_with = "de_text")]
    secret: String,
    #[serde(deserialize_with = "de_text")]
    server: String,
    #[serde(default, deserialize_with = "de_opt_flag")]
    isfavorite: Option<bool>,
    owner: InfoOwner,
    #[serde(default)]
    title: Text,
    #[serde(default)]
    description: Text,
    #[serde(default)]
    visibility: Option<Visibility>,
    #[serde(default)]
    dates: Option<Dates>,
    #[serde(default, deserialize_with = "de_opt_u64")]
    dateuploaded: Option<u64>,
    #[serde(default)]
    urls: Option<Urls>,
}

#[derive(Deserialize)]
struct InfoOwner {
    #[serde(deserialize_with = "de_text")]
    nsid: String,
    #[serde(default)]
    username: Option<String>,
}

#[derive(Deserialize)]
struct Visibility {
    #[serde(default, deserialize_with = "de_flag")]
    ispublic: bool,
}

#[derive(Deserialize)]
struct Dates {
    #[serde(default, deserialize_with = "de_opt_u64")]
    posted: Option<u64>,
}

#[derive(Deserialize)]
struct Urls {
    #[serde(default)]
    url: Vec<PageUrl>,
}

#[derive(Deserialize)]
struct PageUrl {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(rename = "_content", default)]
    content: String,
}

impl InfoAnswer {
    pub(crate) fn into_photo(self) -> Photo {
        let p = self.photo;
        let link = p
            .urls
            .and_then(|urls| urls.url.into_iter().find(|u| u.kind == "photopage"))
            .map(|u| u.content)
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| photo_page_url(&p.owner.nsid, &p.id));
        Photo {
            image_url: image_url(&p.server, &p.id, &p.secret),
            title: p.title.non_empty(),
            description: p.description.non_empty(),
            username: p.owner.username.filter(|u| !u.is_empty()),
            datetime: p.dates.and_then(|d| d.posted).or(p.dateuploaded),
            is_public: p.visibility.is_some_and(|v| v.ispublic),
            favorite: p.isfavorite,
            link,
            owner: p.owner.nsid,
            id: p.id,
        }
    }
}

/// The `extras` a favorites page asks for, so its items fill the photo schema.
pub(crate) const LIST_EXTRAS: &str = "description,owner_name,date_upload";

/// `flickr.favorites.getList` (with [`LIST_EXTRAS`]).
#[derive(Deserialize)]
pub(crate) struct ListAnswer {
    photos: ListPhotos,
}

#[derive(Deserialize)]
struct ListPhotos {
    #[serde(deserialize_with = "de_u64")]
    page: u64,
    #[serde(deserialize_with = "de_u64")]
    pages: u64,
    #[serde(deserialize_with = "de_u64")]
    perpage: u64,
    #[serde(deserialize_with = "de_u64")]
    total: u64,
    #[serde(default)]
    photo: Vec<ListPhoto>,
}

#[derive(Deserialize)]
struct ListPhoto {
    #[serde(deserialize_with = "de_text")]
    id: String,
    #[serde(deserialize_with = "de_text")]
    owner: String,
    #[serde(deserialize_with = "de_text")]
    secret: String,
    #[serde(deserialize_with = "de_text")]
    server: String,
    #[serde(default)]
    title: Text,
    #[serde(default)]
    description: Text,
    #[serde(default)]
    ownername: Option<String>,
    #[serde(default, deserialize_with = "de_opt_u64")]
    dateupload: Option<u64>,
    #[serde(default, deserialize_with = "de_flag")]
    ispublic: bool,
}

impl ListAnswer {
    /// The page; every item is a favorite of the caller.
    pub(crate) fn into_page(self) -> FavoritesPage {
        let p = self.photos;
        FavoritesPage {
            page: p.page,
            pages: p.pages,
            per_page: p.perpage,
            total: p.total,
            photos: p
                .photo
                .into_iter()
                .map(|item| Photo {
                    image_url: image_url(&item.server, &item.id, &item.secret),
                    link: photo_page_url(&item.owner, &item.id),
                    title: item.title.non_empty(),
                    description: item.description.non_empty(),
                    username: item.ownername.filter(|u| !u.is_empty()),
                    datetime: item.dateupload,
                    is_public: item.ispublic,
                    favorite: Some(true),
                    owner: item.owner,
                    id: item.id,
                })
                .collect(),
        }
    }
}

/// `flickr.auth.oauth.checkToken`: `{"oauth":{"token":…,"perms":…,"user":{…}}}`.
#[derive(Deserialize)]
pub(crate) struct CheckTokenAnswer {
    oauth: CheckToken,
}

#[derive(Deserialize)]
struct CheckToken {
    perms: Text,
    user: CheckTokenUser,
}

#[derive(Deserialize)]
struct CheckTokenUser {
    #[serde(deserialize_with = "de_text")]
    nsid: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    fullname: String,
}

impl CheckTokenAnswer {
    pub(crate) fn into_check(self) -> Result<TokenCheck, Error> {
        let perms = self
            .oauth
            .perms
            .0
            .parse::<Perms>()
            .map_err(|_| bad_body("checkToken's perms are not read, write or delete"))?;
        Ok(TokenCheck {
            perms,
            user_nsid: self.oauth.user.nsid,
            username: self.oauth.user.username,
            fullname: self.oauth.user.fullname,
        })
    }
}

/// `flickr.test.login`: `{"user":{"id":…,"username":{"_content":…}}}`.
#[derive(Deserialize)]
pub(crate) struct LoginAnswer {
    user: LoginAnswerUser,
}

#[derive(Deserialize)]
struct LoginAnswerUser {
    #[serde(deserialize_with = "de_text")]
    id: String,
    #[serde(default)]
    username: Text,
}

impl LoginAnswer {
    pub(crate) fn into_user(self) -> LoginUser {
        LoginUser {
            user_nsid: self.user.id,
            username: self.user.username.0,
        }
    }
}

/// The upload's XML answer: the new photo's id, or Flickr's `<err>`.
pub(crate) fn upload(body: &[u8]) -> Result<Answer<String>, Error> {
    let text =
        std::str::from_utf8(body).map_err(|_| bad_body("Flickr's upload answer is not UTF-8"))?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let malformed =
        |e: quick_xml::Error| bad_body(format!("Flickr's upload answer is not XML: {e}"));
    let mut stat: Option<String> = None;
    let mut in_element: Option<String> = None;
    let mut photo_id: Option<String> = None;
    let mut ticket_id: Option<String> = None;
    let mut err: Option<(u32, String)> = None;
    loop {
        match reader.read_event().map_err(malformed)? {
            Event::Start(e) => {
                let name = element_name(&e);
                if name == "rsp" {
                    stat = attribute(&e, "stat");
                } else if name == "err" {
                    err = Some(err_attributes(&e));
                }
                in_element = Some(name);
            }
            Event::Empty(e) => match element_name(&e).as_str() {
                "rsp" => stat = attribute(&e, "stat"),
                "err" => err = Some(err_attributes(&e)),
                _ => {}
            },
            Event::Text(t) => {
                let value = t.xml10_content().trim().to_owned();
                match in_element.as_deref() {
                    Some("photoid") => photo_id = Some(value),
                    Some("ticketid") => ticket_id = Some(value),
                    _ => {}
                }
            }
            Event::End(_) => in_element = None,
            Event::Eof => break,
            _ => {}
        }
    }
    match stat.as_deref() {
        Some("ok") => match (photo_id, ticket_id) {
            (Some(id), _) if !id.is_empty() => Ok(Answer::Ok(id)),
            (_, Some(_)) => Err(bad_body(
                "Flickr answered the upload with a ticket (async), not a photo id",
            )),
            _ => Err(bad_body("Flickr's upload answer has no photoid")),
        },
        Some("fail") => {
            let (code, message) = err.unwrap_or((0, "(no message)".to_owned()));
            Ok(Answer::Fail { code, message })
        }
        _ => Err(bad_body("Flickr's upload answer has no <rsp stat>")),
    }
}

fn element_name(e: &BytesStart<'_>) -> String {
    e.local_name().as_ref().to_owned()
}

fn attribute(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes().flatten().find_map(|a| {
        (a.key.local_name().as_ref() == name)
            .then(|| {
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .ok()
                    .map(|v| v.into_owned())
            })
            .flatten()
    })
}

fn err_attributes(e: &BytesStart<'_>) -> (u32, String) {
    let code = attribute(e, "code")
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(0);
    let message = attribute(e, "msg").unwrap_or_else(|| "(no message)".to_owned());
    (code, message)
}

/// The OAuth layer's refusal: `oauth_problem=…`, maybe with `debug_sbs`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct OAuthProblem {
    pub(crate) problem: String,
    /// The server's base string, exactly as sent (it holds the token).
    pub(crate) debug_sbs: Option<String>,
    pub(crate) parameters_absent: Option<String>,
}

impl OAuthProblem {
    pub(crate) fn into_error(self) -> Error {
        Error::from_oauth_problem(
            &self.problem,
            self.debug_sbs.as_deref(),
            self.parameters_absent,
        )
    }
}

/// Reads an `oauth_problem=…` body; `None` if the body is not one.
/// `debug_sbs` runs to the end of the body unencoded (its `&`s are the base
/// string's own), so it is cut off before the other pairs are read.
pub(crate) fn oauth_problem(body: &[u8]) -> Option<OAuthProblem> {
    let text = std::str::from_utf8(body).ok()?.trim();
    if !text.starts_with("oauth_problem=") {
        return None;
    }
    let (pairs, debug_sbs) = match text.find("&debug_sbs=") {
        Some(at) => (
            &text[..at],
            Some(text[at + "&debug_sbs=".len()..].to_owned()),
        ),
        None => (text, None),
    };
    let pairs = form_pairs(pairs);
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    Some(OAuthProblem {
        problem: get("oauth_problem").filter(|p| !p.is_empty())?,
        parameters_absent: get("oauth_parameters_absent"),
        debug_sbs,
    })
}

/// A form-encoded token answer's pairs, and a getter that requires a name.
fn token_form(body: &[u8]) -> Result<Vec<(String, String)>, Error> {
    let text =
        std::str::from_utf8(body).map_err(|_| bad_body("Flickr's token answer is not UTF-8"))?;
    Ok(form_pairs(text.trim()))
}

fn required(pairs: &[(String, String)], name: &str) -> Result<String, Error> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| bad_body(format!("Flickr's token answer has no {name}")))
}

/// Leg 1: `oauth_callback_confirmed=true&oauth_token=…&oauth_token_secret=…`.
pub(crate) fn request_token(body: &[u8]) -> Result<RequestToken, Error> {
    let pairs = token_form(body)?;
    let token = Token::new(
        required(&pairs, "oauth_token")?,
        required(&pairs, "oauth_token_secret")?,
    );
    // RFC 5849 §2.1: the server MUST answer `oauth_callback_confirmed=true`.
    if !pairs
        .iter()
        .any(|(n, v)| n == "oauth_callback_confirmed" && v == "true")
    {
        return Err(bad_body(
            "Flickr's request token answer lacks oauth_callback_confirmed=true",
        ));
    }
    Ok(RequestToken(token))
}

/// Leg 3: `fullname=…&oauth_token=…&oauth_token_secret=…&user_nsid=…&username=…`.
pub(crate) fn authorization(body: &[u8]) -> Result<Authorization, Error> {
    let pairs = token_form(body)?;
    let optional = |name: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    Ok(Authorization {
        token: Token::new(
            required(&pairs, "oauth_token")?,
            required(&pairs, "oauth_token_secret")?,
        ),
        user_nsid: required(&pairs, "user_nsid")?,
        username: optional("username"),
        fullname: optional("fullname"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn a_stat_fail_answer_keeps_its_code_and_message() {
        let body = br#"{"stat":"fail","code":112,"message":"Method \"flickr.photos.doesNotExist\" not found"}"#;
        assert_eq!(
            rest::<Empty>(body).unwrap(),
            Answer::Fail {
                code: 112,
                message: "Method \"flickr.photos.doesNotExist\" not found".into()
            }
        );
        let as_string = br#"{"message":"Invalid auth token","code":"98","stat":"fail"}"#;
        assert!(matches!(
            rest::<Empty>(as_string).unwrap(),
            Answer::Fail { code: 98, .. }
        ));
    }

    #[test]
    fn jsonp_and_bodies_without_stat_are_bad_bodies() {
        for body in [
            &br#"jsonFlickrApi({"stat":"ok"})"#[..],
            br#"{"photo":{}}"#,
            b"<rsp stat=\"ok\"/>",
            b"",
        ] {
            assert!(matches!(rest::<Empty>(body), Err(Error::BadBody { .. })));
        }
    }

    #[test]
    fn get_info_maps_to_the_photo_schema() {
        let body = br#"{"photo":{"id":"2733","secret":"123456","server":"12","farm":1,"dateuploaded":"1100897479","isfavorite":0,
            "owner":{"nsid":"12037949754@N01","username":"Bees","realname":"Cal Henderson"},
            "title":{"_content":"orford_castle_taster"},"description":{"_content":"hello!"},
            "visibility":{"ispublic":1,"isfriend":0,"isfamily":0},
            "dates":{"posted":"1100897479","taken":"2004-11-19 12:51:19","lastupdate":"1093022469"},
            "urls":{"url":[{"type":"photopage","_content":"https://www.flickr.com/photos/bees/2733/"}]}},"stat":"ok"}"#;
        let Answer::Ok(info) = rest::<InfoAnswer>(body).unwrap() else {
            panic!("stat ok")
        };
        assert_eq!(
            info.into_photo(),
            Photo {
                id: "2733".into(),
                title: Some("orford_castle_taster".into()),
                description: Some("hello!".into()),
                owner: "12037949754@N01".into(),
                username: Some("Bees".into()),
                datetime: Some(1100897479),
                link: "https://www.flickr.com/photos/bees/2733/".into(),
                image_url: "https://live.staticflickr.com/12/2733_123456.jpg".into(),
                is_public: true,
                favorite: Some(false),
            }
        );
    }

    #[test]
    fn favorites_list_reads_numbers_as_numbers_or_strings() {
        let body = br#"{"photos":{"page":1,"pages":"3","perpage":2,"total":"5","photo":[
            {"id":"1","owner":"9@N00","secret":"s","server":"65535","farm":66,"title":"T","ispublic":"1","isfriend":0,"isfamily":0,
             "date_faved":"1700000001","ownername":"other","dateupload":"1600000000","description":{"_content":""}},
            {"id":2,"owner":"9@N00","secret":"t","server":65535,"title":"","ispublic":0}]},"stat":"ok"}"#;
        let Answer::Ok(list) = rest::<ListAnswer>(body).unwrap() else {
            panic!("stat ok")
        };
        let page = list.into_page();
        assert_eq!(
            (page.page, page.pages, page.per_page, page.total),
            (1, 3, 2, 5)
        );
        let first = &page.photos[0];
        assert_eq!(first.username.as_deref(), Some("other"));
        assert_eq!(first.datetime, Some(1600000000));
        assert_eq!(first.description, None);
        assert!(first.is_public);
        assert_eq!(first.link, "https://www.flickr.com/photos/9@N00/1/");
        assert_eq!(first.favorite, Some(true));
        let second = &page.photos[1];
        assert_eq!(second.id, "2");
        assert_eq!(second.title, None);
        assert_eq!(
            second.image_url,
            "https://live.staticflickr.com/65535/2_t.jpg"
        );
        assert!(!second.is_public);
    }

    #[test]
    fn check_token_gives_perms_and_user() {
        let body = br#"{"oauth":{"token":{"_content":"72157-abc"},"perms":{"_content":"write"},
            "user":{"nsid":"21207597@N07","username":"jamalfanaian","fullname":"Jamal Fanaian"}},"stat":"ok"}"#;
        let Answer::Ok(answer) = rest::<CheckTokenAnswer>(body).unwrap() else {
            panic!("stat ok")
        };
        assert_eq!(
            answer.into_check().unwrap(),
            TokenCheck {
                perms: Perms::Write,
                user_nsid: "21207597@N07".into(),
                username: "jamalfanaian".into(),
                fullname: "Jamal Fanaian".into(),
            }
        );
    }

    #[test]
    fn test_login_gives_the_user() {
        let body =
            br#"{"user":{"id":"21207597@N07","username":{"_content":"jamalfanaian"}},"stat":"ok"}"#;
        let Answer::Ok(answer) = rest::<LoginAnswer>(body).unwrap() else {
            panic!("stat ok")
        };
        assert_eq!(answer.into_user().username, "jamalfanaian");
    }

    #[test]
    fn upload_xml_gives_the_photo_id_or_the_error() {
        let ok = b"<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n<rsp stat=\"ok\">\n<photoid>35467821184</photoid>\n</rsp>\n";
        assert_eq!(upload(ok).unwrap(), Answer::Ok("35467821184".into()));
        let fail = b"<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n<rsp stat=\"fail\">\n\t<err code=\"5\" msg=\"Filetype was not recognised &amp; refused\" />\n</rsp>\n";
        assert_eq!(
            upload(fail).unwrap(),
            Answer::Fail {
                code: 5,
                message: "Filetype was not recognised & refused".into()
            }
        );
        let ticket = b"<rsp stat=\"ok\"><ticketid>1234</ticketid></rsp>";
        assert!(matches!(upload(ticket), Err(Error::BadBody { .. })));
        assert!(matches!(
            upload(b"{\"stat\":\"ok\"}"),
            Err(Error::BadBody { .. })
        ));
    }

    #[test]
    fn oauth_problem_keeps_the_raw_debug_sbs_to_the_end() {
        let body = b"oauth_problem=signature_invalid&debug_sbs=POST&https%3A%2F%2Fwww.flickr.com%2Fservices%2Foauth%2Frequest_token&oauth_callback%3Doob%26oauth_consumer_key%3Dk";
        let problem = oauth_problem(body).unwrap();
        assert_eq!(problem.problem, "signature_invalid");
        assert_eq!(
            problem.debug_sbs.as_deref(),
            Some("POST&https%3A%2F%2Fwww.flickr.com%2Fservices%2Foauth%2Frequest_token&oauth_callback%3Doob%26oauth_consumer_key%3Dk")
        );
        let absent =
            oauth_problem(b"oauth_problem=parameter_absent&oauth_parameters_absent=oauth_token")
                .unwrap();
        assert_eq!(absent.parameters_absent.as_deref(), Some("oauth_token"));
        assert_eq!(
            oauth_problem(b"oauth_problem=token_rejected")
                .unwrap()
                .into_error(),
            Error::TokenRejected
        );
        assert_eq!(oauth_problem(b"<html>401</html>"), None);
    }

    #[test]
    fn token_answers_are_read_from_the_form() {
        let leg1 = b"oauth_callback_confirmed=true&oauth_token=72157626737672178-022bbd2f4c2f3432&oauth_token_secret=fccb68c4e6103197";
        let RequestToken(token) = request_token(leg1).unwrap();
        assert_eq!(
            token.token,
            Secret::new("72157626737672178-022bbd2f4c2f3432")
        );
        assert_eq!(token.secret, Secret::new("fccb68c4e6103197"));
        let unconfirmed = b"oauth_token=t&oauth_token_secret=s";
        assert!(matches!(
            request_token(unconfirmed),
            Err(Error::BadBody { .. })
        ));

        let leg3 = b"fullname=Jamal%20Fanaian&oauth_token=72157626318069415-087bfc7b5816092c&oauth_token_secret=a202d1f853ec69de&user_nsid=21207597%40N07&username=jamalfanaian";
        let authorization = authorization(leg3).unwrap();
        assert_eq!(authorization.user_nsid, "21207597@N07");
        assert_eq!(authorization.username, "jamalfanaian");
        assert_eq!(authorization.fullname, "Jamal Fanaian");
        assert_eq!(authorization.token.secret, Secret::new("a202d1f853ec69de"));

        assert!(matches!(
            request_token(b"oauth_token=only"),
            Err(Error::BadBody { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn no_body_makes_a_parser_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = rest::<InfoAnswer>(&body);
            let _ = rest::<ListAnswer>(&body);
            let _ = rest::<CheckTokenAnswer>(&body).map(|a| match a { Answer::Ok(a) => a.into_check().is_ok(), Answer::Fail { .. } => false });
            let _ = rest::<LoginAnswer>(&body);
            let _ = upload(&body);
            let _ = oauth_problem(&body);
            let _ = request_token(&body);
            let _ = authorization(&body);
        }

        #[test]
        fn no_near_miss_text_makes_a_parser_panic(body in "(\\{|\\}|\"stat\"|:|\"ok\"|\"fail\"|\"code\"|\"photo\"|\"_content\"|,|\\[|\\]|<rsp|stat=\"ok\"|>|</rsp>|<photoid>|<err|code=\"|&amp;|&|=|oauth_problem|debug_sbs|[0-9a-z ]){0,40}") {
            let bytes = body.as_bytes();
            let _ = rest::<InfoAnswer>(bytes);
            let _ = rest::<ListAnswer>(bytes);
            let _ = upload(bytes);
            let _ = oauth_problem(bytes);
            let _ = request_token(bytes);
            let _ = authorization(bytes);
        }
    }
}
