//! Which task (plan leaf or handler flush) the code running now belongs to, so every event it
//! emits carries the right [`TaskId`] for the output to group by. Kept in a tokio task-local:
//! dynamic includes and `meta: flush_handlers` run nested inside the task that brought them in
//! and inherit its id without passing it through every call.

use crate::output::TaskId;
use std::future::Future;

tokio::task_local! {
    static SLOT: TaskId;
}

/// The task id of the code running now (0 outside any task).
pub fn current() -> TaskId {
    SLOT.try_with(|s| *s).unwrap_or(0)
}

/// Run `fut` as part of task `id`.
pub async fn scope<F: Future>(id: TaskId, fut: F) -> F::Output {
    SLOT.scope(id, fut).await
}
