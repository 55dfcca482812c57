//! mgmt-driver: the VNF LCM management driver for a Kubernetes-cluster VNF on OpenStack.
//!
//! Data flows one way: package → validated model ([`validate`]) → HOT ([`hot`]) →
//! discovered topology → plan → executors. Only executors touch the network; a plan is
//! plain data and can be printed as a dry run.
//!
//! The `vnf-mgmt` binary (feature `cli`) is a thin layer over this library.

pub mod clouds;
pub mod cluster;
pub(crate) mod cluster_config;
pub(crate) mod cluster_plan;
pub mod driver;
pub mod events;
pub mod exec;
pub mod hot;
pub mod inventory;
pub mod journal;
pub mod kube;
pub mod openstack;
pub mod plan;
pub mod planner;
pub mod scripts;
pub mod secret;
pub mod topology;
pub mod validate;
