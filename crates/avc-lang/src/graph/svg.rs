//! The SVG picture, drawn from [`super::layout`]: clusters as dashed rounded frames, edges
//! as vertical S-curves with arrowheads and a shape label, nodes as rounded boxes coloured
//! by tower (inputs as thick-bordered stadiums, outputs as double-bordered ones), and a
//! legend under the title.

use super::layout::{
    self, CHAR_W, FONT_SIZE, LABEL_FONT_SIZE, LINE_H, Layout, PlacedCluster, PlacedEdge, PlacedNode, text_width,
};
use super::{NodeRole, Scene, TOWERS, palette};
use crate::check::{Checked, Tower};
use crate::ir::Graph;
use std::fmt::Write;

const MARGIN: f64 = 20.0;
const TITLE_SIZE: f64 = 15.0;
const HEADER_H: f64 = 62.0;
const FONT: &str = "DejaVu Sans Mono, Menlo, Consolas, monospace";
const OUTPUT_FILL: &str = "#fef3c7";
const OUTPUT_STROKE: &str = "#b45309";
const OUTPUT_TEXT: &str = "#78350f";

/// Draws the graph as a standalone SVG document.
pub fn to_svg(graph: &Graph, checked: &Checked) -> String {
    svg_of(&Scene::new(graph, checked))
}

pub(crate) fn svg_of(scene: &Scene) -> String {
    let lay = layout::layout_scene(scene);
    draw(&scene.title, &lay)
}

/// A number as SVG wants it: at most one decimal, no trailing `.0`.
fn num(v: f64) -> String {
    let s = format!("{:.1}", if v.abs() < 0.05 { 0.0 } else { v });
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// Escapes text for XML content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn marker_id(t: Tower) -> &'static str {
    match t {
        Tower::Video => "arrow-video",
        Tower::Audio => "arrow-audio",
        Tower::Joint => "arrow-joint",
        Tower::Other => "arrow-other",
    }
}

/// One legend entry: a swatch and its words.
struct Entry {
    text: String,
    swatch: String,
}

fn legend(lay: &Layout) -> Vec<Entry> {
    let mut entries = Vec::new();
    for t in TOWERS {
        if t == Tower::Other && !lay.nodes.iter().any(|n| n.tower == Tower::Other) {
            continue;
        }
        let p = palette(t);
        let text = if t == Tower::Other { "no stream".to_string() } else { format!("{} tower", t.label()) };
        let swatch = format!(
            r#"<rect x="0" y="-11" width="22" height="14" rx="3" fill="{}" stroke="{}" stroke-width="1.2"/>"#,
            p.fill, p.stroke
        );
        entries.push(Entry { text, swatch });
    }
    let input = palette(Tower::Other);
    entries.push(Entry {
        text: "input".into(),
        swatch: format!(
            r#"<rect x="0" y="-11" width="22" height="14" rx="7" fill="{}" stroke="{}" stroke-width="2.5"/>"#,
            input.fill, input.stroke
        ),
    });
    entries.push(Entry {
        text: "output".into(),
        swatch: format!(
            r#"<rect x="0" y="-11" width="22" height="14" rx="7" fill="{OUTPUT_FILL}" stroke="{OUTPUT_STROKE}" stroke-width="1.2"/><rect x="2.5" y="-8.5" width="17" height="9" rx="4.5" fill="none" stroke="{OUTPUT_STROKE}" stroke-width="0.8"/>"#
        ),
    });
    entries.push(Entry {
        text: "block instance".into(),
        swatch: r##"<rect x="0" y="-11" width="22" height="14" rx="4" fill="#f9fafb" stroke="#6b7280" stroke-width="1" stroke-dasharray="4 2"/>"##.into(),
    });
    entries
}

const SWATCH_W: f64 = 22.0;
const ENTRY_GAP: f64 = 22.0;

fn legend_width(entries: &[Entry]) -> f64 {
    entries.iter().map(|e| SWATCH_W + 6.0 + text_width(&e.text)).sum::<f64>()
        + ENTRY_GAP * entries.len().saturating_sub(1) as f64
}

fn draw(title: &str, lay: &Layout) -> String {
    let entries = legend(lay);
    let title_w = title.chars().count() as f64 * CHAR_W * TITLE_SIZE / FONT_SIZE;
    let inner = lay.width.max(legend_width(&entries)).max(title_w).ceil();
    let width = inner + 2.0 * MARGIN;
    let height = (HEADER_H + lay.height + 2.0 * MARGIN).ceil();
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="{FONT}" font-size="{FONT_SIZE}">"#,
        w = num(width),
        h = num(height)
    );
    let _ = writeln!(s, "<title>{}</title>", escape(title));
    s.push_str("<defs>\n");
    for t in TOWERS {
        let _ = writeln!(
            s,
            r#"<marker id="{}" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{}"/></marker>"#,
            marker_id(t),
            palette(t).edge
        );
    }
    s.push_str("</defs>\n");
    let _ = writeln!(s, r#"<rect x="0" y="0" width="{}" height="{}" fill="white"/>"#, num(width), num(height));
    // Title and legend.
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" font-size="{TITLE_SIZE}" font-weight="bold" fill="#111827">{}</text>"##,
        num(MARGIN),
        num(MARGIN + 12.0),
        escape(title)
    );
    let mut x = MARGIN;
    let y = MARGIN + 40.0;
    for e in &entries {
        let _ = writeln!(
            s,
            r##"<g transform="translate({},{})">{}<text x="{}" y="0" fill="#374151">{}</text></g>"##,
            num(x),
            num(y),
            e.swatch,
            num(SWATCH_W + 6.0),
            escape(&e.text)
        );
        x += SWATCH_W + 6.0 + text_width(&e.text) + ENTRY_GAP;
    }
    let dx = MARGIN + ((inner - lay.width) / 2.0).floor();
    let _ = writeln!(s, r#"<g transform="translate({},{})">"#, num(dx), num(MARGIN + HEADER_H));
    for c in &lay.clusters {
        cluster(&mut s, c);
    }
    for e in &lay.edges {
        edge_path(&mut s, e);
    }
    for e in &lay.edges {
        edge_label(&mut s, e);
    }
    for n in &lay.nodes {
        node(&mut s, n);
    }
    s.push_str("</g>\n</svg>\n");
    s
}

fn cluster(s: &mut String, c: &PlacedCluster) {
    let p = palette(c.tower);
    let r = &c.rect;
    let _ = writeln!(
        s,
        r#"<g class="cluster"><rect x="{}" y="{}" width="{}" height="{}" rx="10" fill="{}" fill-opacity="0.75" stroke="{}" stroke-width="1" stroke-dasharray="5 3"/><text x="{}" y="{}" font-weight="bold" fill="{}">{}</text></g>"#,
        num(r.x),
        num(r.y),
        num(r.w),
        num(r.h),
        p.cluster,
        p.stroke,
        num(r.x + layout::CLUSTER_PAD),
        num(r.y + 16.0),
        p.text,
        escape(&c.name)
    );
}

fn edge_path(s: &mut String, e: &PlacedEdge) {
    let mut d = String::new();
    if let Some(&(x0, y0)) = e.points.first() {
        let _ = write!(d, "M{},{}", num(x0), num(y0));
    }
    for pair in e.points.windows(2) {
        let ((ax, ay), (bx, by)) = (pair[0], pair[1]);
        if (ax - bx).abs() < 0.5 {
            let _ = write!(d, " L{},{}", num(bx), num(by));
        } else {
            let m = (by - ay) / 2.0;
            let _ = write!(d, " C{},{} {},{} {},{}", num(ax), num(ay + m), num(bx), num(by - m), num(bx), num(by));
        }
    }
    let _ = writeln!(
        s,
        r#"<path d="{d}" fill="none" stroke="{}" stroke-width="1.4" marker-end="url(#{})"/>"#,
        palette(e.tower).edge,
        marker_id(e.tower)
    );
}

fn edge_label(s: &mut String, e: &PlacedEdge) {
    let r = &e.label_rect;
    if r.w <= 0.0 {
        return;
    }
    let _ = writeln!(
        s,
        r##"<g class="edge-label"><rect x="{}" y="{}" width="{}" height="{}" rx="4" fill="white" stroke="{}" stroke-width="0.8"/><text x="{}" y="{}" font-size="{LABEL_FONT_SIZE}" text-anchor="middle" fill="#374151">{}</text></g>"##,
        num(r.x),
        num(r.y),
        num(r.w),
        num(r.h),
        palette(e.tower).edge,
        num(r.center_x()),
        num(r.y + r.h - 4.5),
        escape(&e.label)
    );
}

fn node(s: &mut String, n: &PlacedNode) {
    let p = palette(n.tower);
    let r = &n.rect;
    let _ = write!(s, r#"<g class="node"><title>{} ({})</title>"#, escape(&n.id), n.tower.label());
    let (fill, stroke, text) = match n.role {
        NodeRole::Output => (OUTPUT_FILL, OUTPUT_STROKE, OUTPUT_TEXT),
        _ => (p.fill, p.stroke, p.text),
    };
    let (rx, width) = match n.role {
        NodeRole::Op => (6.0, 1.2),
        NodeRole::Input => (r.h / 2.0, 2.5),
        NodeRole::Output => (r.h / 2.0, 1.5),
    };
    let _ = write!(
        s,
        r#"<rect x="{}" y="{}" width="{}" height="{}" rx="{}" fill="{fill}" stroke="{stroke}" stroke-width="{}"/>"#,
        num(r.x),
        num(r.y),
        num(r.w),
        num(r.h),
        num(rx),
        num(width)
    );
    if n.role == NodeRole::Output {
        let _ = write!(
            s,
            r#"<rect x="{}" y="{}" width="{}" height="{}" rx="{}" fill="none" stroke="{stroke}" stroke-width="1"/>"#,
            num(r.x + 4.0),
            num(r.y + 4.0),
            num(r.w - 8.0),
            num(r.h - 8.0),
            num(rx - 4.0)
        );
    }
    let block = n.lines.len() as f64 * LINE_H;
    let first = r.y + (r.h - block) / 2.0 + 11.5;
    for (i, line) in n.lines.iter().enumerate() {
        let style = match (n.role, i) {
            (_, 0) => format!(r#"font-weight="bold" fill="{text}""#),
            (NodeRole::Output, _) | (_, 1) => format!(r#"fill="{stroke}""#),
            (_, 2) => r##"fill="#111827""##.to_string(),
            _ => r##"fill="#6b7280""##.to_string(),
        };
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle" {style}>{}</text>"#,
            num(r.center_x()),
            num(first + i as f64 * LINE_H),
            escape(line)
        );
    }
    s.push_str("</g>\n");
}
