//! [`TestPostgres`]: a throw-away PostgreSQL cluster on a free loopback port, with the
//! Supabase roles and `auth` schema of [`SUPABASE_FIXTURE`].

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The SQL that recreates what a Supabase project's database has and supagate relies on: the
/// roles `anon`, `authenticated` (NOLOGIN, with `statement_timeout` 3 s and 8 s),
/// `service_role` (BYPASSRLS), `authenticator` (LOGIN, granted the three) and
/// `supabase_auth_admin`; the `auth` schema with `auth.users` and `auth.sessions`; and
/// `auth.uid()`, `auth.role()`, `auth.email()` and `auth.jwt()` as Supabase defines them.
/// Applying it twice is harmless.
pub const SUPABASE_FIXTURE: &str = include_str!("../sql/supabase.sql");

/// Where to find an existing server instead: a superuser URL
/// (`postgres://postgres@127.0.0.1:5432/postgres`). The fixture is applied to it.
pub const DATABASE_URL_VAR: &str = "SUPAGATE_TEST_DATABASE_URL";

/// A PostgreSQL server for a test: a private cluster in a temporary directory, listening on
/// 127.0.0.1 only, on a free port, with trust authentication, made by Debian's PostgreSQL
/// (`/usr/lib/postgresql/<version>/bin`, or the directory in `SUPAGATE_PG_BIN`); or the
/// existing server named by [`DATABASE_URL_VAR`].
///
/// When the tests run as root, the cluster runs as the `postgres` OS user (PostgreSQL refuses
/// to run as root). It stops and its directory is removed when the value is dropped, and also
/// when the test process dies without dropping it (a watchdog process notices).
///
/// # Examples
///
/// ```no_run
/// use supagate_testkit::TestPostgres;
///
/// let pg = TestPostgres::start()?;
/// pg.psql("create table notes (id int)")?;
/// let url = pg.url("authenticator"); // the role PostgREST logs in as
/// # let _ = url;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TestPostgres {
    port: u16,
    host: String,
    superuser: String,
    database: String,
    cluster: Option<Cluster>,
}

struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    as_postgres: bool,
}

impl fmt::Debug for TestPostgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestPostgres")
            .field("port", &self.port)
            .field("private_cluster", &self.cluster.is_some())
            .finish_non_exhaustive()
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

fn bin_dir() -> io::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("SUPAGATE_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path().join("bin"))
                .filter(|p| p.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "no PostgreSQL server found under /usr/lib/postgresql (apt-get install postgresql), \
             and neither SUPAGATE_PG_BIN nor SUPAGATE_TEST_DATABASE_URL is set",
        )
    })
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn run(cmd: &mut Command, what: &str) -> io::Result<String> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    Err(io::Error::other(format!(
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

impl Cluster {
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn stop(&self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["stop", "-m", "immediate", "-w"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl TestPostgres {
    /// Starts a private cluster (or connects to [`DATABASE_URL_VAR`]'s server) and applies
    /// [`SUPABASE_FIXTURE`]. Takes about a second. Blocking: call it before the async part of
    /// a test, or in `spawn_blocking`.
    ///
    /// # Errors
    ///
    /// When PostgreSQL is not installed, or the cluster does not start within 30 s.
    pub fn start() -> io::Result<TestPostgres> {
        if let Ok(url) = std::env::var(DATABASE_URL_VAR) {
            return Self::existing(&url);
        }
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let bin = bin_dir()?;
        let as_postgres = is_root();
        let dir = std::env::temp_dir().join(format!(
            "supagate-pg-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let cluster = Cluster {
            bin,
            dir: dir.clone(),
            as_postgres,
        };
        if as_postgres {
            run(
                Command::new("chown").arg("postgres:postgres").arg(&dir),
                "chown",
            )?;
        }
        let data = dir.join("data");
        run(
            cluster
                .command("initdb")
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "--auth=trust", "-N", "-E", "UTF8"])
                .args(["--locale=C", "--no-instructions"]),
            "initdb",
        )?;
        let port = free_port()?;
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='{}' \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
             -c max_connections=200 -c shared_buffers=32MB",
            dir.display()
        );
        run(
            cluster
                .command("pg_ctl")
                .arg("-D")
                .arg(&data)
                .args(["-o", &opts, "-l"])
                .arg(dir.join("log"))
                .args(["start", "-w", "-t", "30"])
                .stdout(Stdio::null()),
            "pg_ctl start",
        )?;
        watchdog(&cluster);
        let pg = TestPostgres {
            port,
            host: "127.0.0.1".into(),
            superuser: "postgres".into(),
            database: "postgres".into(),
            cluster: Some(cluster),
        };
        pg.wait_ready()?;
        pg.psql(SUPABASE_FIXTURE)?;
        Ok(pg)
    }

    fn existing(url: &str) -> io::Result<TestPostgres> {
        let bad = || {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad SUPAGATE_TEST_DATABASE_URL",
            )
        };
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or_else(bad)?;
        let (user, rest) = rest.split_once('@').ok_or_else(bad)?;
        let (hostport, database) = rest.split_once('/').unwrap_or((rest, "postgres"));
        let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "5432"));
        let pg = TestPostgres {
            port: port.parse().map_err(|_| bad())?,
            host: host.to_owned(),
            superuser: user.to_owned(),
            database: database.to_owned(),
            cluster: None,
        };
        pg.psql(SUPABASE_FIXTURE)?;
        Ok(pg)
    }

    fn wait_ready(&self) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "postgres did not listen",
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// The port it listens on (127.0.0.1).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for `user` (no password: trust authentication on loopback).
    #[must_use]
    pub fn url(&self, user: &str) -> String {
        format!(
            "postgres://{user}@{}:{}/{}",
            self.host, self.port, self.database
        )
    }

    /// The superuser's URL (`postgres`): for migrations, and for reading `auth.sessions` as a
    /// privileged pool.
    #[must_use]
    pub fn superuser_url(&self) -> String {
        self.url(&self.superuser)
    }

    /// Runs `sql` (several statements allowed) as the superuser with `psql`, stopping at the
    /// first error, and returns what it printed (unaligned, tuples only).
    ///
    /// # Errors
    ///
    /// When `psql` fails or a statement fails.
    pub fn psql(&self, sql: &str) -> io::Result<String> {
        let psql = self
            .cluster
            .as_ref()
            .map(|c| c.bin.join("psql"))
            .filter(|p| p.exists())
            .unwrap_or_else(|| Path::new("psql").to_path_buf());
        run(
            Command::new(psql)
                .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
                .arg("-d")
                .arg(self.superuser_url())
                .arg("-c")
                .arg(sql),
            "psql",
        )
    }

    /// Stops the server now (a private cluster only; connections fail from here on): for a
    /// test of what happens when the database goes down.
    pub fn stop(&mut self) {
        if let Some(c) = self.cluster.take() {
            c.stop();
        }
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A process that stops the cluster when this test process is gone (killed, or exited
/// without dropping the value).
fn watchdog(cluster: &Cluster) {
    let pg_ctl = cluster.bin.join("pg_ctl");
    let data = cluster.dir.join("data");
    let stop = if cluster.as_postgres {
        format!(
            "runuser -u postgres -- '{}' -D '{}' stop -m immediate",
            pg_ctl.display(),
            data.display()
        )
    } else {
        format!(
            "'{}' -D '{}' stop -m immediate",
            pg_ctl.display(),
            data.display()
        )
    };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null && [ -d '{dir}' ]; do sleep 1; done; \
         [ -d '{dir}' ] && {{ {stop} >/dev/null 2>&1; rm -rf '{dir}'; }}",
        pid = std::process::id(),
        dir = cluster.dir.display(),
    );
    let _ = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}
