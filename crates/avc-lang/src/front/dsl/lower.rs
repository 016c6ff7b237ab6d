//! The DSL's parse tree -> [`ast::Module`], with the checks a grammar cannot make (types,
//! dimensions, duplicates, argument order). Every independent error is collected.
//!
//! Nested calls and sums used as inputs become anonymous nodes named after the statement
//! they stand in and their op (`y_dropout`, then `y_dropout2`; `y_add` for a sum), never
//! colliding with a name written in the same scope; a `return` of an expression makes a
//! node `out`. Anonymous nodes come before the node that reads them, so the AST lists
//! nodes in the order the YAML of the same model would. An anonymous node's name points at
//! its op's name (or its `+`), its declaration's span covers the whole expression.
//! Each anonymous node records where it was written ([`Nested`]), so that `avc fmt` prints
//! it nested again rather than as a statement of its own.

use crate::ast::{
    Arg, BlockDecl, BlockParam, Constant, DimExpr, Ident, InputDecl, Module, Nested, NodeDecl, OutputDecl, OutputKind,
    ParamType, Setting, Value, ValueKind,
};
use crate::front::dsl::error::DslError;
use crate::front::dsl::syntax::Rule;
use crate::front::expr::{ExprError, ExprReader, RefStyle};
use crate::source::{SourceFile, Span};
use pest::iterators::Pair;
use std::collections::{HashMap, HashSet};

#[path = "tensor.rs"]
mod tensor;

use tensor::{Operand, Target, anchor, lone_name};

type Tree<'i> = Pair<'i, Rule>;

/// What a bare name means as a value: a reference (to a constant or block parameter) in
/// parameters, a string in `train` (where nothing is in scope: `optimizer: adam`).
#[derive(Clone, Copy)]
enum BareWord {
    Ref,
    Str,
}

/// Lowers a parsed `file` into the AST, or returns every error found.
pub(in crate::front) fn lower(src: &SourceFile, file: Tree) -> Result<Module, Vec<DslError>> {
    let statements: Vec<Tree> = parts(file).collect();
    if statements.is_empty() {
        return Err(vec![DslError::Empty { span: Span::empty() }]);
    }
    let mut module = Module {
        source: src.clone(),
        constants: Vec::new(),
        inputs: Vec::new(),
        blocks: Vec::new(),
        nodes: Vec::new(),
        outputs: Vec::new(),
        train: Vec::new(),
    };
    let mut lowerer = Lowerer { errors: Vec::new(), train_at: None };
    let mut top = Scope::new(statements.iter().flat_map(defined_names).collect());
    for statement in &statements {
        lowerer.statement(statement.clone(), &mut module, &mut top);
    }
    module.nodes = top.nodes;
    lowerer.require(&statements, Rule::input_decl, "inputs", "input video: [120, 1024]");
    lowerer.require(&statements, Rule::output_decl, "outputs", "output match: logit(head)");
    let mut errors = lowerer.errors;
    if errors.is_empty() {
        return Ok(module);
    }
    errors.sort_by_key(|e| e.span().start);
    Err(errors)
}

/// A pair's span without the whitespace and comments pest's implicit skipping lets it
/// swallow after its last token (an optional or repeated tail that did not match still
/// consumed them): from its start to the end of its last token.
fn span_of(pair: &Tree) -> Span {
    let start = pair.as_span().start();
    // Inner rules can carry the same trailing skip; only leaf tokens end exactly.
    let leaves = pair.clone().into_inner().flatten().filter(|p| p.clone().into_inner().next().is_none());
    let end = leaves.map(|p| p.as_span().end()).max().unwrap_or(pair.as_span().end());
    Span::new(start, end)
}

fn ident(pair: &Tree) -> Ident {
    Ident::new(pair.as_str(), span_of(pair))
}

/// Keywords and punctuation: they shape the tree but carry nothing the AST needs.
fn is_token(rule: Rule) -> bool {
    use Rule::*;
    matches!(
        rule,
        EOI | kw_let
            | kw_input
            | kw_from
            | kw_block
            | kw_return
            | kw_output
            | kw_train
            | lparen
            | rparen
            | lbracket
            | rbracket
            | lbrace
            | rbrace
            | comma
            | colon
            | assign
            | plus
            | minus
            | times
            | divide
    )
}

/// The children of a pair that carry meaning (tokens dropped).
fn parts(pair: Tree) -> impl Iterator<Item = Tree> {
    pair.into_inner().filter(|p| !is_token(p.as_rule()))
}

/// The span of the first child token of a kind (`+` of a sum, `train` of a section).
fn token_span(pair: &Tree, rule: Rule) -> Option<Span> {
    pair.clone().into_inner().find(|p| p.as_rule() == rule).map(|p| span_of(&p))
}

/// The names a statement defines: the one it starts with (after the keyword), or every
/// target of `a, b = chunk(x)`.
fn defined_names(statement: &Tree) -> Vec<String> {
    let names = parts(statement.clone()).take_while(|p| p.as_rule() == Rule::ident).map(|p| p.as_str().to_string());
    let count = if statement.as_rule() == Rule::parts_def { usize::MAX } else { 1 };
    names.take(count).collect()
}

/// The names taken in one scope (top level or a block) and the nodes defined in it.
struct Scope {
    taken: HashSet<String>,
    nodes: Vec<NodeDecl>,
    /// Per base name, the next number `fresh` tries: a sum of 30,000 nested calls names
    /// its nodes in linear time, not by counting up from 2 each time.
    next_number: HashMap<String, usize>,
}

impl Scope {
    fn new(taken: HashSet<String>) -> Self {
        Scope { taken, nodes: Vec::new(), next_number: HashMap::new() }
    }

    /// `base` if free, else `base2`, `base3`, ...: the name of an anonymous node.
    fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut n = self.next_number.get(base).copied().unwrap_or(2);
        while self.taken.contains(&name) {
            name = format!("{base}{n}");
            n += 1;
        }
        self.next_number.insert(base.to_string(), n);
        self.taken.insert(name.clone());
        name
    }
}

struct Lowerer {
    errors: Vec<DslError>,
    /// The `train` keyword of the first section, to report a second one.
    train_at: Option<Span>,
}

impl Lowerer {
    fn error(&mut self, error: DslError) {
        self.errors.push(error);
    }

    fn statement(&mut self, statement: Tree, module: &mut Module, top: &mut Scope) {
        match statement.as_rule() {
            Rule::let_decl => module.constants.extend(self.constant(statement)),
            Rule::input_decl => module.inputs.extend(self.input(statement)),
            Rule::block_decl => module.blocks.extend(self.block(statement)),
            Rule::output_decl => module.outputs.extend(self.output(statement)),
            Rule::train_section => self.train(statement, &mut module.train),
            Rule::node_def => self.node_def(statement, top),
            Rule::parts_def => self.parts_def(statement, top),
            _ => {}
        }
    }

    /// Reports a model without any statement of a required kind (inputs, outputs).
    fn require(&mut self, statements: &[Tree], rule: Rule, what: &'static str, example: &'static str) {
        if !statements.iter().any(|s| s.as_rule() == rule) {
            self.error(DslError::Missing { what, example, span: Span::empty() });
        }
    }

    /// `let H = 64`.
    fn constant(&mut self, pair: Tree) -> Option<Constant> {
        let mut it = parts(pair);
        let name = ident(&it.next()?);
        let value = self.value(it.next()?, BareWord::Ref)?;
        if matches!(value.kind, ValueKind::List(_) | ValueKind::Ref(_)) {
            let found = value.kind.type_name();
            self.error(DslError::BadConstant { name: name.name, found, span: value.span });
            return None;
        }
        Some(Constant { name, value })
    }

    /// `input audio: [T, 128] from audio`.
    fn input(&mut self, pair: Tree) -> Option<InputDecl> {
        let span = span_of(&pair);
        let mut it = parts(pair);
        let name = ident(&it.next()?);
        let dims: Vec<Option<DimExpr>> = parts(it.next()?).map(|d| self.dim(&name.name, d)).collect();
        let stream = it.next().map(|s| ident(&s));
        Some(InputDecl { name, shape: dims.into_iter().collect::<Option<_>>()?, stream, span })
    }

    /// One dimension: a positive integer or a name (a symbol or a constant).
    fn dim(&mut self, input: &str, value: Tree) -> Option<DimExpr> {
        let span = span_of(&value);
        let text = value.as_str().trim_end().to_string();
        let inner = lone_operand(value.into_inner().next()?);
        match inner.as_rule() {
            Rule::ident => return Some(DimExpr::Symbol(ident(&inner))),
            Rule::int => match inner.as_str().parse::<i64>() {
                Ok(n) if n > 0 => return Some(DimExpr::Fixed(n, span)),
                Ok(_) => {}
                Err(_) => {
                    self.error(DslError::IntOutOfRange { text, span });
                    return None;
                }
            },
            _ => {}
        }
        self.error(DslError::BadDim { input: input.to_string(), found: text, span });
        None
    }

    /// `output match: logit(head)`.
    fn output(&mut self, pair: Tree) -> Option<OutputDecl> {
        let span = span_of(&pair);
        let mut it = parts(pair);
        let name = ident(&it.next()?);
        let kind_word = it.next()?;
        let kind_span = span_of(&kind_word);
        let from = parts(it.next()?).map(|n| ident(&n)).collect();
        let Some(kind) = OutputKind::parse(kind_word.as_str()) else {
            self.error(DslError::UnknownOutputKind { found: kind_word.as_str().to_string(), span: kind_span });
            return None;
        };
        Some(OutputDecl { name, kind, kind_span, from, span })
    }

    /// `train { key: value ... }`: bare words are strings here.
    fn train(&mut self, pair: Tree, out: &mut Vec<Setting>) {
        let keyword = token_span(&pair, Rule::kw_train).unwrap_or_else(|| span_of(&pair));
        if let Some(first) = self.train_at {
            self.error(DslError::DuplicateTrain { span: keyword, first });
            return;
        }
        self.train_at = Some(keyword);
        let mut seen = HashMap::new();
        for setting in parts(pair) {
            let mut it = parts(setting);
            let (Some(key), Some(value)) = (it.next(), it.next()) else { continue };
            let key = ident(&key);
            if self.is_repeated(&mut seen, &key, "setting") {
                continue;
            }
            if let Some(value) = self.value(value, BareWord::Str) {
                out.push(Setting { key, value });
            }
        }
    }

    /// Records `name` in `seen`; reports it and returns true when it was there already.
    fn is_repeated(&mut self, seen: &mut HashMap<String, Span>, name: &Ident, what: &'static str) -> bool {
        match seen.get(&name.name) {
            Some(&first) => {
                self.error(DslError::Duplicate { what, name: name.name.clone(), span: name.span, first });
                true
            }
            None => {
                seen.insert(name.name.clone(), name.span);
                false
            }
        }
    }

    /// `block name(inputs, params) { nodes return expr }`.
    fn block(&mut self, pair: Tree) -> Option<BlockDecl> {
        let span = span_of(&pair);
        let mut it = parts(pair);
        let name = ident(&it.next()?);
        let (inputs, params) = self.block_header(it.next()?, &name.name);
        let body: Vec<Tree> = it.collect();
        let mut taken: HashSet<String> =
            inputs.iter().chain(params.iter().flatten().map(|p| &p.name)).map(|i| i.name.clone()).collect();
        taken.extend(
            body.iter().filter(|p| matches!(p.as_rule(), Rule::node_def | Rule::parts_def)).flat_map(defined_names),
        );
        let mut scope = Scope::new(taken);
        let mut output = None;
        for statement in body {
            match statement.as_rule() {
                Rule::node_def => self.node_def(statement, &mut scope),
                Rule::parts_def => self.parts_def(statement, &mut scope),
                Rule::return_stmt => output = self.block_output(statement, &mut scope),
                _ => {}
            }
        }
        let params = params.into_iter().collect::<Option<Vec<_>>>()?;
        Some(BlockDecl { name, params, inputs, nodes: scope.nodes, output: output?, span })
    }

    /// `(x, hidden: int, p: float = 0.5)`: inputs, then typed parameters. A parameter that
    /// failed to lower is `None` (its error is recorded).
    fn block_header(&mut self, header: Tree, block: &str) -> (Vec<Ident>, Vec<Option<BlockParam>>) {
        let (mut inputs, mut params) = (Vec::new(), Vec::new());
        let mut seen = HashMap::new();
        for entry in parts(header) {
            let span = span_of(&entry);
            let mut it = parts(entry);
            let Some(name) = it.next().map(|n| ident(&n)) else { continue };
            if self.is_repeated(&mut seen, &name, "block input or parameter") {
                continue;
            }
            let Some(ty) = it.next() else {
                if !params.is_empty() {
                    self.error(DslError::InputAfterParam { what: format!("block `{block}`"), span });
                }
                inputs.push(name);
                continue;
            };
            let default = it.next().and_then(|v| self.value(v, BareWord::Ref));
            match ParamType::parse(ty.as_str()) {
                Some(ty) => params.push(Some(BlockParam { name, ty, default })),
                None => {
                    self.error(DslError::UnknownParamType { found: ty.as_str().to_string(), span: span_of(&ty) });
                    params.push(None);
                }
            }
        }
        (inputs, params)
    }

    /// `return expr`: a name, or an expression that becomes the node `out`.
    fn block_output(&mut self, pair: Tree, scope: &mut Scope) -> Option<Ident> {
        let expr = parts(pair).next()?;
        if let Some(name) = lone_name(&expr) {
            return Some(name);
        }
        let span = span_of(&expr);
        let name = Ident::new(scope.fresh("out"), anchor(&expr));
        self.define(name.clone(), expr, span, scope);
        // The node the expression became (the last one made with that name; none if it
        // failed): written in the `return`, not as a statement `out = ...`.
        if let Some(node) = scope.nodes.iter_mut().rev().find(|n| n.name.name == name.name) {
            node.nested = Some(Nested::Return);
        }
        Some(name)
    }

    /// `name = expr`.
    fn node_def(&mut self, pair: Tree, scope: &mut Scope) {
        let span = span_of(&pair);
        let mut it = parts(pair);
        if let (Some(name), Some(expr)) = (it.next(), it.next()) {
            self.define(ident(&name), expr, span, scope);
        }
    }

    /// `a, b = chunk(x)`: the call lowered once, then one node per target
    /// ([`crate::front::parts::expand`]).
    fn parts_def(&mut self, pair: Tree, scope: &mut Scope) {
        let span = span_of(&pair);
        let items: Vec<Tree> = parts(pair).collect();
        let Some((call, names)) = items.split_last() else { return };
        let targets: Vec<Ident> = names.iter().map(ident).collect();
        let owner = targets[0].name.clone();
        self.call(targets[0].clone(), call.clone(), span, &owner, None, scope);
        let Some(node) = scope.nodes.pop() else { return };
        match crate::front::parts::expand(node, &targets) {
            Ok(nodes) => scope.nodes.extend(nodes),
            Err(e) => self.error(DslError::Parts { problem: e.problem, help: e.help, span: e.span }),
        }
    }

    /// Defines the node `name` as the value of `expr`; nested calls are named after it.
    fn define(&mut self, name: Ident, expr: Tree, span: Span, scope: &mut Scope) {
        let owner = name.name.clone();
        self.define_owned(name, expr, span, &owner, scope);
    }

    /// Defines `name` as `expr`, naming anonymous nodes inside after `owner`.
    fn define_owned(&mut self, name: Ident, expr: Tree, span: Span, owner: &str, scope: &mut Scope) {
        let target = Target { named: Some((name.clone(), span)), owner };
        match self.tensor(expr, &target, scope) {
            Some(Operand::Node(node)) if node.name != name.name => {
                self.error(DslError::Alias { name: name.name, target: node.name, span: node.span });
            }
            Some(Operand::Number(v)) => self.error(DslError::Tensor {
                problem: format!("`{} = {v}` defines no node: `{v}` is a number, not a tensor", name.name),
                help: format!(
                    "a constant is written `let {} = {v}` (value arithmetic); a node needs a tensor \
                               operand (`{} = {v} * x`) or a call",
                    name.name, name.name
                ),
                span: v.span,
            }),
            _ => {}
        }
    }

    /// `callee(inputs..., key: value...)` as the node `name`; `nested` says where an
    /// anonymous one was written.
    fn call(&mut self, name: Ident, call: Tree, span: Span, owner: &str, nested: Option<Nested>, scope: &mut Scope) {
        let mut it = parts(call);
        let Some(callee) = it.next().map(|c| ident(&c)) else { return };
        let (mut inputs, mut args) = (Vec::new(), Vec::new());
        let mut seen = HashMap::new();
        for arg in it {
            if arg.as_rule() == Rule::keyword_arg {
                let mut kv = parts(arg);
                let (Some(key), Some(value)) = (kv.next(), kv.next()) else { continue };
                let key = ident(&key);
                if !self.is_repeated(&mut seen, &key, "parameter")
                    && let Some(value) = self.value(value, BareWord::Ref)
                {
                    args.push(Arg { name: key, value });
                }
                continue;
            }
            if !seen.is_empty() {
                self.error(DslError::InputAfterParam { what: format!("`{}`", callee.name), span: span_of(&arg) });
            }
            inputs.extend(self.node_input(arg, owner, scope));
        }
        scope.nodes.push(NodeDecl { name, callee, inputs, args, span, nested });
    }

    /// An input of a node: a name as written, or the name of the anonymous node that a
    /// nested call or expression becomes. A number is refused: inputs are tensors.
    fn node_input(&mut self, term: Tree, owner: &str, scope: &mut Scope) -> Option<Ident> {
        match self.tensor(term, &Target { named: None, owner }, scope)? {
            Operand::Node(name) => Some(name),
            Operand::Number(v) => {
                self.error(DslError::Tensor {
                    problem: format!("the number `{v}` stands where a node's input goes"),
                    help: "an op's inputs come first (tensors: nodes, by name or expression), then its parameters \
                           by name: `transpose(x, a: 1, b: 2)`, `dropout(x, p: 0.5)`; a number is a tensor operand \
                           only beside an operator (`0.5 * x`)"
                        .into(),
                    span: v.span,
                });
                None
            }
        }
    }

    /// An integer-arithmetic value (`0`, `H / 2`, `width(x)`), as a parameter takes it.
    fn arith_value(&mut self, inner: Tree) -> Option<Value> {
        let mut reader = ExprReader { offset: 0, style: RefStyle::Bare, bare_is_str: false, errors: Vec::new() };
        let value = reader.arith(inner);
        self.errors.extend(reader.errors.into_iter().map(|e| match e {
            ExprError::IntOutOfRange { text, span } => DslError::IntOutOfRange { text, span },
            ExprError::FloatOutOfRange { text, span } => DslError::FloatOutOfRange { text, span },
            other => DslError::Expr(other),
        }));
        value
    }

    /// A parameter or setting value.
    fn value(&mut self, pair: Tree, bare: BareWord) -> Option<Value> {
        let span = span_of(&pair);
        let inner = pair.into_inner().next()?;
        let text = inner.as_str();
        let kind = match inner.as_rule() {
            Rule::arith => {
                let bare_is_str = matches!(bare, BareWord::Str);
                let mut reader = ExprReader { offset: 0, style: RefStyle::Bare, bare_is_str, errors: Vec::new() };
                let value = reader.arith(inner);
                self.errors.extend(reader.errors.into_iter().map(|e| match e {
                    // Numbers out of range read as they did before values had arithmetic.
                    ExprError::IntOutOfRange { text, span } => DslError::IntOutOfRange { text, span },
                    ExprError::FloatOutOfRange { text, span } => DslError::FloatOutOfRange { text, span },
                    other => DslError::Expr(other),
                }));
                return value;
            }
            Rule::boolean => ValueKind::Bool(text == "true"),
            Rule::string => ValueKind::Str(self.unescape(text, span.start)?),
            Rule::list => {
                let items: Vec<Option<Value>> = parts(inner).map(|v| self.value(v, bare)).collect();
                ValueKind::List(items.into_iter().collect::<Option<_>>()?)
            }
            _ => return None,
        };
        Some(Value { kind, span })
    }

    /// The text of a string literal (quotes included in `quoted`, which starts at `start`).
    fn unescape(&mut self, quoted: &str, start: usize) -> Option<String> {
        let body = quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or_default();
        let mut out = String::with_capacity(body.len());
        let mut ok = true;
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let Some((_, e)) = chars.next() else { break };
            match e {
                '"' | '\\' => out.push(e),
                'n' => out.push('\n'),
                't' => out.push('\t'),
                _ => {
                    let at = start + 1 + i;
                    let span = Span::new(at, at + 1 + e.len_utf8());
                    self.error(DslError::BadEscape { text: format!("\\{e}"), span });
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }
}

/// The one number or name a value is, when it is no more than that (`120`, `T`), else the
/// value itself: a shape takes no arithmetic.
fn lone_operand(value: Tree) -> Tree {
    let mut pair = value;
    while matches!(pair.as_rule(), Rule::arith | Rule::product | Rule::factor) {
        let mut inner = pair.clone().into_inner();
        match (inner.next(), inner.next()) {
            (Some(only), None) => pair = only,
            _ => break,
        }
    }
    pair
}
