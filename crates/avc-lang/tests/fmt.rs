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

/// Lines that are neither blank nor comments: the statements (and `}`, `train {`).
fn statement_lines(text: &str) -> usize {
    text.lines().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')).count()
}

fn fingerprint_of(name: &str, text: &str) -> String {
    let c = compiled(name, text);
    fingerprint(&c.graph, &c.checked)
}

/// The DSL architectures and the conformer (the file of the issue: formatting it gave 71
/// lines for its 65), formatted as DSL: the same IR, no more statement lines, idempotent.
#[test]
fn formatting_a_dsl_file_keeps_its_nested_calls_and_its_length() {
    crate::at_workspace_root();
    let mut files: Vec<_> =
        crate::architecture_files().into_iter().filter(|p| p.extension().is_some_and(|e| e == "avc")).collect();
    files.push("crates/avc-lang/tests/fixtures/ok/conformer.avc".into());
    let mut nested = 0;
    for path in files {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let once = format_text(&name, &text, Format::Dsl);
        assert_eq!(fingerprint_of(file_name(Format::Dsl), &once), fingerprint_of(&name, &text), "{name}:\n{once}");
        assert!(
            statement_lines(&once) <= statement_lines(&text),
            "{name} grew from {} to {} statement lines:\n{once}",
            statement_lines(&text),
            statement_lines(&once)
        );
        assert_eq!(format_text(file_name(Format::Dsl), &once, Format::Dsl), once, "{name} is not idempotent");
        nested += usize::from(once.lines().any(|l| l.contains("((") || l.matches('(').count() > 1));
    }
    assert!(nested >= 5, "the files tested have nested calls: {nested}");
}

#[test]
fn the_formatted_conformer() {
    crate::at_workspace_root();
    let path = "crates/avc-lang/tests/fixtures/ok/conformer.avc";
    let text = std::fs::read_to_string(path).unwrap();
    let once = format_text(path, &text, Format::Dsl);
    insta::assert_snapshot!("fmt_conformer", once);
    // Through YAML, which has no nesting, the nested calls come back flat (same model).
    let back = format_text("c.yaml", &format_text(path, &text, Format::Yaml), Format::Dsl);
    assert!(back.contains("vpos_linear = linear(video, out: H)\nvpos = sinusoidal_position(vpos_linear)"), "{back}");
    assert_eq!(fingerprint_of("back.avc", &back), fingerprint_of(path, &text));
}

/// Nested operators print with the parentheses the grammar needs to read the same nodes
/// back, and no others (Python's precedence, plus `(a + b) + c`: two nodes, where
/// `a + b + c` is one).
#[test]
fn nested_operators_keep_their_nodes() {
    crate::at_workspace_root();
    let statements = [
        "s1 = (a + b) + c",
        "s2 = a + (b + c)",
        "s3 = a + b + c",
        "s4 = a - (b - c)",
        "s5 = (a - b) * c",
        "s6 = -(a * b)",
        "s7 = -(-a)",
        "s8 = 2 * -a",
        "s9 = 1 - (a - 1)",
        "s10 = (1 + a) + b",
        "s11 = (a + b)[:, 0:4] + c[:, 4:8]",
        "s12 = relu(a)[:, 0:2] * -b[:, 2:4]",
        "s13 = a + b - c + 1",
        "s14 = a / (b * c) - -1 * a",
        "s15 = (a + b) / 2",
        "s16 = linear(relu(a + b) * c, out: 8)",
        "s17 = a[:, 1:3][:, 0:1] + b[:, 0:1]",
        "s18 = -1 * a + (b - c) * (a + 1)",
    ];
    let mut text = "input a: [4, 8]\ninput b: [4, 8]\ninput c: [4, 8]\n".to_string();
    for s in statements {
        text.push_str(s);
        text.push('\n');
    }
    let names: Vec<String> = (1..=statements.len()).map(|i| format!("mean(s{i})")).collect();
    text.push_str(&format!("h = linear(concat({}), out: 1)\noutput o: logit(h)\n", names.join(", ")));
    let once = format_text("ops.avc", &text, Format::Dsl);
    // As written, but for the parentheses that make no node: `(1 + a) + b` is `1 + a + b`
    // (a number is no tensor, so `1 + a` is its own node either way).
    assert_eq!(once, text.replace("(1 + a) + b", "1 + a + b"));
    assert_eq!(fingerprint_of("formatted.avc", &once), fingerprint_of("ops.avc", &text));
}

/// Comments stay on their statements: own-line ones before it (blank lines kept), trailing
/// ones at the end of its line, inside blocks too; one on an inner line of a nested call
/// that spans lines moves before its statement and is reported.
#[test]
fn comments_stay_on_statements_with_nested_calls() {
    crate::at_workspace_root();
    let text = "# A header.

input video: [8, 16]  # the video features

# Constants can come after inputs.
let H = 8
input audio: [8, 4]

block res(x, p: float = 0.1) {
    # normalise first
    n = layernorm(x)

    f = dropout(relu(linear(n, out: width(x))), p: p)  # the branch
    # the result
    return layernorm(x + f)  # normalised
}

# The video tower.
v = res(linear(mean(video[:, 0:8]), out: H))  # trailing on a nested statement
a = linear(  # the audio tower
    # inside a multi-line nested call
    mean(audio),  # on the nested call's line
    out: H,
)
# Between statements, no blank line.
s = v + a * 0.5

output o: embeddings(v, s)  # the pair
# The end.
";
    let module = front::parse(&SourceFile::new("c.avc", text)).unwrap();
    let out = avc_lang::fmt::format(&module, Format::Dsl);
    // The multi-line call on one line, the comments from inside it before it.
    let (before, after) = text.split_once("a = linear(  # the audio tower\n").unwrap();
    let after = after.split_once("    out: H,\n)\n").unwrap().1;
    let expected = format!(
        "{before}# inside a multi-line nested call\n# on the nested call's line\n\
         a = linear(mean(audio), out: H)  # the audio tower\n{after}"
    );
    assert_eq!(out.text, expected);
    assert_eq!(
        out.moved_comments,
        [
            "c.avc:21: comment moved before the item it was inside: # inside a multi-line nested call",
            "c.avc:22: comment moved before the item it was inside: # on the nested call's line",
        ]
    );
    assert_eq!(format_text("c.avc", &out.text, Format::Dsl), out.text, "idempotent");
    assert_eq!(fingerprint_of("formatted.avc", &out.text), fingerprint_of("c.avc", text));
}

/// A nested node whose name is read somewhere else (the DSL allows `y_relu`), or that
/// nothing reads (an AST built otherwise), gets a statement of its own, before the
/// statement it was written in.
#[test]
fn a_nested_node_read_twice_or_never_gets_a_statement() {
    crate::at_workspace_root();
    let text = "input x: [4, 8]\n\ny = linear(relu(x), out: 8)\nw = linear(y_relu, out: 8)\nz = y + w\n\
        m = linear(mean(z), out: 1)\noutput o: logit(m)\n";
    let once = format_text("t.avc", text, Format::Dsl);
    assert_eq!(once, text.replace("y = linear(relu(x)", "y_relu = relu(x)\ny = linear(y_relu"));
    assert_eq!(fingerprint_of("formatted.avc", &once), fingerprint_of("t.avc", text));

    let mut module = front::parse(&SourceFile::new("t.avc", text)).unwrap();
    let y = module.nodes.iter_mut().find(|n| n.name.name == "y").unwrap();
    y.inputs[0].name = "x".into();
    let out = avc_lang::fmt::format(&module, Format::Dsl).text;
    assert!(out.contains("y_relu = relu(x)\ny = linear(x, out: 8)\n"), "{out}");
}
