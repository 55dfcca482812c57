//! Small, strict validators for the strings of a request: paths, names, user names, CIDRs,
//! URLs, `/etc/exports` client specs, `host:port`. Each returns `Err(reason)`; the reason
//! never repeats the value (callers decide what is safe to show).

use ipnet::IpNet;
use std::net::IpAddr;
use std::str::FromStr;

/// Characters a shell would interpret. Paths and names containing any of them (or
/// whitespace / control characters) are rejected: they would have to be quoted on every
/// remote command line, and one forgotten quote is a command injection.
pub const SHELL_METACHARACTERS: &str = ";&|$`'\"\\<>(){}*?!#~";

/// The first shell metacharacter, whitespace or control character in `s`.
pub fn unsafe_char(s: &str) -> Option<char> {
    s.chars()
        .find(|c| SHELL_METACHARACTERS.contains(*c) || c.is_whitespace() || c.is_control())
}

/// Describes a character for a message (`' '` → `space`).
pub fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        '\n' => "a newline".into(),
        '\t' => "a tab".into(),
        c if c.is_control() || c.is_whitespace() => format!("U+{:04X}", c as u32),
        c => format!("`{c}`"),
    }
}

/// `^[a-z_][a-z0-9_-]{0,31}$`: a portable Linux user name.
pub fn is_linux_username(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_ascii_lowercase() || first == '_')
        && s.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// `^[A-Za-z][A-Za-z0-9_-]*$`: a Heat resource name we are willing to look up.
pub fn is_resource_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Normalizes a package-relative path (`./a//b` → `a/b`). Rejects absolute paths, `..`
/// and empty paths.
pub fn normalize_relative(p: &str) -> Result<String, &'static str> {
    if p.starts_with('/') {
        return Err("is absolute; expected a path inside the package");
    }
    let mut parts = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => return Err("contains `..`; expected a path inside the package"),
            s => parts.push(s),
        }
    }
    if parts.is_empty() {
        return Err("is empty");
    }
    Ok(parts.join("/"))
}

/// Checks an absolute path on a remote host: starts with `/`, no `.`/`..`/empty segments,
/// no trailing slash (except `/` itself).
pub fn check_absolute(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err("is not absolute".into());
    }
    if p == "/" {
        return Ok(());
    }
    let segs: Vec<&str> = p[1..].split('/').collect();
    if segs.iter().any(|s| s.is_empty() || *s == "." || *s == "..") {
        let mut norm = Vec::new();
        for s in &segs {
            match *s {
                "" | "." => {}
                ".." => {
                    norm.pop();
                }
                s => norm.push(s),
            }
        }
        return Err(format!(
            "is not normalized (no `.`, `..`, `//` or trailing `/`); did you mean `/{}`?",
            norm.join("/")
        ));
    }
    Ok(())
}

/// True when absolute normalized path `child` equals `parent` or lies below it.
pub fn path_within(child: &str, parent: &str) -> bool {
    if parent == "/" {
        return child.starts_with('/');
    }
    child == parent
        || (child.starts_with(parent) && child.as_bytes().get(parent.len()) == Some(&b'/'))
}

/// A CIDR as written: the network, and the truncated network when host bits were set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The network with host bits cleared.
    pub net: IpNet,
    /// True when the text had host bits set (`192.168.3.0/16`).
    pub had_host_bits: bool,
}

/// Parses `a.b.c.d/n` or `v6/n`.
pub fn parse_cidr(s: &str) -> Result<Cidr, &'static str> {
    if !s.contains('/') {
        return Err("has no prefix length (`/n`)");
    }
    let n = IpNet::from_str(s).map_err(|_| "is not a valid CIDR")?;
    let t = n.trunc();
    Ok(Cidr {
        net: t,
        had_host_bits: t != n,
    })
}

/// True when two networks share an address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// A DNS host name (labels of letters, digits and `-`, dot-separated, ≤ 253).
pub fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// An `/etc/exports` client: `*`, an IP, a CIDR, a host name, a wildcard host name
/// (`*.example.com`), or `@netgroup`. No options, spaces or shell characters.
pub fn check_export_to(s: &str) -> Result<(), &'static str> {
    if s == "*" {
        return Ok(());
    }
    if s.contains('/') {
        return parse_cidr(s).map(|_| ()).map_err(|_| "is not a valid CIDR");
    }
    if IpAddr::from_str(s).is_ok() {
        return Ok(());
    }
    if let Some(group) = s.strip_prefix('@') {
        if !group.is_empty()
            && group
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Ok(());
        }
        return Err("is not a valid `@netgroup`");
    }
    if let Some(rest) = s.strip_prefix("*.")
        && is_hostname(rest)
    {
        return Ok(());
    }
    if is_hostname(s) {
        return Ok(());
    }
    Err("is not `*`, an IP address, a CIDR, a host name, `*.domain` or `@netgroup`")
}

/// `host:port` with a host name, IPv4 address or `[IPv6]`, and a port 1–65535.
pub fn check_host_port(s: &str) -> Result<(), &'static str> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((h, p)) = rest.split_once("]:") else {
            return Err("is not `host:port`");
        };
        if std::net::Ipv6Addr::from_str(h).is_err() {
            return Err("has an invalid IPv6 address");
        }
        (None, p)
    } else {
        let Some((h, p)) = s.rsplit_once(':') else {
            return Err("is not `host:port` (no port)");
        };
        (Some(h), p)
    };
    if let Some(h) = host
        && std::net::Ipv4Addr::from_str(h).is_err()
        && !is_hostname(h)
    {
        return Err("has an invalid host");
    }
    check_port(port)
}

fn check_port(p: &str) -> Result<(), &'static str> {
    match p.parse::<u16>() {
        Ok(n) if n > 0 && p.chars().all(|c| c.is_ascii_digit()) => Ok(()),
        _ => Err("has an invalid port (1-65535)"),
    }
}

/// `http(s)://[user[:password]@]host[:port][/path]`. Credentials are allowed (and
/// redacted elsewhere); whitespace, quotes, backslashes, `$` and backticks are not.
pub fn check_proxy_url(s: &str) -> Result<(), &'static str> {
    let rest = if let Some(r) = s.strip_prefix("http://") {
        r
    } else if let Some(r) = s.strip_prefix("https://") {
        r
    } else {
        return Err("is not an http:// or https:// URL");
    };
    if s.chars()
        .any(|c| c.is_whitespace() || c.is_control() || "\"'`\\$<>{}|^".contains(c))
    {
        return Err("contains characters that must be percent-encoded");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = match authority.rsplit_once('@') {
        Some((_, hp)) => hp,
        None => authority,
    };
    if hostport.is_empty() {
        return Err("has no host");
    }
    if let Some(r) = hostport.strip_prefix('[') {
        let (h, after) = r.split_once(']').ok_or("has an invalid IPv6 host")?;
        if std::net::Ipv6Addr::from_str(h).is_err() {
            return Err("has an invalid IPv6 host");
        }
        return match after {
            "" => Ok(()),
            a => check_port(a.strip_prefix(':').unwrap_or("x")),
        };
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (hostport, None),
    };
    if std::net::Ipv4Addr::from_str(host).is_err() && !is_hostname(host) {
        return Err("has an invalid host");
    }
    match port {
        Some(p) => check_port(p),
        None => Ok(()),
    }
}

/// Redacts the user-info part of a URL: `http://u:p@h:1` → `http://***@h:1`.
pub fn redact_url(s: &str) -> String {
    let Some(i) = s.find("://") else {
        return s.to_string();
    };
    let (scheme, rest) = s.split_at(i + 3);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}***{}", &rest[at..]),
        None => s.to_string(),
    }
}

/// One `no_proxy` entry: an IP, a CIDR, a host/domain (`.example.com`, `*.example.com`)
/// or `*`.
pub fn check_no_proxy_entry(s: &str) -> Result<(), &'static str> {
    if s.contains('/') {
        return parse_cidr(s).map(|_| ()).map_err(|_| "is not a valid CIDR");
    }
    if s == "*" || IpAddr::from_str(s).is_ok() {
        return Ok(());
    }
    let host = s
        .strip_prefix("*.")
        .or_else(|| s.strip_prefix('.'))
        .unwrap_or(s);
    let host = match host.rsplit_once(':') {
        Some((h, p)) if check_port(p).is_ok() => h,
        _ => host,
    };
    if is_hostname(host) {
        Ok(())
    } else {
        Err("is not an IP address, CIDR or domain")
    }
}

/// `IP name [name…]`, as appended to `/etc/hosts`.
pub fn check_hosts_line(s: &str) -> Result<(), &'static str> {
    let mut it = s.split([' ', '\t']).filter(|t| !t.is_empty());
    let ip = it.next().ok_or("is empty")?;
    if IpAddr::from_str(ip).is_err() {
        return Err("does not start with an IP address");
    }
    let mut names = 0;
    for n in it {
        if !is_hostname(n) {
            return Err("contains an invalid host name");
        }
        names += 1;
    }
    if names == 0 {
        return Err("names no host");
    }
    if s.chars().any(|c| c.is_control()) {
        return Err("contains control characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["ubuntu", "_svc", "a-b_1", "a"] {
            assert!(is_linux_username(ok), "{ok}");
        }
        for bad in ["", "Ubuntu", "1abc", "a b", "a;b", &"a".repeat(33), "root$"] {
            assert!(!is_linux_username(bad), "{bad}");
        }
    }

    #[test]
    fn metacharacters() {
        assert_eq!(unsafe_char("/volume/nfs"), None);
        assert_eq!(unsafe_char("/volume;rm"), Some(';'));
        assert_eq!(unsafe_char("a b"), Some(' '));
        assert_eq!(unsafe_char("x\ny"), Some('\n'));
        assert_eq!(unsafe_char("~/x"), Some('~'));
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            normalize_relative("./Files//a.yaml").as_deref(),
            Ok("Files/a.yaml")
        );
        assert!(normalize_relative("/etc/passwd").is_err());
        assert!(normalize_relative("Files/../../x").is_err());
        assert!(normalize_relative("./").is_err());
    }

    #[test]
    fn absolute_paths() {
        assert!(check_absolute("/volume/nfs/pv1").is_ok());
        assert!(check_absolute("volume").is_err());
        let e = check_absolute("/volume/../etc").unwrap_err();
        assert!(e.contains("`/etc`"), "{e}");
        assert!(check_absolute("/volume/").is_err());
        assert!(path_within("/volume/nfs", "/volume"));
        assert!(path_within("/volume", "/volume"));
        assert!(!path_within("/volume2/nfs", "/volume"));
    }

    #[test]
    fn cidrs() {
        let c = parse_cidr("192.168.3.0/16").unwrap();
        assert!(c.had_host_bits);
        assert_eq!(c.net.to_string(), "192.168.0.0/16");
        assert!(!parse_cidr("10.96.0.0/12").unwrap().had_host_bits);
        assert!(parse_cidr("10.0.0.0").is_err());
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("fd00::/8").is_ok());
        let a = parse_cidr("10.0.0.0/8").unwrap().net;
        let b = parse_cidr("10.96.0.0/12").unwrap().net;
        let c = parse_cidr("192.168.0.0/16").unwrap().net;
        assert!(overlaps(&a, &b) && overlaps(&b, &a));
        assert!(!overlaps(&a, &c));
    }

    #[test]
    fn export_clients() {
        for ok in [
            "*",
            "10.10.0.0/24",
            "10.10.0.5",
            "host.example.com",
            "*.example.com",
            "@trusted",
            "fd00::1",
        ] {
            assert!(check_export_to(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "10.10.0.0/24(rw)",
            "a b",
            "*;rm",
            "10.0.0.0/99",
            "@",
            "*.*",
        ] {
            assert!(check_export_to(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn host_ports_and_urls() {
        assert!(check_host_port("registry.example.com:5000").is_ok());
        assert!(check_host_port("192.168.0.20:443").is_ok());
        assert!(check_host_port("[fd00::1]:5000").is_ok());
        assert!(check_host_port("registry").is_err());
        assert!(check_host_port("registry:0").is_err());
        assert!(check_host_port("reg istry:80").is_err());
        assert!(check_proxy_url("http://user1:password1@host1:3128").is_ok());
        assert!(check_proxy_url("https://proxy.example.com").is_ok());
        assert!(check_proxy_url("http://user1:password1@host1:port1").is_err());
        assert!(check_proxy_url("ftp://x").is_err());
        assert!(check_proxy_url("http://a b").is_err());
        assert_eq!(redact_url("http://u:p@h:1/x"), "http://***@h:1/x");
        assert_eq!(redact_url("http://h:1"), "http://h:1");
    }

    #[test]
    fn no_proxy_and_hosts() {
        for ok in [
            "10.0.0.1",
            "192.168.246.0/24",
            ".example.com",
            "*.example.com",
            "localhost",
            "svc:8080",
        ] {
            assert!(check_no_proxy_entry(ok).is_ok(), "{ok}");
        }
        for bad in ["10.0.0.0/40", "a;b", "$(x)"] {
            assert!(check_no_proxy_entry(bad).is_err(), "{bad}");
        }
        assert!(check_hosts_line("192.168.0.20 registry.example.com").is_ok());
        assert!(check_hosts_line("registry.example.com").is_err());
        assert!(check_hosts_line("192.168.0.20").is_err());
        assert!(check_hosts_line("192.168.0.20 a;b").is_err());
    }
}
