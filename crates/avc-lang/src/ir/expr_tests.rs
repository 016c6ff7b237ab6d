//! Unit tests of value expressions in the IR: arithmetic folded the same from both
//! front-ends, `width(x)` read through blocks, parameters and lists, and its errors.

use super::{BuildError, Graph, NodeKind, build};
use crate::front;
use crate::ops::Op;
use crate::source::SourceFile;

fn built(name: &str, text: &str) -> Result<Graph, Vec<BuildError>> {
    let module = front::parse(&SourceFile::new(name, text)).unwrap_or_else(|e| panic!("{e:?}"));
    build(&module)
}

fn graph(name: &str, text: &str) -> Graph {
    built(name, text).unwrap_or_else(|e| panic!("{e:?}"))
}

fn errors(name: &str, text: &str) -> Vec<String> {
    match built(name, text) {
        Ok(_) => panic!("{name} builds"),
        Err(e) => e.iter().map(|e| e.to_string()).collect(),
    }
}

fn op(g: &Graph, name: &str) -> Op {
    match &g.node(g.find(name).unwrap_or_else(|| panic!("no node {name}"))).kind {
        NodeKind::Op(op) => op.clone(),
        other => panic!("{other:?}"),
    }
}

const DSL: &str = "
let K = 5
let P = (K - 1) / 2
input video: [T, 12]
block tcn(x, dilation: int, k: int = 3) {
    c = conv1d(x, out: width(x) * 2, kernel: k, dilation: dilation, padding: dilation * (k - 1) / 2)
    return c
}
v = tcn(video, dilation: 4, k: K)
r = reshape(v, shape: [-1, width(v) / 3, 3])
h = linear(v, out: width(r) - P + 2 * 3)
m = mean(h)
o = linear(m, out: 1)
output match: logit(o)
";

const YAML: &str = "
constants: {K: 5, P: ($K - 1) / 2}
inputs: {video: [T, 12]}
blocks:
  - name: tcn
    params: {dilation: int, k: {type: int, default: 3}}
    in: [x]
    nodes:
      - {name: c, op: conv1d, in: x, out: width(x) * 2, kernel: $k, dilation: $dilation,
         padding: $dilation * ($k - 1) / 2}
    out: c
nodes:
  - {name: v, op: tcn, in: video, dilation: 4, k: $K}
  - {name: r, op: reshape, in: v, shape: [-1, width(v) / 3, 3]}
  - {name: h, op: linear, in: v, out: width(r) - $P + 2 * 3}
  - {name: m, op: mean, in: h}
  - {name: o, op: linear, in: m, out: 1}
outputs: [{name: match, kind: logit, from: o}]
";

#[test]
fn both_front_ends_fold_the_same_expressions() {
    let (dsl, yaml) = (graph("t.avc", DSL), graph("t.yaml", YAML));
    for name in ["v.c", "r", "h"] {
        assert_eq!(op(&dsl, name).describe(), op(&yaml, name).describe(), "{name}");
    }
    let Op::Conv1d(c) = op(&dsl, "v.c") else { panic!() };
    // width(video) * 2 = 24; padding 4 * (5 - 1) / 2 = 8 keeps the length.
    assert_eq!((c.out, c.kernel, c.dilation, c.padding), (24, 5, 4, crate::ops::conv::Padding::Fixed(8)));
    let Op::Reshape(r) = op(&dsl, "r") else { panic!() };
    assert_eq!(r.shape, [-1, 8, 3], "a width inside a list");
    let Op::Linear(h) = op(&dsl, "h") else { panic!() };
    assert_eq!(h.out, 3 - 2 + 6, "width(r) is 3: the last axis of the reshaped node");
}

#[test]
fn a_width_can_be_a_block_argument_and_read_an_instance() {
    let text = "
input video: [T, 6]
block proj(x, n: int) {
    y = linear(x, out: n + 1)
    return y
}
a = proj(video, n: width(video))
b = proj(a, n: 2 * width(a))
m = mean(b)
output match: logit(m)
";
    let g = graph("t.avc", text);
    let out = |name| match op(&g, name) {
        Op::Linear(l) => l.out,
        other => panic!("{other:?}"),
    };
    assert_eq!((out("a.y"), out("b.y")), (7, 15), "width(a) is the width of a's result, a.y");
}

#[test]
fn a_width_reports_a_loop_and_a_failing_shape() {
    let looped = "input video: [T, 6]\ns = linear(video, out: width(s))\nm = mean(s)\noutput o: logit(m)\n";
    assert_eq!(
        errors("t.avc", looped),
        ["node `s`: `width(s)` needs the shape of `s`, but the shape of `s` depends on node `s` itself"]
    );
    let failing = "input video: [T, 6]\nc = conv2d(video, out: 2, kernel: 3)\n\
        l = linear(video, out: width(c))\nm = mean(l)\noutput o: logit(m)\n";
    let got = errors("t.avc", failing);
    assert_eq!(got.len(), 1, "{got:?}");
    // The failing node is reported itself, once, not as an error of the node that reads it.
    let want = "node `c` (conv2d): expected ";
    assert!(got[0].starts_with(want), "{got:?}");
}

#[test]
fn a_quoted_yaml_string_is_never_an_expression() {
    let text = "inputs: {video: [T, 6]}\nnodes:\n  - {name: l, op: linear, in: video, out: \"2 * 3\"}\n\
        outputs: [{name: o, kind: logit, from: l}]\n";
    let got = errors("t.yaml", text);
    assert_eq!(got, ["node `l`: parameter `out` of `linear` must be an integer, found a string `\"2 * 3\"`"]);
}

/// Runs `f` on a thread with a 1 MiB stack: a walk that recursed once per term would
/// overflow it (and abort the test binary) long before 50,000 terms.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let thread = std::thread::Builder::new().stack_size(1 << 20).spawn(f).expect("a thread");
    thread.join().expect("no panic")
}

#[test]
fn a_long_chain_is_a_list_not_a_deep_tree() {
    let terms = 50_000;
    let chain = vec!["1"; terms].join(" + ");
    let chain_yaml = chain.clone();
    let dsl = format!(
        "input video: [T, 6]\nh = linear(video, out: {chain} - {} + 1)\nm = mean(h)\noutput o: logit(m)\n",
        terms
    );
    let yaml = format!(
        "inputs: {{video: [T, 6]}}\nnodes:\n  - {{name: h, op: linear, in: video, out: {chain_yaml} - {} + 3}}\n  \
         - {{name: m, op: mean, in: h}}\noutputs: [{{name: o, kind: logit, from: m}}]\n",
        terms
    );
    let (d, y) = on_small_stack(move || {
        let (d, y) = (graph("t.avc", &dsl), graph("t.yaml", &yaml));
        // The printer walks the same list: `fmt` of the module is as shallow.
        let module = front::parse(&SourceFile::new("t.avc", dsl.as_str())).expect("parses");
        let printed = crate::fmt::format(&module, front::Format::Yaml).text;
        assert!(printed.contains("1 + 1 + 1"), "printed back as a chain");
        (op(&d, "h"), op(&y, "h"))
    });
    let out = |op: Op| match op {
        Op::Linear(l) => l.out,
        other => panic!("{other:?}"),
    };
    assert_eq!((out(d), out(y)), (1, 3));
}

#[test]
fn a_parenthesised_chain_of_the_same_level_reads_as_the_chain() {
    let value = |text: &str| {
        let src = format!("input video: [T, 6]\nh = linear(video, out: {text})\noutput o: logit(h)\n");
        let module = front::parse(&SourceFile::new("t.avc", src)).expect("parses");
        module.nodes[0].args[0].value.clone()
    };
    let strip = |v: crate::ast::Value| v.to_string();
    assert_eq!(strip(value("(8 - 2) - 1")), "8 - 2 - 1");
    assert_eq!(strip(value("8 - (2 - 1)")), "8 - (2 - 1)");
    assert_eq!(strip(value("(8 - 2) * 3")), "(8 - 2) * 3");
    assert_eq!(strip(value("2 * 3 + 4 * 5 - 6 / 2")), "2 * 3 + 4 * 5 - 6 / 2");
}

#[test]
fn parentheses_too_deep_in_a_yaml_value_are_a_located_error() {
    let deep = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
    let text = format!(
        "inputs: {{video: [T, 6]}}\nnodes:\n  - {{name: h, op: linear, in: video, out: {deep}}}\n\
         outputs: [{{name: o, kind: logit, from: h}}]\n"
    );
    let errors = on_small_stack(move || match front::parse(&SourceFile::new("t.yaml", text)) {
        Ok(_) => panic!("parsed"),
        Err(e) => e.iter().map(|e| (e.to_string(), e.span().map(|s| s.start))).collect::<Vec<_>>(),
    });
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "parentheses nest more than 32 deep");
    let line_start = "inputs: {video: [T, 6]}\nnodes:\n  - {name: h, op: linear, in: video, out: ".len();
    assert_eq!(errors[0].1, Some(line_start + 32), "at the 33rd `(`");
}
