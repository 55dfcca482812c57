//! TOSCA scalar-unit values: `5 GB`, `4 GiB`, `100 Mbps`, `2 GHz`, `10 s`.
//!
//! Each value is parsed to a canonical number: bytes for `scalar-unit.size`, seconds for
//! `scalar-unit.time`, hertz for `scalar-unit.frequency` and bits per second for
//! `scalar-unit.bitrate`. Size, time and frequency units are case-insensitive (TOSCA
//! 1.3 §3.3.6); bitrate units are case-sensitive except for the `k`/`K` prefix because
//! `b` (bit) and `B` (byte) differ.

use std::fmt;

/// The four scalar-unit families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarKind {
    /// `scalar-unit.size`, canonical unit: byte.
    Size,
    /// `scalar-unit.time`, canonical unit: second.
    Time,
    /// `scalar-unit.frequency`, canonical unit: hertz.
    Frequency,
    /// `scalar-unit.bitrate`, canonical unit: bit per second.
    Bitrate,
}

impl ScalarKind {
    /// The kind named by a TOSCA type name, e.g. `scalar-unit.size`.
    pub fn from_type_name(name: &str) -> Option<Self> {
        match name {
            "scalar-unit.size" => Some(ScalarKind::Size),
            "scalar-unit.time" => Some(ScalarKind::Time),
            "scalar-unit.frequency" => Some(ScalarKind::Frequency),
            "scalar-unit.bitrate" => Some(ScalarKind::Bitrate),
            _ => None,
        }
    }

    /// The TOSCA type name.
    pub fn type_name(self) -> &'static str {
        match self {
            ScalarKind::Size => "scalar-unit.size",
            ScalarKind::Time => "scalar-unit.time",
            ScalarKind::Frequency => "scalar-unit.frequency",
            ScalarKind::Bitrate => "scalar-unit.bitrate",
        }
    }

    fn units(self) -> &'static [(&'static str, f64)] {
        const K: f64 = 1000.0;
        const KI: f64 = 1024.0;
        match self {
            ScalarKind::Size => &[
                ("B", 1.0),
                ("kB", K),
                ("KiB", KI),
                ("MB", K * K),
                ("MiB", KI * KI),
                ("GB", K * K * K),
                ("GiB", KI * KI * KI),
                ("TB", K * K * K * K),
                ("TiB", KI * KI * KI * KI),
            ],
            ScalarKind::Time => &[
                ("d", 86400.0),
                ("h", 3600.0),
                ("m", 60.0),
                ("s", 1.0),
                ("ms", 1e-3),
                ("us", 1e-6),
                ("ns", 1e-9),
            ],
            ScalarKind::Frequency => &[("Hz", 1.0), ("kHz", 1e3), ("MHz", 1e6), ("GHz", 1e9)],
            ScalarKind::Bitrate => &[
                ("bps", 1.0),
                ("Kbps", K),
                ("Kibps", KI),
                ("Mbps", K * K),
                ("Mibps", KI * KI),
                ("Gbps", K * K * K),
                ("Gibps", KI * KI * KI),
                ("Tbps", K * K * K * K),
                ("Tibps", KI * KI * KI * KI),
                ("Bps", 8.0),
                ("KBps", 8.0 * K),
                ("KiBps", 8.0 * KI),
                ("MBps", 8.0 * K * K),
                ("MiBps", 8.0 * KI * KI),
                ("GBps", 8.0 * K * K * K),
                ("GiBps", 8.0 * KI * KI * KI),
                ("TBps", 8.0 * K * K * K * K),
                ("TiBps", 8.0 * KI * KI * KI * KI),
            ],
        }
    }

    fn factor(self, unit: &str) -> Option<f64> {
        let units = self.units();
        if let Some((_, f)) = units.iter().find(|(u, _)| *u == unit) {
            return Some(*f);
        }
        match self {
            ScalarKind::Bitrate => {
                // Only the kilo prefix is case-folded (`kbps` = `Kbps`).
                let mut chars = unit.chars();
                let first = chars.next()?;
                if first == 'k' {
                    let alt = format!("K{}", chars.as_str());
                    units.iter().find(|(u, _)| *u == alt).map(|(_, f)| *f)
                } else {
                    None
                }
            }
            _ => units
                .iter()
                .find(|(u, _)| u.eq_ignore_ascii_case(unit))
                .map(|(_, f)| *f),
        }
    }
}

impl fmt::Display for ScalarKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.type_name())
    }
}

/// A parsed scalar-unit value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScalarUnit {
    /// The family.
    pub kind: ScalarKind,
    /// The value in the canonical unit (bytes, seconds, hertz, bits per second).
    pub canonical: f64,
}

impl ScalarUnit {
    /// The canonical value as a whole number (bytes for sizes), if it is a non-negative
    /// integer that fits in `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        let v = self.canonical.round();
        if v.is_finite() && v >= 0.0 && v < u64::MAX as f64 {
            Some(v as u64)
        } else {
            None
        }
    }
}

/// Why a scalar-unit string is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalarError(pub String);

impl fmt::Display for ScalarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses `<number> <unit>` (the space is optional) for the given family.
pub fn parse(kind: ScalarKind, text: &str) -> Result<ScalarUnit, ScalarError> {
    let t = text.trim();
    let split = t
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.' || *c == '-' || *c == '+' || *c == 'e'))
        .map(|(i, _)| i)
        .unwrap_or(t.len());
    // `e` belongs to the unit when no digit follows (none of our units start with `e`).
    let (num, unit) = t.split_at(split);
    let num = num.trim();
    let unit = unit.trim();
    if num.is_empty() {
        return Err(ScalarError(format!("`{t}` has no number before the unit")));
    }
    if unit.is_empty() {
        return Err(ScalarError(format!(
            "`{t}` has no unit (expected one of {})",
            unit_list(kind)
        )));
    }
    let n: f64 = num
        .parse()
        .map_err(|_| ScalarError(format!("`{num}` is not a number")))?;
    if !n.is_finite() {
        return Err(ScalarError(format!("`{num}` is not a finite number")));
    }
    if n < 0.0 {
        return Err(ScalarError(format!("`{t}` is negative")));
    }
    let f = kind.factor(unit).ok_or_else(|| {
        ScalarError(format!(
            "unknown {kind} unit `{unit}` (expected one of {})",
            unit_list(kind)
        ))
    })?;
    Ok(ScalarUnit {
        kind,
        canonical: n * f,
    })
}

fn unit_list(kind: ScalarKind) -> String {
    kind.units()
        .iter()
        .map(|(u, _)| *u)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses a `scalar-unit.size` string to bytes.
pub fn size_bytes(text: &str) -> Result<u64, ScalarError> {
    let s = parse(ScalarKind::Size, text)?;
    s.as_u64()
        .ok_or_else(|| ScalarError(format!("`{text}` is out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size_bytes("5 GB"), Ok(5_000_000_000));
        assert_eq!(size_bytes("4 GiB"), Ok(4 << 30));
        assert_eq!(size_bytes("1 kB"), Ok(1000));
        assert_eq!(size_bytes("1 KiB"), Ok(1024));
        assert_eq!(size_bytes("0 GB"), Ok(0));
        assert_eq!(size_bytes("2gb"), Ok(2_000_000_000));
        assert!(size_bytes("5").is_err());
        assert!(size_bytes("GB").is_err());
        assert!(size_bytes("5 GX").is_err());
        assert!(size_bytes("-1 GB").is_err());
    }

    #[test]
    fn other_families() {
        let b = parse(ScalarKind::Bitrate, "100 Mbps").expect("bitrate");
        assert_eq!(b.canonical, 100e6);
        assert_eq!(
            parse(ScalarKind::Bitrate, "1 MBps")
                .expect("bytes")
                .canonical,
            8e6
        );
        assert!(parse(ScalarKind::Bitrate, "1 mbps").is_err());
        assert_eq!(
            parse(ScalarKind::Frequency, "2 GHz").expect("f").canonical,
            2e9
        );
        assert_eq!(parse(ScalarKind::Time, "10 s").expect("t").canonical, 10.0);
        assert_eq!(parse(ScalarKind::Time, "2 m").expect("t").canonical, 120.0);
        assert_eq!(
            parse(ScalarKind::Time, "1.5 h").expect("t").canonical,
            5400.0
        );
    }
}
