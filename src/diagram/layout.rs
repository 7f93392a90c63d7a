//! Automatic layered (top-to-bottom) layout, the way the Step Functions console draws a
//! machine: Start at the top, each state below the states that lead to it, End at the bottom,
//! Parallel branches side by side inside their frame.
//!
//! Written here rather than taken from a crate: the layered-layout crates place equal-sized
//! nodes in one flat graph, while a state machine nests scopes (a Parallel's branches are
//! laid out inside a box that is itself a node of the outer graph). The method is the classic
//! one (Sugiyama): break cycles by DFS, longest-path layers, barycentre ordering sweeps, then
//! coordinates that pull each node under its parents. Linear in the machine's size apart from
//! the sweeps, which are a fixed number of sorts per layer.

use std::collections::HashMap;

use super::{CONTAINER_PAD, Diagram, NODE_H, Positions};

/// Vertical space between layers and horizontal space between neighbours.
const LAYER_GAP: f32 = 46.0;
const SIBLING_GAP: f32 = 36.0;
/// Space between a container's branches.
const BRANCH_GAP: f32 = 28.0;
/// Barycentre sweeps (down then up count as two).
const SWEEPS: usize = 4;

/// Lays out every node of `d`; the top-level Start marker lands near the origin.
pub fn auto_layout(d: &Diagram) -> Positions {
    let n = d.nodes.len();
    let mut members: HashMap<Option<(usize, usize)>, Vec<usize>> = HashMap::new();
    for (i, node) in d.nodes.iter().enumerate() {
        members.entry(node.parent).or_default().push(i);
    }
    let is_start: Vec<bool> = d.nodes.iter().map(|x| x.kind == super::NodeKind::Start).collect();
    let mut out_edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    for e in &d.edges {
        out_edges[e.from].push(e.to);
    }
    // Block (the space a node takes in its scope) sizes, and for containers where each branch
    // sits relative to the block's top-left corner.
    let mut block: Vec<[f32; 2]> = d.nodes.iter().map(|x| x.size()).collect();
    let mut rel = vec![[0.0f32; 2]; n];
    let mut branch_origin: HashMap<(usize, usize), [f32; 2]> = HashMap::new();
    // Children precede containers, so each branch is laid out before its owner needs its size.
    for i in 0..n {
        if !d.nodes[i].is_container() {
            continue;
        }
        let mut x = CONTAINER_PAD;
        let top = CONTAINER_PAD + NODE_H + CONTAINER_PAD;
        let mut tallest: f32 = 0.0;
        for b in 0..d.nodes[i].branches {
            let list = members.get(&Some((i, b))).cloned().unwrap_or_default();
            let (w, h) = layout_scope(&list, &is_start, &out_edges, &block, &mut rel);
            branch_origin.insert((i, b), [x, top]);
            x += w.max(super::NODE_W / 2.0) + BRANCH_GAP;
            tallest = tallest.max(h);
        }
        let width = (x - BRANCH_GAP + CONTAINER_PAD).max(super::NODE_W + 2.0 * CONTAINER_PAD);
        // Centre the branches under the header when the header is wider than they are.
        let spare = (width - (x - BRANCH_GAP + CONTAINER_PAD)).max(0.0) / 2.0;
        for b in 0..d.nodes[i].branches {
            if let Some(o) = branch_origin.get_mut(&(i, b)) {
                o[0] += spare;
            }
        }
        block[i] = [width, top + tallest + CONTAINER_PAD];
    }
    let top = members.get(&None).cloned().unwrap_or_default();
    layout_scope(&top, &is_start, &out_edges, &block, &mut rel);

    // From scope-relative block centres to absolute node centres, outermost first.
    let mut pos = vec![[0.0f32; 2]; n];
    let mut origin = vec![[0.0f32; 2]; n];
    for i in (0..n).rev() {
        let base = match d.nodes[i].parent {
            None => [0.0, 0.0],
            Some((owner, b)) => {
                let o = branch_origin.get(&(owner, b)).copied().unwrap_or_default();
                [origin[owner][0] + o[0], origin[owner][1] + o[1]]
            }
        };
        let center = [base[0] + rel[i][0], base[1] + rel[i][1]];
        origin[i] = [center[0] - block[i][0] / 2.0, center[1] - block[i][1] / 2.0];
        pos[i] = if d.nodes[i].is_container() { [center[0], origin[i][1] + CONTAINER_PAD + NODE_H / 2.0] } else { center };
    }
    Positions(pos)
}

/// Lays out one scope's nodes; writes their block centres relative to the scope's top-left
/// corner into `rel` and returns the scope's width and height.
fn layout_scope(list: &[usize], is_start: &[bool], out_edges: &[Vec<usize>], block: &[[f32; 2]], rel: &mut [[f32; 2]]) -> (f32, f32) {
    if list.is_empty() {
        return (0.0, 0.0);
    }
    let local: HashMap<usize, usize> = list.iter().enumerate().map(|(l, &g)| (g, l)).collect();
    let m = list.len();
    let succ: Vec<Vec<usize>> =
        list.iter().map(|&g| out_edges[g].iter().filter_map(|t| local.get(t).copied()).filter(|&t| t != local[&g]).collect()).collect();

    // Depth-first from the Start marker, then from anything left, to find the back edges of
    // loops (retry loops, polling loops) and a natural left-to-right order.
    let mut roots: Vec<usize> = (0..m).collect();
    if let Some(s) = list.iter().position(|&g| is_start[g]) {
        roots.remove(s);
        roots.insert(0, s);
    }
    let mut state = vec![0u8; m]; // 0 unseen, 1 on stack, 2 done
    let mut discovery = Vec::with_capacity(m);
    let mut forward: Vec<Vec<usize>> = vec![Vec::new(); m];
    for &r in &roots {
        if state[r] != 0 {
            continue;
        }
        let mut stack = vec![(r, 0usize)];
        state[r] = 1;
        discovery.push(r);
        while let Some(&mut (v, ref mut k)) = stack.last_mut() {
            if *k < succ[v].len() {
                let t = succ[v][*k];
                *k += 1;
                match state[t] {
                    0 => {
                        forward[v].push(t);
                        state[t] = 1;
                        discovery.push(t);
                        stack.push((t, 0));
                    }
                    2 => forward[v].push(t),
                    _ => {} // back edge: a loop; drawn, but not used for layering
                }
            } else {
                state[v] = 2;
                stack.pop();
            }
        }
    }

    // Longest-path layers over the forward edges (Kahn's order).
    let mut indeg = vec![0usize; m];
    for f in &forward {
        for &t in f {
            indeg[t] += 1;
        }
    }
    let mut layer = vec![0usize; m];
    let mut queue: Vec<usize> = discovery.iter().copied().filter(|&v| indeg[v] == 0).collect();
    let mut qi = 0;
    while qi < queue.len() {
        let v = queue[qi];
        qi += 1;
        for &t in &forward[v] {
            layer[t] = layer[t].max(layer[v] + 1);
            indeg[t] -= 1;
            if indeg[t] == 0 {
                queue.push(t);
            }
        }
    }
    let layers_n = layer.iter().max().map_or(0, |l| l + 1);
    let mut layers: Vec<Vec<usize>> = vec![Vec::new(); layers_n];
    for &v in &discovery {
        layers[layer[v]].push(v);
    }
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); m];
    for (v, f) in forward.iter().enumerate() {
        for &t in f {
            preds[t].push(v);
        }
    }

    // Barycentre ordering: sort each layer by the mean order index of its neighbours in the
    // layer before (down sweeps) or after (up sweeps).
    let mut order = vec![0f32; m];
    let reindex = |layers: &Vec<Vec<usize>>, order: &mut Vec<f32>| {
        for l in layers {
            for (k, &v) in l.iter().enumerate() {
                order[v] = k as f32;
            }
        }
    };
    reindex(&layers, &mut order);
    for sweep in 0..SWEEPS {
        let down = sweep % 2 == 0;
        let range: Vec<usize> = if down { (1..layers_n).collect() } else { (0..layers_n.saturating_sub(1)).rev().collect() };
        for li in range {
            let mut keyed: Vec<(f32, usize)> = layers[li]
                .iter()
                .map(|&v| {
                    let nb = if down { &preds[v] } else { &forward[v] };
                    let key = if nb.is_empty() { order[v] } else { nb.iter().map(|&u| order[u]).sum::<f32>() / nb.len() as f32 };
                    (key, v)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
            layers[li] = keyed.into_iter().map(|(_, v)| v).collect();
            for (k, &v) in layers[li].iter().enumerate() {
                order[v] = k as f32;
            }
        }
    }

    // Coordinates: each layer as tall as its tallest block; each node pulled under the mean
    // of its parents, then pushed right just enough not to overlap its left neighbour, then
    // the layer shifted back so the pulls balance.
    let size = |v: usize| block[list[v]];
    let mut x = vec![0f32; m];
    let mut y = 0f32;
    let mut yc = vec![0f32; m];
    for l in &layers {
        let h = l.iter().map(|&v| size(v)[1]).fold(0.0, f32::max);
        let mut desired = Vec::with_capacity(l.len());
        let mut right = f32::NEG_INFINITY;
        for &v in l {
            let want = if preds[v].is_empty() { None } else { Some(preds[v].iter().map(|&u| x[u]).sum::<f32>() / preds[v].len() as f32) };
            let w = size(v)[0];
            let min_x = if right.is_finite() { right + SIBLING_GAP + w / 2.0 } else { f32::NEG_INFINITY };
            let xv = want.unwrap_or(if right.is_finite() { min_x } else { 0.0 }).max(min_x);
            x[v] = xv;
            right = xv + w / 2.0;
            desired.push(want);
            yc[v] = y + h / 2.0;
        }
        let pulls: Vec<f32> = l.iter().zip(&desired).filter_map(|(&v, d)| d.map(|d| d - x[v])).collect();
        if !pulls.is_empty() {
            let shift = pulls.iter().sum::<f32>() / pulls.len() as f32;
            for &v in l {
                x[v] += shift;
            }
        }
        y += h + LAYER_GAP;
    }
    let left = (0..m).map(|v| x[v] - size(v)[0] / 2.0).fold(f32::INFINITY, f32::min);
    let right = (0..m).map(|v| x[v] + size(v)[0] / 2.0).fold(f32::NEG_INFINITY, f32::max);
    for v in 0..m {
        rel[list[v]] = [x[v] - left, yc[v]];
    }
    (right - left, (y - LAYER_GAP).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagram::{Frames, NodeKind};
    use serde_json::json;

    fn center_y(d: &Diagram, p: &Positions, id: &str) -> f32 {
        p.0[d.index_of(id).unwrap()][1]
    }

    #[test]
    fn states_sit_below_the_states_that_lead_to_them() {
        let root = json!({"StartAt": "A", "States": {
            "A": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": true, "Next": "B"}], "Default": "C"},
            "B": {"Type": "Pass", "Next": "D"},
            "C": {"Type": "Pass", "Next": "D"},
            "D": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Retry": [], "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "A"}], "End": true}
        }});
        let d = Diagram::build(&root, &Default::default());
        let p = auto_layout(&d);
        let start = d.nodes.iter().position(|n| n.kind == NodeKind::Start).unwrap();
        assert!(p.0[start][1] < center_y(&d, &p, "A"));
        assert!(center_y(&d, &p, "A") < center_y(&d, &p, "B"));
        assert_eq!(center_y(&d, &p, "B"), center_y(&d, &p, "C"), "siblings share a layer");
        assert!(center_y(&d, &p, "B") < center_y(&d, &p, "D"), "the catch loop back to A does not lift D");
        // No two boxes overlap.
        let f = Frames::compute(&d, &p);
        for i in 0..d.nodes.len() {
            for j in i + 1..d.nodes.len() {
                let (a, b) = (f.outer[i], f.outer[j]);
                let overlap = a.min[0] < b.max[0] && b.min[0] < a.max[0] && a.min[1] < b.max[1] && b.min[1] < a.max[1];
                assert!(!overlap, "{} overlaps {}", d.nodes[i].id, d.nodes[j].id);
            }
        }
    }

    #[test]
    fn branches_sit_side_by_side_inside_their_frame() {
        let root = json!({"StartAt": "P", "States": {
            "P": {"Type": "Parallel", "Branches": [
                {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A2"}, "A2": {"Type": "Pass", "End": true}}},
                {"StartAt": "B", "States": {"B": {"Type": "Pass", "End": true}}}
            ], "Next": "Done"},
            "Done": {"Type": "Succeed"}
        }});
        let d = Diagram::build(&root, &Default::default());
        let p = auto_layout(&d);
        let f = Frames::compute(&d, &p);
        let pi = d.index_of("P").unwrap();
        for id in ["A", "A2", "B"] {
            let c = p.0[d.index_of(id).unwrap()];
            assert!(f.outer[pi].contains(c), "{id} inside P's frame");
        }
        let (a, b) = (p.0[d.index_of("A").unwrap()], p.0[d.index_of("B").unwrap()]);
        assert_eq!(a[1], b[1]);
        assert!(a[0] < b[0]);
        assert!(f.branches[pi][0].max[0] <= f.branches[pi][1].min[0], "branch frames do not overlap");
        assert!(center_y(&d, &p, "Done") > f.outer[pi].max[1], "Done is below the whole Parallel");
    }

    #[test]
    fn a_thousand_state_machine_lays_out() {
        let text = crate::asl::generate::large_definition(1000);
        let root: serde_json::Value = serde_json::from_str(&text).unwrap();
        let d = Diagram::build(&root, &Default::default());
        let p = auto_layout(&d);
        assert_eq!(p.0.len(), d.nodes.len());
        assert!(p.0.iter().all(|c| c[0].is_finite() && c[1].is_finite()));
    }
}
