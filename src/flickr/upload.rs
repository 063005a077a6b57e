//! A photo to upload to Flickr: its optional fields and its bytes as a
//! stream, so the client sends it with bounded memory. The text fields
//! come from one function ([`UploadFields::text_fields`]) for both the
//! signature and the multipart body, so the two cannot disagree.

/// Who may see an upload (`safety_level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SafetyLevel {
    Safe,
    Moderate,
    Restricted,
}

impl SafetyLevel {
    fn as_str(self) -> &'static str {
        match self {
            Self::Safe => "1",
            Self::Moderate => "2",
            Self::Restricted => "3",
        }
    }
}

/// Flickr's optional upload fields; a field left `None` is not sent, so
/// Flickr applies the user's default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UploadFields {
    pub title: Option<String>,
    /// May contain some limited HTML.
    pub description: Option<String>,
    /// Space-separated; quote a tag with spaces.
    pub tags: Option<String>,
    pub is_public: Option<bool>,
    pub is_friend: Option<bool>,
    pub is_family: Option<bool>,
    pub safety_level: Option<SafetyLevel>,
    /// Hide from public searches (`hidden=2`), or show (`hidden=1`).
    pub hidden: Option<bool>,
}

impl UploadFields {
    /// The multipart text fields, in the order sent; every one is signed.
    pub(crate) fn text_fields(&self) -> Vec<(&'static str, String)> {
        let flag = |b: bool| if b { "1" } else { "0" }.to_owned();
        let mut fields = Vec::new();
        let texts = [
            ("title", &self.title),
            ("description", &self.description),
            ("tags", &self.tags),
        ];
        for (name, value) in texts {
            if let Some(value) = value {
                fields.push((name, value.clone()));
            }
        }
        let flags = [
            ("is_public", self.is_public),
            ("is_friend", self.is_friend),
            ("is_family", self.is_family),
        ];
        for (name, value) in flags {
            if let Some(value) = value {
                fields.push((name, flag(value)));
            }
        }
        if let Some(level) = self.safety_level {
            fields.push(("safety_level", level.as_str().to_owned()));
        }
        if let Some(hidden) = self.hidden {
            fields.push(("hidden", if hidden { "2" } else { "1" }.to_owned()));
        }
        fields
    }
}

/// The photo's bytes, read once as they are sent.
pub type PhotoStream = crate::upload::ByteStream;

/// One upload: the fields, the file's name and type, and its bytes.
pub struct PhotoUpload {
    pub fields: UploadFields,
    pub file_name: String,
    pub content_type: Option<String>,
    /// The byte count when known: the request then has a `Content-Length`.
    pub length: Option<u64>,
    pub body: PhotoStream,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_set_field_becomes_a_text_field_and_unset_ones_are_not_sent() {
        assert!(UploadFields::default().text_fields().is_empty());
        let fields = UploadFields {
            title: Some("T".into()),
            description: Some("D".into()),
            tags: Some("a b".into()),
            is_public: Some(false),
            is_friend: Some(true),
            is_family: Some(false),
            safety_level: Some(SafetyLevel::Moderate),
            hidden: Some(true),
        };
        assert_eq!(
            fields.text_fields(),
            vec![
                ("title", "T".to_owned()),
                ("description", "D".to_owned()),
                ("tags", "a b".to_owned()),
                ("is_public", "0".to_owned()),
                ("is_friend", "1".to_owned()),
                ("is_family", "0".to_owned()),
                ("safety_level", "2".to_owned()),
                ("hidden", "2".to_owned()),
            ]
        );
    }
}
