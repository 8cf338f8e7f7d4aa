//! [`ENGINE_THREADS_VARIABLE`]: burn's collective engine on one worker thread, where its lost
//! wake-ups cannot happen.
//!
//! burn-collective 0.21 ends every exchange with a synchronization (`SyncService::sync`) that
//! checks its list of the peers heard from and then waits on a `Notify`; the task that hears a
//! peer adds it to the list and calls `notify_waiters`, which wakes only a waiter already
//! there. On a runtime of several worker threads the two run at once, and a peer heard between
//! the check and the wait wakes no one: that process waits forever while its peers go on (the
//! stall that [`StepCheck`](super::step_check) stops). Its tensor service waits for an exposed
//! tensor the same way. On one worker thread, tasks take turns only at an `.await`, and none
//! lies between such a check and its wait, so the wake-up cannot be lost.
//!
//! burn builds that runtime itself, at a process's first exchange, with tokio's default worker
//! count, which the environment variable [`ENGINE_THREADS_VARIABLE`] overrides. Measured with the
//! `exchange_soak` example (two processes, the tiny base's bucket, the `dev` build, a 2-core
//! machine): 6 stalls in 16,000 exchanges on tokio's default of a worker thread per core, none
//! in 20,000 on one, 4,000 of them beside two busy threads; an exchange of 20 million floats
//! took 1.35x as long on one thread as on two (README, "Training across processes").

/// The environment variable that sets the worker threads of the runtime burn's collective engine
/// builds (tokio's `TOKIO_WORKER_THREADS`, read once, when the engine starts): `rlora train` in a
/// group sets it to 1 before it starts any thread, unless it is set already. A program of one's
/// own should do the same, first thing in `main` (setting a variable while other threads run is
/// unsound, so the library cannot do it for the program).
pub const ENGINE_THREADS_VARIABLE: &str = "TOKIO_WORKER_THREADS";

/// Whether burn's collective engine will run on one worker thread (see the module's doc): the
/// variable [`ENGINE_THREADS_VARIABLE`] says 1.
pub(super) fn engine_on_one_thread() -> bool {
    std::env::var(ENGINE_THREADS_VARIABLE).is_ok_and(|threads| threads.trim() == "1")
}
