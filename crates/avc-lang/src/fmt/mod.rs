//! `avc fmt`: prints an AST back as text, in either front-end's language. Converting a
//! file to the other language and back gives the same IR, and formatting a formatted
//! file changes nothing (both are tested on every architecture).
//!
//! Formatting a DSL file keeps it as written, up to spacing: nested calls and operator
//! expressions stay nested (`h = linear(relu(x), out: 64)`, `y = x + ff(norm(x))`, with
//! the parentheses Python's precedence needs), statements keep their order (an `input`
//! after a `let` stays there), a block's `return <expr>` stays one, and blank lines stay
//! where there were any (one for several). So a formatted DSL file has as many statement
//! lines as the original, fewer where a nested call spanned lines.
//!
//! Converting to YAML flattens: YAML has no nesting, so each nested call becomes a node of
//! its own, with the name the DSL gave it (`h_relu`), and the file is laid out by section.
//! DSL -> YAML -> DSL therefore gives the flat form (`h_relu = relu(x)` then
//! `h = linear(h_relu, out: 64)`): the same model, written out longer. A YAML file printed
//! as DSL is laid out by kind: constants, inputs, blocks, nodes, outputs, `train`.
//!
//! Comments are kept where they can be: a comment on its own line stays before the
//! statement that follows it, a comment at the end of a statement's line stays at the end
//! of that line, also inside a block and also when the statement holds nested calls. A
//! comment inside a statement (between the keys of one YAML node, or on an inner line of
//! a nested call that spans lines) cannot keep its place; it is moved before that
//! statement and reported.

mod comments;
mod dsl;
mod nested;
mod yaml;

use crate::ast::Module;
use crate::front::Format;
use comments::Comments;

/// The formatted text and the notes about comments that had to move.
#[derive(Debug, Clone, PartialEq)]
pub struct Formatted {
    pub text: String,
    pub moved_comments: Vec<String>,
}

/// Prints `module` in the given language.
pub fn format(module: &Module, to: Format) -> Formatted {
    let (text, comments) = match to {
        Format::Yaml => {
            let mut comments = Comments::collect(module, &|_, _| true);
            (yaml::print(module, &mut comments), comments)
        }
        Format::Dsl => {
            let plan = nested::Plan::new(module);
            let mut comments = Comments::collect(module, &|block, i| !plan.is_inlined(block, i));
            (dsl::print(module, &plan, &mut comments), comments)
        }
    };
    Formatted { text, moved_comments: comments.moved }
}
