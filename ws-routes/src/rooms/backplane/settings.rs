//! Which backplane the rooms are built with, from the settings
//! [`RoomsBuilder`](crate::rooms::RoomsBuilder) collects.

use super::Backplane;
use super::memory::InProcess;
#[cfg(feature = "redis")]
use super::redis::{RedisBackplane, RedisSettings};
use crate::error::Error;

/// Which backplane a [`RoomsBuilder`](crate::rooms::RoomsBuilder) builds the rooms with: in-process
/// unless a shared one is given its address.
#[derive(Debug, Clone, Default)]
pub(crate) struct BackplaneSettings {
    /// The Redis backplane's settings; it is on once they have a URL.
    #[cfg(feature = "redis")]
    pub(crate) redis: RedisSettings,
}

impl BackplaneSettings {
    /// The backplane these settings choose, not started yet. Fails only on a shared
    /// backplane's address that cannot be used.
    pub(crate) fn build(self) -> Result<Box<dyn Backplane>, Error> {
        #[cfg(feature = "redis")]
        if let Some(redis) = RedisBackplane::new(&self.redis)? {
            return Ok(Box::new(redis));
        }
        Ok(Box::new(InProcess))
    }
}
