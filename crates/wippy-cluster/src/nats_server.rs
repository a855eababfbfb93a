//! A `nats-server` of one's own, for tests, benchmarks and examples: on a
//! free loopback port, with JetStream in a fresh folder, stopped (and the
//! folder removed) when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `nats-server` this process started.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    advisories: bool,
}

/// Why a server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum NatsServerError {
    /// No `nats-server` binary on the PATH (install it: `apt-get install -y nats-server`).
    #[error("nats-server is not installed (apt-get install -y nats-server)")]
    Missing,
    /// It started but never listened.
    #[error("nats-server did not start: {0}")]
    Failed(String),
}

/// The account setup that lets nodes see the server's disconnect
/// advisories (the system account exports them, the app account imports
/// its own).
const ADVISORY_ACCOUNTS: &str = r#"
accounts {
  SYS: {
    users: [{user: sys, password: sys}]
    exports: [{stream: "$SYS.ACCOUNT.*.DISCONNECT"}]
  }
  APP: {
    jetstream: enabled
    users: [{user: app, password: app}]
    imports: [{stream: {account: SYS, subject: "$SYS.ACCOUNT.APP.DISCONNECT"}}]
  }
}
system_account: SYS
"#;

impl NatsServer {
    /// Whether `nats-server` can be run here.
    pub fn available() -> bool {
        Command::new("nats-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts a server with JetStream on a free loopback port. With
    /// `advisories`, clients log in as `app`/`app` ([`NatsServer::url`]
    /// has them) and see the disconnect advisories of their account.
    pub fn start(advisories: bool) -> Result<NatsServer, NatsServerError> {
        if !NatsServer::available() {
            return Err(NatsServerError::Missing);
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| NatsServerError::Failed(e.to_string()))?;
        static SERVERS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        // Relaxed: only makes the folder name unique within this process.
        let n = SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("wippy-nats-{}-{n}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| NatsServerError::Failed(e.to_string()))?;
        let mut server = NatsServer {
            child: None,
            port,
            dir,
            advisories,
        };
        server.restart()?;
        Ok(server)
    }

    /// The URL clients connect with.
    pub fn url(&self) -> String {
        if self.advisories {
            format!("nats://app:app@127.0.0.1:{}", self.port)
        } else {
            format!("nats://127.0.0.1:{}", self.port)
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its folder (JetStream's store is below it).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Kills it (SIGKILL: no goodbye to clients), keeping its store.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port with the same store.
    pub fn restart(&mut self) -> Result<(), NatsServerError> {
        self.kill();
        let conf = self.dir.join("server.conf");
        let mut text = format!(
            "listen: 127.0.0.1:{}\njetstream {{ store_dir: {:?} }}\n",
            self.port,
            self.dir.join("js")
        );
        if self.advisories {
            text.push_str(ADVISORY_ACCOUNTS);
        }
        std::fs::write(&conf, text).map_err(|e| NatsServerError::Failed(e.to_string()))?;
        let log = std::fs::File::create(self.dir.join("server.log"))
            .map_err(|e| NatsServerError::Failed(e.to_string()))?;
        let child = Command::new("nats-server")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| NatsServerError::Failed(e.to_string()))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        Err(NatsServerError::Failed(format!(
            "not listening on port {} after 10 s: {log}",
            self.port
        )))
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
