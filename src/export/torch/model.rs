//! The model's class: `forward` over every node, and where the graph splits into a video
//! tower, an audio tower and a joint part (as `avc eval` runs it), `encode_video`,
//! `encode_audio` and `score`, so each clip's tower runs once however many pairs are scored.

use super::body::{Body, Ctx};
use super::classes::Class;
use super::scopes::Item;
use avc_lang::ast::OutputKind;
use avc_lang::check::Tower;
use avc_lang::ir::{NodeId, NodeKind};
use std::collections::BTreeSet;

/// A value the joint part reads from a tower: an item's or a model input's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Value {
    Item(Item),
    Input(NodeId),
}

/// How the model splits.
struct Split {
    video: Vec<Value>,
    audio: Vec<Value>,
    /// Items each method runs, in forward order.
    video_items: BTreeSet<Item>,
    audio_items: BTreeSet<Item>,
    joint_items: BTreeSet<Item>,
    /// The first output's node, or for embeddings, none (score compares the two).
    scored: Option<NodeId>,
}

/// Writes the model's class.
pub(crate) fn render(ctx: &Ctx, class: &Class, body: &Body, out: &mut Vec<String>) {
    out.push(format!("class {}(nn.Module):", class.name));
    if let Some(doc) = &class.doc {
        out.push(format!("    \"\"\"{doc}\"\"\""));
        out.push(String::new());
    }
    let mut k = 0;
    let init: Vec<String> = body.init.iter().map(|l| class.line(l, false, &mut k)).collect();
    let lines: Vec<(Item, String)> = body
        .forward
        .iter()
        .map(|l| {
            let text = class.line(l, true, &mut k);
            (l.item.clone(), format!("{text}{}", l.shape.as_ref().map(|s| format!("  # {s}")).unwrap_or_default()))
        })
        .collect();
    if !init.is_empty() {
        out.push("    def __init__(self):".into());
        out.push("        super().__init__()".into());
        out.extend(init.iter().map(|l| format!("        {l}")));
        out.push(String::new());
    }
    out.push(format!("    def forward(self, {}):", body.inputs.join(", ")));
    out.extend(lines.iter().map(|(_, l)| format!("        {l}")));
    out.push(format!("        return {}", outputs(ctx, body)));
    match split(ctx) {
        Ok(split) => render_split(ctx, body, &lines, &split, out),
        Err(why) => {
            out.push(String::new());
            out.push(format!("    # No encode_video / encode_audio / score: {why}."));
        }
    }
}

/// `forward`'s return value: each output's value, an embeddings output's two as a pair.
fn outputs(ctx: &Ctx, body: &Body) -> String {
    let s = ctx.scopes;
    let value = |id: NodeId| s.value(&None, id, &body.vars).unwrap_or_else(|_| "None".into());
    let each: Vec<String> = s
        .graph
        .outputs
        .iter()
        .map(|o| {
            let vals: Vec<String> = o.from.iter().map(|&id| value(id)).collect();
            if vals.len() == 1 { vals[0].clone() } else { format!("({})", vals.join(", ")) }
        })
        .collect();
    match each.as_slice() {
        [one] => one.trim_start_matches('(').trim_end_matches(')').to_string(),
        _ => each.join(", "),
    }
}

/// The tower of a model-level item; `Err` names an instance that spans towers.
fn tower_of(ctx: &Ctx, item: &Item) -> Result<Tower, String> {
    let mut towers: Vec<Tower> = Vec::new();
    for id in ctx.scopes.nodes_of(item) {
        let t = ctx.checked.tower(id);
        if t != Tower::Other && !towers.contains(&t) {
            towers.push(t);
        }
    }
    match (towers.len(), item) {
        (0, _) => Ok(Tower::Other),
        (1, _) => Ok(towers[0]),
        (_, Item::Instance(name)) => {
            Err(format!("block instance `{name}` holds nodes of more than one tower, so its call cannot be split"))
        }
        (_, Item::Node(_)) => Err("a node belongs to two towers".into()),
    }
}

/// Where the model splits, or why it does not.
fn split(ctx: &Ctx) -> Result<Split, String> {
    let s = ctx.scopes;
    let streams: Vec<String> = s
        .graph
        .inputs
        .iter()
        .filter_map(|&i| match &s.graph.node(i).kind {
            NodeKind::Input { stream, .. } => Some(stream.clone()),
            _ => None,
        })
        .collect();
    if streams.len() != 2 || !streams.contains(&"video".to_string()) || !streams.contains(&"audio".to_string()) {
        return Err("the model does not read one video input and one audio input".into());
    }
    let items = s.items(&None);
    let mut towers = std::collections::HashMap::new();
    for item in &items {
        towers.insert(item.clone(), tower_of(ctx, item)?);
    }
    let output = s.graph.outputs.first().ok_or("the model has no output")?;
    let of = |id: NodeId| -> Value {
        match s.item_of(&None, id) {
            Some(Item::Node(n)) if matches!(s.graph.node(n).kind, NodeKind::Input { .. }) => Value::Input(n),
            Some(item) => Value::Item(item),
            None => Value::Input(id),
        }
    };
    let tower_of_value = |v: &Value| match v {
        Value::Item(item) => towers.get(item).copied().unwrap_or(Tower::Other),
        Value::Input(id) => ctx.checked.tower(*id),
    };
    let mut split = Split {
        video: Vec::new(),
        audio: Vec::new(),
        video_items: BTreeSet::new(),
        audio_items: BTreeSet::new(),
        joint_items: BTreeSet::new(),
        scored: None,
    };
    // Walk back from what the first output reads: joint values are the score's, tower values
    // the frontier.
    let mut stack: Vec<Value> = output.from.iter().map(|&id| of(id)).collect();
    if output.kind != OutputKind::Embeddings {
        split.scored = output.from.first().copied();
    }
    let mut seen: BTreeSet<Value> = BTreeSet::new();
    let embeddings = output.kind == OutputKind::Embeddings;
    while let Some(v) = stack.pop() {
        if !seen.insert(v.clone()) {
            continue;
        }
        match (tower_of_value(&v), &v) {
            (Tower::Video, _) => push_unique(&mut split.video, v),
            (Tower::Audio, _) => push_unique(&mut split.audio, v),
            (_, Value::Item(item)) if !embeddings => {
                split.joint_items.insert(item.clone());
                stack.extend(reads(ctx, item).into_iter().map(&of));
            }
            _ => return Err("the first output reads a value of no tower".into()),
        }
    }
    if split.video.is_empty() || split.audio.is_empty() {
        return Err("the first output does not read both towers".into());
    }
    for (frontier, set) in [(&split.video, &mut split.video_items), (&split.audio, &mut split.audio_items)] {
        let mut stack: Vec<Value> = frontier.clone();
        while let Some(v) = stack.pop() {
            if let Value::Item(item) = v
                && set.insert(item.clone())
            {
                stack.extend(reads(ctx, &item).into_iter().map(&of));
            }
        }
    }
    Ok(split)
}

fn push_unique(list: &mut Vec<Value>, v: Value) {
    if !list.contains(&v) {
        list.push(v);
    }
}

/// Every node an item reads from outside itself (model inputs included).
fn reads(ctx: &Ctx, item: &Item) -> Vec<NodeId> {
    let s = ctx.scopes;
    let own = s.nodes_of(item);
    let mut out = Vec::new();
    for &id in &own {
        for input in s.graph.inputs_of(id) {
            if !own.contains(&input) && !out.contains(&input) {
                out.push(input);
            }
        }
    }
    out
}

fn render_split(ctx: &Ctx, body: &Body, lines: &[(Item, String)], split: &Split, out: &mut Vec<String>) {
    let s = ctx.scopes;
    let name = |v: &Value| match v {
        Value::Item(Item::Node(id)) => body.vars.node(*id),
        Value::Item(Item::Instance(full)) => body.vars.instance(full),
        Value::Input(id) => body.vars.input(&s.graph.node(*id).name),
    };
    let input_of = |stream: &str| {
        s.graph
            .inputs
            .iter()
            .find(|&&i| matches!(&s.graph.node(i).kind, NodeKind::Input { stream: st, .. } if st == stream))
            .map(|&i| body.vars.input(&s.graph.node(i).name))
            .unwrap_or_else(|| stream.to_string())
    };
    let output = &s.graph.outputs[0];
    for (stream, frontier, set) in
        [("video", &split.video, &split.video_items), ("audio", &split.audio, &split.audio_items)]
    {
        out.push(String::new());
        out.push(format!("    def encode_{stream}(self, {}):", input_of(stream)));
        out.push(format!("        \"\"\"The {stream} tower, run once per clip: what `score` reads of it.\"\"\""));
        out.extend(lines.iter().filter(|(item, _)| set.contains(item)).map(|(_, l)| format!("        {l}")));
        let names: Vec<String> = frontier.iter().map(name).collect();
        out.push(format!("        return {}", names.join(", ")));
    }
    let param =
        |frontier: &[Value], short: &str| if frontier.len() == 1 { name(&frontier[0]) } else { short.to_string() };
    let (v, a) = (param(&split.video, "v"), param(&split.audio, "a"));
    out.push(String::new());
    out.push(format!("    def score(self, {v}, {a}):"));
    let what = match output.kind {
        OutputKind::Embeddings => format!("the cosine similarity of output `{}`'s embeddings", output.name),
        kind => format!("output `{}` ({})", output.name, kind.keyword()),
    };
    out.push(format!(
        "        \"\"\"{} of encoded clips: score(encode_video(video), encode_audio(audio)) is forward's.\"\"\"",
        capitalise(&what)
    ));
    for (frontier, short) in [(&split.video, "v"), (&split.audio, "a")] {
        if frontier.len() > 1 {
            let names: Vec<String> = frontier.iter().map(name).collect();
            out.push(format!("        {} = {short}", names.join(", ")));
        }
    }
    out.extend(lines.iter().filter(|(item, _)| split.joint_items.contains(item)).map(|(_, l)| format!("        {l}")));
    match split.scored {
        Some(id) => {
            out.push(format!("        return {}", s.value(&None, id, &body.vars).unwrap_or_else(|_| "None".into())))
        }
        None => out.push(format!("        return F.cosine_similarity({v}, {a}, dim=-1)")),
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
