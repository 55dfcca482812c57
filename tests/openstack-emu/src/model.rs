//! The emulator's state: stacks and their resources, and the Nova/Neutron/Cinder objects
//! they stand for.

use indexmap::IndexMap;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;
use time::OffsetDateTime;

/// Everything the emulator knows. Guarded by one mutex, never held across lab calls.
#[derive(Default)]
pub(crate) struct Model {
    pub stacks: IndexMap<String, Stack>,
    pub ports: IndexMap<String, Port>,
    pub servers: IndexMap<String, Server>,
    pub volumes: IndexMap<String, Vol>,
    pub server_groups: IndexMap<String, ServerGroup>,
    pub floating_ips: IndexMap<String, FloatingIp>,
    pub tokens: HashMap<String, Token>,
    /// Monotonic counter: creation order of resources and host name suffixes.
    pub seq: u64,
}

impl Model {
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// The live (not deleted) stack with this name or id.
    pub fn find_stack(&self, name_or_id: &str) -> Option<&Stack> {
        self.stacks.get(name_or_id).or_else(|| {
            self.stacks
                .values()
                .find(|s| s.name == name_or_id && !s.deleted)
        })
    }
}

/// An issued token.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub expires: OffsetDateTime,
    pub project_id: Option<String>,
    pub body: Value,
}

/// A Heat stack (top or nested).
#[derive(Debug, Clone)]
pub(crate) struct Stack {
    pub id: String,
    pub name: String,
    pub action: String,
    pub status: String,
    pub reason: String,
    pub template: Value,
    /// Nested templates (parsed), shared by a stack tree.
    pub files: Arc<BTreeMap<String, Value>>,
    /// Raw files as received (for `GET …/files`).
    pub raw_files: Arc<Map<String, Value>>,
    pub params: Map<String, Value>,
    /// `(parent stack id, resource name)` for nested stacks.
    pub parent: Option<(String, String)>,
    pub resources: IndexMap<String, Resource>,
    pub created: OffsetDateTime,
    pub updated: Option<OffsetDateTime>,
    pub deleted: bool,
}

impl Stack {
    pub fn status_str(&self) -> String {
        format!("{}_{}", self.action, self.status)
    }
}

/// One resource of a stack.
#[derive(Debug, Clone)]
pub(crate) struct Resource {
    pub name: String,
    pub rtype: String,
    pub physical_id: String,
    pub action: String,
    pub status: String,
    pub reason: String,
    /// The resolved properties it was created with.
    pub props: Value,
    /// Nested stack id (template resources and AutoScalingGroups).
    pub nested: Option<String>,
    pub created: OffsetDateTime,
    pub updated: Option<OffsetDateTime>,
    /// Creation order (scale-in removes the oldest members).
    pub seq: u64,
    /// For AutoScalingGroups: the group's state.
    pub group: Option<Group>,
}

impl Resource {
    pub fn status_str(&self) -> String {
        format!("{}_{}", self.action, self.status)
    }

    pub fn unhealthy(&self) -> bool {
        self.action == "CHECK" && self.status == "FAILED"
    }
}

/// AutoScalingGroup state.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub min: i64,
    pub max: i64,
    pub capacity: i64,
    pub member_type: String,
    pub member_props: Value,
}

/// A Neutron port.
#[derive(Debug, Clone)]
pub(crate) struct Port {
    pub id: String,
    pub name: String,
    pub network_id: String,
    pub subnet_id: String,
    pub ip: Ipv4Addr,
    pub mac: String,
    pub device_id: String,
    pub device_owner: String,
    pub allowed_address_pairs: Vec<Value>,
    pub project_id: String,
    pub created: OffsetDateTime,
}

/// A Nova server, backed by a lab host.
#[derive(Debug, Clone)]
pub(crate) struct Server {
    pub id: String,
    pub name: String,
    pub lab_host: String,
    pub ports: Vec<String>,
    pub image: String,
    pub flavor: String,
    pub compute_host: String,
    pub server_group: Option<String>,
    pub project_id: String,
    pub created: OffsetDateTime,
}

/// A Cinder volume, backed by a lab loop-device volume with the same id.
#[derive(Debug, Clone)]
pub(crate) struct Vol {
    pub id: String,
    pub name: String,
    pub size_gb: u64,
    /// `(server id, device, attachment id)`.
    pub attachment: Option<(String, String, String)>,
    pub project_id: String,
    pub created: OffsetDateTime,
}

/// A Nova server group.
#[derive(Debug, Clone)]
pub(crate) struct ServerGroup {
    pub id: String,
    pub name: String,
    pub policies: Vec<String>,
    pub members: Vec<String>,
    pub project_id: String,
}

/// A Neutron floating IP (1:1 with the port's fixed address; see README).
#[derive(Debug, Clone)]
pub(crate) struct FloatingIp {
    pub id: String,
    pub network_id: String,
    pub port_id: Option<String>,
    pub address: Ipv4Addr,
    pub project_id: String,
}
