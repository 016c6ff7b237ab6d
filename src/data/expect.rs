//! What a model expects of its data: the per-clip `[steps, dim]` its inputs declare, read
//! from the compiled graph, and the check that a data set can feed it. Training, sweeps,
//! evaluation, retrieval and export all load a run's data through here.

use super::{DataError, DataSource, Expect, TrainingData};
use avc_lang::compile::Compiled;
use avc_lang::shape::Dim;

/// Data that cannot feed a model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error(
        "input `{input}` reads stream `{stream}`, which the data ({origin}) does not have; it has `video` and `audio`"
    )]
    UnknownStream { input: String, stream: String, origin: String },
    #[error(
        "input `{input}` is declared as {declared} per clip, but the `{stream}` features of {origin} are [{}, {}]{}",
        found[0], found[1],
        match only_length {
            Some(d) => format!(
                "; only the length differs: `--crop start|center|random` fits a course directory's or TFRecords' \
                 clips to the model's length (cropping longer clips, padding shorter ones) (the `{stream}` stream \
                 has {} steps too {})",
                (*d as usize).abs_diff(found[0]),
                if found[0] > *d as usize { "many" } else { "few" }
            ),
            None => String::new(),
        }
    )]
    DataShape {
        input: String,
        stream: String,
        declared: String,
        found: [usize; 2],
        origin: String,
        /// The declared length when only the length differs (the message says by how much).
        /// (`u32`: a declared dimension is at most 2^24, and the error stays small.)
        only_length: Option<u32>,
    },
    #[error(
        "inputs `{}` and `{}` share the length `{symbol}`, but in {origin} the `{}` features have {} steps per clip \
         and the `{}` features {} ({} {}); give each input its own length symbol (e.g. `[Tv, ...]` and \
         `[Ta, ...]`) if the streams have different frame rates",
        inputs[0].name, inputs[1].name, inputs[0].stream, inputs[0].steps, inputs[1].stream, inputs[1].steps,
        inputs[0].steps.abs_diff(inputs[1].steps),
        if inputs[1].steps > inputs[0].steps { "more" } else { "fewer" }
    )]
    SharedLength { symbol: String, inputs: Box<[Bound; 2]>, origin: String },
}

/// An input whose length symbol is bound by its stream's length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub name: String,
    pub stream: String,
    pub steps: usize,
}

impl crate::report::Report for FitError {
    fn place(&self) -> Option<crate::report::Place> {
        match self {
            FitError::UnknownStream { input, .. } | FitError::DataShape { input, .. } => {
                Some(crate::report::Place::Node(input.clone()))
            }
            FitError::SharedLength { inputs, .. } => Some(crate::report::Place::Node(inputs[1].name.clone())),
        }
    }
}

/// Opens the data a model will train on (any source: the synthetic set, a course directory,
/// TFRecords), checked against the model's declared input shapes and fitted to its length.
pub fn load(compiled: &Compiled, source: &DataSource) -> Result<TrainingData, DataError> {
    super::open(source, declared(compiled))
}

/// The declared `[steps, dim]` of the video and audio inputs, where fixed.
pub fn declared(compiled: &Compiled) -> Expect {
    [declared_shape(compiled, "video"), declared_shape(compiled, "audio")]
}

/// The fixed per-clip `[steps, dim]` a model declares for a stream, if any.
pub fn declared_shape(compiled: &Compiled, stream: &str) -> Option<[usize; 2]> {
    compiled.graph.inputs.iter().find_map(|&id| match &compiled.graph.node(id).kind {
        avc_lang::ir::NodeKind::Input { stream: s, shape } if s == stream => match shape.dims() {
            [_, Dim::Fixed(t), Dim::Fixed(f)] => Some([*t as usize, *f as usize]),
            _ => None,
        },
        _ => None,
    })
}

/// Checks that the data can feed the model: every input's stream exists and has the
/// declared per-clip shape (symbols match any size, but inputs that share a length symbol
/// must find the same length in their streams); and that the outputs are trainable.
pub fn check(compiled: &Compiled, data: &TrainingData) -> Result<(), FitError> {
    // Length symbol -> the first input that bound it.
    let mut bound: std::collections::HashMap<String, Bound> = std::collections::HashMap::new();
    for &id in &compiled.graph.inputs {
        let node = compiled.graph.node(id);
        let avc_lang::ir::NodeKind::Input { stream, shape } = &node.kind else { continue };
        let found = data.train.stream_shape(stream).ok_or_else(|| FitError::UnknownStream {
            input: node.name.clone(),
            stream: stream.clone(),
            origin: data.origin.clone(),
        })?;
        let per_clip = &shape.dims()[1..];
        let fits = per_clip.len() == 2
            && per_clip.iter().zip(found).all(|(d, n)| match d {
                Dim::Fixed(k) => *k == n as i64,
                _ => true,
            });
        if !fits {
            let width_fits = per_clip.len() == 2 && matches!(per_clip[1], Dim::Fixed(k) if k == found[1] as i64);
            return Err(FitError::DataShape {
                input: node.name.clone(),
                stream: stream.clone(),
                declared: avc_lang::shape::Shape(per_clip.to_vec()).to_string(),
                found,
                origin: data.origin.clone(),
                only_length: per_clip
                    .first()
                    .and_then(Dim::fixed)
                    .and_then(|d| u32::try_from(d).ok())
                    .filter(|_| width_fits),
            });
        }
        if let Some(Dim::Sym(symbol)) = per_clip.first() {
            let this = Bound { name: node.name.clone(), stream: stream.clone(), steps: found[0] };
            match bound.get(symbol) {
                Some(first) if first.steps != this.steps => {
                    return Err(FitError::SharedLength {
                        symbol: symbol.clone(),
                        inputs: Box::new([first.clone(), this]),
                        origin: data.origin.clone(),
                    });
                }
                Some(_) => {}
                None => {
                    bound.insert(symbol.clone(), this);
                }
            }
        }
    }
    Ok(())
}

/// The length symbol the video and audio inputs share, if they declare the same one (`[T,
/// 1024]` and `[T, 128]`): such a model needs both streams of one length.
pub fn shared_length(compiled: &Compiled) -> Option<String> {
    let time = |stream: &str| {
        compiled.graph.inputs.iter().find_map(|&id| match &compiled.graph.node(id).kind {
            avc_lang::ir::NodeKind::Input { stream: s, shape } if s == stream => match shape.dims() {
                [_, Dim::Sym(t), _] => Some(t.clone()),
                _ => None,
            },
            _ => None,
        })
    };
    time("video").filter(|t| time("audio").as_ref() == Some(t))
}
