//! CPU time and memory of the server process, from `/proc` (Linux only).

use std::path::Path;

/// One reading of a process's counters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcSample {
    /// User + system CPU time so far, in seconds.
    pub cpu_seconds: f64,
    /// Resident set size now (`VmRSS`), in bytes.
    pub rss_bytes: u64,
    /// Peak resident set size (`VmHWM`), in bytes.
    pub rss_peak_bytes: u64,
}

/// Clock ticks per second of `/proc/PID/stat` times (`sysconf(_SC_CLK_TCK)`, 100 on Linux
/// in practice).
#[allow(unsafe_code)]
pub fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value; it has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// Reads `/proc/PID/stat` (fields 14 utime and 15 stime, counted after the `)` that ends the
/// command name) and `/proc/PID/status` (`VmRSS`, `VmHWM`).
pub fn sample(pid: u32) -> std::io::Result<ProcSample> {
    let dir = Path::new("/proc").join(pid.to_string());
    let stat = std::fs::read_to_string(dir.join("stat"))?;
    let cpu_seconds = parse_cpu_ticks(&stat)
        .map(|t| t as f64 / clock_ticks_per_second())
        .ok_or_else(|| std::io::Error::other("unexpected /proc/PID/stat format"))?;
    let status = std::fs::read_to_string(dir.join("status"))?;
    Ok(ProcSample {
        cpu_seconds,
        rss_bytes: parse_kib(&status, "VmRSS:").unwrap_or(0) * 1024,
        rss_peak_bytes: parse_kib(&status, "VmHWM:").unwrap_or(0) * 1024,
    })
}

/// utime + stime in clock ticks.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the command: field 3 (state) is index 0, so field N is index N - 3.
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(utime + stime)
}

/// Datagrams the kernel dropped so far because a UDP socket's receive buffer was full
/// (`RcvbufErrors` in `/proc/net/snmp`), over the whole machine; `None` where unreadable.
pub fn udp_rcvbuf_errors() -> Option<u64> {
    parse_rcvbuf_errors(&std::fs::read_to_string("/proc/net/snmp").ok()?)
}

/// `RcvbufErrors` from the two `Udp:` lines of `/proc/net/snmp` (names, then values).
fn parse_rcvbuf_errors(snmp: &str) -> Option<u64> {
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let names = udp.next()?;
    let values = udp.next()?;
    let at = names.split_whitespace().position(|n| n == "RcvbufErrors")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

fn parse_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_the_name() {
        let stat =
            "1234 (conf idant) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1 1 1";
        assert_eq!(parse_cpu_ticks(stat), Some(300));
    }

    #[test]
    fn parses_udp_receive_buffer_drops() {
        let snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
            Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n\
            Udp: 543329 26 110741 671136 110740 0\n\
            UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n\
            UdpLite: 0 0 0 0 0 0\n";
        assert_eq!(parse_rcvbuf_errors(snmp), Some(110_740));
        assert_eq!(parse_rcvbuf_errors("Udp: RcvbufErrors\n"), None);
    }

    #[test]
    fn reads_own_process() {
        let s = sample(std::process::id()).unwrap();
        assert!(s.rss_bytes > 0);
        assert!(s.cpu_seconds >= 0.0);
    }
}
