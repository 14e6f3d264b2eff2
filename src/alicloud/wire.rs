//! Small pieces of the RPC wire format shared by the RAM, IMS and STS modules: a parameter
//! builder (strict in what is sent) and lenient deserialisers (numbers or booleans that arrive
//! as strings, lists nested as `{"Roles":{"Role":[...]}}`, missing fields).
//!
//! It knows nothing of signing or HTTP.

use std::collections::BTreeMap;
use std::fmt::Display;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use super::secret::Sensitive;

/// The business parameters of one request (common parameters are added by the client).
#[derive(Default, Clone, PartialEq, Eq)]
pub struct Params(BTreeMap<String, String>);

impl std::fmt::Debug for Params {
    /// Prints only the names: values may be passwords or tokens.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl Params {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets a required parameter.
    pub fn set(&mut self, name: &str, value: impl Display) -> &mut Self {
        self.0.insert(name.to_string(), value.to_string());
        self
    }
    /// Sets a parameter when present.
    pub fn opt(&mut self, name: &str, value: Option<impl Display>) -> &mut Self {
        if let Some(value) = value {
            self.set(name, value);
        }
        self
    }
    /// Sets a secret parameter (sent in cleartext, as the API requires).
    pub fn secret(&mut self, name: &str, value: Option<&Sensitive>) -> &mut Self {
        if let Some(value) = value {
            self.set(name, value.expose());
        }
        self
    }
    /// Sets a flattened list: `Prefix.1`, `Prefix.2`, ... (IMS style).
    pub fn flat_list(&mut self, prefix: &str, values: &[String]) -> &mut Self {
        for (index, value) in values.iter().enumerate() {
            self.set(&format!("{prefix}.{}", index + 1), value);
        }
        self
    }
    /// Sets flattened tags: `Tag.N.Key`, `Tag.N.Value` (IMS style).
    pub fn flat_tags(&mut self, tags: &[Tag]) -> &mut Self {
        for (index, tag) in tags.iter().enumerate() {
            self.set(&format!("Tag.{}.Key", index + 1), &tag.key);
            self.set(&format!("Tag.{}.Value", index + 1), &tag.value);
        }
        self
    }
    /// Sets a JSON-encoded list parameter (RAM style, e.g. `ResourceNames`, `Tag`), when the
    /// list is not empty.
    pub fn json_list<T: serde::Serialize>(&mut self, name: &str, values: &[T]) -> &mut Self {
        if !values.is_empty() {
            // Serialising strings and plain structs into JSON cannot fail.
            let text = serde_json::to_string(values).unwrap_or_default();
            self.set(name, text);
        }
        self
    }
    /// The parameters as a map, for signing.
    pub fn into_map(self) -> BTreeMap<String, String> {
        self.0
    }
    /// One parameter's value (tests and logging of non-secret values).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// A resource tag as sent in create and tag calls.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Tag {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Value")]
    pub value: String,
}

impl Tag {
    /// A tag from key and value.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// A tag as returned in `Tags.Tag[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ResourceTag {
    #[serde(rename = "TagKey", alias = "Key")]
    pub key: String,
    #[serde(rename = "TagValue", alias = "Value")]
    pub value: String,
}

/// Decodes a JSON body into `T`, with an error that never quotes the body.
pub fn decode<T: DeserializeOwned>(action: &str, body: &[u8]) -> Result<T, super::Error> {
    serde_json::from_slice(body).map_err(|error| super::Error::decode(action, &error))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Null(()),
}

/// An integer that may arrive as a number or a string; absent, null or empty is 0.
pub fn lenient_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    Ok(match Scalar::deserialize(deserializer)? {
        Scalar::Int(value) => value,
        Scalar::Float(value) => value as i64,
        Scalar::Bool(value) => i64::from(value),
        Scalar::Text(text) => text.trim().parse().unwrap_or(0),
        Scalar::Null(()) => 0,
    })
}

/// A boolean that may arrive as `true`, `"true"`, `1` or `"1"`; anything else is false.
pub fn lenient_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(match Scalar::deserialize(deserializer)? {
        Scalar::Bool(value) => value,
        Scalar::Int(value) => value != 0,
        Scalar::Float(value) => value != 0.0,
        Scalar::Text(text) => matches!(text.trim(), "true" | "True" | "TRUE" | "1"),
        Scalar::Null(()) => false,
    })
}

/// A string that may arrive as a number (ids) or null.
pub fn lenient_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(match Scalar::deserialize(deserializer)? {
        Scalar::Text(text) => text,
        Scalar::Int(value) => value.to_string(),
        Scalar::Float(value) => value.to_string(),
        Scalar::Bool(value) => value.to_string(),
        Scalar::Null(()) => String::new(),
    })
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    Many(Vec<T>),
    One(T),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Nested<T> {
    Direct(Vec<T>),
    Wrapped(BTreeMap<String, Option<OneOrMany<T>>>),
    Nothing(()),
}

/// A list the RPC APIs nest under a singular key (`{"Role":[...]}`); a bare array, a single
/// object, null or an empty object are accepted too.
pub fn nested_list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(match Nested::<T>::deserialize(deserializer)? {
        Nested::Direct(items) => items,
        Nested::Wrapped(map) => map
            .into_values()
            .flatten()
            .flat_map(|inner| match inner {
                OneOrMany::Many(items) => items,
                OneOrMany::One(item) => vec![item],
            })
            .collect(),
        Nested::Nothing(()) => Vec::new(),
    })
}

/// A list of strings that may arrive as one string or an array.
pub fn string_or_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(
        match Option::<OneOrMany<String>>::deserialize(deserializer)? {
            Some(OneOrMany::Many(items)) => items,
            Some(OneOrMany::One(item)) => vec![item],
            None => Vec::new(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Default)]
    #[serde(default)]
    struct Sample {
        #[serde(deserialize_with = "lenient_i64")]
        number: i64,
        #[serde(deserialize_with = "lenient_bool")]
        flag: bool,
        #[serde(deserialize_with = "nested_list")]
        items: Vec<ResourceTag>,
        #[serde(deserialize_with = "lenient_string")]
        id: String,
    }

    #[test]
    fn lenient_shapes() {
        let sample: Sample = serde_json::from_str(
            r#"{"number":"42","flag":"true","items":{"Tag":[{"TagKey":"k","TagValue":"v"}]},"id":123}"#,
        )
        .unwrap();
        assert_eq!(sample.number, 42);
        assert!(sample.flag);
        assert_eq!(
            sample.items,
            vec![ResourceTag {
                key: "k".into(),
                value: "v".into()
            }]
        );
        assert_eq!(sample.id, "123");
        let sample: Sample =
            serde_json::from_str(r#"{"number":7,"flag":true,"items":{"Tag":{"TagKey":"a"}}}"#)
                .unwrap();
        assert_eq!(sample.number, 7);
        assert_eq!(sample.items.len(), 1);
        let sample: Sample = serde_json::from_str(r#"{"items":{},"number":null}"#).unwrap();
        assert!(sample.items.is_empty());
        assert_eq!(sample.number, 0);
        let sample: Sample =
            serde_json::from_str(r#"{"items":[{"Key":"x","Value":"y"}]}"#).unwrap();
        assert_eq!(sample.items[0].key, "x");
    }

    #[test]
    fn params_build_flat_and_json_lists() {
        let mut params = Params::new();
        params
            .flat_tags(&[Tag::new("a", "1"), Tag::new("b", "2")])
            .flat_list("ResourcePrincipalName", &["u@d".to_string()])
            .json_list("ResourceNames", &["r1".to_string()])
            .opt("Missing", None::<&str>);
        assert_eq!(params.get("Tag.2.Value"), Some("2"));
        assert_eq!(params.get("ResourcePrincipalName.1"), Some("u@d"));
        assert_eq!(params.get("ResourceNames"), Some(r#"["r1"]"#));
        assert_eq!(params.get("Missing"), None);
        assert!(!format!("{params:?}").contains("u@d"));
    }
}
