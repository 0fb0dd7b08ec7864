//! Where broadcasts wait for Redis, numbered in the order they came, within a byte budget.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::envelope;

/// What an outbox entry costs beyond its envelope, for the byte budget.
pub(super) const ENTRY_OVERHEAD: usize = 64;
/// The most entries, and bytes, one round of `XADD`s carries.
const BATCH_ENTRIES: usize = 64;
const BATCH_BYTES: usize = 1 << 20;

/// Broadcasts waiting for Redis, oldest first, within a byte budget.
#[derive(Default)]
pub(super) struct Outbox {
    queue: VecDeque<Bytes>,
    /// The budget used: the envelopes plus [`ENTRY_OVERHEAD`] each.
    bytes: usize,
    /// The sequence number of the next broadcast accepted.
    next_seq: u64,
}

impl Outbox {
    /// How many broadcasts wait.
    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Numbers `envelope` and queues it, or gives it back when it does not fit in `budget`.
    pub(super) fn push(&mut self, mut envelope: BytesMut, budget: usize) -> Result<(), BytesMut> {
        let cost = envelope.len() + ENTRY_OVERHEAD;
        if self.bytes + cost > budget {
            return Err(envelope);
        }
        self.next_seq += 1;
        envelope::number(&mut envelope, self.next_seq);
        self.bytes += cost;
        self.queue.push_back(envelope.freeze());
        Ok(())
    }

    /// The oldest broadcasts, within one batch's bounds, without removing them.
    pub(super) fn batch(&self) -> Vec<Bytes> {
        let mut size = 0;
        let mut batch = Vec::new();
        for envelope in self.queue.iter().take(BATCH_ENTRIES) {
            if !batch.is_empty() && size + envelope.len() > BATCH_BYTES {
                break;
            }
            size += envelope.len();
            batch.push(envelope.clone());
        }
        batch
    }

    /// Removes the `n` oldest broadcasts, once published.
    pub(super) fn remove(&mut self, n: usize) {
        for envelope in self.queue.drain(..n) {
            self.bytes -= envelope.len() + ENTRY_OVERHEAD;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rooms::backplane::{Audience, Broadcast, Numbering};
    use crate::wire::Message;

    fn encode(audience: Audience<'_>, message: &Message) -> BytesMut {
        let broadcast = Broadcast {
            audience,
            message,
            except: None,
            numbering: Numbering::None,
        };
        envelope::encode(1, &broadcast).unwrap()
    }

    #[test]
    fn the_outbox_keeps_to_its_byte_budget_and_numbers_what_it_takes() {
        let message = Message::binary(vec![0u8; 100]);
        let room = Audience::Room("r");
        let cost = encode(room, &message).len() + ENTRY_OVERHEAD;
        let mut outbox = Outbox::default();
        for _ in 0..3 {
            outbox.push(encode(room, &message), 3 * cost).unwrap();
        }
        assert!(outbox.push(encode(room, &message), 3 * cost).is_err());
        assert_eq!(outbox.bytes, 3 * cost);
        let seqs: Vec<u64> = outbox
            .batch()
            .into_iter()
            .map(|envelope| envelope::decode(envelope).unwrap().seq)
            .collect();
        assert_eq!(seqs, [1, 2, 3]);
        outbox.remove(2);
        assert_eq!(outbox.bytes, cost);
        // A refused broadcast took no number: the next one follows on.
        outbox.push(encode(room, &message), 3 * cost).unwrap();
        assert_eq!(envelope::decode(outbox.queue[1].clone()).unwrap().seq, 4);
    }

    #[test]
    fn a_batch_keeps_to_its_bounds_but_always_takes_one() {
        let mut outbox = Outbox::default();
        let big = Message::binary(vec![0u8; BATCH_BYTES]);
        for _ in 0..2 {
            outbox
                .push(encode(Audience::Everyone, &big), usize::MAX)
                .unwrap();
        }
        assert_eq!(outbox.batch().len(), 1);
        let mut outbox = Outbox::default();
        for _ in 0..BATCH_ENTRIES + 5 {
            outbox
                .push(encode(Audience::Everyone, &Message::text("x")), usize::MAX)
                .unwrap();
        }
        assert_eq!(outbox.batch().len(), BATCH_ENTRIES);
    }
}
