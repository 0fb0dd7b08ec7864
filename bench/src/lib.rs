//! What the ws-routes benchmarks share.
//!
//! The servers under test are the binaries in `src/bin/` (each takes `--addr` and prints
//! `listening on ws://ADDR` once bound) and the Python scripts in `python/`; `compare` starts
//! each in turn pinned to one CPU, drives it from the other CPU with the load generator of
//! [`load`] (or, for broadcasts, the room of [`fanout`]; for replays on reconnect,
//! [`recovery`]), reads the server's own CPU and memory
//! accounting through [`process`], and prints the tables of [`report`].

pub mod fanout;
pub mod load;
pub mod process;
pub mod recovery;
pub mod report;
pub mod server;
pub mod sys;
