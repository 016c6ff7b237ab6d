//! The DSL front-end on small texts: the AST it makes (the same as YAML's), the names of
//! anonymous nodes, spans, errors, and a deterministic fuzz run that no input may panic.

use crate::ast::{DimExpr, Module, OutputKind, ParamType, ValueKind};
use crate::diag::render_all;
use crate::front::dsl::{parse, parse_dsl};
use crate::front::{DslError, FrontError};
use crate::source::SourceFile;

const EXAMPLE: &str = r#"# the example of the module docs
let H = 64
input video: [120, 1024]
input audio: [T, 128] from audio

block res_lstm(x, hidden: int, p: float = 0.5) {
    rnn = lstm(x, hidden: hidden)
    drop = dropout(rnn, p: p)
    branch = lstm(drop, hidden: hidden)
    sum = rnn + branch
    return sum
}

vproj = linear(video, out: H)
v = res_lstm(vproj, hidden: H)
y = lstm(dropout(v, p: 0.5), hidden: 128, output: "last")
a = lstm(audio, hidden: 128, output: "last")
head = linear(concat(y, a), out: 1)

output match: logit(head)

train {
    epochs: 20
    lr: 0.005
    schedule.patience: 2
    optimizer: adam
}
"#;

fn src(text: &str) -> SourceFile {
    SourceFile::new("m.avc", text)
}

fn parse_ok(text: &str) -> (SourceFile, Module) {
    let s = src(text);
    match parse_dsl(&s) {
        Ok(m) => (s, m),
        Err(errors) => panic!("{text}\nshould parse, got {errors:#?}"),
    }
}

fn parse_err(text: &str) -> Vec<DslError> {
    parse_dsl(&src(text)).expect_err("should fail")
}

/// The codes and messages of a failing text's errors.
fn messages(text: &str) -> Vec<String> {
    parse_err(text).iter().map(|e| format!("{}: {e}", e.code())).collect()
}

/// A node's name, callee and input names, for compact comparisons.
fn node_summary(m: &Module) -> Vec<String> {
    m.nodes
        .iter()
        .map(|n| {
            let inputs: Vec<&str> = n.inputs.iter().map(|i| i.name.as_str()).collect();
            format!("{} = {}({})", n.name, n.callee, inputs.join(", "))
        })
        .collect()
}

/// A Debug string with every `Span { .. }` removed, to compare ASTs from different texts.
fn without_spans(debug: String) -> String {
    let mut out = String::new();
    let mut rest = debug.as_str();
    while let Some(i) = rest.find("Span {") {
        out.push_str(&rest[..i]);
        rest = rest[i..].split_once('}').map_or("", |(_, after)| after);
    }
    out.push_str(rest);
    out
}

fn ast_text(m: &Module) -> String {
    without_spans(format!("{:?}{:?}{:?}{:?}{:?}{:?}", m.constants, m.inputs, m.blocks, m.nodes, m.outputs, m.train))
}

#[test]
fn parses_the_documented_example() {
    let (s, m) = parse_ok(EXAMPLE);
    assert_eq!(m.constants[0].name.name, "H");
    assert_eq!(m.inputs[1].stream.as_ref().map(|i| i.name.as_str()), Some("audio"));
    assert!(matches!(&m.inputs[1].shape[0], DimExpr::Symbol(t) if t.name == "T"));
    let block = &m.blocks[0];
    assert_eq!((block.params[0].ty, block.params[1].ty), (ParamType::Int, ParamType::Float));
    assert_eq!(block.params[1].default.as_ref().map(|v| v.to_string()).as_deref(), Some("0.5"));
    assert_eq!(block.output.name, "sum");
    assert_eq!(
        node_summary(&m),
        [
            "vproj = linear(video)",
            "v = res_lstm(vproj)",
            "y_dropout = dropout(v)",
            "y = lstm(y_dropout)",
            "a = lstm(audio)",
            "head_concat = concat(y, a)",
            "head = linear(head_concat)",
        ]
    );
    let y = &m.nodes[3];
    assert_eq!(y.args[0].value.kind, ValueKind::Int(128));
    assert_eq!(y.args[1].value.kind, ValueKind::Str("last".into()));
    assert_eq!(m.nodes[0].args[0].value.kind, ValueKind::Ref("H".into()));
    assert_eq!(s.slice(m.nodes[2].name.span), "dropout");
    assert_eq!(s.slice(m.nodes[2].span), "dropout(v, p: 0.5)");
    assert_eq!(m.outputs[0].kind, OutputKind::Logit);
    let train: Vec<String> = m.train.iter().map(|t| format!("{}={}", t.key.name, t.value)).collect();
    assert_eq!(train, ["epochs=20", "lr=0.005", "schedule.patience=2", "optimizer=\"adam\""]);
    assert_eq!(s.slice(m.train[2].key.span), "schedule.patience");
}

#[test]
fn makes_the_same_ast_as_yaml() {
    let yaml = r#"
constants: {H: 64, name: x}
inputs: {video: [120, $H], audio: {shape: [T, 128], stream: sound}}
blocks:
  - name: tower
    params: {hidden: int, p: {type: float, default: 0.5}, on: {type: bool, default: true}}
    in: [x, y]
    nodes:
      - {name: d, op: dropout, in: x, p: $p}
      - {name: s, op: add, in: [d, y, x]}
    out: s
nodes:
  - {name: v, op: tower, in: [video, video], hidden: $H}
  - {name: h, op: linear, in: v, out: 1, bias: false}
  - {name: l, op: concat, in: [h, h], axis: -1}
outputs:
  - {name: m, kind: embeddings, from: [h, l]}
train: {lr: 1.0e-3, schedule: {factor: 0.5}, list: [1, 2.5, "s"]}
"#;
    let dsl = "let H = 64\nlet name = \"x\"\ninput video: [120, H]\ninput audio: [T, 128] from sound\n\
        block tower(x, y, hidden: int, p: float = 0.5, on: bool = true) {\n\
          d = dropout(x, p: p)\n  s = d + y + x\n  return s\n}\n\
        v = tower(video, video, hidden: H)\nh = linear(v, out: 1, bias: false)\nl = concat(h, h, axis: -1)\n\
        output m: embeddings(h, l)\ntrain { lr: 1e-3, schedule.factor: 0.5, list: [1, 2.5, \"s\"] }\n";
    let from_yaml = crate::front::yaml::parse(&SourceFile::new("m.yaml", yaml)).expect("the YAML parses");
    let (_, from_dsl) = parse_ok(dsl);
    assert_eq!(ast_text(&from_dsl), ast_text(&from_yaml));
}

#[test]
fn names_anonymous_nodes_after_their_statement_and_op() {
    let text = "input x: [4]\n\
        y = lstm(dropout(dropout(x, p: 0.1), p: 0.2), hidden: 3)\n\
        z_relu = relu(x)\n\
        z = concat(relu(x), relu(x), (x + relu(x)))\n\
        w = (relu(x))\n\
        output o: logit(y)\n";
    let (_, m) = parse_ok(text);
    assert_eq!(
        node_summary(&m),
        [
            "y_dropout2 = dropout(x)",
            "y_dropout = dropout(y_dropout2)",
            "y = lstm(y_dropout)",
            "z_relu = relu(x)",
            "z_relu2 = relu(x)",
            "z_relu3 = relu(x)",
            "z_relu4 = relu(x)",
            "z_add = add(x, z_relu4)",
            "z = concat(z_relu2, z_relu3, z_add)",
            "w = relu(x)",
        ]
    );
}

#[test]
fn names_block_local_anonymous_nodes_and_returned_expressions() {
    let text = "input x: [4]\n\
        block b(x, out: int) {\n  h = linear(x + relu(x), out: out)\n  return h + relu(h)\n}\n\
        block c(x) {\n  out = relu(x)\n  return linear(out, out: 2)\n}\n\
        block d(x) { return (x) }\n\
        n = b(x, out: 2)\n\
        output o: logit(n)\n";
    let (s, m) = parse_ok(text);
    let b = &m.blocks[0];
    let names: Vec<&str> = b.nodes.iter().map(|n| n.name.name.as_str()).collect();
    // `out` is taken by the parameter, so the returned sum is `out2`.
    assert_eq!(names, ["h_relu", "h_add", "h", "out2_relu", "out2"]);
    assert_eq!(b.output.name, "out2");
    assert_eq!(s.slice(b.output.span), "+");
    assert_eq!(s.slice(b.nodes[4].span), "h + relu(h)");
    assert_eq!(b.nodes[4].callee.name, "add");
    assert_eq!(s.slice(b.nodes[4].callee.span), "+");
    assert_eq!(m.blocks[1].output.name, "out2");
    assert_eq!(m.blocks[2].output.name, "x");
}

#[test]
fn reads_every_kind_of_value() {
    let text = "input x: [4]\nn = f(x, a: -1, b: +2.5, c: 1e-3, d: 2E3, e: true, f: false, g: \"q\\\"\\\\\\n\\t\", \
        h: [1, [2, w]], i: w, j: [],)\noutput o: distance(n,)\n";
    let (_, m) = parse_ok(text);
    let values: Vec<String> = m.nodes[0].args.iter().map(|a| format!("{:?}", a.value.kind)).collect();
    assert_eq!(values[0], "Int(-1)");
    assert_eq!(values[1], "Float(2.5)");
    assert_eq!(values[2], "Float(0.001)");
    assert_eq!(values[3], "Float(2000.0)");
    assert_eq!(values[4..6], ["Bool(true)", "Bool(false)"]);
    assert_eq!(values[6], "Str(\"q\\\"\\\\\\n\\t\")");
    assert!(values[7].contains("Ref(\"w\")") && values[7].starts_with("List("));
    assert_eq!(values[8], "Ref(\"w\")");
    assert_eq!(values[9], "List([])");
    assert_eq!(m.outputs[0].kind, OutputKind::Distance);
}

#[test]
fn keywords_are_only_keywords_where_a_statement_starts() {
    let text = "input input: [4]\ninput from: [4] from from\nlet let = 1\ntrain = relu(input)\n\
        output = relu(from)\nletter = concat(train, output)\noutput o: logit(letter)\n";
    let (_, m) = parse_ok(text);
    assert_eq!(node_summary(&m), ["train = relu(input)", "output = relu(from)", "letter = concat(train, output)"]);
    assert_eq!(m.inputs[1].stream.as_ref().map(|s| s.name.as_str()), Some("from"));
}

#[test]
fn reports_syntax_errors_with_readable_tokens() {
    let cases = [
        ("input x: [4]\ny = lstm(x, hidden: 3\nout = relu(y)\n", "expected `,` or `)`, found `out`"),
        ("input x: [4]\ny = lstm(x hidden: 3)\n", "expected `,`, `)`, `(`, `[` or `:`, found `hidden`"),
        (
            "input x: [4]\nblock b(x) { y = relu(x) }\n",
            "expected `return`, a name, `[`, `+`, `-`, `*` or `/`, found `}`",
        ),
        ("input x: 4\n", "expected `[`, found `4`"),
        ("input x: [4]\n123\n", "expected a statement, `from` or end of file, found `123`"),
        ("input x: [4]\ny = relu(x) }\n", "found `}`"),
        ("input x: [4]\ny = f(x, a: )\n", "expected a value, found `)`"),
        ("input x: [4]\ny = f(x, a: 1", "expected `,` or `)`, found end of file"),
        ("input x: [4]\ny = f(x, a: \"open)\n", "this string is not closed"),
    ];
    for (text, message) in cases {
        let errors = parse_err(text);
        assert_eq!(errors.len(), 1, "{text}: {errors:?}");
        assert!(errors[0].to_string().contains(message), "{text}: `{}` lacks `{message}`", errors[0]);
    }
}

#[test]
fn a_missing_closer_is_placed_after_the_last_token_of_the_line() {
    let text = "input x: [4]\ny = lstm(x, hidden: 3  # comment (\n\n  out = relu(y)\n";
    let errors = parse_err(text);
    let DslError::Syntax { after: Some(after), span, .. } = &errors[0] else { panic!("{errors:?}") };
    assert_eq!(&text[..after.start], "input x: [4]\ny = lstm(x, hidden: 3");
    assert_eq!(&text[span.start..span.end], "out");
}

#[test]
fn collects_independent_semantic_errors() {
    let text = "input v: [0, -2, 1.5, T, 99999999999999999999]\nlet A = [1]\nlet B = C\n\
        block b(x, h: integer, y, h: int) { return x }\n\
        n = f(v, a: 1, a: 2, v, c: 1e999, d: \"\\q\")\nm = n\n\
        output o: logits(n)\ntrain { lr: 1 }\ntrain { lr: 2 }\n";
    let got = messages(text);
    let want = [
        "dsl::dim: input `v`: `0` is not a valid dimension",
        "dsl::dim: input `v`: `-2` is not a valid dimension",
        "dsl::dim: input `v`: `1.5` is not a valid dimension",
        "dsl::number: the integer `99999999999999999999` does not fit in 64 bits",
        "dsl::constant: constant `A` must be an integer, a float, a boolean or a string, found a list",
        "dsl::constant: constant `B` must be an integer, a float, a boolean or a string, found a reference",
        "dsl::param-type: unknown parameter type `integer`",
        "dsl::order: an input comes after the parameters of block `b`",
        "dsl::duplicate: block input or parameter `h` is given twice",
        "dsl::duplicate: parameter `a` is given twice",
        "dsl::order: an input comes after the parameters of `f`",
        "dsl::number: the number `1e999` is too large",
        "dsl::escape: unknown escape `\\q` in a string",
        "dsl::alias: `m = n` defines no node: there is no call",
        "dsl::output-kind: unknown output kind `logits`",
        "dsl::duplicate: the `train` section is given twice",
    ];
    assert_eq!(got, want);
}

#[test]
fn requires_inputs_and_outputs_and_some_text() {
    assert_eq!(messages("# only a comment\n\n"), ["dsl::empty: the file is empty"]);
    assert_eq!(messages(""), ["dsl::empty: the file is empty"]);
    assert_eq!(
        messages("h = relu(x)\n"),
        ["dsl::missing: the model declares no inputs", "dsl::missing: the model declares no outputs"]
    );
    assert_eq!(
        messages("train { a: 1, a: 2 }\ninput x: [1]\noutput o: logit(x)"),
        ["dsl::duplicate: setting `a` is given twice"]
    );
}

#[test]
fn rejects_deep_nesting_before_parsing() {
    for open in ["(", "[", "{"] {
        for depth in [33, 1000, 200_000] {
            let text = format!("input x: [4]\ny = f({}", open.repeat(depth));
            let errors = parse_err(&text);
            assert!(matches!(errors[..], [DslError::TooDeep { .. }]), "{open} x {depth}: {errors:?}");
        }
    }
    let nested =
        |depth: usize| format!("input x: [4]\ny = {}x{}\noutput o: logit(y)", "f(".repeat(depth), ")".repeat(depth));
    assert!(parse_dsl(&src(&nested(31))).is_ok());
    assert!(matches!(parse_err(&nested(33))[..], [DslError::TooDeep { .. }]));
    // Brackets in comments and strings do not count.
    let text = format!("# {}\ninput x: [4]\ny = f(x, s: \"{}\")\noutput o: logit(y)", "(".repeat(100), "[".repeat(100));
    assert!(parse_dsl(&src(&text)).is_ok());
}

#[test]
fn survives_long_flat_inputs() {
    let sum = (0..20_000).map(|i| format!("x{i}")).collect::<Vec<_>>().join(" + ");
    let text = format!("input x: [4]\ny = {sum}\noutput o: logit(y)");
    let (_, m) = parse_ok(&text);
    assert_eq!(m.nodes[0].inputs.len(), 20_000);
    let list = format!("input x: [4]\ny = f(x, a: [{}])\noutput o: logit(y)", "1, ".repeat(50_000));
    parse_ok(&list);
}

#[test]
fn goes_through_the_front_end_dispatch() {
    let errors =
        crate::front::parse(&SourceFile::new("m.avc", "input x: [0]\noutput o: logit(x)")).expect_err("bad dim");
    assert!(matches!(&errors[..], [FrontError::Dsl(DslError::BadDim { .. })]));
    assert_eq!(errors[0].to_diagnostic().code, "dsl::dim");
    assert!(parse(&src(EXAMPLE)).is_ok());
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[rustfmt::skip]
const SOUP: &[&str] = &[
    "input", "let", "block", "return", "output", "train", "from", "x", "video", "lstm", "linear", "(", ")", "[",
    "]", "{", "}", ",", ":", "=", "+", "-", ".", "\"", "\\", "#", "\n", " ", "0", "-1", "1e", "1e999", "0.5",
    "99999999999999999999", "true", "logit", "embeddings", "int", "é", "\t", "\"s\"", "[T, 128]",
];

/// One mutation of `base`: a byte flip, a truncation, a deletion, a duplication, inserted
/// tokens, or pure token soup.
fn mutate(rng: &mut Rng, base: &str) -> String {
    let bytes = base.as_bytes();
    let at = rng.below(bytes.len() + 1);
    let mut out: Vec<u8> = match rng.below(6) {
        0 => {
            let mut b = bytes.to_vec();
            if let Some(x) = b.get_mut(at) {
                *x ^= 1 << rng.below(8);
            }
            b
        }
        1 => bytes[..at].to_vec(),
        2 => {
            let end = (at + rng.below(40)).min(bytes.len());
            [&bytes[..at], &bytes[end..]].concat()
        }
        3 => {
            let end = (at + rng.below(80)).min(bytes.len());
            [&bytes[..end], &bytes[at..]].concat()
        }
        4 => {
            let tokens: String = (0..1 + rng.below(4)).map(|_| SOUP[rng.below(SOUP.len())]).collect();
            [&bytes[..at], tokens.as_bytes(), &bytes[at..]].concat()
        }
        _ => (0..rng.below(60)).flat_map(|_| SOUP[rng.below(SOUP.len())].bytes().chain([b' '])).collect(),
    };
    out.truncate(100_000);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn no_input_panics() {
    let bases = [
        EXAMPLE,
        include_str!("../../../../../architectures/final.avc"),
        include_str!("../../../../../architectures/synthetic-only/meanpool.avc"),
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut ok, mut failed) = (0, 0);
    for round in 0..4000 {
        let mut text = mutate(&mut rng, bases[round % bases.len()]);
        if round % 4 == 0 {
            text = mutate(&mut rng, &text);
        }
        let source = src(&text);
        match crate::compile::compile(&source) {
            Ok(_) => ok += 1,
            Err(f) => {
                failed += 1;
                for d in &f.diagnostics {
                    for l in &d.labels {
                        assert!(l.span.end <= text.len() && text.is_char_boundary(l.span.start), "{text:?}: {d:?}");
                    }
                }
                if round % 10 == 0 {
                    render_all(&f.diagnostics, &source, false);
                }
            }
        }
    }
    assert!(ok > 50 && failed > 2000, "the mutations should hit both outcomes: {ok} ok, {failed} failed");
}
