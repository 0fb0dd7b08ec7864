//! The in-process backplane: a server on its own, whose rooms are all there is.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Weak;

use futures_util::future::{self, BoxFuture};

use super::{Backplane, Broadcast, Entry, LocalRooms};
use crate::error::Error;

/// No other server: broadcasts stop at this server's members, and presence counts them alone.
/// The default.
pub(crate) struct InProcess;

impl Backplane for InProcess {
    fn max_room_name(&self) -> usize {
        usize::MAX
    }

    fn start(&self, _local: Weak<dyn LocalRooms>) {}

    fn publish(&self, _broadcast: &Broadcast<'_>) -> bool {
        true
    }

    fn room_changed(&self, _room: &str) {}

    fn remote_count<'a>(&'a self, _room: &'a str) -> BoxFuture<'a, Result<usize, Error>> {
        Box::pin(future::ready(Ok(0)))
    }

    fn remote_presence(&self) -> BoxFuture<'_, Result<BTreeMap<String, usize>, Error>> {
        Box::pin(future::ready(Ok(BTreeMap::new())))
    }

    fn remote_entries<'a>(&'a self, _room: &'a str) -> BoxFuture<'a, Result<Vec<Entry>, Error>> {
        Box::pin(future::ready(Ok(Vec::new())))
    }

    fn server_name(&self) -> &str {
        "local"
    }
}

/// Printed as `None`: no backplane shares these rooms.
impl fmt::Debug for InProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("None")
    }
}
