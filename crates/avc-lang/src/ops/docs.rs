//! Op documentation generated from the registry: `avc ops` prints it, and
//! docs/language.md embeds the Markdown form (a test keeps them in step).

use super::registry;

/// Plain text for the terminal.
pub fn reference_text() -> String {
    let mut out = String::new();
    for spec in registry() {
        out.push_str(&format!("{} ({}, {})\n", spec.name, spec.family, spec.arity));
        out.push_str(&format!("  {}\n", spec.summary));
        out.push_str(&format!("  shape: {}\n", spec.shape_rule));
        for p in spec.params {
            let default = p.default.map_or("required".to_string(), |d| format!("default {d}"));
            out.push_str(&format!("  - {}: {} ({default}): {}\n", p.name, p.kind.describe(), p.doc));
        }
        out.push('\n');
    }
    out
}

/// Markdown: a section per op with its parameter table.
pub fn reference_markdown() -> String {
    let mut out = String::new();
    for spec in registry() {
        out.push_str(&format!("### `{}`\n\n{}\n\n", spec.name, spec.summary));
        out.push_str(&format!(
            "- family: {}\n- inputs: {}\n- shape: `{}`\n\n",
            spec.family, spec.arity, spec.shape_rule
        ));
        if spec.params.is_empty() {
            out.push_str("No parameters.\n\n");
            continue;
        }
        out.push_str("| parameter | type | default | meaning |\n| --- | --- | --- | --- |\n");
        for p in spec.params {
            let default = p.default.map_or("required".to_string(), |d| format!("`{d}`"));
            // A bare `|` would end the table cell.
            let cell = |text: &str| text.replace('|', "\\|");
            out.push_str(&format!("| `{}` | {} | {default} | {} |\n", p.name, cell(&p.kind.describe()), cell(p.doc)));
        }
        out.push('\n');
    }
    out
}
