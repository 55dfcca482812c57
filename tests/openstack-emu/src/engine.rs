//! Deploys stacks onto the lab: creation, deletion, scaling signals and heal
//! (`mark_unhealthy` + update with `existing`). Runs on worker threads, one operation
//! at a time (the `ops` lock); the model lock is never held across a lab call.

use crate::CloudConfig;
use crate::model::{FloatingIp, Group, Model, Port, Resource, Server, ServerGroup, Stack, Vol};
use crate::template::{self, Ctx};
use crate::util::{self, iso};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};
use vnf_lab::{HostSpec, Lab, VolumeSpec};

/// The emulator's shared core.
pub(crate) struct Emu {
    pub cfg: CloudConfig,
    pub lab: Arc<Lab>,
    pub model: Mutex<Model>,
    pub ops: Mutex<()>,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub project_id: String,
    pub user_id: String,
    pub app_cred_id: String,
}

type R<T> = Result<T, String>;

impl Emu {
    pub fn m(&self) -> MutexGuard<'_, Model> {
        self.model.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn op_lock(&self) -> MutexGuard<'_, ()> {
        self.ops.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn heat_url(&self) -> String {
        format!("{}/heat-api/v1/{}", self.base, self.project_id)
    }

    /// Inserts a stack record (`CREATE_IN_PROGRESS`) and returns its id.
    #[allow(clippy::too_many_arguments)]
    pub fn new_stack(
        &self,
        name: String,
        template: Value,
        files: Arc<BTreeMap<String, Value>>,
        raw_files: Arc<Map<String, Value>>,
        params: Map<String, Value>,
        parent: Option<(String, String)>,
    ) -> String {
        let id = util::uuid4();
        self.m().stacks.insert(
            id.clone(),
            Stack {
                id: id.clone(),
                name,
                action: "CREATE".into(),
                status: "IN_PROGRESS".into(),
                reason: "Stack CREATE started".into(),
                template,
                files,
                raw_files,
                params,
                parent,
                resources: Default::default(),
                created: util::now(),
                updated: None,
                deleted: false,
            },
        );
        id
    }

    fn set_stack(&self, id: &str, action: &str, status: &str, reason: &str) {
        if let Some(s) = self.m().stacks.get_mut(id) {
            s.action = action.into();
            s.status = status.into();
            s.reason = reason.into();
            if action != "CREATE" {
                s.updated = Some(util::now());
            }
        }
    }

    fn set_res(&self, stack: &str, name: &str, action: &str, status: &str, reason: &str) {
        if let Some(r) = self
            .m()
            .stacks
            .get_mut(stack)
            .and_then(|s| s.resources.get_mut(name))
        {
            r.action = action.into();
            r.status = status.into();
            r.reason = reason.into();
            if action != "CREATE" {
                r.updated = Some(util::now());
            }
        }
    }

    // ------------------------------------------------------------------ create

    /// Creates every resource of a stack in dependency order; sets the stack status.
    pub fn create_stack(&self, id: &str) -> R<()> {
        let res = self.create_resources(id);
        match &res {
            Ok(()) => self.set_stack(
                id,
                "CREATE",
                "COMPLETE",
                "Stack CREATE completed successfully",
            ),
            Err(e) => self.set_stack(id, "CREATE", "FAILED", e),
        }
        res
    }

    fn create_resources(&self, id: &str) -> R<()> {
        let template = self
            .m()
            .stacks
            .get(id)
            .map(|s| s.template.clone())
            .ok_or("stack vanished")?;
        for name in template::dependency_order(&template)? {
            self.create_resource(id, &name)?;
        }
        Ok(())
    }

    /// Creates one resource from its definition in the stack's template.
    fn create_resource(&self, stack_id: &str, name: &str) -> R<()> {
        let (rtype, props, stack_name) = {
            let mut m = self.m();
            let st = m.stacks.get(stack_id).ok_or("stack vanished")?;
            let defn = st
                .template
                .pointer(&format!(
                    "/resources/{}",
                    name.replace('~', "~0").replace('/', "~1")
                ))
                .cloned()
                .ok_or_else(|| format!("no resource {name}"))?;
            let rtype = defn
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let raw = defn.get("properties").cloned().unwrap_or(json!({}));
            // AutoScalingGroup: the member definition is resolved here, in the parent.
            let props = template::eval(
                &raw,
                &EvalCtx {
                    emu: self,
                    m: &m,
                    stack: st,
                },
            )
            .map_err(|e| format!("resources.{name}: {e}"))?;
            let stack_name = st.name.clone();
            let seq = m.next_seq();
            if let Some(st) = m.stacks.get_mut(stack_id) {
                st.resources.insert(
                    name.to_string(),
                    Resource {
                        name: name.to_string(),
                        rtype: rtype.clone(),
                        physical_id: String::new(),
                        action: "CREATE".into(),
                        status: "IN_PROGRESS".into(),
                        reason: "state changed".into(),
                        props: props.clone(),
                        nested: None,
                        created: util::now(),
                        updated: None,
                        seq,
                        group: None,
                    },
                );
            }
            (rtype, props, stack_name)
        };
        let physical = format!("{stack_name}-{name}-{}", util::short_id());
        let out = self.instantiate(stack_id, name, &rtype, &props, &physical);
        match out {
            Ok(pid) => {
                if let Some(r) = self
                    .m()
                    .stacks
                    .get_mut(stack_id)
                    .and_then(|s| s.resources.get_mut(name))
                {
                    r.physical_id = pid;
                    r.action = "CREATE".into();
                    r.status = "COMPLETE".into();
                    r.reason = "state changed".into();
                }
                Ok(())
            }
            Err(e) => {
                let msg = format!("Resource CREATE failed: {e}");
                self.set_res(stack_id, name, "CREATE", "FAILED", &msg);
                Err(format!("Resource CREATE failed: resources.{name}: {e}"))
            }
        }
    }

    /// Makes the real thing; returns the physical resource id.
    fn instantiate(
        &self,
        stack_id: &str,
        name: &str,
        rtype: &str,
        props: &Value,
        physical_name: &str,
    ) -> R<String> {
        let s = |k: &str| props.get(k).and_then(Value::as_str).map(String::from);
        match rtype {
            "OS::Neutron::Port" => {
                let network = s("network")
                    .or_else(|| s("network_id"))
                    .ok_or("Property network not assigned")?;
                let requested = requested_ip(props.get("fixed_ips"))?;
                let pairs = props
                    .get("allowed_address_pairs")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let pname = s("name").unwrap_or_else(|| physical_name.to_string());
                self.create_port(&pname, &network, requested, pairs)
            }
            "OS::Cinder::Volume" => {
                let size = props
                    .get("size")
                    .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
                    .ok_or("Property size not assigned or not an integer")?;
                if size == 0 {
                    return Err("Volume size must be at least 1 GB".into());
                }
                let vname = s("name").unwrap_or_else(|| physical_name.to_string());
                self.create_volume(&vname, size)
            }
            "OS::Nova::ServerGroup" => {
                let id = util::uuid4();
                let policies: Vec<String> = match props.get("policies") {
                    Some(Value::Array(a)) => a
                        .iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect(),
                    _ => s("policy").into_iter().collect(),
                };
                for p in &policies {
                    if !matches!(
                        p.as_str(),
                        "affinity" | "anti-affinity" | "soft-affinity" | "soft-anti-affinity"
                    ) {
                        return Err(format!("Invalid server group policy {p:?}"));
                    }
                }
                self.m().server_groups.insert(
                    id.clone(),
                    ServerGroup {
                        id: id.clone(),
                        name: s("name").unwrap_or_else(|| physical_name.to_string()),
                        policies,
                        members: vec![],
                        project_id: self.project_id.clone(),
                    },
                );
                Ok(id)
            }
            "OS::Heat::ScalingPolicy" => {
                if s("auto_scaling_group_id").is_none() {
                    return Err("Property auto_scaling_group_id not assigned".into());
                }
                match s("adjustment_type").as_deref() {
                    Some(
                        "change_in_capacity" | "exact_capacity" | "percent_change_in_capacity",
                    ) => {}
                    other => return Err(format!("Invalid adjustment_type {other:?}")),
                }
                if props
                    .get("scaling_adjustment")
                    .and_then(Value::as_i64)
                    .is_none()
                {
                    return Err("Property scaling_adjustment not assigned".into());
                }
                Ok(util::uuid4())
            }
            "OS::Neutron::FloatingIP" => {
                let network = s("floating_network")
                    .or_else(|| s("floating_network_id"))
                    .ok_or("Property floating_network not assigned")?;
                let port_id = s("port_id");
                let mut m = self.m();
                let address = match &port_id {
                    Some(p) => m
                        .ports
                        .get(p)
                        .map(|p| p.ip)
                        .ok_or_else(|| format!("Port {p} could not be found."))?,
                    None => Ipv4Addr::UNSPECIFIED,
                };
                let id = util::uuid4();
                m.floating_ips.insert(
                    id.clone(),
                    FloatingIp {
                        id: id.clone(),
                        network_id: network,
                        port_id,
                        address,
                        project_id: self.project_id.clone(),
                    },
                );
                Ok(id)
            }
            "OS::Nova::Server" => self.create_server(props, physical_name),
            "OS::Heat::AutoScalingGroup" => self.create_group(stack_id, name, props, physical_name),
            nested => {
                let files = self
                    .m()
                    .stacks
                    .get(stack_id)
                    .map(|s| s.files.clone())
                    .ok_or("stack vanished")?;
                let raw_files = self
                    .m()
                    .stacks
                    .get(stack_id)
                    .map(|s| s.raw_files.clone())
                    .ok_or("stack vanished")?;
                let tpl = files
                    .get(nested)
                    .cloned()
                    .ok_or_else(|| format!("The Resource Type ({nested}) could not be found."))?;
                let params = nested_params(&tpl, props)?;
                let id = self.new_stack(
                    physical_name.to_string(),
                    tpl,
                    files,
                    raw_files,
                    params,
                    Some((stack_id.to_string(), name.to_string())),
                );
                self.set_nested(stack_id, name, &id);
                self.create_stack(&id)?;
                Ok(id)
            }
        }
    }

    fn set_nested(&self, stack_id: &str, name: &str, nested: &str) {
        if let Some(r) = self
            .m()
            .stacks
            .get_mut(stack_id)
            .and_then(|s| s.resources.get_mut(name))
        {
            r.nested = Some(nested.to_string());
            r.physical_id = nested.to_string();
        }
    }

    fn create_group(
        &self,
        stack_id: &str,
        name: &str,
        props: &Value,
        physical_name: &str,
    ) -> R<String> {
        let int = |k: &str| {
            props
                .get(k)
                .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
        };
        let min = int("min_size").ok_or("Property min_size not assigned")?;
        let max = int("max_size").ok_or("Property max_size not assigned")?;
        let capacity = int("desired_capacity").unwrap_or(min);
        // The lab subnet has about 240 addresses; Heat's own limit is a quota.
        const MAX_MEMBERS: i64 = 100;
        if max > MAX_MEMBERS {
            return Err(format!(
                "max_size {max} exceeds the emulator's limit of {MAX_MEMBERS} members"
            ));
        }
        if min < 0 || max < min || capacity < min || capacity > max {
            return Err(format!(
                "desired_capacity {capacity} must be between min_size {min} and max_size {max}"
            ));
        }
        let member_type = props
            .pointer("/resource/type")
            .and_then(Value::as_str)
            .ok_or("Property resource.type not assigned")?
            .to_string();
        let member_props = props
            .pointer("/resource/properties")
            .cloned()
            .unwrap_or(json!({}));
        let (files, raw_files) = {
            let m = self.m();
            let st = m.stacks.get(stack_id).ok_or("stack vanished")?;
            (st.files.clone(), st.raw_files.clone())
        };
        let gid = self.new_stack(
            physical_name.to_string(),
            json!({"heat_template_version": "2015-04-30", "resources": {}}),
            files,
            raw_files,
            Map::new(),
            Some((stack_id.to_string(), name.to_string())),
        );
        let group = Group {
            min,
            max,
            capacity,
            member_type,
            member_props,
        };
        if let Some(r) = self
            .m()
            .stacks
            .get_mut(stack_id)
            .and_then(|s| s.resources.get_mut(name))
        {
            r.group = Some(group.clone());
        }
        self.set_nested(stack_id, name, &gid);
        let mut res = Ok(());
        for _ in 0..capacity {
            res = self.add_member(&gid, &group);
            if res.is_err() {
                break;
            }
        }
        match &res {
            Ok(()) => self.set_stack(
                &gid,
                "CREATE",
                "COMPLETE",
                "Stack CREATE completed successfully",
            ),
            Err(e) => self.set_stack(&gid, "CREATE", "FAILED", e),
        }
        res.map(|()| gid)
    }

    fn add_member(&self, group_stack: &str, g: &Group) -> R<()> {
        let member = util::short_id();
        if let Some(st) = self.m().stacks.get_mut(group_stack)
            && let Some(res) = st
                .template
                .get_mut("resources")
                .and_then(Value::as_object_mut)
        {
            res.insert(
                member.clone(),
                json!({"type": g.member_type, "properties": g.member_props}),
            );
        }
        self.create_resource(group_stack, &member)
    }

    /// Allocates an address on the lab subnet (the requested one if given).
    fn alloc_ip(&self, m: &Model, requested: Option<Ipv4Addr>) -> R<Ipv4Addr> {
        let (base, _) = self.lab.subnet();
        let b = base.octets();
        let used = |ip: Ipv4Addr| {
            m.ports.values().any(|p| p.ip == ip)
                || self.lab.host_by_ip(ip).is_some()
                || ip == self.lab.gateway()
        };
        match requested {
            Some(ip) => {
                let o = ip.octets();
                if o[..3] != b[..3] || o[3] == 0 || o[3] == 255 {
                    return Err(format!(
                        "InvalidIpForSubnet: IP address {ip} is not a valid IP for the specified subnet ({base}/24)."
                    ));
                }
                if used(ip) {
                    return Err(format!(
                        "IpAddressAlreadyAllocated: IP address {ip} already allocated in subnet {}.",
                        self.cfg.subnet_id
                    ));
                }
                Ok(ip)
            }
            None => (10..=250u8)
                .map(|d| Ipv4Addr::new(b[0], b[1], b[2], d))
                .find(|ip| !used(*ip))
                .ok_or_else(|| {
                    "IpAddressGenerationFailure: No more IP addresses available on network".into()
                }),
        }
    }

    fn create_port(
        &self,
        name: &str,
        network: &str,
        requested: Option<Ipv4Addr>,
        pairs: Vec<Value>,
    ) -> R<String> {
        let mut m = self.m();
        let ip = self.alloc_ip(&m, requested)?;
        let id = util::uuid4();
        let mac = util::mac_for(ip);
        let pairs = pairs
            .into_iter()
            .map(|p| {
                let ipa = p.get("ip_address").cloned().unwrap_or(Value::Null);
                let mc = p.get("mac_address").cloned().unwrap_or(json!(mac));
                json!({"ip_address": ipa, "mac_address": mc})
            })
            .collect();
        m.ports.insert(
            id.clone(),
            Port {
                id: id.clone(),
                name: name.to_string(),
                network_id: network.to_string(),
                subnet_id: self.cfg.subnet_id.clone(),
                ip,
                mac,
                device_id: String::new(),
                device_owner: String::new(),
                allowed_address_pairs: pairs,
                project_id: self.project_id.clone(),
                created: util::now(),
            },
        );
        Ok(id)
    }

    fn create_volume(&self, name: &str, size_gb: u64) -> R<String> {
        let id = util::uuid4();
        // Rounded up to whole MiB (so a 5 GB volume at (1 GiB)/5 per GB is exactly 1 GiB).
        const MIB: u64 = 1 << 20;
        let bytes = size_gb
            .saturating_mul(self.cfg.volume_bytes_per_gb)
            .div_ceil(MIB)
            .max(1)
            .saturating_mul(MIB);
        self.lab
            .create_unattached_volume(VolumeSpec::new(id.clone(), bytes.to_string()))
            .map_err(|e| format!("volume {id}: {e}"))?;
        self.m().volumes.insert(
            id.clone(),
            Vol {
                id: id.clone(),
                name: name.to_string(),
                size_gb,
                attachment: None,
                project_id: self.project_id.clone(),
                created: util::now(),
            },
        );
        Ok(id)
    }

    fn create_server(&self, props: &Value, physical_name: &str) -> R<String> {
        let s = |k: &str| props.get(k).and_then(Value::as_str).map(String::from);
        let name = s("name").unwrap_or_else(|| physical_name.to_string());
        let image =
            s("image").ok_or("Property image not assigned (boot from volume is not emulated)")?;
        let flavor = s("flavor").ok_or("Property flavor not assigned")?;
        let mut ports = Vec::new();
        for n in props
            .get("networks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(p) = n.get("port").and_then(Value::as_str) {
                if !self.m().ports.contains_key(p) {
                    return Err(format!("Port {p} could not be found."));
                }
                ports.push(p.to_string());
            } else if let Some(net) = n
                .get("network")
                .or_else(|| n.get("uuid"))
                .and_then(Value::as_str)
            {
                let fixed = n
                    .get("fixed_ip")
                    .and_then(Value::as_str)
                    .map(|x| {
                        x.parse::<Ipv4Addr>()
                            .map_err(|_| format!("Invalid fixed_ip {x:?}"))
                    })
                    .transpose()?;
                ports.push(self.create_port("", net, fixed, vec![])?);
            } else {
                return Err("networks entry needs port or network".into());
            }
        }
        let Some(first) = ports.first() else {
            return Err(
                "a server needs at least one network (the lab has no unaddressed hosts)".into(),
            );
        };
        if ports.len() > 1 {
            return Err(
                "servers with more than one NIC are not emulated (one lab interface per host)"
                    .into(),
            );
        }
        let mut vols = Vec::new();
        for key in ["block_device_mapping_v2", "block_device_mapping"] {
            for b in props
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(v) = b.get("volume_id").and_then(Value::as_str) else {
                    return Err(format!("{key}: only volume_id mappings are emulated"));
                };
                if b.get("boot_index")
                    .and_then(Value::as_i64)
                    .is_some_and(|i| i == 0)
                {
                    return Err(format!("{key}: boot from volume is not emulated"));
                }
                vols.push(v.to_string());
            }
        }
        let group = props
            .pointer("/scheduler_hints/group")
            .and_then(Value::as_str)
            .map(String::from);
        let (ip, host, compute) = {
            let mut m = self.m();
            for v in &vols {
                match m.volumes.get(v) {
                    None => return Err(format!("Volume {v} could not be found.")),
                    Some(vol) if vol.attachment.is_some() => {
                        return Err(format!(
                            "Invalid volume: volume {v} status must be available"
                        ));
                    }
                    Some(_) => {}
                }
            }
            let ip = m.ports.get(first).map(|p| p.ip).ok_or("port vanished")?;
            let seq = m.next_seq();
            let compute = self.pick_compute_host(&m, group.as_deref())?;
            (ip, util::host_name(&name, seq), compute)
        };
        self.lab
            .add_host(HostSpec {
                name: host.clone(),
                ip: Some(ip),
                volumes: vec![],
                shim_dirs: vec![],
            })
            .map_err(|e| format!("server {name}: boot failed: {e}"))?;
        let id = util::uuid4();
        self.m().servers.insert(
            id.clone(),
            Server {
                id: id.clone(),
                name: name.clone(),
                lab_host: host.clone(),
                ports: ports.clone(),
                image,
                flavor,
                compute_host: compute,
                server_group: group.clone(),
                project_id: self.project_id.clone(),
                created: util::now(),
            },
        );
        {
            let mut m = self.m();
            for p in &ports {
                if let Some(p) = m.ports.get_mut(p) {
                    p.device_id = id.clone();
                    p.device_owner = "compute:nova".into();
                }
            }
            if let Some(g) = group.and_then(|g| m.server_groups.get_mut(&g)) {
                g.members.push(id.clone());
            }
        }
        for v in vols {
            self.attach(&v, &id)?;
        }
        Ok(id)
    }

    fn pick_compute_host(&self, m: &Model, group: Option<&str>) -> R<String> {
        let n = self.cfg.compute_hosts.max(1);
        let all: Vec<String> = (1..=n).map(|i| format!("compute-{i}")).collect();
        let Some(gid) = group else {
            // Spread like a filter scheduler with equal weights: least loaded first.
            return all
                .iter()
                .min_by_key(|h| m.servers.values().filter(|s| &&s.compute_host == h).count())
                .cloned()
                .ok_or_else(|| "No valid host was found.".into());
        };
        let g = m
            .server_groups
            .get(gid)
            .ok_or_else(|| format!("Server group {gid} could not be found."))?;
        let used: Vec<&String> = g
            .members
            .iter()
            .filter_map(|s| m.servers.get(s))
            .map(|s| &s.compute_host)
            .collect();
        if g.policies.iter().any(|p| p == "anti-affinity") {
            all.iter()
                .find(|h| !used.contains(h))
                .cloned()
                .ok_or_else(|| {
                    "No valid host was found. There are not enough hosts available.".into()
                })
        } else if g.policies.iter().any(|p| p == "affinity") {
            Ok(used
                .first()
                .map(|s| s.to_string())
                .unwrap_or_else(|| all[0].clone()))
        } else {
            Ok(all[used.len() % all.len()].clone())
        }
    }

    fn attach(&self, vol: &str, server: &str) -> R<()> {
        let host = self
            .m()
            .servers
            .get(server)
            .map(|s| s.lab_host.clone())
            .ok_or("server vanished")?;
        let dev = self
            .lab
            .attach_volume(vol, &host)
            .map_err(|e| format!("attach volume {vol}: {e}"))?;
        if let Some(v) = self.m().volumes.get_mut(vol) {
            v.attachment = Some((server.to_string(), dev, util::uuid4()));
        }
        Ok(())
    }

    // ------------------------------------------------------------------ delete

    /// Deletes every resource (reverse creation order) and marks the stack deleted.
    pub fn delete_stack(&self, id: &str) -> R<()> {
        let mut names: Vec<(u64, String)> = self
            .m()
            .stacks
            .get(id)
            .map(|s| {
                s.resources
                    .values()
                    .map(|r| (r.seq, r.name.clone()))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        let mut first_err = None;
        for (_, n) in names.into_iter().rev() {
            if let Err(e) = self.delete_resource(id, &n) {
                self.set_res(id, &n, "DELETE", "FAILED", &e);
                first_err.get_or_insert(format!("Resource DELETE failed: resources.{n}: {e}"));
            } else if let Some(s) = self.m().stacks.get_mut(id) {
                s.resources.shift_remove(&n);
            }
        }
        match first_err {
            None => {
                if let Some(s) = self.m().stacks.get_mut(id) {
                    s.deleted = true;
                }
                self.set_stack(
                    id,
                    "DELETE",
                    "COMPLETE",
                    "Stack DELETE completed successfully",
                );
                Ok(())
            }
            Some(e) => {
                self.set_stack(id, "DELETE", "FAILED", &e);
                Err(e)
            }
        }
    }

    fn delete_resource(&self, stack_id: &str, name: &str) -> R<()> {
        let Some(r) = self
            .m()
            .stacks
            .get(stack_id)
            .and_then(|s| s.resources.get(name))
            .cloned()
        else {
            return Ok(());
        };
        self.set_res(stack_id, name, "DELETE", "IN_PROGRESS", "state changed");
        if let Some(n) = &r.nested {
            return self.delete_stack(n);
        }
        if r.physical_id.is_empty() {
            return Ok(());
        }
        match r.rtype.as_str() {
            "OS::Nova::Server" => self.delete_server(&r.physical_id),
            "OS::Cinder::Volume" => self.delete_volume(&r.physical_id),
            "OS::Neutron::Port" => {
                let mut m = self.m();
                if let Some(p) = m.ports.get(&r.physical_id)
                    && !p.device_id.is_empty()
                    && m.servers.contains_key(&p.device_id)
                {
                    return Err(format!("Port {} is in use by server {}", p.id, p.device_id));
                }
                m.ports.shift_remove(&r.physical_id);
                Ok(())
            }
            "OS::Nova::ServerGroup" => {
                self.m().server_groups.shift_remove(&r.physical_id);
                Ok(())
            }
            "OS::Neutron::FloatingIP" => {
                self.m().floating_ips.shift_remove(&r.physical_id);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn delete_server(&self, id: &str) -> R<()> {
        let Some(srv) = self.m().servers.get(id).cloned() else {
            return Ok(());
        };
        match self.lab.remove_host(&srv.lab_host) {
            Ok(()) | Err(vnf_lab::Error::NotFound(_)) => {}
            Err(e) => return Err(format!("delete server {id}: {e}")),
        }
        let mut m = self.m();
        m.servers.shift_remove(id);
        for v in m.volumes.values_mut() {
            if v.attachment.as_ref().is_some_and(|(s, _, _)| s == id) {
                v.attachment = None;
            }
        }
        let implicit: Vec<String> = srv
            .ports
            .iter()
            .filter(|p| m.ports.get(*p).is_some_and(|p| p.name.is_empty()))
            .cloned()
            .collect();
        for p in srv.ports.iter() {
            if let Some(p) = m.ports.get_mut(p) {
                p.device_id.clear();
                p.device_owner.clear();
            }
        }
        for p in implicit {
            m.ports.shift_remove(&p);
        }
        for g in m.server_groups.values_mut() {
            g.members.retain(|s| s != id);
        }
        Ok(())
    }

    fn delete_volume(&self, id: &str) -> R<()> {
        if let Ok(Some(_)) = self.lab.volume_device(id) {
            self.lab
                .detach_volume(id)
                .map_err(|e| format!("detach volume {id}: {e}"))?;
        }
        match self.lab.destroy_volume(id) {
            Ok(()) | Err(vnf_lab::Error::NotFound(_)) => {}
            Err(e) => return Err(format!("delete volume {id}: {e}")),
        }
        self.m().volumes.shift_remove(id);
        Ok(())
    }

    // ------------------------------------------------------------------ scaling

    /// Handles a signal to a ScalingPolicy: resizes its group within min/max.
    pub fn signal(&self, stack_id: &str, policy: &str) -> R<()> {
        let (gid, adj_type, adj) = {
            let m = self.m();
            let r = m
                .stacks
                .get(stack_id)
                .and_then(|s| s.resources.get(policy))
                .ok_or("policy vanished")?;
            (
                r.props
                    .get("auto_scaling_group_id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                r.props
                    .get("adjustment_type")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                r.props
                    .get("scaling_adjustment")
                    .and_then(Value::as_i64)
                    .unwrap_or(0),
            )
        };
        self.set_res(stack_id, policy, "SIGNAL", "IN_PROGRESS", "signal received");
        let res = self.scale_group(&gid, &adj_type, adj);
        match &res {
            Ok(()) => self.set_res(
                stack_id,
                policy,
                "SIGNAL",
                "COMPLETE",
                "Signal: scaling adjustment applied",
            ),
            Err(e) => self.set_res(stack_id, policy, "SIGNAL", "FAILED", e),
        }
        res
    }

    fn scale_group(&self, group_stack: &str, adj_type: &str, adj: i64) -> R<()> {
        let (owner, gres, g) = {
            let m = self.m();
            let (owner, res) = m
                .stacks
                .get(group_stack)
                .and_then(|s| s.parent.clone())
                .ok_or_else(|| format!("AutoScalingGroup {group_stack} not found"))?;
            let g = m
                .stacks
                .get(&owner)
                .and_then(|s| s.resources.get(&res))
                .and_then(|r| r.group.clone())
                .ok_or_else(|| format!("AutoScalingGroup {group_stack} not found"))?;
            (owner, res, g)
        };
        let cur = g.capacity;
        let wanted = match adj_type {
            "exact_capacity" => adj,
            "percent_change_in_capacity" => {
                let delta = (cur as f64 * adj as f64 / 100.0).trunc() as i64;
                cur + if delta == 0 { adj.signum() } else { delta }
            }
            _ => cur + adj,
        };
        let new = wanted.clamp(g.min, g.max);
        self.set_res(&owner, &gres, "UPDATE", "IN_PROGRESS", "state changed");
        self.set_stack(group_stack, "UPDATE", "IN_PROGRESS", "Stack UPDATE started");
        let mut res = Ok(());
        if new > cur {
            for _ in cur..new {
                res = self.add_member(group_stack, &g);
                if res.is_err() {
                    break;
                }
            }
        } else if new < cur {
            // Heat's default removal policy: the oldest members go first.
            let mut members: Vec<(u64, String)> = self
                .m()
                .stacks
                .get(group_stack)
                .map(|s| {
                    s.resources
                        .values()
                        .map(|r| (r.seq, r.name.clone()))
                        .collect()
                })
                .unwrap_or_default();
            members.sort();
            for (_, name) in members.into_iter().take((cur - new) as usize) {
                res = self.remove_member(group_stack, &name);
                if res.is_err() {
                    break;
                }
            }
        }
        let size = self
            .m()
            .stacks
            .get(group_stack)
            .map(|s| s.resources.len() as i64)
            .unwrap_or(0);
        if let Some(r) = self
            .m()
            .stacks
            .get_mut(&owner)
            .and_then(|s| s.resources.get_mut(&gres))
            && let Some(g) = r.group.as_mut()
        {
            g.capacity = size;
        }
        match &res {
            Ok(()) => {
                self.set_stack(
                    group_stack,
                    "UPDATE",
                    "COMPLETE",
                    "Stack UPDATE completed successfully",
                );
                self.set_res(&owner, &gres, "UPDATE", "COMPLETE", "state changed");
            }
            Err(e) => {
                self.set_stack(group_stack, "UPDATE", "FAILED", e);
                self.set_res(&owner, &gres, "UPDATE", "FAILED", e);
            }
        }
        res
    }

    fn remove_member(&self, group_stack: &str, name: &str) -> R<()> {
        self.delete_resource(group_stack, name)?;
        if let Some(s) = self.m().stacks.get_mut(group_stack) {
            s.resources.shift_remove(name);
            if let Some(r) = s
                .template
                .get_mut("resources")
                .and_then(Value::as_object_mut)
            {
                r.remove(name);
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------ heal

    /// Stack update with `existing`: replaces resources marked unhealthy.
    pub fn update_existing(&self, id: &str) -> R<()> {
        self.set_stack(id, "UPDATE", "IN_PROGRESS", "Stack UPDATE started");
        let res = self.heal_stack(id);
        match &res {
            Ok(()) => self.set_stack(
                id,
                "UPDATE",
                "COMPLETE",
                "Stack UPDATE completed successfully",
            ),
            Err(e) => self.set_stack(id, "UPDATE", "FAILED", e),
        }
        res
    }

    fn heal_stack(&self, id: &str) -> R<()> {
        let mut rs: Vec<Resource> = self
            .m()
            .stacks
            .get(id)
            .map(|s| s.resources.values().cloned().collect())
            .unwrap_or_default();
        rs.sort_by_key(|r| r.seq);
        let is_group_stack = {
            let m = self.m();
            m.stacks
                .get(id)
                .and_then(|s| s.parent.clone())
                .and_then(|(p, r)| {
                    m.stacks
                        .get(&p)?
                        .resources
                        .get(&r)
                        .map(|r| r.group.is_some())
                })
                .unwrap_or(false)
        };
        // Nested stacks: replace the unhealthy ones whole, heal inside the others.
        for r in rs.iter().filter(|r| r.nested.is_some()) {
            let nested = r.nested.clone().unwrap_or_default();
            if r.unhealthy() {
                self.delete_stack(&nested)?;
                if is_group_stack {
                    // A group member is replaced by a new member (new name, as Heat does).
                    let g = self.group_of(id)?;
                    self.remove_member(id, &r.name)?;
                    self.add_member(id, &g)?;
                } else {
                    self.create_resource(id, &r.name)?;
                }
            } else {
                self.set_stack(&nested, "UPDATE", "IN_PROGRESS", "Stack UPDATE started");
                let out = self.heal_stack(&nested);
                match &out {
                    Ok(()) => self.set_stack(
                        &nested,
                        "UPDATE",
                        "COMPLETE",
                        "Stack UPDATE completed successfully",
                    ),
                    Err(e) => self.set_stack(&nested, "UPDATE", "FAILED", e),
                }
                out?;
            }
        }
        let bad: Vec<&Resource> = rs
            .iter()
            .filter(|r| r.nested.is_none() && r.unhealthy())
            .collect();
        if bad.is_empty() {
            return Ok(());
        }
        // 1. The unhealthy servers go (their volumes stay, detached).
        for r in bad.iter().filter(|r| r.rtype == "OS::Nova::Server") {
            self.set_res(id, &r.name, "UPDATE", "IN_PROGRESS", "replacing");
            self.delete_server(&r.physical_id)?;
        }
        // 2. Unhealthy volumes: a new, empty volume (re-attached where the old one was).
        for r in bad.iter().filter(|r| r.rtype == "OS::Cinder::Volume") {
            self.set_res(id, &r.name, "UPDATE", "IN_PROGRESS", "replacing");
            let holder = self
                .m()
                .volumes
                .get(&r.physical_id)
                .and_then(|v| v.attachment.as_ref().map(|a| a.0.clone()));
            self.delete_volume(&r.physical_id)?;
            let size = r.props.get("size").and_then(Value::as_u64).unwrap_or(1);
            let vname = r
                .props
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(&r.name)
                .to_string();
            let nid = self.create_volume(&vname, size)?;
            self.replaced(id, &r.name, &nid);
            if let Some(server) = holder {
                self.attach(&nid, &server)?;
            }
        }
        // 3. Other unhealthy resources: nothing to rebuild in the emulator.
        for r in bad
            .iter()
            .filter(|r| !matches!(r.rtype.as_str(), "OS::Nova::Server" | "OS::Cinder::Volume"))
        {
            self.set_res(id, &r.name, "UPDATE", "COMPLETE", "state changed");
        }
        // 4. New servers: same properties re-evaluated (same ports, current volumes).
        for r in bad.iter().filter(|r| r.rtype == "OS::Nova::Server") {
            let props = {
                let m = self.m();
                let st = m.stacks.get(id).ok_or("stack vanished")?;
                let raw = st
                    .template
                    .get("resources")
                    .and_then(|x| x.get(&r.name))
                    .and_then(|x| x.get("properties"))
                    .cloned()
                    .unwrap_or(json!({}));
                template::eval(
                    &raw,
                    &EvalCtx {
                        emu: self,
                        m: &m,
                        stack: st,
                    },
                )?
            };
            let physical = format!("{}-{}", r.name, util::short_id());
            match self.create_server(&props, &physical) {
                Ok(sid) => {
                    self.replaced(id, &r.name, &sid);
                    if let Some(x) = self
                        .m()
                        .stacks
                        .get_mut(id)
                        .and_then(|s| s.resources.get_mut(&r.name))
                    {
                        x.props = props;
                    }
                }
                Err(e) => {
                    self.set_res(id, &r.name, "UPDATE", "FAILED", &e);
                    return Err(format!("Resource UPDATE failed: resources.{}: {e}", r.name));
                }
            }
        }
        Ok(())
    }

    fn group_of(&self, group_stack: &str) -> R<Group> {
        let m = self.m();
        let (p, r) = m
            .stacks
            .get(group_stack)
            .and_then(|s| s.parent.clone())
            .ok_or("no group")?;
        m.stacks
            .get(&p)
            .and_then(|s| s.resources.get(&r))
            .and_then(|r| r.group.clone())
            .ok_or_else(|| "no group".into())
    }

    fn replaced(&self, stack: &str, name: &str, physical: &str) {
        if let Some(r) = self
            .m()
            .stacks
            .get_mut(stack)
            .and_then(|s| s.resources.get_mut(name))
        {
            r.physical_id = physical.to_string();
            r.action = "UPDATE".into();
            r.status = "COMPLETE".into();
            r.reason = "state changed".into();
            r.updated = Some(util::now());
        }
    }

    // ------------------------------------------------------------------ views

    /// Raw Neutron port object.
    pub fn port_json(&self, m: &Model, p: &Port) -> Value {
        let host = m
            .servers
            .get(&p.device_id)
            .map(|s| s.compute_host.clone())
            .unwrap_or_default();
        json!({
            "id": p.id, "name": p.name, "network_id": p.network_id,
            "tenant_id": p.project_id, "project_id": p.project_id,
            "mac_address": p.mac, "admin_state_up": true,
            "status": if p.device_id.is_empty() { "DOWN" } else { "ACTIVE" },
            "device_id": p.device_id, "device_owner": p.device_owner,
            "fixed_ips": [{"subnet_id": p.subnet_id, "ip_address": p.ip.to_string()}],
            "allowed_address_pairs": p.allowed_address_pairs,
            "security_groups": [], "binding:vnic_type": "normal", "binding:host_id": host,
            "port_security_enabled": true, "extra_dhcp_opts": [], "dns_name": "",
            "description": "", "tags": [], "revision_number": 1,
            "created_at": iso(p.created), "updated_at": iso(p.created)
        })
    }

    /// Raw Nova server object (admin view).
    pub fn server_json(&self, m: &Model, s: &Server) -> Value {
        let mut addresses = Map::new();
        for p in s.ports.iter().filter_map(|p| m.ports.get(p)) {
            let net = self.network_name(&p.network_id);
            let entry = json!({"version": 4, "addr": p.ip.to_string(), "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": p.mac});
            match addresses.get_mut(&net).and_then(Value::as_array_mut) {
                Some(a) => a.push(entry),
                None => {
                    addresses.insert(net, json!([entry]));
                }
            }
        }
        let vols: Vec<Value> = m
            .volumes
            .values()
            .filter(|v| v.attachment.as_ref().is_some_and(|a| a.0 == s.id))
            .map(|v| json!({"id": v.id, "delete_on_termination": false}))
            .collect();
        let idx = m.servers.get_index_of(&s.id).unwrap_or(0) + 1;
        json!({
            "id": s.id, "name": s.name, "status": "ACTIVE",
            "tenant_id": s.project_id, "user_id": self.user_id,
            "created": iso(s.created), "updated": iso(s.created),
            "hostId": util::hex_id()[..28].to_string(),
            "image": {"id": s.image, "links": []}, "flavor": {"id": s.flavor, "links": []},
            "addresses": addresses,
            "accessIPv4": "", "accessIPv6": "", "key_name": null, "metadata": {}, "progress": 0,
            "config_drive": "", "links": [{"rel": "self", "href": format!("{}/compute/v2.1/servers/{}", self.base, s.id)}],
            "security_groups": [{"name": "default"}],
            "OS-EXT-SRV-ATTR:host": s.compute_host,
            "OS-EXT-SRV-ATTR:hypervisor_hostname": s.compute_host,
            "OS-EXT-SRV-ATTR:instance_name": format!("instance-{idx:08x}"),
            "OS-EXT-STS:vm_state": "active", "OS-EXT-STS:power_state": 1, "OS-EXT-STS:task_state": null,
            "OS-EXT-AZ:availability_zone": "nova", "OS-DCF:diskConfig": "MANUAL",
            "OS-SRV-USG:launched_at": iso(s.created), "OS-SRV-USG:terminated_at": null,
            "os-extended-volumes:volumes_attached": vols,
            "server_groups": s.server_group.iter().collect::<Vec<_>>()
        })
    }

    /// Raw Cinder volume object.
    pub fn volume_json(&self, m: &Model, v: &Vol) -> Value {
        let attachments: Vec<Value> = v
            .attachment
            .iter()
            .map(|(sid, dev, aid)| {
                let host = m
                    .servers
                    .get(sid)
                    .map(|s| s.compute_host.clone())
                    .unwrap_or_default();
                json!({"id": v.id, "attachment_id": aid, "server_id": sid, "device": dev,
                       "volume_id": v.id, "host_name": host, "attached_at": iso(v.created)})
            })
            .collect();
        json!({
            "id": v.id, "name": v.name, "size": v.size_gb,
            "status": if attachments.is_empty() { "available" } else { "in-use" },
            "attachments": attachments, "availability_zone": "nova", "bootable": "false",
            "encrypted": false, "multiattach": false, "volume_type": "lvmdriver-1",
            "metadata": {}, "description": null, "snapshot_id": null, "source_volid": null,
            "os-vol-tenant-attr:tenant_id": v.project_id, "user_id": self.user_id,
            "created_at": iso(v.created), "updated_at": iso(v.created),
            "links": [{"rel": "self", "href": format!("{}/volume/v3/{}/volumes/{}", self.base, v.project_id, v.id)}]
        })
    }

    /// Network name for `addresses` (configured names, else the id as given).
    pub fn network_name(&self, id: &str) -> String {
        self.cfg
            .network_names
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    /// Heat resource attributes (`get_attr` and resource show), by resource.
    pub fn attributes(&self, m: &Model, st: &Stack, r: &Resource) -> Map<String, Value> {
        let mut a = Map::new();
        let pid = &r.physical_id;
        match r.rtype.as_str() {
            "OS::Neutron::Port" => {
                if let Some(p) = m.ports.get(pid) {
                    let raw = self.port_json(m, p);
                    for k in [
                        "fixed_ips",
                        "mac_address",
                        "network_id",
                        "device_id",
                        "device_owner",
                        "name",
                        "allowed_address_pairs",
                        "status",
                        "admin_state_up",
                        "tenant_id",
                        "security_groups",
                    ] {
                        a.insert(k.into(), raw[k].clone());
                    }
                    a.insert(
                        "subnets".into(),
                        json!([{"id": p.subnet_id, "cidr": self.cidr(), "ip_version": 4}]),
                    );
                    a.insert("show".into(), raw);
                }
            }
            "OS::Nova::Server" => {
                if let Some(s) = m.servers.get(pid) {
                    let raw = self.server_json(m, s);
                    let nets: Map<String, Value> = raw["addresses"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                json!(
                                    v.as_array()
                                        .into_iter()
                                        .flatten()
                                        .map(|e| e["addr"].clone())
                                        .collect::<Vec<_>>()
                                ),
                            )
                        })
                        .collect();
                    let first = s
                        .ports
                        .first()
                        .and_then(|p| m.ports.get(p))
                        .map(|p| p.ip.to_string())
                        .unwrap_or_default();
                    a.insert("addresses".into(), raw["addresses"].clone());
                    a.insert("networks".into(), Value::Object(nets));
                    a.insert("first_address".into(), json!(first));
                    a.insert("name".into(), json!(s.name));
                    a.insert(
                        "instance_name".into(),
                        raw["OS-EXT-SRV-ATTR:instance_name"].clone(),
                    );
                    a.insert("accessIPv4".into(), json!(first));
                    a.insert("accessIPv6".into(), json!(""));
                    a.insert("console_urls".into(), json!({}));
                    a.insert("OS-EXT-SRV-ATTR:host".into(), json!(s.compute_host));
                    a.insert("show".into(), raw);
                }
            }
            "OS::Cinder::Volume" => {
                if let Some(v) = m.volumes.get(pid) {
                    let raw = self.volume_json(m, v);
                    for k in [
                        "size",
                        "status",
                        "bootable",
                        "encrypted",
                        "metadata",
                        "availability_zone",
                        "volume_type",
                        "created_at",
                        "attachments",
                    ] {
                        a.insert(k.into(), raw[k].clone());
                    }
                    a.insert("attachments_list".into(), raw["attachments"].clone());
                    a.insert("display_name".into(), json!(v.name));
                    a.insert("show".into(), raw);
                }
            }
            "OS::Neutron::FloatingIP" => {
                if let Some(f) = m.floating_ips.get(pid) {
                    let fixed = f
                        .port_id
                        .as_ref()
                        .and_then(|p| m.ports.get(p))
                        .map(|p| p.ip.to_string());
                    let raw = json!({"id": f.id, "floating_ip_address": f.address.to_string(),
                        "fixed_ip_address": fixed, "floating_network_id": f.network_id, "port_id": f.port_id,
                        "router_id": null, "status": if f.port_id.is_some() { "ACTIVE" } else { "DOWN" },
                        "tenant_id": f.project_id, "project_id": f.project_id});
                    for k in [
                        "floating_ip_address",
                        "fixed_ip_address",
                        "floating_network_id",
                        "port_id",
                        "router_id",
                    ] {
                        a.insert(k.into(), raw[k].clone());
                    }
                    a.insert("show".into(), raw);
                }
            }
            "OS::Heat::ScalingPolicy" => {
                let url = format!(
                    "{}/stacks/{}/{}/resources/{}/signal",
                    self.heat_url(),
                    st.name,
                    st.id,
                    r.name
                );
                a.insert("signal_url".into(), json!(url));
                a.insert("alarm_url".into(), json!(url));
            }
            "OS::Heat::AutoScalingGroup" => {
                let members: Vec<&Resource> = r
                    .nested
                    .as_ref()
                    .and_then(|n| m.stacks.get(n))
                    .map(|s| s.resources.values().collect())
                    .unwrap_or_default();
                a.insert("current_size".into(), json!(members.len()));
                a.insert(
                    "refs".into(),
                    json!(
                        members
                            .iter()
                            .map(|x| x.physical_id.clone())
                            .collect::<Vec<_>>()
                    ),
                );
                a.insert(
                    "refs_map".into(),
                    Value::Object(
                        members
                            .iter()
                            .map(|x| (x.name.clone(), json!(x.physical_id)))
                            .collect(),
                    ),
                );
                a.insert("outputs".into(), json!({}));
                a.insert("outputs_list".into(), json!([]));
            }
            "OS::Nova::ServerGroup" => {
                if let Some(g) = m.server_groups.get(pid) {
                    a.insert(
                        "show".into(),
                        json!({"id": g.id, "name": g.name, "policies": g.policies,
                               "policy": g.policies.first(), "rules": {}, "members": g.members,
                               "metadata": {}, "project_id": g.project_id}),
                    );
                }
            }
            _ => {
                if let Some(ns) = r.nested.as_ref().and_then(|n| m.stacks.get(n)) {
                    for (k, o) in ns
                        .template
                        .get("outputs")
                        .and_then(Value::as_object)
                        .into_iter()
                        .flatten()
                    {
                        if let Some(v) = o.get("value")
                            && let Ok(x) = template::eval(
                                v,
                                &EvalCtx {
                                    emu: self,
                                    m,
                                    stack: ns,
                                },
                            )
                        {
                            a.insert(k.clone(), x);
                        }
                    }
                }
            }
        }
        a
    }

    /// Resource-show `attributes`: Heat returns the underlying API object for resources
    /// with a `show` attribute, the schema attributes otherwise.
    pub fn show_attributes(&self, m: &Model, st: &Stack, r: &Resource) -> Map<String, Value> {
        // Heat's resource show resolves every attribute of the type (`subnets`, `show`,
        // …); the raw object's fields come along for the attributes not modelled here.
        let a = self.attributes(m, st, r);
        match a.get("show") {
            Some(Value::Object(raw)) => {
                let mut all = raw.clone();
                all.extend(a);
                all
            }
            _ => a,
        }
    }

    /// The lab subnet in CIDR form.
    pub fn cidr(&self) -> String {
        let (b, p) = self.lab.subnet();
        format!("{b}/{p}")
    }
}

fn requested_ip(v: Option<&Value>) -> R<Option<Ipv4Addr>> {
    let Some(Value::Array(a)) = v else {
        return Ok(None);
    };
    if a.len() > 1 {
        return Err("more than one fixed IP per port is not emulated".into());
    }
    match a.first().and_then(|e| e.get("ip_address")) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => s.parse().map(Some).map_err(|_| {
            format!("Invalid input for ip_address: {s:?} is not a valid IPv4 address")
        }),
        Some(other) => Err(format!("Invalid input for ip_address: {other}")),
    }
}

fn nested_params(tpl: &Value, props: &Value) -> R<Map<String, Value>> {
    let decl = tpl
        .get("parameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let given = props.as_object().cloned().unwrap_or_default();
    for k in given.keys() {
        if !decl.contains_key(k) {
            return Err(format!("Unknown Property {k}"));
        }
    }
    let mut out = Map::new();
    for (k, d) in &decl {
        match given.get(k).or_else(|| d.get("default")) {
            Some(v) => {
                out.insert(k.clone(), v.clone());
            }
            None => return Err(format!("Property {k} not assigned")),
        }
    }
    Ok(out)
}

/// Evaluation context of one stack.
pub(crate) struct EvalCtx<'a> {
    pub emu: &'a Emu,
    pub m: &'a Model,
    pub stack: &'a Stack,
}

impl Ctx for EvalCtx<'_> {
    fn param(&self, name: &str) -> Result<Value, String> {
        match name {
            "OS::stack_name" => Ok(json!(self.stack.name)),
            "OS::stack_id" => Ok(json!(self.stack.id)),
            "OS::project_id" => Ok(json!(self.emu.project_id)),
            _ => self
                .stack
                .params
                .get(name)
                .cloned()
                .or_else(|| {
                    self.stack
                        .template
                        .pointer(&format!("/parameters/{name}/default"))
                        .cloned()
                })
                .ok_or_else(|| format!("The Parameter ({name}) was not provided.")),
        }
    }

    fn resource_ref(&self, name: &str) -> Result<Value, String> {
        let r = self
            .stack
            .resources
            .get(name)
            .ok_or_else(|| format!("The specified reference \"{name}\" is incorrect."))?;
        if r.physical_id.is_empty() {
            return Err(format!("resource {name} is not created yet"));
        }
        Ok(json!(r.physical_id))
    }

    fn attr(&self, resource: &str, attr: &str) -> Result<Value, String> {
        let r = self
            .stack
            .resources
            .get(resource)
            .ok_or_else(|| format!("The specified reference \"{resource}\" is incorrect."))?;
        self.emu
            .attributes(self.m, self.stack, r)
            .remove(attr)
            .ok_or_else(|| format!("The Referenced Attribute ({resource} {attr}) is incorrect."))
    }
}
