"""Type stubs of the compiled module. Use the wrappers in ``vnf_mgmt`` instead."""

from typing import Any, Callable, Dict, List, Optional, Tuple, Union

__version__: str
__all__ = [
    "__version__",
    "validate",
    "_validate_timing",
    "generate_hot",
    "plan",
    "_run",
    "all_codes",
    "_class_for_code",
    "_emit_log",
    "ClusterAccess",
    "Secret",
]

def validate(package: str, request: Optional[str] = None,
             verify_digests: bool = True) -> Dict[str, Any]: ...
def _validate_timing(package: str, request: Optional[str] = None, n: int = 100,
                     verify_digests: bool = True) -> float: ...
def generate_hot(package: str, request: str, flavour: Optional[str] = None,
                 level: Optional[str] = None) -> Dict[str, Any]: ...
def plan(operation: str, package: str, request: str, inventory: str, vnf_instance_id: str,
         verify_digests: bool = False, *, targets: Optional[List[str]] = None,
         install_cluster: bool = False, runtime: str = "kubeadm", cni: Optional[str] = None,
         cni_manifest: Optional[str] = None, drain: bool = False,
         register_pvs: bool = True) -> Dict[str, Any]: ...
def all_codes() -> List[Tuple[str, str]]: ...
def _class_for_code(code: str) -> str: ...
def _emit_log(level: str, target: str, message: str) -> None: ...
def _run(package: str, request: str, vnf_instance_id: str, *,
         operation: str = "instantiate", targets: Optional[List[str]] = None,
         install_cluster: bool = False, runtime: str = "kubeadm", cni: Optional[str] = None,
         cni_manifest: Optional[str] = None, drain: bool = False,
         export_access: bool = True, kube_timeout: int = 150,
         inventory: Optional[str] = None, os_cloud: Optional[str] = None,
         stack: Optional[str] = None, known_hosts: Optional[str] = None,
         trust_on_first_use: bool = False, state_dir: Optional[str] = None,
         events: Optional[Callable[[Dict[str, Any]], Any]] = None, register_pvs: bool = True,
         max_parallel: int = 8, connect_timeout: int = 20, attempts: int = 3,
         replace_volumes: bool = False, rebuild_timeout: int = 1800) -> Dict[str, Any]: ...

class Secret:
    """A secret string: ``repr``/``str`` are ``***``."""
    def __init__(self, value: str) -> None: ...
    def reveal(self) -> str: ...

class ClusterAccess:
    """Access to an installed cluster; ``repr`` never shows the token."""
    def __init__(self, endpoint: str, ca_cert_pem: str, bearer_token: Union[str, Secret],
                 namespace: str = "kube-system", service_account: str = "vnf-mgmt") -> None: ...
    @property
    def endpoint(self) -> str: ...
    @property
    def ca_cert_pem(self) -> str: ...
    @property
    def bearer_token(self) -> Secret: ...
    @property
    def namespace(self) -> str: ...
    @property
    def service_account(self) -> str: ...
    def vim_connection_info(self, vim_id: str) -> Dict[str, Any]: ...
    def kubeconfig(self, name: str = "kubernetes") -> str: ...
    def write_kubeconfig(self, path: str, name: str = "kubernetes") -> None: ...
