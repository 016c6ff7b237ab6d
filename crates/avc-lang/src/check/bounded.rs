//! A `logit` output read from a bounded score: `cosine` (in [-1, 1]), `tanh`, `sigmoid` or
//! `softmax`, directly or through ops that keep the bound (layout changes, pooling,
//! dropout). BCE passes a logit through a sigmoid, so a cosine logit can only say "match"
//! with probability 0.27 to 0.73: the loss of a perfect model stays above 0.31 and the
//! gradients fade long before the towers are any good; a sigmoid or softmax is squashed
//! twice. It compiles, trains a little and then stalls, so it is worth a warning.
//!
//! A warning rather than a new output kind: the fix is one learned scale
//! (`linear(score, out: 1)`), or the `embeddings` kind, which already ranks by cosine and
//! trains it with a temperature; a `similarity` kind would be a third spelling of those.

use super::{CheckError, Checked};
use crate::ast::OutputKind;
use crate::ir::{Graph, NodeId, NodeKind};
use crate::ops::ValueRange;

/// The bounded node a logit comes from, with its range, following ops that keep their
/// input's range (each op says which it does: `OpImpl::value_range`).
fn bounded_source(graph: &Graph, mut id: NodeId) -> Option<(NodeId, &'static str)> {
    for _ in 0..graph.len() {
        let NodeKind::Op(op) = &graph.node(id).kind else { return None };
        match (op.value_range(), graph.inputs_of(id).as_slice()) {
            (ValueRange::Bounded(range), _) => return Some((id, range)),
            (ValueRange::OfInput, [only]) => id = *only,
            _ => return None,
        }
    }
    None
}

/// Warns about each `logit` output read from a bounded score.
pub(super) fn check_bounded_logits(graph: &Graph, c: &mut Checked) {
    for out in graph.outputs.iter().filter(|o| o.kind == OutputKind::Logit) {
        let Some(&from) = out.from.first() else { continue };
        let Some((source, range)) = bounded_source(graph, from) else { continue };
        let node = graph.node(source);
        c.warnings.push(CheckError::BoundedLogit {
            output: out.name.clone(),
            node: node.name.clone(),
            op: node.op_name(),
            range,
            span: out.span,
            node_span: node.span,
        });
    }
}

#[cfg(test)]
mod tests {
    use crate::source::SourceFile;

    fn warnings(head: &str) -> Vec<String> {
        let text = format!(
            "input video: [6, 4]\ninput audio: [6, 4]\nv = mean(video)\na = mean(audio)\n{head}\noutput o: logit(head)\n"
        );
        let compiled = crate::compile::compile(&SourceFile::new("b.avc", text)).unwrap_or_else(|_| panic!("compiles"));
        compiled.checked.warnings.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn a_bounded_score_read_as_a_logit_is_warned_about_through_pooling() {
        let cos = "c = cosine(v, a)\nhead = flatten(dropout(c))";
        assert_eq!(warnings(cos), ["logit output `o` reads `c` (cosine), which is bounded to [-1, 1]"]);
        let sig = "head = sigmoid(linear(concat(v, a), out: 1))";
        assert_eq!(warnings(sig), ["logit output `o` reads `head` (sigmoid), which is bounded to [0, 1]"]);
    }

    #[test]
    fn a_learned_scale_after_the_score_is_fine() {
        assert!(warnings("c = cosine(v, a)\nhead = linear(c, out: 1)").is_empty());
        assert!(warnings("c = tanh(concat(v, a))\nhead = linear(c, out: 1)").is_empty());
    }
}
