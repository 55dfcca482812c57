//! The request text as read, and a small JSON pointer → line/column locator over it.
//!
//! Findings about a request carry a JSON pointer (RFC 6901). To also give a line and a
//! column, [`RequestSource::location`] scans the original text once along the pointer;
//! no second JSON parser and no span-carrying value type are needed. The scan is
//! iterative (no recursion), so deeply nested input cannot overflow the stack.

use crate::diag::Location;
use std::path::Path;

/// A request document: where it came from and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSource {
    /// The path as given by the user (used in every finding's location).
    pub file: String,
    /// The whole text of the request.
    pub text: String,
}

impl RequestSource {
    /// A source from text already in memory.
    pub fn new(file: impl Into<String>, text: impl Into<String>) -> Self {
        RequestSource {
            file: file.into(),
            text: text.into(),
        }
    }

    /// Reads a request file (UTF-8).
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        Ok(RequestSource {
            file: path.display().to_string(),
            text,
        })
    }

    /// The location of `pointer`: the file, the pointer, and the line/column of the
    /// member key (for object members) or the value (for array elements and the root).
    /// When the pointer names something absent (a missing key), the position is that
    /// of the deepest existing ancestor.
    pub fn location(&self, pointer: &str) -> Location {
        let mut loc = Location::file(self.file.clone()).with_pointer(pointer);
        if let Some(offset) = locate(&self.text, pointer) {
            let (line, column) = line_col(&self.text, offset);
            loc.line = Some(line);
            loc.column = Some(column);
        }
        loc
    }

    /// A location naming only the file and a 1-based line and column.
    pub fn at(&self, line: u32, column: u32) -> Location {
        Location::at(self.file.clone(), line, column)
    }
}

/// Appends one reference token to a JSON pointer, escaping `~` and `/`.
pub fn push_token(pointer: &str, token: &str) -> String {
    let mut s = String::with_capacity(pointer.len() + token.len() + 1);
    s.push_str(pointer);
    s.push('/');
    for c in token.chars() {
        match c {
            '~' => s.push_str("~0"),
            '/' => s.push_str("~1"),
            c => s.push(c),
        }
    }
    s
}

/// Splits a JSON pointer into unescaped reference tokens. `""` is the root.
pub fn split_pointer(pointer: &str) -> Vec<String> {
    if pointer.is_empty() {
        return Vec::new();
    }
    pointer
        .strip_prefix('/')
        .unwrap_or(pointer)
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (u32, u32) {
    let offset = offset.min(text.len());
    let mut line = 1u32;
    let mut col = 1u32;
    for (i, c) in text.char_indices() {
        if i >= offset {
            break;
        }
        if c == '\n' {
            line = line.saturating_add(1);
            col = 1;
        } else {
            col = col.saturating_add(1);
        }
    }
    (line, col)
}

/// Byte offset of what `pointer` names in `text` (see [`RequestSource::location`]).
/// `None` only when the text is not JSON at all.
pub fn locate(text: &str, pointer: &str) -> Option<usize> {
    let b = text.as_bytes();
    let mut pos = skip_ws(b, 0);
    if pos >= b.len() {
        return None;
    }
    let mut best = pos;
    for token in split_pointer(pointer) {
        match b.get(pos) {
            Some(b'{') => {
                let mut p = skip_ws(b, pos + 1);
                let mut found = None;
                while let Some(&c) = b.get(p) {
                    if c == b'}' {
                        break;
                    }
                    if c != b'"' {
                        return Some(best);
                    }
                    let key_start = p;
                    let (key, after) = read_string(text, p)?;
                    p = skip_ws(b, after);
                    if b.get(p) != Some(&b':') {
                        return Some(best);
                    }
                    p = skip_ws(b, p + 1);
                    if key == token {
                        found = Some((key_start, p));
                        break;
                    }
                    p = skip_value(b, p)?;
                    p = skip_ws(b, p);
                    if b.get(p) == Some(&b',') {
                        p = skip_ws(b, p + 1);
                    }
                }
                match found {
                    Some((key_start, value_start)) => {
                        best = key_start;
                        pos = value_start;
                    }
                    None => return Some(best),
                }
            }
            Some(b'[') => {
                let Ok(index) = token.parse::<usize>() else {
                    return Some(best);
                };
                let mut p = skip_ws(b, pos + 1);
                for _ in 0..index {
                    if matches!(b.get(p), None | Some(b']')) {
                        return Some(best);
                    }
                    p = skip_value(b, p)?;
                    p = skip_ws(b, p);
                    if b.get(p) == Some(&b',') {
                        p = skip_ws(b, p + 1);
                    }
                }
                if matches!(b.get(p), None | Some(b']')) {
                    return Some(best);
                }
                best = p;
                pos = p;
            }
            _ => return Some(best),
        }
    }
    Some(best)
}

fn skip_ws(b: &[u8], mut p: usize) -> usize {
    while let Some(c) = b.get(p) {
        if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            p += 1;
        } else {
            break;
        }
    }
    p
}

/// Reads a JSON string starting at the opening quote; returns its unescaped value and the
/// offset after the closing quote.
fn read_string(text: &str, start: usize) -> Option<(String, usize)> {
    let b = text.as_bytes();
    let end = string_end(b, start)?;
    let raw = text.get(start..end)?;
    let key = serde_json::from_str::<String>(raw).ok()?;
    Some((key, end))
}

/// Offset after the closing quote of the string starting at `start`.
fn string_end(b: &[u8], start: usize) -> Option<usize> {
    let mut p = start + 1;
    while let Some(&c) = b.get(p) {
        match c {
            b'\\' => p += 2,
            b'"' => return Some(p + 1),
            _ => p += 1,
        }
    }
    None
}

/// Offset after the value starting at `p` (iterative; tolerant of malformed input).
fn skip_value(b: &[u8], p: usize) -> Option<usize> {
    match b.get(p)? {
        b'"' => string_end(b, p),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut q = p;
            while let Some(&c) = b.get(q) {
                match c {
                    b'"' => {
                        q = string_end(b, q)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(q + 1);
                        }
                    }
                    _ => {}
                }
                q += 1;
            }
            None
        }
        _ => {
            let mut q = p;
            while let Some(&c) = b.get(q) {
                if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                q += 1;
            }
            Some(q)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str =
        "{\n  \"a\": {\"b~/c\": [10,\n    {\"x\": \"y\\\"}\"}, 3]},\n  \"z\": true\n}";

    #[test]
    fn locates_members_and_elements() {
        let src = RequestSource::new("r.json", DOC);
        let l = src.location("/z");
        assert_eq!((l.line, l.column), (Some(4), Some(3)));
        let l = src.location("/a/b~0~1c/1/x");
        assert_eq!((l.line, l.column), (Some(3), Some(6)));
        let l = src.location("/a/b~0~1c/2");
        assert_eq!((l.line, l.column), (Some(3), Some(20)));
        assert_eq!(l.pointer.as_deref(), Some("/a/b~0~1c/2"));
    }

    #[test]
    fn missing_tail_points_at_deepest_ancestor() {
        let src = RequestSource::new("r.json", DOC);
        let l = src.location("/a/missing");
        assert_eq!((l.line, l.column), (Some(2), Some(3)));
        let l = src.location("/a/b~0~1c/9");
        assert_eq!((l.line, l.column), (Some(2), Some(9)));
        let l = src.location("");
        assert_eq!((l.line, l.column), (Some(1), Some(1)));
    }

    #[test]
    fn pointer_tokens_round_trip() {
        let p = push_token(&push_token("", "a/b"), "c~d");
        assert_eq!(p, "/a~1b/c~0d");
        assert_eq!(
            split_pointer(&p),
            vec!["a/b".to_string(), "c~d".to_string()]
        );
    }

    #[test]
    fn garbage_never_panics() {
        for t in [
            "",
            "{",
            "[",
            "{\"a\"",
            "{\"a\":[1,",
            "\"\\",
            "{\"a\":{\"b\":}",
        ] {
            let _ = locate(t, "/a/b/0");
        }
    }
}
