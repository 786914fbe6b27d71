//! Per-user state shared by all sessions of one server: how many sessions each user has, and
//! each quota user's [`Usage`].
//!
//! Owns the registry and the [`UserSlot`] guard a logged-in session holds. Dropping the guard
//! (the session ended in any way: QUIT, timeout, disconnect, shutdown, a new login) gives the
//! slot back; when a user's last session ends its usage counter is forgotten, and the next
//! first login measures the home again. It makes no protocol decision (the connection task
//! turns a refusal into 421).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ftp_proto::VirtualPath;
use tokio::sync::OnceCell;
use tracing::warn;

use crate::auth::Principal;
use crate::storage::Storage;
use crate::storage::quota::{Usage, measure};

/// A usage counter, measured once by the first session that needs it.
type UsageCell = Arc<OnceCell<Arc<Usage>>>;

/// Live sessions per user name, and usage counters per user name and home.
#[derive(Debug, Default)]
pub(crate) struct Accounts {
    users: Mutex<HashMap<String, UserState>>,
}

#[derive(Debug, Default)]
struct UserState {
    sessions: u32,
    /// Per home: the sessions using the counter, and the counter.
    usage: HashMap<VirtualPath, (u32, UsageCell)>,
}

impl Accounts {
    /// Counts a session of `principal`, or `None` when the user already has
    /// [`Principal::max_sessions`] sessions.
    pub(crate) fn admit(self: &Arc<Self>, principal: &Principal) -> Option<UserSlot> {
        // A poisoned lock means a panic while counting; refusing is the safe answer.
        let mut users = self.users.lock().ok()?;
        let state = users.entry(principal.name.clone()).or_default();
        if principal
            .max_sessions
            .is_some_and(|max| state.sessions >= max)
        {
            if state.sessions == 0 {
                users.remove(&principal.name);
            }
            return None;
        }
        state.sessions += 1;
        let usage = principal.quota.map(|_| {
            let (count, cell) = state
                .usage
                .entry(principal.home.clone())
                .or_insert_with(|| (0, Arc::new(OnceCell::new())));
            *count += 1;
            (principal.home.clone(), Arc::clone(cell))
        });
        Some(UserSlot {
            accounts: Arc::clone(self),
            name: principal.name.clone(),
            usage,
        })
    }

    /// Live sessions of `name`.
    #[cfg(test)]
    fn sessions(&self, name: &str) -> u32 {
        self.users
            .lock()
            .map_or(0, |users| users.get(name).map_or(0, |s| s.sessions))
    }
}

/// A counted session of one user; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct UserSlot {
    accounts: Arc<Accounts>,
    name: String,
    usage: Option<(VirtualPath, UsageCell)>,
}

impl UserSlot {
    /// The user's usage counter for a quota of `limit` bytes: the one the user's other sessions
    /// share, measured from `storage` by the first session that asks (the others wait for it).
    /// `None` when the principal had no quota.
    pub(crate) async fn usage<S: Storage>(&self, storage: &S, limit: u64) -> Option<Arc<Usage>> {
        let (home, cell) = self.usage.as_ref()?;
        let usage = cell
            .get_or_init(|| async {
                let measured = measure(storage, home).await;
                let used = if measured.complete {
                    measured.bytes
                } else {
                    warn!(
                        user = %self.name,
                        %home,
                        limit = crate::storage::quota::MAX_SCAN_ENTRIES,
                        "quota: the home holds too many entries to measure; treated as full"
                    );
                    measured.bytes.max(limit)
                };
                Arc::new(Usage::new(limit, used))
            })
            .await;
        usage.set_limit(limit);
        Some(Arc::clone(usage))
    }
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let Ok(mut users) = self.accounts.users.lock() else {
            return;
        };
        let Some(state) = users.get_mut(&self.name) else {
            return;
        };
        state.sessions = state.sessions.saturating_sub(1);
        if let Some((home, _)) = &self.usage
            && let Some((count, _)) = state.usage.get_mut(home)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                state.usage.remove(home);
            }
        }
        if state.sessions == 0 {
            users.remove(&self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Permissions;

    #[test]
    fn slots_are_counted_and_freed() {
        let accounts = Arc::new(Accounts::default());
        let bob = Principal::new("bob", VirtualPath::root(), Permissions::ALL).with_max_sessions(2);
        let first = accounts.admit(&bob).unwrap();
        let second = accounts.admit(&bob).unwrap();
        assert!(accounts.admit(&bob).is_none());
        assert_eq!(accounts.sessions("bob"), 2);
        drop(first);
        let third = accounts.admit(&bob).unwrap();
        drop((second, third));
        assert_eq!(accounts.sessions("bob"), 0);
        assert!(accounts.users.lock().unwrap().is_empty());
    }
}
