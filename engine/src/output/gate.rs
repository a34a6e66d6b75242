//! An [`Output`] in front of another that can be shut: after the run was interrupted, tasks that
//! are being stopped still finish and report (killed commands, lost shells); none of that is
//! what happened on the hosts, so it is not shown. The recap still is.

use super::{Event, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub struct Gate {
    inner: Arc<dyn Output>,
    shut: AtomicBool,
}

impl Gate {
    pub fn new(inner: Arc<dyn Output>) -> Self {
        Gate {
            inner,
            shut: AtomicBool::new(false),
        }
    }

    /// From now on only the recap gets through.
    pub fn shut(&self) {
        self.shut.store(true, Ordering::SeqCst);
    }
}

impl Output for Gate {
    fn emit(&self, event: &Event) {
        if !self.shut.load(Ordering::SeqCst) || matches!(event, Event::Recap { .. }) {
            self.inner.emit(event);
        }
    }

    fn suspend(&self) {
        self.inner.suspend();
    }

    fn resume(&self) {
        self.inner.resume();
    }
}
