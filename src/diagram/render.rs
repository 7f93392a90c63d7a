//! Drawing a [`Diagram`] as a picture: the colours of each state type ([`Theme`],
//! [`state_colour`]), a standalone SVG ([`to_svg`]) and a PNG rasterised from that SVG
//! ([`to_png`]).
//!
//! The palette is a plain table here, below any drawing library, so the designer's canvas and
//! the exported pictures colour a state the same way. The SVG is written with `write!`: it is
//! a handful of element kinds, not worth a writer crate. The PNG is the same SVG rasterised by
//! resvg with fonts compiled into the binary (the ones the window uses), so it looks the same
//! on every machine whatever fonts are installed.
//!
//! Boundary: reads a diagram and its positions and returns text or bytes; writes no file.

use std::fmt::Write as _;
use std::sync::Arc;

use resvg::{tiny_skia, usvg};

use super::{Diagram, Edge, Frames, NodeKind, Positions, Rect};
use crate::asl::model::StateType;

/// An sRGB colour with straight (not premultiplied) alpha.
pub type Colour = [u8; 4];

/// The family the labels are set in: Ubuntu Light, whose typographic family name is "Ubuntu".
/// [`to_png`] loads it from `epaint_default_fonts`; a browser without it falls back to
/// sans-serif.
pub const FONT_FAMILY: &str = "Ubuntu";

/// The accent colour of each kind of box.
#[derive(Clone, Debug, PartialEq)]
pub struct StatePalette {
    pub task: Colour,
    pub choice: Colour,
    pub parallel: Colour,
    pub map: Colour,
    pub wait: Colour,
    pub pass: Colour,
    pub succeed: Colour,
    pub fail: Colour,
    pub unknown: Colour,
    /// Start and End markers: neutral, so the states stand out.
    pub marker: Colour,
}

/// Every colour a diagram is drawn with.
#[derive(Clone, Debug, PartialEq)]
pub struct Theme {
    pub background: Colour,
    /// What a state's tinted fill is mixed from (with its accent colour).
    pub surface: Colour,
    pub text: Colour,
    /// Text on a solid accent fill (the Start and End pills).
    pub on_accent: Colour,
    pub edge: Colour,
    pub catch_edge: Colour,
    pub label_fill: Colour,
    pub label_text: Colour,
    pub branch_stroke: Colour,
    pub states: StatePalette,
}

impl Theme {
    pub fn light() -> Theme {
        Theme {
            background: [0xf7, 0xf8, 0xfa, 0xff],
            surface: [0xff, 0xff, 0xff, 0xff],
            text: [0x1d, 0x23, 0x30, 0xff],
            on_accent: [0xff, 0xff, 0xff, 0xff],
            edge: [0x5b, 0x64, 0x72, 0xff],
            catch_edge: [0xc4, 0x4d, 0x4d, 0xff],
            label_fill: [0xff, 0xff, 0xff, 0xf0],
            label_text: [0x3b, 0x43, 0x52, 0xff],
            branch_stroke: [0x9a, 0xa0, 0xaa, 0xff],
            states: StatePalette {
                task: [0x2f, 0x6f, 0xdb, 0xff],
                choice: [0xd9, 0x8a, 0x00, 0xff],
                parallel: [0x86, 0x56, 0xc8, 0xff],
                map: [0xa0, 0x4f, 0xb8, 0xff],
                wait: [0x14, 0x92, 0x8a, 0xff],
                pass: [0x7a, 0x7f, 0x87, 0xff],
                succeed: [0x2e, 0x9d, 0x4f, 0xff],
                fail: [0xd3, 0x3f, 0x3f, 0xff],
                unknown: [0x9a, 0x9a, 0x9a, 0xff],
                marker: [0x5c, 0x64, 0x70, 0xff],
            },
        }
    }

    pub fn dark() -> Theme {
        Theme {
            background: [0x16, 0x18, 0x1d, 0xff],
            surface: [0x23, 0x26, 0x2d, 0xff],
            text: [0xe6, 0xe8, 0xec, 0xff],
            on_accent: [0x16, 0x18, 0x1d, 0xff],
            edge: [0x9a, 0xa3, 0xb2, 0xff],
            catch_edge: [0xe0, 0x7a, 0x7a, 0xff],
            label_fill: [0x2a, 0x2d, 0x34, 0xf0],
            label_text: [0xc9, 0xce, 0xd8, 0xff],
            branch_stroke: [0x5d, 0x64, 0x70, 0xff],
            states: StatePalette {
                task: [0x6a, 0xa2, 0xff, 0xff],
                choice: [0xf2, 0xb1, 0x3c, 0xff],
                parallel: [0xb2, 0x8c, 0xf0, 0xff],
                map: [0xd0, 0x83, 0xe6, 0xff],
                wait: [0x3c, 0xc7, 0xbd, 0xff],
                pass: [0xa3, 0xa8, 0xb0, 0xff],
                succeed: [0x5c, 0xc9, 0x7a, 0xff],
                fail: [0xf0, 0x6c, 0x6c, 0xff],
                unknown: [0x8a, 0x8a, 0x8a, 0xff],
                marker: [0x9a, 0xa3, 0xaf, 0xff],
            },
        }
    }
}

/// The accent colour of a kind of box: its outline, caption and (for containers) frame.
pub fn state_colour(kind: NodeKind, theme: &Theme) -> Colour {
    let p = &theme.states;
    match kind {
        NodeKind::State(StateType::Task) => p.task,
        NodeKind::State(StateType::Choice) => p.choice,
        NodeKind::State(StateType::Parallel) => p.parallel,
        NodeKind::State(StateType::Map) => p.map,
        NodeKind::State(StateType::Wait) => p.wait,
        NodeKind::State(StateType::Pass) => p.pass,
        NodeKind::State(StateType::Succeed) => p.succeed,
        NodeKind::State(StateType::Fail) => p.fail,
        NodeKind::Unknown => p.unknown,
        NodeKind::Start | NodeKind::End => p.marker,
    }
}

/// The fill of a state's box: its accent colour faintly over the surface, so the type shows
/// at a glance while the name stays readable.
pub fn state_fill(kind: NodeKind, theme: &Theme) -> Colour {
    mix(theme.surface, state_colour(kind, theme), 0.14)
}

/// `a` moved towards `b` by `t` (0 = `a`, 1 = `b`), alpha included.
pub fn mix(a: Colour, b: Colour, t: f32) -> Colour {
    let t = t.clamp(0.0, 1.0);
    let ch = |x: u8, y: u8| (f32::from(x) + (f32::from(y) - f32::from(x)) * t).round() as u8;
    [ch(a[0], b[0]), ch(a[1], b[1]), ch(a[2], b[2]), ch(a[3], b[3])]
}

/// The small line above a state's name: its type, and for a closed Parallel or Map what it
/// hides.
pub fn caption(node: &super::Node) -> String {
    let kind = match node.kind {
        NodeKind::State(t) => t.name(),
        NodeKind::Unknown => "Unknown type",
        NodeKind::Start => "Start",
        NodeKind::End => "End",
    };
    match node.hidden_states {
        0 => kind.to_string(),
        1 => format!("{kind} · 1 state inside"),
        n => format!("{kind} · {n} states inside"),
    }
}

// Sizes of the drawing, in canvas units.
const MARGIN: f32 = 24.0;
const NAME_SIZE: f32 = 13.0;
const SMALL_NAME_SIZE: f32 = 11.0;
const CAPTION_SIZE: f32 = 10.0;
const LABEL_SIZE: f32 = 11.0;
const LABEL_PAD: f32 = 4.0;
const CORNER: f32 = 6.0;
/// How far a Choice's hexagon points stick out from its straight sides.
const CHOICE_POINT: f32 = 14.0;
const ARROW: f32 = 9.0;
/// Sideways offset between arrows that join the same two boxes, so none hides another.
const PARALLEL_OFFSET: f32 = 26.0;
/// How far an arrow from a box to itself swings out.
const LOOP_BULGE: f32 = 48.0;

/// Advance widths of Ubuntu Light for ' '..='~', in thousandths of an em, read from the font:
/// enough to fit names in their boxes and size label backgrounds without a shaping engine.
const UBUNTU_LIGHT_ADVANCES: [u16; 95] = [
    228, 274, 392, 653, 564, 831, 648, 240, 310, 310, 472, 564, 246, 282, 246, 359, 564, 564, 564, 564, 564, 564, 564, 564,
    564, 564, 246, 246, 564, 564, 564, 380, 940, 641, 630, 609, 702, 555, 520, 658, 692, 248, 487, 599, 502, 865, 709, 774,
    592, 774, 618, 517, 548, 680, 624, 921, 608, 569, 560, 310, 359, 310, 564, 490, 376, 509, 583, 460, 583, 548, 376, 573,
    569, 237, 237, 495, 255, 863, 569, 582, 583, 583, 374, 428, 387, 569, 480, 775, 499, 474, 455, 319, 262, 319, 564,
];

/// Width of `text` set at `size`; characters outside ASCII count as a wide letter, so the
/// estimate errs towards room to spare.
pub fn text_width(text: &str, size: f32) -> f32 {
    let thousandths: u32 = text
        .chars()
        .map(|c| {
            let i = (c as u32).wrapping_sub(32) as usize;
            u32::from(UBUNTU_LIGHT_ADVANCES.get(i).copied().unwrap_or(700))
        })
        .sum();
    thousandths as f32 * size / 1000.0
}

/// `text`, cut with an ellipsis so it fits in `width` at `size`.
fn fit(text: &str, size: f32, width: f32) -> String {
    if text_width(text, size) <= width {
        return text.to_string();
    }
    let room = width - text_width("…", size);
    let mut out = String::new();
    let mut used = 0.0;
    for c in text.chars() {
        let w = text_width(c.encode_utf8(&mut [0; 4]), size);
        if used + w > room {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// Text safe inside an XML element or a double-quoted attribute. Characters XML 1.0 cannot
/// hold at all (most control characters, even escaped) become U+FFFD, so a damaged
/// definition still gives a well-formed picture.
pub fn xml_escape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&apos;"),
            // Whitespace in a label reads as one space in SVG anyway; saying so keeps it so.
            '\t' | '\n' | '\r' => s.push(' '),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => s.push('\u{FFFD}'),
            c => s.push(c),
        }
    }
    s
}

/// `fill="#rrggbb"` plus an opacity attribute when the colour is not opaque.
fn paint(attr: &str, c: Colour) -> String {
    let mut s = format!("{attr}=\"#{:02x}{:02x}{:02x}\"", c[0], c[1], c[2]);
    if c[3] != 0xff {
        let _ = write!(s, " {attr}-opacity=\"{:.3}\"", f32::from(c[3]) / 255.0);
    }
    s
}

type P = [f32; 2];

/// The path an arrow takes.
#[derive(Clone, Debug)]
enum Route {
    Line(P, P),
    /// Between two boxes joined by more than one arrow: bowed to one side.
    Quad(P, P, P),
    /// From a box to itself: a loop out of its right side.
    Cubic(P, P, P, P),
    /// Around the boxes in the way: out of the source, along a vertical lane, into the target.
    /// Drawn with rounded corners.
    Lane(Vec<P>),
}

/// Radius of a lane's rounded corners.
const LANE_CORNER: f32 = 8.0;
/// Space kept between a lane and the boxes it passes.
const LANE_GAP: f32 = 14.0;
/// Space between two lanes that run side by side.
const LANE_SPACING: f32 = 10.0;

impl Route {
    fn at(&self, t: f32) -> P {
        let u = 1.0 - t;
        match self {
            Route::Line(a, b) => [a[0] * u + b[0] * t, a[1] * u + b[1] * t],
            Route::Quad(a, c, b) => {
                let f = |i: usize| u * u * a[i] + 2.0 * u * t * c[i] + t * t * b[i];
                [f(0), f(1)]
            }
            Route::Cubic(a, c1, c2, b) => {
                let f = |i: usize| u * u * u * a[i] + 3.0 * u * u * t * c1[i] + 3.0 * u * t * t * c2[i] + t * t * t * b[i];
                [f(0), f(1)]
            }
            Route::Lane(points) => {
                // By length along the polyline, so t = 0.5 is halfway along.
                let mut left = t * polyline_length(points);
                for w in points.windows(2) {
                    let l = distance(w[0], w[1]);
                    if left <= l && l > 0.0 {
                        let k = left / l;
                        return [w[0][0] + (w[1][0] - w[0][0]) * k, w[0][1] + (w[1][1] - w[0][1]) * k];
                    }
                    left -= l;
                }
                points.last().copied().unwrap_or_default()
            }
        }
    }

    fn path(&self) -> String {
        match self {
            Route::Line(a, b) => format!("M{:.1},{:.1} L{:.1},{:.1}", a[0], a[1], b[0], b[1]),
            Route::Quad(a, c, b) => format!("M{:.1},{:.1} Q{:.1},{:.1} {:.1},{:.1}", a[0], a[1], c[0], c[1], b[0], b[1]),
            Route::Cubic(a, c1, c2, b) => {
                format!("M{:.1},{:.1} C{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}", a[0], a[1], c1[0], c1[1], c2[0], c2[1], b[0], b[1])
            }
            Route::Lane(points) => {
                let mut d = String::new();
                for (i, p) in points.iter().enumerate() {
                    let (Some(prev), Some(next)) = (i.checked_sub(1).and_then(|j| points.get(j)), points.get(i + 1)) else {
                        let _ = write!(d, "{}{:.1},{:.1} ", if i == 0 { 'M' } else { 'L' }, p[0], p[1]);
                        continue;
                    };
                    // Cut the corner: stop short of it, then curve round it to the next leg.
                    let r = LANE_CORNER.min(distance(*prev, *p) / 2.0).min(distance(*p, *next) / 2.0);
                    let a = towards(*p, *prev, r);
                    let b = towards(*p, *next, r);
                    let _ = write!(d, "L{:.1},{:.1} Q{:.1},{:.1} {:.1},{:.1} ", a[0], a[1], p[0], p[1], b[0], b[1]);
                }
                d.trim_end().to_string()
            }
        }
    }

    /// A rectangle the route stays inside (its control points' bounds).
    fn bounds(&self) -> Rect {
        let pts: &[P] = match self {
            Route::Line(a, b) => &[*a, *b],
            Route::Quad(a, c, b) => &[*a, *c, *b],
            Route::Cubic(a, c1, c2, b) => &[*a, *c1, *c2, *b],
            Route::Lane(points) => points,
        };
        let first = pts.first().copied().unwrap_or_default();
        pts.iter().fold(Rect { min: first, max: first }, |r, p| r.union(Rect { min: *p, max: *p }))
    }
}

fn distance(a: P, b: P) -> f32 {
    ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt()
}

fn polyline_length(points: &[P]) -> f32 {
    points.windows(2).map(|w| distance(w[0], w[1])).sum()
}

/// The point `by` along the way from `from` to `to`.
fn towards(from: P, to: P, by: f32) -> P {
    let l = distance(from, to);
    if l <= f32::EPSILON {
        return from;
    }
    [from[0] + (to[0] - from[0]) * by / l, from[1] + (to[1] - from[1]) * by / l]
}

/// Where the ray from `r`'s centre towards `toward` leaves `r`.
fn boundary(r: &Rect, toward: P) -> P {
    let c = r.center();
    let (dx, dy) = (toward[0] - c[0], toward[1] - c[1]);
    let (hw, hh) = (r.width() / 2.0, r.height() / 2.0);
    let tx = if dx.abs() > f32::EPSILON { hw / dx.abs() } else { f32::INFINITY };
    let ty = if dy.abs() > f32::EPSILON { hh / dy.abs() } else { f32::INFINITY };
    let t = tx.min(ty);
    if !t.is_finite() {
        return c;
    }
    [c[0] + dx * t, c[1] + dy * t]
}

fn overlap_area(a: &Rect, b: &Rect) -> f32 {
    let w = a.max[0].min(b.max[0]) - a.min[0].max(b.min[0]);
    let h = a.max[1].min(b.max[1]) - a.min[1].max(b.min[1]);
    if w > 0.0 && h > 0.0 { w * h } else { 0.0 }
}

/// Whether the segment `a`–`b` passes through `r` (Liang–Barsky clipping).
fn segment_hits(a: P, b: P, r: &Rect) -> bool {
    let d = [b[0] - a[0], b[1] - a[1]];
    let (mut t0, mut t1) = (0.0f32, 1.0f32);
    for axis in 0..2 {
        for (p, q) in [(-d[axis], a[axis] - r.min[axis]), (d[axis], r.max[axis] - a[axis])] {
            if p.abs() <= f32::EPSILON {
                if q < 0.0 {
                    return false;
                }
            } else {
                let t = q / p;
                if p < 0.0 {
                    t0 = t0.max(t);
                } else {
                    t1 = t1.min(t);
                }
            }
        }
    }
    t0 < t1
}

/// A vertical lane already taken, so the next one runs beside it rather than on it.
struct TakenLane {
    x: f32,
    y: [f32; 2],
}

/// The route of every edge, given the boxes (container frames for open Parallel/Map states).
/// Arrows go straight from box to box when nothing is in the way; loops back up, and arrows
/// a straight line would draw through other boxes, take a lane around them.
fn routes(d: &Diagram, boxes: &[Rect]) -> Vec<Route> {
    // Arrows between the same two boxes, either way round, are fanned out around the line
    // between them; each edge's rank among them.
    let key = |e: &Edge| (e.from.min(e.to), e.from.max(e.to));
    let mut count: std::collections::HashMap<(usize, usize), usize> = std::collections::HashMap::new();
    let ranks: Vec<usize> = d
        .edges
        .iter()
        .map(|e| {
            let n = count.entry(key(e)).or_insert(0);
            *n += 1;
            *n - 1
        })
        .collect();
    let owners: Vec<Vec<usize>> = (0..d.nodes.len())
        .map(|i| {
            let mut chain = Vec::new();
            let mut p = d.nodes[i].parent;
            while let Some((o, _)) = p {
                chain.push(o);
                p = d.nodes[o].parent;
            }
            chain
        })
        .collect();
    let obstacles_of = |e: &Edge| -> Vec<Rect> {
        // What an arrow must not cross: every box but its ends and the frames around (or
        // inside) them. Shrunk a little so grazing a corner does not count.
        let related = |j: usize| j == e.from || j == e.to || owners[e.from].contains(&j) || owners[j].contains(&e.from) || owners[j].contains(&e.to);
        (0..boxes.len()).filter(|&j| !related(j)).map(|j| boxes[j].expand(-2.0)).collect()
    };
    // First the arrows that need no lane; `None` marks the ones that do.
    let direct: Vec<Option<Route>> = d
        .edges
        .iter()
        .zip(ranks)
        .map(|(e, rank)| {
            let (ra, rb) = (&boxes[e.from], &boxes[e.to]);
            let (ca, cb) = (ra.center(), rb.center());
            if e.from == e.to {
                let x = ra.max[0];
                let (y0, y1) = (ca[1] - ra.height() / 4.0, ca[1] + ra.height() / 4.0);
                return Some(Route::Cubic([x, y0], [x + LOOP_BULGE, y0 - 18.0], [x + LOOP_BULGE, y1 + 18.0], [x, y1]));
            }
            let back = rb.max[1] <= ra.min[1];
            let n = count.get(&key(e)).copied().unwrap_or(1);
            if !back {
                let (a, b) = (boundary(ra, cb), boundary(rb, ca));
                let blocked = obstacles_of(e).iter().any(|o| segment_hits(a, b, o));
                if !blocked && n == 1 {
                    return Some(Route::Line(a, b));
                }
                if !blocked {
                    // Offsets measured against the pair's own direction (lower index first),
                    // so an arrow and its reverse bow to opposite sides.
                    let (p, q) = if e.from < e.to { (ca, cb) } else { (cb, ca) };
                    let len = distance(p, q).max(1.0);
                    let normal = [-(q[1] - p[1]) / len, (q[0] - p[0]) / len];
                    let offset = (rank as f32 - (n as f32 - 1.0) / 2.0) * PARALLEL_OFFSET;
                    if offset.abs() < f32::EPSILON {
                        return Some(Route::Line(a, b));
                    }
                    // A quadratic's midpoint sits halfway to its control point: double it.
                    let mid = [(ca[0] + cb[0]) / 2.0, (ca[1] + cb[1]) / 2.0];
                    let c = [mid[0] + 2.0 * offset * normal[0], mid[1] + 2.0 * offset * normal[1]];
                    return Some(Route::Quad(boundary(ra, c), c, boundary(rb, c)));
                }
            }
            None
        })
        .collect();
    // Then the lanes, shortest first: a shorter lane nested in a longer one's span then runs
    // inside it, and the longer one's legs pass outside instead of cutting across it.
    let mut waiting: Vec<usize> = (0..d.edges.len()).filter(|&k| direct[k].is_none()).collect();
    let height = |k: usize| (boxes[d.edges[k].from].center()[1] - boxes[d.edges[k].to].center()[1]).abs();
    waiting.sort_by(|&a, &b| height(a).total_cmp(&height(b)));
    let mut routes = direct;
    let mut taken: Vec<TakenLane> = Vec::new();
    for k in waiting {
        let e = &d.edges[k];
        let (ra, rb) = (&boxes[e.from], &boxes[e.to]);
        let back = rb.max[1] <= ra.min[1];
        routes[k] = Some(lane_route(ra, rb, back, &obstacles_of(e), &mut taken));
    }
    // Every `None` was waiting for a lane and now has one: one route per edge.
    routes
        .into_iter()
        .flatten()
        .collect()
}

/// The cheapest lane from `ra` to `rb`: a vertical run at some x, joined to each box by a
/// horizontal leg into its side (or, going down, straight out of its bottom or into its top
/// when the lane passes over it). The run only ever goes where no box is; each box a leg
/// crosses costs far more than any detour. Then the lane moves outwards past lanes already
/// there, so two arrows never share a run.
///
/// Cost: the boxes beside the route, sorted and merged into x intervals, give a handful of
/// candidate runs, each checked against those boxes only: about O(k log k) for k boxes beside
/// the route, so a machine whose hundreds of states all catch to one handler stays quick.
fn lane_route(ra: &Rect, rb: &Rect, back: bool, obstacles: &[Rect], taken: &mut Vec<TakenLane>) -> Route {
    let (ca, cb) = (ra.center(), rb.center());
    let span = [ca[1].min(cb[1]), ca[1].max(cb[1])];
    let beside: Vec<&Rect> = obstacles.iter().filter(|o| o.max[1] >= span[0] && o.min[1] <= span[1]).collect();
    // Where a run may not go: each box beside the route, widened by the gap, merged.
    let mut blocked: Vec<[f32; 2]> = beside.iter().map(|o| [o.min[0] - LANE_GAP, o.max[0] + LANE_GAP]).collect();
    blocked.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let mut merged: Vec<[f32; 2]> = Vec::with_capacity(blocked.len());
    for iv in blocked {
        match merged.last_mut() {
            Some(last) if iv[0] <= last[1] => last[1] = last[1].max(iv[1]),
            _ => merged.push(iv),
        }
    }
    let run_is_free = |x: f32| {
        let i = merged.partition_point(|iv| iv[1] <= x);
        merged.get(i).is_none_or(|iv| x <= iv[0])
    };
    let down = cb[1] > ca[1];
    let path_for = |x: f32| -> Option<Vec<P>> {
        if !run_is_free(x) {
            return None;
        }
        let inside = |r: &Rect| x > r.min[0] + CORNER && x < r.max[0] - CORNER;
        let clear = |r: &Rect| x <= r.min[0] - LANE_GAP / 2.0 || x >= r.max[0] + LANE_GAP / 2.0;
        // A run too near a box's side has no room for the leg that turns into it.
        if !(inside(ra) || clear(ra)) || !(inside(rb) || clear(rb)) {
            return None;
        }
        // A loop back up must leave and arrive sideways, or it would run over the arrows
        // into and out of the boxes' tops and bottoms.
        if back && (inside(ra) || inside(rb)) {
            return None;
        }
        let start = if inside(ra) {
            [x, if down { ra.max[1] } else { ra.min[1] }]
        } else {
            [if x < ca[0] { ra.min[0] } else { ra.max[0] }, ca[1]]
        };
        let end = if inside(rb) {
            [x, if down { rb.min[1] } else { rb.max[1] }]
        } else {
            [if x < cb[0] { rb.min[0] } else { rb.max[0] }, cb[1]]
        };
        let mut points = vec![start];
        for p in [[x, start[1]], [x, end[1]], end] {
            if points.last().is_some_and(|l| distance(*l, p) > 0.5) {
                points.push(p);
            }
        }
        Some(points)
    };
    let cost = |points: &Vec<P>| -> f32 {
        let crossings: usize = points.windows(2).map(|w| beside.iter().filter(|o| segment_hits(w[0], w[1], o)).count()).sum();
        crossings as f32 * 100_000.0 + polyline_length(points) + points.len() as f32 * 20.0
    };
    let mut xs = vec![ra.min[0] - LANE_GAP, ra.max[0] + LANE_GAP, rb.min[0] - LANE_GAP, rb.max[0] + LANE_GAP];
    if !back {
        xs.push((ca[0] + cb[0]) / 2.0);
    }
    xs.extend(merged.iter().flatten());
    let Some((_, best, best_points)) = xs
        .into_iter()
        .filter_map(|x| path_for(x).map(|p| (cost(&p), x, p)))
        .min_by(|a, b| a.0.total_cmp(&b.0))
    else {
        return Route::Line(boundary(ra, cb), boundary(rb, ca));
    };
    // Move outwards, away from the boxes joined, past the runs already beside this one (and
    // past any spot too near a box's side to turn into it).
    let outwards = if best >= (ca[0] + cb[0]) / 2.0 { 1.0 } else { -1.0 };
    let mut near: Vec<f32> = taken.iter().filter(|t| t.y[1] >= span[0] && t.y[0] <= span[1]).map(|t| t.x).collect();
    near.sort_by(|a, b| (outwards * a).total_cmp(&(outwards * b)));
    let mut x = best;
    for _ in 0..near.len() + merged.len() + 8 {
        if let Some(iv) = merged.iter().find(|iv| x > iv[0] && x < iv[1]) {
            x = if outwards > 0.0 { iv[1] } else { iv[0] };
        } else if let Some(&t) = near.iter().find(|&&t| (t - x).abs() < LANE_SPACING - 0.5) {
            x = t + outwards * LANE_SPACING;
        } else if path_for(x).is_none() {
            x += outwards * LANE_SPACING / 2.0;
        } else {
            break;
        }
    }
    let (x, points) = match path_for(x) {
        Some(points) => (x, points),
        None => (best, best_points),
    };
    taken.push(TakenLane { x, y: span });
    Route::Lane(points)
}

/// Where along its arrow each label goes: the first spot, from the middle outwards, that
/// covers no box and no earlier label; failing that, the spot that covers least. A label may
/// sit beside its arrow's point rather than centred on it, which often clears a neighbour.
fn place_labels(d: &Diagram, routes: &[Route], node_boxes: &[Rect]) -> Vec<Option<Rect>> {
    const TRIES: [f32; 7] = [0.5, 0.62, 0.38, 0.72, 0.28, 0.8, 0.2];
    // Space kept between two labels, so they never read as one.
    const APART: f32 = 3.0;
    let mut placed: Vec<Rect> = Vec::new();
    // Arrowheads count as boxes: a label on one hides where its arrow goes.
    let tips: Vec<Rect> = routes.iter().map(|r| Rect::around(r.at(1.0), [ARROW * 1.5, ARROW * 1.5])).collect();
    d.edges
        .iter()
        .zip(routes)
        .map(|(e, route)| {
            if e.label.is_empty() {
                return None;
            }
            let size = [text_width(&e.label, LABEL_SIZE) + 2.0 * LABEL_PAD, LABEL_SIZE + 2.0 * LABEL_PAD];
            let shift = size[0] / 2.0 - 8.0;
            // Only boxes near the arrow can be covered; finding them once keeps a large
            // machine's many labels from each testing every box many times.
            let reach = route.bounds().expand(size[0] + size[1]);
            let near: Vec<&Rect> = node_boxes.iter().chain(&tips).filter(|b| overlap_area(&reach, b) > 0.0).collect();
            let candidates = [0.0, shift, -shift]
                .into_iter()
                .flat_map(|dx| TRIES.iter().map(move |&t| (t, dx)))
                .map(|(t, dx)| {
                    let p = route.at(t);
                    Rect::around([p[0] + dx, p[1]], size)
                });
            let score = |r: &Rect| {
                let on_boxes: f32 = near.iter().map(|b| overlap_area(r, b)).sum();
                let on_labels: f32 = placed.iter().map(|l| overlap_area(&r.expand(APART), l)).sum();
                on_boxes + 3.0 * on_labels
            };
            let mut best: Option<(f32, Rect)> = None;
            for r in candidates {
                let sc = score(&r);
                if best.is_none_or(|(b, _)| sc < b) {
                    best = Some((sc, r));
                }
                if sc == 0.0 {
                    break;
                }
            }
            let r = best.map(|(_, r)| r)?;
            placed.push(r);
            Some(r)
        })
        .collect()
}

/// The diagram as a standalone SVG document: frames, arrows, boxes, then labels on top.
/// `pos` must come from `d` (one centre per node).
pub fn to_svg(d: &Diagram, pos: &Positions, theme: &Theme) -> String {
    let frames = Frames::compute(d, pos);
    let node_boxes: Vec<Rect> = d.nodes.iter().enumerate().map(|(i, n)| Rect::around(pos.0[i], n.size())).collect();
    let bounds_of_frames = frames.outer.iter().copied().reduce(Rect::union);
    let routes = routes(d, &frames.outer);
    let labels = place_labels(d, &routes, &node_boxes);

    let mut bounds = bounds_of_frames.unwrap_or(Rect { min: [0.0, 0.0], max: [super::NODE_W, super::NODE_H] });
    for r in routes.iter().map(Route::bounds).chain(labels.iter().flatten().copied()) {
        bounds = bounds.union(r);
    }
    let view = bounds.expand(MARGIN);
    let (w, h) = (view.width().ceil(), view.height().ceil());

    let mut s = String::with_capacity(512 + d.nodes.len() * 700 + d.edges.len() * 300);
    let _ = writeln!(s, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="{:.1} {:.1} {w} {h}" font-family="{FONT_FAMILY}, sans-serif">"#,
        view.min[0], view.min[1]
    );
    let _ = writeln!(s, "<defs>");
    for (id, c) in [("arrow", theme.edge), ("arrow-catch", theme.catch_edge)] {
        let _ = writeln!(
            s,
            r#"<marker id="{id}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="{ARROW}" markerHeight="{ARROW}" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z" {}/></marker>"#,
            paint("fill", c)
        );
    }
    let _ = writeln!(s, "</defs>");
    let _ = writeln!(
        s,
        r#"<rect x="{:.1}" y="{:.1}" width="{w}" height="{h}" {}/>"#,
        view.min[0],
        view.min[1],
        paint("fill", theme.background)
    );

    // Containers outermost first: a container comes after everything it holds.
    let _ = writeln!(s, r#"<g class="frames">"#);
    for (i, n) in d.nodes.iter().enumerate().rev() {
        if !n.is_container() {
            continue;
        }
        let accent = state_colour(n.kind, theme);
        let f = frames.outer[i];
        let _ = writeln!(
            s,
            r#"<rect class="container" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="{}" {} {} stroke-width="1.5"/>"#,
            f.min[0],
            f.min[1],
            f.width(),
            f.height(),
            CORNER * 2.0,
            paint("fill", mix(theme.background, accent, 0.07)),
            paint("stroke", accent)
        );
        for b in &frames.branches[i] {
            let _ = writeln!(
                s,
                r#"<rect class="branch" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="{CORNER}" {} {} stroke-width="1" stroke-dasharray="5 4"/>"#,
                b.min[0],
                b.min[1],
                b.width(),
                b.height(),
                paint("fill", theme.background),
                paint("stroke", theme.branch_stroke)
            );
        }
    }
    let _ = writeln!(s, "</g>");

    let _ = writeln!(s, r#"<g class="edges" fill="none" stroke-width="1.5">"#);
    for (e, r) in d.edges.iter().zip(&routes) {
        let (class, colour, marker, dash) = if e.is_catch() {
            ("edge catch", theme.catch_edge, "arrow-catch", r#" stroke-dasharray="6 4""#)
        } else {
            ("edge", theme.edge, "arrow", "")
        };
        let _ = writeln!(s, r#"<path class="{class}" d="{}" {}{dash} marker-end="url(#{marker})"/>"#, r.path(), paint("stroke", colour));
    }
    let _ = writeln!(s, "</g>");

    let _ = writeln!(s, r#"<g class="nodes">"#);
    for (i, n) in d.nodes.iter().enumerate() {
        node_svg(&mut s, n, node_boxes[i], theme);
    }
    let _ = writeln!(s, "</g>");

    let _ = writeln!(s, r#"<g class="labels" font-size="{LABEL_SIZE}" text-anchor="middle">"#);
    for (e, r) in d.edges.iter().zip(&labels) {
        let Some(r) = r else { continue };
        let c = r.center();
        let _ = writeln!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="3" {}/><text x="{:.1}" y="{:.1}" {}>{}</text>"#,
            r.min[0],
            r.min[1],
            r.width(),
            r.height(),
            paint("fill", theme.label_fill),
            c[0],
            c[1] + LABEL_SIZE * 0.35,
            paint("fill", if e.is_catch() { theme.catch_edge } else { theme.label_text }),
            xml_escape(&e.label)
        );
    }
    let _ = writeln!(s, "</g>");
    let _ = writeln!(s, "</svg>");
    s
}

/// One box: its outline (the shape tells the type), caption and name, and a `<title>` with
/// the full name (shown as a tooltip, and kept whole when the drawn name is cut).
fn node_svg(s: &mut String, n: &super::Node, r: Rect, theme: &Theme) {
    let accent = state_colour(n.kind, theme);
    let [cx, cy] = r.center();
    let class = match n.kind {
        NodeKind::State(t) => t.name().to_ascii_lowercase(),
        NodeKind::Unknown => "unknown".into(),
        NodeKind::Start => "start".into(),
        NodeKind::End => "end".into(),
    };
    let _ = writeln!(s, r#"<g class="node {class}"><title>{}</title>"#, xml_escape(&n.label));
    if n.is_marker() {
        let _ = writeln!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="{:.1}" {}/><text x="{cx:.1}" y="{:.1}" font-size="{CAPTION_SIZE}" text-anchor="middle" {}>{}</text></g>"#,
            r.min[0],
            r.min[1],
            r.width(),
            r.height(),
            r.height() / 2.0,
            paint("fill", accent),
            cy + CAPTION_SIZE * 0.35,
            paint("fill", theme.on_accent),
            xml_escape(&n.label)
        );
        return;
    }
    let fill = paint("fill", state_fill(n.kind, theme));
    let stroke = paint("stroke", accent);
    let (x0, y0, x1, y1) = (r.min[0], r.min[1], r.max[0], r.max[1]);
    let mut text_room = r.width() - 16.0;
    // The lower half of a hexagon or pill narrows towards its ends, where the name sits.
    match n.kind {
        NodeKind::State(StateType::Choice) => {
            let k = CHOICE_POINT;
            let _ = writeln!(
                s,
                r#"<path d="M{:.1},{y0:.1} L{:.1},{y0:.1} L{x1:.1},{cy:.1} L{:.1},{y1:.1} L{:.1},{y1:.1} L{x0:.1},{cy:.1} Z" {fill} {stroke} stroke-width="1.5"/>"#,
                x0 + k,
                x1 - k,
                x1 - k,
                x0 + k
            );
            text_room -= k;
        }
        NodeKind::State(StateType::Succeed | StateType::Fail) => {
            let _ = writeln!(
                s,
                r#"<rect x="{x0:.1}" y="{y0:.1}" width="{:.1}" height="{:.1}" rx="{:.1}" {fill} {stroke} stroke-width="1.5"/>"#,
                r.width(),
                r.height(),
                r.height() / 2.0
            );
            text_room -= 8.0;
        }
        _ => {
            if n.hidden_states > 0 {
                // A closed Parallel or Map: a second card behind, as if its states were
                // stacked under it.
                let _ = writeln!(
                    s,
                    r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="{CORNER}" {fill} {stroke} stroke-width="1"/>"#,
                    x0 + 4.0,
                    y0 + 4.0,
                    r.width(),
                    r.height()
                );
            }
            let dash = if n.kind == NodeKind::Unknown { r#" stroke-dasharray="4 3""# } else { "" };
            let _ = writeln!(
                s,
                r#"<rect x="{x0:.1}" y="{y0:.1}" width="{:.1}" height="{:.1}" rx="{CORNER}" {fill} {stroke} stroke-width="1.5"{dash}/>"#,
                r.width(),
                r.height()
            );
        }
    }
    let _ = writeln!(
        s,
        r#"<text x="{cx:.1}" y="{:.1}" font-size="{CAPTION_SIZE}" text-anchor="middle" {}>{}</text>"#,
        cy - 5.0,
        paint("fill", accent),
        xml_escape(&fit(&caption(n), CAPTION_SIZE, text_room))
    );
    // A name a little too long is set smaller before it is cut.
    let size = if text_width(&n.label, NAME_SIZE) <= text_room { NAME_SIZE } else { SMALL_NAME_SIZE };
    let _ = writeln!(
        s,
        r#"<text x="{cx:.1}" y="{:.1}" font-size="{size}" text-anchor="middle" {}>{}</text></g>"#,
        cy + 12.0,
        paint("fill", theme.text),
        xml_escape(&fit(&n.label, size, text_room))
    );
}

/// The largest PNG side [`to_png`] makes: beyond this the pixel buffer runs to gigabytes,
/// and SVG is the better export anyway.
pub const MAX_PNG_SIDE: f32 = 16_384.0;

/// The fonts an exported picture uses, from bytes compiled into the binary: labels render the
/// same everywhere, and no system font is ever read. Hack and the emoji fonts are fallbacks
/// for characters Ubuntu lacks.
fn font_database() -> usvg::fontdb::Database {
    let mut db = usvg::fontdb::Database::new();
    for bytes in [
        epaint_default_fonts::UBUNTU_LIGHT,
        epaint_default_fonts::HACK_REGULAR,
        epaint_default_fonts::NOTO_EMOJI_REGULAR,
        epaint_default_fonts::EMOJI_ICON,
    ] {
        db.load_font_source(usvg::fontdb::Source::Binary(Arc::new(bytes)));
    }
    db.set_sans_serif_family(FONT_FAMILY);
    db.set_monospace_family("Hack");
    db
}

/// Rasterises an SVG (one from [`to_svg`]) at `scale` pixels per canvas unit.
pub fn to_png(svg: &str, scale: f32) -> Result<Vec<u8>, String> {
    if !(scale.is_finite() && scale > 0.0) {
        return Err(format!("the scale must be a number above 0, got {scale}"));
    }
    let options = usvg::Options { font_family: FONT_FAMILY.to_string(), fontdb: Arc::new(font_database()), ..Default::default() };
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| format!("the SVG could not be read: {e}"))?;
    let size = tree.size();
    let (w, h) = ((size.width() * scale).ceil(), (size.height() * scale).ceil());
    if w > MAX_PNG_SIDE || h > MAX_PNG_SIDE {
        return Err(format!(
            "the picture would be {w}×{h} pixels, more than the {MAX_PNG_SIDE} a side a PNG can have here; use a smaller --scale or export SVG"
        ));
    }
    let mut pixmap = tiny_skia::Pixmap::new(w.max(1.0) as u32, h.max(1.0) as u32).ok_or_else(|| format!("cannot make a {w}×{h} picture"))?;
    resvg::render(&tree, tiny_skia::Transform::from_scale(scale, scale), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| format!("the PNG could not be encoded: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagram::layout::auto_layout;
    use serde_json::json;

    fn sample() -> (Diagram, Positions) {
        let root = json!({"StartAt": "Check <size> & \"type\"", "States": {
            "Check <size> & \"type\"": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThan": 5, "Next": "Work"}], "Default": "It's done"},
            "Work": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}], "Next": "Fan out"},
            "Fan out": {"Type": "Parallel", "Branches": [
                {"StartAt": "A", "States": {"A": {"Type": "Wait", "Seconds": 1, "End": true}}},
                {"StartAt": "B", "States": {"B": {"Type": "Pass", "Next": "B2"}, "B2": {"Type": "Pass", "End": true}}}
            ], "Next": "Check <size> & \"type\""},
            "It's done": {"Type": "Succeed"},
            "Failed": {"Type": "Fail"}
        }});
        let d = Diagram::build(&root, &Default::default());
        let p = auto_layout(&d);
        (d, p)
    }

    fn view_box(svg: &str) -> [f32; 4] {
        let start = svg.find("viewBox=\"").unwrap() + 9;
        let end = start + svg[start..].find('"').unwrap();
        let v: Vec<f32> = svg[start..end].split(' ').map(|x| x.parse().unwrap()).collect();
        [v[0], v[1], v[2], v[3]]
    }

    #[test]
    fn svg_names_every_state_escaped_and_parses() {
        let (d, p) = sample();
        for theme in [Theme::light(), Theme::dark()] {
            let svg = to_svg(&d, &p, &theme);
            for n in d.nodes.iter().filter(|n| !n.is_marker()) {
                assert!(svg.contains(&format!(">{}<", xml_escape(&n.label))), "{} drawn: {svg}", n.label);
            }
            assert!(svg.contains("Check &lt;size&gt; &amp; &quot;type&quot;"));
            assert!(svg.contains("It&apos;s done"));
            assert!(!svg.contains("<size>"), "nothing unescaped");
            let tree = usvg::Tree::from_str(&svg, &usvg::Options::default());
            assert!(tree.is_ok(), "usvg reads it: {:?}", tree.err());
        }
    }

    #[test]
    fn catch_arrows_are_dashed_and_others_are_not() {
        let (d, p) = sample();
        let svg = to_svg(&d, &p, &Theme::light());
        let edges: Vec<&str> = svg.lines().filter(|l| l.starts_with("<path class=\"edge")).collect();
        assert_eq!(edges.len(), d.edges.len());
        let catches: Vec<&&str> = edges.iter().filter(|l| l.contains("class=\"edge catch\"")).collect();
        assert_eq!(catches.len(), 1);
        assert!(catches[0].contains("stroke-dasharray"));
        assert!(edges.iter().filter(|l| !l.contains("catch")).all(|l| !l.contains("stroke-dasharray")));
        assert!(edges.iter().all(|l| l.contains("marker-end=\"url(#arrow")));
    }

    #[test]
    fn the_view_box_holds_every_frame() {
        let (d, mut p) = sample();
        let far = d.index_of("Failed").unwrap();
        p.0[far] = [2000.0, 1500.0];
        let [x, y, w, h] = view_box(&to_svg(&d, &p, &Theme::light()));
        let f = Frames::compute(&d, &p);
        for r in &f.outer {
            assert!(r.min[0] >= x && r.min[1] >= y && r.max[0] <= x + w && r.max[1] <= y + h, "{r:?} inside {x} {y} {w} {h}");
        }
    }

    #[test]
    fn long_names_are_cut_to_fit_but_kept_whole_in_the_title() {
        let name = "A very long state name that could never fit inside one box of the diagram";
        let root = json!({"StartAt": name, "States": {name: {"Type": "Pass", "End": true}}});
        let d = Diagram::build(&root, &Default::default());
        let svg = to_svg(&d, &auto_layout(&d), &Theme::light());
        assert!(svg.contains(&format!("<title>{name}</title>")));
        assert!(svg.contains("A very long state"));
        assert!(svg.contains(&format!("font-size=\"{SMALL_NAME_SIZE}\"")), "set smaller before it is cut");
        assert!(svg.contains('…'));
        assert!(fit(name, NAME_SIZE, 164.0).chars().count() < name.chars().count());
        assert!(text_width(&fit(name, NAME_SIZE, 164.0), NAME_SIZE) <= 164.0);
    }

    #[test]
    fn control_characters_never_reach_the_xml() {
        assert_eq!(xml_escape("a\u{1}b\nc<"), "a\u{FFFD}b c&lt;");
    }

    #[test]
    fn every_kind_has_a_colour_and_the_themes_differ() {
        let kinds = StateType::ALL.into_iter().map(NodeKind::State).chain([NodeKind::Start, NodeKind::End, NodeKind::Unknown]);
        for k in kinds {
            assert_ne!(state_colour(k, &Theme::light()), state_colour(k, &Theme::dark()), "{k:?}");
            assert_eq!(state_colour(k, &Theme::light())[3], 0xff);
        }
        assert_ne!(state_colour(NodeKind::State(StateType::Task), &Theme::light()), state_colour(NodeKind::State(StateType::Fail), &Theme::light()));
    }

    #[test]
    fn the_fonts_the_svg_names_are_the_fonts_loaded() {
        let db = font_database();
        let families: Vec<&str> = db.faces().flat_map(|f| f.families.iter().map(|(name, _)| name.as_str())).collect();
        assert!(families.contains(&FONT_FAMILY), "{families:?}");
        assert!(families.contains(&"Hack"), "{families:?}");
    }

    #[test]
    fn png_has_the_signature_and_the_svg_proportions() {
        let (d, p) = sample();
        let svg = to_svg(&d, &p, &Theme::dark());
        let [_, _, w, h] = view_box(&svg);
        let png = to_png(&svg, 1.5).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        let pw = u32::from_be_bytes([png[16], png[17], png[18], png[19]]) as f32;
        let ph = u32::from_be_bytes([png[20], png[21], png[22], png[23]]) as f32;
        assert_eq!(pw, (w * 1.5).ceil());
        assert_eq!(ph, (h * 1.5).ceil());
        assert!((pw / ph - w / h).abs() < 0.01);
        assert!(to_png(&svg, 0.0).is_err());
        assert!(to_png(&svg, f32::NAN).is_err());
        assert!(to_png(&svg, 1000.0).unwrap_err().contains("--scale"));
        assert!(to_png("not svg", 1.0).is_err());
    }

    /// Every segment of every straight or laned arrow, checked against the boxes it must not
    /// cross (all but its ends and the frames around them).
    fn assert_no_arrow_crosses_a_box(d: &Diagram, p: &Positions) {
        let frames = Frames::compute(d, p);
        let inside: Vec<Vec<usize>> = (0..d.nodes.len()).map(|i| d.descendants(i)).collect();
        for (e, r) in d.edges.iter().zip(routes(d, &frames.outer)) {
            let points = match &r {
                Route::Line(a, b) => vec![*a, *b],
                Route::Lane(points) => points.clone(),
                Route::Quad(..) | Route::Cubic(..) => continue,
            };
            let ends = [e.from, e.to];
            for (j, b) in frames.outer.iter().enumerate() {
                let related = ends.iter().any(|&k| k == j || inside[j].contains(&k) || inside[k].contains(&j));
                if related {
                    continue;
                }
                for w in points.windows(2) {
                    assert!(!segment_hits(w[0], w[1], &b.expand(-2.0)), "{} -> {} crosses {} ({b:?}): {r:?}", d.nodes[e.from].id, d.nodes[e.to].id, d.nodes[j].id);
                }
            }
        }
    }

    #[test]
    fn arrows_go_around_the_boxes_in_their_way() {
        for name in ["order-processing", "snapshot-management", "video-ingest", "media-pipeline"] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("workflows/{name}.asl.json"));
            let root: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
            let d = Diagram::build(&root, &Default::default());
            assert_no_arrow_crosses_a_box(&d, &auto_layout(&d));
        }
    }

    #[test]
    fn hundreds_of_catches_to_one_handler_each_get_a_lane() {
        let n = 300;
        let mut states = serde_json::Map::new();
        for i in 0..n {
            let next = if i + 1 < n { format!("S{}", i + 1) } else { "Done".into() };
            states.insert(
                format!("S{i}"),
                json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": next,
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}]}),
            );
        }
        states.insert("Done".into(), json!({"Type": "Succeed"}));
        states.insert("Failed".into(), json!({"Type": "Fail"}));
        let d = Diagram::build(&json!({"StartAt": "S0", "States": states}), &Default::default());
        let p = auto_layout(&d);
        assert_no_arrow_crosses_a_box(&d, &p);
        let frames = Frames::compute(&d, &p);
        let mut runs: Vec<i64> = routes(&d, &frames.outer)
            .iter()
            .filter_map(|r| match r {
                Route::Lane(points) if points.len() > 2 => Some((points[1][0] * 10.0).round() as i64),
                _ => None,
            })
            .collect();
        let laned = runs.len();
        runs.sort();
        runs.dedup();
        assert_eq!(runs.len(), laned, "no two lanes share a run");
    }
}

