//! [`quiet_engine_output`]: what burn's collective engine prints, cut to what a user reads.
//!
//! When a process of the group dies, the engine's threads in the others panic (a closed
//! WebSocket, a data server that no longer answers) before rlora's own error names the failed
//! exchange and the checkpoint to resume from. Each of those panics becomes one warning line
//! instead of a panic report with a backtrace note; with `RUST_BACKTRACE` set they are reported
//! in full, as Rust does.

use std::io::IsTerminal;
use std::panic::PanicHookInfo;
use std::sync::Once;

/// The crates of burn's collective engine, as they appear in the paths of their source files.
const ENGINE_CRATES: [&str; 2] = ["burn-collective", "burn-communication"];

/// Prints the engine's logs at warning level and above to stderr (burn's communication layer
/// otherwise installs a subscriber that prints every connection and transfer to stdout when its
/// first server starts), colored only on a terminal, and reports a panic of the engine's threads
/// in one line (`engine_panic_line`) unless `RUST_BACKTRACE` is set. Installed once per
/// process.
pub fn quiet_engine_output() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
            .try_init();
        let report_in_full = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| match engine_panic_line(info) {
            Some(line) if std::env::var_os("RUST_BACKTRACE").is_none() => eprintln!("{line}"),
            _ => report_in_full(info),
        }));
    });
}

/// `warning: burn's collective engine: <message> (<crate>/<file>:<line>)` for a panic raised in
/// the engine's source; none for any other panic.
fn engine_panic_line(info: &PanicHookInfo<'_>) -> Option<String> {
    let location = info.location()?;
    let file = location.file();
    let start = ENGINE_CRATES
        .iter()
        .filter_map(|name| file.find(name))
        .min()?;
    let payload = info.payload();
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    Some(format!(
        "warning: burn's collective engine: {message} ({}:{})",
        &file[start..],
        location.line()
    ))
}
