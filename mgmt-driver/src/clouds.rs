//! OpenStack credentials: `clouds.yaml`, `OS_*` environment variables, or a request's
//! `vimConnectionInfo[].accessInfo`, with openstacksdk's precedence.
//!
//! - A cloud name (`--os-cloud NAME`, else `OS_CLOUD`) selects an entry of the first
//!   `clouds.yaml` found: `$OS_CLIENT_CONFIG_FILE`, `./clouds.yaml`,
//!   `~/.config/openstack/clouds.yaml`, `/etc/openstack/clouds.yaml`.
//! - Without a cloud name: `OS_AUTH_URL`, `OS_USERNAME`/`OS_USER_ID`, `OS_PASSWORD`,
//!   `OS_PROJECT_NAME`/`OS_PROJECT_ID`, `OS_USER_DOMAIN_NAME`/`_ID`,
//!   `OS_PROJECT_DOMAIN_NAME`/`_ID`, `OS_APPLICATION_CREDENTIAL_ID`/`_NAME`/`_SECRET`,
//!   `OS_REGION_NAME`, `OS_INTERFACE`.
//!
//! Secrets (password, application credential secret) are held as [`Secret`] and never
//! appear in `Debug` output or errors.

use crate::secret::Secret;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How the user authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// Keystone `password` method.
    Password {
        /// User name (with a user domain), or …
        username: Option<String>,
        /// … the user id.
        user_id: Option<String>,
        /// User domain name.
        user_domain_name: Option<String>,
        /// User domain id.
        user_domain_id: Option<String>,
        /// Password.
        password: Secret,
    },
    /// Keystone `application_credential` method.
    ApplicationCredential {
        /// Application credential id, or …
        id: Option<String>,
        /// … its name (with the owning user).
        name: Option<String>,
        /// Owning user's name (with `name`).
        username: Option<String>,
        /// Owning user's id (with `name`).
        user_id: Option<String>,
        /// Owning user's domain name.
        user_domain_name: Option<String>,
        /// Owning user's domain id.
        user_domain_id: Option<String>,
        /// Secret.
        secret: Secret,
    },
}

/// Everything needed to get a Keystone v3 token and pick endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// Keystone URL (with or without `/v3`).
    pub auth_url: String,
    /// Credential.
    pub credential: Credential,
    /// Project name (with a project domain).
    pub project_name: Option<String>,
    /// Project id.
    pub project_id: Option<String>,
    /// Project domain name.
    pub project_domain_name: Option<String>,
    /// Project domain id.
    pub project_domain_id: Option<String>,
    /// Region of the endpoints (any when unset).
    pub region: Option<String>,
    /// Endpoint interface (`public` by default).
    pub interface: String,
    /// Where these settings came from (`clouds.yaml <file> cloud <name>`, `environment`,
    /// `vimConnectionInfo <id>`), for messages.
    pub origin: String,
}

/// Error codes of credential loading.
pub mod codes {
    vnf_package::codes! {
        /// No usable OpenStack credentials: clouds.yaml missing or invalid, cloud name unknown, or required settings absent.
        CONFIG = "driver.discovery.config";
    }
}

/// Why credentials could not be loaded (never contains a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", codes::CONFIG.id)]
pub struct ConfigError {
    /// What is wrong, naming the file or variable.
    pub message: String,
}

fn cfg_err(message: impl Into<String>) -> ConfigError {
    ConfigError {
        message: message.into(),
    }
}

/// The `clouds.yaml` candidates in search order: `$OS_CLIENT_CONFIG_FILE`, then
/// `<cwd>/clouds.yaml`, `<home>/.config/openstack/clouds.yaml`,
/// `/etc/openstack/clouds.yaml`.
pub fn clouds_yaml_candidates(
    env: &dyn Fn(&str) -> Option<String>,
    cwd: Option<&Path>,
    home: Option<&Path>,
) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(f) = env("OS_CLIENT_CONFIG_FILE").filter(|f| !f.is_empty()) {
        v.push(PathBuf::from(f));
    }
    if let Some(c) = cwd {
        v.push(c.join("clouds.yaml"));
    }
    if let Some(h) = home {
        v.push(h.join(".config/openstack/clouds.yaml"));
    }
    v.push(PathBuf::from("/etc/openstack/clouds.yaml"));
    v
}

/// The process environment, as the lookup function the loaders take.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Resolves credentials like openstacksdk: `os_cloud` (else `OS_CLOUD`) selects a
/// `clouds.yaml` entry; without a cloud name the `OS_*` variables are used.
pub fn resolve(
    os_cloud: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Auth, ConfigError> {
    let env_cloud = env("OS_CLOUD").filter(|c| !c.is_empty());
    match os_cloud.map(str::to_string).or(env_cloud) {
        Some(name) => {
            let cwd = std::env::current_dir().ok();
            let home = env("HOME").map(PathBuf::from);
            let candidates = clouds_yaml_candidates(env, cwd.as_deref(), home.as_deref());
            from_clouds_yaml_files(&name, &candidates)
        }
        None => from_env(env),
    }
}

/// Reads the first existing file of `candidates` and returns its cloud `name`.
pub fn from_clouds_yaml_files(name: &str, candidates: &[PathBuf]) -> Result<Auth, ConfigError> {
    let Some(file) = candidates.iter().find(|p| p.is_file()) else {
        return Err(cfg_err(format!(
            "cloud {name:?} requested but no clouds.yaml found (looked at {})",
            candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    let text = std::fs::read_to_string(file)
        .map_err(|e| cfg_err(format!("cannot read {}: {e}", file.display())))?;
    from_clouds_yaml(&text, name, file)
}

/// Parses `clouds.yaml` text and returns its cloud `name`; `file` is for messages.
pub fn from_clouds_yaml(text: &str, name: &str, file: &Path) -> Result<Auth, ConfigError> {
    let opts = serde_saphyr::options! {
        strict_booleans: true,
    };
    let doc: serde_json::Value = serde_saphyr::from_str_with_options(text, opts)
        .map_err(|e| cfg_err(format!("{}: {e}", file.display())))?;
    let clouds = doc
        .get("clouds")
        .and_then(serde_json::Value::as_object)
        .ok_or_else(|| {
            cfg_err(format!(
                "{}: no `clouds` mapping at /clouds",
                file.display()
            ))
        })?;
    let Some(entry) = clouds.get(name) else {
        return Err(cfg_err(format!(
            "{}: no cloud {name:?} (clouds: {})",
            file.display(),
            clouds.keys().cloned().collect::<Vec<_>>().join(", ")
        )));
    };
    let ptr = format!("/clouds/{name}");
    let top = flat(entry);
    let auth = entry.get("auth").map(flat).unwrap_or_default();
    let get = |k: &str| auth.get(k).cloned().filter(|v| !v.is_empty());
    let auth_type = top.get("auth_type").cloned().unwrap_or_default();
    let origin = format!("clouds.yaml {} cloud {name}", file.display());
    let settings = Settings {
        auth_url: get("auth_url"),
        username: get("username"),
        user_id: get("user_id"),
        password: get("password"),
        project_name: get("project_name").or_else(|| get("tenant_name")),
        project_id: get("project_id").or_else(|| get("tenant_id")),
        user_domain_name: get("user_domain_name").or_else(|| get("domain_name")),
        user_domain_id: get("user_domain_id").or_else(|| get("domain_id")),
        project_domain_name: get("project_domain_name").or_else(|| get("domain_name")),
        project_domain_id: get("project_domain_id").or_else(|| get("domain_id")),
        app_cred_id: get("application_credential_id"),
        app_cred_name: get("application_credential_name"),
        app_cred_secret: get("application_credential_secret"),
        region: top.get("region_name").cloned().filter(|v| !v.is_empty()),
        interface: top.get("interface").cloned().filter(|v| !v.is_empty()),
        app_cred: auth_type.contains("applicationcredential"),
    };
    settings.build(origin, &|k| format!("{} at {ptr}/auth/{k}", file.display()))
}

/// Scalar members of a mapping as strings (numbers and booleans too: an unquoted
/// numeric password is still a password).
fn flat(v: &serde_json::Value) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    if let Some(o) = v.as_object() {
        for (k, v) in o {
            let s = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                _ => continue,
            };
            m.insert(k.clone(), s);
        }
    }
    m
}

/// Credentials from the `OS_*` variables.
pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Auth, ConfigError> {
    let get = |k: &str| env(k).filter(|v| !v.is_empty());
    let auth_type = get("OS_AUTH_TYPE").unwrap_or_default();
    let settings = Settings {
        auth_url: get("OS_AUTH_URL"),
        username: get("OS_USERNAME"),
        user_id: get("OS_USER_ID"),
        password: get("OS_PASSWORD"),
        project_name: get("OS_PROJECT_NAME").or_else(|| get("OS_TENANT_NAME")),
        project_id: get("OS_PROJECT_ID").or_else(|| get("OS_TENANT_ID")),
        user_domain_name: get("OS_USER_DOMAIN_NAME"),
        user_domain_id: get("OS_USER_DOMAIN_ID"),
        project_domain_name: get("OS_PROJECT_DOMAIN_NAME"),
        project_domain_id: get("OS_PROJECT_DOMAIN_ID"),
        app_cred_id: get("OS_APPLICATION_CREDENTIAL_ID"),
        app_cred_name: get("OS_APPLICATION_CREDENTIAL_NAME"),
        app_cred_secret: get("OS_APPLICATION_CREDENTIAL_SECRET"),
        region: get("OS_REGION_NAME"),
        interface: get("OS_INTERFACE"),
        app_cred: auth_type.contains("applicationcredential"),
    };
    let var = |k: &str| -> String {
        let name = match k {
            "auth_url" => "OS_AUTH_URL",
            "password" => "OS_PASSWORD",
            "username" => "OS_USERNAME or OS_USER_ID",
            "application_credential_secret" => "OS_APPLICATION_CREDENTIAL_SECRET",
            "application_credential_id" => {
                "OS_APPLICATION_CREDENTIAL_ID or OS_APPLICATION_CREDENTIAL_NAME"
            }
            other => other,
        };
        format!("environment variable {name}")
    };
    settings.build("environment".into(), &var)
}

/// Credentials from a request's `vimConnectionInfo[].accessInfo` (Tacker-style keys:
/// `authUrl`/`auth_url`, `username`, `password`, `project`/`projectName`,
/// `projectDomain`, `userDomain`, `region`; also `projectId`, `interface`).
pub fn from_access_info(
    vim_id: &str,
    access: &indexmap::IndexMap<String, serde_json::Value>,
) -> Result<Auth, ConfigError> {
    let v = serde_json::Value::Object(access.clone().into_iter().collect());
    let m = flat(&v);
    let get = |ks: &[&str]| {
        ks.iter()
            .find_map(|k| m.get(*k).cloned())
            .filter(|s| !s.is_empty())
    };
    let settings = Settings {
        auth_url: get(&["authUrl", "auth_url"]),
        username: get(&["username", "userName"]),
        user_id: get(&["userId", "user_id"]),
        password: get(&["password"]),
        project_name: get(&["project", "projectName", "project_name"]),
        project_id: get(&["projectId", "project_id"]),
        user_domain_name: get(&["userDomain", "userDomainName", "user_domain_name"]),
        user_domain_id: None,
        project_domain_name: get(&["projectDomain", "projectDomainName", "project_domain_name"]),
        project_domain_id: None,
        app_cred_id: get(&["applicationCredentialId", "application_credential_id"]),
        app_cred_name: None,
        app_cred_secret: get(&[
            "applicationCredentialSecret",
            "application_credential_secret",
        ]),
        region: get(&["region", "regionName", "region_name"]),
        interface: get(&["interface"]),
        app_cred: false,
    };
    let origin = format!("vimConnectionInfo {vim_id}");
    settings.build(origin.clone(), &|k| format!("{origin} accessInfo key {k}"))
}

/// Collected settings before validation.
struct Settings {
    auth_url: Option<String>,
    username: Option<String>,
    user_id: Option<String>,
    password: Option<String>,
    project_name: Option<String>,
    project_id: Option<String>,
    user_domain_name: Option<String>,
    user_domain_id: Option<String>,
    project_domain_name: Option<String>,
    project_domain_id: Option<String>,
    app_cred_id: Option<String>,
    app_cred_name: Option<String>,
    app_cred_secret: Option<String>,
    region: Option<String>,
    interface: Option<String>,
    /// `auth_type` says application credential.
    app_cred: bool,
}

impl Settings {
    fn build(self, origin: String, where_: &dyn Fn(&str) -> String) -> Result<Auth, ConfigError> {
        let missing = |k: &str| cfg_err(format!("{origin}: missing {}", where_(k)));
        let auth_url = self.auth_url.ok_or_else(|| missing("auth_url"))?;
        let credential = if self.app_cred || self.app_cred_secret.is_some() {
            let secret = self
                .app_cred_secret
                .ok_or_else(|| missing("application_credential_secret"))?;
            if self.app_cred_id.is_none() && self.app_cred_name.is_none() {
                return Err(missing("application_credential_id"));
            }
            Credential::ApplicationCredential {
                id: self.app_cred_id,
                name: self.app_cred_name,
                username: self.username,
                user_id: self.user_id,
                user_domain_name: self.user_domain_name,
                user_domain_id: self.user_domain_id,
                secret: Secret::new(secret),
            }
        } else {
            let password = self.password.ok_or_else(|| missing("password"))?;
            if self.username.is_none() && self.user_id.is_none() {
                return Err(missing("username"));
            }
            Credential::Password {
                username: self.username,
                user_id: self.user_id,
                user_domain_name: self.user_domain_name,
                user_domain_id: self.user_domain_id,
                password: Secret::new(password),
            }
        };
        Ok(Auth {
            auth_url,
            credential,
            project_name: self.project_name,
            project_id: self.project_id,
            project_domain_name: self.project_domain_name,
            project_domain_id: self.project_domain_id,
            region: self.region,
            interface: self.interface.unwrap_or_else(|| "public".into()),
            origin,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "clouds:
  lab:
    auth_type: password
    auth:
      auth_url: http://127.0.0.1:5000/identity/v3
      username: admin
      password: 12345
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionTwo
    interface: internal
  appcred:
    auth_type: v3applicationcredential
    auth:
      auth_url: http://127.0.0.1:5000/identity/v3
      application_credential_id: abc
      application_credential_secret: s3cret
";

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| m.get(k).cloned()
    }

    #[test]
    fn password_cloud_with_numeric_password_region_and_interface() {
        let a = from_clouds_yaml(YAML, "lab", Path::new("c.yaml")).expect("parse");
        assert_eq!(a.auth_url, "http://127.0.0.1:5000/identity/v3");
        assert_eq!(a.region.as_deref(), Some("RegionTwo"));
        assert_eq!(a.interface, "internal");
        assert_eq!(a.project_name.as_deref(), Some("admin"));
        match &a.credential {
            Credential::Password {
                username, password, ..
            } => {
                assert_eq!(username.as_deref(), Some("admin"));
                assert_eq!(password.expose(), "12345");
            }
            other => panic!("not a password credential: {other:?}"),
        }
        assert!(!format!("{a:?}").contains("12345"), "secret in Debug");
    }

    #[test]
    fn application_credential_cloud() {
        let a = from_clouds_yaml(YAML, "appcred", Path::new("c.yaml")).expect("parse");
        assert_eq!(a.interface, "public");
        assert!(matches!(
            &a.credential,
            Credential::ApplicationCredential { id: Some(i), secret, .. }
                if i == "abc" && secret.expose() == "s3cret"
        ));
    }

    #[test]
    fn unknown_cloud_names_the_file_and_the_known_clouds() {
        let e = from_clouds_yaml(YAML, "nope", Path::new("c.yaml")).unwrap_err();
        assert!(e.message.contains("c.yaml"), "{e}");
        assert!(e.message.contains("lab, appcred"), "{e}");
        assert!(e.to_string().starts_with("driver.discovery.config"));
    }

    #[test]
    fn missing_password_names_the_pointer() {
        let y = "clouds:\n  x:\n    auth:\n      auth_url: http://k/v3\n      username: u\n";
        let e = from_clouds_yaml(y, "x", Path::new("c.yaml")).unwrap_err();
        assert!(e.message.contains("/clouds/x/auth/password"), "{e}");
    }

    #[test]
    fn candidates_follow_openstacksdk_order() {
        let env = env_of(&[("OS_CLIENT_CONFIG_FILE", "/x/my.yaml")]);
        let c = clouds_yaml_candidates(&env, Some(Path::new("/cwd")), Some(Path::new("/home/u")));
        let want: Vec<PathBuf> = [
            "/x/my.yaml",
            "/cwd/clouds.yaml",
            "/home/u/.config/openstack/clouds.yaml",
            "/etc/openstack/clouds.yaml",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(c, want);
        let c = clouds_yaml_candidates(&env_of(&[]), None, None);
        assert_eq!(c, vec![PathBuf::from("/etc/openstack/clouds.yaml")]);
    }

    #[test]
    fn first_existing_file_wins() {
        let d = tempfile::tempdir().expect("tempdir");
        let a = d.path().join("a.yaml");
        let b = d.path().join("b.yaml");
        std::fs::write(&b, YAML).expect("write");
        let got = from_clouds_yaml_files("lab", &[a.clone(), b.clone()]).expect("b is used");
        assert!(got.origin.contains("b.yaml"), "{}", got.origin);
        std::fs::write(&a, YAML.replace("RegionTwo", "RegionA")).expect("write");
        let got = from_clouds_yaml_files("lab", &[a, b]).expect("a is used");
        assert_eq!(got.region.as_deref(), Some("RegionA"));
        let e = from_clouds_yaml_files("lab", &[d.path().join("none.yaml")]).unwrap_err();
        assert!(e.message.contains("none.yaml"), "{e}");
    }

    #[test]
    fn cloud_name_beats_environment_and_os_cloud_selects() {
        let d = tempfile::tempdir().expect("tempdir");
        let f = d.path().join("clouds.yaml");
        std::fs::write(&f, YAML).expect("write");
        let fs = f.display().to_string();
        let base = [
            ("OS_CLIENT_CONFIG_FILE", fs.as_str()),
            ("OS_AUTH_URL", "http://env/v3"),
            ("OS_USERNAME", "envuser"),
            ("OS_PASSWORD", "envpw"),
        ];
        // No cloud name: the OS_* variables.
        let a = resolve(None, &env_of(&base)).expect("env");
        assert_eq!(a.auth_url, "http://env/v3");
        assert_eq!(a.origin, "environment");
        // OS_CLOUD selects an entry; --os-cloud overrides OS_CLOUD.
        let mut with_cloud = base.to_vec();
        with_cloud.push(("OS_CLOUD", "appcred"));
        let a = resolve(None, &env_of(&with_cloud)).expect("OS_CLOUD");
        assert!(matches!(
            a.credential,
            Credential::ApplicationCredential { .. }
        ));
        let a = resolve(Some("lab"), &env_of(&with_cloud)).expect("--os-cloud");
        assert_eq!(a.region.as_deref(), Some("RegionTwo"));
    }

    #[test]
    fn environment_variables() {
        let a = from_env(&env_of(&[
            ("OS_AUTH_URL", "http://k/v3"),
            ("OS_USER_ID", "uid"),
            ("OS_PASSWORD", "pw"),
            ("OS_PROJECT_ID", "pid"),
            ("OS_USER_DOMAIN_ID", "default"),
            ("OS_REGION_NAME", "R"),
            ("OS_INTERFACE", "admin"),
        ]))
        .expect("env");
        assert_eq!(a.project_id.as_deref(), Some("pid"));
        assert_eq!(a.interface, "admin");
        assert!(
            matches!(&a.credential, Credential::Password { user_id: Some(u), user_domain_id: Some(d), .. } if u == "uid" && d == "default")
        );
        let a = from_env(&env_of(&[
            ("OS_AUTH_URL", "http://k/v3"),
            ("OS_APPLICATION_CREDENTIAL_NAME", "n"),
            ("OS_USERNAME", "u"),
            ("OS_APPLICATION_CREDENTIAL_SECRET", "s"),
        ]))
        .expect("appcred env");
        assert!(
            matches!(&a.credential, Credential::ApplicationCredential { name: Some(n), .. } if n == "n")
        );
        let e = from_env(&env_of(&[
            ("OS_AUTH_URL", "http://k/v3"),
            ("OS_USERNAME", "u"),
        ]))
        .unwrap_err();
        assert!(e.message.contains("OS_PASSWORD"), "{e}");
        let e = from_env(&env_of(&[])).unwrap_err();
        assert!(e.message.contains("OS_AUTH_URL"), "{e}");
    }

    #[test]
    fn tacker_access_info() {
        let access: indexmap::IndexMap<String, serde_json::Value> = serde_json::from_value(
            serde_json::json!({"authUrl": "http://k/identity/v3", "username": "nfv_user",
                "password": "devstack", "project": "nfv", "projectDomain": "Default",
                "userDomain": "Default", "region": "RegionOne"}),
        )
        .expect("map");
        let a = from_access_info("vim1", &access).expect("access info");
        assert_eq!(a.project_name.as_deref(), Some("nfv"));
        assert_eq!(a.project_domain_name.as_deref(), Some("Default"));
        assert_eq!(a.region.as_deref(), Some("RegionOne"));
        assert!(
            matches!(&a.credential, Credential::Password { user_domain_name: Some(d), .. } if d == "Default")
        );
        let mut no_pw = access.clone();
        no_pw.shift_remove("password");
        let e = from_access_info("vim1", &no_pw).unwrap_err();
        assert!(e.message.contains("vimConnectionInfo vim1"), "{e}");
        assert!(e.message.contains("password"), "{e}");
    }
}
