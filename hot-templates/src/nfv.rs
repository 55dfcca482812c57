//! The `nfv` stack parameter, computed as Tacker's UserData (`KubernetesClusterUserData`)
//! computes it, so a stack built by Tacker from a BaseHOT and one built from our templates
//! receive the same values.

use crate::error::HotError;
use serde_json::{Map, Value, json};
use vnf_package::request::InstantiateVnfRequest;
use vnf_package::vnfd::Flavour;

/// The value of the `nfv` parameter for every VDU and CP of `flavour`:
///
/// ```text
/// {"VDU": {<vdu>: {"flavor": <requested_additional_capability_name>|null,
///                  "image": <sw_image_data.name>|null}},
///  "CP":  {<cp>: {"network": <extVirtualLinks[].resourceId>,
///                 "fixed_ips": [{"ip_address": <last fixedAddress>, "subnet": <subnetId>}]}}}
/// ```
///
/// For a CP, the `extVirtualLinks[]` entry with an `extCps[].cpdId` equal to the CP gives the
/// network (a later entry for the same CP replaces an earlier one, as in Tacker);
/// `fixed_ips` has one entry per `cpConfig[].cpProtocolData[].ipOverEthernet.ipAddresses[]`
/// carrying a subnet or a fixed address (the last of `fixedAddresses`), empty entries
/// skipped. A CP without an extCp is an error naming it (Tacker fails with a TypeError).
pub fn nfv_parameters(
    flavour: &Flavour,
    request: &InstantiateVnfRequest,
) -> Result<Value, HotError> {
    let mut vdus = Map::new();
    for (name, vdu) in &flavour.vdus {
        vdus.insert(
            name.clone(),
            json!({
                "flavor": vdu.flavor_name,
                "image": vdu.sw_image.as_ref().map(|i| i.name.clone()),
            }),
        );
    }
    let mut cps = Map::new();
    for name in flavour.cps.keys() {
        cps.insert(name.clone(), cp_parameters(name, request)?);
    }
    Ok(json!({ "VDU": vdus, "CP": cps }))
}

/// `{"network": …, "fixed_ips": […]}` for one CP, or [`HotError::RequestCpMissing`].
pub fn cp_parameters(cp: &str, request: &InstantiateVnfRequest) -> Result<Value, HotError> {
    let mut found = None;
    for vl in &request.ext_virtual_links {
        for ext_cp in vl.ext_cps.iter().filter(|c| c.cpd_id == cp) {
            let mut fixed_ips = Vec::new();
            for config in ext_cp.cp_config.iter() {
                for proto in &config.cp_protocol_data {
                    let Some(ipoe) = &proto.ip_over_ethernet else {
                        continue;
                    };
                    for addr in &ipoe.ip_addresses {
                        let mut entry = Map::new();
                        if let Some(last) = addr.fixed_addresses.last() {
                            entry.insert("ip_address".into(), Value::String(last.clone()));
                        }
                        if let Some(subnet) = &addr.subnet_id {
                            entry.insert("subnet".into(), Value::String(subnet.clone()));
                        }
                        if !entry.is_empty() {
                            fixed_ips.push(Value::Object(entry));
                        }
                    }
                }
            }
            found = Some(json!({ "network": vl.resource_id, "fixed_ips": fixed_ips }));
        }
    }
    found.ok_or_else(|| HotError::RequestCpMissing { cp: cp.to_string() })
}
