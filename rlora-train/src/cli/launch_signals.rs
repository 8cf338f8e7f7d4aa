//! [`LaunchSignals`]: the signals `rlora launch` passes on to its ranks (SIGINT, SIGTERM). They
//! are caught instead of ending the launcher at once (which would leave its ranks running), so
//! that it can pass them on, wait for its ranks and end after them. Elsewhere than on Unix,
//! nothing is caught.

use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::CliError;

/// The signals caught while the launcher runs, until dropped.
pub struct LaunchSignals {
    /// The number of the last signal received and not yet taken (0: none).
    received: Arc<AtomicUsize>,
    #[cfg(unix)]
    registered: Vec<signal_hook::SigId>,
}

#[cfg(unix)]
impl LaunchSignals {
    /// Catches SIGINT and SIGTERM from now on.
    ///
    /// # Errors
    /// The system refuses a handler.
    pub fn catch() -> Result<Self, CliError> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let received = Arc::new(AtomicUsize::new(0));
        let mut registered = Vec::new();
        for signal in [SIGINT, SIGTERM] {
            let id = signal_hook::flag::register_usize(signal, received.clone(), signal as usize)
                .map_err(|e| format!("cannot catch {}: {e}", name(signal)))?;
            registered.push(id);
        }
        Ok(Self {
            received,
            registered,
        })
    }
}

#[cfg(not(unix))]
impl LaunchSignals {
    /// Catches nothing: only Unix signals are passed on.
    pub fn catch() -> Result<Self, CliError> {
        Ok(Self {
            received: Arc::new(AtomicUsize::new(0)),
        })
    }
}

impl LaunchSignals {
    /// The signal received since the last call, if any (of several, the last).
    pub fn take(&self) -> Option<i32> {
        match self.received.swap(0, Ordering::SeqCst) {
            0 => None,
            signal => i32::try_from(signal).ok(),
        }
    }
}

#[cfg(unix)]
impl Drop for LaunchSignals {
    fn drop(&mut self) {
        for id in self.registered.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Sends `signal` to `child` (not yet waited for, so that its process id is still its own).
///
/// # Errors
/// The system refuses (the error says why).
#[cfg(unix)]
pub fn pass_on(child: &Child, signal: i32) -> Result<(), String> {
    use rustix::process::{Pid, Signal, kill_process};
    let known =
        Signal::from_named_raw(signal).ok_or_else(|| format!("{}: unknown", name(signal)))?;
    kill_process(Pid::from_child(child), known).map_err(|e| e.to_string())
}

/// Sends nothing: only Unix signals are passed on.
#[cfg(not(unix))]
pub fn pass_on(_child: &Child, _signal: i32) -> Result<(), String> {
    Ok(())
}

/// `SIGINT`, `SIGTERM`, or `signal N`.
pub fn name(signal: i32) -> String {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGINT, SIGTERM};
        match signal {
            SIGINT => return "SIGINT".into(),
            SIGTERM => return "SIGTERM".into(),
            _ => {}
        }
    }
    format!("signal {signal}")
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_caught_signal_is_taken_once_and_passed_on() {
        let signals = LaunchSignals::catch().unwrap();
        assert_eq!(signals.take(), None);
        // Caught: this test process lives on, and the signal is taken once.
        let me = rustix::process::getpid();
        rustix::process::kill_process(me, rustix::process::Signal::TERM).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let taken = loop {
            if let Some(signal) = signals.take() {
                break signal;
            }
            assert!(std::time::Instant::now() < deadline, "SIGTERM not caught");
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        assert_eq!(name(taken), "SIGTERM");
        assert_eq!(signals.take(), None);
        // Passed on: the child ends by it.
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        pass_on(&child, signal_hook::consts::SIGTERM).unwrap();
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(signal_hook::consts::SIGTERM));
        assert_eq!(name(signal_hook::consts::SIGINT), "SIGINT");
        assert_eq!(name(1000), "signal 1000");
        assert!(pass_on(&child, 1000).unwrap_err().contains("signal 1000"));
    }
}
