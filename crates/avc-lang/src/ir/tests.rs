//! Unit tests of IR building: block expansion, names, constants, aliases.

use super::{NodeKind, build};
use crate::front;
use crate::ops::Op;
use crate::source::SourceFile;

fn graph(text: &str) -> super::Graph {
    let module = front::parse(&SourceFile::new("t.yaml", text)).expect("parses");
    build(&module).unwrap_or_else(|e| panic!("{e:?}"))
}

const BLOCKS: &str = "
constants: {H: 8}
inputs: {video: [T, 4], audio: [T, 4]}
blocks:
  - name: inner
    params: {width: int}
    in: [x]
    nodes:
      - {name: lin, op: linear, in: x, out: $width}
    out: lin
  - name: outer
    params: {width: {type: int, default: 3}}
    in: [x]
    nodes:
      - {name: a, op: inner, in: x, width: $width}
      - {name: b, op: inner, in: a, width: $H}
    out: b
nodes:
  - {name: v, op: outer, in: video}
  - {name: w, op: outer, in: audio, width: 5}
  - {name: j, op: concat, in: [v, w]}
outputs:
  - {name: o, kind: logit, from: j}
";

#[test]
fn blocks_expand_per_instance_with_dotted_names() {
    let g = graph(BLOCKS);
    let names: Vec<&str> = g.topo().iter().map(|&id| g.node(id).name.as_str()).collect();
    assert_eq!(names, ["video", "audio", "v.a.lin", "v.b.lin", "w.a.lin", "w.b.lin", "j"]);
    let out = |name: &str| match &g.node(g.find(name).unwrap()).kind {
        NodeKind::Op(Op::Linear(l)) => l.out,
        other => panic!("{other:?}"),
    };
    // Defaults, explicit arguments and constants all reach the inner nodes.
    assert_eq!((out("v.a.lin"), out("v.b.lin"), out("w.a.lin"), out("w.b.lin")), (3, 8, 5, 8));
    assert_eq!(g.node(g.find("w.b.lin").unwrap()).instance, ["w", "w.b"]);
}

#[test]
fn an_instance_name_stands_for_its_output() {
    let g = graph(BLOCKS);
    let j = g.find("j").unwrap();
    let ins: Vec<&str> = g.inputs_of(j).iter().map(|&i| g.node(i).name.as_str()).collect();
    assert_eq!(ins, ["v.b.lin", "w.b.lin"]);
}

#[test]
fn symbols_stay_symbolic_and_constants_fill_shapes() {
    let g = graph(&BLOCKS.replace("video: [T, 4]", "video: [T, $H]"));
    match &g.node(g.find("video").unwrap()).kind {
        NodeKind::Input { shape, stream } => {
            assert_eq!(shape.to_string(), "[B, T, 8]");
            assert_eq!(stream, "video");
        }
        other => panic!("{other:?}"),
    }
}
