//! The text DSL front-end: a `.avc` file -> [`ast::Module`], the same AST the YAML
//! front-end makes for the same model, every name and value with the span of its text.
//!
//! Three steps: a nesting guard and the pest grammar (`grammar/avc.pest`, module
//! `syntax`), then the parse tree lowered into the AST with the checks a grammar cannot
//! make (module `lower`). Op names and parameters are checked later, by `ir::build`,
//! as for YAML.
//!
//! # The language
//!
//! ```text
//! # comments start with '#', to the end of the line
//! let H = 64                                 # a constant: in shapes and parameter values
//! input video: [120, 1024]                   # per-clip shape; the batch axis is implicit
//! input audio: [T, 128] from audio           # `from STREAM`: default, the input's name
//!
//! block res_lstm(x, hidden: int, p: float = 0.5) {   # inputs, then typed parameters
//!     rnn = lstm(x, hidden: hidden)          # a bare name as a value: a constant/parameter
//!     drop = dropout(rnn, p: p)
//!     branch = lstm(drop, hidden: hidden)
//!     sum = rnn + branch                     # `a + b (+ c ...)`: one `add` node
//!     return sum                             # the block's result: a name or an expression
//! }
//!
//! vproj = linear(video, out: H)
//! v = res_lstm(vproj, hidden: H)             # the callee is an op or a block
//! y = lstm(dropout(v, p: 0.5), hidden: 128, output: "last")   # nested: node `y_dropout`
//! head = linear(y, out: 1)
//! output match: logit(head)                  # logit | distance | embeddings(video, audio)
//!
//! train {                                    # the YAML `train:` settings
//!     epochs: 20
//!     schedule.patience: 2                   # dotted keys
//!     optimizer: adam                        # bare words are strings here
//! }
//! ```
//!
//! Precisely:
//! * Statements come in any order, separated by blank space (no `;`). Names are
//!   `[A-Za-z_][A-Za-z0-9_]*`; keywords are only keywords where a statement starts.
//! * `let NAME = VALUE`: a constant, an integer, float, boolean or string (YAML
//!   `constants:`).
//! * `input NAME: [DIM, ...] (from STREAM)?`: a dimension is a positive integer or a name
//!   (a symbol such as `T`, or a constant).
//! * `block NAME(INPUT, ..., PARAM: TYPE (= DEFAULT)?, ...) { NODE... return EXPR }`: the
//!   types are `int`, `float`, `bool` and `str`. `return` of an expression other than a
//!   name defines a node `out` in the block.
//! * `NAME = EXPR`: `EXPR` is a call `callee(INPUT..., KEY: VALUE...)` (inputs first), a sum
//!   `a + b + ...` (one `add` node over all terms), or either in parentheses. An input is a
//!   name, or a nested call or sum: an anonymous node named `<statement>_<op>` (`y_dropout`,
//!   then `y_dropout2`; `y_add` for a sum) unless a name written in the same scope (top
//!   level or block) has it, in which case the next free number is used.
//! * `output NAME: KIND(NODE, ...)`: `logit` and `distance` read one node, `embeddings` two.
//! * `train { KEY: VALUE ... }`: at most one section; keys may be dotted and are not repeated.
//!   A bare name as a value is a string (as in YAML); elsewhere it is a reference
//!   ([`ValueKind::Ref`](crate::ast::ValueKind::Ref)).
//! * Values: integers (`-1`), floats (`0.5`, `1e-3`), `true`/`false`, double-quoted strings
//!   (escapes `\"`, `\\`, `\n`, `\t`), lists `[1, 2]`, names, and integer arithmetic
//!   on numbers, names and `width(x)`: `padding: d * (k - 1) / 2` (module `expr`).
//! * Brackets nest at most 32 deep; a model needs at least one `input` and one `output`.

pub(crate) mod error;
mod lower;
pub(crate) mod syntax;
#[cfg(test)]
mod tests;

use crate::ast;
use crate::front::FrontError;
use crate::front::dsl::error::DslError;
use crate::front::dsl::lower::lower;
use crate::front::dsl::syntax::{Rule, parse_file};
use crate::source::SourceFile;

/// Parses a DSL architecture file; on failure returns every error found, in file order.
pub fn parse(src: &SourceFile) -> Result<ast::Module, Vec<FrontError>> {
    parse_dsl(src).map_err(|errors| errors.into_iter().map(FrontError::Dsl).collect())
}

/// [`parse`] with the DSL's own error type.
pub fn parse_dsl(src: &SourceFile) -> Result<ast::Module, Vec<DslError>> {
    let file = parse_file(src.text()).map_err(|e| vec![e])?;
    check_size(&file).map_err(|e| vec![e])?;
    lower(src, file)
}

/// Refuses a file of more than [`MAX_VALUES`](crate::front::MAX_VALUES) values, the YAML
/// front-end's limit, counted as YAML would count the same model: every name, number,
/// string, boolean and list.
fn check_size(tree: &pest::iterators::Pair<'_, Rule>) -> Result<(), DslError> {
    let values = tree.clone().into_inner().flatten().filter(|p| {
        use Rule::*;
        matches!(p.as_rule(), ident | int | float | string | boolean | list | setting_key)
    });
    match values.enumerate().nth(crate::front::MAX_VALUES) {
        Some((_, pair)) => {
            let at = pair.as_span().start();
            Err(DslError::TooLarge { limit: crate::front::MAX_VALUES, span: crate::source::Span::new(at, at) })
        }
        None => Ok(()),
    }
}
