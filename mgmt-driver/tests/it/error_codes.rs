//! The checked-in error-code catalogue matches the codes the code can emit.
//! Regenerate with `VNF_MGMT_BLESS=1 cargo test -p mgmt-driver --test it error_codes`.

use crate::util::repo_root;

#[test]
fn docs_error_codes_md_is_current() {
    let expected = mgmt_driver::validate::error_code_catalogue();
    let path = repo_root().join("docs/error-codes.md");
    if std::env::var_os("VNF_MGMT_BLESS").is_some() {
        std::fs::write(&path, &expected).expect("write docs/error-codes.md");
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "docs/error-codes.md is out of date; regenerate it with:\n  \
         VNF_MGMT_BLESS=1 cargo test -p mgmt-driver --test it error_codes\n\
         expected content:\n{expected}"
    );
}
