//! Size classes: names, lines, spans and files far past 64 Ki characters, in both
//! languages, through every stage a file meets (parse, build, check, the summary table,
//! the rendered diagnostics, `avc fmt`, `avc graph`, the language server), plain and
//! mutated. Nothing may panic, and a rendered diagnostic stays small however large the
//! line it points into.

use avc_lang::diag::render_all;
use avc_lang::front::Format;
use avc_lang::graph::PictureFormat;
use avc_lang::source::SourceFile;

/// Far past the 65,535 characters std's formatter and miette's renderer handle.
const HUGE: usize = 70_000;
/// The most a rendered diagnostic may take per label: a window, not the line.
const MAX_RENDERED: usize = 4_000;

/// A valid two-input model in the DSL whose video projection is called `name`.
fn dsl_model(name: &str, filler: &str) -> String {
    format!(
        "input video: [12, 16]\ninput audio: [12, 8]\n{name} = linear(video, out: 4){filler}\n\
         a = linear(audio, out: 4)\nj = concat(mean({name}), mean(a))\nhead = linear(j, out: 1)\n\
         output match: logit(head)\n"
    )
}

/// The same model in YAML.
fn yaml_model(name: &str, filler: &str) -> String {
    format!(
        "inputs: {{video: [12, 16], audio: [12, 8]}}\nnodes:\n  - {{name: {name}, op: linear, in: video, out: 4}}{filler}\n\
         \x20 - {{name: vm, op: mean, in: {name}}}\n  - {{name: a, op: linear, in: audio, out: 4}}\n\
         \x20 - {{name: am, op: mean, in: a}}\n  - {{name: j, op: concat, in: [vm, am]}}\n\
         \x20 - {{name: head, op: linear, in: j, out: 1}}\noutputs:\n  - {{name: match, kind: logit, from: head}}\n"
    )
}

/// Every stage a file meets, for one text; returns the rendered diagnostics (empty when
/// the file compiled).
fn through_everything(name: &str, text: &str) -> String {
    let source = SourceFile::new(name, text);
    let analysis = avc_lang::lsp::analysis::Analysis::new(name, text);
    for at in [0, text.len() / 2, text.len()] {
        let _ = analysis.hover(at);
        let _ = analysis.definition(at);
    }
    let _ = analysis.symbols();
    if let Ok(module) = avc_lang::front::parse(&source) {
        for to in [Format::Yaml, Format::Dsl] {
            let _ = avc_lang::fmt::format(&module, to);
        }
    }
    match avc_lang::compile::compile(&source) {
        Ok(c) => {
            let _ = avc_lang::check::render_table(&c.graph, &c.checked);
            for format in [PictureFormat::Dot, PictureFormat::Mermaid, PictureFormat::Svg] {
                let _ = avc_lang::graph::render(&c.graph, &c.checked, format);
            }
            render_all(&c.checked.diagnostics(), &source, false)
        }
        Err(failed) => {
            if let Some((graph, checked)) = &failed.partial {
                let _ = avc_lang::check::render_table(graph, checked);
            }
            render_all(&failed.diagnostics, &source, false)
        }
    }
}

/// The size classes, each in both languages: (file name, text, whether it compiles).
fn size_classes() -> Vec<(String, String, bool)> {
    let long_name = "v".repeat(HUGE);
    let spaces = " ".repeat(HUGE);
    let long_string = format!("\"{}\"", "s".repeat(200_000));
    let many_lines = "\n".repeat(HUGE);
    let mut out = Vec::new();
    let models = [("avc", dsl_model as fn(&str, &str) -> String, "logit(head)"), ("yaml", yaml_model, "from: head}")];
    for (ext, model, output_use) in models {
        let comment = format!(" # {}", "c".repeat(200_000));
        out.push((format!("long_name.{ext}"), model(&long_name, ""), true));
        out.push((format!("long_comment.{ext}"), model("v", &comment), true));
        out.push((format!("many_lines.{ext}"), model("v", &many_lines), true));
        // An unknown name used past column 65,535: the error must render.
        let far_use = output_use.replace("head", &format!("{spaces}{long_name}x"));
        let bad_ref = model("v", "").replace(output_use, &far_use);
        out.push((format!("far_column.{ext}"), bad_ref, false));
        out.push((
            format!("misspelt_far.{ext}"),
            model("v", "").replacen("linear", &format!("{spaces}lienar"), 1),
            false,
        ));
        // A 200 kB parameter value where a number belongs.
        out.push((
            format!("long_value.{ext}"),
            model("v", "").replacen("out: 4", &format!("out: {long_string}"), 1),
            false,
        ));
        // A mistake at the end of a very long file.
        out.push((
            format!("late_error.{ext}"),
            model("v", &many_lines).replace(output_use, &output_use.replace("head", "heda")),
            false,
        ));
    }
    out
}

#[test]
fn every_size_class_compiles_or_fails_with_a_small_located_message() {
    crate::at_workspace_root();
    for (name, text, compiles) in size_classes() {
        let rendered = through_everything(&name, &text);
        let failed = rendered.contains("error[");
        assert_eq!(failed, !compiles, "{name}: {}", &rendered[..rendered.len().min(2000)]);
        let labels = rendered.matches("╰──").count().max(1);
        assert!(rendered.len() <= labels * MAX_RENDERED, "{name}: {} bytes rendered", rendered.len());
        if failed {
            assert!(rendered.starts_with(&format!("{name}:")), "{name}: no location in {rendered}");
        }
    }
}

#[test]
fn a_far_error_is_shown_in_a_window_with_its_real_column() {
    crate::at_workspace_root();
    let text = dsl_model("v", "").replacen("linear", &format!("{}lienar", " ".repeat(HUGE)), 1);
    let rendered = through_everything("m.avc", &text);
    let column = HUGE + 5;
    assert!(rendered.starts_with(&format!("m.avc:3:{column}: error[name::unknown-op]")), "{rendered}");
    assert!(rendered.contains(&format!("[m.avc:3:{column}]")), "{rendered}");
    assert!(rendered.contains("…") && rendered.contains("lienar(video, out: 4)"), "{rendered}");
}

/// xorshift64: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// One edit that keeps the file large: a token inserted, a short stretch deleted or
/// repeated, or the text cut.
fn mutate(rng: &mut Rng, text: &str) -> String {
    const TOKENS: &[&str] = &["(", ")", "[", "]", "{", "}", ",", ":", "\n", " ", "x", "-", "#", "\"", "é", "1e99"];
    let bytes = text.as_bytes();
    let at = rng.below(bytes.len() + 1);
    let out = match rng.below(4) {
        0 => [&bytes[..at], TOKENS[rng.below(TOKENS.len())].as_bytes(), &bytes[at..]].concat(),
        1 => [&bytes[..at], &bytes[(at + rng.below(50)).min(bytes.len())..]].concat(),
        2 => [&bytes[..(at + rng.below(50)).min(bytes.len())], &bytes[at..]].concat(),
        _ => bytes[..at].to_vec(),
    };
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn mutated_large_files_never_panic() {
    crate::at_workspace_root();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for (name, text, _) in size_classes() {
        for _ in 0..12 {
            let mutated = mutate(&mut rng, &text);
            let rendered = through_everything(&name, &mutated);
            let labels = rendered.matches("╰──").count().max(1);
            assert!(rendered.len() <= labels * MAX_RENDERED, "{name}: {} bytes rendered", rendered.len());
        }
    }
}

/// A chain of `n` linear nodes, one comment each: in the DSL, or in YAML on one line.
fn chain(n: usize, yaml_one_line: bool) -> (String, String) {
    if yaml_one_line {
        let nodes: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    "{{name: n{i}, op: linear, in: {}, out: 4}}",
                    if i == 0 { "video".into() } else { format!("n{}", i - 1) }
                )
            })
            .collect();
        let text = format!(
            "inputs: {{video: [12, 16], audio: [12, 8]}}  # one line\nnodes: [{}, {{name: vm, op: mean, in: n{}}}, \
             {{name: am, op: mean, in: audio}}]\noutputs: [{{name: e, kind: embeddings, from: [vm, am]}}]\n",
            nodes.join(", "),
            n - 1
        );
        return ("line.yaml".into(), text.replace("audio: [12, 8]", "audio: [12, 4]"));
    }
    let mut text = String::from("input video: [12, 16]\ninput audio: [12, 4]\n");
    let mut prev = "video".to_string();
    for i in 0..n {
        text.push_str(&format!("n{i} = linear({prev}, out: 4)  # node {i}\n"));
        prev = format!("n{i}");
    }
    text.push_str(&format!("vm = mean({prev})\nam = mean(audio)\noutput e: embeddings(vm, am)\n"));
    ("chain.avc".into(), text)
}

/// The fastest of three runs, in CPU seconds of this thread (other tests and other work on
/// the machine do not count).
fn fastest(mut f: impl FnMut()) -> f64 {
    let thread_cpu = || {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes into the timespec it is given and nothing else.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
    };
    (0..3)
        .map(|_| {
            let start = thread_cpu();
            f();
            thread_cpu() - start
        })
        .fold(f64::INFINITY, f64::min)
}

/// The cost class: check, fmt and graph of a model four times larger take about four
/// times longer, not sixteen (each of them was quadratic once: marker offsets on one long
/// YAML line, name lookups, comment placement, crossing counts and per-rank scans in the
/// layout). The bound, eight, leaves room for a loaded machine.
#[test]
fn check_fmt_and_graph_cost_grows_linearly() {
    crate::at_workspace_root();
    for one_line in [false, true] {
        let cost = |n: usize| {
            let (name, text) = chain(n, one_line);
            let source = SourceFile::new(name, text);
            let check = fastest(|| {
                avc_lang::compile::compile(&source).ok().expect("compiles");
            });
            let module = avc_lang::front::parse(&source).expect("parses");
            let fmt = fastest(|| {
                avc_lang::fmt::format(&module, Format::Yaml);
                avc_lang::fmt::format(&module, Format::Dsl);
            });
            let c = avc_lang::compile::compile(&source).ok().expect("compiles");
            let graph = fastest(|| {
                avc_lang::graph::render(&c.graph, &c.checked, PictureFormat::Svg);
                avc_lang::graph::render(&c.graph, &c.checked, PictureFormat::Dot);
            });
            [check, fmt, graph]
        };
        let (small, large) = (cost(2_000), cost(8_000));
        for (stage, (s, l)) in ["check", "fmt", "graph"].iter().zip(small.iter().zip(large)) {
            // Below a few milliseconds the timer says little; compare only above that.
            let ratio = l / s.max(0.005);
            assert!(ratio < 8.0, "{stage} (one line: {one_line}): {s:.4} s for 2,000 nodes, {l:.4} s for 8,000");
        }
    }
}

#[test]
fn a_file_past_the_value_limit_is_refused_in_both_languages() {
    crate::at_workspace_root();
    let ones = vec!["1"; avc_lang::front::MAX_VALUES].join(", ");
    let dsl = format!("input video: [4]\nh = linear(video, out: 4, extra: [{ones}])\noutput o: logit(h)\n");
    let yaml = format!(
        "inputs: {{video: [4]}}\nnodes: [{{name: h, op: linear, in: video, out: 4, extra: [{ones}]}}]\n\
         outputs: [{{name: o, kind: logit, from: h}}]\n"
    );
    for (name, text, code) in [("big.avc", dsl, "dsl::too-large"), ("big.yaml", yaml, "yaml::too-large")] {
        let source = SourceFile::new(name, text);
        let errors = avc_lang::front::parse(&source).expect_err("too large");
        let diag = errors[0].to_diagnostic();
        assert_eq!((errors.len(), diag.code), (1, code), "{name}: {}", diag.message);
        assert!(diag.message.contains("more than 2,000,000 values"), "{}", diag.message);
        assert!(render_all(&[diag], &source, false).len() < MAX_RENDERED);
    }
}

#[test]
fn blocks_that_would_expand_past_the_node_limit_are_refused_before_expanding() {
    crate::at_workspace_root();
    let mut text = String::from("input video: [4]\nblock b0(x) {\n    a = relu(x)\n    return a\n}\n");
    for i in 1..40 {
        text.push_str(&format!("block b{i}(x) {{\n    p = b{}(x)\n    q = b{}(p)\n    return q\n}}\n", i - 1, i - 1));
    }
    text.push_str("v = b39(video)\nh = linear(v, out: 1)\noutput o: logit(h)\n");
    let source = SourceFile::new("bomb.avc", text);
    let start = std::time::Instant::now();
    let failed = avc_lang::compile::compile(&source).err().expect("refused");
    assert!(start.elapsed().as_secs_f64() < 5.0, "refused only after {:?}", start.elapsed());
    assert_eq!(failed.diagnostics.len(), 1);
    assert_eq!(failed.diagnostics[0].code, "model::too-large");
    assert_eq!(failed.diagnostics[0].location(&source).as_deref(), Some("bomb.avc:201:5"));
}
