//! A line of generated Python before it is placed in a class: text, the node's inputs, its
//! module attribute, and the numbers that the op's parameters and input shapes give. A
//! number stays a literal in the model's class; in a block's class it becomes a
//! constructor argument where the instances differ or the block's source names a block
//! parameter there (`scopes`).

/// One piece of a [`Template`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    Text(String),
    /// The Python value of the node's input `i`.
    Input(usize),
    /// The node's module attribute (`self.rnn`), or its owner's for a node that shares.
    Module,
    Num(Num),
}

/// A number in the generated code.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Num {
    /// What it is, for a constructor argument's name (`input_size`).
    pub hint: String,
    /// The avc parameter it comes from, whose source expression a comment may show;
    /// `None` for a size read from an input's shape.
    pub param: Option<String>,
    /// The Python literal.
    pub text: String,
}

/// A Python expression with holes; see the module docs.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Template(pub Vec<Piece>);

impl Template {
    /// `text` with `{x0}`.. for inputs, `{m}` for the module and `{}` for the next of `nums`.
    pub fn parse(text: &str, nums: impl IntoIterator<Item = Num>) -> Template {
        let mut nums = nums.into_iter();
        let mut out = Template::default();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            out = out.t(&rest[..open]);
            let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
            match &rest[open + 1..close] {
                "" => out.0.extend(nums.next().map(Piece::Num)),
                "m" => out.0.push(Piece::Module),
                hole => out.0.push(Piece::Input(hole.trim_start_matches('x').parse().unwrap_or(0))),
            }
            rest = rest.get(close + 1..).unwrap_or("");
        }
        out.t(rest)
    }

    pub fn t(mut self, text: &str) -> Template {
        if text.is_empty() {
            return self;
        }
        match self.0.last_mut() {
            Some(Piece::Text(last)) => last.push_str(text),
            _ => self.0.push(Piece::Text(text.to_string())),
        }
        self
    }

    pub fn x(mut self, input: usize) -> Template {
        self.0.push(Piece::Input(input));
        self
    }

    pub fn num(mut self, num: Num) -> Template {
        self.0.push(Piece::Num(num));
        self
    }

    /// Whether it is the module attribute alone (a learned tensor read as it is).
    pub fn is_module(&self) -> bool {
        self.0 == [Piece::Module]
    }
}

/// An integer from a parameter (`param`) or a shape (`None`).
pub(crate) fn int(hint: &str, param: Option<&str>, value: i64) -> Num {
    Num { hint: hint.into(), param: param.map(str::to_string), text: value.to_string() }
}

/// A float from a parameter.
pub(crate) fn float(hint: &str, param: &str, value: f64) -> Num {
    Num { hint: hint.into(), param: Some(param.into()), text: float_literal(value) }
}

/// A Python float literal: `0.5`, `1e-05`, `2.0`.
pub(crate) fn float_literal(value: f64) -> String {
    if value.is_nan() {
        return "float(\"nan\")".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "float(\"inf\")".into() } else { "-float(\"inf\")".into() };
    }
    let text = format!("{value:?}");
    if text.contains(['.', 'e', 'E']) { text } else { format!("{text}.0") }
}

/// `[a, b, c]` of integers as Python's tuple or list items: `a, b, c`.
pub(crate) fn ints(values: &[i64]) -> String {
    values.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_are_inputs_the_module_and_numbers() {
        let t = Template::parse("{m}({x0}, {x1}) * {}", [int("k", None, 3)]);
        assert_eq!(
            t.0,
            vec![
                Piece::Module,
                Piece::Text("(".into()),
                Piece::Input(0),
                Piece::Text(", ".into()),
                Piece::Input(1),
                Piece::Text(") * ".into()),
                Piece::Num(int("k", None, 3)),
            ]
        );
    }

    #[test]
    fn floats_read_as_python_floats() {
        assert_eq!(float_literal(0.5), "0.5");
        assert_eq!(float_literal(2.0), "2.0");
        assert_eq!(float_literal(1e-5), "1e-5");
        assert_eq!(float_literal(-3.25), "-3.25");
    }
}
