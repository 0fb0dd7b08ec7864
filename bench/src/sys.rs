//! Linux process settings and accounting: open-file limits, CPU affinity, and the kernel's
//! per-process and per-CPU counters under `/proc`.

use std::fs;
use std::io;
use std::path::Path;
use std::time::Duration;

/// Raises this process's open-file limit (`RLIMIT_NOFILE`) to at least `wanted`, or as far as
/// the hard limit allows when that cannot be raised. Child processes inherit the limit.
///
/// Returns the soft limit in force afterwards.
pub fn raise_open_files(wanted: u64) -> io::Result<u64> {
    let (soft, hard) = rlimit::Resource::NOFILE.get()?;
    if soft >= wanted {
        return Ok(soft);
    }
    // Raising the hard limit needs CAP_SYS_RESOURCE; without it, settle for the hard limit.
    if rlimit::Resource::NOFILE
        .set(wanted, hard.max(wanted))
        .is_ok()
    {
        return Ok(wanted);
    }
    rlimit::Resource::NOFILE.set(hard, hard)?;
    Ok(hard)
}

/// Pins the calling thread (and the threads and processes it starts afterwards) to `cpu`.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: an all-zero `cpu_set_t` is the empty set, and CPU_SET writes inside it (it checks
    // `cpu` against the set's size).
    let set = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        set
    };
    // SAFETY: pid 0 is the calling thread; `set` is a valid set of the size given.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The length of a clock tick, the unit of `/proc` CPU times.
fn clock_tick() -> Duration {
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_second = u64::try_from(per_second).unwrap_or(100).max(1);
    Duration::from_nanos(1_000_000_000 / per_second)
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// The CPU time that process `pid` has used, all its live threads together, in the kernel's
/// own accounting: the time on CPU of `/proc/PID/task/*/schedstat`, in nanoseconds.
///
/// Where schedstat is missing (a kernel without `CONFIG_SCHED_INFO`), utime + stime of
/// `/proc/PID/stat`, which count in clock ticks (10 ms on most kernels): too coarse for short
/// runs, which is why schedstat comes first.
pub fn process_cpu_time(pid: u32) -> io::Result<Duration> {
    // Decided by the kernel, not by the process, so every sample of a run counts alike.
    if Path::new("/proc/self/schedstat").exists() {
        threads_on_cpu(pid)
    } else {
        user_and_system_time(pid)
    }
}

/// The sum of the first field (time on CPU, ns) of every thread's schedstat.
fn threads_on_cpu(pid: u32) -> io::Result<Duration> {
    let mut nanos = 0;
    for task in fs::read_dir(format!("/proc/{pid}/task"))? {
        let schedstat = match fs::read_to_string(task?.path().join("schedstat")) {
            Ok(schedstat) => schedstat,
            // A thread that ended since the directory was read: its time is gone with it.
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        nanos += schedstat
            .split_whitespace()
            .next()
            .and_then(|field| field.parse::<u64>().ok())
            .ok_or_else(|| invalid(format!("/proc/{pid}/task/*/schedstat is malformed")))?;
    }
    Ok(Duration::from_nanos(nanos))
}

/// utime + stime of `/proc/PID/stat`, all threads, in clock ticks.
fn user_and_system_time(pid: u32) -> io::Result<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name is in parentheses and may hold spaces: count fields after the last `)`.
    // Field 3 (state) is the first there, so utime (14) and stime (15) are the 12th and 13th.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| invalid(format!("/proc/{pid}/stat has no command name")))?;
    let mut fields = after_name.split_whitespace().skip(11);
    let mut next_ticks = || -> io::Result<u64> {
        fields
            .next()
            .and_then(|field| field.parse().ok())
            .ok_or_else(|| invalid(format!("/proc/{pid}/stat is too short")))
    };
    let ticks = next_ticks()? + next_ticks()?;
    Ok(clock_tick() * u32::try_from(ticks).map_err(|_| invalid("CPU time overflow".into()))?)
}

/// A `kB` line of `/proc/PID/status`, in bytes.
fn status_kib(pid: u32, key: &str) -> io::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|value| value.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| invalid(format!("/proc/{pid}/status has no {key}")))
}

/// The resident set size of process `pid` in bytes (`VmRSS` of `/proc/PID/status`).
pub fn process_rss(pid: u32) -> io::Result<u64> {
    status_kib(pid, "VmRSS")
}

/// The CPUs process `pid` may run on, as the kernel writes them (`0`, `0-1`, ...).
pub fn allowed_cpus(pid: u32) -> io::Result<String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .map(|value| value.trim().to_owned())
        .ok_or_else(|| invalid(format!("/proc/{pid}/status has no Cpus_allowed_list")))
}

/// The time `cpu` has spent busy (everything but idle and I/O wait) since boot, from
/// `/proc/stat`, whoever ran on it.
pub fn cpu_busy_time(cpu: usize) -> io::Result<Duration> {
    let stat = fs::read_to_string("/proc/stat")?;
    let name = format!("cpu{cpu}");
    let line = stat
        .lines()
        .find(|line| line.split_whitespace().next() == Some(name.as_str()))
        .ok_or_else(|| invalid(format!("/proc/stat has no {name}")))?;
    // user nice system idle iowait irq softirq steal guest guest_nice; guest time is counted
    // in user already.
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|field| field.parse().unwrap_or(0))
        .collect();
    let busy: u64 = ticks
        .iter()
        .enumerate()
        .filter(|(index, _)| *index != 3 && *index != 4)
        .map(|(_, ticks)| ticks)
        .sum();
    Ok(clock_tick() * u32::try_from(busy).map_err(|_| invalid("CPU time overflow".into()))?)
}

/// A one-line description of this machine: CPU model, CPU count, memory and kernel.
pub fn machine() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name")?.split_once(':'))
        .map_or("unknown CPU", |(_, model)| model.trim());
    let cpus = cpuinfo
        .lines()
        .filter(|line| line.starts_with("processor"))
        .count();
    let memory = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|meminfo| {
            meminfo
                .lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|value| value.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        })
        .map_or_else(
            || "unknown memory".to_owned(),
            |kib| format!("{:.0} GiB", kib as f64 / (1 << 20) as f64),
        );
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{model}, {cpus} CPUs, {memory}, Linux {}", kernel.trim())
}

/// The 1, 5 and 15 minute load averages, from `/proc/loadavg`.
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|loadavg| {
            loadavg
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}
