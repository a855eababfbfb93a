//! Spawning from Lua: `process.spawn*`, the Spawner's methods
//! (`process.with_context(...):spawn(...)`, through `rt.spawn`), the
//! process of `process.exec` (`rt.exec_spawn`) and `funcs.call`'s process.
//!
//! Checked (`docs/security.md`): `process.spawn` (`process.exec` for
//! exec) on the entry, `process.spawn.host` on the host, and, when the
//! child gets another actor or scope, that the caller may grant them.
//! Failures are `nil, err` with Wippy's kinds: Invalid arguments,
//! PermissionDenied `not allowed to spawn process: <id>` / `not allowed to
//! spawn on host: <host>`, NotFound `host not found` / `factory not
//! found`; a Spawner's denials raise instead, as Wippy's do.

use mlua::{Lua, MultiValue, Table, Value, Variadic};
use wippy_host::registry::EntryId;
use wippy_host::{HostError, SpawnRequest};
use wippy_process::{ErrorKind, ExitError, Message, Payload, SpawnOptions, Topic};

use crate::api::errors::fail_with;
use crate::api::security::{LuaActor, LuaScope, Object};
use crate::convert::{push_key, to_payload};
use crate::engine::proc_data::ProcData;
use crate::engine::vm::ShardEnv;

/// The arguments of `process.spawn*`: entry, host, then the child's
/// arguments.
type SpawnArgs = (String, String, Variadic<Value>);

/// `process.<name>(entry, host, ...)` → the child's pid string or
/// `nil, err`: a child linked to and/or monitored by the caller, with the
/// caller's context.
pub(crate) fn variant(
    name: &'static str,
    link: bool,
    monitor: bool,
) -> impl Fn(&Lua, &ProcData, &ShardEnv, SpawnArgs) -> mlua::Result<MultiValue> + 'static {
    move |lua, p, env, (entry, host, args)| {
        spawn(lua, p, env, name, &entry, &host, &args, link, monitor)
    }
}

/// Spawns `entry` on `host` with `args` for the caller, whose context the
/// child inherits unchanged (`what` names the call in errors).
#[allow(clippy::too_many_arguments)]
pub(crate) fn spawn(
    lua: &Lua,
    p: &ProcData,
    env: &ShardEnv,
    what: &str,
    entry: &str,
    host: &str,
    args: &[Value],
    link: bool,
    monitor: bool,
) -> mlua::Result<MultiValue> {
    let req = Request::plain(what, "process.spawn", entry, host, args, link, monitor);
    spawn_with(lua, p, env, req)
}

/// `rt.exec_spawn(entry, host, ...)` → the pid of `process.exec`'s child
/// (monitored by the caller, which then waits for its EXIT), or `nil,
/// err`: Invalid for an id without a namespace, else Internal whatever the
/// spawn's failure was (Wippy forces it).
pub(crate) fn exec_spawn(
    lua: &Lua,
    p: &ProcData,
    env: &ShardEnv,
    (entry, host, args): SpawnArgs,
) -> mlua::Result<MultiValue> {
    if entry.parse::<EntryId>().is_err() {
        return fail_with(
            lua,
            ExitError::non_retryable(
                ErrorKind::Invalid,
                "invalid process ID format (namespace:name required)",
            ),
        );
    }
    let req = Request::plain("exec", "process.exec", &entry, &host, &args, false, true);
    let spawned = spawn_with(lua, p, env, req)?;
    match spawned.get(1) {
        // A failure: the same error, as Internal.
        Some(err) => match crate::ffi::error_object::from_value(lua, err) {
            Some(e) => fail_with(lua, e.error.kind_set(ErrorKind::Internal)),
            None => Ok(spawned),
        },
        None => Ok(spawned),
    }
}

/// `rt.spawn(method, spawner, entry, host, ...)`: the Spawner methods (the
/// spawner's `options`, `context`, `actor`, `scope`, `name` and `messages`
/// fields). With a `name` that a process holds already, nothing is
/// started: the messages go to that process, and its pid is returned.
pub(crate) fn spawner(
    lua: &Lua,
    p: &ProcData,
    env: &ShardEnv,
    (method, spawner, entry, host, args): (String, Table, String, String, Variadic<Value>),
) -> mlua::Result<MultiValue> {
    let options: Option<Table> = spawner.raw_get("options")?;
    let context: Option<Value> = spawner.raw_get("context")?;
    let (actor, scope) = (spawner.raw_get("actor")?, spawner.raw_get("scope")?);
    let name: Option<String> = match spawner.raw_get("name")? {
        Some(name) => Some(name),
        None => match &options {
            Some(o) => o.raw_get("process.name")?,
            None => None,
        },
    };
    let messages = spawner_messages(lua, spawner.raw_get("messages")?)?;
    let added = match context.as_ref().map(|c| context_values(lua, c)) {
        None => Vec::new(),
        Some(Ok(values)) => values,
        Some(Err(err)) => return invalid(lua, format!("process.{method}: {err}")),
    };
    let grant = Grant {
        actor: granted::<LuaActor>(actor, "actor")?.map(|a| a.0),
        scope: granted::<LuaScope>(scope, "scope")?.map(|s| s.0),
    };
    let (link, monitor) = match method.as_str() {
        "spawn" => (false, false),
        "spawn_monitored" => (false, true),
        "spawn_linked" => (true, false),
        _ => (true, true),
    };
    if host.contains('@') && name.is_some() {
        return invalid(
            lua,
            format!(
                "process.{method}: with_name names a process of this node, not of another node"
            ),
        );
    }
    let node = &env.host.node;
    // Spawn-or-signal: the holder of the name gets the messages instead.
    if let Some(holder) = name.as_deref().and_then(|n| node.lookup(n)) {
        deliver(env, holder, messages);
        return pid_result(lua, holder);
    }
    let mut req = Request {
        what: &method,
        action: "process.spawn",
        options: options.as_ref(),
        entry: &entry,
        host: &host,
        args: &args,
        added,
        grant,
        link,
        monitor,
        raise_denials: true,
        messages: Vec::new(),
    };
    if host.contains('@') {
        // Answered later: the messages go when the child is known.
        req.messages = messages;
        return spawn_with(lua, p, env, req);
    }
    let spawned = spawn_with(lua, p, env, req)?;
    let child = match spawned.front() {
        Some(Value::String(s)) => s.to_str()?.parse::<wippy_process::Pid>().ok(),
        _ => None,
    };
    let Some(child) = child else {
        return Ok(spawned);
    };
    if let Some(name) = name {
        // Named right after the start; a process that took the name in
        // between keeps it, and gets the messages (the new child is
        // stopped: it was never meant to run beside the name's holder).
        match node.register(&name, child) {
            Ok(()) => {}
            Err(wippy_process::Error::NameTaken { holder, .. }) => {
                let _ = node.terminate(child);
                deliver(env, holder, messages);
                return pid_result(lua, holder);
            }
            Err(err) => {
                let _ = node.terminate(child);
                return fail_with(lua, err.to_exit_error());
            }
        }
    }
    deliver(env, child, messages);
    Ok(spawned)
}

/// A Spawner's `with_message` messages: `{topic, n = count, ...values}`.
fn spawner_messages(lua: &Lua, list: Option<Table>) -> mlua::Result<Vec<Message>> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (i, m) in list.sequence_values::<Table>().enumerate() {
        let m = m?;
        let topic: String = m.raw_get("topic")?;
        let n: usize = m.raw_get("n")?;
        let mut values = Vec::with_capacity(n);
        for k in 1..=n {
            let v: Value = m.raw_get(k)?;
            let v = to_payload(lua, &v, &format!("with_message[{}][{k}]", i + 1))
                .map_err(mlua::Error::runtime)?;
            values.push(v);
        }
        let (payload, multi) = match values.len() {
            0 => (Payload::Nil, false),
            1 => (values.pop().expect("one value"), false),
            _ => (Payload::Array(values), true),
        };
        out.push(Message::with(None, Topic::from(topic), payload, multi));
    }
    Ok(out)
}

/// Sends a Spawner's messages to `to` (their sender is seen as `""`).
fn deliver(env: &ShardEnv, to: wippy_process::Pid, messages: Vec<Message>) {
    for m in messages {
        // A process that ended meanwhile misses them, as any sender's.
        let _ = env.host.node.send_message(to, m);
    }
}

/// `pid`: a spawn's success. The string is made with the memory limit
/// lifted (`memory::unlimited`: a few dozen bytes, and a protected call
/// would cost a spawn 8 % more).
#[inline]
fn pid_result(lua: &Lua, pid: wippy_process::Pid) -> mlua::Result<MultiValue> {
    let mut text = String::with_capacity(32);
    pid.write_to(&mut text);
    let text = crate::engine::memory::unlimited(lua, || lua.create_string(text))?;
    Ok(MultiValue::from_vec(vec![Value::String(text)]))
}

/// `nil, err` of kind Invalid.
fn invalid(lua: &Lua, msg: String) -> mlua::Result<MultiValue> {
    fail_with(lua, ExitError::non_retryable(ErrorKind::Invalid, msg))
}

/// What a Spawner gives a child instead of the spawner's own actor and
/// scope (`with_actor`, `with_scope`; `None`: inherited).
#[derive(Default)]
struct Grant {
    actor: Option<wippy_security::Actor>,
    scope: Option<wippy_security::Scope>,
}

/// A Spawner's actor or scope object (`nil`: none given).
fn granted<T: Object>(v: Option<Value>, what: &str) -> mlua::Result<Option<T>> {
    match v {
        None | Some(Value::Nil) => Ok(None),
        Some(v) => T::take(v)
            .map(Some)
            .map_err(|e| mlua::Error::runtime(format!("with_{what}: {e}"))),
    }
}

/// The values of a Spawner's context table: string keys, values converted
/// as message payloads (errors name the path, e.g. `context.x: function
/// cannot be sent`).
pub(crate) fn context_values(lua: &Lua, ctx: &Value) -> Result<Vec<(String, Payload)>, String> {
    let pairs = match to_payload(lua, ctx, "context")? {
        Payload::Map(pairs) => pairs,
        Payload::Array(_) => return Err("context[1]: context keys must be strings".into()),
        _ => return Err("context: expected a table".into()),
    };
    pairs
        .into_iter()
        .map(|(k, v)| match k {
            Payload::Str(s) => Ok((s.into(), v)),
            other => {
                let mut path = String::from("context");
                match &other {
                    Payload::Bool(b) => path.push_str(&format!("[{b}]")),
                    Payload::Float(f) => path.push_str(&format!("[{f}]")),
                    Payload::Bytes(b) => {
                        path.push_str(&format!("[{:?}]", String::from_utf8_lossy(b)))
                    }
                    _ => push_key(&mut path, &other),
                }
                Err(format!("{path}: context keys must be strings"))
            }
        })
        .collect()
}

/// What a Spawner's options (`with_options`) ask of the spawn: options are
/// opaque to Lua code, and only these keys mean something (others are
/// carried and ignored, as Wippy's): `trap_links` (the child starts
/// trapping links), `process.link` (a plain `:spawn` links), and
/// `process.name` (as `with_name`, read by [`spawner`]).
#[derive(Default)]
struct Options {
    trap: bool,
    link: bool,
}

fn spawn_options(options: Option<&Table>) -> Result<Options, String> {
    let mut out = Options::default();
    let Some(t) = options else {
        return Ok(out);
    };
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair.map_err(|e| e.to_string())?;
        let Value::String(k) = k else {
            return Err("options keys must be strings".into());
        };
        let key = k.to_string_lossy();
        let flag = match (key.as_str(), &v) {
            ("trap_links" | "process.link", Value::Boolean(b)) => *b,
            ("trap_links" | "process.link", other) => {
                return Err(format!(
                    "option {key} must be a boolean, got {}",
                    other.type_name()
                ));
            }
            _ => continue,
        };
        match key.as_str() {
            "trap_links" => out.trap = flag,
            _ => out.link = flag,
        }
    }
    Ok(out)
}

/// A spawn as Lua asked for it.
struct Request<'a> {
    /// The call, for errors (`spawn_linked`, `funcs.call`).
    what: &'a str,
    /// The action checked on the entry (`process.spawn`, `process.exec`).
    action: &'static str,
    /// A Spawner's options.
    options: Option<&'a Table>,
    entry: &'a str,
    host: &'a str,
    args: &'a [Value],
    /// What a Spawner adds to the caller's context values (the child gets
    /// the merge).
    added: Vec<(String, Payload)>,
    /// The actor and scope a Spawner gives the child instead of the
    /// caller's.
    grant: Grant,
    link: bool,
    monitor: bool,
    /// A denial raises (a Spawner's) instead of returning `nil, err`.
    raise_denials: bool,
    /// A Spawner's messages for a child on another node, sent when the
    /// spawn is answered (a local child gets them from [`spawner`]).
    messages: Vec<Message>,
}

impl<'a> Request<'a> {
    /// A spawn with the caller's context, no options.
    #[inline]
    fn plain(
        what: &'a str,
        action: &'static str,
        entry: &'a str,
        host: &'a str,
        args: &'a [Value],
        link: bool,
        monitor: bool,
    ) -> Request<'a> {
        Request {
            what,
            action,
            options: None,
            entry,
            host,
            args,
            // Nothing added: the child inherits the caller's context unchanged.
            added: Vec::new(),
            grant: Grant::default(),
            link,
            monitor,
            raise_denials: false,
            messages: Vec::new(),
        }
    }
}

/// A host's failure to spawn, as Lua code sees it (Wippy's texts where
/// Wippy has the failure).
fn host_failure(what: &str, e: HostError) -> ExitError {
    match e {
        HostError::UnknownHost(_) => {
            ExitError::non_retryable(ErrorKind::NotFound, "host not found")
        }
        HostError::UnknownEntry(_) => {
            ExitError::non_retryable(ErrorKind::NotFound, "factory not found")
        }
        HostError::Kernel(e) => e.to_exit_error(),
        e @ HostError::NotRunnable { .. } => {
            ExitError::non_retryable(ErrorKind::Invalid, format!("process.{what}: {e}"))
        }
        e @ HostError::HostFull { .. } => {
            ExitError::non_retryable(ErrorKind::LimitExceeded, format!("process.{what}: {e}"))
        }
        e @ HostError::ShutDown(_) => {
            ExitError::non_retryable(ErrorKind::Unavailable, format!("process.{what}: {e}"))
        }
        e => ExitError::non_retryable(ErrorKind::Internal, format!("process.{what}: {e}")),
    }
}

/// Spawns what `req` asks for, for the running process `p`.
fn spawn_with(
    lua: &Lua,
    p: &ProcData,
    env: &ShardEnv,
    req: Request<'_>,
) -> mlua::Result<MultiValue> {
    let what = req.what;
    let (options, entry) = match parse(&req) {
        Ok(parsed) => parsed,
        Err(e) => return invalid(lua, e),
    };
    let mut payloads = Vec::with_capacity(req.args.len());
    for (i, a) in req.args.iter().enumerate() {
        // The path is named only on failure (no string per argument).
        match to_payload(lua, a, "") {
            Ok(v) => payloads.push(v),
            Err(e) => return invalid(lua, format!("process.{what}: args[{}]{e}", i + 1)),
        }
    }
    match launch(p, env, req, options, entry, payloads) {
        Ok(Launched::Local(pid)) => pid_result(lua, pid),
        Ok(Launched::Remote {
            node,
            target,
            spawn,
            messages,
        }) => spawn_remote(lua, p, env, what, node, target, spawn, messages),
        Err(Refused::Fail(e)) => fail_with(lua, e),
        Err(Refused::Raise(text)) => Err(mlua::Error::runtime(text)),
    }
}

/// A plain local spawn for `ffi/spawn.rs` (`process.spawn*`'s fast path):
/// what [`spawn_with`] does for a [`Request::plain`] of `process.spawn`
/// on a host of this node, with the arguments already converted.
fn spawn_local(
    p: &ProcData,
    env: &ShardEnv,
    what: &str,
    entry: &str,
    host: &str,
    args: Vec<Payload>,
    (link, monitor): (bool, bool),
) -> Result<wippy_process::Pid, ExitError> {
    let req = Request::plain(what, "process.spawn", entry, host, &[], link, monitor);
    let (options, entry) =
        parse(&req).map_err(|e| ExitError::non_retryable(ErrorKind::Invalid, e))?;
    match launch(p, env, req, options, entry, args) {
        Ok(Launched::Local(pid)) => Ok(pid),
        // A plain request neither raises nor names another node (the fast
        // path takes no `node@host`); answered as the general path would
        // answer them, were they possible.
        Ok(Launched::Remote { .. }) => Err(ExitError::non_retryable(
            ErrorKind::Internal,
            format!("process.{what}: a spawn on another node took the local path"),
        )),
        Err(Refused::Fail(e)) => Err(e),
        Err(Refused::Raise(text)) => {
            Err(ExitError::non_retryable(ErrorKind::PermissionDenied, text))
        }
    }
}

/// The four `process.spawn*` variants, for `ffi/spawn.rs`.
pub(crate) struct Variant<const LINK: bool, const MONITOR: bool>;

impl<const LINK: bool, const MONITOR: bool> Variant<LINK, MONITOR> {
    /// The variant's name (`spawn_linked`).
    const WHAT: &'static str = match (LINK, MONITOR) {
        (false, false) => "spawn",
        (false, true) => "spawn_monitored",
        (true, false) => "spawn_linked",
        (true, true) => "spawn_linked_monitored",
    };
}

impl<const LINK: bool, const MONITOR: bool> crate::ffi::spawn::LocalSpawn
    for Variant<LINK, MONITOR>
{
    const NAME: &'static std::ffi::CStr = match (LINK, MONITOR) {
        (false, false) => c"spawn",
        (false, true) => c"spawn_monitored",
        (true, false) => c"spawn_linked",
        (true, true) => c"spawn_linked_monitored",
    };

    fn spawn(
        p: &ProcData,
        env: &ShardEnv,
        entry: &str,
        host: &str,
        args: Vec<Payload>,
    ) -> Result<wippy_process::Pid, ExitError> {
        spawn_local(p, env, Self::WHAT, entry, host, args, (LINK, MONITOR))
    }
}

/// A request's options and entry id, or the text of its Invalid failure.
fn parse(req: &Request<'_>) -> Result<(Options, EntryId), String> {
    let what = req.what;
    let options = spawn_options(req.options).map_err(|e| format!("process.{what}: {e}"))?;
    let entry = req
        .entry
        .parse()
        .map_err(|e| format!("process.{what}: {e}"))?;
    Ok((options, entry))
}

/// What [`launch`] came to.
enum Launched<'a> {
    /// A child of this node.
    Local(wippy_process::Pid),
    /// A spawn for `node` (`target` is `node@host`), to send through the
    /// cluster ([`spawn_remote`]).
    Remote {
        node: &'a str,
        target: &'a str,
        spawn: SpawnRequest,
        messages: Vec<Message>,
    },
}

/// Why [`launch`] made no child.
enum Refused {
    /// `nil, err`.
    Fail(ExitError),
    /// An error raised (a Spawner's denial).
    Raise(String),
}

/// Checks and starts what `req` asks for (`options`, `entry` and `args`
/// already read from it), for the running process `p`.
fn launch<'a>(
    p: &ProcData,
    env: &ShardEnv,
    req: Request<'a>,
    options: Options,
    entry: EntryId,
    args: Vec<Payload>,
) -> Result<Launched<'a>, Refused> {
    let Some(app) = env.host.app.upgrade() else {
        return Err(Refused::Fail(ExitError::non_retryable(
            ErrorKind::Unavailable,
            "the app is shutting down",
        )));
    };
    // `node@host`: a host of another node (that node checks the spawn
    // too, for the caller's principal). A byte search: `split_once('@')`
    // cost a spawn 100 instructions.
    let (remote, host) = match req.host.bytes().position(|b| b == b'@') {
        Some(at) => (Some(&req.host[..at]), &req.host[at + 1..]),
        None => (None, req.host),
    };
    for (action, resource, text) in [
        (req.action, entry.as_str(), "spawn process"),
        ("process.spawn.host", host, "spawn on host"),
    ] {
        if p.check(env, action, resource).is_err() {
            let msg = format!("not allowed to {text}: {resource}");
            if req.raise_denials {
                return Err(Refused::Raise(msg));
            }
            return Err(Refused::Fail(ExitError::non_retryable(
                ErrorKind::PermissionDenied,
                msg,
            )));
        }
    }
    // The child's context: ours, with what the Spawner added.
    let mut child = p.context.with(req.added);
    let grant = req.grant;
    if grant.actor.is_some() || grant.scope.is_some() {
        let mine = p.context.principal();
        let principal = wippy_security::Principal::new(
            grant.actor.unwrap_or_else(|| mine.actor()),
            grant.scope.or_else(|| mine.scope().cloned()),
        );
        let boundary = env.host.config.security.boundary.as_ref();
        if let Err(denied) = mine.may_grant(boundary, &principal, p.pid()) {
            if req.raise_denials {
                return Err(Refused::Raise(denied.to_string()));
            }
            return Err(Refused::Fail(ExitError::non_retryable(
                ErrorKind::PermissionDenied,
                denied.to_string(),
            )));
        }
        child = child.with_principal(principal);
    }
    let mut opts = SpawnOptions::default().parent(p.pid());
    if req.link || options.link {
        opts = opts.linked();
    }
    if req.monitor {
        opts = opts.monitored();
    }
    opts.trap_links = options.trap;
    let spawn = SpawnRequest {
        entry,
        args,
        opts,
        context: child,
    };
    if let Some(node) = remote {
        return Ok(Launched::Remote {
            node,
            target: req.host,
            spawn,
            messages: req.messages,
        });
    }
    match app.spawn(req.host, spawn) {
        Ok(pid) => Ok(Launched::Local(pid)),
        Err(e) => Err(Refused::Fail(host_failure(req.what, e))),
    }
}

/// Spawns on `target` (`node@host`) through the cluster: a call the
/// prelude waits for (`cluster.rs`), answered with the child's pid string
/// or the failure (the other node's denial is PermissionDenied, an unknown
/// node NotFound). A Spawner's `messages` go to the child before the
/// caller hears of it, from no process (as the runtime: the spawn that
/// made their receiver was checked).
#[allow(clippy::too_many_arguments)]
fn spawn_remote(
    lua: &Lua,
    p: &ProcData,
    env: &ShardEnv,
    what: &str,
    node: &str,
    target: &str,
    req: SpawnRequest,
    messages: Vec<Message>,
) -> mlua::Result<MultiValue> {
    let Some(cluster) = env.host.cluster() else {
        return fail_with(
            lua,
            ExitError::non_retryable(
                ErrorKind::NotFound,
                format!("process.{what}: node not found: {node} (this runtime is in no cluster)"),
            ),
        );
    };
    let call = cluster.spawn(p.context.principal(), target, req);
    let kernel = env.host.node.clone();
    super::cluster::pending(lua, call, move |r| match r {
        Ok(pid) => {
            for m in messages {
                let _ = kernel.send_message(pid, m);
            }
            Payload::Str(pid.to_string().into())
        }
        Err(e) => super::cluster::failure(super::cluster::cluster_error(e)),
    })
}
