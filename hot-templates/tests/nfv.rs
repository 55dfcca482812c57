//! The `nfv` parameter, from the description of Tacker's UserData
//! (`create_vdu_flavor_capability_name_dict`, `create_sw_image_dict`,
//! `create_network_dict`, `create_final_param_dict`).

mod common;

use hot_templates::{codes, nfv_parameters};
use serde_json::{Value, json};
use vnf_package::request::InstantiateVnfRequest;

fn req(value: Value) -> InstantiateVnfRequest {
    serde_json::from_value(value).expect("request parses")
}

/// The seed request with the storage CP's extCp replaced by `ext_cp`.
fn with_storage_cp(ext_cp: Value) -> InstantiateVnfRequest {
    let mut r = common::request_json("simple", "masterNode_CP1");
    r["extVirtualLinks"][2]["extCps"][0] = ext_cp;
    req(r)
}

#[test]
fn seed_request_gives_tacker_shape() {
    let fl = common::flavour("simple", false);
    let nfv = nfv_parameters(&fl, &common::simple_request()).expect("nfv");
    // What KubernetesClusterUserData.instantiate returns for the same package and request.
    let expected = json!({
        "VDU": {
            "masterNode": {"flavor": "m1.medium", "image": "Image for masterNode kubernetes"},
            "workerNode": {"flavor": "m1.medium", "image": "Image for workerNode kubernetes"},
            "storage_server": {"flavor": "m1.medium", "image": "Image for storage server"}
        },
        "CP": {
            "masterNode_CP1": {"network": common::NET, "fixed_ips": []},
            "workerNode_CP2": {"network": common::NET, "fixed_ips": []},
            "storage_server_CP": {"network": common::NET, "fixed_ips": []}
        }
    });
    assert_eq!(nfv, expected);
}

#[test]
fn fixed_address_and_subnet() {
    let fl = common::flavour("simple", false);
    let r = with_storage_cp(json!({
        "cpdId": "storage_server_CP",
        "cpConfig": [{"cpProtocolData": [{
            "layerProtocol": "IP_OVER_ETHERNET",
            "ipOverEthernet": {"ipAddresses": [
                {"type": "IPV4", "fixedAddresses": ["10.10.0.45"], "subnetId": "subnet-uuid"}
            ]}
        }]}]
    }));
    let nfv = nfv_parameters(&fl, &r).expect("nfv");
    assert_eq!(
        nfv["CP"]["storage_server_CP"]["fixed_ips"],
        json!([{"ip_address": "10.10.0.45", "subnet": "subnet-uuid"}])
    );
}

#[test]
fn last_of_fixed_addresses_wins_and_subnet_only_entries_count() {
    let fl = common::flavour("simple", false);
    let r = with_storage_cp(json!({
        "cpdId": "storage_server_CP",
        "cpConfig": [{"cpProtocolData": [{
            "layerProtocol": "IP_OVER_ETHERNET",
            "ipOverEthernet": {"ipAddresses": [
                {"type": "IPV4", "fixedAddresses": ["10.0.0.1", "10.0.0.2", "10.0.0.3"]},
                {"type": "IPV4", "subnetId": "only-subnet"},
                {"type": "IPV4", "numDynamicAddresses": 1}
            ]}
        }]}]
    }));
    let nfv = nfv_parameters(&fl, &r).expect("nfv");
    assert_eq!(
        nfv["CP"]["storage_server_CP"]["fixed_ips"],
        json!([{"ip_address": "10.0.0.3"}, {"subnet": "only-subnet"}])
    );
}

#[test]
fn layer_protocol_only_gives_empty_fixed_ips() {
    let fl = common::flavour("simple", false);
    let r = with_storage_cp(json!({
        "cpdId": "storage_server_CP",
        "cpConfig": [{"cpProtocolData": [{"layerProtocol": "IP_OVER_ETHERNET"}]}]
    }));
    let nfv = nfv_parameters(&fl, &r).expect("nfv");
    assert_eq!(nfv["CP"]["storage_server_CP"]["fixed_ips"], json!([]));
}

#[test]
fn cp_config_as_a_map_is_read_too() {
    let fl = common::flavour("simple", false);
    let r = with_storage_cp(json!({
        "cpdId": "storage_server_CP",
        "cpConfig": {"c1": {"cpProtocolData": [{
            "layerProtocol": "IP_OVER_ETHERNET",
            "ipOverEthernet": {"ipAddresses": [{"type": "IPV4", "fixedAddresses": ["10.0.0.9"]}]}
        }]}}
    }));
    let nfv = nfv_parameters(&fl, &r).expect("nfv");
    assert_eq!(
        nfv["CP"]["storage_server_CP"]["fixed_ips"],
        json!([{"ip_address": "10.0.0.9"}])
    );
}

#[test]
fn cp_missing_from_request_is_an_error_naming_it() {
    let fl = common::flavour("simple", false);
    let mut r = common::request_json("simple", "masterNode_CP1");
    r["extVirtualLinks"]
        .as_array_mut()
        .expect("array")
        .remove(1);
    let e = nfv_parameters(&fl, &req(r)).expect_err("must fail");
    assert_eq!(e.code(), codes::REQUEST_CP_MISSING);
    assert!(e.to_string().contains("`workerNode_CP2`"), "{e}");
}

#[test]
fn unknown_flavor_and_image_are_null() {
    let mut fl = common::flavour("simple", false);
    let v = fl.vdus.get_mut("workerNode").expect("worker");
    v.flavor_name = None;
    v.sw_image = None;
    let nfv = nfv_parameters(&fl, &common::simple_request()).expect("nfv");
    assert_eq!(
        nfv["VDU"]["workerNode"],
        json!({"flavor": null, "image": null})
    );
}

#[test]
fn a_later_ext_virtual_link_for_the_same_cp_replaces_the_earlier() {
    let fl = common::flavour("simple", false);
    let mut r = common::request_json("simple", "masterNode_CP1");
    r["extVirtualLinks"]
        .as_array_mut()
        .expect("array")
        .push(json!({
            "id": "other", "resourceId": "net-2",
            "extCps": [{"cpdId": "masterNode_CP1", "cpConfig": []}]
        }));
    let nfv = nfv_parameters(&fl, &req(r)).expect("nfv");
    assert_eq!(nfv["CP"]["masterNode_CP1"]["network"], "net-2");
}
