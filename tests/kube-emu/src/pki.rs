//! Cluster PKI: a CA, serving certificates and client certificates (rcgen, ECDSA P-256).

use anyhow::{Context, Result, anyhow};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

pub struct Ca {
    pub cert_pem: String,
    pub key_pem: String,
}

pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

pub fn new_ca(common_name: &str) -> Result<Ca> {
    let key = KeyPair::generate()?;
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name.push(DnType::CommonName, common_name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = p.self_signed(&key)?;
    Ok(Ca {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn issue(
    ca: &Ca,
    cn: &str,
    orgs: &[&str],
    sans: &[String],
    usage: ExtendedKeyUsagePurpose,
) -> Result<Issued> {
    let ca_key = KeyPair::from_pem(&ca.key_pem).context("CA key")?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).context("CA certificate")?;
    let key = KeyPair::generate()?;
    let mut p = CertificateParams::new(sans.to_vec())?;
    p.distinguished_name.push(DnType::CommonName, cn);
    for o in orgs {
        p.distinguished_name.push(DnType::OrganizationName, *o);
    }
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![usage];
    let cert = p.signed_by(&key, &issuer)?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

pub fn serving_cert(ca: &Ca, sans: &[String]) -> Result<Issued> {
    issue(
        ca,
        "kube-apiserver",
        &[],
        sans,
        ExtendedKeyUsagePurpose::ServerAuth,
    )
}

pub fn client_cert(ca: &Ca, user: &str, groups: &[&str]) -> Result<Issued> {
    issue(ca, user, groups, &[], ExtendedKeyUsagePurpose::ClientAuth)
}

impl Ca {
    pub fn load(dir: &Path) -> Result<Ca> {
        Ok(Ca {
            cert_pem: std::fs::read_to_string(dir.join("ca.crt"))
                .with_context(|| format!("{}/ca.crt", dir.display()))?,
            key_pem: std::fs::read_to_string(dir.join("ca.key"))
                .with_context(|| format!("{}/ca.key", dir.display()))?,
        })
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("ca.crt"), &self.cert_pem)?;
        write_private(&dir.join("ca.key"), &self.key_pem)
    }
}

pub fn write_private(path: &Path, data: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("write {}", path.display()))?;
    f.write_all(data.as_bytes())?;
    Ok(())
}

/// `sha256:<hex>` of the CA certificate's SubjectPublicKeyInfo, as in
/// `kubeadm join --discovery-token-ca-cert-hash`.
pub fn ca_cert_hash(ca_pem: &str) -> Result<String> {
    let der =
        CertificateDer::from_pem_slice(ca_pem.as_bytes()).map_err(|e| anyhow!("CA PEM: {e:?}"))?;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| anyhow!("CA certificate: {e}"))?;
    let spki = cert.tbs_certificate.subject_pki.raw;
    Ok(format!(
        "sha256:{}",
        hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, spki).as_ref())
    ))
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b).as_ref())
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    // aws-lc's RNG only fails if the system RNG is unusable.
    aws_lc_rs::rand::fill(&mut v).expect("system random number generator");
    v
}

/// Random lowercase alphanumerics (used for generateName suffixes and token ids).
pub fn random_alnum(n: usize) -> String {
    const A: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    random_bytes(n)
        .into_iter()
        .map(|b| A[b as usize % A.len()] as char)
        .collect()
}

pub fn uuid_v4() -> String {
    let mut b = random_bytes(16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// TLS config for the API server: client certificates signed by the cluster CA are
/// verified when offered, but optional (bearer tokens are the other way in).
pub fn server_tls(ca_pem: &str, cert_pem: &str, key_pem: &str) -> Result<rustls::ServerConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.map_err(|e| anyhow!("CA PEM: {e:?}"))?)?;
    }
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .allow_unauthenticated()
            .build()?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow!("serving cert PEM: {e:?}"))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| anyhow!("serving key PEM: {e:?}"))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Common name and organisations of a verified client certificate.
pub fn cert_identity(der: &[u8]) -> Option<(String, Vec<String>)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subj = cert.subject();
    let cn = subj
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())?
        .to_string();
    let orgs = subj
        .iter_organization()
        .filter_map(|a| a.as_str().ok().map(String::from))
        .collect();
    Some((cn, orgs))
}
