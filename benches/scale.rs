//! How the cost of `avc check`, `avc fmt` and `avc graph` grows with the size of a model:
//! generated models of 1,000 to 100,000 nodes, in the shapes that once made a stage
//! quadratic (a long chain, the same chain on one YAML line, a wide sum, a stack of block
//! instances), each timed per stage in CPU seconds. Near-linear cost shows as a flat
//! µs-per-node column.
//!
//! Run with `cargo bench --bench scale` (`-- --quick` stops at 10,000 nodes; `-- sum`
//! runs only the models whose name contains `sum`).

use avc_lang::front::Format;
use avc_lang::graph::PictureFormat;
use avc_lang::source::SourceFile;
use std::time::Duration;

/// A chain of `n` linear nodes on the video tower (DSL), one comment per node.
fn chain_dsl(n: usize) -> String {
    let mut s = String::from("input video: [12, 16]\ninput audio: [12, 8]\n");
    let mut prev = "video".to_string();
    for i in 0..n {
        s.push_str(&format!("n{i} = linear({prev}, out: 4)  # node {i}\n"));
        prev = format!("n{i}");
    }
    s + &format!("vm = mean({prev})\nam = mean(linear(audio, out: 4))\noutput e: embeddings(vm, am)\n")
}

/// The same chain in YAML: one node a line, or (`one_line`) the whole list on one line.
fn chain_yaml(n: usize, one_line: bool) -> String {
    let mut nodes: Vec<String> = (0..n)
        .map(|i| {
            let input = if i == 0 { "video".to_string() } else { format!("n{}", i - 1) };
            format!("{{name: n{i}, op: linear, in: {input}, out: 4}}")
        })
        .collect();
    nodes.push(format!("{{name: vm, op: mean, in: n{}}}", n - 1));
    nodes.extend(["{name: a, op: linear, in: audio, out: 4}".into(), "{name: am, op: mean, in: a}".into()]);
    let list = if one_line {
        format!("nodes: [{}]\n", nodes.join(", "))
    } else {
        format!("nodes:\n{}", nodes.iter().map(|n| format!("  - {n}  # a node\n")).collect::<String>())
    };
    format!(
        "inputs: {{video: [12, 16], audio: [12, 8]}}\n{list}outputs:\n  - {{name: e, kind: embeddings, from: [vm, am]}}\n"
    )
}

/// `n` parallel nodes summed by one `add` over `n` terms, each a nested call (DSL).
fn wide_sum(n: usize) -> String {
    let terms: Vec<String> = (0..n).map(|i| format!("linear(video, out: 4, bias: {})", i % 2 == 0)).collect();
    format!(
        "input video: [12, 16]\ninput audio: [12, 8]\ns = {}\nvm = mean(s)\nam = mean(linear(audio, out: 4))\n\
         output e: embeddings(vm, am)\n",
        terms.join(" + ")
    )
}

/// A chain of `n / 4` instances of a four-node block (DSL): as many clusters in a picture.
fn block_stack(n: usize) -> String {
    let mut s = String::from(
        "input video: [12, 16]\ninput audio: [12, 8]\n\
         block unit(x) {\n    a = linear(x, out: 16)\n    b = relu(a)\n    c = linear(b, out: 16)\n    return b + c\n}\n",
    );
    let mut prev = "video".to_string();
    for i in 0..n / 4 {
        s.push_str(&format!("u{i} = unit({prev})\n"));
        prev = format!("u{i}");
    }
    s + &format!("vm = mean({prev})\nam = mean(linear(audio, out: 16))\noutput e: embeddings(vm, am)\n")
}

/// A model shape: its name in the table, its file name, its generator.
type Model = (&'static str, &'static str, fn(usize) -> String);

fn seconds(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// The CPU time `f` takes (this process's, so other work on a shared machine does not
/// count; the stages run on one thread).
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = cpu_time();
    let out = f();
    (out, cpu_time().saturating_sub(start))
}

fn cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec it is given and nothing else.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Times check, fmt and graph (SVG, DOT) of one model; prints one table row.
fn measure(shape: &str, file: &str, text: String) {
    let source = SourceFile::new(file, text);
    let (compiled, check) = timed(|| avc_lang::compile::compile(&source));
    let Ok(compiled) = compiled else {
        let failed = compiled.err().expect("failed");
        panic!("{file}: {}", avc_lang::diag::render_all(&failed.diagnostics, &source, false));
    };
    let nodes = compiled.graph.len();
    let module = avc_lang::front::parse(&source).expect("parses");
    let to = if file.ends_with(".avc") { Format::Yaml } else { Format::Dsl };
    let (_, fmt) = timed(|| avc_lang::fmt::format(&module, to));
    let (_, svg) = timed(|| avc_lang::graph::render(&compiled.graph, &compiled.checked, PictureFormat::Svg));
    let (_, dot) = timed(|| avc_lang::graph::render(&compiled.graph, &compiled.checked, PictureFormat::Dot));
    let per_node = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1e6 / nodes as f64);
    println!(
        "| {shape} | {nodes} | {} | {} | {} | {} | {} / {} / {} |",
        seconds(check),
        seconds(fmt),
        seconds(svg),
        seconds(dot),
        per_node(check),
        per_node(fmt),
        per_node(svg)
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    // Any other argument (but cargo's own `--bench`) picks models whose name contains it.
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let wanted = |shape: &str| only.is_empty() || only.iter().any(|o| shape.contains(o.as_str()));
    let sizes: &[usize] = if quick { &[1_000, 10_000] } else { &[1_000, 10_000, 100_000] };
    println!("| model | nodes | check | fmt | graph (SVG) | graph (DOT) | µs per node: check / fmt / SVG |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for &n in sizes {
        let models: [Model; 5] = [
            ("chain (DSL)", "chain.avc", chain_dsl),
            ("chain (YAML)", "chain.yaml", |n| chain_yaml(n, false)),
            ("chain on one YAML line", "line.yaml", |n| chain_yaml(n, true)),
            ("wide sum (DSL)", "sum.avc", wide_sum),
            ("block instances (DSL)", "blocks.avc", block_stack),
        ];
        for (shape, file, make) in models.into_iter().filter(|m| wanted(m.0)) {
            measure(shape, file, make(n));
        }
    }
}
