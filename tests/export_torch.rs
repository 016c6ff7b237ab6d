//! The PyTorch-source back-end (`avc export RUN --to torch`, issue 25): the generated module
//! of every architecture, trained for two batches, and of random graphs that together use
//! every op of the registry, initialised, reproduces avc's outputs in evaluation mode
//! (tests/python/check_generated.py: 1e-5 of the outputs' scale, its tower split too, and
//! nudged weights move it); the generated modules of the four models with hand-written twins
//! (tests/python/torch_twins.py) agree with them; the text of two is reviewed as snapshots.

mod graphs;

use std::path::{Path, PathBuf};
use std::process::Command;

/// One case for the Python checker.
struct Case {
    name: String,
    module: PathBuf,
    class: String,
    weights: PathBuf,
    sample: PathBuf,
    outputs: Vec<(String, String)>,
    twin: Option<&'static str>,
}

impl Case {
    fn json(&self) -> String {
        let outputs: Vec<String> = self.outputs.iter().map(|(n, k)| format!("[\"{n}\", \"{k}\"]")).collect();
        let twin = self.twin.map(|t| format!(", \"twin\": \"{t}\"")).unwrap_or_default();
        format!(
            "{{\"name\": \"{}\", \"module\": \"{}\", \"class\": \"{}\", \"weights\": \"{}\", \"sample\": \"{}\", \
             \"streams\": [\"video\", \"audio\"], \"outputs\": [{}]{twin}}}",
            self.name,
            self.module.display(),
            self.class,
            self.weights.display(),
            self.sample.display(),
            outputs.join(", ")
        )
    }
}

/// Runs the checker on every case in one Python process; its report.
fn check(cases: &[Case], scratch: &Path) -> String {
    let python = crate::venv_python();
    assert!(python.exists(), "{} is missing: run scripts/libtorch.sh", python.display());
    let manifest = scratch.join("cases.json");
    let items: Vec<String> = cases.iter().map(Case::json).collect();
    std::fs::write(&manifest, format!("[\n{}\n]\n", items.join(",\n"))).unwrap();
    let out = Command::new(&python).arg("tests/python/check_generated.py").arg(&manifest).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "generated modules disagree with avc:\n{text}");
    assert!(text.contains(&format!("{0} of {0} cases agree", cases.len())), "{text}");
    text
}

/// The largest output difference the checker reported.
fn largest_difference(report: &str) -> f64 {
    report
        .lines()
        .filter_map(|l| l.split("max abs difference ").nth(1)?.split_whitespace().next()?.parse::<f64>().ok())
        .fold(0.0, f64::max)
}

fn outputs_of(graph: &avc_lang::ir::Graph) -> Vec<(String, String)> {
    graph.outputs.iter().map(|o| (o.name.clone(), o.kind.keyword().to_string())).collect()
}

/// The twins of tests/python/torch_twins.py.
const TWINS: [(&str, &str); 4] = [
    ("final.yaml", "final"),
    ("final_seed.yaml", "final_seed"),
    ("dual_cnn.avc", "dual_cnn"),
    ("ta_lstm_metric.avc", "ta_lstm_metric"),
];

#[test]
fn every_architecture_exports_a_module_that_reproduces_avc() {
    let _rng = crate::torch_rng_lock();
    let scratch = crate::scratch_dir("export-torch");
    let mut cases = Vec::new();
    let mut split = Vec::new();
    for arch in crate::architecture_files() {
        let file = arch.file_name().unwrap().to_string_lossy().to_string();
        let run = crate::export::trained_run(&arch, &scratch, 4);
        let stem = file.replace('.', "_");
        let (weights, sample, module) = (
            scratch.join(format!("{stem}.safetensors")),
            scratch.join(format!("{stem}.sample")),
            scratch.join(format!("{stem}.py")),
        );
        avc::export::export(&run, "last", &weights, Some((&sample, 4))).unwrap();
        let done = avc::export::torch::export_torch(&run, "last", &module, None, None).unwrap();
        assert_eq!(done.path, module);
        let text = std::fs::read_to_string(&module).unwrap();
        split.push((file.clone(), text.contains("def encode_video(")));
        let compiled = crate::compile_ok(&arch);
        let twin = TWINS.iter().find(|(f, _)| *f == file).map(|(_, t)| *t);
        cases.push(Case {
            name: stem,
            module,
            class: last_class(&text).unwrap(),
            weights,
            sample,
            outputs: outputs_of(&compiled.graph),
            twin,
        });
    }
    let report = check(&cases, &scratch);
    print!("{report}");
    println!("largest difference over the architectures: {:.3e}", largest_difference(&report));
    assert_eq!(cases.iter().filter(|c| c.twin.is_some()).count(), 4, "every twin was compared");
    assert!(split.iter().any(|(f, s)| f == "final.yaml" && *s), "final splits into towers: {split:?}");
}

/// The model's class: the file's last.
fn last_class(text: &str) -> Option<String> {
    text.lines().rev().find_map(|l| l.strip_prefix("class ")).map(|l| l.trim_end_matches("(nn.Module):").to_string())
}

/// Every op of the registry, by name.
fn registry_ops() -> Vec<&'static str> {
    avc_lang::ops::registry().iter().map(|s| s.name).collect()
}

#[test]
fn random_graphs_of_every_op_reproduce_avc() {
    let _rng = crate::torch_rng_lock();
    let scratch = crate::scratch_dir("export-torch-random");
    let mut g = crate::Gen(0x7043_2025);
    let mut used = Vec::new();
    let mut covered: Vec<&'static str> = Vec::new();
    let mut cases = Vec::new();
    let mut failures = Vec::new();
    let (mut splits, mut whole) = (0, 0);
    for case in 0..220 {
        let model = graphs::model(&mut g, &mut used);
        let name = format!("random{case:03}");
        let source = avc_lang::source::SourceFile::new(format!("{name}.yaml"), model.text.as_str());
        let compiled = match avc_lang::compile::compile(&source) {
            Ok(c) => c,
            Err(failed) => {
                let first = failed.diagnostics[0].render(&failed.source, false);
                failures.push(format!("random model {case} does not compile:\n{}\n{first}", model.text));
                continue;
            }
        };
        for &id in compiled.graph.topo() {
            let op = compiled.graph.node(id).op_name();
            if let Some(known) = registry_ops().into_iter().find(|o| *o == op)
                && !covered.contains(&known)
            {
                covered.push(known);
            }
        }
        tch::manual_seed(case as i64);
        let model_lowered = avc::lower::lower(&compiled.graph, &compiled.checked, tch::Device::Cpu).unwrap();
        vary_running_statistics(&model_lowered);
        let video = tch::Tensor::randn([3, graphs::STEPS, graphs::VIDEO], (tch::Kind::Float, tch::Device::Cpu));
        let audio = tch::Tensor::randn([3, graphs::STEPS, graphs::AUDIO], (tch::Kind::Float, tch::Device::Cpu));
        let (weights, sample, module) = (
            scratch.join(format!("{name}.safetensors")),
            scratch.join(format!("{name}.sample")),
            scratch.join(format!("{name}.py")),
        );
        avc::export::write(&avc::export::state_dict(&model_lowered, &compiled.graph), None, &weights).unwrap();
        let tensors = avc::export::sample_tensors(&model_lowered, &video, &audio)
            .unwrap_or_else(|e| panic!("random model {case} does not run in avc: {e}\n{}", model.text));
        avc::export::write(&tensors, None, &sample).unwrap();
        let text = avc::export::torch::generate(&compiled.graph, &compiled.checked, &format!("{name}.yaml"))
            .unwrap_or_else(|e| panic!("random model {case}: {e}\n{}", model.text));
        let has_split = text.contains("def encode_video(");
        assert_eq!(has_split, model.splits, "random model {case}: split expected {}\n{text}", model.splits);
        if has_split {
            splits += 1
        } else {
            whole += 1
        }
        std::fs::write(&module, &text).unwrap();
        cases.push(Case {
            name,
            module,
            class: last_class(&text).unwrap(),
            weights,
            sample,
            outputs: outputs_of(&compiled.graph),
            twin: None,
        });
    }
    assert!(failures.is_empty(), "{} random models failed:\n{}", failures.len(), failures.join("\n"));
    let missing: Vec<&str> = registry_ops().into_iter().filter(|o| !covered.contains(o)).collect();
    assert!(missing.is_empty(), "no random model used these ops: {missing:?}");
    assert!(splits > 0 && whole > 0, "both kinds of model: {splits} split, {whole} not");
    let report = check(&cases, &scratch);
    print!("{report}");
    println!("{} random models; largest difference {:.3e}", cases.len(), largest_difference(&report));
}

/// Running statistics away from their initial 0 and 1, so evaluation's batch norm is checked
/// on numbers that show a mistake.
fn vary_running_statistics(model: &avc::lower::Model) {
    tch::no_grad(|| {
        for (name, var) in model.vs.variables() {
            let values = if name.ends_with("running_var") {
                tch::Tensor::rand_like(&var) + 0.5
            } else if name.ends_with("running_mean") {
                tch::Tensor::randn_like(&var) * 0.3
            } else {
                continue;
            };
            var.shallow_clone().copy_(&values);
        }
    });
}

fn generated(file: &str) -> String {
    let compiled = crate::compile_ok(&crate::architecture_path(file));
    avc::export::torch::generate(&compiled.graph, &compiled.checked, file).unwrap()
}

#[test]
fn the_generated_module_of_final_reads_as_written_by_hand() {
    insta::assert_snapshot!("torch_final_yaml", generated("final.yaml"));
}

#[test]
fn the_generated_module_of_a_block_heavy_model_reads_as_written_by_hand() {
    insta::assert_snapshot!("torch_tcn_two_tower", generated("tcn_two_tower.avc"));
}

#[test]
fn a_node_python_cannot_name_is_an_error_naming_the_node_and_the_op() {
    let text = "inputs: {video: [4, 3], audio: [4, 2]}\nnodes:\n  - {name: vp, op: linear, in: video, out: 2}\n  \
                - {name: training, op: linear, in: audio, out: 2}\n  - {name: j, op: add, in: [vp, training]}\n  \
                - {name: m, op: mean, in: j}\n  - {name: head, op: linear, in: m, out: 1}\n\
                outputs:\n  - {name: match, kind: logit, from: head}\n";
    let source = avc_lang::source::SourceFile::new("named.yaml", text);
    let compiled = match avc_lang::compile::compile(&source) {
        Ok(c) => c,
        Err(failed) => panic!("{}", avc_lang::diag::render_all(&failed.diagnostics, &failed.source, false)),
    };
    let error = avc::export::torch::generate(&compiled.graph, &compiled.checked, "named.yaml").unwrap_err();
    let message = error.to_string();
    assert!(message.contains("`training`") && message.contains("(linear)"), "{message}");
}
