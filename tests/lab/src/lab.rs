//! A running lab: bridge, hosts, volumes, and the reaper that guarantees teardown.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::spec::{HostSpec, LabSpec, VolumeSpec};
use crate::state::{self, Host, HostKeys, LabInfo, Volume};
use crate::sys;

/// Directory first in PATH on every host (root, the login user, non-interactive ssh, sudo).
pub const HOST_BIN_DIR: &str = "/opt/vnf-lab/bin";
/// PATH inside hosts.
pub const HOST_PATH: &str =
    "/opt/vnf-lab/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const ROOT_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";
const UP_TIMEOUT: Duration = Duration::from_secs(120);

/// How an SSH helper logs in.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// The lab user's password (via `SSH_ASKPASS`).
    Password,
    /// A private key file.
    Key(&'a Path),
}

/// A running lab. Dropping it tears everything down; so does the death of the owning
/// process in any way (the reaper sees its pipe close).
pub struct Lab {
    id: String,
    dir: PathBuf,
    bridge: String,
    link_prefix: String,
    subnet_base: Ipv4Addr,
    gateway: Ipv4Addr,
    user: String,
    password: String,
    inner: Mutex<Inner>,
    reaper: Mutex<Option<(Child, Option<ChildStdin>)>>,
}

#[derive(Default)]
struct Inner {
    hosts: BTreeMap<String, HostState>,
    order: Vec<String>,
    volumes: BTreeMap<String, VolState>,
    reserved: BTreeSet<Ipv4Addr>,
    lab_shims: Vec<PathBuf>,
    authorized_keys: Vec<String>,
    next_link: u32,
    down: bool,
}

struct HostState {
    info: Host,
    child: Option<Child>,
    pid1: u32,
    devices: BTreeMap<String, String>,
    shims: Vec<PathBuf>,
}

struct VolState {
    spec: VolumeSpec,
    image: PathBuf,
    loop_dev: String,
    dev_num: (u32, u32),
    attachment: Option<(String, String)>,
}

impl Lab {
    /// Brings a lab up: every host answering SSH when this returns.
    pub fn up(spec: LabSpec) -> Result<Lab> {
        spec.validate()?;
        preflight()?;
        state::sweep_stale()?;
        let lab = Lab::create(&spec)?;
        lab.start_hosts(spec.hosts)?;
        Ok(lab)
    }

    fn create(spec: &LabSpec) -> Result<Lab> {
        std::fs::create_dir_all(state::SUBNETS).map_err(Error::io("create /run/vnf-lab"))?;
        let (id, dir) = loop {
            let id = sys::random_hex(3)?;
            let dir = state::state_dir(&id);
            match std::fs::create_dir(&dir) {
                Ok(()) => break (id, dir),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io(format!("create {}", dir.display()))(e)),
            }
        };
        let password = match &spec.password {
            Some(p) => p.clone(),
            None => sys::random_hex(8)?,
        };
        let mut lab = Lab {
            bridge: format!("vlb{id}"),
            link_prefix: format!("vl{id}-"),
            subnet_base: Ipv4Addr::UNSPECIFIED,
            gateway: Ipv4Addr::UNSPECIFIED,
            user: spec.user().to_string(),
            password,
            id,
            dir,
            inner: Mutex::new(Inner {
                lab_shims: spec.shim_dirs.clone(),
                authorized_keys: spec.authorized_keys.clone(),
                ..Default::default()
            }),
            reaper: Mutex::new(None),
        };
        // From here on, dropping `lab` tears down whatever exists.
        lab.init_state()?;
        Ok(lab)
    }

    fn init_state(&mut self) -> Result<()> {
        let d = &self.dir;
        sys::write_file(
            &d.join("owner"),
            sys::pid_record(std::process::id()).as_bytes(),
            0o644,
        )?;
        for sub in ["bin", "hosts", "volumes"] {
            std::fs::create_dir(d.join(sub)).map_err(Error::io("create state dir"))?;
        }
        for (name, text) in [
            ("teardown.sh", state::TEARDOWN_SH),
            ("reaper.sh", state::REAPER_SH),
            ("host-init.sh", state::HOST_INIT_SH),
            ("askpass.sh", state::ASKPASS_SH),
        ] {
            sys::write_file(&d.join("bin").join(name), text.as_bytes(), 0o755)?;
        }
        self.spawn_reaper()?;
        sys::write_file(&d.join("link-prefix"), self.link_prefix.as_bytes(), 0o644)?;
        sys::write_file(&d.join("bridge"), self.bridge.as_bytes(), 0o644)?;
        let n = self.claim_subnet()?;
        self.subnet_base = n;
        let o = n.octets();
        self.gateway = Ipv4Addr::new(o[0], o[1], o[2], 1);
        self.lock().reserved.insert(self.gateway);
        let cidr = format!("{}/24", self.gateway);
        sys::run(
            "create lab bridge",
            Command::new("ip").args(["link", "add", &self.bridge, "type", "bridge"]),
        )?;
        // No IPv6 on the bridge: the root namespace says nothing on the lab link.
        let _ = std::fs::write(
            format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", self.bridge),
            "1",
        );
        sys::run(
            "address lab bridge",
            Command::new("ip").args(["addr", "add", &cidr, "dev", &self.bridge]),
        )?;
        sys::run(
            "bring up lab bridge",
            Command::new("ip").args(["link", "set", &self.bridge, "up"]),
        )?;
        let creds = serde_json::json!({"user": self.user, "password": self.password});
        sys::write_file(
            &d.join("credentials.json"),
            serde_json::to_string_pretty(&creds)
                .unwrap_or_default()
                .as_bytes(),
            0o600,
        )?;
        self.save()?;
        Ok(())
    }

    fn spawn_reaper(&self) -> Result<()> {
        let log = std::fs::File::create(self.dir.join("reaper.log"))
            .map_err(Error::io("create reaper log"))?;
        let log2 = log.try_clone().map_err(Error::io("dup reaper log"))?;
        let mut child = Command::new("bash")
            .arg(self.dir.join("bin/reaper.sh"))
            .arg(&self.dir)
            .env_clear()
            .env("PATH", ROOT_PATH)
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(log2)
            .process_group(0)
            .spawn()
            .map_err(Error::io("spawn reaper"))?;
        sys::write_file(
            &self.dir.join("reaper"),
            sys::pid_record(child.id()).as_bytes(),
            0o644,
        )?;
        let stdin = child.stdin.take();
        *self.reaper.lock().unwrap_or_else(|e| e.into_inner()) = Some((child, stdin));
        Ok(())
    }

    /// Claims 198.18.N.0/24 (then 198.19.N.0/24) not used by any other lab or route here.
    fn claim_subnet(&self) -> Result<Ipv4Addr> {
        let used = {
            let a = sys::run(
                "list addresses",
                Command::new("ip").args(["-4", "-o", "addr"]),
            )?;
            let r = sys::run(
                "list routes",
                Command::new("ip").args(["-4", "route", "show", "table", "all"]),
            )?;
            format!(
                "{}\n{}",
                String::from_utf8_lossy(&a.stdout),
                String::from_utf8_lossy(&r.stdout)
            )
        };
        let start = u32::from_str_radix(&self.id[..4], 16).unwrap_or(0) % 512;
        for k in 0..512u32 {
            let n = (start + k) % 512;
            let (b, c) = (18 + (n / 256) as u8, (n % 256) as u8);
            let prefix = format!("198.{b}.{c}.");
            if used.contains(&prefix) {
                continue;
            }
            let claim = Path::new(state::SUBNETS).join(format!("198.{b}.{c}"));
            if std::os::unix::fs::symlink(&self.id, &claim).is_ok() {
                sys::write_file(
                    &self.dir.join("claim"),
                    claim.to_string_lossy().as_bytes(),
                    0o644,
                )?;
                return Ok(Ipv4Addr::new(198, b, c, 0));
            }
        }
        Err(Error::Environment("no free 198.18.0.0/15 subnet".into()))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    // ---------------------------------------------------------------- accessors

    /// Lab id (unique on this machine while the lab runs).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// State directory (`/run/vnf-lab/<id>`).
    pub fn state_dir(&self) -> &Path {
        &self.dir
    }

    /// Bridge name in the root namespace.
    pub fn bridge(&self) -> &str {
        &self.bridge
    }

    /// Subnet base address and prefix length (`198.18.N.0`, 24).
    pub fn subnet(&self) -> (Ipv4Addr, u8) {
        (self.subnet_base, 24)
    }

    /// The bridge's own address in the root namespace.
    pub fn gateway(&self) -> Ipv4Addr {
        self.gateway
    }

    /// Login user.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Login password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// known_hosts file listing every host's keys.
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }

    /// One host (a snapshot).
    pub fn host(&self, name: &str) -> Result<Host> {
        self.lock()
            .hosts
            .get(name)
            .map(|h| h.info.clone())
            .ok_or_else(|| Error::NotFound(format!("no host {name:?} in lab {}", self.id)))
    }

    /// All hosts in creation order.
    pub fn hosts(&self) -> Vec<Host> {
        let inner = self.lock();
        inner
            .order
            .iter()
            .filter_map(|n| inner.hosts.get(n).map(|h| h.info.clone()))
            .collect()
    }

    /// The host with this address, if any.
    pub fn host_by_ip(&self, ip: Ipv4Addr) -> Option<Host> {
        self.lock()
            .hosts
            .values()
            .find(|h| h.info.ip == ip)
            .map(|h| h.info.clone())
    }

    /// Reserves a free address on the lab subnet (e.g. for a VIP or an emulated port).
    pub fn reserve_ip(&self) -> Result<Ipv4Addr> {
        let mut inner = self.lock();
        let ip = self.next_free_ip(&inner)?;
        inner.reserved.insert(ip);
        Ok(ip)
    }

    /// Outer PID of a host's PID 1 (sshd): for `nsenter -t`, memory accounting.
    pub fn host_pid(&self, name: &str) -> Result<u32> {
        let inner = self.lock();
        let h = self.live(&inner, name)?;
        Ok(h.pid1)
    }

    /// Memory used by a host: PSS of its processes plus its tmpfs root upper layer.
    pub fn host_memory_bytes(&self, name: &str) -> Result<u64> {
        let pid = self.host_pid(name)?;
        let pss: u64 = sys::pids_in_pid_ns_of(pid)
            .into_iter()
            .map(sys::pss_bytes)
            .sum();
        let out = self.exec(
            name,
            &["df", "-B1", "--output=used", "/", "/run", "/tmp", "/dev"],
        )?;
        let tmpfs: u64 = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse::<u64>().ok())
            .sum();
        Ok(pss + tmpfs)
    }

    /// Everything about the lab, as printed by `vnf-lab status`.
    pub fn info(&self) -> LabInfo {
        let inner = self.lock();
        LabInfo {
            format_version: state::FORMAT_VERSION,
            id: self.id.clone(),
            state_dir: self.dir.clone(),
            bridge: self.bridge.clone(),
            subnet: format!("{}/24", self.subnet_base),
            gateway: self.gateway,
            credentials_file: self.dir.join("credentials.json"),
            known_hosts: self.known_hosts(),
            hosts: inner
                .order
                .iter()
                .filter_map(|n| inner.hosts.get(n).map(|h| h.info.clone()))
                .collect(),
            volumes: inner
                .volumes
                .values()
                .map(|v| Volume {
                    id: v.spec.id.clone(),
                    size: v.spec.size_bytes().unwrap_or(0),
                    image: v.image.clone(),
                    loop_device: v.loop_dev.clone(),
                    attachment: v.attachment.clone(),
                    by_id: format!("/dev/disk/by-id/{}", v.spec.by_id_name()),
                })
                .collect(),
        }
    }

    /// Records a kubeconfig path for a host (filled by the Kubernetes emulator).
    pub fn set_kubeconfig(&self, host: &str, path: &Path) -> Result<()> {
        {
            let mut inner = self.lock();
            let h = inner
                .hosts
                .get_mut(host)
                .ok_or_else(|| Error::NotFound(format!("no host {host:?}")))?;
            h.info.kubeconfig = Some(path.to_path_buf());
        }
        self.save()
    }

    fn save(&self) -> Result<()> {
        let info = self.info();
        let json = serde_json::to_string_pretty(&info)
            .map_err(|e| Error::Environment(format!("serialise lab.json: {e}")))?;
        let tmp = self.dir.join("lab.json.tmp");
        sys::write_file(&tmp, json.as_bytes(), 0o600)?;
        std::fs::rename(&tmp, self.dir.join("lab.json")).map_err(Error::io("write lab.json"))?;
        let mut kh = String::new();
        for h in info.hosts.iter().filter(|h| h.alive) {
            for k in [&h.host_keys.ed25519, &h.host_keys.ecdsa] {
                let mut parts = k.split_whitespace();
                if let (Some(t), Some(b)) = (parts.next(), parts.next()) {
                    kh.push_str(&format!("{} {t} {b}\n", h.ip));
                }
            }
        }
        sys::write_file(&self.known_hosts(), kh.as_bytes(), 0o644)
    }

    fn live<'a>(&self, inner: &'a Inner, name: &str) -> Result<&'a HostState> {
        let h = inner
            .hosts
            .get(name)
            .ok_or_else(|| Error::NotFound(format!("no host {name:?} in lab {}", self.id)))?;
        if !h.info.alive {
            return Err(Error::Conflict(format!("host {name} is not running")));
        }
        Ok(h)
    }

    fn next_free_ip(&self, inner: &Inner) -> Result<Ipv4Addr> {
        let o = self.subnet_base.octets();
        (10..=250u8)
            .map(|d| Ipv4Addr::new(o[0], o[1], o[2], d))
            .find(|ip| !inner.reserved.contains(ip))
            .ok_or_else(|| Error::Environment("lab subnet is full".into()))
    }

    // ---------------------------------------------------------------- hosts

    /// Adds and starts one host on the running lab.
    pub fn add_host(&self, spec: HostSpec) -> Result<Host> {
        spec.validate()?;
        let name = spec.name.clone();
        self.start_hosts(vec![spec])?;
        self.host(&name)
    }

    fn start_hosts(&self, specs: Vec<HostSpec>) -> Result<()> {
        // Plan: names, addresses, volumes; all checked before anything starts.
        let mut planned = Vec::new();
        {
            let mut inner = self.lock();
            if inner.down {
                return Err(Error::Conflict("lab is torn down".into()));
            }
            for s in &specs {
                if inner.hosts.contains_key(&s.name) {
                    return Err(Error::Conflict(format!("host {} already exists", s.name)));
                }
                for v in &s.volumes {
                    if inner.volumes.contains_key(&v.id) {
                        return Err(Error::Conflict(format!("volume {} already exists", v.id)));
                    }
                }
            }
            for s in specs {
                let ip = match s.ip {
                    Some(ip) => {
                        let o = ip.octets();
                        let b = self.subnet_base.octets();
                        if o[..3] != b[..3] || o[3] == 0 || o[3] == 255 {
                            return Err(Error::Spec(format!(
                                "host {} ip {ip} is not a host address in {}/24",
                                s.name, self.subnet_base
                            )));
                        }
                        if inner.reserved.contains(&ip)
                            && inner.hosts.values().any(|h| h.info.ip == ip)
                        {
                            return Err(Error::Conflict(format!("ip {ip} is already in use")));
                        }
                        ip
                    }
                    None => self.next_free_ip(&inner)?,
                };
                inner.reserved.insert(ip);
                inner.next_link += 1;
                let link = format!("{}{}", self.link_prefix, inner.next_link);
                planned.push((s, ip, link));
            }
        }

        // Volumes first: a host boots with its disks.
        for (s, _, _) in &planned {
            for v in &s.volumes {
                self.create_volume(v)?;
            }
        }

        // Spawn every host, then wire all veths in one `ip -batch`.
        let mut batch = String::new();
        let mut started = Vec::new();
        let links: Vec<String> = planned.iter().map(|(_, _, l)| l.clone()).collect();
        for (s, ip, link) in planned {
            let (child, hdir) = self.spawn_host(&s, ip)?;
            // The MAC follows the IP, so a host re-created on an address (heal, an
            // emulated port) is not hidden behind stale ARP entries of its peers.
            let o = ip.octets();
            let mac = format!("02:4c:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3]);
            batch.push_str(&format!(
                "link add {link} type veth peer name eth0 address {mac} netns {{pid1:{}}}\nlink set {link} master {} up\n",
                s.name, self.bridge
            ));
            let mut devices = BTreeMap::new();
            for v in &s.volumes {
                let dev = format!("vd{}", (b'b' + devices.len() as u8) as char);
                devices.insert(dev, v.id.clone());
            }
            started.push((s, ip, Some(child), hdir, devices));
        }
        // The peer must land in the host's own network namespace, never ours: wait
        // until each host's PID 1 runs (after unshare) and check its namespace.
        for (s, _, child, hdir, _) in started.iter_mut() {
            let pid1 = wait_pid1(&s.name, hdir, child)?;
            batch = batch.replace(&format!("{{pid1:{}}}", s.name), &pid1.to_string());
        }
        let mut ipcmd = Command::new("ip");
        ipcmd
            .args(["-batch", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped());
        let mut ipc = ipcmd.spawn().map_err(Error::io("spawn ip -batch"))?;
        if let Some(mut si) = ipc.stdin.take() {
            si.write_all(batch.as_bytes())
                .map_err(Error::io("write ip -batch"))?;
        }
        let out = ipc
            .wait_with_output()
            .map_err(Error::io("wait ip -batch"))?;
        let wired = sys::check("wire host links", &ipcmd, out);
        // The root side of each link stays silent on the lab link (no IPv6 autoconf).
        for link in &links {
            let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{link}/disable_ipv6"), "1");
        }

        // Register now so that teardown and errors below see every child.
        {
            let mut inner = self.lock();
            for (s, ip, child, _hdir, devices) in started.iter_mut() {
                let name = s.name.clone();
                for (dev, vid) in devices.iter() {
                    if let Some(v) = inner.volumes.get_mut(vid) {
                        v.attachment = Some((name.clone(), format!("/dev/{dev}")));
                    }
                }
                inner.order.push(name.clone());
                inner.hosts.insert(
                    name.clone(),
                    HostState {
                        info: Host {
                            name,
                            ip: *ip,
                            user: self.user.clone(),
                            password: self.password.clone(),
                            ssh_port: 22,
                            host_keys: HostKeys::default(),
                            alive: true,
                            kubeconfig: None,
                        },
                        child: child.take(),
                        pid1: 0,
                        devices: std::mem::take(devices),
                        shims: s.shim_dirs.clone(),
                    },
                );
            }
        }
        wired?;
        self.wait_ready(
            &started
                .iter()
                .map(|(s, ip, _, hdir, _)| (s.name.clone(), *ip, hdir.clone()))
                .collect::<Vec<_>>(),
        )?;
        self.save()
    }

    /// Prepares the host dir and spawns `unshare … host-init.sh`.
    fn spawn_host(&self, s: &HostSpec, ip: Ipv4Addr) -> Result<(Child, PathBuf)> {
        let hdir = self.dir.join("hosts").join(&s.name);
        if hdir.exists() {
            std::fs::remove_dir_all(&hdir).map_err(Error::io("clear old host dir"))?;
        }
        let bin = hdir.join("bin");
        std::fs::create_dir_all(&bin).map_err(Error::io("create host dir"))?;
        sys::write_file(&hdir.join("password"), self.password.as_bytes(), 0o600)?;
        let (keys, lab_shims) = {
            let inner = self.lock();
            (inner.authorized_keys.join("\n"), inner.lab_shims.clone())
        };
        if !keys.is_empty() {
            sys::write_file(
                &hdir.join("authorized_keys"),
                format!("{keys}\n").as_bytes(),
                0o600,
            )?;
        }
        sys::write_file(&bin.join("exportfs"), state::EXPORTFS_SH.as_bytes(), 0o755)?;
        for src in lab_shims.iter().chain(s.shim_dirs.iter()) {
            install_shim(&bin, src)?;
        }
        let mut devices = String::new();
        {
            let inner = self.lock();
            for (i, v) in s.volumes.iter().enumerate() {
                let vs = &inner.volumes[&v.id];
                devices.push_str(&format!(
                    "vd{} {} {} {}\n",
                    (b'b' + i as u8) as char,
                    vs.dev_num.0,
                    vs.dev_num.1,
                    v.by_id_name()
                ));
            }
        }
        sys::write_file(&hdir.join("devices"), devices.as_bytes(), 0o644)?;
        let log = std::fs::File::create(hdir.join("log")).map_err(Error::io("create host log"))?;
        let log2 = log.try_clone().map_err(Error::io("dup host log"))?;
        let child = Command::new("unshare")
            .args([
                "--net",
                "--mount",
                "--uts",
                "--ipc",
                "--pid",
                "--fork",
                "--kill-child",
                "--propagation",
                "private",
                "--",
                "bash",
            ])
            .arg(self.dir.join("bin/host-init.sh"))
            .env_clear()
            .env("PATH", ROOT_PATH)
            .env("LAB_HOST_DIR", &hdir)
            .env("LAB_HOSTNAME", &s.name)
            .env("LAB_ADDR", format!("{ip}/24"))
            .env("LAB_USER", &self.user)
            .env("LAB_BIN_DIR", HOST_BIN_DIR)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0)
            .spawn()
            .map_err(Error::io(format!("spawn host {}", s.name)))?;
        sys::write_file(
            &hdir.join("unshare"),
            sys::pid_record(child.id()).as_bytes(),
            0o644,
        )?;
        Ok((child, hdir))
    }

    fn wait_ready(&self, hosts: &[(String, Ipv4Addr, PathBuf)]) -> Result<()> {
        let deadline = Instant::now() + UP_TIMEOUT;
        let mut pending: Vec<&(String, Ipv4Addr, PathBuf)> = hosts.iter().collect();
        let mut guarded = BTreeSet::new();
        while !pending.is_empty() {
            let mut still = Vec::new();
            for h in pending {
                let (name, ip, hdir) = h;
                let fail = |reason: String| Error::HostStart {
                    host: name.clone(),
                    reason,
                    log: sys::tail(&hdir.join("log"), 20),
                };
                {
                    let mut inner = self.lock();
                    if let Some(c) = inner.hosts.get_mut(name).and_then(|hs| hs.child.as_mut())
                        && let Ok(Some(st)) = c.try_wait()
                    {
                        return Err(fail(format!("host process exited ({st})")));
                    }
                }
                if !hdir.join("ready").exists() {
                    still.push(h);
                    continue;
                }
                if guarded.insert(*ip) {
                    self.guard(*ip)?;
                }
                let addr = SocketAddr::from((*ip, 22));
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
                    still.push(h);
                    continue;
                }
                let key = |t: &str| {
                    std::fs::read_to_string(hdir.join("host_keys").join(format!("{t}.pub")))
                        .map(|s| s.trim().to_string())
                        .map_err(|e| fail(format!("no {t} host key: {e}")))
                };
                let keys = HostKeys {
                    ed25519: key("ed25519")?,
                    ecdsa: key("ecdsa")?,
                };
                let pid1 = std::fs::read_to_string(hdir.join("pid1"))
                    .ok()
                    .and_then(|s| s.trim().parse::<u32>().ok())
                    .ok_or_else(|| fail("no pid1 record".into()))?;
                let mut inner = self.lock();
                if let Some(hs) = inner.hosts.get_mut(name) {
                    hs.info.host_keys = keys;
                    hs.pid1 = pid1;
                }
            }
            pending = still;
            if pending.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                let (name, _, hdir) = pending[0];
                return Err(Error::HostStart {
                    host: name.clone(),
                    reason: format!("not answering SSH after {UP_TIMEOUT:?}"),
                    log: sys::tail(&hdir.join("log"), 20),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Kills a host like a VM dying: all its processes, its network namespace (its IP
    /// stops answering) and its mounts go. Its volumes stay attached on paper until
    /// [`Lab::detach_volume`]; its IP stays reserved until [`Lab::remove_host`].
    pub fn kill_host(&self, name: &str) -> Result<()> {
        let (child, pid1, rec) = {
            let mut inner = self.lock();
            let h = inner
                .hosts
                .get_mut(name)
                .ok_or_else(|| Error::NotFound(format!("no host {name:?}")))?;
            if !h.info.alive {
                return Ok(());
            }
            h.info.alive = false;
            let rec =
                std::fs::read_to_string(self.dir.join("hosts").join(name).join("unshare")).ok();
            (h.child.take(), h.pid1, rec)
        };
        if let Some(mut c) = child {
            let _ = c.kill();
            let _ = c.wait();
        } else if let Some(rec) = rec
            && sys::record_alive(&rec)
            && let Some(pid) = rec.split_whitespace().next()
        {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while pid1 != 0 && sys::alive(pid1) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.save()
    }

    /// Kills (if needed) and forgets a host; frees its IP; its volumes become detached.
    pub fn remove_host(&self, name: &str) -> Result<()> {
        self.kill_host(name)?;
        {
            let mut inner = self.lock();
            let Some(h) = inner.hosts.remove(name) else {
                return Err(Error::NotFound(format!("no host {name:?}")));
            };
            inner.order.retain(|n| n != name);
            inner.reserved.remove(&h.info.ip);
            for v in inner.volumes.values_mut() {
                if v.attachment.as_ref().is_some_and(|(hn, _)| hn == name) {
                    v.attachment = None;
                }
            }
        }
        let _ = std::fs::remove_dir_all(self.dir.join("hosts").join(name));
        self.save()
    }

    // ---------------------------------------------------------------- exec

    /// Runs `argv` as root inside the host (its mount, uts, ipc, net and pid namespaces,
    /// PATH with the lab bin dir first). Returns the output whatever the exit status.
    pub fn exec(&self, host: &str, argv: &[&str]) -> Result<Output> {
        self.exec_input(host, argv, &[])
    }

    /// Like [`Lab::exec`] but fails on a non-zero exit; returns stdout as text.
    pub fn exec_ok(&self, host: &str, argv: &[&str]) -> Result<String> {
        let mut cmd = self.exec_command(host, argv)?;
        let out = sys::run(&format!("exec on {host}"), &mut cmd)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Like [`Lab::exec`] with `input` on stdin.
    pub fn exec_input(&self, host: &str, argv: &[&str], input: &[u8]) -> Result<Output> {
        let mut cmd = self.exec_command(host, argv)?;
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(Error::io(format!("exec on {host}")))?;
        if let Some(mut si) = child.stdin.take() {
            // A command that does not read its stdin closes the pipe: not an error.
            let _ = si.write_all(input);
        }
        child
            .wait_with_output()
            .map_err(Error::io(format!("exec on {host}")))
    }

    /// The `nsenter` command that [`Lab::exec`] runs, for callers that want to stream.
    pub fn exec_command(&self, host: &str, argv: &[&str]) -> Result<Command> {
        if argv.is_empty() {
            return Err(Error::Spec("exec needs a command".into()));
        }
        let pid = self.host_pid(host)?;
        let mut cmd = Command::new("nsenter");
        cmd.arg("-t")
            .arg(pid.to_string())
            .args(["-m", "-u", "-i", "-n", "-p", "-r", "-w", "--", "env", "-i"])
            .arg(format!("PATH={HOST_PATH}"))
            .args(["HOME=/root", "LANG=C.UTF-8", "USER=root", "LOGNAME=root"])
            .args(argv)
            .stdin(Stdio::null());
        Ok(cmd)
    }

    // ---------------------------------------------------------------- shims

    /// Puts a file (or a directory's regular files) into `/opt/vnf-lab/bin` of one host
    /// (`Some(name)`) or of every host, now and for hosts added later (`None`).
    pub fn add_shim(&self, host: Option<&str>, path: &Path) -> Result<()> {
        let targets: Vec<String> = {
            let mut inner = self.lock();
            match host {
                Some(h) => {
                    let hs = inner
                        .hosts
                        .get_mut(h)
                        .ok_or_else(|| Error::NotFound(format!("no host {h:?}")))?;
                    hs.shims.push(path.to_path_buf());
                    vec![h.to_string()]
                }
                None => {
                    inner.lab_shims.push(path.to_path_buf());
                    inner.order.clone()
                }
            }
        };
        for h in targets {
            install_shim(&self.dir.join("hosts").join(&h).join("bin"), path)?;
        }
        Ok(())
    }

    // ---------------------------------------------------------------- volumes

    fn create_volume(&self, v: &VolumeSpec) -> Result<()> {
        v.validate()?;
        let size = v.size_bytes()?;
        let image = self.dir.join("volumes").join(format!("{}.img", v.id));
        let f = std::fs::File::create(&image).map_err(Error::io("create volume image"))?;
        f.set_len(size).map_err(Error::io("size volume image"))?;
        drop(f);
        let out = sys::run(
            &format!("attach loop device for volume {}", v.id),
            Command::new("losetup")
                .arg("--find")
                .arg("--show")
                .arg(&image),
        )?;
        let loop_dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let base = loop_dev.trim_start_matches("/dev/");
        let devnum = std::fs::read_to_string(format!("/sys/block/{base}/dev"))
            .map_err(Error::io(format!("read /sys/block/{base}/dev")))?;
        let (ma, mi) = devnum
            .trim()
            .split_once(':')
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
            .ok_or_else(|| Error::Environment(format!("bad dev number {devnum:?}")))?;
        self.lock().volumes.insert(
            v.id.clone(),
            VolState {
                spec: v.clone(),
                image,
                loop_dev,
                dev_num: (ma, mi),
                attachment: None,
            },
        );
        Ok(())
    }

    /// Creates a new, unattached volume.
    pub fn create_unattached_volume(&self, spec: VolumeSpec) -> Result<()> {
        if self.lock().volumes.contains_key(&spec.id) {
            return Err(Error::Conflict(format!(
                "volume {} already exists",
                spec.id
            )));
        }
        self.create_volume(&spec)?;
        self.save()
    }

    /// The device path (`/dev/vdb`) of a volume in the host it is attached to.
    pub fn volume_device(&self, id: &str) -> Result<Option<(String, String)>> {
        let inner = self.lock();
        let v = inner
            .volumes
            .get(id)
            .ok_or_else(|| Error::NotFound(format!("no volume {id:?}")))?;
        Ok(v.attachment.clone())
    }

    /// Detaches a volume from its host (the host may be dead). Refuses while the
    /// volume is mounted in a running host.
    pub fn detach_volume(&self, id: &str) -> Result<()> {
        let (host, dev, by_id, num) = {
            let inner = self.lock();
            let v = inner
                .volumes
                .get(id)
                .ok_or_else(|| Error::NotFound(format!("no volume {id:?}")))?;
            let Some((host, dev)) = v.attachment.clone() else {
                return Err(Error::Conflict(format!("volume {id} is not attached")));
            };
            (host, dev, v.spec.by_id_name(), v.dev_num)
        };
        let alive_pid = {
            let inner = self.lock();
            inner
                .hosts
                .get(&host)
                .filter(|h| h.info.alive)
                .map(|h| h.pid1)
        };
        if let Some(pid) = alive_pid {
            let mountinfo =
                std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
            let needle = format!("{}:{}", num.0, num.1);
            if let Some(line) = mountinfo
                .lines()
                .find(|l| l.split(' ').nth(2) == Some(needle.as_str()))
            {
                let at = line.split(' ').nth(4).unwrap_or("?");
                return Err(Error::Conflict(format!(
                    "volume {id} is mounted at {at} on {host}; unmount it first"
                )));
            }
            self.exec_ok(
                &host,
                &["rm", "-f", &dev, &format!("/dev/disk/by-id/{by_id}")],
            )?;
        }
        let mut inner = self.lock();
        if let Some(h) = inner.hosts.get_mut(&host) {
            h.devices.retain(|_, vid| vid != id);
        }
        if let Some(v) = inner.volumes.get_mut(id) {
            v.attachment = None;
        }
        drop(inner);
        self.save()
    }

    /// Attaches a detached volume to a running host as its next free `/dev/vdX`;
    /// returns that device path.
    pub fn attach_volume(&self, id: &str, host: &str) -> Result<String> {
        let (dev, by_id, num) = {
            let inner = self.lock();
            let v = inner
                .volumes
                .get(id)
                .ok_or_else(|| Error::NotFound(format!("no volume {id:?}")))?;
            if let Some((h, _)) = &v.attachment {
                return Err(Error::Conflict(format!("volume {id} is attached to {h}")));
            }
            let hs = self.live(&inner, host)?;
            let letter = (b'b'..=b'z')
                .map(|c| format!("vd{}", c as char))
                .find(|d| !hs.devices.contains_key(d))
                .ok_or_else(|| Error::Conflict(format!("host {host} has no free device name")))?;
            (letter, v.spec.by_id_name(), v.dev_num)
        };
        let path = format!("/dev/{dev}");
        self.exec_ok(
            host,
            &[
                "mknod",
                "-m",
                "0660",
                &path,
                "b",
                &num.0.to_string(),
                &num.1.to_string(),
            ],
        )?;
        self.exec_ok(host, &["chgrp", "disk", &path])?;
        self.exec_ok(
            host,
            &[
                "ln",
                "-sfn",
                &format!("../../{dev}"),
                &format!("/dev/disk/by-id/{by_id}"),
            ],
        )?;
        {
            let mut inner = self.lock();
            if let Some(h) = inner.hosts.get_mut(host) {
                h.devices.insert(dev.clone(), id.to_string());
            }
            if let Some(v) = inner.volumes.get_mut(id) {
                v.attachment = Some((host.to_string(), path.clone()));
            }
        }
        self.save()?;
        Ok(path)
    }

    /// Destroys a detached volume: loop device and image are gone, data lost.
    pub fn destroy_volume(&self, id: &str) -> Result<()> {
        let v = {
            let mut inner = self.lock();
            match inner.volumes.get(id) {
                None => return Err(Error::NotFound(format!("no volume {id:?}"))),
                Some(v) if v.attachment.is_some() => {
                    return Err(Error::Conflict(format!(
                        "volume {id} is attached; detach it first"
                    )));
                }
                Some(_) => {}
            }
            inner
                .volumes
                .remove(id)
                .ok_or_else(|| Error::NotFound(id.to_string()))?
        };
        sys::run(
            "detach loop device",
            Command::new("losetup").arg("-d").arg(&v.loop_dev),
        )?;
        std::fs::remove_file(&v.image).map_err(Error::io("remove volume image"))?;
        self.save()
    }

    // ---------------------------------------------------------------- network

    /// Safety guard: fails unless `ip` is on the lab subnet and routed via the lab bridge.
    pub fn guard(&self, ip: Ipv4Addr) -> Result<()> {
        let out = sys::run(
            "ip route get",
            Command::new("ip").args(["-o", "route", "get", &ip.to_string()]),
        )?;
        let route = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let on_subnet = ip.octets()[..3] == self.subnet_base.octets()[..3];
        let via_bridge = route
            .split_whitespace()
            .collect::<Vec<_>>()
            .windows(2)
            .any(|w| w == ["dev", self.bridge.as_str()]);
        if on_subnet && via_bridge && !route.contains(" via ") {
            Ok(())
        } else {
            Err(Error::NotOnLab {
                ip,
                route,
                bridge: self.bridge.clone(),
            })
        }
    }

    // ---------------------------------------------------------------- teardown

    /// Leaves the lab running after this handle is gone (for `vnf-lab up`); it is
    /// removed by `vnf-lab down` (never by a stale sweep).
    pub fn detach(self) -> LabInfo {
        let info = self.info();
        let _ = std::fs::write(self.dir.join("detached"), b"");
        if let Some((mut child, stdin)) =
            self.reaper.lock().unwrap_or_else(|e| e.into_inner()).take()
        {
            if let Some(mut si) = stdin {
                let _ = si.write_all(b"detach\n");
            }
            let _ = child.wait();
        }
        {
            let mut inner = self.lock();
            inner.down = true;
            for h in inner.hosts.values_mut() {
                // Dropping a Child neither kills nor waits: the host keeps running.
                h.child.take();
            }
        }
        info
    }

    /// Tears the lab down now, reporting failures (dropping does the same silently).
    pub fn down(self) -> Result<()> {
        self.teardown()
    }

    fn teardown(&self) -> Result<()> {
        {
            let mut inner = self.lock();
            if inner.down {
                return Ok(());
            }
            inner.down = true;
            // Reap our own host processes so none lingers as a zombie.
            for h in inner.hosts.values_mut() {
                if let Some(mut c) = h.child.take() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
        }
        if let Some((mut child, stdin)) =
            self.reaper.lock().unwrap_or_else(|e| e.into_inner()).take()
        {
            if let Some(mut si) = stdin {
                let _ = si.write_all(b"down\n");
            }
            let _ = child.wait();
        }
        if self.dir.exists() {
            state::teardown(&self.id)?;
        }
        Ok(())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            eprintln!("vnf-lab: teardown of lab {} failed: {e}", self.id);
        }
    }
}

impl std::fmt::Debug for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lab")
            .field("id", &self.id)
            .field("bridge", &self.bridge)
            .field("subnet", &self.subnet_base)
            .finish_non_exhaustive()
    }
}

/// Waits for a new host's PID 1 and returns its outer PID, once it provably lives in
/// a network namespace other than ours.
fn wait_pid1(name: &str, hdir: &Path, child: &mut Option<Child>) -> Result<u32> {
    let deadline = Instant::now() + UP_TIMEOUT;
    let own = std::fs::read_link("/proc/self/ns/net").map_err(Error::io("read own netns"))?;
    loop {
        let fail = |reason: String| Error::HostStart {
            host: name.to_string(),
            reason,
            log: sys::tail(&hdir.join("log"), 20),
        };
        if let Some(pid) = std::fs::read_to_string(hdir.join("pid1"))
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
        {
            match std::fs::read_link(format!("/proc/{pid}/ns/net")) {
                Ok(ns) if ns != own => return Ok(pid),
                Ok(_) => return Err(fail(format!("pid {pid} is in the root network namespace"))),
                Err(_) => {}
            }
        }
        if let Some(c) = child.as_mut()
            && let Ok(Some(st)) = c.try_wait()
        {
            return Err(fail(format!("host process exited ({st})")));
        }
        if Instant::now() > deadline {
            return Err(fail("PID 1 never started".into()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Hard-links (or copies) a file, or a directory's regular files, into `bin`.
fn install_shim(bin: &Path, src: &Path) -> Result<()> {
    let meta = std::fs::metadata(src).map_err(Error::io(format!("shim {}", src.display())))?;
    let files: Vec<PathBuf> = if meta.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(src)
            .map_err(Error::io(format!("read shim dir {}", src.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        v.sort();
        v
    } else {
        vec![src.to_path_buf()]
    };
    for f in files {
        let Some(name) = f.file_name() else { continue };
        let dst = bin.join(name);
        let _ = std::fs::remove_file(&dst);
        // A link to a sibling (`kubeadm -> kube-emu`) stays a link: multi-call binaries
        // dispatch on the name they are called by.
        if let Ok(target) = std::fs::read_link(&f)
            && target.components().count() == 1
            && target.is_relative()
        {
            std::os::unix::fs::symlink(&target, &dst)
                .map_err(Error::io(format!("link shim {}", f.display())))?;
            continue;
        }
        // Otherwise install the file itself, never a link to it: the target may live
        // where the host cannot see it (each host has a private /tmp, for instance).
        let real = std::fs::canonicalize(&f)
            .map_err(Error::io(format!("resolve shim {}", f.display())))?;
        if std::fs::hard_link(&real, &dst).is_err() {
            std::fs::copy(&real, &dst)
                .map_err(Error::io(format!("copy shim {}", real.display())))?;
        }
    }
    Ok(())
}

/// Checks what the lab needs from the machine, with an actionable message.
fn preflight() -> Result<()> {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().next().map(str::to_string))
        })
        .unwrap_or_default();
    if uid != "0" {
        return Err(Error::Environment(
            "the lab needs root (namespaces, bridge, loop devices)".into(),
        ));
    }
    for bin in [
        "/usr/sbin/sshd",
        "/usr/bin/unshare",
        "/usr/bin/nsenter",
        "/usr/sbin/losetup",
        "/usr/bin/ssh-keygen",
        "/usr/sbin/pivot_root",
    ] {
        if !Path::new(bin).exists() {
            return Err(Error::Environment(format!(
                "{bin} is missing: apt-get install -y openssh-server openssh-client util-linux"
            )));
        }
    }
    Ok(())
}
