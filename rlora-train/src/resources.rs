//! What a run costs the machine: the process's peak resident memory.

/// The peak resident set size of this process in bytes: `VmHWM` of `/proc/self/status` on
/// Linux, `None` where that file does not exist or does not say.
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn peak_memory_grows_with_a_large_allocation() {
        let before = peak_memory_bytes().expect("Linux reports VmHWM");
        let block = vec![1u8; 64 << 20];
        let after = peak_memory_bytes().unwrap();
        assert!(
            after >= before && after >= block.len() as u64,
            "{before} → {after}"
        );
        assert_eq!(
            block.iter().map(|&b| b as usize).sum::<usize>(),
            block.len()
        );
    }
}
