//! The `vnf_mgmt._vnf_mgmt` extension module: a thin PyO3 layer over mgmt-driver.

use pyo3::prelude::*;

#[pymodule]
fn _vnf_mgmt(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
