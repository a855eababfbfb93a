//! The service supervisor: a native process that starts services in
//! dependency order, monitors them, restarts failed ones with backoff, and
//! stops them in reverse order.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::task::Poll;
use std::time::{Duration, Instant};

use wippy_process::{Ctx, Event, NativeHost, Payload, Pid, SpawnOptions};

use crate::backoff::{Jitter, RestartPolicy};
use crate::error::SuperviseError;

/// Starts one instance of a service with the given options (parent and
/// monitor are set by the supervisor); returns its pid or why it failed.
pub type StartFn = Arc<dyn Fn(SpawnOptions) -> Result<Pid, String> + Send + Sync>;

/// A service the supervisor keeps alive.
#[derive(Clone)]
pub struct Service {
    /// Its name (the `process.service` entry id), for logs and status.
    pub name: String,
    /// When to restart it.
    pub restart: RestartPolicy,
    /// How long it may take to stop after CANCEL before it is terminated.
    pub stop_timeout: Duration,
    /// How to start it.
    pub start: StartFn,
}

/// What the supervisor knows of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceStatus {
    /// The service's name.
    pub name: String,
    /// Its current process, if running.
    pub pid: Option<Pid>,
    /// Restarts so far.
    pub restarts: u32,
    /// Whether restarts were given up after too many failures.
    pub given_up: bool,
}

/// How long past a service's stop timeout the supervisor waits for its
/// EXIT: the kernel terminates it at the timeout, and the EXIT takes a
/// moment to arrive.
const EXIT_GRACE: Duration = Duration::from_millis(500);

/// A running supervisor.
pub struct Supervisor {
    pid: Pid,
    host: NativeHost,
    /// The longest [`Supervisor::stop`] can take (see [`Supervisor::stop_bound`]).
    stop_bound: Duration,
    status: Arc<Mutex<Vec<ServiceStatus>>>,
    stopped: Mutex<Option<mpsc::Receiver<()>>>,
}

struct Running {
    svc: Service,
    pid: Option<Pid>,
    started: Instant,
    failures: u32,
    restart_at: Option<Instant>,
}

impl Supervisor {
    /// Spawns the supervisor on `host`; it starts `services` in the given
    /// order (see [`crate::start_order`]).
    pub fn start(host: &NativeHost, services: Vec<Service>) -> Result<Supervisor, SuperviseError> {
        let status = Arc::new(Mutex::new(
            services
                .iter()
                .map(|s| ServiceStatus {
                    name: s.name.clone(),
                    pid: None,
                    restarts: 0,
                    given_up: false,
                })
                .collect::<Vec<_>>(),
        ));
        // Services stop one after another, each within its stop timeout.
        let stop_bound = services
            .iter()
            .map(|s| s.stop_timeout + EXIT_GRACE)
            .sum::<Duration>()
            + EXIT_GRACE;
        let (stopped_tx, stopped_rx) = mpsc::channel();
        let st = status.clone();
        let pid = host
            .spawn_async(SpawnOptions::default(), move |cx| async move {
                supervise(cx, services, st).await;
                stopped_tx.send(()).ok();
                Ok(Payload::Nil)
            })
            .map_err(|e| SuperviseError::Start(e.to_string()))?;
        Ok(Supervisor {
            pid,
            host: host.clone(),
            stop_bound,
            status,
            stopped: Mutex::new(Some(stopped_rx)),
        })
    }

    /// The supervisor's pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// A snapshot of every service's state.
    pub fn status(&self) -> Vec<ServiceStatus> {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The longest [`Supervisor::stop`] takes when every service uses its
    /// whole stop timeout: services stop one after another, so it is the
    /// sum of their stop timeouts, plus a moment per service for its EXIT
    /// to arrive.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use wippy_process::{Runtime, SpawnOptions};
    /// use wippy_supervise::{RestartPolicy, Service, Supervisor};
    ///
    /// let rt = Runtime::new(Default::default()).unwrap();
    /// let host = rt.native_host("doc:system", 1).unwrap();
    /// let svc = |secs| Service {
    ///     name: format!("doc:svc{secs}"),
    ///     restart: RestartPolicy::never(),
    ///     stop_timeout: Duration::from_secs(secs),
    ///     start: Arc::new(|_: SpawnOptions| Err("not started".to_owned())),
    /// };
    /// let sup = Supervisor::start(&host, vec![svc(10), svc(3)]).unwrap();
    /// assert!(sup.stop_bound() >= Duration::from_secs(13));
    /// assert!(sup.stop_bound() < Duration::from_secs(16));
    /// assert!(sup.stop(sup.stop_bound()));
    /// ```
    pub fn stop_bound(&self) -> Duration {
        self.stop_bound
    }

    /// Stops every service in reverse start order (CANCEL, then terminate
    /// after its stop timeout) and waits for the supervisor to finish, at
    /// most `limit` ([`Supervisor::stop_bound`] is enough for every service
    /// to use its whole stop timeout). Returns false if it did not finish
    /// in time.
    pub fn stop(&self, limit: Duration) -> bool {
        let Some(rx) = self
            .stopped
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return true;
        };
        if self
            .host
            .node()
            .send(None, self.pid, "stop", Payload::Nil)
            .is_err()
        {
            return false;
        }
        rx.recv_timeout(limit).is_ok()
    }
}

enum Wake {
    Stop,
    Event(Event),
    Timer,
}

/// Waits for a message, an event, or `deadline`.
async fn next(cx: &Ctx, deadline: Option<Instant>) -> Wake {
    let mut sleep = deadline.map(|d| cx.sleep(d.saturating_duration_since(Instant::now())));
    std::future::poll_fn(|task| {
        if let Some(m) = cx.try_recv() {
            if m.topic == "stop" {
                return Poll::Ready(Wake::Stop);
            }
            tracing::debug!(topic = %m.topic, "supervisor ignores message");
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

fn start_one(cx: &Ctx, r: &mut Running) {
    let opts = SpawnOptions::default().parent(cx.pid()).monitored();
    r.started = Instant::now();
    match (r.svc.start)(opts) {
        Ok(pid) => {
            tracing::info!(service = %r.svc.name, %pid, "service started");
            r.pid = Some(pid);
        }
        Err(e) => {
            tracing::error!(service = %r.svc.name, "service failed to start: {e}");
            r.pid = None;
            r.restart_at = Some(Instant::now());
            r.failures += 1;
        }
    }
}

async fn supervise(cx: Ctx, services: Vec<Service>, status: Arc<Mutex<Vec<ServiceStatus>>>) {
    let mut jitter = Jitter::new();
    let mut run: Vec<Running> = services
        .into_iter()
        .map(|svc| Running {
            svc,
            pid: None,
            started: Instant::now(),
            failures: 0,
            restart_at: None,
        })
        .collect();
    let publish = |run: &[Running]| {
        let mut st = status.lock().unwrap_or_else(PoisonError::into_inner);
        for (s, r) in st.iter_mut().zip(run) {
            s.pid = r.pid;
        }
    };
    for r in run.iter_mut() {
        start_one(&cx, r);
        if r.pid.is_none() {
            schedule_restart(r, &mut jitter, &status);
        }
    }
    publish(&run);
    loop {
        let deadline = run.iter().filter_map(|r| r.restart_at).min();
        match next(&cx, deadline).await {
            Wake::Stop => break,
            Wake::Timer => {
                let now = Instant::now();
                for (i, r) in run.iter_mut().enumerate() {
                    if r.restart_at.is_some_and(|t| t <= now) {
                        r.restart_at = None;
                        start_one(&cx, r);
                        status.lock().unwrap_or_else(PoisonError::into_inner)[i].restarts += 1;
                        if r.pid.is_none() {
                            schedule_restart(r, &mut jitter, &status);
                        }
                    }
                }
            }
            Wake::Event(Event::Exit { from, result }) => {
                let Some(r) = run.iter_mut().find(|r| r.pid == Some(from)) else {
                    continue;
                };
                r.pid = None;
                match result {
                    Ok(value) => {
                        tracing::info!(service = %r.svc.name, %from, %value, "service exited")
                    }
                    Err(e) => {
                        tracing::error!(service = %r.svc.name, %from, "service crashed: {e}");
                        if r.started.elapsed() >= r.svc.restart.stable_threshold {
                            r.failures = 0;
                        }
                        r.failures += 1;
                        schedule_restart(r, &mut jitter, &status);
                    }
                }
            }
            Wake::Event(other) => tracing::debug!(?other, "supervisor ignores event"),
        }
        publish(&run);
    }
    // Stop in reverse start order.
    for r in run.iter_mut().rev() {
        r.restart_at = None;
        let Some(pid) = r.pid.take() else { continue };
        if cx
            .node()
            .cancel(Some(cx.pid()), pid, r.svc.stop_timeout)
            .is_err()
        {
            continue;
        }
        let limit = Instant::now() + r.svc.stop_timeout + EXIT_GRACE;
        loop {
            match next(&cx, Some(limit)).await {
                Wake::Event(Event::Exit { from, result }) if from == pid => {
                    match result {
                        Ok(value) => {
                            tracing::info!(service = %r.svc.name, %pid, %value, "service exited")
                        }
                        Err(e) => {
                            tracing::warn!(service = %r.svc.name, %pid, "service ended with an error while stopping: {e}")
                        }
                    }
                    break;
                }
                Wake::Timer => {
                    tracing::warn!(service = %r.svc.name, %pid, "service did not stop in time");
                    break;
                }
                _ => {}
            }
        }
        tracing::info!(service = %r.svc.name, "service stopped");
    }
    publish(&run);
}

fn schedule_restart(r: &mut Running, jitter: &mut Jitter, status: &Mutex<Vec<ServiceStatus>>) {
    if r.svc.restart.allows(r.failures) {
        let delay = r.svc.restart.delay_for(r.failures, jitter.next_unit());
        tracing::info!(service = %r.svc.name, attempt = r.failures, ?delay, "restarting service");
        r.restart_at = Some(Instant::now() + delay);
    } else {
        // A failed start left a restart due now; a given-up service has none.
        r.restart_at = None;
        tracing::error!(service = %r.svc.name, failures = r.failures, "service failed too often; giving up");
        let mut st = status.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = st.iter_mut().find(|s| s.name == r.svc.name) {
            s.given_up = true;
        }
    }
}
