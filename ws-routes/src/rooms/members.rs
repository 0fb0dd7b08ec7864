//! A room's members: by connection id for joins and leaves, and as one list for broadcasts.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use crate::socket::Sender;

/// The members of one room. A broadcast takes the list, made at the first broadcast after a
/// join or a leave and shared by the ones after it: a room that does not change is not copied
/// (and its members' senders not counted up and down again) at every broadcast, which, for
/// thousands of members, each in memory of its own, is a pass over all of them that the
/// writes to their sockets then repeat.
///
/// Ordered by id, which a connection takes when it first joins a room (or makes a `Sender`):
/// usually the order the connections started in, and so the order the kernel made their
/// sockets in. A broadcast goes through the kernel's descriptor table and socket state in
/// about the order they lie in memory, not at random as a hash map's order would have it.
#[derive(Default)]
pub(super) struct Members {
    by_id: BTreeMap<u64, Sender>,
    list: OnceLock<Arc<[(u64, Sender)]>>,
}

impl Members {
    pub(super) fn insert(&mut self, sender: Sender) {
        self.by_id.insert(sender.id(), sender);
        self.list.take();
    }

    pub(super) fn remove(&mut self, id: u64) {
        if self.by_id.remove(&id).is_some() {
            self.list.take();
        }
    }

    pub(super) fn contains(&self, id: u64) -> bool {
        self.by_id.contains_key(&id)
    }

    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (u64, &Sender)> {
        self.by_id.iter().map(|(id, sender)| (*id, sender))
    }

    /// Every member, for a broadcast.
    pub(super) fn list(&self) -> Arc<[(u64, Sender)]> {
        let list = self.list.get_or_init(|| {
            self.by_id
                .iter()
                .map(|(id, sender)| (*id, sender.clone()))
                .collect()
        });
        Arc::clone(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::send_queue::SendQueue;

    fn ids(list: &[(u64, Sender)]) -> Vec<u64> {
        list.iter().map(|(id, _)| *id).collect()
    }

    #[test]
    fn the_list_follows_joins_and_leaves() {
        let queues: Vec<SendQueue> = (0..4).map(|_| SendQueue::new(4)).collect();
        let [one, two, three, stranger] = [0, 1, 2, 3].map(|at| queues[at].sender().id());
        let mut members = Members::default();
        members.insert(queues[0].sender());
        members.insert(queues[1].sender());
        let first = members.list();
        assert_eq!(ids(&first), [one, two]);
        assert!(
            Arc::ptr_eq(&first, &members.list()),
            "made once while unchanged"
        );
        members.insert(queues[2].sender());
        assert_eq!(ids(&members.list()), [one, two, three]);
        members.remove(one);
        assert_eq!(ids(&members.list()), [two, three]);
        let kept = members.list();
        members.remove(stranger);
        assert!(
            Arc::ptr_eq(&kept, &members.list()),
            "a stranger's leave changes nothing"
        );
        assert_eq!(
            ids(&first),
            [one, two],
            "a broadcast's list stays as it was taken"
        );
    }

    #[test]
    fn the_list_goes_in_the_order_of_connection_ids() {
        let queues: Vec<SendQueue> = (0..64).map(|_| SendQueue::new(4)).collect();
        let mut members = Members::default();
        // Joined in another order than the ids'.
        for queue in queues
            .iter()
            .rev()
            .step_by(2)
            .chain(queues.iter().step_by(2))
        {
            members.insert(queue.sender());
        }
        let mut started: Vec<u64> = queues.iter().map(|queue| queue.sender().id()).collect();
        started.sort_unstable();
        assert_eq!(ids(&members.list()), started);
    }
}
