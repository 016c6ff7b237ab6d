//! Compile speed: parsing, checking and lowering `architectures/final.*` (the goal is under
//! 20 ms each). Reports the median and the fastest of repeated runs per stage, with the
//! parse + check time of a model ten times larger in the same run as a reference for how
//! the stages scale.
//!
//! Run with `cargo bench --bench compile`.

use avc_lang::compile::compile;
use avc_lang::source::SourceFile;
use std::time::{Duration, Instant};

const RUNS: usize = 30;

fn time<T>(mut f: impl FnMut() -> T) -> (Duration, Duration) {
    let mut samples: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .collect();
    samples.sort();
    (samples[RUNS / 2], samples[0])
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// The final model's nodes repeated `copies` times under fresh names (a wide, large graph).
fn scaled_yaml(text: &str, copies: usize) -> String {
    let (head, rest) = text.split_once("\nnodes:\n").expect("final.yaml has a nodes section");
    let (nodes, tail) = rest.split_once("\noutputs:").expect("final.yaml has outputs");
    let mut out = format!("{head}\nnodes:\n{nodes}\n");
    for i in 1..copies {
        let renamed: String = nodes
            .lines()
            .map(|l| {
                let mut l = l.to_string();
                for name in [
                    "vproj", "vrnn", "aproj", "arnn", "joint", "orn", "c1", "p1", "c2", "p2", "c3", "pooled", "fc1",
                    "act", "drop", "head",
                ] {
                    l = l.replace(&format!("name: {name},"), &format!("name: {name}_{i},"));
                    l = l.replace(&format!("in: {name},"), &format!("in: {name}_{i},"));
                    l = l.replace(&format!("in: {name}}}"), &format!("in: {name}_{i}}}"));
                    l = l.replace(&format!("[{name}, "), &format!("[{name}_{i}, "));
                    l = l.replace(&format!(", {name}]"), &format!(", {name}_{i}]"));
                }
                l.replace("in: video_", "in: video").replace("in: audio_", "in: audio") + "\n"
            })
            .collect();
        out.push_str(&renamed);
    }
    let sum: Vec<String> =
        std::iter::once("head".to_string()).chain((1..copies).map(|i| format!("head_{i}"))).collect();
    out.push_str(&format!("  - {{name: total, op: add, in: [{}]}}\n", sum.join(", ")));
    out + "\noutputs:" + &tail.replace("from: head", "from: total")
}

fn main() {
    println!("compile speed ({RUNS} runs each; median / fastest)");
    for file in ["architectures/final.yaml", "architectures/final.avc"] {
        let text = std::fs::read_to_string(file).expect("run from the repository root");
        let source = SourceFile::new(file, text);
        let (parse, parse_min) = time(|| avc_lang::front::parse(&source).expect("parses"));
        let (check, check_min) = time(|| compile(&source).ok().expect("compiles"));
        let compiled = compile(&source).ok().expect("compiles");
        let (lower, lower_min) =
            time(|| avc::lower::lower(&compiled.graph, &compiled.checked, tch::Device::Cpu).expect("lowers"));
        let (all, all_min) = time(|| {
            let c = compile(&source).ok().expect("compiles");
            avc::lower::lower(&c.graph, &c.checked, tch::Device::Cpu).expect("lowers")
        });
        println!("{file}:");
        println!("  parse                     {} / {}", ms(parse), ms(parse_min));
        println!("  parse + build + check     {} / {}", ms(check), ms(check_min));
        println!("  lower (weights on CPU)    {} / {}", ms(lower), ms(lower_min));
        println!("  all three                 {} / {}   (goal: under 20 ms)", ms(all), ms(all_min));
        // What `avc lsp` does on every keystroke: re-analyse the changed text.
        let opened = avc_lang::lsp::analysis::Analysis::new(file, source.text());
        let edited = source.text().replacen("out: 1", "out: 2", 1);
        let (change, change_min) = time(|| opened.update(&edited));
        println!("  lsp: analyse a change     {} / {}   (goal: under 10 ms)", ms(change), ms(change_min));
    }
    let big = scaled_yaml(&std::fs::read_to_string("architectures/final.yaml").unwrap(), 10);
    let source = SourceFile::new("final_x10.yaml", big);
    let (check, _) = time(|| compile(&source).ok().expect("the x10 model compiles"));
    let nodes = compile(&source).ok().map_or(0, |c| c.graph.len());
    println!("reference: a 10x model ({nodes} nodes), parse + build + check {}", ms(check));
}
