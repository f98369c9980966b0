//! [`TestPostgres`]: a throw-away PostgreSQL cluster on a free loopback port, with the
//! Supabase roles and `auth` schema of [`SUPABASE_FIXTURE`].

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
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
    /// The password of every login role on a private cluster (random per cluster): TCP
    /// connections use scram-sha-256, so another local user cannot log in.
    password: Option<String>,
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

/// 128 random bits as hex, from the standard library's randomly keyed hasher.
fn random_hex() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    for _ in 0..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn run_stdin(cmd: &mut Command, input: &str, what: &str) -> io::Result<String> {
    use std::io::Write as _;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    Err(io::Error::other(format!(
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    )))
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
        self.command_at(self.bin.join(program))
    }

    fn command_at(&self, path: PathBuf) -> Command {
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
        // A new directory of our own (create_dir fails on anything already there, a planted
        // symlink included), readable by its owner only.
        let dir = std::env::temp_dir().join(format!(
            "supagate-pg-{}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            random_hex()
        ));
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        }
        let password = random_hex();
        let cluster = Cluster {
            bin,
            dir: dir.clone(),
            as_postgres,
        };
        if as_postgres {
            run(
                Command::new("chown")
                    .arg("-h")
                    .arg("postgres:postgres")
                    .arg(&dir),
                "chown",
            )?;
        }
        // From here on, the directory goes (and the cluster stops) with this process.
        watchdog(&cluster);
        let data = dir.join("data");
        // The superuser's password, for initdb, in the private directory.
        let pwfile = dir.join("pw");
        {
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&pwfile)?
                .write_all(password.as_bytes())?;
        }
        if as_postgres {
            run(
                Command::new("chown").arg("postgres:postgres").arg(&pwfile),
                "chown",
            )?;
        }
        // Local (socket) connections, in the owner-only directory, are trusted: psql uses
        // them. TCP connections need the password.
        run(
            cluster
                .command("initdb")
                .arg("-D")
                .arg(&data)
                .args([
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                ])
                .arg(format!("--pwfile={}", pwfile.display()))
                .args(["-N", "-E", "UTF8", "--locale=C", "--no-instructions"]),
            "initdb",
        )?;
        let _ = std::fs::remove_file(&pwfile);
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
        let pg = TestPostgres {
            port,
            host: "127.0.0.1".into(),
            superuser: "postgres".into(),
            database: "postgres".into(),
            password: Some(password),
            cluster: Some(cluster),
        };
        pg.wait_ready()?;
        pg.psql(SUPABASE_FIXTURE)?;
        // The fixture's login roles get the cluster's password (bound by psql as a variable:
        // no quoting by hand).
        pg.psql_with_password(
            "alter role authenticator password :'pw'; alter role supabase_auth_admin password :'pw';",
        )?;
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
            password: None,
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

    /// A connection URL for `user`, with the private cluster's password (every login role of
    /// the fixture has it; a role you create needs `ALTER ROLE … PASSWORD` to log in over TCP).
    #[must_use]
    pub fn url(&self, user: &str) -> String {
        match &self.password {
            Some(pw) => format!(
                "postgres://{user}:{pw}@{}:{}/{}",
                self.host, self.port, self.database
            ),
            None => format!(
                "postgres://{user}@{}:{}/{}",
                self.host, self.port, self.database
            ),
        }
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
        self.psql_command(sql, None)
    }

    fn psql_with_password(&self, sql: &str) -> io::Result<String> {
        let pw = self.password.clone().unwrap_or_default();
        self.psql_command(sql, Some(&pw))
    }

    fn psql_command(&self, sql: &str, pw: Option<&str>) -> io::Result<String> {
        let mut cmd = match &self.cluster {
            // As the superuser over the owner-only socket directory (trusted).
            Some(c) => {
                let psql = c.bin.join("psql");
                let mut cmd = c.command_at(if psql.exists() {
                    psql
                } else {
                    PathBuf::from("psql")
                });
                cmd.args(["-h"])
                    .arg(&c.dir)
                    .args(["-p", &self.port.to_string()]);
                cmd.args(["-U", &self.superuser, "-d", &self.database]);
                cmd
            }
            None => {
                let mut cmd = Command::new("psql");
                cmd.arg("-d").arg(self.superuser_url());
                cmd
            }
        };
        cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]);
        match pw {
            // psql variables are not interpolated in -c: feed the statement on stdin.
            Some(pw) => {
                cmd.arg("-v").arg(format!("pw={pw}"));
                run_stdin(&mut cmd, sql, "psql")
            }
            None => run(cmd.arg("-c").arg(sql), "psql"),
        }
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
    // Paths go in as positional parameters, never into the script text.
    const SCRIPT: &str = "pid=$1; dir=$2; shift 2; \
        while kill -0 \"$pid\" 2>/dev/null && [ -d \"$dir\" ]; do sleep 1; done; \
        if [ -d \"$dir\" ]; then \"$@\" >/dev/null 2>&1; rm -rf \"$dir\"; fi";
    let pg_ctl = cluster.bin.join("pg_ctl");
    let data = cluster.dir.join("data");
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(SCRIPT)
        .arg("sh")
        .arg(std::process::id().to_string())
        .arg(&cluster.dir);
    if cluster.as_postgres {
        cmd.args(["runuser", "-u", "postgres", "--"]);
    }
    cmd.arg(pg_ctl)
        .arg("-D")
        .arg(data)
        .args(["stop", "-m", "immediate"]);
    let _ = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}
