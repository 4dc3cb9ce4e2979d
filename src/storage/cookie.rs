//! The session cookie.
//!
//! The record (JSON) is stored base64url-encoded so that it needs no quoting. Building the
//! `Set-Cookie`-style string and finding our cookie in `document.cookie` are pure functions;
//! the cookie storage only reads and writes `document.cookie`.

use std::time::Duration;

use super::TokenStorage;
use crate::base64url;
use crate::config::{CookieOptions, SameSite};
use crate::error::AuthError;
use crate::time::Timestamp;

/// The most a browser keeps of one cookie's `name=value` (RFC 6265 §6.1 minimum, and what
/// Chromium and Firefox enforce).
pub const COOKIE_LIMIT: usize = 4096;

/// The name prefix that makes the browser accept the cookie only with `Secure`, `Path=/` and
/// no `Domain`: no sibling subdomain and no plain-http page can set or shadow it.
pub const HOST_PREFIX: &str = "__Host-";

/// The name prefix that makes the browser accept the cookie only with `Secure`.
pub const SECURE_PREFIX: &str = "__Secure-";

/// Keeps the record in a cookie.
#[derive(Debug, Clone)]
pub(crate) struct CookieStorage {
    name: String,
    options: CookieOptions,
}

impl CookieStorage {
    /// A cookie called `name` with these attributes.
    pub(crate) fn new(name: impl Into<String>, options: CookieOptions) -> Self {
        Self {
            name: name.into(),
            options,
        }
    }
}

/// Whether `name` is a valid cookie name (an RFC 7230 token).
pub(crate) fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The values of the cookies called `name` in a `document.cookie` string, in the browser's
/// order (longer paths first). There can be several: the same name with another `Path` or a
/// parent `Domain`, such as another app's `_auth` on a sibling subdomain.
pub(crate) fn values<'a, 'n>(
    cookies: &'a str,
    name: &'n str,
) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
    cookies.split(';').filter_map(move |pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key.trim() == name).then_some(value.trim())
    })
}

/// The value of the first cookie called `name` in a `document.cookie` string.
pub(crate) fn find<'a>(cookies: &'a str, name: &str) -> Option<&'a str> {
    values(cookies, name).next()
}

/// The record stored in cookie `name` of a `document.cookie` string: the first value that
/// decodes as a record of this format version, so that a foreign cookie of the same name
/// (another path, a parent domain, React Auth Kit's raw token) is passed over, never trusted.
/// When none is, the first value is handed on as is: the record parser refuses it, and
/// clearing then removes only the cookie at our own path and domain, never one elsewhere.
///
/// A cookie written by this same crate, under the same name, for another path or a parent
/// domain cannot be told apart from ours: give each app its own name, or use a `__Host-`
/// cookie (`AuthConfig::host_cookie`), which no other path or domain can shadow.
pub(crate) fn record_text(cookies: &str, name: &str) -> Option<String> {
    let ours = format!("{{\"v\":{},", super::record::RECORD_VERSION);
    values(cookies, name)
        .find_map(|value| decode_value(value).filter(|text| text.starts_with(&ours)))
        .or_else(|| find(cookies, name).map(str::to_owned))
}

/// Encodes a record as a cookie value.
pub fn encode_value(record: &str) -> String {
    base64url::encode(record.as_bytes())
}

/// Decodes a cookie value back to the record; `None` for anything we did not write.
pub fn decode_value(value: &str) -> Option<String> {
    String::from_utf8(base64url::decode(value)?).ok()
}

fn attributes(options: &CookieOptions, page_is_https: bool) -> String {
    let mut attributes = format!("; Path={}", options.path);
    if let Some(domain) = &options.domain {
        attributes.push_str("; Domain=");
        attributes.push_str(domain);
    }
    attributes.push_str("; SameSite=");
    attributes.push_str(options.same_site.as_str());
    let secure = options.same_site == SameSite::None || options.secure.unwrap_or(page_is_https);
    if secure {
        attributes.push_str("; Secure");
    }
    attributes
}

/// The string to assign to `document.cookie` to store `value`, dropped by the browser at
/// `expires_at` (whole seconds, rounded down so never later); `None` makes a session cookie.
///
/// Errors with [`AuthError::CookieTooLarge`] over [`COOKIE_LIMIT`] and [`AuthError::Storage`]
/// for an invalid name, value or attribute.
pub(crate) fn set_string(
    name: &str,
    value: &str,
    options: &CookieOptions,
    expires_at: Option<Timestamp>,
    now: Timestamp,
    page_is_https: bool,
) -> Result<String, AuthError> {
    check_options(name, options)?;
    if !value.bytes().all(is_cookie_octet) {
        return Err(AuthError::Storage(
            "a cookie value may not hold spaces, quotes, commas, semicolons or backslashes".into(),
        ));
    }
    let size = name.len() + 1 + value.len();
    if size > COOKIE_LIMIT {
        return Err(AuthError::CookieTooLarge {
            size,
            limit: COOKIE_LIMIT,
        });
    }
    let mut text = format!("{name}={value}{}", attributes(options, page_is_https));
    if let Some(expires_at) = expires_at {
        text.push_str(&format!("; Max-Age={}", max_age(expires_at, now).as_secs()));
    }
    Ok(text)
}

/// RFC 6265 `cookie-octet`: printable ASCII but space, `"`, `,`, `;` and `\`.
fn is_cookie_octet(byte: u8) -> bool {
    matches!(byte, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

/// The string to assign to `document.cookie` to delete the cookie (same path and domain).
pub(crate) fn clear_string(name: &str, options: &CookieOptions, page_is_https: bool) -> String {
    format!("{name}={}; Max-Age=0", attributes(options, page_is_https))
}

fn check_options(name: &str, options: &CookieOptions) -> Result<(), AuthError> {
    if !is_valid_name(name) {
        return Err(AuthError::Storage(format!(
            "`{name}` is not a valid cookie name"
        )));
    }
    let bad = |text: &str| {
        text.chars()
            .any(|c| c == ';' || c.is_control() || c.is_whitespace())
    };
    let secure = options.secure == Some(true) || options.same_site == SameSite::None;
    let lower = name.to_ascii_lowercase();
    if lower.starts_with(&HOST_PREFIX.to_ascii_lowercase())
        && (!secure || options.path != "/" || options.domain.is_some())
    {
        return Err(AuthError::Storage(format!(
            "a `{HOST_PREFIX}` cookie needs Secure, Path=/ and no Domain"
        )));
    }
    if lower.starts_with(&SECURE_PREFIX.to_ascii_lowercase()) && !secure {
        return Err(AuthError::Storage(format!(
            "a `{SECURE_PREFIX}` cookie needs Secure"
        )));
    }
    if !options.path.starts_with('/') || bad(&options.path) {
        return Err(AuthError::Storage(
            "cookie path must start with `/` and have no `;`".into(),
        ));
    }
    if options
        .domain
        .as_deref()
        .is_some_and(|domain| domain.is_empty() || bad(domain))
    {
        return Err(AuthError::Storage("cookie domain is not valid".into()));
    }
    Ok(())
}

/// The only code that touches `document.cookie`. Off the browser there is no cookie jar:
/// reads find nothing and writes are accepted (after the same checks as in the browser).
mod jar {
    use crate::error::AuthError;

    #[cfg(target_arch = "wasm32")]
    fn document() -> Option<web_sys::HtmlDocument> {
        use wasm_bindgen::JsCast;
        web_sys::window()?.document()?.dyn_into().ok()
    }

    #[cfg(target_arch = "wasm32")]
    pub(super) fn page_is_https() -> bool {
        web_sys::window()
            .and_then(|window| window.location().protocol().ok())
            .is_some_and(|protocol| protocol == "https:")
    }

    #[cfg(target_arch = "wasm32")]
    pub(super) fn read() -> Option<String> {
        document()?.cookie().ok()
    }

    #[cfg(target_arch = "wasm32")]
    pub(super) fn write(text: &str) -> Result<(), AuthError> {
        document()
            .ok_or_else(|| AuthError::Storage("no document to set the cookie on".into()))?
            .set_cookie(text)
            .map_err(|_| AuthError::Storage("the browser refused the cookie".into()))
    }

    /// Whether the browser kept `value` under `name` (it drops a refused cookie silently).
    /// A page outside the cookie's `Path` cannot see it, so there it is taken as kept.
    #[cfg(target_arch = "wasm32")]
    pub(super) fn holds(name: &str, value: &str, cookie_path: &str) -> bool {
        let page = web_sys::window().and_then(|window| window.location().pathname().ok());
        if !page.is_some_and(|page| super::path_matches(&page, cookie_path)) {
            return true;
        }
        read().is_some_and(|cookies| super::values(&cookies, name).any(|v| v == value))
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub(super) fn holds(_: &str, _: &str, _: &str) -> bool {
        true
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub(super) fn page_is_https() -> bool {
        false
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub(super) fn read() -> Option<String> {
        None
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub(super) fn write(_: &str) -> Result<(), AuthError> {
        Ok(())
    }
}

impl TokenStorage for CookieStorage {
    fn load(&self) -> Option<String> {
        record_text(&jar::read()?, &self.name)
    }

    fn save(
        &self,
        record: &str,
        expires_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), AuthError> {
        let value = encode_value(record);
        let https = jar::page_is_https();
        jar::write(&set_string(
            &self.name,
            &value,
            &self.options,
            expires_at,
            now,
            https,
        )?)?;
        // A cookie the browser refuses (a Domain that does not match the page, Secure on
        // plain http) is dropped without an error; reading it back is the only way to know.
        // One that expires within the second (Max-Age=0) is gone by design, not refused.
        let expires_now = expires_at.is_some_and(|at| max_age(at, now).is_zero());
        if expires_now || jar::holds(&self.name, &value, &self.options.path) {
            Ok(())
        } else {
            Err(AuthError::CookieRejected)
        }
    }

    fn clear(&self) {
        let _ = jar::write(&clear_string(
            &self.name,
            &self.options,
            jar::page_is_https(),
        ));
    }
}

/// Whether a page at `page_path` sees a cookie with `Path=cookie_path` (RFC 6265 §5.1.4).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
fn path_matches(page_path: &str, cookie_path: &str) -> bool {
    page_path == cookie_path
        || (page_path.starts_with(cookie_path)
            && (cookie_path.ends_with('/') || page_path[cookie_path.len()..].starts_with('/')))
}

/// Seconds until `expires_at`, rounded down: never later than the token.
pub(crate) fn max_age(expires_at: Timestamp, now: Timestamp) -> Duration {
    Duration::from_secs(expires_at.saturating_duration_since(now).as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_lists_every_cookie_of_the_name_in_order() {
        assert_eq!(
            values("a=1; _auth=xyz; _auth=abc", "_auth").collect::<Vec<_>>(),
            ["xyz", "abc"]
        );
        assert_eq!(values("_auth_type=Bearer", "_auth").next(), None);
    }

    const NOW: Timestamp = Timestamp::from_unix_seconds(1_000);

    #[test]
    #[rustfmt::skip]
    fn set_string_table() {
        let opts = |domain: Option<&str>, path: &str, secure: Option<bool>, same_site| CookieOptions {
            domain: domain.map(Into::into),
            path: path.into(),
            secure,
            same_site,
        };
        let at = |ms| Some(Timestamp::from_unix_millis(ms));
        let rows = [
            ("defaults on http", opts(None, "/", None, SameSite::Lax), at(1_060_000), false, "_auth=v; Path=/; SameSite=Lax; Max-Age=60"),
            ("defaults on https", opts(None, "/", None, SameSite::Lax), at(1_060_000), true, "_auth=v; Path=/; SameSite=Lax; Secure; Max-Age=60"),
            ("the defaults themselves", CookieOptions::default(), at(1_060_000), true, "_auth=v; Path=/; SameSite=Lax; Secure; Max-Age=60"),
            ("forced insecure on https", opts(None, "/", Some(false), SameSite::Lax), at(1_060_000), true, "_auth=v; Path=/; SameSite=Lax; Max-Age=60"),
            ("domain and strict", opts(Some("example.com"), "/app", None, SameSite::Strict), at(1_060_000), false, "_auth=v; Path=/app; Domain=example.com; SameSite=Strict; Max-Age=60"),
            ("samesite none forces secure", opts(None, "/", Some(false), SameSite::None), at(1_060_000), false, "_auth=v; Path=/; SameSite=None; Secure; Max-Age=60"),
            ("max-age rounds down", opts(None, "/", None, SameSite::Lax), at(1_060_999), false, "_auth=v; Path=/; SameSite=Lax; Max-Age=60"),
            ("session cookie", opts(None, "/", None, SameSite::Lax), None, false, "_auth=v; Path=/; SameSite=Lax"),
        ];
        for (case, options, expires_at, https, expected) in rows {
            assert_eq!(set_string("_auth", "v", &options, expires_at, NOW, https).as_deref(), Ok(expected), "case: {case}");
        }
    }

    #[test]
    fn oversized_cookie_is_an_error_not_a_truncation() {
        let value = "x".repeat(COOKIE_LIMIT);
        assert_eq!(
            set_string("_auth", &value, &CookieOptions::default(), None, NOW, false),
            Err(AuthError::CookieTooLarge {
                size: COOKIE_LIMIT + 6,
                limit: COOKIE_LIMIT
            })
        );
        let fits = "x".repeat(COOKIE_LIMIT - 6);
        assert!(set_string("_auth", &fits, &CookieOptions::default(), None, NOW, false).is_ok());
    }

    #[test]
    fn invalid_names_and_attributes_are_refused() {
        for name in ["", "a b", "a;b", "a=b", "ä"] {
            assert!(
                set_string(name, "v", &CookieOptions::default(), None, NOW, false).is_err(),
                "{name:?}"
            );
        }
        for value in ["a; Domain=evil", "a b", "\"a\"", "a,b", "a\\b", "é"] {
            assert!(
                set_string("_auth", value, &CookieOptions::default(), None, NOW, false).is_err(),
                "{value:?}"
            );
        }
        let bad_path = CookieOptions {
            path: "/; Domain=evil".into(),
            ..CookieOptions::default()
        };
        assert!(set_string("_auth", "v", &bad_path, None, NOW, false).is_err());
        let relative = CookieOptions {
            path: "app".into(),
            ..CookieOptions::default()
        };
        assert!(set_string("_auth", "v", &relative, None, NOW, false).is_err());
    }

    #[test]
    #[rustfmt::skip]
    fn prefixed_names_need_their_attributes() {
        let opts = |secure: Option<bool>, path: &str, domain: Option<&str>| CookieOptions {
            secure,
            path: path.into(),
            domain: domain.map(Into::into),
            same_site: SameSite::Lax,
        };
        let rows = [
            ("__Host-a", opts(Some(true), "/", None), true),
            ("__Host-a", opts(None, "/", None), false),
            ("__Host-a", opts(Some(true), "/app", None), false),
            ("__Host-a", opts(Some(true), "/", Some("example.com")), false),
            ("__Secure-a", opts(Some(true), "/app", Some("example.com")), true),
            ("__Secure-a", opts(Some(false), "/", None), false),
            ("__host-a", opts(Some(true), "/app", None), false),
            ("__SECURE-a", opts(None, "/", None), false),
            ("plain", opts(Some(false), "/app", Some("example.com")), true),
        ];
        for (name, options, accepted) in rows {
            let result = set_string(name, "v", &options, None, NOW, true);
            assert_eq!(result.is_ok(), accepted, "{name} {options:?}: {result:?}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn the_first_value_of_ours_is_read_and_foreign_ones_passed_over() {
        let ours = encode_value(r#"{"v":1,"token":"t"}"#);
        let old_format = encode_value(r#"{"v":9}"#);
        let rows = [
            ("only ours".to_owned(), Some(r#"{"v":1,"token":"t"}"#.to_owned())),
            (format!("_auth=eyJhbGciOi.eyJzdWIi.sig; _auth={ours}"), Some(r#"{"v":1,"token":"t"}"#.to_owned())),
            (format!("_auth=YWJj; _auth={ours}"), Some(r#"{"v":1,"token":"t"}"#.to_owned())),
            (format!("_auth={old_format}; _auth={ours}"), Some(r#"{"v":1,"token":"t"}"#.to_owned())),
            ("_auth=eyJhbGciOi.eyJzdWIi.sig".to_owned(), Some("eyJhbGciOi.eyJzdWIi.sig".to_owned())),
            ("other=1".to_owned(), None),
        ];
        for (cookies, expected) in rows {
            let cookies = if cookies == "only ours" { format!("_auth={ours}") } else { cookies };
            assert_eq!(record_text(&cookies, "_auth"), expected, "{cookies}");
        }
    }

    #[test]
    fn path_match_table() {
        let rows = [
            ("/", "/", true),
            ("/app", "/", true),
            ("/app", "/app", true),
            ("/app/x", "/app", true),
            ("/app/x", "/app/", true),
            ("/application", "/app", false),
            ("/login", "/app", false),
            ("/app", "/app/", false),
        ];
        for (page, cookie, sees) in rows {
            assert_eq!(path_matches(page, cookie), sees, "{page} {cookie}");
        }
    }

    #[test]
    fn clearing_uses_the_same_path_and_domain() {
        let options = CookieOptions {
            domain: Some("example.com".into()),
            path: "/app".into(),
            ..CookieOptions::default()
        };
        assert_eq!(
            clear_string("_auth", &options, false),
            "_auth=; Path=/app; Domain=example.com; SameSite=Lax; Max-Age=0"
        );
    }

    #[test]
    #[rustfmt::skip]
    fn find_table() {
        let rows = [
            ("", None),
            ("_auth=abc", Some("abc")),
            ("x=1;_auth=abc", Some("abc")),
            ("a=1; _auth=xyz; b=2", Some("xyz")),
            ("_auth_type=Bearer", None),
            ("x=1; _auth = abc ; y=2", Some("abc")),
            ("_auth_type=Bearer; _auth_state=1", None),
            ("_auth=first; _auth=second", Some("first")),
            ("_auth=", Some("")),
            ("garbage;;; =;", None),
        ];
        for (cookies, expected) in rows {
            assert_eq!(find(cookies, "_auth"), expected, "{cookies:?}");
        }
    }

    #[test]
    fn values_round_trip_and_foreign_values_do_not_decode() {
        let record = r#"{"v":1,"user":{"name":"Zoë; \"x\""}}"#;
        let value = encode_value(record);
        assert!(value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(decode_value(&value).as_deref(), Some(record));
        assert_eq!(decode_value("not base64!"), None);
        assert_eq!(decode_value("__8"), None); // valid base64url, not UTF-8
    }

    #[test]
    fn max_age_never_exceeds_the_expiry() {
        assert_eq!(
            max_age(Timestamp::from_unix_millis(1_000_999), NOW),
            Duration::ZERO
        );
        assert_eq!(
            max_age(Timestamp::from_unix_millis(1_002_500), NOW),
            Duration::from_secs(2)
        );
    }
}
