//! Cycles among `lifecycle.requires` (and `depends_on`): entries that each
//! must start before the other can never start, so a cycle is a load error
//! naming the reference that closes it.

use std::collections::HashMap;

/// One `requires` reference: `from` must start after `to`.
pub(super) struct Edge<'a> {
    /// The entry that requires.
    pub from: &'a str,
    /// The entry it requires.
    pub to: &'a str,
}

/// A cycle: the index (in the given edges) of the edge that closes it, and
/// the entries around it, the first repeated at the end
/// (`[a, b, a]`).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Cycle {
    pub closing: usize,
    pub path: Vec<String>,
}

/// Every cycle of the graph, once each (by the edge that closes it in a
/// depth-first search from the entries in order of their first edge).
/// Self-loops are left out: the loader reports those on their own.
pub(super) fn cycles(edges: &[Edge]) -> Vec<Cycle> {
    // Node numbers in order of first appearance, and each node's edges.
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut names: Vec<&str> = Vec::new();
    let mut node = |name| {
        *index.entry(name).or_insert_with(|| {
            names.push(name);
            names.len() - 1
        })
    };
    let mut out_edges: Vec<Vec<(usize, usize)>> = Vec::new();
    for (i, e) in edges.iter().enumerate() {
        let (from, to) = (node(e.from), node(e.to));
        out_edges.resize_with(out_edges.len().max(from.max(to) + 1), Vec::new);
        if from != to {
            out_edges[from].push((to, i));
        }
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut mark = vec![Mark::New; names.len()];
    let mut found = Vec::new();
    for start in 0..names.len() {
        if mark[start] != Mark::New {
            continue;
        }
        // The depth-first path: each node with the next of its edges to try.
        let mut path: Vec<(usize, usize)> = vec![(start, 0)];
        mark[start] = Mark::OnPath;
        while let Some(&mut (at, ref mut next)) = path.last_mut() {
            let Some(&(to, edge)) = out_edges[at].get(*next) else {
                mark[at] = Mark::Done;
                path.pop();
                continue;
            };
            *next += 1;
            match mark[to] {
                Mark::New => {
                    mark[to] = Mark::OnPath;
                    path.push((to, 0));
                }
                Mark::OnPath => {
                    let from = path.iter().position(|&(n, _)| n == to).unwrap_or(0);
                    let mut around: Vec<String> = path[from..]
                        .iter()
                        .map(|&(n, _)| names[n].to_owned())
                        .collect();
                    around.push(names[to].to_owned());
                    found.push(Cycle {
                        closing: edge,
                        path: around,
                    });
                }
                Mark::Done => {}
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edges<'a>(pairs: &[(&'a str, &'a str)]) -> Vec<Edge<'a>> {
        pairs.iter().map(|&(from, to)| Edge { from, to }).collect()
    }

    #[test]
    fn two_entries_requiring_each_other_are_one_cycle_closed_by_the_second_edge() {
        let found = cycles(&edges(&[("a", "b"), ("b", "a")]));
        assert_eq!(
            found,
            [Cycle {
                closing: 1,
                path: vec!["a".into(), "b".into(), "a".into()]
            }]
        );
    }

    #[test]
    fn chains_diamonds_and_self_loops_are_not_cycles() {
        assert!(
            cycles(&edges(&[
                ("a", "b"),
                ("b", "c"),
                ("a", "c"),
                ("d", "b"),
                ("c", "c")
            ]))
            .is_empty()
        );
    }

    #[test]
    fn a_long_cycle_and_a_separate_short_one_are_both_found() {
        let found = cycles(&edges(&[
            ("a", "b"),
            ("b", "c"),
            ("c", "a"),
            ("x", "y"),
            ("y", "x"),
        ]));
        let paths: Vec<_> = found.iter().map(|c| c.path.join(" -> ")).collect();
        assert_eq!(paths, ["a -> b -> c -> a", "x -> y -> x"]);
        assert_eq!(found[0].closing, 2);
    }
}
