//! Ids and timestamps.

use std::io::Read;

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok();
    if !ok {
        // /dev/urandom is always there on Linux; fall back to time-derived bytes.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for (i, x) in b.iter_mut().enumerate() {
            *x = (t >> ((i % 16) * 8)) as u8 ^ (i as u8).wrapping_mul(31);
        }
    }
    b
}

/// A random version-4 UUID in canonical form.
pub fn uuid4() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A random 32-hex-digit id (Keystone style: no dashes).
pub fn hex_id() -> String {
    random_bytes::<16>()
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// A Heat `short_id`: 12 characters of `[a-z0-9]`.
pub fn short_id() -> String {
    const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    random_bytes::<12>()
        .iter()
        .map(|x| ALPHA[(*x as usize) % ALPHA.len()] as char)
        .collect()
}

/// A random token string (url-safe).
pub fn token_string() -> String {
    const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    random_bytes::<48>()
        .iter()
        .map(|x| ALPHA[(*x as usize) % ALPHA.len()] as char)
        .collect()
}

/// Now, UTC.
pub fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// `2015-03-03T14:37:27Z` (Heat, Nova, Neutron).
pub fn iso(t: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `2015-11-05T22:00:11.000000Z` (Keystone).
pub fn iso_micro(t: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// Lab host name for a server name: `[a-z0-9-]`, at most 40 characters, with a suffix.
pub fn host_name(server_name: &str, seq: u64) -> String {
    let mut base: String = server_name
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    base = base.trim_matches('-').to_string();
    if base.is_empty() {
        base = "server".into();
    }
    let suffix = format!("-{seq}");
    base.truncate(40 - suffix.len());
    format!("{}{suffix}", base.trim_end_matches('-'))
}

/// A MAC address derived from an IPv4 address (as the lab wires it).
pub fn mac_for(ip: std::net::Ipv4Addr) -> String {
    let o = ip.octets();
    format!("02:4c:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_shape() {
        let u = uuid4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(uuid4(), u);
    }

    #[test]
    fn host_names_are_lab_names() {
        assert_eq!(host_name("masterNode", 3), "masternode-3");
        assert_eq!(host_name("__", 1), "server-1");
        let long = host_name(&"x".repeat(80), 12345);
        assert!(long.len() <= 40, "{long}");
        assert!(long.ends_with("-12345"));
    }

    #[test]
    fn short_ids() {
        let s = short_id();
        assert_eq!(s.len(), 12);
        assert!(
            s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }
}
