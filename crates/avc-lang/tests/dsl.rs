//! The text DSL: every `architectures/X.avc` compiles to the same IR as its twin
//! `X.yaml`, node for node; every bad file in crates/avc-lang/tests/fixtures/dsl/ is rejected with located
//! diagnostics, snapshotted.

use avc_lang::compile::{Compiled, compile_file};
use avc_lang::ir::NodeKind;
use std::path::{Path, PathBuf};

fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the directory exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some(ext))
        .collect();
    files.sort();
    files
}

fn compiled(path: &Path) -> Compiled {
    match compile_file(path).expect("readable") {
        Ok(c) => c,
        Err(f) => {
            panic!(
                "{} does not compile:\n{}",
                path.display(),
                avc_lang::diag::render_all(&f.diagnostics, &f.source, false)
            )
        }
    }
}

/// Everything the IR and its checks say about each node, in insertion order: name, op (or
/// input stream and shape), inputs by slot, block instance, inferred shape, parameters.
fn nodes(c: &Compiled) -> Vec<String> {
    let g = &c.graph;
    g.ids()
        .map(|id| {
            let n = g.node(id);
            let inputs: Vec<&str> = g.inputs_of(id).into_iter().map(|i| g.node(i).name.as_str()).collect();
            let shape = c.checked.shape(id).map(|s| s.to_string());
            let params = c.checked.params[id.index()];
            format!("{} {:?} in={inputs:?} instance={:?} shape={shape:?} params={params}", n.name, n.kind, n.instance)
        })
        .collect()
}

/// Edges as (producer, consumer, slot), by name, sorted.
fn edges(c: &Compiled) -> Vec<(String, String, usize)> {
    let g = &c.graph;
    let mut edges: Vec<_> =
        g.edges().map(|(a, b, slot)| (g.node(a).name.clone(), g.node(b).name.clone(), slot)).collect();
    edges.sort();
    edges
}

fn outputs(c: &Compiled) -> Vec<String> {
    let g = &c.graph;
    let from = |o: &avc_lang::ir::Output| o.from.iter().map(|&i| g.node(i).name.clone()).collect::<Vec<_>>();
    g.outputs.iter().map(|o| format!("{} {:?} {:?}", o.name, o.kind, from(o))).collect()
}

/// The `train` settings without spans: key, value as written back, and its type.
fn train(c: &Compiled) -> Vec<String> {
    c.graph.train.iter().map(|s| format!("{} = {} ({})", s.key.name, s.value, s.value.kind.type_name())).collect()
}

fn assert_same_ir(yaml_path: &Path, dsl_path: &Path) {
    let (yaml, dsl) = (compiled(yaml_path), compiled(dsl_path));
    let what = format!("{} vs {}", yaml_path.display(), dsl_path.display());
    assert_eq!(nodes(&dsl), nodes(&yaml), "{what}: nodes");
    for (a, b) in yaml.graph.ids().zip(dsl.graph.ids()) {
        let (a, b) = (yaml.graph.node(a), dsl.graph.node(b));
        if let (NodeKind::Op(x), NodeKind::Op(y)) = (&a.kind, &b.kind) {
            assert!(x == y, "{what}: node `{}` has op {x:?} vs {y:?}", a.name);
        }
    }
    let order = |c: &Compiled| c.graph.topo().iter().map(|&i| c.graph.node(i).name.clone()).collect::<Vec<_>>();
    assert_eq!(order(&dsl), order(&yaml), "{what}: topological order");
    assert_eq!(edges(&dsl), edges(&yaml), "{what}: edges");
    assert_eq!(outputs(&dsl), outputs(&yaml), "{what}: outputs");
    assert_eq!(train(&dsl), train(&yaml), "{what}: train settings");
    assert_eq!(dsl.checked.total_params(), yaml.checked.total_params(), "{what}: parameter count");
    assert!(dsl.checked.diagnostics().is_empty(), "{what}: the DSL twin has warnings");
}

#[test]
fn every_dsl_twin_compiles_to_the_same_ir_as_its_yaml() {
    crate::at_workspace_root();
    let mut twins = 0;
    for yaml in crate::ARCHITECTURE_DIRS.iter().flat_map(|dir| files(dir, "yaml")) {
        let dsl = yaml.with_extension("avc");
        if dsl.exists() {
            assert_same_ir(&yaml, &dsl);
            twins += 1;
        }
    }
    assert!(twins >= 2, "expected final and meanpool in both syntaxes, found {twins} pairs");
}

#[test]
fn every_bad_dsl_file_gets_a_located_diagnostic() {
    crate::at_workspace_root();
    let fixtures = files("crates/avc-lang/tests/fixtures/dsl", "avc");
    assert!(fixtures.len() >= 15, "expected the bad DSL fixtures, found {}", fixtures.len());
    for path in fixtures {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        let text = match compile_file(&path).expect("readable") {
            Ok(_) => panic!("{stem}: compiles, but every fixture here is wrong"),
            Err(f) => avc_lang::diag::render_all(&f.diagnostics, &f.source, false),
        };
        crate::assert_located(&text, &path, &stem);
        insta::assert_snapshot!(format!("dsl_{stem}"), text);
    }
}

/// A block of the file shadows a built-in op of the same name: a file written before `split`
/// became an op keeps its meaning.
#[test]
fn a_block_shadows_a_built_in_op_of_the_same_name() {
    let text = "input audio: [T, 128]\n\
        block split(x, parts: int) {\n  r = reshape(x, shape: [-1, parts, 32])\n  return r\n}\n\
        s = split(audio, parts: 4)\nm = mean(s, axis: 1)\nh = linear(flatten(m), out: 1)\noutput o: logit(h)\n";
    let source = avc_lang::source::SourceFile::new("shadow.avc", text);
    let c = match avc_lang::compile::compile(&source) {
        Ok(c) => c,
        Err(f) => panic!("{}", avc_lang::diag::render_all(&f.diagnostics, &f.source, false)),
    };
    let g = &c.graph;
    let r = g.ids().find(|&id| g.node(id).name == "s.r").expect("the block was expanded");
    assert_eq!(c.checked.shape(r).map(|s| s.to_string()).as_deref(), Some("[B, T, 4, 32]"));
}

/// A symbolic length written two ways is one length: padded by a step and trimmed by one,
/// or a step concatenated before it and dropped, is `T` again, so it adds to the input;
/// a convolution's `T-4` plus a pad of 4 is `T`; a product of a sum keeps its parentheses.
#[test]
fn symbolic_lengths_written_two_ways_are_one() {
    let text = "input video: [T, 16]\ninput audio: [T, 8]\n\
        trimmed = pad(video, before: 1)[1:]\n\
        joined = concat(reshape(mean(video), shape: [1, 16]), video, axis: 1)[1:]\n\
        narrowed = pad(conv1d(video, out: 16, kernel: 5), after: 4)\n\
        v = trimmed + joined + narrowed + video\n\
        f = flatten(conv1d(video, out: 2, kernel: 3))\n\
        vm = mean(v)\nam = mean(linear(audio, out: 16))\noutput e: embeddings(vm, am)\n";
    let source = avc_lang::source::SourceFile::new("lengths.avc", text);
    let c = match avc_lang::compile::compile(&source) {
        Ok(c) => c,
        Err(f) => panic!("{}", avc_lang::diag::render_all(&f.diagnostics, &f.source, false)),
    };
    let g = &c.graph;
    let shape = |name: &str| {
        let id = g.ids().find(|&id| g.node(id).name == name).unwrap_or_else(|| panic!("no node {name}"));
        c.checked.shape(id).map(|s| s.to_string()).unwrap_or_default()
    };
    assert_eq!(shape("v"), "[B, T, 16]");
    assert_eq!(shape("f"), "[B, (T-2)*2]");
}
