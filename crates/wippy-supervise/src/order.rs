//! Start order of services: dependencies first.

use std::collections::BTreeMap;

use crate::error::SuperviseError;

/// Orders `items` (name, dependencies) so every item comes after the items
/// it depends on; ties keep the input order. Dependencies on names not in
/// `items` are ignored (they are hosts, started before any service).
///
/// ```
/// use wippy_supervise::start_order;
/// let order = start_order(&[("web", vec!["db"]), ("db", vec![])]).unwrap();
/// assert_eq!(order, vec![1, 0]);
/// ```
pub fn start_order<S: AsRef<str>>(items: &[(S, Vec<S>)]) -> Result<Vec<usize>, SuperviseError> {
    let index: BTreeMap<&str, usize> = items
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (n.as_ref(), i))
        .collect();
    // 0 = unvisited, 1 = on the current path, 2 = placed.
    let mut mark = vec![0u8; items.len()];
    let mut out = Vec::with_capacity(items.len());
    fn visit<S: AsRef<str>>(
        i: usize,
        items: &[(S, Vec<S>)],
        index: &BTreeMap<&str, usize>,
        mark: &mut [u8],
        out: &mut Vec<usize>,
        path: &mut Vec<usize>,
    ) -> Result<(), SuperviseError> {
        match mark[i] {
            2 => return Ok(()),
            1 => {
                let start = path.iter().position(|&p| p == i).unwrap_or(0);
                let cycle = path[start..]
                    .iter()
                    .chain(std::iter::once(&i))
                    .map(|&p| items[p].0.as_ref().to_owned())
                    .collect::<Vec<_>>()
                    .join(" -> ");
                return Err(SuperviseError::DependencyCycle { cycle });
            }
            _ => {}
        }
        mark[i] = 1;
        path.push(i);
        for dep in &items[i].1 {
            if let Some(&d) = index.get(dep.as_ref()) {
                visit(d, items, index, mark, out, path)?;
            }
        }
        path.pop();
        mark[i] = 2;
        out.push(i);
        Ok(())
    }
    for i in 0..items.len() {
        visit(i, items, &index, &mut mark, &mut out, &mut Vec::new())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_are_reported_with_their_path() {
        let err = start_order(&[("a", vec!["b"]), ("b", vec!["a"])]).unwrap_err();
        assert_eq!(err.to_string(), "dependency cycle: a -> b -> a");
    }

    #[test]
    fn chains_start_from_the_bottom() {
        let order = start_order(&[("c", vec!["b"]), ("b", vec!["a"]), ("a", vec![])]).unwrap();
        assert_eq!(order, vec![2, 1, 0]);
    }
}
