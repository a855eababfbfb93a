//! The local name registry: names → pids, freed when the process ends.
//!
//! Lock order: the registry's map, then a cell's lock. Process exit takes the
//! cell's lock and releases it before it takes the map's, so the two never
//! wait on each other in opposite orders.

use std::sync::{Mutex, MutexGuard, PoisonError};

use ahash::AHashMap;

use crate::message::Topic;
use crate::pid::Pid;

#[derive(Default)]
pub(crate) struct Names {
    map: Mutex<AHashMap<Topic, Pid>>,
}

impl Names {
    pub(crate) fn lock(&self) -> MutexGuard<'_, AHashMap<Topic, Pid>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn lookup(&self, name: &str) -> Option<Pid> {
        self.lock().get(name).copied()
    }

    /// Frees `names` that still point at `pid` (process exit).
    pub(crate) fn release(&self, names: &[Topic], pid: Pid) {
        if names.is_empty() {
            return;
        }
        let mut map = self.lock();
        for name in names {
            if map.get(name) == Some(&pid) {
                map.remove(name);
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}
