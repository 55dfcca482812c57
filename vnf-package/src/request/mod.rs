//! The SOL003 instantiate request and the Kubernetes driver's `additionalParams`:
//! typed model ([`model`]), loading with JSON-pointer and line/column locations
//! ([`load()`], [`source`]), the JSON Schema generated from the types ([`json_schema`]),
//! and the checks on their own and against a package ([`check()`]).
//!
//! ```text
//! let src = RequestSource::read(path)?;
//! let mut report = Report::new();
//! let req = request::validate(&src, Some(PackageContext { files: &pkg, vnfd: &vnfd }), &mut report);
//! ```
//!
//! Findings never contain secret values (passwords, proxy credentials, VIM access info);
//! [`InstantiateVnfRequest::redacted`] gives a copy that is safe to log.

pub mod check;
pub mod load;
pub mod model;
mod redact;
pub mod shape;
pub mod source;
pub mod syntax;
#[cfg(test)]
mod tests;

pub use check::{
    PackageContext, PackageFiles, Parts, check, check_local, check_parts, parse_pv, validate,
};
pub use load::{Loaded, load, parse};
pub use model::*;
pub use redact::REDACTED;
pub use source::RequestSource;

/// The JSON Schema (draft 2020-12) of [`InstantiateVnfRequest`], generated from the Rust
/// types. The checked-in copy is `docs/schema/instantiate-request.schema.json`.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(InstantiateVnfRequest);
    serde_json::to_value(&schema).unwrap_or(serde_json::Value::Null)
}

/// [`json_schema`] as the text of the checked-in file (pretty JSON, trailing newline).
pub fn json_schema_text() -> String {
    let mut s = serde_json::to_string_pretty(&json_schema()).unwrap_or_default();
    s.push('\n');
    s
}

pub mod codes {
    //! Finding codes of the request layer.
    crate::codes! {
        /// The request file is not valid JSON.
        JSON_SYNTAX = "request.json.syntax";
        /// The request file is larger than the limit.
        TOO_LARGE = "request.json.too_large";
        /// A required key is missing.
        MISSING_KEY = "request.schema.missing_key";
        /// A key is not allowed here (typo?).
        UNKNOWN_KEY = "request.schema.unknown_key";
        /// A value has the wrong type or is not one of the allowed values.
        INVALID_VALUE = "request.schema.invalid_value";
        /// `flavourId` names no flavour of the VNFD.
        UNKNOWN_FLAVOUR = "request.flavour.unknown";
        /// `instantiationLevelId` names no level of the flavour.
        UNKNOWN_LEVEL = "request.instantiation_level.unknown";
        /// A file named by the request is not in the package.
        FILE_MISSING = "request.file.missing";
        /// A path is not package-relative / not absolute / not normalized as required.
        PATH_INVALID = "request.path.invalid";
        /// A path or name contains shell metacharacters, whitespace or control characters.
        UNSAFE_CHARS = "request.value.unsafe_chars";
        /// A name is empty or not printable (or not a class name).
        NAME_INVALID = "request.name.invalid";
        /// A PV manifest is not YAML, not a v1 PersistentVolume, or lacks a field the driver uses.
        PV_MANIFEST_INVALID = "request.pv.manifest_invalid";
        /// A PV's `spec.nfs.path` is not under any `export_dir`.
        PV_PATH_NOT_EXPORTED = "request.pv.path_not_exported";
        /// Two PV manifests define the same PersistentVolume name.
        PV_DUPLICATE_NAME = "request.pv.duplicate_name";
        /// `pv_registration_params` is given without `storage_server`.
        PV_WITHOUT_STORAGE = "request.pv.without_storage_server";
        /// `storage_server` lacks volumes, exports or PV registrations.
        STORAGE_INCOMPLETE = "request.storage.incomplete";
        /// A volume, mount point or export directory is set up twice (or mounts nest).
        STORAGE_DUPLICATE = "request.storage.duplicate";
        /// A CP name is not a CP of the chosen flavour.
        UNKNOWN_CP = "request.cp.unknown";
        /// `cluster_cp_name` is not a VNFD CP; taken as a HOT-only port (multi-master VIP).
        CP_HOT_ONLY = "request.cp.hot_only";
        /// `aspect_id` is not a scaling aspect of the flavour.
        UNKNOWN_ASPECT = "request.aspect.unknown";
        /// `aspect_id` does not scale the node group's VDU.
        ASPECT_WRONG_VDU = "request.aspect.wrong_vdu";
        /// `volume_resource_id` is not a VirtualBlockStorage of the flavour.
        UNKNOWN_VOLUME = "request.volume.unknown";
        /// `volume_resource_id` is not attached to the storage server VDU.
        VOLUME_NOT_ATTACHED = "request.volume.not_attached";
        /// An `extCps[].cpdId` is not a CP of the flavour.
        EXT_CP_UNKNOWN = "request.ext_cp.unknown";
        /// A CP of the flavour has no `extVirtualLinks` entry (Tacker fails with TypeError).
        EXT_CP_MISSING = "request.ext_cp.missing";
        /// A CIDR does not parse.
        CIDR_INVALID = "request.cidr.invalid";
        /// A CIDR has host bits set; the network address is used.
        CIDR_HOST_BITS = "request.cidr.host_bits";
        /// Pod, service and node networks overlap.
        CIDR_OVERLAP = "request.cidr.overlap";
        /// An `export_dir` is not under any `mount_to`.
        EXPORT_OUTSIDE_MOUNT = "request.nfs.export_outside_mount";
        /// A `mount_to` is `/` or a system directory.
        MOUNT_POINT_INVALID = "request.nfs.mount_point_invalid";
        /// An `export_to` is not a valid /etc/exports client.
        EXPORT_TO_INVALID = "request.nfs.export_to_invalid";
        /// A registry `connection_type` is not 0/1.
        CONNECTION_TYPE = "request.registry.connection_type";
        /// A registry `server` is not `host:port`.
        SERVER_INVALID = "request.registry.server_invalid";
        /// A registry `hosts_string` is not `IP name…`.
        HOSTS_STRING_INVALID = "request.registry.hosts_string_invalid";
        /// A proxy URL is not a valid http(s) URL.
        PROXY_URL_INVALID = "request.proxy.url_invalid";
        /// A `no_proxy` entry is not an IP, CIDR or domain.
        NO_PROXY_INVALID = "request.proxy.no_proxy_invalid";
        /// A user name is not a portable Linux user name.
        USERNAME_INVALID = "request.username.invalid";
        /// A password is empty.
        PASSWORD_EMPTY = "request.password.empty";
        /// A node group has neither a password nor an SSH private key.
        CREDENTIALS_MISSING = "request.credentials.missing";
        /// Only one of `lcm-operation-user-data` / `-class` is given.
        USER_DATA_INCOMPLETE = "request.user_data.incomplete";
        /// The `lcm-operation-user-data` file is not in the package.
        USER_DATA_FILE_MISSING = "request.user_data.file_missing";
    }
}
