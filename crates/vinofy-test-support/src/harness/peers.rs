//! Local wire-protocol peers, started once per test binary: s3s-fs (S3, verifies SigV4 and presigned
//! URL expiry) and moto (DynamoDB, Secrets Manager). Each test gets its own Cloudflare Stream
//! emulator, because fault injection and request counts are per emulator.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const ACCESS_KEY: &str = "vinofy-local-access";
pub const SECRET_KEY: &str = "vinofy-local-secret-key";
pub const REGION: &str = "us-east-1";

pub struct SharedPeers {
    pub s3_endpoint: String,
    pub dynamodb_endpoint: String,
    pub s3_root: PathBuf,
}

/// The workspace root (this harness is also included by crates/vinofy-cli's tests).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|p| p.join("template.yaml").is_file())
        .expect("the workspace root holds template.yaml")
        .to_path_buf()
}

fn venv_bin(name: &str) -> PathBuf {
    let venv = std::env::var_os("VINOFY_VENV").map(PathBuf::from).unwrap_or_else(|| repo_root().join(".venv"));
    let path = venv.join("bin").join(name);
    assert!(path.exists(), "{} is missing: run scripts/setup.sh (or scripts/test.sh) first", path.display());
    path
}

fn s3s_fs_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("S3S_FS_BIN") {
        return p.into();
    }
    let home = PathBuf::from(std::env::var_os("HOME").expect("HOME"));
    let path = home.join(".cargo/bin/s3s-fs");
    assert!(path.exists(), "s3s-fs is missing: run scripts/setup.sh first");
    path
}

/// The workspace's target dir, where `stream-emulator` is built (next to this test's executable).
pub fn target_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` (scripts/test.sh does)",
        path.display()
    );
    path
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start listening on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Spawns a child that the kernel kills when the thread that spawned it ends. Peers are spawned
/// from a thread that lives as long as the test process, so they never outlive it.
pub fn spawn_tied(cmd: &mut Command) -> Child {
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"))
}

/// Runs `f` on the keeper thread (alive until the process exits) and returns its result.
pub fn on_keeper_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    type Job = Box<dyn FnOnce() + Send>;
    static KEEPER: OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<Job>>> = OnceLock::new();
    let sender = KEEPER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("peer-keeper".into())
            .spawn(move || {
                for job in rx {
                    job()
                }
                // The channel is never closed (the sender is static), so this thread never ends.
            })
            .unwrap();
        std::sync::Mutex::new(tx)
    });
    let (tx, rx) = std::sync::mpsc::channel();
    sender.lock().unwrap().send(Box::new(move || tx.send(f()).unwrap())).unwrap();
    rx.recv().unwrap()
}

pub fn shared() -> &'static SharedPeers {
    static PEERS: OnceLock<SharedPeers> = OnceLock::new();
    PEERS.get_or_init(|| {
        on_keeper_thread(|| {
            let s3_root = std::env::temp_dir().join(format!("vinofy-s3-{}", std::process::id()));
            std::fs::create_dir_all(&s3_root).unwrap();
            let s3_port = free_port();
            let s3 = spawn_tied(
                Command::new(s3s_fs_bin())
                    .args(["--host", "127.0.0.1", "--port", &s3_port.to_string()])
                    .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                    .arg(&s3_root)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            );
            let moto_port = free_port();
            let moto = spawn_tied(
                Command::new(venv_bin("python"))
                    .arg(repo_root().join("scripts/moto_atomic.py"))
                    .args(["-H", "127.0.0.1", "-p", &moto_port.to_string()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            );
            wait_for_port(s3_port, "s3s-fs");
            wait_for_port(moto_port, "moto");
            // The children live (and die) with the keeper thread.
            std::mem::forget((s3, moto));
            SharedPeers {
                s3_endpoint: format!("http://127.0.0.1:{s3_port}"),
                dynamodb_endpoint: format!("http://127.0.0.1:{moto_port}"),
                s3_root,
            }
        })
    })
}

/// One Cloudflare Stream emulator process.
pub struct Emulator {
    pub base_url: String,
    pub api_url: String,
    child: Child,
}

/// A `mux-emulator` (devtools/stream-emulator, MUX.md) on a free loopback port.
pub struct MuxEmulator {
    pub base_url: String,
    pub token_id: String,
    pub token_secret: String,
    child: Child,
}

impl MuxEmulator {
    pub fn start(extra_args: &[&str]) -> Self {
        let token_id = format!("mux-test-id-{:08x}", fastrand::u32(..));
        let token_secret = format!("mux-test-secret-{:016x}", fastrand::u64(..));
        let args = [&["--token-id", token_id.as_str(), "--token-secret", token_secret.as_str()], extra_args].concat();
        let (base_url, child) = start_emulator("mux-emulator", &args);
        MuxEmulator { base_url, token_id, token_secret, child }
    }
}

/// Starts one of the emulators on a free loopback port: its base URL (from the one line it prints)
/// and the process (tied to this test binary).
fn start_emulator(binary: &'static str, args: &[&str]) -> (String, Child) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    on_keeper_thread(move || {
        let mut child = spawn_tied(
            Command::new(target_bin(binary))
                .args(["--listen", "127.0.0.1:0"])
                .args(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        );
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base_url = line
            .trim()
            .rsplit(' ')
            .next()
            .filter(|u| u.starts_with("http"))
            .unwrap_or_else(|| panic!("{binary} address line: {line:?}"))
            .to_owned();
        (base_url, child)
    })
}

impl Drop for MuxEmulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Emulator {
    pub fn start(account_id: &str, token: &str, extra_args: &[&str]) -> Self {
        let args = [&["--account-id", account_id, "--token", token], extra_args].concat();
        let (base_url, child) = start_emulator("stream-emulator", &args);
        Emulator { api_url: format!("{base_url}/client/v4"), base_url, child }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// TLS in front of local peers (scripts/tls_proxy.py): a throwaway CA, a `localhost` certificate,
/// and one `https://localhost:PORT` per upstream. Dies with the test binary.
pub struct TlsFront {
    /// The CA to trust (`SSL_CERT_FILE`).
    pub ca_pem: PathBuf,
    /// `http://host:port...` of each upstream → `https://localhost:PORT`.
    urls: Vec<(String, String)>,
    child: Child,
}

impl TlsFront {
    /// `upstreams`: base URLs (`http://127.0.0.1:PORT`, a path is ignored).
    pub fn start(upstreams: &[&str]) -> Self {
        let ca_pem = std::env::temp_dir().join(format!("{}.pem", super::unique("vinofy-tls-ca")));
        let hostports: Vec<String> = upstreams.iter().map(|u| hostport(u).to_owned()).collect();
        let (ca, forwards) = (ca_pem.clone(), hostports.clone());
        let (child, mapping) = on_keeper_thread(move || {
            let mut cmd = Command::new(venv_bin("python"));
            cmd.arg(repo_root().join("scripts/tls_proxy.py")).arg("--ca-out").arg(&ca);
            for f in &forwards {
                cmd.args(["--forward", f]);
            }
            let mut child = spawn_tied(cmd.stdout(Stdio::piped()).stderr(Stdio::null()));
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
            let mapping: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("tls_proxy.py printed {line:?}: {e}"));
            (child, mapping)
        });
        let urls = hostports
            .into_iter()
            .map(|h| {
                let url = mapping[&h].as_str().expect("an https URL per upstream").to_owned();
                (h, url)
            })
            .collect();
        TlsFront { ca_pem, urls, child }
    }

    /// The TLS URL for an upstream URL, its path kept.
    pub fn url_for(&self, upstream: &str) -> String {
        let h = hostport(upstream);
        let (_, tls) = self.urls.iter().find(|(k, _)| k == h).expect("a proxied upstream");
        let path = upstream.split_once("://").map_or("", |(_, rest)| rest.find('/').map_or("", |i| &rest[i..]));
        format!("{tls}{path}")
    }
}

fn hostport(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.ca_pem);
    }
}
