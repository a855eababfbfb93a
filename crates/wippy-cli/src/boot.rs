//! Assembling a running app from its registry: runtime, hosts, services.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use wippy_cluster::{Cluster, ClusterConfig};
use wippy_host::registry::{EntryId, EntryKind, EntrySpec, Lifecycle, Registry, Startup};
use wippy_host::{App, SpawnContext, SpawnRequest, Terminal};
use wippy_lua::{CodeCache, HostSecurity, LuaHost, LuaHostConfig};
use wippy_process::{
    ExitResult, NativeHost, NodeId, Payload, Pid, Runtime, RuntimeConfig, SpawnOptions,
};
use wippy_supervise::{
    Backoff, ChildSpec, Intensity, Restart, Shutdown, Strategy, SuperviseError, Supervisor,
    SupervisorSpec, start_order,
};

/// Name of the terminal host added to apps that declare none.
pub const DEFAULT_TERMINAL: &str = "wippy:terminal";

/// A running app.
pub struct Booted {
    /// The runtime (node, timers, schedulers).
    pub rt: Runtime,
    /// The app: registry and hosts.
    pub app: Arc<App>,
    /// Compiled code of the app's entries, shared by every Lua host.
    pub code: Arc<CodeCache>,
    /// The host `run -x` runs its entry on.
    pub terminal: String,
    /// Whether that host asks for no logs on stderr while it runs an
    /// entry (`hide_logs`).
    pub hide_logs: bool,
    /// That host's `lifecycle.stop_timeout`: how long an interrupted
    /// `run -x` entry has between its CANCEL and being terminated.
    pub terminal_stop: Duration,
    /// Native host of the CLI's own processes (supervisor, waiters).
    pub native: NativeHost,
    /// The root supervisor: the app's services started at boot are its
    /// children.
    pub supervisor: Supervisor,
    /// The Lua hosts started, terminal hosts first (for `wippy top`).
    pub hosts: Vec<Arc<LuaHost>>,
    /// This node's cluster membership (`--cluster URL --node NAME`).
    pub cluster: Option<Cluster>,
}

/// `run --cluster URL --node NAME`: the NATS server(s) of the cluster and
/// this node's name in it, each over the app's `cluster.nats` entry.
#[derive(Debug, Clone, Default)]
pub struct ClusterArgs {
    /// NATS URL(s), comma-separated.
    pub url: Option<String>,
    /// The node's name (letters, digits, `-`, `_`).
    pub node: Option<String>,
}

/// What a node needs to join its cluster.
struct Joining {
    /// The node's name.
    node: String,
    config: ClusterConfig,
}

/// The cluster this node joins: the app's `cluster.nats` entry (its
/// servers, credentials, TLS files...) with `--cluster` and `--node` over
/// its `url` and `node`; none when neither the app nor the flags name one.
fn joining(registry: &Registry, flags: &ClusterArgs) -> Result<Option<Joining>, String> {
    let entry = registry
        .of_kind(EntryKind::ClusterNats)
        .find_map(|e| match &e.spec {
            EntrySpec::Cluster(c) => Some((e, c)),
            _ => None,
        });
    if entry.is_none() && flags.url.is_none() && flags.node.is_none() {
        return Ok(None);
    }
    let url = match (&flags.url, entry) {
        (Some(url), _) => url.clone(),
        (None, Some((_, spec))) => spec.url.clone(),
        (None, None) => {
            return Err(
                "--node needs the cluster's servers: --cluster URL, or a cluster.nats entry in the app"
                    .into(),
            );
        }
    };
    let node = match (&flags.node, entry) {
        (Some(node), _) => node.clone(),
        (None, Some((_, spec))) if spec.node.is_some() => spec.node.clone().unwrap_or_default(),
        (None, Some((e, _))) => {
            return Err(format!(
                "this node needs a name in the cluster: --node NAME (or node: in {} at {}:{})",
                e.id,
                e.file.display(),
                e.line
            ));
        }
        (None, None) => return Err("--cluster needs this node's name: --node NAME".into()),
    };
    let mut config = ClusterConfig::new(url);
    if let Some((_, spec)) = entry {
        if let Some(prefix) = &spec.prefix {
            config.prefix = prefix.clone();
        }
        if let Some(replicas) = spec.replicas {
            config.replicas = replicas;
        }
        config.credentials_file = spec.credentials.clone();
        config.tls_ca = spec.tls_ca.clone();
        config.tls_client = spec.tls_client.clone();
        config.tls_required = spec.tls_required;
    }
    Ok(Some(Joining { node, config }))
}

/// The runtime's settings: in a cluster, pids carry this node's identity
/// (its name and an incarnation chosen now).
fn runtime_config(joining: Option<&Joining>) -> Result<RuntimeConfig, String> {
    let mut config = RuntimeConfig::default();
    if let Some(j) = joining {
        config.node = NodeId::starting(&j.node).map_err(|e| format!("--node: {e}"))?;
    }
    Ok(config)
}

/// Joins the cluster, after the hosts start (remote spawns find them) and
/// before the services (they may register global names).
fn join_cluster(
    rt: &Runtime,
    app: &Arc<App>,
    joining: Option<Joining>,
) -> Result<Option<Cluster>, String> {
    let Some(j) = joining else {
        return Ok(None);
    };
    let url = j.config.url.clone();
    let joined = Cluster::join(rt, app.clone(), j.config)
        .map_err(|e| format!("cannot join the cluster: {e}"))?;
    tracing::info!(node = %joined.node_id(), url = %url, "joined the cluster");
    Ok(Some(joined))
}

/// Starts the runtime, the auto-start hosts and the services of the app
/// whose code is `code` (an app that passed `preflight`), on the cluster
/// when `cluster` is given and it, or the app, names one.
pub fn boot(
    code: Arc<CodeCache>,
    workers: usize,
    args: Vec<String>,
    cluster: Option<&ClusterArgs>,
) -> Result<Booted, String> {
    let registry = code.registry().clone();
    let joining = match cluster {
        Some(flags) => joining(&registry, flags)?,
        None => None,
    };
    let rt = Runtime::new(runtime_config(joining.as_ref())?).map_err(|e| e.to_string())?;
    let app = App::new(rt.node().clone(), registry.clone());
    let term = Terminal::new(args);
    // The first terminal host is the one `run -x` uses.
    let mut terminal = None;
    let mut hosts = Vec::new();
    let policies = app.policies();
    for e in registry.of_kind(EntryKind::TerminalHost) {
        let mut cfg = LuaHostConfig::terminal(e.id.as_str(), term.clone());
        let mut hide_logs = false;
        let mut stop = Lifecycle::default().stop_timeout;
        if let EntrySpec::Terminal(spec) = &e.spec {
            cfg.security = HostSecurity::from_spec(None, spec.accept_from.as_deref(), policies)
                .map_err(|err| format!("cannot start host {}: {err}", e.id))?;
            hide_logs = spec.hide_logs;
            stop = spec.lifecycle.stop_timeout;
        }
        hosts.push(LuaHost::start(&rt, &app, code.clone(), cfg).map_err(|e| e.to_string())?);
        terminal.get_or_insert_with(|| (e.id.to_string(), hide_logs, stop));
    }
    let (terminal, hide_logs, terminal_stop) = match terminal {
        Some(t) => t,
        None => {
            let cfg = LuaHostConfig::terminal(DEFAULT_TERMINAL, term.clone());
            hosts.push(LuaHost::start(&rt, &app, code.clone(), cfg).map_err(|e| e.to_string())?);
            let stop = Lifecycle::default().stop_timeout;
            (DEFAULT_TERMINAL.to_owned(), false, stop)
        }
    };
    let at_boot = started_at_boot(&registry);
    for e in registry.of_kind(EntryKind::ProcessHost) {
        let EntrySpec::Host(spec) = &e.spec else {
            continue;
        };
        if !at_boot.contains(&e.id) {
            continue;
        }
        let mut cfg = LuaHostConfig::from_spec(e.id.as_str(), spec, workers, policies)
            .map_err(|err| format!("cannot start host {}: {err}", e.id))?;
        cfg.release_memory = Some(crate::release_memory);
        hosts.push(
            LuaHost::start(&rt, &app, code.clone(), cfg)
                .map_err(|err| format!("cannot start host {}: {err}", e.id))?,
        );
    }
    let native = rt
        .native_host("wippy:system", 1)
        .map_err(|e| e.to_string())?;
    let cluster = join_cluster(&rt, &app, joining)?;
    let supervisor = start_services(&app, &registry, &at_boot, &native)?;
    Ok(Booted {
        rt,
        app,
        code,
        terminal,
        hide_logs,
        terminal_stop,
        native,
        supervisor,
        hosts,
        cluster,
    })
}

/// The lifecycle of a host or service entry.
fn lifecycle(spec: &EntrySpec) -> Option<&Lifecycle> {
    match spec {
        EntrySpec::Host(h) => Some(&h.lifecycle),
        EntrySpec::Terminal(t) => Some(&t.lifecycle),
        EntrySpec::Service(s) => Some(&s.lifecycle),
        _ => None,
    }
}

/// The entries started at boot: the `auto_start` ones and, as in Wippy,
/// every entry they `require`, directly or not.
fn started_at_boot(registry: &Registry) -> BTreeSet<EntryId> {
    let mut todo: Vec<&EntryId> = registry
        .entries()
        .filter(|e| lifecycle(&e.spec).is_some_and(|l| l.auto_start))
        .map(|e| &e.id)
        .collect();
    let mut started = BTreeSet::new();
    while let Some(id) = todo.pop() {
        if !started.insert(id.clone()) {
            continue;
        }
        if let Some(l) = registry.get(id).and_then(|e| lifecycle(&e.spec)) {
            todo.extend(&l.requires);
        }
    }
    started
}

/// Starts the root supervisor with the services of `at_boot` as its
/// children, in `requires` order. A required service that cannot start
/// fails the boot; an optional one is retried as after a crash.
fn start_services(
    app: &Arc<App>,
    registry: &Registry,
    at_boot: &BTreeSet<EntryId>,
    native: &NativeHost,
) -> Result<Supervisor, String> {
    let services: Vec<_> = registry
        .of_kind(EntryKind::Service)
        .filter(|e| at_boot.contains(&e.id))
        .filter_map(|e| match &e.spec {
            EntrySpec::Service(s) => Some((e.id.clone(), s.clone())),
            _ => None,
        })
        .collect();
    let deps: Vec<(String, Vec<String>)> = services
        .iter()
        .map(|(id, s)| {
            (
                id.to_string(),
                s.lifecycle.requires.iter().map(|d| d.to_string()).collect(),
            )
        })
        .collect();
    let order = start_order(&deps).map_err(|e| format!("services: {e}"))?;
    let mut children = Vec::new();
    for ix in order {
        let (id, spec) = &services[ix];
        // Services run as the actor their lifecycle.security names; with
        // none, as the system actor.
        let context = match &spec.lifecycle.security {
            Some(sec) => SpawnContext::default().with_principal(
                sec.principal(app.policies())
                    .map_err(|err| format!("service {id}: {err}"))?,
            ),
            None => SpawnContext::default(),
        };
        let lc = &spec.lifecycle;
        let app = Arc::downgrade(app);
        let host = spec.host.to_string();
        let entry = spec.process.clone();
        let input = spec.input.clone();
        let child = ChildSpec::new(id.to_string(), move |opts: SpawnOptions, _: &[Payload]| {
            let app = app.upgrade().ok_or("the app is shutting down")?;
            Ok(app.spawn(
                &host,
                SpawnRequest {
                    entry: entry.clone(),
                    args: input.clone(),
                    opts,
                    context: context.clone(),
                },
            )?)
        })
        // Wippy: a clean exit is not restarted, a failure is.
        .restart(Restart::Transient)
        .shutdown(Shutdown::Timeout(lc.stop_timeout))
        .start_timeout(lc.start_timeout)
        .backoff(Backoff {
            initial_delay: lc.restart.initial_delay,
            backoff_factor: lc.restart.backoff_factor,
            max_delay: lc.restart.max_delay,
            jitter: lc.restart.jitter,
            max_attempts: lc.restart.max_attempts,
            stable_threshold: lc.stable_threshold,
        });
        children.push(match lc.startup {
            Startup::Required => child,
            Startup::Optional => child.optional(),
        });
    }
    // Services are given up one by one (max_attempts), never all at once.
    let spec = SupervisorSpec {
        strategy: Strategy::OneForOne,
        intensity: Intensity::UNLIMITED,
        children,
    };
    Supervisor::start(native, spec).map_err(|e| match e {
        SuperviseError::StartFailed { child, source } => {
            format!("service {child} failed to start: {source}")
        }
        SuperviseError::StartTimeout { child, limit } => {
            format!("service {child} did not start within {limit:?}")
        }
        other => format!("cannot start the services: {other}"),
    })
}

impl Booted {
    /// Runs `entry` on `host` in a process monitored by a native waiter;
    /// returns the process's pid and a receiver of its result.
    pub fn run_entry(
        &self,
        host: &str,
        entry: &str,
        args: Vec<Payload>,
    ) -> Result<(Pid, std::sync::mpsc::Receiver<ExitResult>), String> {
        let entry = entry
            .parse()
            .map_err(|e: wippy_host::ParseError| e.to_string())?;
        let (tx, rx) = std::sync::mpsc::channel();
        let app = self.app.clone();
        let host = host.to_owned();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        self.native
            .spawn_async(SpawnOptions::default(), move |cx| async move {
                let req = SpawnRequest {
                    entry,
                    args,
                    opts: SpawnOptions::default().parent(cx.pid()).monitored(),
                    context: SpawnContext::default(),
                };
                match app.spawn(&host, req) {
                    Ok(child) => {
                        started_tx.send(Ok(child)).ok();
                        loop {
                            if let wippy_process::Event::Exit { from, result } =
                                cx.next_event().await
                                && from == child
                            {
                                tx.send(result).ok();
                                break;
                            }
                        }
                    }
                    Err(e) => {
                        started_tx.send(Err(e.to_string())).ok();
                    }
                }
                Ok(Payload::Nil)
            })
            .map_err(|e| e.to_string())?;
        let pid = started_rx
            .recv()
            .map_err(|_| "the runner process died".to_owned())??;
        Ok((pid, rx))
    }

    /// Graceful shutdown: services stopped in reverse order, each within its
    /// stop timeout; then CANCEL to every other process, which gets `grace`
    /// to end; then hosts and runtime shut down. Returns once done, or after
    /// the services' stop timeouts plus `grace` plus a second, whichever
    /// comes first.
    pub fn shutdown(self, grace: Duration) {
        let Booted {
            rt,
            app,
            supervisor,
            cluster,
            ..
        } = self;
        let services = supervisor.stop_bound();
        let done = std::thread::spawn(move || {
            supervisor.stop(services);
            // Leave the cluster before the processes go: the other nodes
            // end their relations with ours at once, not a timeout later.
            if let Some(c) = cluster {
                c.shutdown();
            }
            let node = rt.node().clone();
            for cell in node.cells() {
                let _ = node.cancel(None, cell.pid(), grace / 2, "runtime stopping");
            }
            let deadline = std::time::Instant::now() + grace / 2;
            while node.stats().live > 2 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            app.shutdown(grace);
            rt.shutdown();
        });
        let deadline = std::time::Instant::now() + services + grace + Duration::from_secs(1);
        while !done.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// The process exit code for an entry's result (see `cli.md`).
pub fn exit_code(result: &ExitResult) -> u8 {
    match result {
        Ok(Payload::Nil) | Ok(Payload::Bool(true)) => 0,
        Ok(Payload::Bool(false)) => 1,
        Ok(Payload::Int(n)) => (*n).clamp(0, 255) as u8,
        Ok(Payload::Float(f)) if f.fract() == 0.0 => f.clamp(0.0, 255.0) as u8,
        // Several return values: the first decides.
        Ok(Payload::Array(items)) if !items.is_empty() => exit_code(&Ok(items[0].clone())),
        Ok(_) => 0,
        Err(_) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wippy_process::ExitError;

    #[test]
    fn exit_codes_follow_the_cli_spec() {
        assert_eq!(exit_code(&Ok(Payload::Nil)), 0);
        assert_eq!(exit_code(&Ok(Payload::Bool(true))), 0);
        assert_eq!(exit_code(&Ok(Payload::Int(0))), 0);
        assert_eq!(exit_code(&Ok(Payload::Bool(false))), 1);
        assert_eq!(exit_code(&Ok(Payload::Int(3))), 3);
        assert_eq!(exit_code(&Err(ExitError::new("boom"))), 1);
    }

    fn app(index: &str) -> Registry {
        Registry::load_files([("srv/_index.yaml", index)]).unwrap()
    }

    const CLUSTER: &str = r#"
version: "1.0"
namespace: app
entries:
  - name: cluster
    kind: cluster.nats
    url: nats://n1:4222
    prefix: shop
    credentials: app.creds
"#;

    #[test]
    fn the_flags_override_the_apps_cluster_entry_and_either_may_be_missing() {
        let flags = |url: Option<&str>, node: Option<&str>| ClusterArgs {
            url: url.map(Into::into),
            node: node.map(Into::into),
        };
        let plain = app("version: \"1.0\"\nnamespace: app\nentries: []\n");
        assert!(joining(&plain, &flags(None, None)).unwrap().is_none());
        let j = joining(&plain, &flags(Some("nats://h:1"), Some("a")))
            .unwrap()
            .unwrap();
        assert_eq!(
            (j.node.as_str(), j.config.url.as_str()),
            ("a", "nats://h:1")
        );
        assert!(
            joining(&plain, &flags(None, Some("a")))
                .err()
                .unwrap()
                .contains("--cluster URL")
        );

        let clustered = app(CLUSTER);
        let needs_name = joining(&clustered, &flags(None, None)).err().unwrap();
        assert!(
            needs_name.contains("--node NAME") && needs_name.contains("app:cluster"),
            "{needs_name}"
        );
        let j = joining(&clustered, &flags(None, Some("b")))
            .unwrap()
            .unwrap();
        assert_eq!(j.config.url, "nats://n1:4222");
        assert_eq!(j.config.prefix, "shop");
        assert_eq!(
            j.config.credentials_file.as_deref(),
            Some(std::path::Path::new("srv/app.creds"))
        );
        let j = joining(&clustered, &flags(Some("nats://other:4222"), Some("b")))
            .unwrap()
            .unwrap();
        assert_eq!(j.config.url, "nats://other:4222", "--cluster wins");
        assert_eq!(j.config.prefix, "shop", "the app's other settings stay");
    }
}
