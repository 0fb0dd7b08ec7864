//! Where broadcasts wait for Redis, one queue per stream, numbered per stream in the order they
//! came, within one byte budget for all.

use std::collections::{HashMap, VecDeque};

use bytes::{Bytes, BytesMut};

use super::envelope;
use super::streams::Stream;

/// What an outbox entry costs beyond its envelope, for the byte budget.
pub(super) const ENTRY_OVERHEAD: usize = 64;
/// The most entries, and bytes, one round of `XADD`s carries.
const BATCH_ENTRIES: usize = 64;
const BATCH_BYTES: usize = 1 << 20;

/// Broadcasts waiting for Redis, oldest first in each stream's queue, within a byte budget.
#[derive(Default)]
pub(super) struct Outbox {
    queues: HashMap<Stream, VecDeque<Bytes>>,
    /// The streams with broadcasts waiting, in the order the publisher takes them: the one
    /// that waited longest first, and a stream goes to the back once it had a batch.
    turns: VecDeque<Stream>,
    /// How many broadcasts wait, in every queue.
    len: usize,
    /// The budget used: the envelopes plus [`ENTRY_OVERHEAD`] each.
    bytes: usize,
    /// The sequence number of the last broadcast accepted, per stream.
    last_seq: HashMap<Stream, u64>,
}

impl Outbox {
    /// How many broadcasts wait.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Numbers `envelope` in `stream`'s sequence and queues it, or gives it back when it does
    /// not fit in `budget`.
    pub(super) fn push(
        &mut self,
        stream: Stream,
        mut envelope: BytesMut,
        budget: usize,
    ) -> Result<(), BytesMut> {
        let cost = envelope.len() + ENTRY_OVERHEAD;
        if self.bytes + cost > budget {
            return Err(envelope);
        }
        let seq = self.last_seq.entry(stream).or_default();
        *seq += 1;
        envelope::number(&mut envelope, *seq);
        self.bytes += cost;
        self.len += 1;
        let queue = self.queues.entry(stream).or_default();
        if queue.is_empty() {
            self.turns.push_back(stream);
        }
        queue.push_back(envelope.freeze());
        Ok(())
    }

    /// The oldest broadcasts of the stream whose turn it is, within one batch's bounds,
    /// without removing them.
    pub(super) fn batch(&self) -> Option<(Stream, Vec<Bytes>)> {
        let stream = *self.turns.front()?;
        let mut size = 0;
        let mut batch = Vec::new();
        for envelope in self.queues.get(&stream)?.iter().take(BATCH_ENTRIES) {
            if !batch.is_empty() && size + envelope.len() > BATCH_BYTES {
                break;
            }
            size += envelope.len();
            batch.push(envelope.clone());
        }
        Some((stream, batch))
    }

    /// Removes the `n` oldest broadcasts of `stream`, once published; the stream's turn ends.
    pub(super) fn remove(&mut self, stream: Stream, n: usize) {
        let Some(queue) = self.queues.get_mut(&stream) else {
            return;
        };
        for envelope in queue.drain(..n) {
            self.bytes -= envelope.len() + ENTRY_OVERHEAD;
            self.len -= 1;
        }
        let empty = queue.is_empty();
        if empty {
            self.queues.remove(&stream);
        }
        if let Some(at) = self.turns.iter().position(|turn| *turn == stream) {
            self.turns.remove(at);
            if !empty {
                self.turns.push_back(stream);
            }
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
        let stream = Stream::Shared(0);
        for _ in 0..3 {
            outbox
                .push(stream, encode(room, &message), 3 * cost)
                .unwrap();
        }
        assert!(
            outbox
                .push(stream, encode(room, &message), 3 * cost)
                .is_err()
        );
        assert_eq!(outbox.bytes, 3 * cost);
        let (batch_stream, batch) = outbox.batch().unwrap();
        assert_eq!(batch_stream, stream);
        let seqs: Vec<u64> = batch
            .into_iter()
            .map(|envelope| envelope::decode(envelope).unwrap().seq)
            .collect();
        assert_eq!(seqs, [1, 2, 3]);
        outbox.remove(stream, 2);
        assert_eq!((outbox.bytes, outbox.len()), (cost, 1));
        // A refused broadcast took no number: the next one follows on.
        outbox
            .push(stream, encode(room, &message), 3 * cost)
            .unwrap();
        assert_eq!(
            envelope::decode(outbox.queues[&stream][1].clone())
                .unwrap()
                .seq,
            4
        );
    }

    #[test]
    fn a_batch_keeps_to_its_bounds_but_always_takes_one() {
        let stream = Stream::Shared(0);
        let mut outbox = Outbox::default();
        let big = Message::binary(vec![0u8; BATCH_BYTES]);
        for _ in 0..2 {
            outbox
                .push(stream, encode(Audience::Everyone, &big), usize::MAX)
                .unwrap();
        }
        assert_eq!(outbox.batch().unwrap().1.len(), 1);
        let mut outbox = Outbox::default();
        for _ in 0..BATCH_ENTRIES + 5 {
            outbox
                .push(
                    stream,
                    encode(Audience::Everyone, &Message::text("x")),
                    usize::MAX,
                )
                .unwrap();
        }
        assert_eq!(outbox.batch().unwrap().1.len(), BATCH_ENTRIES);
    }

    #[test]
    fn each_stream_has_its_own_numbers_and_streams_take_turns() {
        let (a, b) = (Stream::Interest(0), Stream::Interest(1));
        let message = Message::text("x");
        let mut outbox = Outbox::default();
        for stream in [a, a, b, a, b] {
            outbox
                .push(stream, encode(Audience::Room("r"), &message), usize::MAX)
                .unwrap();
        }
        let seqs = |batch: Vec<Bytes>| -> Vec<u64> {
            batch
                .into_iter()
                .map(|envelope| envelope::decode(envelope).unwrap().seq)
                .collect()
        };
        let (first, batch) = outbox.batch().unwrap();
        assert_eq!((first, seqs(batch)), (a, vec![1, 2, 3]));
        outbox.remove(a, 1);
        // Not all of it landed: the other stream's turn comes first all the same.
        let (second, batch) = outbox.batch().unwrap();
        assert_eq!((second, seqs(batch)), (b, vec![1, 2]));
        outbox.remove(b, 2);
        let (third, batch) = outbox.batch().unwrap();
        assert_eq!((third, seqs(batch)), (a, vec![2, 3]));
        outbox.remove(a, 2);
        assert!(outbox.is_empty() && outbox.batch().is_none());
    }
}
