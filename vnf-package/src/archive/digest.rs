//! Digest algorithms of SOL004 manifests and TOSCA.meta blocks, and streaming hashing.
//!
//! Hashing reads through a fixed 1 MiB buffer, so memory stays constant whatever the file
//! size. On x86_64 `sha2` detects SHA-NI at run time and uses it (no feature flag needed).

use sha2::Digest;
use std::fmt;
use std::io::{self, Read};

/// Size of the read buffer used for hashing.
pub const HASH_BUFFER: usize = 1 << 20;

/// A digest algorithm allowed in a manifest or TOSCA.meta (`SHA-224/256/384/512`,
/// case-insensitive, as Tacker accepts them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-224.
    Sha224,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Algorithm {
    /// Every algorithm.
    pub const ALL: [Algorithm; 4] = [
        Algorithm::Sha224,
        Algorithm::Sha256,
        Algorithm::Sha384,
        Algorithm::Sha512,
    ];

    /// Parses `SHA-256`, `sha-256` etc. (case-insensitive, with the dash). `None` otherwise.
    pub fn parse(s: &str) -> Option<Algorithm> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s))
    }

    /// Canonical name, e.g. `SHA-256`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha224 => "SHA-224",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha384 => "SHA-384",
            Algorithm::Sha512 => "SHA-512",
        }
    }

    /// Length of the hex digest in characters.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha224 => 56,
            Algorithm::Sha256 => 64,
            Algorithm::Sha384 => 96,
            Algorithm::Sha512 => 128,
        }
    }

    /// True when `hash` is a hex string of the right length for this algorithm
    /// (either case).
    pub fn is_well_formed(self, hash: &str) -> bool {
        hash.len() == self.hex_len() && hash.bytes().all(|b| b.is_ascii_hexdigit())
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn stream<D: Digest, R: Read>(mut reader: R, buf: &mut [u8]) -> io::Result<(String, u64)> {
    let mut hasher = D::new();
    let mut total = 0u64;
    loop {
        let n = match reader.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

/// Hashes everything `reader` yields through a 1 MiB buffer; returns the lowercase hex
/// digest and the number of bytes read.
pub fn hash_reader<R: Read>(reader: R, algorithm: Algorithm) -> io::Result<(String, u64)> {
    let mut buf = vec![0u8; HASH_BUFFER];
    hash_reader_with(reader, algorithm, &mut buf)
}

/// Like [`hash_reader`] with a caller-provided buffer (reused across files by the
/// parallel verifier).
pub fn hash_reader_with<R: Read>(
    reader: R,
    algorithm: Algorithm,
    buf: &mut [u8],
) -> io::Result<(String, u64)> {
    match algorithm {
        Algorithm::Sha224 => stream::<sha2::Sha224, _>(reader, buf),
        Algorithm::Sha256 => stream::<sha2::Sha256, _>(reader, buf),
        Algorithm::Sha384 => stream::<sha2::Sha384, _>(reader, buf),
        Algorithm::Sha512 => stream::<sha2::Sha512, _>(reader, buf),
    }
}

/// Hashes a file on disk (streaming); returns the lowercase hex digest and its size.
pub fn hash_file(path: &std::path::Path, algorithm: Algorithm) -> io::Result<(String, u64)> {
    hash_reader(std::fs::File::open(path)?, algorithm)
}

/// Hashes an in-memory byte slice; returns the lowercase hex digest.
pub fn hash_bytes(bytes: &[u8], algorithm: Algorithm) -> String {
    match algorithm {
        Algorithm::Sha224 => hex::encode(sha2::Sha224::digest(bytes)),
        Algorithm::Sha256 => hex::encode(sha2::Sha256::digest(bytes)),
        Algorithm::Sha384 => hex::encode(sha2::Sha384::digest(bytes)),
        Algorithm::Sha512 => hex::encode(sha2::Sha512::digest(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_case_insensitive_and_strict() {
        assert_eq!(Algorithm::parse("SHA-256"), Some(Algorithm::Sha256));
        assert_eq!(Algorithm::parse("sha-512"), Some(Algorithm::Sha512));
        assert_eq!(Algorithm::parse("Sha-224"), Some(Algorithm::Sha224));
        assert_eq!(Algorithm::parse("SHA256"), None);
        assert_eq!(Algorithm::parse("MD5"), None);
    }

    #[test]
    fn known_vectors() {
        assert_eq!(
            hash_bytes(b"abc", Algorithm::Sha256),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hash_bytes(b"abc", Algorithm::Sha224),
            "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"
        );
        for a in Algorithm::ALL {
            assert_eq!(hash_bytes(b"", a).len(), a.hex_len());
        }
    }

    #[test]
    fn streaming_matches_one_shot_across_buffer_boundaries() {
        let data: Vec<u8> = (0..(HASH_BUFFER * 2 + 17))
            .map(|i| (i % 251) as u8)
            .collect();
        for a in Algorithm::ALL {
            let (h, n) = hash_reader(&data[..], a).expect("in-memory read");
            assert_eq!(n as usize, data.len());
            assert_eq!(h, hash_bytes(&data, a));
        }
    }

    #[test]
    fn well_formed() {
        let h = hash_bytes(b"x", Algorithm::Sha256);
        assert!(Algorithm::Sha256.is_well_formed(&h));
        assert!(Algorithm::Sha256.is_well_formed(&h.to_uppercase()));
        assert!(!Algorithm::Sha512.is_well_formed(&h));
        assert!(!Algorithm::Sha256.is_well_formed("<Calculated value here>"));
    }
}
