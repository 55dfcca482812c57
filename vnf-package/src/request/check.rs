//! Semantic checks of a request: on its own ([`check_local`]) and against a package and its
//! VNFD ([`check()`]). Both run over [`Parts`], which can also be built from a request value
//! that only partly deserialized, so every problem is reported in one run.

use super::codes;
use super::load::{self, Loaded};
use super::source::{RequestSource, push_token};
use super::syntax::{self, Cidr};
use super::*;
use crate::diag::{Location, Report};
use crate::vnfd::{Flavour, Vnfd};
use serde_json::Value;

/// Read access to the files of a package, as the request checks need it.
///
/// Paths are normalized package-relative paths (`Files/kubernetes/nfs-pv1.yaml`).
pub trait PackageFiles {
    /// True when the package holds this file.
    fn contains(&self, rel: &str) -> bool;
    /// The file's text; `None` when it is absent or not UTF-8.
    fn read_text(&self, rel: &str) -> Option<String>;
}

impl PackageFiles for crate::archive::Package {
    fn contains(&self, rel: &str) -> bool {
        crate::archive::Package::contains(self, rel)
    }

    fn read_text(&self, rel: &str) -> Option<String> {
        crate::archive::Package::read_text(self, rel).ok()
    }
}

/// Pointer of `additionalParams.k8s_cluster_installation_param`.
pub const K8S: &str = "/additionalParams/k8s_cluster_installation_param";

/// Default pod network when `pod_cidr` is absent.
pub const DEFAULT_POD_CIDR: &str = "192.168.0.0/16";
/// Default service network when `cluster_cidr` is absent.
pub const DEFAULT_SERVICE_CIDR: &str = "10.96.0.0/12";

/// The parts of a request the checks look at. Built from a typed request, or from a value
/// whose sections are deserialized one by one (invalid sections are left out).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parts {
    /// `flavourId`.
    pub flavour_id: Option<String>,
    /// `instantiationLevelId`.
    pub level: Option<String>,
    /// Every `extVirtualLinks[].extCps[].cpdId`, with its pointer.
    pub ext_cpds: Vec<(String, String)>,
    /// True when `k8s_cluster_installation_param` is present (even if invalid).
    pub k8s_present: bool,
    /// `script_path`.
    pub script_path: Option<String>,
    /// `vim_name`.
    pub vim_name: Option<String>,
    /// `helm_installation_script_path`.
    pub helm_script_path: Option<String>,
    /// `master_node`, when valid.
    pub master: Option<MasterNode>,
    /// `worker_node`, when valid.
    pub worker: Option<WorkerNode>,
    /// `proxy`, when valid.
    pub proxy: Option<Proxy>,
    /// Valid `private_registry_connection_info` entries with their indices.
    pub registries: Vec<(usize, PrivateRegistry)>,
    /// `storage_server`, when valid.
    pub storage: Option<StorageServer>,
    /// True when `storage_server` is present and not null (even if invalid).
    pub storage_present: bool,
    /// Valid `pv_registration_params` entries with their indices.
    pub pvs: Vec<(usize, PvRegistration)>,
    /// True when `pv_registration_params` has at least one entry (even if invalid).
    pub pvs_present: bool,
    /// `lcm-operation-user-data`.
    pub user_data: Option<String>,
    /// `lcm-operation-user-data-class`.
    pub user_data_class: Option<String>,
}

impl Parts {
    /// The parts of a typed request.
    pub fn from_request(req: &InstantiateVnfRequest) -> Self {
        let mut p = Parts {
            flavour_id: Some(req.flavour_id.clone()),
            level: req.instantiation_level_id.clone(),
            ..Default::default()
        };
        for (i, vl) in req.ext_virtual_links.iter().enumerate() {
            for (j, cp) in vl.ext_cps.iter().enumerate() {
                p.ext_cpds.push((
                    format!("/extVirtualLinks/{i}/extCps/{j}/cpdId"),
                    cp.cpd_id.clone(),
                ));
            }
        }
        if let Some(ap) = &req.additional_params {
            p.user_data = ap.lcm_operation_user_data.clone();
            p.user_data_class = ap.lcm_operation_user_data_class.clone();
            if let Some(k) = &ap.k8s_cluster_installation_param {
                p.k8s_present = true;
                p.script_path = k.script_path.clone();
                p.vim_name = k.vim_name.clone();
                p.helm_script_path = k.helm_installation_script_path.clone();
                p.master = Some(k.master_node.clone());
                p.worker = Some(k.worker_node.clone());
                p.proxy = k.proxy.clone();
                p.registries = k
                    .private_registry_connection_info
                    .iter()
                    .cloned()
                    .enumerate()
                    .collect();
                p.storage = k.storage_server.clone();
                p.storage_present = k.storage_server.is_some();
                p.pvs = k
                    .pv_registration_params
                    .iter()
                    .cloned()
                    .enumerate()
                    .collect();
                p.pvs_present = !k.pv_registration_params.is_empty();
            }
        }
        p
    }

    /// The valid parts of a request value that may have structural errors.
    pub fn from_value(v: &Value) -> Self {
        let s = |ptr: &str| v.pointer(ptr).and_then(Value::as_str).map(str::to_string);
        let mut p = Parts {
            flavour_id: s("/flavourId"),
            level: s("/instantiationLevelId"),
            ..Default::default()
        };
        if let Some(vls) = v.pointer("/extVirtualLinks").and_then(Value::as_array) {
            for (i, vl) in vls.iter().enumerate() {
                let Some(cps) = vl.get("extCps").and_then(Value::as_array) else {
                    continue;
                };
                for (j, cp) in cps.iter().enumerate() {
                    if let Some(id) = cp.get("cpdId").and_then(Value::as_str) {
                        p.ext_cpds.push((
                            format!("/extVirtualLinks/{i}/extCps/{j}/cpdId"),
                            id.to_string(),
                        ));
                    }
                }
            }
        }
        p.user_data = s("/additionalParams/lcm-operation-user-data");
        p.user_data_class = s("/additionalParams/lcm-operation-user-data-class");
        let present = |ptr: &str| v.pointer(ptr).is_some_and(|x| !x.is_null());
        p.k8s_present = present(K8S);
        p.script_path = s(&format!("{K8S}/script_path"));
        p.vim_name = s(&format!("{K8S}/vim_name"));
        p.helm_script_path = s(&format!("{K8S}/helm_installation_script_path"));
        p.master = load::part(v, &format!("{K8S}/master_node"));
        p.worker = load::part(v, &format!("{K8S}/worker_node"));
        p.proxy = load::part(v, &format!("{K8S}/proxy"));
        p.storage = load::part(v, &format!("{K8S}/storage_server"));
        p.storage_present = present(&format!("{K8S}/storage_server"));
        if let Some(items) = v
            .pointer(&format!("{K8S}/private_registry_connection_info"))
            .and_then(Value::as_array)
        {
            p.registries = items
                .iter()
                .enumerate()
                .filter_map(|(i, x)| PrivateRegistry::deserialize(x).ok().map(|r| (i, r)))
                .collect();
        }
        if let Some(items) = v
            .pointer(&format!("{K8S}/pv_registration_params"))
            .and_then(Value::as_array)
        {
            p.pvs_present = !items.is_empty();
            p.pvs = items
                .iter()
                .enumerate()
                .filter_map(|(i, x)| PvRegistration::deserialize(x).ok().map(|r| (i, r)))
                .collect();
        }
        p
    }
}

use serde::Deserialize;

/// A package and the VNFD built from it.
#[derive(Clone, Copy)]
pub struct PackageContext<'a> {
    /// The package's files.
    pub files: &'a dyn PackageFiles,
    /// Its VNFD.
    pub vnfd: &'a Vnfd,
}

/// Checks a typed request on its own (no package): formats, paths, CIDRs, credentials and
/// the rules between sections.
pub fn check_local(req: &InstantiateVnfRequest, src: &RequestSource, report: &mut Report) {
    check_parts(&Parts::from_request(req), src, None, report);
}

/// Checks a typed request against a package and its VNFD, including every
/// [`check_local`] check.
pub fn check(
    req: &InstantiateVnfRequest,
    src: &RequestSource,
    pkg: &dyn PackageFiles,
    vnfd: &Vnfd,
    report: &mut Report,
) {
    let ctx = PackageContext { files: pkg, vnfd };
    check_parts(&Parts::from_request(req), src, Some(ctx), report);
}

/// Loads, deserializes and checks a request in one go, reporting everything that can be
/// found (also in the valid sections of a request with structural errors). Returns the
/// typed request when it deserialized.
pub fn validate(
    src: &RequestSource,
    pkg: Option<PackageContext<'_>>,
    report: &mut Report,
) -> Option<InstantiateVnfRequest> {
    let Loaded { value, request } = load::load(src, report)?;
    let parts = match &request {
        Some(r) => Parts::from_request(r),
        None => Parts::from_value(&value),
    };
    check_parts(&parts, src, pkg, report);
    request
}

/// Runs every check over `parts`; package checks only with a context.
pub fn check_parts(
    parts: &Parts,
    src: &RequestSource,
    pkg: Option<PackageContext<'_>>,
    report: &mut Report,
) {
    let mut c = Checker { src, report };
    c.local(parts);
    if let Some(ctx) = pkg {
        c.package(parts, ctx);
    }
}

struct Checker<'a> {
    src: &'a RequestSource,
    report: &'a mut Report,
}

fn ptr(base: &str, key: &str) -> String {
    push_token(base, key)
}

impl Checker<'_> {
    fn loc(&self, pointer: &str) -> Location {
        self.src.location(pointer)
    }

    fn error(&mut self, code: crate::diag::Code, msg: String, pointer: &str) {
        let l = self.loc(pointer);
        self.report.error(code, msg, l);
    }

    fn warning(&mut self, code: crate::diag::Code, msg: String, pointer: &str) {
        let l = self.loc(pointer);
        self.report.warning(code, msg, l);
    }

    fn info(&mut self, code: crate::diag::Code, msg: String, pointer: &str) {
        let l = self.loc(pointer);
        self.report.info(code, msg, l);
    }

    // ---------------------------------------------------------------- local checks

    fn local(&mut self, p: &Parts) {
        match (&p.user_data, &p.user_data_class) {
            (Some(_), None) => self.error(
                codes::USER_DATA_INCOMPLETE,
                "`lcm-operation-user-data` is set without `lcm-operation-user-data-class`; give both or neither".into(),
                "/additionalParams/lcm-operation-user-data",
            ),
            (None, Some(_)) => self.error(
                codes::USER_DATA_INCOMPLETE,
                "`lcm-operation-user-data-class` is set without `lcm-operation-user-data`; give both or neither".into(),
                "/additionalParams/lcm-operation-user-data-class",
            ),
            _ => {}
        }
        if let Some(cls) = &p.user_data_class
            && !cls.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.error(
                codes::NAME_INVALID,
                "`lcm-operation-user-data-class` is not a Python class name".into(),
                "/additionalParams/lcm-operation-user-data-class",
            );
        }
        if let Some(ud) = &p.user_data {
            self.relative_path(ud, "/additionalParams/lcm-operation-user-data");
        }
        if !p.k8s_present {
            self.error(
                codes::MISSING_KEY,
                "missing required key `k8s_cluster_installation_param`: the Kubernetes driver has nothing to install".into(),
                K8S,
            );
            return;
        }
        if let Some(s) = &p.script_path {
            self.relative_path(s, &ptr(K8S, "script_path"));
        }
        if let Some(s) = &p.helm_script_path {
            self.relative_path(s, &ptr(K8S, "helm_installation_script_path"));
        }
        if let Some(v) = &p.vim_name {
            let pt = ptr(K8S, "vim_name");
            if v.is_empty() || v.len() > 255 || v.chars().any(char::is_control) {
                self.error(
                    codes::NAME_INVALID,
                    "`vim_name` must be 1-255 printable characters".into(),
                    &pt,
                );
            }
        }
        let m = ptr(K8S, "master_node");
        if let Some(master) = &p.master {
            self.node(
                &m,
                &master.username,
                master.password.as_deref(),
                master.ssh_private_key_path.as_deref(),
            );
            for (key, v) in [
                ("aspect_id", master.aspect_id.as_deref()),
                ("ssh_cp_name", Some(master.ssh_cp_name.as_str())),
                ("nic_cp_name", master.nic_cp_name.as_deref()),
                ("cluster_cp_name", Some(master.cluster_cp_name.as_str())),
                ("cluster_fip_name", master.cluster_fip_name.as_deref()),
            ] {
                if let Some(v) = v {
                    self.resource_name(v, &ptr(&m, key));
                }
            }
        }
        let w = ptr(K8S, "worker_node");
        if let Some(worker) = &p.worker {
            self.node(
                &w,
                &worker.username,
                worker.password.as_deref(),
                worker.ssh_private_key_path.as_deref(),
            );
            for (key, v) in [
                ("aspect_id", worker.aspect_id.as_deref()),
                ("ssh_cp_name", Some(worker.ssh_cp_name.as_str())),
                ("nic_cp_name", worker.nic_cp_name.as_deref()),
            ] {
                if let Some(v) = v {
                    self.resource_name(v, &ptr(&w, key));
                }
            }
        }
        self.cidrs(p);
        if let Some(proxy) = &p.proxy {
            self.proxy(proxy);
        }
        for (i, reg) in &p.registries {
            self.registry(*i, reg);
        }
        self.storage(p);
    }

    fn node(&mut self, base: &str, username: &str, password: Option<&str>, key: Option<&str>) {
        if !syntax::is_linux_username(username) {
            self.error(
                codes::USERNAME_INVALID,
                format!(
                    "user name `{}` does not match ^[a-z_][a-z0-9_-]{{0,31}}$",
                    shown(username)
                ),
                &ptr(base, "username"),
            );
        }
        if password == Some("") {
            self.error(
                codes::PASSWORD_EMPTY,
                "password is empty".into(),
                &ptr(base, "password"),
            );
        }
        if let Some(k) = key {
            let kp = ptr(base, "ssh_private_key_path");
            if k.starts_with('/') {
                if let Some(c) = syntax::unsafe_char(k) {
                    self.unsafe_char(c, &kp);
                } else if let Err(e) = syntax::check_absolute(k) {
                    self.error(
                        codes::PATH_INVALID,
                        format!("`ssh_private_key_path` {e}"),
                        &kp,
                    );
                }
            } else {
                self.relative_path(k, &kp);
            }
        }
        if password.is_none() && key.is_none() {
            self.error(
                codes::CREDENTIALS_MISSING,
                "neither `password` nor `ssh_private_key_path` is given; SSH login is impossible"
                    .into(),
                &ptr(base, "password"),
            );
        }
    }

    fn unsafe_char(&mut self, c: char, pointer: &str) {
        self.error(
            codes::UNSAFE_CHARS,
            format!(
                "contains {}; shell metacharacters, whitespace and control characters are not allowed here",
                syntax::describe_char(c)
            ),
            pointer,
        );
    }

    /// A package-relative path: safe characters and normalizable. Returns the normalized form.
    fn relative_path(&mut self, s: &str, pointer: &str) -> Option<String> {
        if let Some(c) = syntax::unsafe_char(s) {
            self.unsafe_char(c, pointer);
            return None;
        }
        match syntax::normalize_relative(s) {
            Ok(n) => Some(n),
            Err(e) => {
                self.error(codes::PATH_INVALID, format!("path `{s}` {e}"), pointer);
                None
            }
        }
    }

    fn resource_name(&mut self, s: &str, pointer: &str) -> bool {
        if let Some(c) = syntax::unsafe_char(s) {
            self.unsafe_char(c, pointer);
            return false;
        }
        if s.is_empty() {
            self.error(codes::NAME_INVALID, "name is empty".into(), pointer);
            return false;
        }
        true
    }

    fn cidrs(&mut self, p: &Parts) {
        let mut nets: Vec<(&'static str, Cidr, String, bool)> = Vec::new();
        let mut parse = |me: &mut Self,
                         label: &'static str,
                         text: Option<&str>,
                         default: Option<&str>,
                         pointer: String| {
            let (t, is_default) = match (text, default) {
                (Some(t), _) => (t, false),
                (None, Some(d)) => (d, true),
                (None, None) => return,
            };
            match syntax::parse_cidr(t) {
                Ok(c) => {
                    if c.had_host_bits {
                        me.warning(
                            codes::CIDR_HOST_BITS,
                            format!("{label} `{t}` has host bits set; using {}", c.net),
                            &pointer,
                        );
                    }
                    nets.push((label, c, pointer, is_default));
                }
                Err(e) => me.error(
                    codes::CIDR_INVALID,
                    format!("{label} `{}` {e}", shown(t)),
                    &pointer,
                ),
            }
        };
        let m = ptr(K8S, "master_node");
        if let Some(master) = &p.master {
            parse(
                self,
                "pod_cidr",
                master.pod_cidr.as_deref(),
                Some(DEFAULT_POD_CIDR),
                ptr(&m, "pod_cidr"),
            );
            parse(
                self,
                "cluster_cidr",
                master.cluster_cidr.as_deref(),
                Some(DEFAULT_SERVICE_CIDR),
                ptr(&m, "cluster_cidr"),
            );
        }
        if let Some(proxy) = &p.proxy {
            parse(
                self,
                "k8s_node_cidr",
                proxy.k8s_node_cidr.as_deref(),
                None,
                ptr(&ptr(K8S, "proxy"), "k8s_node_cidr"),
            );
        }
        for i in 0..nets.len() {
            for j in i + 1..nets.len() {
                let (la, a, pa, da) = &nets[i];
                let (lb, b, pb, db) = &nets[j];
                if syntax::overlaps(&a.net, &b.net) {
                    let d = |x: &bool| if *x { " (default)" } else { "" };
                    let at = if *db { pa.clone() } else { pb.clone() };
                    self.error(
                        codes::CIDR_OVERLAP,
                        format!(
                            "{la} {}{} overlaps {lb} {}{}; pod, service and node networks must be disjoint",
                            a.net,
                            d(da),
                            b.net,
                            d(db)
                        ),
                        &at,
                    );
                }
            }
        }
    }

    fn proxy(&mut self, proxy: &Proxy) {
        let base = ptr(K8S, "proxy");
        for (key, v) in [
            ("http_proxy", &proxy.http_proxy),
            ("https_proxy", &proxy.https_proxy),
        ] {
            if let Some(url) = v
                && let Err(e) = syntax::check_proxy_url(url)
            {
                // The URL may hold credentials: never shown.
                self.error(
                    codes::PROXY_URL_INVALID,
                    format!("`{key}` {e}"),
                    &ptr(&base, key),
                );
            }
        }
        if let Some(np) = &proxy.no_proxy {
            let pt = ptr(&base, "no_proxy");
            for entry in np.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                if let Err(e) = syntax::check_no_proxy_entry(entry) {
                    let code = if entry.contains('/') {
                        codes::CIDR_INVALID
                    } else {
                        codes::NO_PROXY_INVALID
                    };
                    self.error(
                        code,
                        format!("`no_proxy` entry `{}` {e}", shown(entry)),
                        &pt,
                    );
                }
            }
        }
    }

    fn registry(&mut self, i: usize, reg: &PrivateRegistry) {
        let base = ptr(
            &ptr(K8S, "private_registry_connection_info"),
            &i.to_string(),
        );
        let ct_ok = match &reg.connection_type {
            Value::Number(n) => n.as_u64().is_some_and(|x| x <= 1),
            Value::String(s) => s == "0" || s == "1",
            _ => false,
        };
        if !ct_ok {
            self.error(
                codes::CONNECTION_TYPE,
                "`connection_type` must be 0 (HTTP) or 1 (HTTPS), as a number or a string".into(),
                &ptr(&base, "connection_type"),
            );
        }
        if let Err(e) = syntax::check_host_port(&reg.server) {
            self.error(
                codes::SERVER_INVALID,
                format!("`server` `{}` {e}", shown(&reg.server)),
                &ptr(&base, "server"),
            );
        }
        if let Some(u) = &reg.username
            && (u.is_empty() || syntax::unsafe_char(u).is_some())
        {
            self.error(
                codes::USERNAME_INVALID,
                "registry `username` must be non-empty, without whitespace or shell metacharacters"
                    .into(),
                &ptr(&base, "username"),
            );
        }
        if reg.password.as_deref() == Some("") {
            self.error(
                codes::PASSWORD_EMPTY,
                "password is empty".into(),
                &ptr(&base, "password"),
            );
        }
        if let Some(c) = &reg.certificate_path {
            self.relative_path(c, &ptr(&base, "certificate_path"));
        }
        if let Some(h) = &reg.hosts_string
            && let Err(e) = syntax::check_hosts_line(h)
        {
            self.error(
                codes::HOSTS_STRING_INVALID,
                format!("`hosts_string` {e}"),
                &ptr(&base, "hosts_string"),
            );
        }
    }

    fn storage(&mut self, p: &Parts) {
        let pvp = ptr(K8S, "pv_registration_params");
        if p.pvs_present && !p.storage_present {
            self.error(
                codes::PV_WITHOUT_STORAGE,
                "`pv_registration_params` is given without `storage_server`; PersistentVolumes need the NFS storage server".into(),
                &pvp,
            );
        }
        if p.storage_present && !p.pvs_present {
            self.error(
                codes::STORAGE_INCOMPLETE,
                "`storage_server` is set but `pv_registration_params` is missing or empty".into(),
                &pvp,
            );
        }
        for (i, pv) in &p.pvs {
            let base = ptr(&pvp, &i.to_string());
            self.relative_path(
                &pv.pv_manifest_file_path,
                &ptr(&base, "pv_manifest_file_path"),
            );
            self.resource_name(&pv.nfs_server_cp, &ptr(&base, "nfs_server_cp"));
        }
        let Some(ss) = &p.storage else {
            return;
        };
        let base = ptr(K8S, "storage_server");
        self.node(
            &base,
            &ss.username,
            ss.password.as_deref(),
            ss.ssh_private_key_path.as_deref(),
        );
        self.resource_name(&ss.ssh_cp_name, &ptr(&base, "ssh_cp_name"));
        if let Some(n) = &ss.nic_cp_name {
            self.resource_name(n, &ptr(&base, "nic_cp_name"));
        }
        let cvp = ptr(&base, "cinder_volume_setup_params");
        let nsp = ptr(&base, "nfs_server_setup_params");
        if ss.cinder_volume_setup_params.is_empty() {
            self.error(
                codes::STORAGE_INCOMPLETE,
                "`cinder_volume_setup_params` is empty; the storage server needs a volume".into(),
                &cvp,
            );
        }
        if ss.nfs_server_setup_params.is_empty() {
            self.error(
                codes::STORAGE_INCOMPLETE,
                "`nfs_server_setup_params` is empty; nothing would be exported".into(),
                &nsp,
            );
        }
        let mut mounts: Vec<String> = Vec::new();
        let mut volumes: Vec<&str> = Vec::new();
        for (i, cv) in ss.cinder_volume_setup_params.iter().enumerate() {
            let b = ptr(&cvp, &i.to_string());
            if self.resource_name(&cv.volume_resource_id, &ptr(&b, "volume_resource_id")) {
                if volumes.contains(&cv.volume_resource_id.as_str()) {
                    self.error(
                        codes::STORAGE_DUPLICATE,
                        format!("volume `{}` is set up twice", cv.volume_resource_id),
                        &ptr(&b, "volume_resource_id"),
                    );
                }
                volumes.push(&cv.volume_resource_id);
            }
            let mp = ptr(&b, "mount_to");
            if let Some(c) = syntax::unsafe_char(&cv.mount_to) {
                self.unsafe_char(c, &mp);
                continue;
            }
            if let Err(e) = syntax::check_absolute(&cv.mount_to) {
                self.error(
                    codes::PATH_INVALID,
                    format!("`mount_to` `{}` {e}", cv.mount_to),
                    &mp,
                );
                continue;
            }
            if let Some(why) = bad_mount_point(&cv.mount_to) {
                self.error(
                    codes::MOUNT_POINT_INVALID,
                    format!("`mount_to` `{}` {why}", cv.mount_to),
                    &mp,
                );
                continue;
            }
            if mounts.iter().any(|m| {
                syntax::path_within(m, &cv.mount_to) || syntax::path_within(&cv.mount_to, m)
            }) {
                self.error(
                    codes::STORAGE_DUPLICATE,
                    format!(
                        "`mount_to` `{}` is or contains another volume's mount point",
                        cv.mount_to
                    ),
                    &mp,
                );
            }
            mounts.push(cv.mount_to.clone());
        }
        let mut exports: Vec<&str> = Vec::new();
        for (i, ex) in ss.nfs_server_setup_params.iter().enumerate() {
            let b = ptr(&nsp, &i.to_string());
            let dp = ptr(&b, "export_dir");
            if let Some(c) = syntax::unsafe_char(&ex.export_dir) {
                self.unsafe_char(c, &dp);
            } else if let Err(e) = syntax::check_absolute(&ex.export_dir) {
                self.error(
                    codes::PATH_INVALID,
                    format!("`export_dir` `{}` {e}", ex.export_dir),
                    &dp,
                );
            } else {
                if !mounts.is_empty()
                    && !mounts
                        .iter()
                        .any(|m| syntax::path_within(&ex.export_dir, m))
                {
                    self.error(
                        codes::EXPORT_OUTSIDE_MOUNT,
                        format!(
                            "`export_dir` `{}` is not under any `mount_to` ({}); it would export the root disk",
                            ex.export_dir,
                            mounts.join(", ")
                        ),
                        &dp,
                    );
                }
                if exports.contains(&ex.export_dir.as_str()) {
                    self.error(
                        codes::STORAGE_DUPLICATE,
                        format!("`export_dir` `{}` is exported twice", ex.export_dir),
                        &dp,
                    );
                }
                exports.push(&ex.export_dir);
            }
            let tp = ptr(&b, "export_to");
            if let Err(e) = syntax::check_export_to(&ex.export_to) {
                self.error(
                    codes::EXPORT_TO_INVALID,
                    format!("`export_to` `{}` {e}", shown(&ex.export_to)),
                    &tp,
                );
            }
        }
    }

    // ---------------------------------------------------------------- package checks

    fn package(&mut self, p: &Parts, ctx: PackageContext<'_>) {
        let files = ctx.files;
        if let Some(ud) = &p.user_data
            && let Ok(n) = syntax::normalize_relative(ud)
            && syntax::unsafe_char(ud).is_none()
            && !files.contains(&n)
        {
            self.warning(
                codes::USER_DATA_FILE_MISSING,
                format!("`{n}` is not in the package (only Tacker's HOT path uses it)"),
                "/additionalParams/lcm-operation-user-data",
            );
        }
        if let Some(s) = &p.script_path {
            self.package_file(files, s, &ptr(K8S, "script_path"));
        }
        if let Some(s) = &p.helm_script_path {
            self.package_file(files, s, &ptr(K8S, "helm_installation_script_path"));
        }
        for (i, reg) in &p.registries {
            if let Some(c) = &reg.certificate_path {
                let b = ptr(
                    &ptr(K8S, "private_registry_connection_info"),
                    &i.to_string(),
                );
                self.package_file(files, c, &ptr(&b, "certificate_path"));
            }
        }
        for (base, key) in [
            (
                ptr(K8S, "master_node"),
                p.master
                    .as_ref()
                    .and_then(|m| m.ssh_private_key_path.as_deref()),
            ),
            (
                ptr(K8S, "worker_node"),
                p.worker
                    .as_ref()
                    .and_then(|m| m.ssh_private_key_path.as_deref()),
            ),
            (
                ptr(K8S, "storage_server"),
                p.storage
                    .as_ref()
                    .and_then(|m| m.ssh_private_key_path.as_deref()),
            ),
        ] {
            if let Some(k) = key
                && !k.starts_with('/')
            {
                self.package_file(files, k, &ptr(&base, "ssh_private_key_path"));
            }
        }
        self.pv_manifests(p, files);

        let Some(fid) = &p.flavour_id else {
            return;
        };
        let Some(flavour) = ctx.vnfd.flavour(fid) else {
            let known: Vec<&str> = ctx.vnfd.flavours.keys().map(String::as_str).collect();
            self.error(
                codes::UNKNOWN_FLAVOUR,
                format!(
                    "flavour `{fid}` is not in the VNFD (flavours: {})",
                    list(&known)
                ),
                "/flavourId",
            );
            return;
        };
        let mut level_ok = true;
        if let Some(l) = &p.level
            && !flavour.instantiation_levels.contains_key(l)
        {
            level_ok = false;
            let known: Vec<&str> = flavour
                .instantiation_levels
                .keys()
                .map(String::as_str)
                .collect();
            self.error(
                codes::UNKNOWN_LEVEL,
                format!(
                    "instantiation level `{l}` is not defined in flavour `{fid}` (levels: {})",
                    list(&known)
                ),
                "/instantiationLevelId",
            );
        }
        let level = if level_ok {
            flavour.level(p.level.as_deref())
        } else {
            None
        };
        self.flavour_refs(p, flavour, level);
    }

    fn package_file(&mut self, files: &dyn PackageFiles, s: &str, pointer: &str) {
        if syntax::unsafe_char(s).is_some() {
            return;
        }
        if let Ok(n) = syntax::normalize_relative(s)
            && !files.contains(&n)
        {
            self.error(
                codes::FILE_MISSING,
                format!("`{n}` is not in the package"),
                pointer,
            );
        }
    }

    fn pv_manifests(&mut self, p: &Parts, files: &dyn PackageFiles) {
        let pvp = ptr(K8S, "pv_registration_params");
        let exports: Vec<&str> = p
            .storage
            .as_ref()
            .map(|s| {
                s.nfs_server_setup_params
                    .iter()
                    .map(|e| e.export_dir.as_str())
                    .collect()
            })
            .unwrap_or_default();
        let mut names: Vec<String> = Vec::new();
        for (i, pv) in &p.pvs {
            let rp = ptr(&ptr(&pvp, &i.to_string()), "pv_manifest_file_path");
            if syntax::unsafe_char(&pv.pv_manifest_file_path).is_some() {
                continue;
            }
            let Ok(rel) = syntax::normalize_relative(&pv.pv_manifest_file_path) else {
                continue;
            };
            let Some(text) = files.read_text(&rel) else {
                let msg = if files.contains(&rel) {
                    format!("PV manifest `{rel}` is not UTF-8 text")
                } else {
                    format!("PV manifest `{rel}` is not in the package")
                };
                self.error(codes::FILE_MISSING, msg, &rp);
                continue;
            };
            match parse_pv(&text) {
                Err(problems) => {
                    for (yptr, why, line_col) in problems {
                        let mut loc = Location::file(rel.clone());
                        if let Some((l, c)) = line_col {
                            loc.line = Some(l);
                            loc.column = Some(c);
                        }
                        if !yptr.is_empty() {
                            loc = loc.with_pointer(yptr);
                        }
                        self.report.error(
                            codes::PV_MANIFEST_INVALID,
                            format!("{why} (PV manifest named at {rp})"),
                            loc,
                        );
                    }
                }
                Ok(pvm) => {
                    if names.contains(&pvm.name) {
                        self.error(
                            codes::PV_DUPLICATE_NAME,
                            format!("PersistentVolume `{}` is registered twice", pvm.name),
                            &rp,
                        );
                    }
                    names.push(pvm.name.clone());
                    if !exports.is_empty()
                        && !exports
                            .iter()
                            .any(|e| syntax::path_within(&pvm.nfs_path, e))
                    {
                        self.report.error(
                            codes::PV_PATH_NOT_EXPORTED,
                            format!(
                                "`spec.nfs.path` `{}` of PersistentVolume `{}` is not under any `export_dir` ({}); the mount would fail (PV manifest named at {rp})",
                                pvm.nfs_path,
                                pvm.name,
                                exports.join(", ")
                            ),
                            Location::file(rel.clone()).with_pointer("/spec/nfs/path"),
                        );
                    }
                }
            }
        }
    }

    fn flavour_refs(
        &mut self,
        p: &Parts,
        f: &Flavour,
        level: Option<&crate::vnfd::InstantiationLevel>,
    ) {
        let fid = f.id.as_str();
        // CP names.
        let cp_vdu = |name: &str| f.cps.get(name).map(|c| c.vdu.clone());
        let mut cp_refs: Vec<(String, &str)> = Vec::new();
        let m = ptr(K8S, "master_node");
        let w = ptr(K8S, "worker_node");
        let s = ptr(K8S, "storage_server");
        let mut master_vdu = None;
        let mut worker_vdu = None;
        let mut storage_vdu = None;
        if let Some(master) = &p.master {
            cp_refs.push((ptr(&m, "ssh_cp_name"), &master.ssh_cp_name));
            if let Some(n) = &master.nic_cp_name {
                cp_refs.push((ptr(&m, "nic_cp_name"), n));
            }
            master_vdu = master
                .nic_cp_name
                .as_deref()
                .and_then(cp_vdu)
                .or_else(|| cp_vdu(&master.ssh_cp_name));
        }
        if let Some(worker) = &p.worker {
            cp_refs.push((ptr(&w, "ssh_cp_name"), &worker.ssh_cp_name));
            if let Some(n) = &worker.nic_cp_name {
                cp_refs.push((ptr(&w, "nic_cp_name"), n));
            }
            worker_vdu = worker
                .nic_cp_name
                .as_deref()
                .and_then(cp_vdu)
                .or_else(|| cp_vdu(&worker.ssh_cp_name));
        }
        if let Some(ss) = &p.storage {
            cp_refs.push((ptr(&s, "ssh_cp_name"), &ss.ssh_cp_name));
            if let Some(n) = &ss.nic_cp_name {
                cp_refs.push((ptr(&s, "nic_cp_name"), n));
            }
            storage_vdu = ss
                .nic_cp_name
                .as_deref()
                .and_then(cp_vdu)
                .or_else(|| cp_vdu(&ss.ssh_cp_name));
        }
        for (i, pv) in &p.pvs {
            cp_refs.push((
                ptr(
                    &ptr(&ptr(K8S, "pv_registration_params"), &i.to_string()),
                    "nfs_server_cp",
                ),
                &pv.nfs_server_cp,
            ));
        }
        let known_cps: Vec<&str> = f.cps.keys().map(String::as_str).collect();
        for (pt, name) in &cp_refs {
            if syntax::unsafe_char(name).is_none() && !name.is_empty() && !f.cps.contains_key(*name)
            {
                self.error(
                    codes::UNKNOWN_CP,
                    format!(
                        "`{name}` is not a CP of flavour `{fid}` (CPs: {})",
                        list(&known_cps)
                    ),
                    pt,
                );
            }
        }
        // The master aspect decides the VDU when no CP did.
        if let Some(master) = &p.master {
            if master_vdu.is_none()
                && let Some(a) = master.aspect_id.as_deref().and_then(|a| f.aspects.get(a))
            {
                master_vdu = a.vdus().next().map(str::to_string);
            }
            let masters = master_vdu
                .as_deref()
                .map(|v| f.instances_at_level(v, level))
                .unwrap_or(1);
            let cp = &master.cluster_cp_name;
            let cpp = ptr(&m, "cluster_cp_name");
            if syntax::unsafe_char(cp).is_none() && !cp.is_empty() && !f.cps.contains_key(cp) {
                if masters > 1 && syntax::is_resource_name(cp) {
                    self.info(
                        codes::CP_HOT_ONLY,
                        format!(
                            "`{cp}` is not a CP of flavour `{fid}`; with {masters} masters it is taken as a HOT-only port (e.g. the VIP) and must exist in the flavour's HOT"
                        ),
                        &cpp,
                    );
                } else {
                    self.error(
                        codes::UNKNOWN_CP,
                        format!(
                            "`{cp}` is not a CP of flavour `{fid}` (CPs: {}); a HOT-only VIP port is only possible with more than one master",
                            list(&known_cps)
                        ),
                        &cpp,
                    );
                }
            }
            self.aspect(
                f,
                master.aspect_id.as_deref(),
                master_vdu.as_deref(),
                &ptr(&m, "aspect_id"),
            );
        }
        if let Some(worker) = &p.worker {
            self.aspect(
                f,
                worker.aspect_id.as_deref(),
                worker_vdu.as_deref(),
                &ptr(&w, "aspect_id"),
            );
        }
        // Volumes.
        if let Some(ss) = &p.storage {
            let cvp = ptr(&s, "cinder_volume_setup_params");
            let known: Vec<&str> = f.volumes.keys().map(String::as_str).collect();
            for (i, cv) in ss.cinder_volume_setup_params.iter().enumerate() {
                let vp = ptr(&ptr(&cvp, &i.to_string()), "volume_resource_id");
                let id = &cv.volume_resource_id;
                if syntax::unsafe_char(id).is_some() || id.is_empty() {
                    continue;
                }
                if !f.volumes.contains_key(id) {
                    self.error(
                        codes::UNKNOWN_VOLUME,
                        format!(
                            "`{id}` is not a VirtualBlockStorage of flavour `{fid}` (volumes: {})",
                            list(&known)
                        ),
                        &vp,
                    );
                } else if let Some(vdu) = &storage_vdu
                    && let Some(v) = f.vdus.get(vdu)
                    && !v.virtual_storages.iter().any(|x| x == id)
                {
                    self.error(
                        codes::VOLUME_NOT_ATTACHED,
                        format!("volume `{id}` is not attached to the storage server VDU `{vdu}`"),
                        &vp,
                    );
                }
            }
        }
        // External CPs.
        let mut seen: Vec<&str> = Vec::new();
        for (pt, cpd) in &p.ext_cpds {
            if !f.cps.contains_key(cpd) {
                self.error(
                    codes::EXT_CP_UNKNOWN,
                    format!(
                        "`{cpd}` is not a CP of flavour `{fid}` (CPs: {})",
                        list(&known_cps)
                    ),
                    pt,
                );
            }
            seen.push(cpd);
        }
        for cp in f.cps.keys() {
            if !seen.contains(&cp.as_str()) {
                self.error(
                    codes::EXT_CP_MISSING,
                    format!(
                        "CP `{cp}` of flavour `{fid}` has no entry in `extVirtualLinks[].extCps`; its network would be unknown"
                    ),
                    "/extVirtualLinks",
                );
            }
        }
    }

    fn aspect(&mut self, f: &Flavour, aspect: Option<&str>, vdu: Option<&str>, pointer: &str) {
        let Some(a) = aspect else {
            return;
        };
        if syntax::unsafe_char(a).is_some() || a.is_empty() {
            return;
        }
        match f.aspects.get(a) {
            None => {
                let known: Vec<&str> = f.aspects.keys().map(String::as_str).collect();
                self.error(
                    codes::UNKNOWN_ASPECT,
                    format!(
                        "`{a}` is not a scaling aspect of flavour `{}` (aspects: {})",
                        f.id,
                        list(&known)
                    ),
                    pointer,
                );
            }
            Some(asp) => {
                if let Some(v) = vdu
                    && !asp.vdu_deltas.contains_key(v)
                {
                    let scales: Vec<&str> = asp.vdus().collect();
                    self.error(
                        codes::ASPECT_WRONG_VDU,
                        format!(
                            "aspect `{a}` scales {} , not the node's VDU `{v}`",
                            list(&scales)
                        ),
                        pointer,
                    );
                }
            }
        }
    }
}

/// Why a mount point is unacceptable, if it is.
fn bad_mount_point(m: &str) -> Option<&'static str> {
    const SYSTEM: &[&str] = &[
        "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/proc", "/run", "/sbin",
        "/sys", "/usr", "/var", "/tmp", "/root", "/home",
    ];
    const NEVER_BELOW: &[&str] = &["/boot", "/dev", "/etc", "/proc", "/run", "/sys", "/usr"];
    if m == "/" {
        return Some("is the root directory");
    }
    if SYSTEM.contains(&m) {
        return Some("is a system directory");
    }
    if NEVER_BELOW.iter().any(|d| syntax::path_within(m, d)) {
        return Some("lies inside a system directory");
    }
    None
}

fn list(v: &[&str]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// A value as shown in a message: control characters replaced, at most 100 characters.
fn shown(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(100)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > 100 {
        out.push('…');
    }
    out
}

/// What the request checks need from a PV manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvManifest {
    /// `metadata.name`.
    pub name: String,
    /// `spec.nfs.server` (a placeholder the driver replaces).
    pub nfs_server: String,
    /// `spec.nfs.path`.
    pub nfs_path: String,
}

type PvProblem = (String, String, Option<(u32, u32)>);

/// Parses a PersistentVolume manifest (YAML 1.2) and checks the fields the driver uses.
/// Errors are `(YAML path, reason, line/column)`.
pub fn parse_pv(text: &str) -> Result<PvManifest, Vec<PvProblem>> {
    let opts = serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
    };
    let v: Value = match serde_saphyr::from_str_with_options(text, opts) {
        Ok(v) => v,
        Err(e) => {
            let lc = e.location().map(|l| {
                (
                    u32::try_from(l.line()).unwrap_or(u32::MAX),
                    u32::try_from(l.column()).unwrap_or(u32::MAX),
                )
            });
            let msg = e.to_string();
            let first = msg.lines().next().unwrap_or("").to_string();
            return Err(vec![(
                String::new(),
                format!("not valid YAML: {first}"),
                lc,
            )]);
        }
    };
    let mut problems: Vec<PvProblem> = Vec::new();
    if !v.is_object() {
        return Err(vec![(
            String::new(),
            "not a YAML mapping (expected a PersistentVolume)".into(),
            None,
        )]);
    }
    let s = |p: &str| v.pointer(p).and_then(Value::as_str);
    match s("/kind") {
        Some("PersistentVolume") => {}
        Some(k) => problems.push((
            "/kind".into(),
            format!("`kind` is `{}`, expected `PersistentVolume`", shown(k)),
            None,
        )),
        None => problems.push((
            "/kind".into(),
            "`kind: PersistentVolume` is missing".into(),
            None,
        )),
    }
    match s("/apiVersion") {
        Some("v1") => {}
        Some(k) => problems.push((
            "/apiVersion".into(),
            format!("`apiVersion` is `{}`, expected `v1`", shown(k)),
            None,
        )),
        None => problems.push((
            "/apiVersion".into(),
            "`apiVersion: v1` is missing".into(),
            None,
        )),
    }
    let name = s("/metadata/name").unwrap_or("");
    if name.is_empty() {
        problems.push((
            "/metadata/name".into(),
            "`metadata.name` is missing".into(),
            None,
        ));
    } else if !is_dns_subdomain(name) {
        problems.push((
            "/metadata/name".into(),
            format!(
                "`metadata.name` `{}` is not a DNS-1123 subdomain",
                shown(name)
            ),
            None,
        ));
    }
    let server = s("/spec/nfs/server").unwrap_or("");
    if server.is_empty() {
        problems.push((
            "/spec/nfs/server".into(),
            "`spec.nfs.server` is missing".into(),
            None,
        ));
    }
    let path = s("/spec/nfs/path").unwrap_or("");
    if path.is_empty() {
        problems.push((
            "/spec/nfs/path".into(),
            "`spec.nfs.path` is missing".into(),
            None,
        ));
    } else if let Some(c) = syntax::unsafe_char(path) {
        problems.push((
            "/spec/nfs/path".into(),
            format!("`spec.nfs.path` contains {}", syntax::describe_char(c)),
            None,
        ));
    } else if let Err(e) = syntax::check_absolute(path) {
        problems.push((
            "/spec/nfs/path".into(),
            format!("`spec.nfs.path` `{path}` {e}"),
            None,
        ));
    }
    if problems.is_empty() {
        Ok(PvManifest {
            name: name.to_string(),
            nfs_server: server.to_string(),
            nfs_path: path.to_string(),
        })
    } else {
        Err(problems)
    }
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}
