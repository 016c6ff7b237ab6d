//! Messages that say what is wrong (issue 13, item 4), each by class: block nesting past the
//! limit, byte-order marks, YAML merge keys, one mistake in many block instances, and
//! `avc graph -o g.png`. (The training command's flags and data are the `avc` package's
//! tests/messages.rs.)

use avc_lang::source::SourceFile;
use std::path::Path;
use std::process::Command;

fn compile(name: &str, text: &str) -> Result<avc_lang::compile::Compiled, Box<avc_lang::compile::Failed>> {
    avc_lang::compile::compile(&SourceFile::new(name, text))
}

fn errors(name: &str, text: &str) -> Vec<avc_lang::diag::Diagnostic> {
    match compile(name, text) {
        Ok(_) => panic!("{name} compiles:\n{text}"),
        Err(f) => f.diagnostics.into_iter().filter(|d| d.is_error()).collect(),
    }
}

const TAIL_DSL: &str = "a = linear(audio, out: 4)\nj = concat(mean(v), mean(a))\nhead = linear(j, out: 1)\n\
                        output match: logit(head)\n";

/// `depth` blocks, each using the next; the last one a linear layer. `v = b0(video)`.
fn nested_dsl(depth: usize) -> String {
    let mut text = String::from("input video: [12, 16]\ninput audio: [12, 8]\n");
    for i in 0..depth {
        let body = if i + 1 < depth { format!("b{}(x)", i + 1) } else { "linear(x, out: 4)".into() };
        text += &format!("block b{i}(x) {{\n  y = {body}\n  return y\n}}\n");
    }
    text + "v = b0(video)\n" + TAIL_DSL
}

/// The same in YAML.
fn nested_yaml(depth: usize) -> String {
    let mut text = String::from("inputs: {video: [12, 16], audio: [12, 8]}\nblocks:\n");
    for i in 0..depth {
        let op = if i + 1 < depth { format!("b{}", i + 1) } else { "linear, out: 4".into() };
        text += &format!("  - {{name: b{i}, in: [x], nodes: [{{name: y, op: {op}, in: x}}], out: y}}\n");
    }
    text + "nodes:\n  - {name: v, op: b0, in: video}\n  - {name: vm, op: mean, in: v}\n  - {name: a, op: linear, in: audio, out: 4}\n\
            \x20 - {name: am, op: mean, in: a}\n  - {name: j, op: concat, in: [vm, am]}\n  - {name: head, op: linear, in: j, out: 1}\n\
            outputs:\n  - {name: match, kind: logit, from: head}\n"
}

#[test]
fn nesting_past_the_limit_is_a_depth_limit_not_a_recursion() {
    for (name, make) in [("n.avc", nested_dsl as fn(usize) -> String), ("n.yaml", nested_yaml)] {
        assert!(compile(name, &make(32)).is_ok(), "{name}: 32 levels are allowed");
        for depth in [33, 40, 100] {
            let errs = errors(name, &make(depth));
            assert_eq!(errs.len(), 1, "{name} at {depth}: {errs:?}");
            let e = &errs[0];
            assert_eq!(e.code, "block::depth", "{name} at {depth}: {}", e.message);
            assert!(e.message.contains("more than 32 levels"), "{}", e.message);
            assert!(!e.message.contains("calls itself"), "{}", e.message);
            assert!(e.help.as_deref().is_some_and(|h| !h.contains("did you mean")), "{:?}", e.help);
        }
    }
    // A real recursion is still one.
    let looped = nested_dsl(3).replace("linear(x, out: 4)", "b0(x)");
    let errs = errors("r.avc", &looped);
    assert!(errs.iter().any(|e| e.code == "block::recursion" && e.message.contains("calls itself")), "{errs:?}");
}

#[test]
fn a_byte_order_mark_is_skipped_by_both_front_ends() {
    for path in crate::architecture_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.display().to_string();
        let plain = crate::compile_ok(&path);
        let with_bom = compile(&name, &format!("\u{feff}{text}"))
            .unwrap_or_else(|f| panic!("{name} with a BOM:\n{}", avc_lang::compile::explain(&f)));
        assert_eq!(
            avc_lang::check::fingerprint(&plain.graph, &plain.checked),
            avc_lang::check::fingerprint(&with_bom.graph, &with_bom.checked),
            "{name}"
        );
        // A mistake is still placed on the right line and column.
        let op =
            ["= linear(", "(linear(", "op: linear"].into_iter().find(|p| text.contains(p)).expect("a linear layer");
        let misspelt = text.replacen(op, &op.replace("linear", "lineer"), 1);
        let broken = format!("\u{feff}{misspelt}");
        let errs = errors(&name, &broken);
        let plain_errs = errors(&name, &misspelt);
        let src = SourceFile::new(name.clone(), broken.clone());
        let plain_src = SourceFile::new(name.clone(), misspelt.clone());
        assert_eq!(errs[0].location(&src), plain_errs[0].location(&plain_src), "{name}");
    }
}

const MERGED: &str = "
inputs: {video: [12, 16], audio: [12, 8]}
nodes:
  - &proj {name: v, op: linear, in: video, out: 4, bias: false}
  - {<<: *proj, name: a, in: audio}
  - {name: vm, op: mean, in: v}
  - {name: am, op: mean, in: a}
  - {name: j, op: concat, in: [vm, am]}
  - {name: head, op: linear, in: j, out: 1}
outputs:
  - {name: match, kind: logit, from: head}
";

#[test]
fn yaml_merge_keys_merge_and_a_bad_one_says_what_merges_take() {
    let merged = compile("m.yaml", MERGED).unwrap_or_else(|f| panic!("{}", avc_lang::compile::explain(&f)));
    let written_out =
        MERGED.replace("{<<: *proj, name: a, in: audio}", "{name: a, op: linear, in: audio, out: 4, bias: false}");
    let expanded = compile("m.yaml", &written_out).unwrap_or_else(|f| panic!("{}", avc_lang::compile::explain(&f)));
    let fp = |c: &avc_lang::compile::Compiled| avc_lang::check::fingerprint(&c.graph, &c.checked);
    assert_eq!(fp(&merged), fp(&expanded));
    // A list of mappings: the first wins, the mapping's own keys win over both.
    let listed = MERGED
        .replace("- &proj {", "- &wide {name: w, op: linear, in: video, out: 8}\n  - &proj {")
        .replace("{<<: *proj, name: a, in: audio}", "{<<: [*proj, *wide], name: a, in: audio, out: 4}")
        .replace("  - {name: vm", "  - {name: wm, op: mean, in: w}\n  - {name: vm")
        .replace("[vm, am]", "[vm, am, wm]");
    let c = compile("l.yaml", &listed).unwrap_or_else(|f| panic!("{}", avc_lang::compile::explain(&f)));
    let a = c.graph.find("a").unwrap();
    assert_eq!(c.checked.params[a.index()], 8 * 4, "audio [.., 8] -> out 4, no bias (from *proj, not *wide)");
    for bad in ["<<: 3", "<<: [*proj, 3]", "<<: name"] {
        let text = MERGED.replace("<<: *proj", bad);
        let errs = errors("b.yaml", &text);
        let e = errs.iter().find(|e| e.code == "yaml::merge").unwrap_or_else(|| panic!("{bad}: {errs:?}"));
        assert!(e.message.contains("merge key `<<` takes a mapping or a list of mappings, found"), "{}", e.message);
    }
}

/// A model whose block `proj` (holding `mistake`) is used `uses` times side by side.
fn repeated(uses: usize, mistake: &str) -> String {
    let mut text =
        format!("input video: [12, 16]\ninput audio: [12, 8]\nblock proj(x) {{\n{mistake}\n  return z\n}}\n");
    for i in 1..=uses {
        text += &format!("p{i} = proj(video)\n");
    }
    let all: Vec<String> = (1..=uses).map(|i| format!("p{i}")).collect();
    text += &match uses {
        1 => "v = linear(p1, out: 4)\n".to_string(),
        _ => format!("v = concat({})\n", all.join(", ")),
    };
    text + TAIL_DSL
}

#[test]
fn one_mistake_in_a_block_used_many_times_is_reported_once_listing_the_instances() {
    let mistakes = [
        ("op::param-type", "  y = linear(x, out: 16, bias: 3)\n  z = relu(y)"),
        ("name::unknown-ref", "  y = linear(x, out: 16)\n  z = relu(yy)"),
        ("shape::mismatch", "  y = linear(x, out: 16)\n  z = matmul(y, mean(x))"),
    ];
    for (code, mistake) in mistakes {
        for uses in [1, 2, 3, 12] {
            let errs = errors("r.avc", &repeated(uses, mistake));
            let ours: Vec<_> = errs.iter().filter(|e| e.code == code).collect();
            assert_eq!(ours.len(), 1, "{code} x{uses}: {errs:#?}");
            let message = &ours[0].message;
            if uses == 1 {
                assert!(!message.contains("block instances"), "{message}");
            } else {
                assert!(message.contains(&format!("the same in {uses} block instances")), "{message}");
                assert!(message.contains("`p1.") && message.contains("`p2."), "{message}");
                assert_eq!(message.contains("and 4 more"), uses == 12, "{message}");
            }
        }
    }
    // A warning too: an unused node inside the block.
    let text = repeated(3, "  y = linear(x, out: 16)\n  unused = relu(y)\n  z = relu(y)");
    let c = compile("w.avc", &text).unwrap_or_else(|f| panic!("{}", avc_lang::compile::explain(&f)));
    let warnings = c.checked.diagnostics();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(warnings[0].message.contains("the same in 3 block instances"), "{}", warnings[0].message);
}

/// `avc-lang`, which runs `avc`'s language commands ([`avc_lang::cli`]) with the same flags,
/// output and exit codes.
fn avc(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_avc-lang")).current_dir(dir).args(args).output().unwrap()
}

fn refused(dir: &Path, args: &[&str], code: i32, says: &str) {
    let out = avc(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(stderr.contains(says), "{args:?} should say {says:?}: {stderr}");
}

const SMALL: &str = "input video: [24, 16]\ninput audio: [24, 8]\nv = linear(video, out: 4)\na = linear(audio, out: 4)\n\
                     j = concat(mean(v), mean(a))\nhead = linear(j, out: 1)\noutput match: logit(head)\n\
                     train {\n  epochs: 1\n  batch_size: 4\n}\n";

#[test]
fn graph_output_mistakes_are_refused_with_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("m.avc"), SMALL).unwrap();
    refused(d, &["graph", "m.avc", "-o", "g.png"], 2, "not .png");
    assert!(!d.join("g.png").exists(), "nothing written under a name that promises a PNG");
    for (name, starts) in [("g", "<svg"), ("g.gv", "digraph"), ("g.svg", "<svg")] {
        let out = avc(d, &["graph", "m.avc", "-o", name]);
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let text = std::fs::read_to_string(d.join(name)).unwrap();
        assert!(
            text.trim_start().starts_with(starts) || text.contains(starts),
            "{name}: {}",
            &text[..80.min(text.len())]
        );
    }
}

/// A PyTorch name is answered with the avc form; a guess is given only for a close name.
#[test]
fn pytorch_names_get_the_avc_form_and_guesses_stay_close() {
    let file = |call: &str| {
        format!(
            "input video: [T, 16]\ninput audio: [T, 16]\nv = {call}\na = relu(audio)\nvp = mean(v, axis: 1)\n\
             ap = mean(a, axis: 1)\noutput match: embeddings(vp, ap)\n"
        )
    };
    let help = |call: &str| {
        let errs = errors("p.avc", &file(call));
        assert_eq!(errs.len(), 1, "{call}: {errs:#?}");
        assert_eq!(errs[0].code, "name::unknown-op", "{call}");
        errs[0].help.clone().unwrap_or_default()
    };
    assert!(help("Linear(video, out: 8)").contains("in avc, write `linear(x, out: N)`"));
    assert!(help("MultiheadAttention(video)").contains("`self_attention(x, heads: H)`"));
    assert_eq!(help("rellu(video)"), "did you mean `relu`?");
    assert_eq!(help("LAST(video)"), "did you mean `last`?");
    // One letter off a three-letter name is another word, not a typo.
    assert!(!help("gry(video)").contains("did you mean"), "{}", help("gry(video)"));
}

/// An invalid op parameter (`heads: 5` with 64 features) inside a block is reported at its own
/// line, once for all instances, and not as follow-on errors at the lines whose `width(x)`
/// reads that node's shape.
#[test]
fn a_failing_node_read_by_width_is_reported_at_its_own_line() {
    let text = "input video: [T, 1024]\ninput audio: [T, 128]\n\
        block ff(x) {\n  h = linear(x, out: width(x) * 4)\n  g = relu(h)\n  y = linear(g, out: width(x))\n  return add(x, y)\n}\n\
        block enc(x) {\n  a = ff(x)\n  c = self_attention(a, heads: 5)\n  return ff(c)\n}\n\
        v0 = linear(video, out: 64)\na0 = linear(audio, out: 64)\nv1 = enc(v0)\nv2 = enc(v1)\na1 = enc(a0)\na2 = enc(a1)\n\
        vp = mean(v2, axis: 1)\nap = mean(a2, axis: 1)\noutput match: embeddings(vp, ap)\n";
    let failed = compile("heads.avc", text).err().expect("the heads do not divide the width");
    assert_eq!(failed.diagnostics.len(), 1, "{:#?}", failed.diagnostics);
    let d = &failed.diagnostics[0];
    assert_eq!(d.code, "shape::mismatch");
    assert!(
        d.message.starts_with("node `v1.c` (self_attention): expected a last axis divisible by heads = 5"),
        "{}",
        d.message
    );
    assert!(d.message.contains("the same in 2 block instances"), "{}", d.message);
    let location = d.location(&failed.source).map(|l| l.to_string()).unwrap_or_default();
    assert!(location.starts_with("heads.avc:11:"), "{location}");
}
