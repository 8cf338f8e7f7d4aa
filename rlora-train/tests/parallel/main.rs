//! Data-parallel training through the `rlora` command: the devices of one process
//! (`--devices`) and a group of processes (`--nodes`, `rlora launch`) each train as one device
//! with the whole batch would.

mod devices;
mod processes;
mod run;
