//! The supervisor process: a native async process that owns its children.
//!
//! Life of a supervisor:
//! 1. Start the children in order. A required child that fails to start
//!    stops the start: the children started so far are stopped in reverse
//!    order and the supervisor ends with the error. An optional child that
//!    fails is treated as a crash (restarted as its spec says).
//! 2. Serve: each child is spawned monitored, so its end arrives as an EXIT
//!    event, found in O(1) by pid. A child to restart is counted against
//!    the restart intensity (O(1) amortised, `intensity.rs`), then started
//!    again at once or after its backoff delay (a heap of due restarts),
//!    with the siblings the strategy names stopped first and started after
//!    it. Requests from handles are served between events.
//! 3. Stop (a stop request, a CANCEL from its parent, or too many
//!    restarts): children are stopped in reverse start order, each as its
//!    shutdown says (CANCEL then terminate after the timeout, or terminate
//!    at once), waiting for each EXIT; `simple_one_for_one` instances are
//!    stopped all at once. Then the process ends: with an error if the
//!    restart intensity was reached.
//!
//! Invariant: a supervisor's children never outlive it. Stopping ends every
//! child first, and if the process ends any other way (terminated,
//! panicked, killed before its first step) dropping [`Server`] terminates
//! every child still running.
//!
//! Stopping children is in `stop.rs`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use wippy_process::{Ctx, Event, ExitError, ExitResult, Payload, Pid, SpawnOptions};

use crate::backoff::Jitter;
use crate::children::Children;
use crate::error::SuperviseError;
use crate::intensity::Window;
use crate::spec::{ChildSpec, Restart, StartError, Strategy, SupervisorSpec};
use crate::supervisor::{CALL, ChildState, EndGuard, Request, Shared};

/// The supervisor process's body.
pub(crate) async fn serve(cx: Ctx, spec: SupervisorSpec, guard: EndGuard) -> ExitResult {
    let mut server = Server {
        me: cx.pid(),
        cx,
        strategy: spec.strategy,
        intensity: spec.intensity,
        window: Window::new(spec.intensity),
        kids: Children::default(),
        template: None,
        stash: VecDeque::new(),
        due: BinaryHeap::new(),
        failed_starts: VecDeque::new(),
        jitter: Jitter::new(),
        guard,
    };
    server.run(spec.children).await
}

/// A duration shown in seconds with three decimals (`0.005s`), formatted
/// only if the log line is written.
pub(crate) struct Seconds(pub(crate) Duration);

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.3}s", self.0.as_secs_f64())
    }
}

/// What woke the supervisor.
enum Wake {
    /// Requests are waiting.
    Call,
    Event(Event),
    /// A restart is due.
    Timer,
}

pub(crate) struct Server {
    pub(crate) cx: Ctx,
    pub(crate) me: Pid,
    pub(crate) strategy: Strategy,
    intensity: crate::Intensity,
    window: Window,
    pub(crate) kids: Children,
    /// The template of a `simple_one_for_one` supervisor.
    template: Option<Arc<ChildSpec>>,
    /// Events that came while the supervisor waited for a stopped child.
    pub(crate) stash: VecDeque<Event>,
    /// Restarts due later: (when, child seq, slot). An entry whose child is
    /// gone or no longer due then is skipped.
    pub(crate) due: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    /// Children whose start failed, to be handled as crashes: (slot, seq,
    /// error).
    pub(crate) failed_starts: VecDeque<(usize, u64, ExitError)>,
    jitter: Jitter,
    guard: EndGuard,
}

impl Drop for Server {
    fn drop(&mut self) {
        // The process ended without stopping its children (terminated,
        // panicked): they must not outlive it.
        for pid in self.kids.running() {
            self.cx
                .node()
                .kill(pid, ExitError::new(format!("supervisor {} ended", self.me)));
        }
    }
}

impl Server {
    fn shared(&self) -> &Shared {
        &self.guard.0
    }

    async fn run(&mut self, children: Vec<ChildSpec>) -> ExitResult {
        if let Err(failure) = self.start_all(children) {
            self.stop_all().await;
            let error = ExitError::new(failure.to_string());
            self.shared().started(Some(failure));
            return Err(error);
        }
        self.shared().started(None);
        let outcome = loop {
            // Failed starts are due at once, but requests and events still
            // come first, and the process yields after each batch: a start
            // that always fails cannot keep a stop waiting or hold a worker.
            let deadline = if self.failed_starts.is_empty() {
                self.due.peek().map(|Reverse((at, _, _))| *at)
            } else {
                Some(Instant::now())
            };
            match self.next(deadline).await {
                Wake::Call => {
                    if self.serve_requests().await {
                        break Ok(Payload::Nil);
                    }
                }
                Wake::Event(Event::Exit { from, result }) => {
                    if let Some(slot) = self.kids.ended(from)
                        && let Err(e) = self.on_end(slot, result, true).await
                    {
                        break Err(e);
                    }
                }
                Wake::Event(Event::Cancel { .. }) => break Ok(Payload::Nil),
                Wake::Event(Event::LinkDown { .. }) => {}
                Wake::Timer => {
                    if let Err(e) = self.retry_failed_starts().await {
                        break Err(e);
                    }
                    self.restart_due();
                }
            }
        };
        self.stop_all().await;
        outcome
    }

    /// Handles the starts that failed so far as crashes of their children.
    async fn retry_failed_starts(&mut self) -> Result<(), ExitError> {
        if self.failed_starts.is_empty() {
            return Ok(());
        }
        let failed: Vec<_> = self.failed_starts.drain(..).collect();
        for (slot, seq, error) in failed {
            if self.kids.holds(slot, seq) {
                self.on_end(slot, Err(error), false).await?;
            }
        }
        self.cx.yield_now().await;
        Ok(())
    }

    /// Starts the initial children in order (none for `simple_one_for_one`:
    /// its one spec is the template).
    fn start_all(&mut self, children: Vec<ChildSpec>) -> Result<(), SuperviseError> {
        if self.strategy == Strategy::SimpleOneForOne {
            self.template = children.into_iter().next().map(Arc::new);
            return Ok(());
        }
        for spec in children {
            let spec = Arc::new(spec);
            self.shared().starting(&spec.id);
            let slot = self.kids.insert(spec.clone(), Vec::new());
            if let Err(e) = self.launch(slot) {
                if !spec.optional {
                    return Err(SuperviseError::StartFailed {
                        child: spec.id.to_string(),
                        source: e,
                    });
                }
                self.start_failed(slot, &e);
            }
        }
        Ok(())
    }

    /// Starts the child in `slot`.
    fn launch(&mut self, slot: usize) -> Result<Pid, StartError> {
        let Some(child) = self.kids.get_mut(slot) else {
            return Err("the child is gone".into());
        };
        let spec = child.spec.clone();
        let opts = SpawnOptions::default().parent(self.me).monitored();
        let begun = Instant::now();
        child.started = begun;
        let pid = (spec.start)(opts, &child.args)?;
        let took = begun.elapsed();
        if took > spec.start_timeout {
            // Monitored: its EXIT comes, and finds no child.
            let _ = self.cx.node().terminate(pid);
            return Err(format!(
                "its start took {took:?}, longer than its start timeout {:?}",
                spec.start_timeout
            )
            .into());
        }
        child.state = ChildState::Running;
        child.due = None;
        child.nested = spec.nested.as_ref().and_then(|slot| {
            slot.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
        });
        let quiet = child.crashes.quiet();
        self.kids.set_pid(slot, pid);
        if quiet {
            tracing::debug!(supervisor = %self.me, child = %spec.id, %pid, "child started");
        } else {
            tracing::info!(supervisor = %self.me, child = %spec.id, %pid, "child started");
        }
        Ok(pid)
    }

    /// A start failed: the child is handled as if it had crashed, from the
    /// main loop.
    fn start_failed(&mut self, slot: usize, error: &StartError) {
        let Some(child) = self.kids.get_mut(slot) else {
            return;
        };
        let text = error.to_string();
        if child
            .crashes
            .crash(Instant::now(), &text, self.me, &child.spec.id)
        {
            tracing::warn!(supervisor = %self.me, child = %child.spec.id, error = %text, "child failed to start");
        }
        child.state = ChildState::Restarting;
        let error = ExitError::new(format!("failed to start: {error}"));
        self.failed_starts.push_back((slot, child.seq, error));
    }

    fn launch_or_retry(&mut self, slot: usize) {
        if let Err(e) = self.launch(slot) {
            self.start_failed(slot, &e);
        }
    }

    /// The child in `slot` has ended (its pid is already cleared) with
    /// `result` (`ran`: its process ended; else its start failed, which
    /// has been logged): restart it, and the siblings its strategy names,
    /// or not. Err when the restart intensity is reached.
    async fn on_end(
        &mut self,
        slot: usize,
        result: ExitResult,
        ran: bool,
    ) -> Result<(), ExitError> {
        let now = Instant::now();
        let me = self.me;
        let Some(child) = self.kids.get_mut(slot) else {
            return Ok(());
        };
        child.nested = None;
        let failed = match result {
            Ok(value) => {
                tracing::info!(supervisor = %me, child = %child.spec.id, %value, "child exited");
                false
            }
            Err(error) => {
                if ran
                    && child
                        .crashes
                        .crash(now, error.message(), me, &child.spec.id)
                {
                    tracing::warn!(supervisor = %me, child = %child.spec.id, error = error.message(), "child crashed");
                }
                child.last_error = Some(error);
                true
            }
        };
        match (child.spec.restart, failed) {
            (Restart::Temporary, _) => {
                self.kids.remove(slot);
                return Ok(());
            }
            (Restart::Transient, false) => {
                child.state = ChildState::Exited;
                return Ok(());
            }
            _ => {}
        }
        // An error that says retrying cannot help (Wippy: `retryable =
        // false`, which `return nil, "text"` from a Lua process gives) is
        // final: the child is not restarted (reference §8.3).
        if failed
            && let Some(error) = &child.last_error
            && error.is_retryable() == Some(false)
        {
            child.state = ChildState::GivenUp;
            tracing::warn!(
                supervisor = %me,
                child = %child.spec.id,
                error = error.message(),
                "not restarting child: its error is not retryable"
            );
            return Ok(());
        }
        let mut delay = Duration::ZERO;
        if let Some(backoff) = child.spec.backoff {
            if !failed || now.saturating_duration_since(child.started) >= backoff.stable_threshold {
                child.failures = 0;
            }
            if failed {
                child.failures += 1;
                if backoff.gives_up(child.failures) {
                    child.state = ChildState::GivenUp;
                    child.crashes.report_suppressed(me, &child.spec.id);
                    let error = child.last_error.as_ref().map(ToString::to_string);
                    tracing::warn!(
                        supervisor = %me,
                        child = %child.spec.id,
                        failures = child.failures,
                        error = error.as_deref().unwrap_or(""),
                        "giving up on child: it failed too often in a row"
                    );
                    return Ok(());
                }
                delay = backoff.delay_for(child.failures, self.jitter.next_unit());
            }
        }
        if !self.window.admit(now) {
            let intensity = self.intensity;
            tracing::error!(
                supervisor = %me,
                max_restarts = intensity.max_restarts,
                period = ?intensity.period,
                "supervisor reached its restart intensity; stopping"
            );
            return Err(ExitError::new(format!(
                "supervisor {me} reached its restart intensity: more than {} restarts in {:?}",
                intensity.max_restarts, intensity.period
            )));
        }
        match self.strategy {
            Strategy::OneForOne | Strategy::SimpleOneForOne => self.restart(slot, delay),
            Strategy::OneForAll => self.restart_group(slot, delay, false).await,
            Strategy::RestForOne => self.restart_group(slot, delay, true).await,
        }
        Ok(())
    }

    /// Restarts the child in `slot` now, or schedules it after `delay`.
    fn restart(&mut self, slot: usize, delay: Duration) {
        let me = self.me;
        let Some(child) = self.kids.get_mut(slot) else {
            return;
        };
        child.restarts += 1;
        let attempt = match child.spec.backoff {
            Some(_) => child.failures,
            None => child.restarts,
        };
        if child.crashes.quiet() {
            tracing::debug!(supervisor = %me, child = %child.spec.id, attempt, delay = %Seconds(delay), "restarting child");
        } else {
            tracing::info!(supervisor = %me, child = %child.spec.id, attempt, delay = %Seconds(delay), "restarting child");
        }
        if delay.is_zero() {
            self.launch_or_retry(slot);
        } else {
            let at = Instant::now() + delay;
            child.state = ChildState::Restarting;
            child.due = Some(at);
            self.due.push(Reverse((at, child.seq, slot)));
        }
    }

    /// `one_for_all` (`rest_only` false) or `rest_for_one`: stops the
    /// siblings of `failed` (all of them, or those started after it) in
    /// reverse start order, then restarts them all in start order.
    /// Temporary siblings are forgotten; given-up ones stay down.
    async fn restart_group(&mut self, failed: usize, delay: Duration, rest_only: bool) {
        let Some(pivot) = self.kids.get(failed).map(|c| c.seq) else {
            return;
        };
        let group: Vec<usize> = self
            .kids
            .in_order()
            .into_iter()
            .filter(|&s| !rest_only || self.kids.get(s).is_some_and(|c| c.seq >= pivot))
            .collect();
        for &slot in group.iter().rev() {
            if slot != failed {
                self.shut(slot).await;
            }
        }
        for slot in group {
            let Some(child) = self.kids.get(slot) else {
                continue;
            };
            if slot != failed && child.spec.restart == Restart::Temporary {
                self.kids.remove(slot);
            } else if child.state != ChildState::GivenUp {
                self.restart(slot, delay);
            }
        }
    }

    /// Starts the children whose restart is due.
    fn restart_due(&mut self) {
        let now = Instant::now();
        while let Some(&Reverse((at, seq, slot))) = self.due.peek() {
            if at > now {
                break;
            }
            self.due.pop();
            if self
                .kids
                .get(slot)
                .is_some_and(|c| c.seq == seq && c.due == Some(at))
            {
                self.launch_or_retry(slot);
            }
        }
    }

    /// Waits for a request, an event or `deadline`. Requests come first,
    /// so a stream of crashes cannot keep a stop waiting.
    async fn next(&mut self, deadline: Option<Instant>) -> Wake {
        if let Some(event) = self.stash.pop_front() {
            return Wake::Event(event);
        }
        let cx = &self.cx;
        let mut sleep = deadline.map(|d| cx.sleep(d.saturating_duration_since(Instant::now())));
        std::future::poll_fn(|task| {
            while let Some(m) = cx.try_recv() {
                if m.topic == CALL {
                    return Poll::Ready(Wake::Call);
                }
                tracing::debug!(supervisor = %cx.pid(), topic = %m.topic, "supervisor ignores a message");
            }
            if let Some(e) = cx.try_event() {
                return Poll::Ready(Wake::Event(e));
            }
            if let Some(s) = sleep.as_mut()
                && Pin::new(s).poll(task).is_ready()
            {
                return Poll::Ready(Wake::Timer);
            }
            Poll::Pending
        })
        .await
    }

    /// Serves the queued requests; true if one asks the supervisor to stop.
    async fn serve_requests(&mut self) -> bool {
        let mut stop = false;
        for request in self.shared().take_requests() {
            match request {
                Request::Stop => stop = true,
                Request::WhichChildren(reply) => {
                    let _ = reply.send(self.kids.infos());
                }
                Request::CountChildren(reply) => {
                    let _ = reply.send(self.kids.counts());
                }
                Request::StartChild(spec, reply) => {
                    let _ = reply.send(self.add_child(*spec));
                }
                Request::StartInstance(args, reply) => {
                    let _ = reply.send(self.add_instance(args));
                }
                Request::TerminateChild(child, reply) => {
                    let _ = reply.send(self.terminate_child(child).await);
                }
            }
        }
        stop
    }

    fn add_child(&mut self, spec: ChildSpec) -> Result<Pid, SuperviseError> {
        if self.strategy == Strategy::SimpleOneForOne {
            return Err(SuperviseError::WrongStrategy {
                operation: "start_child",
                strategy: self.strategy,
                hint: "start instances of the template with start_instance",
            });
        }
        if self.kids.slot_of_id(&spec.id).is_some() {
            return Err(SuperviseError::DuplicateChild {
                id: spec.id.to_string(),
            });
        }
        let bound = spec.shutdown.bound();
        let slot = self.kids.insert(Arc::new(spec), Vec::new());
        self.launch_new(slot).inspect(|_| {
            self.shared()
                .set_stop_bound(self.shared().stop_bound() + bound);
        })
    }

    fn add_instance(&mut self, args: Vec<Payload>) -> Result<Pid, SuperviseError> {
        let Some(template) = self.template.clone() else {
            return Err(SuperviseError::WrongStrategy {
                operation: "start_instance",
                strategy: self.strategy,
                hint: "add named children with start_child",
            });
        };
        let slot = self.kids.insert(template, args);
        self.launch_new(slot)
    }

    /// Starts a child just added; a child that fails to start is forgotten.
    fn launch_new(&mut self, slot: usize) -> Result<Pid, SuperviseError> {
        self.launch(slot).map_err(|source| {
            let child = self.kids.remove(slot).map(|c| c.spec.id.to_string());
            SuperviseError::StartFailed {
                child: child.unwrap_or_default(),
                source,
            }
        })
    }

    async fn terminate_child(&mut self, child: crate::ChildRef) -> Result<(), SuperviseError> {
        let slot = match &child {
            crate::ChildRef::Id(id) => self.kids.slot_of_id(id),
            crate::ChildRef::Pid(pid) => self.kids.slot_of_pid(*pid),
        };
        let Some(slot) = slot else {
            return Err(SuperviseError::NoSuchChild {
                child: child.to_string(),
                pid: self.me,
            });
        };
        self.shut(slot).await;
        if let Some(gone) = self.kids.remove(slot)
            && self.strategy != Strategy::SimpleOneForOne
        {
            let bound = self
                .shared()
                .stop_bound()
                .saturating_sub(gone.spec.shutdown.bound());
            self.shared().set_stop_bound(bound);
        }
        Ok(())
    }
}
