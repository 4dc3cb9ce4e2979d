//! One field of a JSON object, read without building a `serde_json::Value`.
//!
//! Pure. Token payloads, stored records and server answers are read a field at a time: the
//! parse walks the object once, keeps the raw text of the field asked for and skips the rest,
//! so the browser build carries no `Value` tree (about 4 KB gzip of wasm).

use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// The raw JSON of the field `name` of the object `text`: the last one when the name comes
/// twice, as a `serde_json::Map` would keep it; `Ok(None)` when the object has no such field.
/// Errors when `text` is not a JSON object: `is_data()` when it is JSON of another kind, or
/// starts like it (`[`…), else it is not JSON.
///
/// The fields skipped are checked for syntax only: a number out of `f64`'s range or a lone
/// surrogate escape in one of them, which a `serde_json::Value` would refuse, passes.
fn raw_field<'a>(text: &'a str, name: &str) -> Result<Option<&'a RawValue>, serde_json::Error> {
    let mut parser = serde_json::Deserializer::from_str(text);
    let found = de::Deserializer::deserialize_map(&mut parser, Find(name))?;
    parser.end()?;
    Ok(found)
}

/// The field `name` of the object `text` as a `T`: `Ok(None)` when there is no such field or
/// it is not a `T`; the error of [`raw_field`] when `text` is not a JSON object.
pub(crate) fn field_of<T: DeserializeOwned>(
    text: &str,
    name: &str,
) -> Result<Option<T>, serde_json::Error> {
    Ok(raw_field(text, name)?.and_then(|raw| serde_json::from_str(raw.get()).ok()))
}

/// [`field_of`], with `None` also when `text` is not a JSON object.
pub(crate) fn field<T: DeserializeOwned>(text: &str, name: &str) -> Option<T> {
    field_of(text, name).ok().flatten()
}

/// The names of the fields of the object `text`, in order (empty when it is not one).
pub(crate) fn names(text: &str) -> Vec<String> {
    let mut parser = serde_json::Deserializer::from_str(text);
    de::Deserializer::deserialize_map(&mut parser, Names).unwrap_or_default()
}

/// Collects an object's field names, skipping their values.
struct Names;

impl<'de> Visitor<'de> for Names {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut names = Vec::new();
        while let Some(name) = map.next_key()? {
            map.next_value::<IgnoredAny>()?;
            names.push(name);
        }
        Ok(names)
    }
}

/// Walks an object's fields for the one named `.0`.
struct Find<'n>(&'n str);

impl<'de> Visitor<'de> for Find<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(wanted) = map.next_key_seed(IsName(self.0))? {
            if wanted {
                found = Some(map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Whether a key is the name sought, escaped or not, without keeping it.
struct IsName<'n>(&'n str);

impl<'de> DeserializeSeed<'de> for IsName<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, key: D) -> Result<bool, D::Error> {
        key.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for IsName<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[rustfmt::skip]
    fn field_table() {
        // (case, text, name, the raw field or why not)
        let rows: [(&str, &str, &str, Result<Option<&str>, &str>); 11] = [
            ("a number", r#"{"exp":10,"sub":"ada"}"#, "exp", Ok(Some("10"))),
            ("a string", r#"{"exp":10,"sub":"ada"}"#, "sub", Ok(Some(r#""ada""#))),
            ("nested, kept whole", r#"{"a":{"exp":1},"exp":[1, 2]}"#, "exp", Ok(Some("[1, 2]"))),
            ("not at the top", r#"{"a":{"exp":1}}"#, "exp", Ok(None)),
            ("an escaped name", r#"{"e\u0078p":7}"#, "exp", Ok(Some("7"))),
            ("named twice: the last", r#"{"exp":1,"exp":2}"#, "exp", Ok(Some("2"))),
            ("absent", r#"{"sub":"ada"}"#, "exp", Ok(None)),
            ("an array", "[1,2]", "exp", Err("data")),
            ("a string alone", r#""exp""#, "exp", Err("data")),
            ("not JSON", "{nope", "exp", Err("syntax")),
            ("trailing text", r#"{"exp":1} x"#, "exp", Err("syntax")),
        ];
        for (case, text, name, expected) in rows {
            let got = raw_field(text, name)
                .map(|raw| raw.map(RawValue::get))
                .map_err(|err| if err.is_data() { "data" } else { "syntax" });
            assert_eq!(got, expected, "case: {case}");
        }
    }

    #[test]
    fn names_are_listed_in_order() {
        assert_eq!(
            names(r#"{"exp":1,"e\u0078p":2,"a":{"b":3}}"#),
            ["exp", "exp", "a"]
        );
        assert!(names("[1]").is_empty());
        assert!(names("{nope").is_empty());
    }

    #[test]
    fn field_reads_the_type_asked_for_or_nothing() {
        let text = r#"{"exp":10.5,"sub":"ada","fresh":true}"#;
        assert_eq!(field::<f64>(text, "exp"), Some(10.5));
        assert_eq!(field::<String>(text, "sub").as_deref(), Some("ada"));
        assert_eq!(field::<bool>(text, "fresh"), Some(true));
        assert_eq!(field::<u64>(text, "sub"), None);
        assert_eq!(field::<u64>(text, "exp"), None);
        assert_eq!(field::<String>("not json", "sub"), None);
        assert!(field_of::<u64>("[1]", "v").is_err_and(|err| err.is_data()));
        assert!(field_of::<u64>("{nope", "v").is_err_and(|err| !err.is_data()));
        assert_eq!(field_of::<u64>(r#"{"v":"1"}"#, "v").ok(), Some(None));
    }
}
