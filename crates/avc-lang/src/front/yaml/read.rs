//! Reading pieces of the marked YAML tree as AST pieces: mappings with known keys, names,
//! lists of names and parameter values. Every reader records its errors and returns
//! `None` on failure, so one pass over the file reports every independent problem.

use crate::ast::{Ident, Value, ValueKind};
use crate::diag::did_you_mean;
use crate::front::FrontError;
use crate::front::expr::{ExprError, looks_like_expr, parse_yaml};
use crate::front::yaml::tree::{Entry, Kind, Node, Scalar, ScalarValue};
use crate::source::{SourceFile, Span};

/// One `key: value` of a mapping whose key is a scalar.
pub(in crate::front) struct Field<'n> {
    pub key: &'n str,
    /// The key's text (without quotes).
    pub span: Span,
    pub value: &'n Node,
}

/// The fields of one mapping, in file order.
pub(in crate::front) struct Fields<'n> {
    pub list: Vec<Field<'n>>,
    /// Where to point when a key is missing.
    pub head: Span,
    /// Allowed keys that an unknown key here looks like a misspelling of: their absence
    /// is not reported again.
    pub suggested: Vec<&'static str>,
}

impl<'n> Fields<'n> {
    pub fn get(&self, key: &str) -> Option<&Field<'n>> {
        self.list.iter().find(|f| f.key == key)
    }
}

/// What a mapping should look like, for "must be ..., found ..." errors.
pub(in crate::front) struct Expect {
    pub what: String,
    pub expected: &'static str,
    pub example: Option<&'static str>,
}

impl Expect {
    pub fn new(what: impl Into<String>, expected: &'static str, example: Option<&'static str>) -> Self {
        Expect { what: what.into(), expected, example }
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
pub(in crate::front) fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Collects errors while the tree is read.
pub(in crate::front) struct Reader {
    pub src: SourceFile,
    pub errors: Vec<FrontError>,
}

impl Reader {
    pub fn error(&mut self, error: FrontError) {
        self.errors.push(error);
    }

    pub fn wrong_type(&mut self, node: &Node, expect: &Expect) {
        self.error(FrontError::WrongType {
            what: expect.what.clone(),
            expected: expect.expected,
            found: node.describe(),
            example: expect.example,
            span: node.span,
        });
    }

    /// A mapping's fields; any key allowed (node parameters are checked later, by op).
    pub fn map<'n>(&mut self, node: &'n Node, expect: &Expect) -> Option<Fields<'n>> {
        let Kind::Map(entries) = &node.kind else {
            match node.is_null() {
                true => self.error(FrontError::MissingValue { what: expect.what.clone(), span: node.span }),
                false => self.wrong_type(node, expect),
            }
            return None;
        };
        let list = entries.iter().filter_map(|e| self.field(e)).collect();
        Some(Fields { list, head: node.head_span(&self.src), suggested: Vec::new() })
    }

    fn field<'n>(&mut self, entry: &'n Entry) -> Option<Field<'n>> {
        match &entry.key.kind {
            Kind::Scalar(Scalar { text, inner, .. }) => Some(Field { key: text, span: *inner, value: &entry.value }),
            _ => {
                let what = "a list or mapping as a key".to_string();
                self.error(FrontError::Unsupported { what, span: entry.key.span });
                None
            }
        }
    }

    /// A mapping whose keys must come from `allowed`; others are reported.
    pub fn fields<'n>(
        &mut self,
        node: &'n Node,
        expect: &Expect,
        context: &str,
        allowed: &'static [&'static str],
    ) -> Option<Fields<'n>> {
        let mut fields = self.map(node, expect)?;
        for f in fields.list.iter().filter(|f| !allowed.contains(&f.key)) {
            fields.suggested.extend(did_you_mean(f.key, allowed.iter().copied()));
            let (key, span) = (f.key.to_string(), f.span);
            self.error(FrontError::UnknownKey { key, context: context.to_string(), allowed, span });
        }
        Some(fields)
    }

    /// A key that must be present and not null.
    pub fn require<'n>(&mut self, fields: &Fields<'n>, key: &'static str, context: &str) -> Option<&'n Node> {
        let Some(field) = fields.get(key) else {
            if fields.suggested.contains(&key) {
                return None;
            }
            let context = context.to_string();
            self.error(FrontError::MissingKey { key, context, span: fields.head });
            return None;
        };
        self.non_null(field.value, || format!("`{key}` of {context}"))
    }

    pub fn non_null<'n>(&mut self, node: &'n Node, what: impl FnOnce() -> String) -> Option<&'n Node> {
        if node.is_null() {
            self.error(FrontError::MissingValue { what: what(), span: node.span });
            return None;
        }
        Some(node)
    }

    /// A list's items.
    pub fn list<'n>(&mut self, node: &'n Node, expect: &Expect) -> Option<&'n [Node]> {
        match &node.kind {
            Kind::Seq(items) => Some(items),
            _ if node.is_null() => {
                self.error(FrontError::MissingValue { what: expect.what.clone(), span: node.span });
                None
            }
            _ => {
                self.wrong_type(node, expect);
                None
            }
        }
    }

    /// A name written as a scalar; `what` says what it names (`node name`).
    pub fn ident(&mut self, node: &Node, what: &'static str) -> Option<Ident> {
        let Kind::Scalar(scalar) = &node.kind else {
            let expect = Expect::new(format!("a {what}"), "a name", None);
            self.wrong_type(node, &expect);
            return None;
        };
        if node.is_null() {
            self.error(FrontError::MissingValue { what: format!("the {what}"), span: node.span });
            return None;
        }
        self.name(&scalar.text, scalar.inner, what)
    }

    /// Checks that a key or scalar is an identifier.
    pub fn name(&mut self, text: &str, span: Span, what: &'static str) -> Option<Ident> {
        if !is_ident(text) {
            self.error(FrontError::BadName { name: text.to_string(), what, span });
            return None;
        }
        Some(Ident::new(text, span))
    }

    /// A field's key as a name.
    pub fn key_name(&mut self, field: &Field, what: &'static str) -> Option<Ident> {
        self.name(field.key, field.span, what)
    }

    /// `x` or `[x, y]`: the inputs of a node, the nodes an output reads.
    pub fn names(&mut self, node: &Node, what: &str) -> Option<Vec<Ident>> {
        match &node.kind {
            Kind::Scalar(_) => self.ident(node, "node or input name").map(|i| vec![i]),
            Kind::Seq(items) => {
                let names: Vec<_> = items.iter().map(|n| self.ident(n, "node or input name")).collect();
                names.into_iter().collect()
            }
            Kind::Map(_) => {
                let expect = Expect::new(what, "a name or a list of names", Some("in: [video_proj, audio_proj]"));
                self.wrong_type(node, &expect);
                None
            }
        }
    }

    /// A parameter value: a number, boolean, string, `$name` reference or a list of them.
    pub fn value(&mut self, node: &Node, what: &str) -> Option<Value> {
        let span = node.span;
        let kind = match &node.kind {
            Kind::Scalar(scalar) => self.scalar_value(scalar, span, what)?,
            Kind::Seq(items) => {
                let items: Vec<_> = items.iter().map(|n| self.value(n, what)).collect();
                ValueKind::List(items.into_iter().collect::<Option<_>>()?)
            }
            Kind::Map(_) => {
                let expected = "a number, a boolean, a string, a `$reference` or a list";
                self.wrong_type(node, &Expect::new(what, expected, None));
                return None;
            }
        };
        Some(Value { kind, span })
    }

    /// A plain scalar read as an expression. Its text is the file's text when the scalar
    /// sits on one line; otherwise errors point at the whole scalar.
    fn expression(&mut self, scalar: &Scalar, span: Span) -> Option<ValueKind> {
        let in_place = self.src.slice(span) == scalar.text;
        match parse_yaml(&scalar.text, span.start) {
            Ok(value) => Some(value.kind),
            Err(errors) => {
                let relocate = |e: ExprError| if in_place { e } else { e.at(span) };
                self.errors.extend(errors.into_iter().map(|e| FrontError::Expr(relocate(e))));
                None
            }
        }
    }

    fn scalar_value(&mut self, scalar: &Scalar, span: Span, what: &str) -> Option<ValueKind> {
        Some(match &scalar.value {
            ScalarValue::Null => {
                self.error(FrontError::MissingValue { what: what.to_string(), span });
                return None;
            }
            ScalarValue::Bool(b) => ValueKind::Bool(*b),
            ScalarValue::Int(i) => ValueKind::Int(*i),
            ScalarValue::Float(x) => ValueKind::Float(*x),
            ScalarValue::IntOutOfRange => {
                self.error(FrontError::IntOutOfRange { text: scalar.text.clone(), span });
                return None;
            }
            ScalarValue::Str(s) => match s.strip_prefix('$') {
                Some(name) if is_ident(name) => ValueKind::Ref(name.to_string()),
                _ if scalar.plain && looks_like_expr(s) => return self.expression(scalar, span),
                Some(_) => {
                    self.error(FrontError::BadRef { text: s.clone(), span });
                    return None;
                }
                None => ValueKind::Str(s.clone()),
            },
        })
    }
}
