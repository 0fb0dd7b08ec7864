//! A hint to the CPU that memory is about to be read: a broadcast to thousands of members
//! reads each member's state once, right after a system call, where a cache miss would be
//! paid in full.

/// Brings the cache lines of `*value` into the CPU's cache, without waiting for them. Only a
/// hint: no effect on what the program does, and none on CPUs without the instruction.
pub(crate) fn prefetch<T>(value: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let start = value.cast::<i8>();
        for offset in (0..size_of::<T>()).step_by(64) {
            // SAFETY: a prefetch reads nothing the program sees and faults on no address, so
            // any pointer does; SSE, which it needs, is part of every x86-64 CPU.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(offset)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
