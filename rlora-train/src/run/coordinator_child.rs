//! [`Coordinator`]: the group's coordinator that rank 0 serves as a child process (`rlora
//! coordinator`), refused at once when its ports are taken, and watched while the group waits
//! for it, so that its end stops rank 0 at once with its cause.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

use super::Failure;
use super::ports::taken_port;
use crate::trainer::{GroupSettings, GroupWatch};

/// The group's coordinator, served by rank 0 as a child process, which ends when this process
/// ends: with this handle, or when its standard input closes, should this process die.
pub struct Coordinator {
    child: Arc<Mutex<Child>>,
    /// `process N (rlora coordinator --port P)`, for messages.
    name: String,
}

impl Coordinator {
    /// Checks that the coordinator's two ports of `settings` are free now (rank 0 checks before
    /// it writes anything, and again as it starts the coordinator).
    ///
    /// # Errors
    /// A port is taken: the error names it, `--coordinator` and the system's reason.
    pub fn check_ports(settings: &GroupSettings) -> Result<(), Failure> {
        let port = settings.coordinator_addr.port();
        match taken_port(port, 2) {
            None => Ok(()),
            Some((taken, error)) => Err(format!(
                "--coordinator {}: rank 0 cannot serve the group's coordinator on port {taken} \
                 ({error}): another program holds it; give a --coordinator PORT free with the \
                 next one (`rlora launch` picks free ones unless --port is given)",
                settings.coordinator
            )
            .into()),
        }
    }

    /// Starts `program coordinator --port PORT` for the group of `settings`, once its two
    /// ports are free.
    ///
    /// # Errors
    /// A port of the coordinator is taken (see [`Coordinator::check_ports`]), or the program
    /// cannot be started.
    pub fn start(program: &Path, settings: &GroupSettings) -> Result<Self, Failure> {
        Self::check_ports(settings)?;
        let port = settings.coordinator_addr.port();
        let child = Command::new(program)
            .args([
                "coordinator",
                "--while-stdin-open",
                "--port",
                &port.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start the group's coordinator ({} coordinator --port {port}): {e}",
                    program.display()
                )
            })?;
        let name = format!("process {} (rlora coordinator --port {port})", child.id());
        println!(
            "the group's coordinator is {name}, on ports {port} and {}",
            port + 1
        );
        Ok(Self {
            child: Arc::new(Mutex::new(child)),
            name,
        })
    }

    /// A watch that says how the coordinator ended, once it has.
    pub fn watch(&self) -> GroupWatch {
        let (child, name) = (self.child.clone(), self.name.clone());
        GroupWatch::new(move || {
            let status = child.lock().ok()?.try_wait().ok()??;
            Some(format!(
                "the group's coordinator, {name}, {}: rank 0 serves it for the whole group, \
                 which cannot go on without it",
                ended(status)
            ))
        })
    }
}

impl Drop for Coordinator {
    fn drop(&mut self) {
        let Ok(mut child) = self.child.lock() else {
            return;
        };
        // Closing its standard input ends it too; killing it does not wait for it to notice.
        drop(child.stdin.take());
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// `failed (exit status: 1)`, `was killed (signal 9)`, or `ended (exit status: 0)`.
pub(crate) fn ended(status: ExitStatus) -> String {
    if status.success() {
        return format!("ended ({status})");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("was killed (signal {signal})");
        }
    }
    format!("failed ({status})")
}
