//! Package-relative path handling: normalization, resolution against a referring file,
//! and URL detection. Package paths always use `/` and never leave the package root.

/// True when `s` looks like a URL (`scheme://…`), e.g. `https://example.com/image.qcow2`.
pub fn is_url(s: &str) -> bool {
    match s.find("://") {
        Some(pos) if pos > 0 => {
            let scheme = &s[..pos];
            scheme
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.')
        }
        _ => false,
    }
}

/// True when `s` is an absolute path: `/x`, `\x`, or a Windows drive path such as `C:\x`.
pub fn is_absolute(s: &str) -> bool {
    let b = s.as_bytes();
    s.starts_with('/')
        || s.starts_with('\\')
        || (b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':')
}

/// Normalizes a package-relative path: strips `./`, collapses `a/../b` and repeated `/`.
///
/// Returns `None` when the path is empty, absolute, a URL, contains a backslash or NUL, or
/// escapes the package root (`../x`, `a/../../x`).
///
/// ```
/// use vnf_package::archive::normalize;
/// assert_eq!(normalize("./Definitions/../Files/x.yaml").as_deref(), Some("Files/x.yaml"));
/// assert_eq!(normalize("../evil"), None);
/// ```
pub fn normalize(rel: &str) -> Option<String> {
    if rel.is_empty() || is_absolute(rel) || is_url(rel) || rel.contains('\\') || rel.contains('\0')
    {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for comp in rel.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("/"))
    }
}

/// Resolves `rel` against the directory of package file `from`
/// (`"Definitions/a.yaml"` + `"../Files/x"` → `"Files/x"`).
///
/// Returns `None` if `rel` is absolute, a URL, or escapes the package root.
///
/// ```
/// use vnf_package::archive::resolve;
/// assert_eq!(resolve("Definitions/a.yaml", "../Files/x").as_deref(), Some("Files/x"));
/// assert_eq!(resolve("a.yaml", "../x"), None);
/// ```
pub fn resolve(from: &str, rel: &str) -> Option<String> {
    if rel.is_empty() || is_absolute(rel) || is_url(rel) {
        return None;
    }
    let dir = match from.rfind('/') {
        Some(pos) => &from[..pos],
        None => "",
    };
    if dir.is_empty() {
        normalize(rel)
    } else {
        normalize(&format!("{dir}/{rel}"))
    }
}

/// The file name part of a package path (`"a/b.yaml"` → `"b.yaml"`).
pub(crate) fn file_name(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or(rel)
}

/// The part of a file name before its last `.` (`"top.vnfd.yaml"` → `"top.vnfd"`).
pub(crate) fn stem(name: &str) -> &str {
    match name.rfind('.') {
        Some(pos) if pos > 0 => &name[..pos],
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_cases() {
        assert_eq!(normalize("a/b").as_deref(), Some("a/b"));
        assert_eq!(normalize("./a//b/").as_deref(), Some("a/b"));
        assert_eq!(normalize("a/../b").as_deref(), Some("b"));
        assert_eq!(normalize("a/./../../b"), None);
        assert_eq!(normalize("/etc/passwd"), None);
        assert_eq!(normalize("C:/x"), None);
        assert_eq!(normalize("a\\..\\..\\x"), None);
        assert_eq!(normalize("http://x/y"), None);
        assert_eq!(normalize("."), None);
        assert_eq!(normalize(""), None);
        assert_eq!(normalize("a/.."), None);
    }

    #[test]
    fn resolve_cases() {
        assert_eq!(
            resolve("Definitions/a.yaml", "b.yaml").as_deref(),
            Some("Definitions/b.yaml")
        );
        assert_eq!(
            resolve("Definitions/a.yaml", "../Files/x").as_deref(),
            Some("Files/x")
        );
        assert_eq!(resolve("Definitions/a.yaml", "../../x"), None);
        assert_eq!(resolve("Definitions/a.yaml", "/abs"), None);
        assert_eq!(resolve("Definitions/a.yaml", "https://h/x.yaml"), None);
        assert_eq!(resolve("top.yaml", "x/y.yaml").as_deref(), Some("x/y.yaml"));
    }

    #[test]
    fn url_detection() {
        assert!(is_url("https://example.com/a"));
        assert!(is_url("ftp://h/a"));
        assert!(is_url("file:///a"));
        assert!(!is_url("Files/a://b"));
        assert!(!is_url("://x"));
        assert!(!is_url("Files/a"));
    }

    #[test]
    fn stems() {
        assert_eq!(stem(file_name("a/top.vnfd.yaml")), "top.vnfd");
        assert_eq!(stem(".hidden"), ".hidden");
    }
}
