//! Child processes that are always stopped: spawn with output to a log file,
//! poll for readiness, terminate (the whole process group when asked) on drop.

use std::fs::{self, File};
use std::io::{Read as _, Seek as _, SeekFrom};
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use crate::env;

/// Grace period between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A port on 127.0.0.1 that was free a moment ago.
///
/// Another process may take it before ours binds it; servers started on such
/// a port retry with a new one when they exit early.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Whether a server failed to start because an address it was to listen on
/// is taken: the text the OS gives `EADDRINUSE`, in any case, somewhere in
/// the error's chain (PostgreSQL, postrust and wrangler all report it so).
pub fn address_in_use(error: &anyhow::Error) -> bool {
    format!("{error:#}")
        .to_ascii_lowercase()
        .contains("address already in use")
}

/// The last `lines` lines of a log file, for error messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    const MAX_BYTES: u64 = 64 * 1024;
    let Ok(mut file) = File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = file.metadata().map(|meta| meta.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(MAX_BYTES)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Calls `ready` every `interval` until it returns `Ok(true)`, an error, or
/// `timeout` elapses (then fails with `what` in the message).
pub(crate) fn wait_until(
    what: &str,
    timeout: Duration,
    interval: Duration,
    mut ready: impl FnMut() -> Result<bool>,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if ready()? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("{what} was not ready after {timeout:?}");
        }
        thread::sleep(interval);
    }
}

/// A spawned server. Dropping it stops it: SIGTERM, then SIGKILL after a
/// grace period; with `own_group` the signals go to its whole process group,
/// which also reaches the children it spawned (wrangler's workerd).
#[derive(Debug)]
pub struct ChildProcess {
    child: Child,
    name: String,
    own_group: bool,
    log: PathBuf,
    registration: Option<Registration>,
    stopped: bool,
}

impl ChildProcess {
    /// Spawns `command` with stdin closed and stdout + stderr appended to `log`.
    pub fn spawn(
        name: impl Into<String>,
        mut command: Command,
        log: &Path,
        own_group: bool,
    ) -> Result<Self> {
        let name = name.into();
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let err = out.try_clone()?;
        command.stdin(Stdio::null()).stdout(out).stderr(err);
        if own_group {
            command.process_group(0);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", command.get_program()))?;
        let registration = Registration::new(child.id(), own_group);
        Ok(Self {
            child,
            name,
            own_group,
            log: log.to_owned(),
            registration,
            stopped: false,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last lines of its output.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log, lines)
    }

    /// `Some(status)` once it has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Fails with its log tail if it has exited.
    pub fn ensure_running(&mut self) -> Result<()> {
        if let Some(status) = self.exit_status() {
            bail!(
                "{} exited early ({status}); last output ({}):\n{}",
                self.name,
                self.log.display(),
                self.log_tail(40)
            );
        }
        Ok(())
    }

    /// Stops it (and its group) and waits for it.
    pub fn stop(mut self) {
        self.terminate();
    }

    /// Leaves it running after this handle is gone (for `stack up`); returns its pid.
    pub fn detach(mut self) -> u32 {
        self.stopped = true;
        self.registration = None;
        self.child.id()
    }

    fn terminate(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let pid = self.child.id();
        signal_process(pid, self.own_group, Signal::SIGTERM);
        let deadline = Instant::now() + STOP_GRACE;
        while self.exit_status().is_none() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        // Also after a clean exit: group members may outlive the leader.
        signal_process(pid, self.own_group, Signal::SIGKILL);
        let _ = self.child.wait();
        self.registration = None;
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Sends `signal` to a process, or to its process group. A process that is
/// already gone is not an error.
pub fn signal_process(pid: u32, group: bool, signal: Signal) {
    let Ok(raw) = i32::try_from(pid) else { return };
    let result = if group {
        signal::killpg(Pid::from_raw(raw), signal)
    } else {
        signal::kill(Pid::from_raw(raw), signal)
    };
    match result {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(error) => eprintln!("warning: could not signal {pid}: {error}"),
    }
}

/// Stops a process we did not spawn in this run (e.g. one `stack up` left
/// running): SIGTERM, then SIGKILL after a grace period.
pub fn terminate_pid(pid: u32, group: bool) {
    signal_process(pid, group, Signal::SIGTERM);
    let deadline = Instant::now() + STOP_GRACE;
    while is_alive(pid) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    signal_process(pid, group, Signal::SIGKILL);
}

/// Whether a process exists and has not exited (zombies count as exited).
pub fn is_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Live processes in process group `pgid`.
pub fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut members: Vec<u32> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // Fields after the command name: state, ppid, pgrp, ...
            fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                let mut fields = stat
                    .rsplit_once(')')
                    .map(|(_, rest)| rest)
                    .unwrap_or_default()
                    .split_whitespace();
                let state = fields.next();
                let pgrp = fields.nth(1).and_then(|pgrp| pgrp.parse::<u32>().ok());
                pgrp == Some(pgid) && !matches!(state, Some("Z" | "X"))
            })
        })
        .collect();
    members.sort_unstable();
    members
}

/// Resident memory of a process in bytes (`VmRSS`), `None` when it is gone
/// (or is a zombie, which has none).
pub fn resident_bytes(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss(&status)
}

/// `VmRSS:    12345 kB` from `/proc/<pid>/status`, in bytes.
fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib * 1024)
}

/// Resident memory of every live process in process group `pgid`, in bytes.
pub fn group_resident_bytes(pgid: u32) -> u64 {
    group_members(pgid)
        .into_iter()
        .filter_map(resident_bytes)
        .sum()
}

/// A server recorded under `$COMMUNITY_OS_RUN_DIR/pids/` while it runs, so
/// [`reap_registered`] can stop it if its owner is killed. Dropping it
/// removes the record.
#[derive(Debug)]
pub(crate) struct Registration(PathBuf);

impl Registration {
    /// `None` outside `cargo xtask test` (no run directory).
    pub(crate) fn new(pid: u32, own_group: bool) -> Option<Self> {
        let dir = PathBuf::from(std::env::var_os(env::RUN_DIR)?).join("pids");
        fs::create_dir_all(&dir).ok()?;
        let file = dir.join(pid.to_string());
        let kind = if own_group { "group" } else { "process" };
        fs::write(&file, kind).ok()?;
        Some(Self(file))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Stops every server registered under `run_dir` that is still running (its
/// test was killed before it could clean up). Returns their pids.
pub fn reap_registered(run_dir: &Path) -> Vec<u32> {
    let Ok(entries) = fs::read_dir(run_dir.join("pids")) else {
        return Vec::new();
    };
    let mut reaped = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let pid = path
            .file_name()
            .and_then(|name| name.to_str()?.parse::<u32>().ok());
        if let Some(pid) = pid.filter(|pid| is_alive(*pid)) {
            let group = fs::read_to_string(&path).is_ok_and(|kind| kind == "group");
            signal_process(pid, group, Signal::SIGKILL);
            reaped.push(pid);
        }
        let _ = fs::remove_file(&path);
    }
    reaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_resident_memory_from_proc() {
        let status = "Name:\tworkerd\nVmPeak:\t  900 kB\nVmRSS:\t  153600 kB\nRssAnon:\t 1 kB\n";
        assert_eq!(parse_vm_rss(status), Some(153_600 * 1024));
        assert_eq!(parse_vm_rss("Name:\tkthreadd\n"), None);
        // This process, and the process group it is in.
        let own = resident_bytes(std::process::id()).expect("this process has a VmRSS");
        assert!(own > 1024 * 1024, "{own} bytes");
        let group = nix::unistd::getpgrp().as_raw().unsigned_abs();
        assert!(group_resident_bytes(group) >= own);
        assert_eq!(resident_bytes(u32::MAX), None);
    }

    #[test]
    fn knows_a_port_taken_under_it_from_other_failures() {
        // What wrangler 4.86 prints when workerd cannot bind, as
        // `ChildProcess::ensure_running` and `WranglerDevBuilder::start`
        // wrap it.
        let taken = anyhow::anyhow!(
            "wrangler dev exited early (exit status: 1); last output:\n\
             ✘ [ERROR] Address already in use (127.0.0.1:44613). Please check that you \
             are not already running a server on this address or specify a different port \
             with --port."
        )
        .context("wrangler dev --config wrangler.toml on http://127.0.0.1:41191/health");
        assert!(address_in_use(&taken));
        // `xtask stack` matched it in any case before it called this.
        assert!(address_in_use(&anyhow::anyhow!(
            "listen: address already in use"
        )));
        let other = anyhow::anyhow!("wrangler dev exited early: no such environment")
            .context("wrangler dev --config wrangler.toml");
        assert!(!address_in_use(&other));
    }

    #[test]
    fn free_port_is_bindable() {
        let port = free_port().expect("a free port");
        TcpListener::bind(("127.0.0.1", port)).expect("port is still free");
    }

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("log");
        fs::write(&log, "one\ntwo\nthree\n").expect("write log");
        assert_eq!(log_tail(&log, 2), "two\nthree");
        assert!(log_tail(&dir.path().join("missing"), 2).contains("no log"));
    }

    #[test]
    fn dropping_a_group_leader_stops_its_children() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("log");
        let mut command = Command::new("sh");
        // The grandchild ignores nothing; it must die with its group.
        command.args(["-c", "sleep 600 & echo $! > child.pid; wait"]);
        command.current_dir(dir.path());
        let process = ChildProcess::spawn("sh", command, &log, true).expect("spawn");
        let leader = process.pid();
        let pid_file = dir.path().join("child.pid");
        wait_until(
            "child pid file",
            Duration::from_secs(5),
            Duration::from_millis(10),
            || Ok(fs::read_to_string(&pid_file).is_ok_and(|pid| pid.ends_with('\n'))),
        )
        .expect("grandchild started");
        let grandchild: u32 = fs::read_to_string(&pid_file)
            .expect("pid file")
            .trim()
            .parse()
            .expect("pid");
        assert!(is_alive(grandchild));
        assert_eq!(group_members(leader).len(), 2);

        drop(process);

        assert!(!is_alive(leader), "leader {leader} still running");
        wait_until(
            "grandchild exit",
            Duration::from_secs(5),
            Duration::from_millis(10),
            || Ok(!is_alive(grandchild)),
        )
        .expect("grandchild stopped with its group");
    }

    #[test]
    fn early_exit_reports_the_log_tail() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("log");
        let mut command = Command::new("sh");
        command.args(["-c", "echo 'address already in use' >&2; exit 3"]);
        let mut process = ChildProcess::spawn("failing", command, &log, false).expect("spawn");
        let error = wait_until(
            "failing",
            Duration::from_secs(5),
            Duration::from_millis(10),
            || process.ensure_running().map(|()| false),
        )
        .expect_err("it exits");
        let message = format!("{error:#}");
        assert!(message.contains("address already in use"), "{message}");
        assert!(message.contains("failing exited early"), "{message}");
    }

    #[test]
    fn reaping_stops_registered_servers_left_behind() {
        let run_dir = tempfile::tempdir().expect("temp dir");
        let mut orphan = Command::new("sleep").arg("600").spawn().expect("spawn");
        let pids = run_dir.path().join("pids");
        fs::create_dir_all(&pids).expect("pids dir");
        fs::write(pids.join(orphan.id().to_string()), "process").expect("register");
        fs::write(pids.join("999999999"), "process").expect("stale entry");

        assert_eq!(reap_registered(run_dir.path()), vec![orphan.id()]);
        let status = orphan.wait().expect("wait");
        assert!(!status.success(), "killed, not exited: {status}");
        assert_eq!(fs::read_dir(&pids).expect("pids dir").count(), 0);
    }
}
