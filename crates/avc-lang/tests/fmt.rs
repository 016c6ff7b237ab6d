//! `avc fmt`: every architecture (and model fixture) converts to the other language and back to the same IR;
//! formatting is idempotent; no comment is lost.

use avc_lang::check::fingerprint;
use avc_lang::compile::{Compiled, compile};
use avc_lang::front::{self, Format};
use avc_lang::source::SourceFile;

fn compiled(name: &str, text: &str) -> Compiled {
    match compile(&SourceFile::new(name, text)) {
        Ok(c) => c,
        Err(f) => {
            panic!("{name} does not compile:\n{}\n{text}", avc_lang::diag::render_all(&f.diagnostics, &f.source, false))
        }
    }
}

fn format_text(name: &str, text: &str, to: Format) -> String {
    let module = front::parse(&SourceFile::new(name, text)).unwrap_or_else(|e| panic!("{name}: {e:?}\n{text}"));
    avc_lang::fmt::format(&module, to).text
}

fn file_name(to: Format) -> &'static str {
    match to {
        Format::Yaml => "formatted.yaml",
        Format::Dsl => "formatted.avc",
    }
}

fn comment_lines(text: &str) -> usize {
    text.lines().filter(|l| l.trim_start().starts_with('#')).count()
}

#[test]
fn conversion_keeps_the_ir_and_formatting_is_idempotent() {
    crate::at_workspace_root();
    // The architectures, and the models kept as fixtures (the op set of current models).
    let fixtures = std::fs::read_dir("crates/avc-lang/tests/fixtures/ok").expect("the ok fixtures exist");
    let mut files = crate::architecture_files();
    files.extend(fixtures.filter_map(|e| e.ok().map(|e| e.path())));
    for path in files {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let original = fingerprint(&compiled(&name, &text).graph, &compiled(&name, &text).checked);
        for to in [Format::Yaml, Format::Dsl] {
            let once = format_text(&name, &text, to);
            let c = compiled(file_name(to), &once);
            assert_eq!(fingerprint(&c.graph, &c.checked), original, "{name} -> {to:?} changed the model:\n{once}");
            assert_eq!(format_text(file_name(to), &once, to), once, "{name} -> {to:?} is not idempotent");
            assert!(comment_lines(&once) >= comment_lines(&text), "{name} -> {to:?} lost comments:\n{once}");
            // And back again.
            let back_to = if to == Format::Yaml { Format::Dsl } else { Format::Yaml };
            let back = format_text(file_name(to), &once, back_to);
            let c = compiled(file_name(back_to), &back);
            assert_eq!(fingerprint(&c.graph, &c.checked), original, "{name} -> {to:?} -> {back_to:?}:\n{back}");
        }
    }
}

#[test]
fn a_comment_inside_a_node_is_moved_and_reported() {
    crate::at_workspace_root();
    let text = "inputs: {video: [4, 2], audio: [4, 2]}\nnodes:\n  - name: v # the video mean\n    op: mean\n    # inside the node\n    in: video\n  - {name: head, op: linear, in: v, out: 1}\noutputs:\n  - {name: o, kind: logit, from: head}\n";
    let module = front::parse(&SourceFile::new("c.yaml", text)).unwrap();
    let out = avc_lang::fmt::format(&module, Format::Dsl);
    assert_eq!(out.moved_comments.len(), 1, "{:?}", out.moved_comments);
    assert!(out.moved_comments[0].starts_with("c.yaml:5:"), "{:?}", out.moved_comments);
    assert!(out.text.contains("# inside the node\nv = mean(video)  # the video mean"), "{}", out.text);
}

/// Expressions print with the parentheses their tree needs, `$` in YAML and bare names in
/// the DSL, and read back to the same tree (so the same folded values) both ways.
#[test]
fn expressions_round_trip_between_the_languages() {
    crate::at_workspace_root();
    let dsl = "let K = 7\nlet D = 2\ninput video: [T, 12]\n\
        a = conv1d(video, out: (K + 1) * 2, kernel: K - (D - 1) * 2, padding: D * (K - 1) / 2 - -1 - (2 - 1))\n\
        b = linear(a, out: width(a) / 2 / 4 + K - (1 + 1))\nm = mean(b)\nh = linear(m, out: 1)\n\
        output o: logit(h)\n";
    let yaml = format_text("e.avc", dsl, Format::Yaml);
    assert!(
        yaml.contains("out: ($K + 1) * 2, kernel: $K - ($D - 1) * 2, padding: $D * ($K - 1) / 2 - -1 - (2 - 1)"),
        "{yaml}"
    );
    assert!(yaml.contains("out: width(a) / 2 / 4 + $K - (1 + 1)"), "{yaml}");
    let back = format_text("e.yaml", &yaml, Format::Dsl);
    assert!(back.contains("kernel: K - (D - 1) * 2"), "{back}");
    assert_eq!(format_text("e.avc", &back, Format::Dsl), back, "idempotent");
    let fingerprint_of = |name: &str, text: &str| {
        let c = compiled(name, text);
        fingerprint(&c.graph, &c.checked)
    };
    let original = fingerprint_of("e.avc", dsl);
    assert_eq!(fingerprint_of("e.yaml", &yaml), original);
    assert_eq!(fingerprint_of("e.avc", &back), original);
}
