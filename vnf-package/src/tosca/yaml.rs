//! A positioned YAML tree on top of serde-saphyr.
//!
//! serde-saphyr has no DOM, so this module deserializes into [`Node`], a small recursive
//! value where every node and every mapping key keeps its 1-based line and column.
//! Scalars follow YAML 1.2 (strict booleans; `017` and `1_000` stay strings).

use indexmap::IndexMap;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

/// A YAML value with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// 1-based line (0 when unknown).
    pub line: u32,
    /// 1-based column (0 when unknown).
    pub column: u32,
}

/// A mapping key with its position.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    /// The key as a string (non-string scalar keys are rendered as text).
    pub name: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

/// A YAML value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null` / `~` / empty.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order. Keys are unique (duplicates are a parse error).
    Map(Vec<(Key, Node)>),
}

impl Node {
    /// A node without position (used for defaults synthesised by the parser).
    pub fn synthetic(value: Value) -> Self {
        Node {
            value,
            line: 0,
            column: 0,
        }
    }

    /// The string value, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The mapping entries, if this is a mapping.
    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The sequence items, if this is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The integer value, if this is an integer.
    pub fn as_i64(&self) -> Option<i64> {
        match &self.value {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The boolean value, if this is a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// True for `null`.
    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// Looks up a mapping key (None when not a mapping or absent).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }

    /// Looks up a mapping entry with its key.
    pub fn entry(&self, key: &str) -> Option<(&Key, &Node)> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(k, v)| (k, v))
    }

    /// A short name of the node's kind for messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Seq(_) => "list",
            Value::Map(_) => "map",
        }
    }

    /// Converts to JSON (positions dropped; used for free-form values in the model).
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Seq(items) => {
                serde_json::Value::Array(items.iter().map(Node::to_json).collect())
            }
            Value::Map(entries) => {
                let mut m = serde_json::Map::new();
                for (k, v) in entries {
                    m.insert(k.name.clone(), v.to_json());
                }
                serde_json::Value::Object(m)
            }
        }
    }

    /// A compact rendering of a scalar for messages (`"simple"`, `3`, `true`).
    pub fn render(&self) -> String {
        match &self.value {
            Value::Str(s) => format!("{s:?}"),
            Value::Null => "null".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Seq(_) | Value::Map(_) => self.to_json().to_string(),
        }
    }
}

/// A `Value` deserialized without position; wrapped in `Spanned` by its parent.
struct Raw(Value);

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw(Value::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw(Value::Int(v)))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Raw, E> {
        Ok(Raw(match i64::try_from(v) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Float(v as f64),
        }))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw(match i64::try_from(v) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Float(v as f64),
        }))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Raw, E> {
        Ok(Raw(match i64::try_from(v) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Float(v as f64),
        }))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw(Value::Float(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw(Value::Str(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Raw, E> {
        Ok(Raw(Value::Str(v)))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Raw, E> {
        Ok(Raw(Value::Str(String::from_utf8_lossy(v).into_owned())))
    }
    fn visit_none<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw(Value::Null))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        Raw::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Raw>>()? {
            items.push(spanned_node(item));
        }
        Ok(Raw(Value::Seq(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries: Vec<(Key, Node)> = Vec::new();
        let mut seen: IndexMap<String, ()> = IndexMap::new();
        while let Some(k) = map.next_key::<Spanned<Raw>>()? {
            let name = match &k.value.0 {
                Value::Str(s) => s.clone(),
                Value::Null => "null".to_owned(),
                other => Node::synthetic(other.clone()).render(),
            };
            let v = map.next_value::<Spanned<Raw>>()?;
            if seen.insert(name.clone(), ()).is_some() {
                return Err(de::Error::custom(format!(
                    "duplicate mapping key `{name}` at line {}, column {}",
                    k.defined.line(),
                    k.defined.column()
                )));
            }
            let key = Key {
                name,
                line: clamp(k.defined.line()),
                column: clamp(k.defined.column()),
            };
            entries.push((key, spanned_node(v)));
        }
        Ok(Raw(Value::Map(entries)))
    }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

fn clamp(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

fn spanned_node(s: Spanned<Raw>) -> Node {
    Node {
        line: clamp(s.defined.line()),
        column: clamp(s.defined.column()),
        value: s.value.0,
    }
}

/// A YAML syntax error with its 1-based position when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// The parser's message.
    pub message: String,
    /// 1-based line, if known.
    pub line: Option<u32>,
    /// 1-based column, if known.
    pub column: Option<u32>,
}

/// Maximum input size accepted by [`parse`] (a VNFD file is far smaller).
pub const MAX_YAML_BYTES: usize = 16 * 1024 * 1024;

/// Parses one YAML document into a positioned tree, with YAML 1.2 scalar rules.
///
/// Pure function of its input; never panics. An empty document is `Null`.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    if text.len() > MAX_YAML_BYTES {
        return Err(SyntaxError {
            message: format!("document is larger than {MAX_YAML_BYTES} bytes"),
            line: None,
            column: None,
        });
    }
    if text.trim().is_empty() {
        return Ok(Node {
            value: Value::Null,
            line: 1,
            column: 1,
        });
    }
    let opts = serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
    };
    match serde_saphyr::from_str_with_options::<Spanned<Raw>>(text, opts) {
        Ok(s) => Ok(spanned_node(s)),
        Err(e) => {
            let loc = e.location();
            let line = loc.as_ref().map(|l| clamp(l.line())).filter(|l| *l > 0);
            let column = loc.as_ref().map(|l| clamp(l.column())).filter(|c| *c > 0);
            let message = e.to_string();
            let mut message = message.lines().next().unwrap_or("invalid YAML");
            message = message.strip_prefix("error: ").unwrap_or(message);
            // Drop a leading "line N column M: " (the position is reported separately).
            if message.starts_with("line ")
                && let Some(i) = message.find(": ")
            {
                message = &message[i + 2..];
            }
            let message = message.to_owned();
            Err(SyntaxError {
                message,
                line,
                column,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_yaml12_scalars() {
        let n = parse("a: yes\nb: 017\nc:\n  - 1\n  - 2.5\nd: true\n").expect("parses");
        let (k, v) = n.entry("a").expect("a");
        assert_eq!((k.line, k.column), (1, 1));
        assert_eq!(v.as_str(), Some("yes"));
        assert_eq!((v.line, v.column), (1, 4));
        assert_eq!(n.get("b").and_then(Node::as_str), Some("017"));
        let c = n.get("c").and_then(Node::as_seq).expect("seq");
        assert_eq!(c[0].as_i64(), Some(1));
        assert_eq!(c[1].line, 5);
        assert_eq!(n.get("d").and_then(Node::as_bool), Some(true));
    }

    #[test]
    fn syntax_error_has_position() {
        let e = parse("a: [1, 2\nb: 3\n").expect_err("must fail");
        assert!(e.line.is_some(), "{e:?}");
    }

    #[test]
    fn duplicate_keys_rejected() {
        assert!(parse("a: 1\na: 2\n").is_err());
    }
}
