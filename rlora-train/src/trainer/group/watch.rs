//! [`GroupWatch`]: something the group needs besides its processes (rank 0's coordinator, a
//! child process), checked while this process waits for the group, so that its end stops the
//! wait at once instead of after the group's time-out.

use std::sync::Arc;

/// A check that says why the group cannot go on (`Some(why)`), or `None` while it can.
#[derive(Clone)]
pub struct GroupWatch(Arc<dyn Fn() -> Option<String> + Send + Sync>);

impl GroupWatch {
    /// The watch that runs `check`.
    pub fn new(check: impl Fn() -> Option<String> + Send + Sync + 'static) -> Self {
        Self(Arc::new(check))
    }

    /// Why the group cannot go on, if it cannot.
    pub fn check(&self) -> Option<String> {
        (self.0)()
    }
}

impl std::fmt::Debug for GroupWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupWatch")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn a_watch_reports_why_the_group_cannot_go_on() {
        let ended = Arc::new(AtomicBool::new(false));
        let flag = ended.clone();
        let watch = GroupWatch::new(move || flag.load(Ordering::SeqCst).then(|| "it ended".into()));
        assert_eq!(watch.check(), None);
        ended.store(true, Ordering::SeqCst);
        assert_eq!(watch.clone().check().as_deref(), Some("it ended"));
    }
}
