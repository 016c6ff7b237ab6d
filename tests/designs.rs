//! The five current designs of issue 22 (architectures/synthetic-only/conformer_two_tower.avc,
//! gated_fusion.avc, bilinear.avc, xattn_tcn.avc, audio_2x.avc) are no longer in the DSL
//! than in PyTorch: each file's lines of code are at most those of its hand-written torch.nn
//! twin (tests/python/design_twins.py, which tests/export.rs checks against avc's outputs),
//! and docs/language.md's table states exactly these counts.

use std::collections::BTreeMap;
use std::process::Command;

/// The designs, as file stems in architectures/ and model names in design_twins.py.
pub const DESIGNS: [&str; 5] = ["conformer_two_tower", "gated_fusion", "bilinear", "xattn_tcn", "audio_2x"];

const SECTION: &str = "## Five current designs, in avc and in PyTorch";

/// Lines of code of a `.avc` file: no blank lines, no comment lines, and not the
/// `train { ... }` block (training settings, which a torch.nn module does not hold either).
fn dsl_lines(text: &str) -> usize {
    let mut count = 0;
    let mut depth = 0usize; // braces open inside the `train` block, 0 outside it
    for line in text.lines().map(str::trim) {
        if depth == 0 && (line.starts_with("train {") || line == "train{") {
            depth = 1;
            continue;
        }
        if depth > 0 {
            depth += line.matches('{').count();
            depth -= line.matches('}').count().min(depth);
            continue;
        }
        if !line.is_empty() && !line.starts_with('#') {
            count += 1;
        }
    }
    count
}

/// Each twin's lines of code, as `design_twins.py lines` counts them (its classes and
/// helpers, no blank lines, comments or docstrings).
fn twin_lines() -> BTreeMap<String, usize> {
    let python = crate::venv_python();
    assert!(python.exists(), "{} is missing: run scripts/libtorch.sh", python.display());
    let out = Command::new(&python).args(["tests/python/design_twins.py", "lines"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "design_twins.py lines failed:\n{text}{}", String::from_utf8_lossy(&out.stderr));
    text.lines()
        .map(|l| {
            let (name, n) = l.split_once(' ').unwrap_or_else(|| panic!("not `NAME COUNT`: {l:?}"));
            (name.to_string(), n.trim().parse().unwrap_or_else(|_| panic!("not a count: {l:?}")))
        })
        .collect()
}

/// docs/language.md's table in the section above: design -> (avc lines, PyTorch twin lines).
fn documented() -> BTreeMap<String, (usize, usize)> {
    let doc = std::fs::read_to_string("docs/language.md").unwrap();
    let start = doc.find(SECTION).unwrap_or_else(|| panic!("docs/language.md has no section {SECTION:?}"));
    let section = &doc[start + SECTION.len()..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    let mut rows = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let name = cells[0].trim_matches('`').trim_end_matches(".avc").to_string();
        let number = |i: usize| cells[i].parse::<usize>().unwrap_or_else(|_| panic!("not a count: {line}"));
        assert!(rows.insert(name, (number(1), number(2))).is_none(), "a design twice: {line}");
    }
    rows
}

#[test]
fn each_design_is_no_longer_in_avc_than_its_pytorch_twin_and_the_docs_say_so() {
    let twins = twin_lines();
    let mut measured = BTreeMap::new();
    for design in DESIGNS {
        let text = std::fs::read_to_string(crate::architecture_path(&format!("{design}.avc"))).unwrap();
        let (dsl, twin) = (dsl_lines(&text), twins[design]);
        println!("{design}: avc {dsl} lines, PyTorch twin {twin}");
        assert!(dsl <= twin, "{design}: {dsl} lines in avc, {twin} in its PyTorch twin");
        measured.insert(design.to_string(), (dsl, twin));
    }
    assert_eq!(twins.len(), DESIGNS.len(), "design_twins.py has other twins: {twins:?}");
    assert_eq!(documented(), measured, "docs/language.md's table ({SECTION:?}) is stale");
}

#[test]
fn dsl_lines_skip_blanks_comments_and_the_train_block() {
    let text = "# a comment\ninput video: [T, 4]\n\n  # indented comment\nh = linear(video, out: 1)  # trailing\n\
        train {\n    epochs: 2\n    nested: {a: 1}\n}\noutput o: logit(h)\n";
    assert_eq!(dsl_lines(text), 3);
}
