//! openstack-emu: Keystone v3, Heat v1 and the Nova/Neutron/Cinder reads vnf-mgmt makes,
//! deploying generated HOT onto vnf-lab hosts and volumes.
//!
//! Test infrastructure only; nothing in the product depends on it.
