//! `avc fmt`: prints an AST back as text, in either front-end's language. Converting a
//! file to the other language and back gives the same IR, and formatting a formatted
//! file changes nothing (both are tested on every architecture).
//!
//! Comments are kept where they can be: a comment on its own line stays before the item
//! that follows it, a comment at the end of an item's line stays at the end of that line.
//! A comment inside an item (between the keys of one node, say) cannot keep its place; it
//! is moved before that item and reported.

mod comments;
mod dsl;
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
    let mut comments = Comments::collect(module);
    let text = match to {
        Format::Yaml => yaml::print(module, &mut comments),
        Format::Dsl => dsl::print(module, &mut comments),
    };
    Formatted { text, moved_comments: comments.moved }
}
