//! docs/language.md stays in step with the code: the op reference is the registry's own
//! Markdown, and every training setting is documented.

fn language_md() -> String {
    std::fs::read_to_string("docs/language.md").expect("docs/language.md exists")
}

#[test]
fn op_reference_matches_the_registry() {
    let doc = language_md();
    let begin = doc.find("<!-- ops:begin -->\n").expect("begin marker") + "<!-- ops:begin -->\n".len();
    let end = doc.find("<!-- ops:end -->").expect("end marker");
    assert_eq!(
        &doc[begin..end],
        avc::ops::docs::reference_markdown(),
        "docs/language.md's op reference is stale: regenerate it with `avc ops --markdown`"
    );
}

#[test]
fn every_training_setting_is_documented() {
    let doc = language_md();
    for (key, _) in avc::train::config::KEYS {
        assert!(doc.contains(&format!("| `{key}` |")), "train setting `{key}` is missing from docs/language.md");
    }
}
