//! Data-parallel training through the `rlora` command: the devices of one process
//! (`--devices`) and a group of processes (`--nodes`, `rlora launch`) each train as one device
//! with the whole batch would; a group refuses ranks that would train apart and ports it cannot
//! serve, and stops cleanly and in bounded time.

mod devices;
mod processes;
mod refusals;
mod run;
mod stopping;
