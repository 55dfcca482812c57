//! Secrets: held apart from plans and events, referenced by name, redacted in every
//! message that leaves the library.

use std::collections::BTreeMap;
use std::fmt;

/// What replaces a secret in text.
pub const REDACTED: &str = "***";

/// A secret value. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that must send it (SSH auth, sudo's stdin).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Named secrets (`storage_server.password`, …), as referenced by a plan's credentials.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    values: BTreeMap<String, Secret>,
}

impl Secrets {
    /// No secrets.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a secret.
    pub fn insert(&mut self, name: impl Into<String>, value: Secret) {
        self.values.insert(name.into(), value);
    }

    /// Looks a secret up by name.
    pub fn get(&self, name: &str) -> Option<&Secret> {
        self.values.get(name)
    }

    /// Replaces every occurrence of every (non-empty) secret value in `text` with `***`.
    /// Longer secrets are replaced first, so a secret containing another is fully hidden.
    pub fn redact(&self, text: &str) -> String {
        let mut vals: Vec<&str> = self
            .values
            .values()
            .map(|s| s.expose())
            .filter(|s| !s.is_empty())
            .collect();
        vals.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let mut out = text.to_string();
        for v in vals {
            if out.contains(v) {
                out = out.replace(v, REDACTED);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn redact_replaces_every_secret_longest_first() {
        let mut s = Secrets::new();
        s.insert("a", Secret::new("pass"));
        s.insert("b", Secret::new("password1"));
        s.insert("empty", Secret::new(""));
        assert_eq!(s.redact("password1 and pass and pa"), "*** and *** and pa");
    }
}
