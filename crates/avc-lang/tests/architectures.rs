//! Every file in architectures/ compiles without errors or warnings; its summary table
//! is snapshotted, so a change to shapes, parameter counts or costs shows up in review.
//! (That every file trains is the `avc` package's tests/architectures.rs.)

#[test]
fn every_architecture_compiles_and_its_summary_is_stable() {
    crate::at_workspace_root();
    let files = crate::architecture_files();
    assert!(files.len() >= 2, "expected final.yaml and meanpool.yaml at least");
    for path in files {
        let compiled = crate::compile_ok(&path);
        let warnings = compiled.checked.diagnostics();
        assert!(warnings.is_empty(), "{} has warnings: {warnings:?}", path.display());
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().replace('.', "_");
        insta::assert_snapshot!(
            format!("summary_{name}"),
            avc_lang::check::render_table(&compiled.graph, &compiled.checked)
        );
    }
}

/// A Conformer-style block written with the op set of current models (depthwise conv1d
/// with causal padding, GLU, SiLU, RMSNorm, sinusoidal positions): its table shows the
/// shapes, the depthwise conv's `F * kernel` weights and its MACs.
#[test]
fn a_conformer_block_checks_and_its_summary_is_stable() {
    crate::at_workspace_root();
    let compiled = crate::compile_ok(std::path::Path::new("crates/avc-lang/tests/fixtures/ok/conformer.avc"));
    assert!(compiled.checked.diagnostics().is_empty(), "no warnings");
    insta::assert_snapshot!("summary_ok_conformer", avc_lang::check::render_table(&compiled.graph, &compiled.checked));
}
