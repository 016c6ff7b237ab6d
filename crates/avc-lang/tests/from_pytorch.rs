//! docs/from-pytorch.md: every avc form in its table compiles, inside a model that gives it
//! `x`, `y` (`[B, T, 64]` sequences), `z` (a gate of their width) and `v`, `a` (`[B, 64]`
//! vectors). A row whose avc form stops compiling fails here, naming the row and the error.

use avc_lang::source::SourceFile;

const PRELUDE: &str = "input video: [T, 64]\ninput audio: [T, 64]\nx = relu(video)\ny = relu(audio)\n\
    z = sigmoid(linear(concat(x, y), out: 64))\nv = mean(x, axis: 1)\na = mean(y, axis: 1)\n";

/// The avc column's code spans, per table row: `(row number, statements)`.
fn rows(doc: &str) -> Vec<(String, Vec<String>)> {
    doc.lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| #") && !l.starts_with("| ---"))
        .map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            let number = cells[0].trim_start_matches("| ").to_string();
            let avc = cells.get(2).copied().unwrap_or_default();
            let code = avc.split('`').skip(1).step_by(2).map(str::to_string).collect();
            (number, code)
        })
        .collect()
}

#[test]
fn from_pytorch_forms_compile() {
    crate::at_workspace_root();
    let doc = std::fs::read_to_string("docs/from-pytorch.md").expect("docs/from-pytorch.md");
    let rows = rows(&doc);
    assert_eq!(rows.len(), 27, "twenty layers and seven shape idioms");
    let mut failed = Vec::new();
    for (number, statements) in &rows {
        for statement in statements.iter().filter(|s| s.contains('=') || s.starts_with("output")) {
            let (body, output) = match statement.strip_prefix("output ") {
                Some(_) => (String::new(), statement.clone()),
                None => (format!("{statement}\n"), "output match: embeddings(v, a)".to_string()),
            };
            let text = format!("{PRELUDE}{body}{output}\n");
            if let Err(f) = avc_lang::compile::compile(&SourceFile::new(format!("row{number}.avc"), text)) {
                failed.push(format!("row {number}, `{statement}`:\n{}", avc_lang::compile::explain(&f)));
            }
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
