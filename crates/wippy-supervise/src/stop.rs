//! Stopping children: one (CANCEL then terminate after its timeout, or
//! terminate at once, then wait for its EXIT), all in reverse start order,
//! or all at once (`simple_one_for_one` instances).
//!
//! While the supervisor waits for a stopped child's EXIT, other events are
//! kept in `stash` and handled afterwards, in the order they came; requests
//! wait in their queue.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use wippy_process::{Event, ExitError, ExitResult, Pid};

use crate::process::Server;
use crate::spec::{Shutdown, Strategy};

/// The reason of the CANCEL a supervisor stops a child with (Wippy's, for
/// a service being stopped).
pub const STOP_REASON: &str = "service stopping";

impl Server {
    /// Waits for the next event until `deadline` (messages wait).
    async fn next_event(&self, deadline: Instant) -> Option<Event> {
        let cx = &self.cx;
        let mut sleep = cx.sleep(deadline.saturating_duration_since(Instant::now()));
        std::future::poll_fn(|task| {
            if let Some(e) = cx.try_event() {
                return Poll::Ready(Some(e));
            }
            match Pin::new(&mut sleep).poll(task) {
                Poll::Ready(()) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }

    /// Waits until every process in `waiting` has sent its EXIT, or
    /// `deadline`; returns the exits seen. Other events are stashed.
    async fn await_exits(
        &mut self,
        waiting: &mut HashSet<Pid>,
        deadline: Instant,
    ) -> Vec<(Pid, ExitResult)> {
        let mut seen = Vec::new();
        let mut keep = VecDeque::with_capacity(self.stash.len());
        for event in self.stash.drain(..) {
            match event {
                Event::Exit { from, result } if waiting.remove(&from) => seen.push((from, result)),
                other => keep.push_back(other),
            }
        }
        self.stash = keep;
        while !waiting.is_empty() {
            match self.next_event(deadline).await {
                Some(Event::Exit { from, result }) if waiting.remove(&from) => {
                    seen.push((from, result));
                }
                Some(other) => self.stash.push_back(other),
                None => break,
            }
        }
        seen
    }

    /// Asks the child in `slot` to stop as its shutdown says; returns the
    /// pid, the time allowed and the child's id, or None if it was not
    /// running.
    fn ask_to_stop(&mut self, slot: usize) -> Option<(Pid, Duration, Arc<str>)> {
        let me = self.me;
        if let Some(child) = self.kids.get_mut(slot) {
            child.due = None;
            child.nested = None;
            // What a crash loop did since its last summary, before the stop.
            child.crashes.report_suppressed(me, &child.spec.id);
        }
        let pid = self.kids.take_pid(slot)?;
        let spec = self.kids.get(slot)?.spec.clone();
        let shutdown = spec.shutdown;
        let node = self.cx.node();
        let asked = match shutdown {
            Shutdown::BrutalKill => node.terminate(pid),
            Shutdown::Timeout(d) => node.cancel(Some(self.me), pid, d, STOP_REASON),
        };
        // A child that has just ended on its own: its EXIT finds no child.
        asked
            .ok()
            .map(|()| (pid, shutdown.bound(), spec.id.clone()))
    }

    /// Stops the child in `slot` and waits for its EXIT.
    pub(crate) async fn shut(&mut self, slot: usize) {
        let Some((pid, bound, id)) = self.ask_to_stop(slot) else {
            return;
        };
        let mut waiting = HashSet::from([pid]);
        let exits = self.await_exits(&mut waiting, Instant::now() + bound).await;
        self.report_stops(&exits, &waiting, &[(pid, id)]);
    }

    /// Logs how the stopped children `ids` ended.
    fn report_stops(
        &self,
        exits: &[(Pid, ExitResult)],
        missing: &HashSet<Pid>,
        ids: &[(Pid, Arc<str>)],
    ) {
        let me = self.me;
        let id = |pid: &Pid| {
            ids.iter()
                .find(|(p, _)| p == pid)
                .map_or("", |(_, id)| &**id)
        };
        for (pid, result) in exits {
            let child = id(pid);
            match result {
                Ok(value) => {
                    tracing::info!(supervisor = %me, child = %child, %pid, %value, "child stopped");
                }
                Err(e) if *e == ExitError::cancelled() => tracing::warn!(
                    supervisor = %me,
                    child = %child,
                    %pid,
                    "child did not stop in time; it was terminated"
                ),
                Err(e) => {
                    tracing::info!(supervisor = %me, child = %child, %pid, error = e.message(), "child stopped");
                }
            }
        }
        for pid in missing {
            let child = id(pid);
            tracing::warn!(supervisor = %me, child = %child, %pid, "no EXIT from a stopped child");
        }
    }

    /// Stops every child: in reverse start order, or all at once for
    /// `simple_one_for_one`.
    pub(crate) async fn stop_all(&mut self) {
        self.due.clear();
        self.failed_starts.clear();
        let order = self.kids.in_order();
        if self.strategy == Strategy::SimpleOneForOne {
            let mut waiting = HashSet::new();
            let mut ids = Vec::new();
            let mut longest = Duration::ZERO;
            for slot in order {
                if let Some((pid, bound, id)) = self.ask_to_stop(slot) {
                    waiting.insert(pid);
                    ids.push((pid, id));
                    longest = longest.max(bound);
                }
            }
            let exits = self
                .await_exits(&mut waiting, Instant::now() + longest)
                .await;
            self.report_stops(&exits, &waiting, &ids);
        } else {
            for slot in order.into_iter().rev() {
                self.shut(slot).await;
            }
        }
    }
}
