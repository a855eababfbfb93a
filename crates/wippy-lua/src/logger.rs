//! The `logger` module: structured logs through tracing, tagged with the
//! process's pid and entry id.

use std::rc::Rc;

use mlua::{Table, UserData, UserDataMethods, Value};

use crate::vm::ShardEnv;

/// A logger: an optional name and fields added to every record.
#[derive(Clone)]
pub(crate) struct Logger {
    env: Rc<ShardEnv>,
    name: Option<String>,
    fields: Vec<(String, String)>,
}

impl Logger {
    pub(crate) fn new(env: Rc<ShardEnv>) -> Logger {
        Logger {
            env,
            name: None,
            fields: Vec::new(),
        }
    }

    fn log(&self, level: tracing::Level, msg: &str, extra: Option<Table>) -> mlua::Result<()> {
        let mut fields = self.fields.clone();
        if let Some(t) = extra {
            for pair in t.pairs::<Value, Value>() {
                let (k, v) = pair?;
                fields.push((k.to_string()?, v.to_string()?));
            }
        }
        let fields = fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        let (pid, entry) = match self.env.current() {
            Ok(p) => (p.pid().to_string(), p.entry.borrow().id.to_string()),
            Err(_) => (String::new(), String::new()),
        };
        let name = self.name.as_deref().unwrap_or("");
        match level {
            tracing::Level::ERROR => {
                tracing::error!(target: "lua", pid = %pid, entry = %entry, logger = name, fields = %fields, "{msg}")
            }
            tracing::Level::WARN => {
                tracing::warn!(target: "lua", pid = %pid, entry = %entry, logger = name, fields = %fields, "{msg}")
            }
            tracing::Level::INFO => {
                tracing::info!(target: "lua", pid = %pid, entry = %entry, logger = name, fields = %fields, "{msg}")
            }
            _ => {
                tracing::debug!(target: "lua", pid = %pid, entry = %entry, logger = name, fields = %fields, "{msg}")
            }
        }
        Ok(())
    }
}

impl UserData for Logger {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        for (name, level) in [
            ("info", tracing::Level::INFO),
            ("warn", tracing::Level::WARN),
            ("error", tracing::Level::ERROR),
            ("debug", tracing::Level::DEBUG),
        ] {
            methods.add_method(name, move |_, l, (msg, fields): (Value, Option<Table>)| {
                l.log(level, &msg.to_string()?, fields)
            });
        }
        methods.add_method("named", |_, l, name: String| {
            let mut n = l.clone();
            n.name = Some(match &l.name {
                Some(prefix) => format!("{prefix}.{name}"),
                None => name,
            });
            Ok(n)
        });
        methods.add_method("with", |_, l, fields: Table| {
            let mut n = l.clone();
            for pair in fields.pairs::<Value, Value>() {
                let (k, v) = pair?;
                n.fields.push((k.to_string()?, v.to_string()?));
            }
            Ok(n)
        });
    }
}
