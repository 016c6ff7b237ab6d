//! Tests of the YAML front-end: a full model, one test per error kind (message and
//! `file:line:col`), the fixtures, and a mutation fuzz that must never panic.

use crate::ast::{DimExpr, Module, OutputKind, ParamType, ValueKind};
use crate::front::{Format, FrontError, format_of, parse};
use crate::source::SourceFile;
use std::path::Path;

const MODEL: &str = "\
# a small two-tower model
constants: {H: 64, name: \"tïny ü\"}
inputs:
  video: [120, 1024]
  audio: {shape: [T, 128], stream: mic}
blocks:
  - name: res_lstm
    params: {hidden: int, p: {type: float, default: 0.5}}
    in: [x]
    nodes:
      - {name: drop, op: dropout, in: x, p: $p}
      - {name: rnn, op: lstm, in: drop, hidden: $hidden}
      - {name: sum, op: add, in: [x, rnn]}
    out: sum
nodes:
  - {name: video_proj, op: linear, in: video, out: 128}
  - {name: v, op: res_lstm, in: video_proj, hidden: $H}
  - name: head
    op: linear
    in: v
    out: 1
    bias: yes
    sizes: [1, 2.5, true]
outputs:
  - {name: match, kind: logit, from: head}
  - name: towers
    kind: embeddings
    from: [v, audio]
train:
  epochs: 30
  lr: 0.005
  schedule:
    factor: 0.5
    patience: {epochs: 3}
";

/// Anchors, block scalars, quoting and non-ASCII text, as a second seed for the fuzz.
const ODD: &str = "\
constants: {wörd: 'it''s', esc: \"a\\tb\\u00e9\", pad: &pad same}
inputs: {\"vidéo\": [120, $H], a: {shape: [T, 8], stream: *pad}}
nodes:
  - name: n
    op: linear
    in: [vidéo]
    note: |
      a block scalar
      over two lines
    folded: >-
      folded text
    list: [&x 1, *x, -2.5e3, .inf, 0x1F]
outputs: [{name: o, kind: logit, from: n}]
train: {opt: {name: adam, betas: [0.9, 0.999]}, 'quoted.key': 1}
";

fn src(text: &str) -> SourceFile {
    SourceFile::new("m.yaml", text)
}

fn parse_ok(text: &str) -> (SourceFile, Module) {
    let source = src(text);
    match parse(&source) {
        Ok(m) => (source, m),
        Err(errors) => panic!("unexpected errors: {errors:#?}"),
    }
}

fn parse_err(text: &str) -> (SourceFile, Vec<FrontError>) {
    let source = src(text);
    match parse(&source) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(errors) => (source, errors),
    }
}

/// The only error's message, `file:line:col` and the text its span covers.
fn one_error(text: &str) -> (String, String, String) {
    let (source, errors) = parse_err(text);
    assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
    let span = errors[0].span().expect("a span");
    (errors[0].to_string(), source.location(span), source.slice(span).to_string())
}

/// Replaces `from` in the valid model (which must occur) to make a broken one.
fn broken(from: &str, to: &str) -> String {
    assert!(MODEL.contains(from), "{from:?} is not in the model");
    MODEL.replacen(from, to, 1)
}

#[test]
fn parses_the_full_model() {
    let (s, m) = parse_ok(MODEL);
    assert_eq!(m.constants.len(), 2);
    assert_eq!(s.slice(m.constants[0].name.span), "H");
    assert_eq!(m.constants[0].value.kind, ValueKind::Int(64));
    assert_eq!(m.constants[1].value.kind, ValueKind::Str("tïny ü".into()));
    assert_eq!(s.slice(m.constants[1].value.span), "\"tïny ü\"");

    let [video, audio] = &m.inputs[..] else { panic!("two inputs") };
    assert_eq!(s.slice(video.name.span), "video");
    assert_eq!(s.slice(video.span), "video: [120, 1024]");
    assert!(matches!(video.shape[..], [DimExpr::Fixed(120, _), DimExpr::Fixed(1024, _)]));
    assert_eq!(s.slice(video.shape[1].span()), "1024");
    assert_eq!(video.stream, None);
    assert!(matches!(&audio.shape[0], DimExpr::Symbol(t) if t.name == "T"));
    assert_eq!(s.location(audio.shape[0].span()), "m.yaml:5:19");
    let stream = audio.stream.as_ref().expect("a stream");
    assert_eq!((stream.name.as_str(), s.slice(stream.span)), ("mic", "mic"));

    let block = &m.blocks[0];
    assert_eq!(s.slice(block.name.span), "res_lstm");
    assert_eq!(block.params[0].ty, ParamType::Int);
    assert_eq!(block.params[1].ty, ParamType::Float);
    assert_eq!(block.params[1].default.as_ref().map(|v| &v.kind), Some(&ValueKind::Float(0.5)));
    assert_eq!(block.inputs[0].name, "x");
    assert_eq!(block.nodes.len(), 3);
    assert_eq!(block.nodes[0].args[0].value.kind, ValueKind::Ref("p".into()));
    assert_eq!(s.slice(block.nodes[0].args[0].value.span), "$p");
    assert_eq!(s.slice(block.nodes[2].span), "{name: sum, op: add, in: [x, rnn]}");
    assert_eq!(s.slice(block.output.span), "sum");
    assert!(s.slice(block.span).starts_with("name: res_lstm") && s.slice(block.span).ends_with("out: sum"));

    let [proj, v, head] = &m.nodes[..] else { panic!("three nodes") };
    assert_eq!((s.slice(proj.callee.span), s.slice(proj.inputs[0].span)), ("linear", "video"));
    assert_eq!(v.args[0].value.kind, ValueKind::Ref("H".into()));
    assert_eq!(s.location(v.args[0].value.span), "m.yaml:17:53");
    assert_eq!(s.slice(head.name.span), "head");
    assert_eq!(s.location(head.name.span), "m.yaml:18:11");
    let args: Vec<_> = head.args.iter().map(|a| (a.name.name.as_str(), a.value.to_string())).collect();
    assert_eq!(args, [("out", "1".to_string()), ("bias", "\"yes\"".into()), ("sizes", "[1, 2.5, true]".into())]);
    assert_eq!(s.slice(head.args[2].value.span), "[1, 2.5, true]");
    assert!(s.slice(head.span).starts_with("name: head") && s.slice(head.span).ends_with("2.5, true]"));

    let [logit, towers] = &m.outputs[..] else { panic!("two outputs") };
    assert_eq!((logit.kind, s.slice(logit.kind_span)), (OutputKind::Logit, "logit"));
    assert_eq!(towers.kind, OutputKind::Embeddings);
    let from: Vec<_> = towers.from.iter().map(|i| s.slice(i.span)).collect();
    assert_eq!(from, ["v", "audio"]);

    let train: Vec<_> =
        m.train.iter().map(|t| (t.key.name.as_str(), s.slice(t.key.span), t.value.to_string())).collect();
    assert_eq!(
        train,
        [
            ("epochs", "epochs", "30".to_string()),
            ("lr", "lr", "0.005".into()),
            ("schedule.factor", "factor", "0.5".into()),
            ("schedule.patience.epochs", "epochs", "3".into()),
        ]
    );
}

#[test]
fn picks_the_format_by_extension() {
    assert_eq!(format_of(Path::new("a/b.avc")), Format::Dsl);
    assert_eq!(format_of(Path::new("a/b.yaml")), Format::Yaml);
    assert_eq!(format_of(Path::new("b.yml")), Format::Yaml);
    assert_eq!(format_of(Path::new("noext")), Format::Yaml);
    let errors = parse(&SourceFile::new("m.avc", "input x: [0]\noutput o: logit(x)")).expect_err("a bad dim");
    assert!(matches!(errors[..], [FrontError::Dsl(_)]));
    assert!(errors[0].to_diagnostic().help.is_some());
}

#[test]
fn accepts_quotes_anchors_core_scalars_and_empty_optional_sections() {
    let text = "inputs: {\"video\": [120, $L], audio: [0x10]}\nconstants: {L: 7, big: 1e3, n: -.inf, s: !!str 5, z: 0o17}\n\
        nodes: [{name: a, op: &op linear, in: video}, {name: b, op: *op, in: a}]\n\
        outputs: [{name: o, kind: distance, from: b}]\nblocks:\ntrain:\n";
    let (s, m) = parse_ok(text);
    assert_eq!(s.slice(m.inputs[0].name.span), "video");
    assert!(matches!(&m.inputs[0].shape[1], DimExpr::Symbol(l) if l.name == "L" && s.slice(l.span) == "L"));
    assert!(matches!(m.inputs[1].shape[0], DimExpr::Fixed(16, _)));
    let kinds: Vec<_> = m.constants.iter().map(|c| c.value.kind.clone()).collect();
    let expected = [ValueKind::Int(7), ValueKind::Float(1000.0), ValueKind::Float(f64::NEG_INFINITY)];
    assert_eq!(kinds[..3], expected);
    assert_eq!(kinds[3], ValueKind::Str("5".into()));
    assert_eq!(kinds[4], ValueKind::Int(15));
    assert_eq!(m.nodes[1].callee.name, "linear");
    assert!(m.blocks.is_empty() && m.train.is_empty());
    assert_eq!(m.outputs[0].kind, OutputKind::Distance);
}

#[test]
fn syntax_errors_have_a_location() {
    let (msg, loc, _) = one_error("inputs: {video: [120, 1024]\nnodes: []\n");
    assert!(msg.starts_with("YAML syntax error:"), "{msg}");
    assert!(loc.starts_with("m.yaml:2:"), "{loc}");
    let (msg, loc, _) = one_error("inputs:\n  video: [1]\n    audio: [2]\n");
    assert!(msg.starts_with("YAML syntax error:"), "{msg}");
    assert!(loc.starts_with("m.yaml:3:"), "{loc}");
}

#[test]
fn empty_and_non_mapping_files() {
    for text in ["", "# only a comment\n", "~\n"] {
        let (msg, loc, _) = one_error(text);
        assert_eq!((msg.as_str(), loc.as_str()), ("the file is empty", "m.yaml:1:1"));
    }
    let (msg, loc, _) = one_error("- a\n- b\n");
    assert_eq!(msg, "the file must be a mapping with `inputs`, `nodes` and `outputs`, found a list");
    assert_eq!(loc, "m.yaml:1:1");
    let (msg, _, _) = one_error("42\n");
    assert!(msg.ends_with("found an integer `42`"), "{msg}");
}

#[test]
fn a_second_document_is_an_error() {
    let text = format!("{MODEL}---\nnodes: []\n");
    let (msg, loc, slice) = one_error(&text);
    assert_eq!(msg, "the file holds more than one YAML document");
    assert_eq!((loc.as_str(), slice.as_str()), ("m.yaml:35:1", "---"));
}

#[test]
fn unknown_top_level_key() {
    let (source, errors) = parse_err(&broken("train:", "trainn:"));
    assert_eq!(errors.len(), 1);
    let span = errors[0].span().unwrap();
    assert_eq!(errors[0].to_string(), "unknown key `trainn` in the top level");
    assert_eq!((source.location(span).as_str(), source.slice(span)), ("m.yaml:29:1", "trainn"));
    let help = errors[0].to_diagnostic().help.unwrap();
    assert!(help.starts_with("did you mean `train`?") && help.contains("`outputs`"), "{help}");
    // A misspelt required key is reported once, as unknown, not also as missing.
    let (msg, loc, _) = one_error(&broken("\nnodes:", "\nnodez:"));
    assert_eq!((msg.as_str(), loc.as_str()), ("unknown key `nodez` in the top level", "m.yaml:15:1"));
}

#[test]
fn unknown_keys_in_outputs_inputs_and_blocks() {
    let (msg, loc, slice) = one_error(&broken("kind: logit", "kidn: logit, kind: logit"));
    assert_eq!(msg, "unknown key `kidn` in output `match`");
    assert_eq!((loc.as_str(), slice.as_str()), ("m.yaml:25:19", "kidn"));
    let (msg, loc, _) = one_error(&broken("stream: mic", "stream: mic, steam: x"));
    assert_eq!((msg.as_str(), loc.as_str()), ("unknown key `steam` in input `audio`", "m.yaml:5:41"));
    let (msg, loc, _) = one_error(&broken("    out: sum", "    output: sum\n    out: sum"));
    assert_eq!((msg.as_str(), loc.as_str()), ("unknown key `output` in block `res_lstm`", "m.yaml:14:5"));
}

#[test]
fn wrong_types() {
    let text = broken("inputs:\n  video: [120, 1024]\n  audio: {shape: [T, 128], stream: mic}", "inputs: 5");
    let (msg, loc, slice) = one_error(&text);
    assert_eq!(msg, "`inputs` must be a mapping of input names to shapes, found an integer `5`");
    assert_eq!((loc.as_str(), slice.as_str()), ("m.yaml:3:9", "5"));
    let (msg, _, slice) = one_error(&broken("video: [120, 1024]", "video: 120"));
    assert!(msg.starts_with("the shape of input `video` must be a list of dimensions"), "{msg}");
    assert_eq!(slice, "120");
    let (msg, loc, _) = one_error(&broken("from: [v, audio]", "from: {v: audio}"));
    assert_eq!(msg, "`from` of output `towers` must be a name or a list of names, found a mapping");
    assert_eq!(loc, "m.yaml:28:11");
}

#[test]
fn missing_name_op_and_kind() {
    let (msg, loc, _) = one_error(&broken("{name: video_proj, op: linear", "{op: linear"));
    assert_eq!((msg.as_str(), loc.as_str()), ("node #1 has no `name`", "m.yaml:16:5"));
    let (msg, loc, _) = one_error(&broken("    op: linear\n", ""));
    assert_eq!((msg.as_str(), loc.as_str()), ("node `head` has no `op`", "m.yaml:18:5"));
    let (msg, loc, _) = one_error(&broken(" kind: logit,", ""));
    assert_eq!((msg.as_str(), loc.as_str()), ("output `match` has no `kind`", "m.yaml:25:5"));
    let outputs = "outputs:\n  - {name: match, kind: logit, from: head}\n  - name: towers\n    kind: embeddings\n    from: [v, audio]\n";
    let (msg, loc, slice) = one_error(&broken(outputs, ""));
    assert_eq!(msg, "the model has no `outputs`");
    assert_eq!((loc.as_str(), slice.as_str()), ("m.yaml:2:1", "constants"));
}

#[test]
fn bad_dims() {
    let (source, errors) = parse_err(&broken("[120, 1024]", "[-3, 1.5, x y, 0, [2]]"));
    let found: Vec<_> = errors.iter().map(|e| (e.to_string(), source.location(e.span().unwrap()))).collect();
    let expected = [
        ("input `video`: `-3` is not a valid dimension", "m.yaml:4:11"),
        ("input `video`: `1.5` is not a valid dimension", "m.yaml:4:15"),
        ("input `video`: `x y` is not a valid dimension", "m.yaml:4:20"),
        ("input `video`: `0` is not a valid dimension", "m.yaml:4:25"),
        ("input `video`: `a list` is not a valid dimension", "m.yaml:4:28"),
    ];
    let expected: Vec<_> = expected.iter().map(|(m, l)| (m.to_string(), l.to_string())).collect();
    assert_eq!(found, expected);
}

#[test]
fn unknown_output_kind() {
    let (source, errors) = parse_err(&broken("kind: logit", "kind: logits"));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].to_string(), "unknown output kind `logits`");
    assert_eq!(source.location(errors[0].span().unwrap()), "m.yaml:25:25");
    let help = errors[0].to_diagnostic().help.unwrap();
    assert_eq!(help, "did you mean `logit`? the kinds are `logit`, `distance` or `embeddings`");
}

#[test]
fn bad_param_type() {
    let (source, errors) = parse_err(&broken("hidden: int", "hidden: integer"));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].to_string(), "unknown parameter type `integer`");
    let span = errors[0].span().unwrap();
    assert_eq!((source.location(span).as_str(), source.slice(span)), ("m.yaml:8:22", "integer"));
    assert!(errors[0].to_diagnostic().help.unwrap().contains("`int`, `float`, `bool` or `str`"));
    let (source, errors) = parse_err(&broken("{type: float,", "{tpye: float,"));
    let found: Vec<_> = errors.iter().map(|e| (e.to_string(), source.location(e.span().unwrap()))).collect();
    let expected = [
        ("parameter `p` of block `res_lstm` has no `type`", "m.yaml:8:30"),
        ("unknown key `tpye` in parameter `p` of block `res_lstm`", "m.yaml:8:31"),
    ];
    let expected: Vec<_> = expected.iter().map(|(m, l)| (m.to_string(), l.to_string())).collect();
    assert_eq!(found, expected);
    assert_eq!(source.slice(errors[0].span().unwrap()), "{tpye: float, default: 0.5}");
}

#[test]
fn duplicate_keys_point_at_the_second() {
    let (source, errors) = parse_err(&broken("    out: 1\n", "    out: 1\n    out: 2\n"));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].to_string(), "key `out` is given twice");
    assert_eq!(source.location(errors[0].span().unwrap()), "m.yaml:22:5");
    let diag = errors[0].to_diagnostic();
    assert_eq!(source.location(diag.labels[1].span), "m.yaml:21:5");
}

#[test]
fn null_values_are_errors() {
    let (msg, loc, slice) = one_error(&broken("in: v\n", "in:\n"));
    assert_eq!((msg.as_str(), loc.as_str(), slice.as_str()), ("`in` of node `head` has no value", "m.yaml:20:5", "in"));
    let (msg, loc, _) = one_error(&broken("epochs: 30", "epochs: ~"));
    assert_eq!((msg.as_str(), loc.as_str()), ("setting `epochs` has no value", "m.yaml:30:11"));
}

#[test]
fn bad_names_refs_and_integers() {
    let (msg, loc, _) = one_error(&broken("name: head", "name: head.x"));
    assert_eq!((msg.as_str(), loc.as_str()), ("`head.x` is not a valid node name", "m.yaml:18:11"));
    let (msg, loc, _) = one_error(&broken("video: [", "2video: ["));
    assert_eq!((msg.as_str(), loc.as_str()), ("`2video` is not a valid input name", "m.yaml:4:3"));
    let (msg, loc, _) = one_error(&broken("p: $p", "p: $1p"));
    assert_eq!((msg.as_str(), loc.as_str()), ("`$1p` is not a valid reference", "m.yaml:11:45"));
    let (msg, _, slice) = one_error(&broken("epochs: 30", "epochs: 99999999999999999999"));
    assert_eq!(
        (msg.as_str(), slice.as_str()),
        ("the integer `99999999999999999999` does not fit in 64 bits", "99999999999999999999")
    );
}

#[test]
fn collects_independent_errors() {
    let text = broken("{name: video_proj, op: linear", "{op: linear");
    let text = text.replacen("kind: logit", "kind: logits", 1).replacen("[120, 1024]", "[120, -1]", 1);
    let (_, errors) = parse_err(&text);
    let messages: Vec<_> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        ["input `video`: `-1` is not a valid dimension", "node #1 has no `name`", "unknown output kind `logits`"]
    );
}

#[test]
fn diagnostics_render_with_location_and_help() {
    let (source, errors) = parse_err(&broken("kind: logit", "kind: logits"));
    let diag = errors[0].to_diagnostic();
    assert_eq!(diag.code, "yaml::output-kind");
    assert_eq!(diag.location(&source).as_deref(), Some("m.yaml:25:25"));
    let text = diag.render(&source, false);
    assert!(text.starts_with("m.yaml:25:25: error[yaml::output-kind]: unknown output kind `logits`"), "{text}");
}

#[test]
fn fixtures_parse_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/yaml");
    let read = |name: &str| {
        let text = std::fs::read_to_string(dir.join(name)).expect("fixture");
        SourceFile::new(name, text)
    };
    assert!(parse(&read("ok_small.yaml")).is_ok());
    assert!(parse(&read("err_keys.yaml")).is_err_and(|e| e.len() >= 3));
    assert!(parse(&read("err_values.yaml")).is_err_and(|e| e.len() >= 3));
}

#[test]
fn spans_are_right_after_non_ascii_text() {
    let (source, errors) = parse_err(ODD);
    let found: Vec<_> = errors.iter().map(|e| (e.to_string(), source.slice(e.span().unwrap()))).collect();
    let expected = [
        ("`wörd` is not a valid constant name", "wörd"),
        ("`vidéo` is not a valid input name", "vidéo"),
        ("`vidéo` is not a valid node or input name", "vidéo"),
    ];
    let expected: Vec<_> = expected.iter().map(|(m, s)| (m.to_string(), *s)).collect();
    assert_eq!(found, expected);
    assert_eq!(source.location(errors[2].span().unwrap()), "m.yaml:6:10");

    let fixed = ODD.replace("wörd", "word").replace("vidéo", "video");
    let (s, m) = parse_ok(&fixed);
    let value = |name: &str| m.nodes[0].args.iter().find(|a| a.name.name == name).map(|a| &a.value).unwrap();
    assert_eq!(value("note").kind, ValueKind::Str("a block scalar\nover two lines\n".into()));
    assert_eq!(value("folded").kind, ValueKind::Str("folded text".into()));
    assert_eq!(value("list").to_string(), "[1, 1, -2500.0, inf, 31]");
    assert_eq!(s.slice(value("list").span), "[&x 1, *x, -2.5e3, .inf, 0x1F]");
    assert_eq!(m.constants[1].value.kind, ValueKind::Str("a\tbé".into()));
    assert_eq!(m.inputs[1].stream.as_ref().map(|s| s.name.as_str()), Some("same"));
    let keys: Vec<_> = m.train.iter().map(|t| t.key.name.as_str()).collect();
    assert_eq!(keys, ["opt.name", "opt.betas", "quoted.key"]);
}

/// A tiny deterministic xorshift, enough to mutate text.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One random edit: a byte replaced by a YAML-significant one, a truncation, a deleted
/// or duplicated line, or an inserted run of brackets.
fn mutate(rng: &mut XorShift, text: &str) -> String {
    const BYTES: &[u8] = b"{}[]:,-#&*!|>'\"? \n\t$.0aZ~%@`\\";
    if text.is_empty() {
        return String::new();
    }
    let mut bytes = text.as_bytes().to_vec();
    let at = rng.below(bytes.len());
    match rng.below(5) {
        0 => bytes[at] = BYTES[rng.below(BYTES.len())],
        1 => bytes.truncate(at),
        2 | 3 => {
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            if lines.is_empty() {
                return String::new();
            }
            let i = rng.below(lines.len());
            let mut out: Vec<&str> = lines.clone();
            if rng.below(2) == 0 {
                out.remove(i);
            } else {
                out.insert(i, lines[i]);
            }
            return out.concat();
        }
        _ => bytes.splice(at..at, b"[{&a *a ".iter().copied()).for_each(drop),
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn mutated_files_never_panic() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let (mut ok, mut err) = (0, 0);
    for _ in 0..4000 {
        let mut text = if rng.below(3) == 0 { ODD } else { MODEL }.to_string();
        for _ in 0..=rng.below(3) {
            text = mutate(&mut rng, &text);
        }
        let source = src(&text);
        match parse(&source) {
            Ok(_) => ok += 1,
            Err(errors) => {
                assert!(!errors.is_empty());
                for e in &errors {
                    let diag = e.to_diagnostic();
                    let _ = diag.render(&source, false);
                }
                err += 1;
            }
        }
    }
    assert!(ok > 0 && err > 0, "ok {ok}, err {err}");
}

#[test]
fn deep_nesting_and_alias_bombs_are_refused() {
    for deep in
        [format!("inputs: {}{}\n", "[".repeat(100), "]".repeat(100)), format!("inputs:\n  {}x\n", "- ".repeat(5000))]
    {
        let (msg, _, _) = one_error(&deep);
        assert!(msg.contains("more than 64 levels deep"), "{msg}");
    }
    // The scanner's own limit on flow nesting comes first here: a syntax error.
    let (msg, _, _) = one_error(&format!("inputs: {}{}\n", "[".repeat(5000), "]".repeat(5000)));
    assert!(msg.starts_with("YAML syntax error"), "{msg}");
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..8 {
        let prev = format!("*a{}", i - 1);
        bomb.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
    }
    let (_, errors) = parse_err(&bomb);
    assert!(errors[0].to_string().contains("values (after expanding aliases)"), "{errors:?}");
}
