//! CLI integration tests: one binary, topic modules.

mod util;

mod error_codes;
mod invalid_samples;
mod kube_ops;
mod lab_cluster;
mod lab_cluster_config;
mod lab_cluster_exec;
mod lab_ha_scripts;
mod lab_heal;
mod lab_instantiate;
mod openstack_cluster;
mod openstack_discovery;
mod openstack_heal;
mod plan_cli;
mod validate_cli;
