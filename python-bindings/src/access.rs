//! The cluster access an install exports, as Python objects that never print the token.
//!
//! `ClusterAccess` wraps [`mgmt_driver::kube::ClusterAccess`]; its `bearer_token` is a
//! `Secret` whose `repr`/`str` are `***` (the value only through `reveal()`). The VIM
//! registration data and the kubeconfig carry the token, as the orchestrator needs it.
//! Neither class can be pickled (no `__reduce__`), so a token does not leave the process
//! by accident.

use pyo3::prelude::*;

/// A secret string: `repr`/`str` show `***`; `reveal()` returns the value.
#[pyclass(module = "vnf_mgmt._vnf_mgmt", name = "Secret", frozen)]
pub struct PySecret(mgmt_driver::secret::Secret);

#[pymethods]
impl PySecret {
    #[new]
    fn new(value: String) -> Self {
        PySecret(mgmt_driver::secret::Secret::new(value))
    }

    /// The value (for the one place that must send it).
    fn reveal(&self) -> String {
        self.0.expose().to_string()
    }

    fn __repr__(&self) -> String {
        format!("Secret('{}')", mgmt_driver::secret::REDACTED)
    }

    fn __str__(&self) -> String {
        mgmt_driver::secret::REDACTED.to_string()
    }

    /// Equal to another `Secret` with the same value (compared in constant time for
    /// equal lengths). Not hashable: a hash of the value would leak it.
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<PySecret>().is_ok_and(|o| {
            let (a, b) = (self.0.expose().as_bytes(), o.get().0.expose().as_bytes());
            a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
        })
    }
}

/// Access to an installed cluster: API endpoint, CA certificate and a ServiceAccount
/// token (a `Secret`).
#[pyclass(module = "vnf_mgmt._vnf_mgmt", name = "ClusterAccess", frozen)]
pub struct PyClusterAccess(pub mgmt_driver::kube::ClusterAccess);

#[pymethods]
impl PyClusterAccess {
    #[new]
    #[pyo3(signature = (endpoint, ca_cert_pem, bearer_token, namespace="kube-system", service_account="vnf-mgmt"))]
    fn new(
        endpoint: String,
        ca_cert_pem: String,
        bearer_token: &Bound<'_, PyAny>,
        namespace: &str,
        service_account: &str,
    ) -> PyResult<Self> {
        let token = match bearer_token.cast::<PySecret>() {
            Ok(s) => s.get().0.clone(),
            Err(_) => mgmt_driver::secret::Secret::new(bearer_token.extract::<String>()?),
        };
        Ok(PyClusterAccess(mgmt_driver::kube::ClusterAccess {
            endpoint,
            ca_cert_pem,
            bearer_token: token,
            namespace: namespace.to_string(),
            service_account: service_account.to_string(),
        }))
    }

    /// API endpoint, `https://host:port`.
    #[getter]
    fn endpoint(&self) -> &str {
        &self.0.endpoint
    }

    /// The cluster CA certificate (PEM).
    #[getter]
    fn ca_cert_pem(&self) -> &str {
        &self.0.ca_cert_pem
    }

    /// The ServiceAccount token, as a `Secret`.
    #[getter]
    fn bearer_token(&self) -> PySecret {
        PySecret(self.0.bearer_token.clone())
    }

    /// Namespace of the ServiceAccount.
    #[getter]
    fn namespace(&self) -> &str {
        &self.0.namespace
    }

    /// Name of the ServiceAccount.
    #[getter]
    fn service_account(&self) -> &str {
        &self.0.service_account
    }

    /// Tacker v1's `VimConnectionInfo` fields (`id`, `vim_id`, `vim_type`, `access_info`
    /// with `auth_url`/`bearer_token`/`ssl_ca_cert`, `interface_info`, `extra`).
    fn vim_connection_info<'py>(
        &self,
        py: Python<'py>,
        vim_id: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        crate::convert::value(py, &self.0.vim_connection_info(vim_id))
    }

    /// A kubeconfig (YAML) with one cluster, user (the token) and context named `name`.
    #[pyo3(signature = (name="kubernetes"))]
    fn kubeconfig(&self, name: &str) -> String {
        self.0.kubeconfig_yaml(name)
    }

    /// Writes the kubeconfig to `path` with mode 0600 from the start (not through a
    /// symbolic link).
    #[pyo3(signature = (path, name="kubernetes"))]
    fn write_kubeconfig(
        &self,
        py: Python<'_>,
        path: std::path::PathBuf,
        name: &str,
    ) -> PyResult<()> {
        py.detach(|| self.0.write_kubeconfig(&path, name))
            .map_err(PyErr::from)
    }

    fn __repr__(&self) -> String {
        format!(
            "ClusterAccess(endpoint={:?}, namespace={:?}, service_account={:?}, bearer_token=Secret('{}'))",
            self.0.endpoint,
            self.0.namespace,
            self.0.service_account,
            mgmt_driver::secret::REDACTED
        )
    }
}
