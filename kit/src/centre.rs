//! The centre's profile: its name, logo, postal address, imprint and privacy-policy links, an
//! emergency line (a crisis hotline), opening hours and contact e-mail, shown on every public
//! page so that clients see whose service they use and where to turn in a crisis.
//!
//! Two sources, one result: the configuration gives [`Defaults`] (`--centre-*` flags), and
//! values stored in the database (`confidant admin centre set`, later the organisation's admin
//! area) override them field by field, so a change made with the CLI takes effect on the next
//! page without touching the configuration. Every value is checked here, in one place, by
//! [`check`] and [`check_logo`]: the configuration, the CLI and any future admin API call them.
//!
//! **Logo.** PNG, JPEG or SVG, recognised by their bytes (never by a file name), at most
//! [`MAX_LOGO_BYTES`]. It is served from `/centre/logo/{digest}` (the digest of its bytes, so
//! the URL changes with the logo and may be cached for good). An SVG is a document that could
//! carry script: it is served with `Content-Security-Policy: sandbox; default-src 'none'`, so
//! opened on its own it can run nothing nor load anything, and pages only embed it as `<img>`,
//! where browsers never run an SVG's script.

use sha2::{Digest, Sha256};

use crate::db::Db;
use crate::error::AppError;

/// Largest logo accepted, in bytes (256 KiB: a crisp header logo is a few KiB; anything bigger
/// slows every public page on a phone).
pub const MAX_LOGO_BYTES: usize = 256 * 1024;
/// Most characters of the centre's name (it also goes into mail subjects).
pub const MAX_NAME_CHARS: usize = 100;
/// Most characters of the postal address (a few lines).
pub const MAX_ADDRESS_CHARS: usize = 300;
/// Most lines of the postal address.
pub const MAX_ADDRESS_LINES: usize = 6;
/// Most characters of an imprint or privacy-policy URL.
pub const MAX_URL_CHARS: usize = 500;
/// Most characters of the emergency line's label ("TelefonSeelsorge").
pub const MAX_LABEL_CHARS: usize = 100;
/// Most characters of the emergency text ("In an acute crisis call …").
pub const MAX_TEXT_CHARS: usize = 300;
/// Most characters of the opening hours.
pub const MAX_HOURS_CHARS: usize = 200;
/// Fewest and most digits of a phone number (116 123 has 6; E.164 allows 15, extensions more).
pub const PHONE_DIGITS: std::ops::RangeInclusive<usize> = 3..=20;
/// Most characters of a phone number as written ("+49 (0)800 111 0 111").
pub const MAX_PHONE_CHARS: usize = 30;

/// One text field of the profile. `key()` is its name in the database, the CLI
/// (`--imprint-url`), errors (`field`) and JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// The centre's name.
    Name,
    /// Postal address, several lines.
    Address,
    /// The imprint (Impressum) page, http(s).
    ImprintUrl,
    /// The privacy policy, http(s).
    PrivacyUrl,
    /// The emergency line's name ("TelefonSeelsorge").
    EmergencyLabel,
    /// The emergency line's phone number.
    EmergencyPhone,
    /// A short text about it ("In an acute crisis call …").
    EmergencyText,
    /// Opening hours, free text.
    OpeningHours,
    /// A contact e-mail address.
    ContactEmail,
}

impl Field {
    /// Every field, in the order they are shown.
    pub const ALL: [Field; 9] = [
        Field::Name,
        Field::Address,
        Field::ImprintUrl,
        Field::PrivacyUrl,
        Field::EmergencyLabel,
        Field::EmergencyPhone,
        Field::EmergencyText,
        Field::OpeningHours,
        Field::ContactEmail,
    ];

    /// Its name in the database, on the command line, in errors and JSON.
    pub fn key(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Address => "address",
            Field::ImprintUrl => "imprint_url",
            Field::PrivacyUrl => "privacy_url",
            Field::EmergencyLabel => "emergency_label",
            Field::EmergencyPhone => "emergency_phone",
            Field::EmergencyText => "emergency_text",
            Field::OpeningHours => "opening_hours",
            Field::ContactEmail => "contact_email",
        }
    }

    /// The field named `key`.
    pub fn from_key(key: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.key() == key)
    }
}

/// Checks one value of `field` and returns it as stored (trimmed; a phone number as written).
/// The error names the field.
pub fn check(field: Field, raw: &str) -> Result<String, AppError> {
    let key = field.key();
    let text = |max: usize, multiline: bool| -> Result<String, AppError> {
        let v = raw.trim().replace("\r\n", "\n");
        if v.is_empty() {
            return Err(AppError::invalid(key, "must not be empty"));
        }
        if v.chars().count() > max {
            return Err(AppError::invalid(
                key,
                format!("must be at most {max} characters"),
            ));
        }
        if confidant_text::has_forbidden(&v, multiline) {
            return Err(AppError::invalid(
                key,
                "must not contain control or bidi characters",
            ));
        }
        Ok(v)
    };
    match field {
        Field::Name => text(MAX_NAME_CHARS, false),
        Field::EmergencyLabel => text(MAX_LABEL_CHARS, false),
        Field::EmergencyText => text(MAX_TEXT_CHARS, false),
        Field::OpeningHours => text(MAX_HOURS_CHARS, true),
        Field::Address => {
            let v = text(MAX_ADDRESS_CHARS, true)?;
            if v.lines().count() > MAX_ADDRESS_LINES {
                return Err(AppError::invalid(
                    key,
                    format!("must be at most {MAX_ADDRESS_LINES} lines"),
                ));
            }
            Ok(v)
        }
        Field::ImprintUrl | Field::PrivacyUrl => check_url(key, raw),
        Field::EmergencyPhone => {
            let v = text(MAX_PHONE_CHARS, false)?;
            tel_href(&v).ok_or_else(|| {
                AppError::invalid(
                    key,
                    format!(
                        "must be a phone number: {} to {} digits, optionally a leading +, \
                         spaces, -, /, . and ( )",
                        PHONE_DIGITS.start(),
                        PHONE_DIGITS.end()
                    ),
                )
            })?;
            Ok(v)
        }
        Field::ContactEmail => crate::auth::normalize_email(raw)
            .map_err(|_| AppError::invalid(key, "must be an e-mail address")),
    }
}

/// An absolute http(s) URL with a host, at most [`MAX_URL_CHARS`].
fn check_url(key: &str, raw: &str) -> Result<String, AppError> {
    let v = raw.trim();
    if v.chars().count() > MAX_URL_CHARS {
        return Err(AppError::invalid(
            key,
            format!("must be at most {MAX_URL_CHARS} characters"),
        ));
    }
    match url::Url::parse(v) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            Ok(u.to_string())
        }
        _ => Err(AppError::invalid(
            key,
            "must be an absolute http:// or https:// URL",
        )),
    }
}

/// The `tel:` URL of a phone number as written (`+49 800 111-0 111` → `tel:+498001110111`), or
/// `None` if it is not one: digits and the separators ` -/.()`, a `+` only in front.
pub fn tel_href(written: &str) -> Option<String> {
    let mut out = String::from("tel:");
    let mut digits = 0;
    for (i, c) in written.trim().chars().enumerate() {
        match c {
            '+' if i == 0 => out.push('+'),
            '0'..='9' => {
                out.push(c);
                digits += 1;
            }
            ' ' | '-' | '/' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    PHONE_DIGITS.contains(&digits).then_some(out)
}

/// A checked logo.
#[derive(Clone, PartialEq, Eq)]
pub struct Logo {
    /// `image/png`, `image/jpeg` or `image/svg+xml`, from the bytes.
    pub content_type: &'static str,
    /// The image.
    pub bytes: Vec<u8>,
    /// Hex SHA-256 of the bytes (its URL: `/centre/logo/{digest}`).
    pub digest: String,
}

impl std::fmt::Debug for Logo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logo")
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .field("digest", &self.digest)
            .finish()
    }
}

impl Logo {
    /// The path it is served from.
    pub fn url(&self) -> String {
        format!("/centre/logo/{}", self.digest)
    }
}

/// Checks a logo's bytes: PNG, JPEG or SVG by their content, at most [`MAX_LOGO_BYTES`]. The
/// error names the field `logo`.
pub fn check_logo(bytes: Vec<u8>) -> Result<Logo, AppError> {
    if bytes.is_empty() {
        return Err(AppError::invalid("logo", "the file is empty"));
    }
    if bytes.len() > MAX_LOGO_BYTES {
        return Err(AppError::invalid(
            "logo",
            format!("must be at most {} KiB", MAX_LOGO_BYTES / 1024),
        ));
    }
    let content_type = sniff(&bytes)
        .ok_or_else(|| AppError::invalid("logo", "must be a PNG, JPEG or SVG image"))?;
    let digest = hex::encode(Sha256::digest(&bytes));
    Ok(Logo {
        content_type,
        bytes,
        digest,
    })
}

/// The image type of `bytes`, by their signature (PNG, JPEG) or, for SVG, by a UTF-8 text
/// whose first element is `<svg` (after an XML declaration, comments and a doctype).
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.starts_with(PNG) {
        return Some("image/png");
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some("image/jpeg");
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let mut rest = text.trim_start_matches('\u{feff}').trim_start();
    loop {
        if let Some(r) = rest.strip_prefix("<?xml") {
            rest = r.split_once("?>")?.1.trim_start();
        } else if let Some(r) = rest.strip_prefix("<!--") {
            rest = r.split_once("-->")?.1.trim_start();
        } else if let Some(r) = rest.strip_prefix("<!DOCTYPE") {
            rest = r.split_once('>')?.1.trim_start();
        } else {
            break;
        }
    }
    let after = rest.strip_prefix("<svg")?;
    after
        .starts_with(|c: char| c.is_whitespace() || c == '>')
        .then_some("image/svg+xml")
}

/// The profile as the configuration gives it (`--centre-*`); the database overrides it.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    /// Text fields given by the configuration, already checked.
    pub fields: Vec<(Field, String)>,
    /// The logo given by `--centre-logo`, already checked.
    pub logo: Option<Logo>,
}

/// The effective profile: the configuration's values, overridden by the database's.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Profile {
    /// The centre's name.
    pub name: String,
    /// Postal address (lines separated by `\n`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Imprint URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imprint_url: Option<String>,
    /// Privacy-policy URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privacy_url: Option<String>,
    /// The emergency line's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emergency_label: Option<String>,
    /// The emergency line's number, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emergency_phone: Option<String>,
    /// The text about the emergency line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emergency_text: Option<String>,
    /// Opening hours.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opening_hours: Option<String>,
    /// Contact e-mail address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_email: Option<String>,
    /// The logo's URL (`/centre/logo/{digest}`), if there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
}

impl Profile {
    fn set(&mut self, field: Field, value: String) {
        let slot = match field {
            Field::Name => {
                self.name = value;
                return;
            }
            Field::Address => &mut self.address,
            Field::ImprintUrl => &mut self.imprint_url,
            Field::PrivacyUrl => &mut self.privacy_url,
            Field::EmergencyLabel => &mut self.emergency_label,
            Field::EmergencyPhone => &mut self.emergency_phone,
            Field::EmergencyText => &mut self.emergency_text,
            Field::OpeningHours => &mut self.opening_hours,
            Field::ContactEmail => &mut self.contact_email,
        };
        *slot = Some(value);
    }
}

/// The effective profile: `name` is the fallback name (the configured centre name), then the
/// configuration's fields, then the database's.
pub async fn load(db: &Db, name: &str, defaults: &Defaults) -> Result<Profile, AppError> {
    let mut profile = Profile {
        name: name.to_owned(),
        ..Profile::default()
    };
    for (field, value) in &defaults.fields {
        profile.set(*field, value.clone());
    }
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT field, value FROM centre_profile")
        .fetch_all(db)
        .await?;
    for (key, value) in rows {
        // A field a newer version stored and this one does not know is skipped.
        if let Some(field) = Field::from_key(&key) {
            profile.set(field, value);
        }
    }
    let stored: Option<(String,)> = sqlx::query_as("SELECT digest FROM centre_logo WHERE id = 1")
        .fetch_optional(db)
        .await?;
    profile.logo_url = match stored {
        Some((digest,)) => Some(format!("/centre/logo/{digest}")),
        None => defaults.logo.as_ref().map(Logo::url),
    };
    Ok(profile)
}

/// Stores `value` for `field` after [`check`]ing it (`None`: removes the stored value, so the
/// configuration's, if any, applies again). Returns the value as stored.
pub async fn store(db: &Db, field: Field, value: Option<&str>) -> Result<Option<String>, AppError> {
    match value {
        Some(raw) => {
            let v = check(field, raw)?;
            sqlx::query(
                "INSERT INTO centre_profile (field, value, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (field) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(field.key())
            .bind(&v)
            .bind(crate::db::now_ms())
            .execute(db)
            .await?;
            Ok(Some(v))
        }
        None => {
            sqlx::query("DELETE FROM centre_profile WHERE field = $1")
                .bind(field.key())
                .execute(db)
                .await?;
            Ok(None)
        }
    }
}

/// Stores a checked logo (`None`: removes the stored one, so the configuration's applies).
pub async fn store_logo(db: &Db, logo: Option<&Logo>) -> Result<(), AppError> {
    match logo {
        Some(l) => {
            sqlx::query(
                "INSERT INTO centre_logo (id, content_type, bytes, digest, updated_at)
                 VALUES (1, $1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE SET content_type = excluded.content_type,
                   bytes = excluded.bytes, digest = excluded.digest, updated_at = excluded.updated_at",
            )
            .bind(l.content_type)
            .bind(l.bytes.clone())
            .bind(&l.digest)
            .bind(crate::db::now_ms())
            .execute(db)
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM centre_logo WHERE id = 1")
                .execute(db)
                .await?;
        }
    }
    Ok(())
}

/// The logo whose digest is `digest`: the stored one, else the configuration's; `None` if
/// neither has it (an old URL after the logo changed).
pub async fn logo(db: &Db, defaults: &Defaults, digest: &str) -> Result<Option<Logo>, AppError> {
    let stored: Option<(String, Vec<u8>)> =
        sqlx::query_as("SELECT digest, bytes FROM centre_logo WHERE id = 1")
            .fetch_optional(db)
            .await?;
    if let Some((d, bytes)) = stored {
        if d == digest {
            // Checked when stored; sniffed again for the type.
            return Ok(check_logo(bytes).ok());
        }
    }
    Ok(defaults.logo.clone().filter(|l| l.digest == digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(e: AppError) -> String {
        match e {
            AppError::Validation { field, .. } => field.unwrap_or_default(),
            other => panic!("not a validation error: {other}"),
        }
    }

    #[test]
    fn urls_must_be_absolute_http_or_https() {
        assert_eq!(
            check(Field::ImprintUrl, " https://centre.example/impressum ").unwrap(),
            "https://centre.example/impressum"
        );
        assert!(check(Field::PrivacyUrl, "http://centre.example/privacy").is_ok());
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "/relative",
            "ftp://centre.example/x",
            "https://",
            "",
        ] {
            assert_eq!(
                field_of(check(Field::PrivacyUrl, bad).unwrap_err()),
                "privacy_url",
                "{bad}"
            );
        }
    }

    #[test]
    fn a_phone_number_becomes_a_tel_link_of_digits_only() {
        assert_eq!(
            tel_href("0800 111 0 111").as_deref(),
            Some("tel:08001110111")
        );
        assert_eq!(
            tel_href("+49 (0)800/111-0.111").as_deref(),
            Some("tel:+4908001110111")
        );
        assert_eq!(tel_href("116 123").as_deref(), Some("tel:116123"));
        assert_eq!(tel_href("12"), None, "too few digits");
        assert_eq!(tel_href("0800 1+1"), None, "a + inside");
        assert_eq!(tel_href("0800;ext=1"), None);
        assert_eq!(tel_href("0800\"onclick"), None);
        assert_eq!(
            field_of(check(Field::EmergencyPhone, "call us").unwrap_err()),
            "emergency_phone"
        );
    }

    #[test]
    fn texts_are_trimmed_bounded_and_free_of_controls() {
        assert_eq!(
            check(Field::Name, "  Beratung Nord ").unwrap(),
            "Beratung Nord"
        );
        assert_eq!(
            check(Field::Address, "Hauptstr. 1\r\n12345 Stadt").unwrap(),
            "Hauptstr. 1\n12345 Stadt"
        );
        assert!(check(Field::Name, "a\nb").is_err(), "a name is one line");
        assert!(check(Field::EmergencyText, "a\u{202E}b").is_err());
        assert!(check(Field::Address, &"x\n".repeat(MAX_ADDRESS_LINES + 1)).is_err());
        assert!(check(Field::Name, &"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert_eq!(
            field_of(check(Field::ContactEmail, "no at").unwrap_err()),
            "contact_email"
        );
    }

    #[test]
    fn logos_are_recognised_by_their_bytes() {
        let png = b"\x89PNG\r\n\x1a\nrest".to_vec();
        assert_eq!(check_logo(png).unwrap().content_type, "image/png");
        assert_eq!(
            check_logo(vec![0xFF, 0xD8, 0xFF, 0xE0, 1])
                .unwrap()
                .content_type,
            "image/jpeg"
        );
        let svg = br#"<?xml version="1.0"?><!-- logo --><svg xmlns="http://www.w3.org/2000/svg"/>"#;
        assert_eq!(
            check_logo(svg.to_vec()).unwrap().content_type,
            "image/svg+xml"
        );
        for bad in [&b"GIF89a"[..], b"<html><svg></svg></html>", b"<svgx>", b""] {
            assert_eq!(field_of(check_logo(bad.to_vec()).unwrap_err()), "logo");
        }
        let big = [b"\x89PNG\r\n\x1a\n".as_slice(), &vec![0u8; MAX_LOGO_BYTES]].concat();
        assert_eq!(field_of(check_logo(big).unwrap_err()), "logo");
    }
}
