//! Pictures of every architecture: the DOT text is snapshotted; the SVG is well-formed,
//! names every node, and its layout never overlaps two boxes; the Mermaid text names
//! every node.

use avc_lang::compile::Compiled;
use avc_lang::graph::{self, PictureFormat};
use std::path::PathBuf;

fn architectures() -> Vec<(String, Compiled)> {
    let files = crate::architecture_files();
    assert!(files.len() >= 2, "expected final.yaml and meanpool.yaml at least");
    files
        .into_iter()
        .map(|path| {
            let compiled = crate::compile_ok(&path);
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().replace('.', "_");
            (name, compiled)
        })
        .collect()
}

/// Checks that tags nest and close, attributes are quoted and `&` only starts entities;
/// returns the element names seen.
fn check_xml(text: &str) -> Vec<String> {
    let mut stack: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    let mut rest = text.trim();
    assert!(rest.starts_with("<svg"), "an SVG starts with <svg");
    while let Some(start) = rest.find('<') {
        check_text(&rest[..start]);
        let end = rest[start..].find('>').expect("every tag closes") + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        assert!(!tag.contains('<'), "`<` inside a tag: {tag}");
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().unwrap_or_else(|| panic!("</{name}> closes nothing"));
            assert_eq!(open, name.trim(), "</{name}> closes <{open}>");
            continue;
        }
        let name: String = tag.chars().take_while(|c| !c.is_whitespace() && *c != '/').collect();
        assert!(!name.is_empty(), "empty tag");
        assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes in <{tag}>");
        check_text(tag);
        seen.push(name.clone());
        if !tag.ends_with('/') {
            stack.push(name);
        }
        if stack.is_empty() {
            assert!(rest.trim().is_empty(), "text after the root element: {rest}");
        }
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    seen
}

fn check_text(text: &str) {
    assert!(!text.contains('>'), "raw `>` in text: {text}");
    for (i, _) in text.match_indices('&') {
        let entity = &text[i..];
        let ok = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].iter().any(|e| entity.starts_with(e));
        assert!(ok, "raw `&` in text: {text}");
    }
}

/// No two boxes overlap, text fits its box, edge labels are clear of boxes and of each
/// other, every cluster frame holds exactly its members and no sibling frame.
fn assert_clean(name: &str, lay: &graph::Layout) {
    for (i, a) in lay.nodes.iter().enumerate() {
        assert!(a.rect.x >= 0.0 && a.rect.y >= 0.0, "{name}: {} outside the picture", a.id);
        assert!(a.rect.right() <= lay.width + 0.5 && a.rect.bottom() <= lay.height + 0.5, "{name}: {} outside", a.id);
        // Text fits: the widest line at 7.2 px per character, plus padding.
        let text = a.lines.iter().map(|l| graph::layout::text_width(l)).fold(0.0, f64::max);
        assert!(a.rect.w >= text + 16.0, "{name}: text of {} overflows", a.id);
        for b in &lay.nodes[i + 1..] {
            assert!(!a.rect.overlaps(&b.rect), "{name}: {} overlaps {}", a.id, b.id);
        }
        for e in &lay.edges {
            assert!(!a.rect.overlaps(&e.label_rect), "{name}: {} overlaps the label of an edge", a.id);
        }
    }
    for (i, a) in lay.edges.iter().enumerate() {
        for b in &lay.edges[i + 1..] {
            assert!(!a.label_rect.overlaps(&b.label_rect), "{name}: edge labels overlap");
        }
    }
    for (i, cl) in lay.clusters.iter().enumerate() {
        for (k, n) in lay.nodes.iter().enumerate() {
            let inside = cl.members.contains(&k);
            assert_eq!(inside, cl.rect.contains(&n.rect), "{name}: cluster {} and node {}", cl.name, n.id);
            assert!(inside || !cl.rect.overlaps(&n.rect), "{name}: cluster {} covers {}", cl.name, n.id);
        }
        for other in &lay.clusters[i + 1..] {
            let nested = cl.rect.contains(&other.rect) || other.rect.contains(&cl.rect);
            assert!(
                nested || !cl.rect.overlaps(&other.rect),
                "{name}: clusters {} and {} overlap",
                cl.name,
                other.name
            );
        }
    }
}

#[test]
fn dot_pictures_are_stable() {
    crate::at_workspace_root();
    for (name, c) in architectures() {
        let dot = graph::to_dot(&c.graph, &c.checked);
        for &id in c.graph.topo() {
            assert!(dot.contains(&format!("\"{}\"", c.graph.node(id).name)));
        }
        insta::assert_snapshot!(format!("dot_{name}"), dot);
    }
}

#[test]
fn svg_pictures_are_well_formed_and_name_every_node() {
    crate::at_workspace_root();
    for (name, c) in architectures() {
        let svg = graph::to_svg(&c.graph, &c.checked);
        let elements = check_xml(&svg);
        assert!(elements.iter().any(|e| e == "path"), "{name}: no edges drawn");
        assert!(svg.contains("viewBox=\"0 0 "), "{name}: no viewBox");
        for &id in c.graph.topo() {
            let node = c.graph.node(id);
            assert!(svg.contains(&format!(">{}<", node.name)), "{name}: node {} missing", node.name);
        }
        for out in &c.graph.outputs {
            assert!(svg.contains(&format!("output: {}", out.kind.keyword())), "{name}: output {} missing", out.name);
        }
        assert_eq!(svg, graph::render(&c.graph, &c.checked, PictureFormat::Svg), "{name}: not deterministic");
        if let Ok(dir) = std::env::var("AVC_GRAPH_DIR") {
            std::fs::write(PathBuf::from(dir).join(format!("{name}.svg")), &svg).expect("writable");
        }
    }
}

#[test]
fn svg_layout_has_no_overlaps_and_clusters_hold_their_nodes() {
    crate::at_workspace_root();
    for (name, c) in architectures() {
        let lay = graph::layout(&c.graph, &c.checked);
        assert_eq!(lay.nodes.len(), c.graph.len() + c.graph.outputs.len());
        assert_clean(&name, &lay);
        // Every node of a block instance is in the cluster of that instance.
        for &id in c.graph.topo() {
            let node = c.graph.node(id);
            for inst in &node.instance {
                let cl = lay.clusters.iter().find(|cl| &cl.name == inst).expect("a cluster per instance");
                assert!(
                    cl.members.iter().any(|&k| lay.nodes[k].id == node.name),
                    "{name}: {} not in {inst}",
                    node.name
                );
            }
        }
    }
}

/// The video tower's boxes all lie left of the audio tower's, whatever their ranks.
fn assert_towers_apart(name: &str, lay: &graph::Layout) {
    use avc_lang::check::Tower;
    let right =
        |t: Tower| lay.nodes.iter().filter(|n| n.tower == t).map(|n| n.rect.right()).fold(f64::NEG_INFINITY, f64::max);
    let left = |t: Tower| lay.nodes.iter().filter(|n| n.tower == t).map(|n| n.rect.x).fold(f64::INFINITY, f64::min);
    let (video, audio) = (right(Tower::Video), left(Tower::Audio));
    assert!(video < audio, "{name}: towers interleave (video reaches x = {video}, audio starts at x = {audio})");
}

#[test]
fn towers_are_apart_video_left_audio_right() {
    crate::at_workspace_root();
    for (name, c) in architectures() {
        for collapse in [false, true] {
            let lay = graph::layout_with(&c.graph, &c.checked, graph::Drawing { collapse });
            assert_towers_apart(&format!("{name} (collapse: {collapse})"), &lay);
        }
    }
}

#[test]
fn collapsed_layouts_have_no_overlaps() {
    crate::at_workspace_root();
    for (name, c) in architectures() {
        let lay = graph::layout_with(&c.graph, &c.checked, graph::Drawing { collapse: true });
        assert!(lay.clusters.is_empty(), "{name}: no clusters once collapsed");
        assert_clean(&format!("{name} (collapsed)"), &lay);
    }
}

#[test]
fn mermaid_names_every_node() {
    crate::at_workspace_root();
    for (name, c) in architectures() {
        let text = graph::to_mermaid(&c.graph, &c.checked);
        assert!(text.contains("flowchart TB"));
        for &id in c.graph.topo() {
            let node = c.graph.node(id);
            assert!(text.contains(&format!("\"{}<br/>", node.name)), "{name}: node {} missing", node.name);
        }
        for inst in c.graph.topo().iter().flat_map(|&id| c.graph.node(id).instance.clone()) {
            assert!(text.contains(&format!("[\"{inst}\"]")), "{name}: subgraph {inst} missing");
        }
    }
}

#[test]
fn picture_formats_parse() {
    crate::at_workspace_root();
    assert_eq!("svg".parse::<PictureFormat>(), Ok(PictureFormat::Svg));
    assert_eq!("DOT".parse::<PictureFormat>(), Ok(PictureFormat::Dot));
    assert_eq!("gv".parse::<PictureFormat>(), Ok(PictureFormat::Dot));
    assert_eq!("mermaid".parse::<PictureFormat>(), Ok(PictureFormat::Mermaid));
    assert_eq!("mmd".parse::<PictureFormat>(), Ok(PictureFormat::Mermaid));
    assert!("png".parse::<PictureFormat>().is_err());
    assert_eq!(PictureFormat::from_path(std::path::Path::new("g.svg")), Some(PictureFormat::Svg));
    assert_eq!(PictureFormat::Mermaid.to_string(), "mermaid");
}

/// Nested blocks, a block with two inputs, a symbolic length, fan-out, two outputs (one
/// of them a pair of embeddings): the layout stays free of overlaps here too.
const STRESS: &str = "\
input video: [T, 1024]
input audio: [T, 128]

block proj(x, d: int) {
    l = linear(x, out: d)
    a = leaky_relu(l)
    return a
}

block tower(x, d: int) {
    p1 = proj(x, d: d)
    p2 = proj(p1, d: d)
    s = p1 + p2
    m = mean(s)
    return m
}

block fuse(v, a) {
    c = concat(v, a)
    h = linear(c, out: 8)
    g = leaky_relu(h)
    return g
}

vt = tower(video, d: 32)
at = tower(audio, d: 32)
f = fuse(vt, at)
score = linear(f, out: 1)
v = linear(vt, out: 16)
a = linear(at, out: 16)
output pair: embeddings(v, a)
output match: logit(score)
";

#[test]
fn nested_blocks_and_two_outputs_lay_out_cleanly() {
    crate::at_workspace_root();
    let source = avc_lang::source::SourceFile::new("stress.avc", STRESS);
    let c = match avc_lang::compile::compile(&source) {
        Ok(c) => c,
        Err(failed) => panic!("{}", avc_lang::diag::render_all(&failed.diagnostics, &failed.source, false)),
    };
    let svg = graph::to_svg(&c.graph, &c.checked);
    check_xml(&svg);
    if let Ok(dir) = std::env::var("AVC_GRAPH_DIR") {
        std::fs::write(PathBuf::from(dir).join("stress.svg"), &svg).expect("writable");
    }
    let lay = graph::layout(&c.graph, &c.checked);
    assert_clean("stress", &lay);
    let inner = lay.clusters.iter().find(|cl| cl.name == "vt.p1").expect("nested instance");
    let outer = lay.clusters.iter().find(|cl| cl.name == "vt").expect("outer instance");
    assert!(outer.rect.contains(&inner.rect) && inner.depth == 1 && outer.depth == 0);
    let dot = graph::to_dot(&c.graph, &c.checked);
    assert!(dot.contains("subgraph \"cluster_vt\" {") && dot.contains("subgraph \"cluster_vt.p1\" {"));
    assert!(graph::to_mermaid(&c.graph, &c.checked).contains("output: embeddings"));
}

/// A deep model (two towers of 15 residual blocks each, then a joint stack) still lays
/// out without overlaps, and quickly.
#[test]
fn deep_models_lay_out() {
    crate::at_workspace_root();
    let mut text = String::from(
        "input video: [120, 64]\ninput audio: [120, 64]\n\
         block res(x) {\n    a = linear(x, out: 64)\n    b = leaky_relu(a)\n    c = linear(b, out: 64)\n    s = x + c\n    return s\n}\n",
    );
    let mut v = "video".to_string();
    let mut a = "audio".to_string();
    for i in 0..15 {
        text.push_str(&format!("v{i} = res({v})\na{i} = res({a})\n"));
        (v, a) = (format!("v{i}"), format!("a{i}"));
    }
    text.push_str(&format!("j = concat({v}, {a})\nj0 = linear(j, out: 64)\n"));
    let mut j = "j0".to_string();
    for i in 0..10 {
        text.push_str(&format!("j{}= res({j})\n", i + 1));
        j = format!("j{}", i + 1);
    }
    text.push_str(&format!("h = linear(mean({j}), out: 1)\noutput match: logit(h)\n"));
    let source = avc_lang::source::SourceFile::new("deep.avc", text);
    let c = match avc_lang::compile::compile(&source) {
        Ok(c) => c,
        Err(failed) => panic!("{}", avc_lang::diag::render_all(&failed.diagnostics, &failed.source, false)),
    };
    let start = std::time::Instant::now();
    let lay = graph::layout(&c.graph, &c.checked);
    eprintln!("deep model: {} nodes laid out in {:?}", lay.nodes.len(), start.elapsed());
    assert_clean("deep", &lay);
    let svg = graph::to_svg(&c.graph, &c.checked);
    check_xml(&svg);
    if let Ok(dir) = std::env::var("AVC_GRAPH_DIR") {
        std::fs::write(PathBuf::from(dir).join("deep.svg"), &svg).expect("writable");
    }
}

/// `--collapse`: each top-level block instance is one box; edges between boxes stay, the
/// insides go; the boxes say which block and how many parameters; nothing is lost from the
/// total. Boxes show their key arguments (kernel, heads) in both drawings.
#[test]
fn collapsed_blocks_are_one_box_each_and_boxes_show_their_arguments() {
    let (_, c) = architectures().into_iter().find(|(n, _)| n == "residual_rnn_avc").expect("residual_rnn.avc");
    let full = graph::render(&c.graph, &c.checked, PictureFormat::Dot);
    let drawing = graph::Drawing { collapse: true };
    let collapsed = graph::render_with(&c.graph, &c.checked, PictureFormat::Dot, drawing);
    let boxes = |dot: &str| dot.lines().filter(|l| l.contains("[label=") && !l.contains("->")).count();
    assert!(boxes(&collapsed) < boxes(&full), "{} boxes collapsed, {} whole", boxes(&collapsed), boxes(&full));
    assert!(!collapsed.contains("subgraph"), "no clusters once collapsed:\n{collapsed}");
    assert!(collapsed.contains("block, "), "{collapsed}");
    let svg = graph::render_with(&c.graph, &c.checked, PictureFormat::Svg, drawing);
    check_xml(svg.trim_start_matches(|ch| ch != '<'));
    assert!(full.contains("hidden="), "a recurrent box shows its hidden size:\n{full}");
}

/// The Conformer fixture: two towers of wide boxes (`sinusoidal_position`, the convolution
/// module's arguments) whose columns once drifted into each other. Whole and collapsed, its
/// layout is clean, and the towers stay apart.
#[test]
fn conformer_lays_out_cleanly_whole_and_collapsed() {
    crate::at_workspace_root();
    let path = std::path::Path::new("crates/avc-lang/tests/fixtures/ok/conformer.avc");
    let c = crate::compile_ok(path);
    let svg = graph::render_with(&c.graph, &c.checked, PictureFormat::Svg, graph::Drawing { collapse: false });
    check_xml(&svg);
    if let Ok(dir) = std::env::var("AVC_GRAPH_DIR") {
        std::fs::write(PathBuf::from(dir).join("conformer.svg"), &svg).expect("writable");
    }
    for collapse in [false, true] {
        let lay = graph::layout_with(&c.graph, &c.checked, graph::Drawing { collapse });
        let name = format!("conformer (collapse: {collapse})");
        assert_clean(&name, &lay);
        assert_towers_apart(&name, &lay);
    }
    assert_eq!(graph::layout(&c.graph, &c.checked).nodes.len(), c.graph.len() + c.graph.outputs.len());
}

/// Every fixture that compiles (the good files of tests/fixtures/ok, yaml and dsl; the bad
/// ones are skipped) lays out cleanly too, whole and collapsed.
#[test]
fn every_compiling_fixture_lays_out_cleanly() {
    crate::at_workspace_root();
    let mut files: Vec<PathBuf> = ["ok", "yaml", "dsl"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(format!("crates/avc-lang/tests/fixtures/{dir}")).expect("fixtures exist"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "avc")))
        .collect();
    files.sort();
    let mut laid_out = Vec::new();
    for path in files {
        let Ok(Ok(c)) = avc_lang::compile::compile_file(&path) else { continue };
        let name = path.display().to_string();
        for collapse in [false, true] {
            let lay = graph::layout_with(&c.graph, &c.checked, graph::Drawing { collapse });
            let name = format!("{name} (collapse: {collapse})");
            assert_clean(&name, &lay);
            assert_towers_apart(&name, &lay);
        }
        laid_out.push(name);
    }
    assert!(laid_out.iter().any(|n| n.ends_with("conformer.avc")), "laid out only {laid_out:?}");
}

/// Random models (fixed seed): chains, residual and nested blocks, fan-out, wide names,
/// skip edges, joint blocks of both towers, two outputs. Every layout, whole and collapsed,
/// is clean; the towers stay apart unless a block holds nodes of both towers (`cross`: two
/// such blocks side by side cannot both straddle the line between the towers).
#[test]
fn random_models_lay_out_cleanly() {
    crate::at_workspace_root();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rnd = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    // One of the last three values of a pool.
    let pick = |pool: &Vec<String>, r: usize| pool[pool.len() - 1 - r % pool.len().min(3)].clone();
    const BLOCKS: &str = "\
input video: [T, 32]
input audio: [T, 32]
block p(x) {
    l = linear(x, out: 32)
    a = leaky_relu(l)
    return a
}
block r(x) {
    a = p(x)
    b = linear(a, out: 32)
    s = x + b
    return s
}
block deep(x) {
    a = r(x)
    b = r(a)
    c = p(b)
    s = a + c
    return s
}
block fuse_two_streams(v, a) {
    c = concat(v, a)
    h = linear(c, out: 32)
    return h
}
block cross(v, a) {
    pv = linear(v, out: 32)
    pa = leaky_relu(a)
    c = concat(pv, pa)
    h = linear(c, out: 32)
    return h
}
";
    let words = ["x", "hidden_state", "q", "projection", "a_very_very_long_identifier", "mm"];
    for case in 0..300 {
        let mut text = BLOCKS.to_string();
        // Values of the video tower, the audio tower and the joint part.
        let mut pools: Vec<Vec<String>> = vec![vec!["video".into()], vec!["audio".into()], vec![]];
        let mut mixed = false;
        for step in 0..3 + rnd(40) {
            let tower = rnd(3);
            let name = format!("{}_{}{step}", ["v", "a", "j"][tower], words[rnd(words.len())]);
            let expr = if tower == 2 {
                let (v, a) = (pick(&pools[0], rnd(3)), pick(&pools[1], rnd(3)));
                match rnd(4) {
                    0 if !pools[2].is_empty() => format!("{} + {}", pick(&pools[2], rnd(3)), pick(&pools[2], rnd(3))),
                    1 => format!("fuse_two_streams({v}, {a})"),
                    2 if case % 3 == 0 => {
                        mixed = true;
                        format!("cross({v}, {a})")
                    }
                    _ => format!("linear(concat({v}, {a}), out: 32)"),
                }
            } else {
                let x = pick(&pools[tower], rnd(3));
                match rnd(6) {
                    0 => format!("p({x})"),
                    1 => format!("r({x})"),
                    2 => format!("deep({x})"),
                    3 => format!("{x} + {}", pick(&pools[tower], rnd(3))),
                    4 => format!("linear({x}, out: 32)"),
                    _ => format!("leaky_relu({x})"),
                }
            };
            text.push_str(&format!("{name} = {expr}\n"));
            pools[tower].push(name);
        }
        let (v, a) = (pools[0].last().expect("video"), pools[1].last().expect("audio"));
        text.push_str(&format!(
            "ve = linear(mean({v}), out: 16)\nae = linear(mean({a}), out: 16)\noutput pair: embeddings(ve, ae)\n"
        ));
        if let Some(j) = pools[2].last() {
            text.push_str(&format!("score = linear(mean({j}), out: 1)\noutput match: logit(score)\n"));
        }
        let source = avc_lang::source::SourceFile::new("random.avc", text.as_str());
        let c = match avc_lang::compile::compile(&source) {
            Ok(c) => c,
            Err(failed) => panic!("{text}\n{}", avc_lang::diag::render_all(&failed.diagnostics, &failed.source, false)),
        };
        for collapse in [false, true] {
            let lay = graph::layout_with(&c.graph, &c.checked, graph::Drawing { collapse });
            let name = format!("random model {case} (collapse: {collapse}):\n{text}\n");
            assert_clean(&name, &lay);
            if !mixed {
                assert_towers_apart(&name, &lay);
            }
        }
    }
}
