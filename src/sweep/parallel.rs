//! The few threads a sweep measures and removes on, results in plan order.

/// Threads that measure or remove independent items at once: unlinking is
/// mostly waiting on the file system (on ext4 mounted with `discard`, on the
/// disk) and a cold tree's `stat`s wait on inode reads, so a few in flight
/// finish sooner than one after another.
pub(super) const SWEEP_THREADS: usize = 4;

/// `f` over `items` on up to `threads` scoped threads, results in the order
/// of `items` whatever order they finish in. Each thread takes the next
/// unclaimed item, so one slow item does not hold back a whole share.
pub(super) fn par_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = threads.min(items.len());
    if threads <= 1 {
        return items.iter().map(&f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = Vec::with_capacity(items.len());
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        out.push((i, f(item)));
                    }
                    out
                })
            })
            .collect();
        for w in workers {
            match w.join() {
                Ok(out) => done.extend(out),
                // A panicking item panics the sweep, as it would have inline.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::par_map;

    #[test]
    fn par_map_keeps_the_order_of_its_items() {
        let items: Vec<u64> = (0..500).collect();
        // Uneven work, so threads finish out of order.
        let out = par_map(&items, 4, |&i| {
            if i % 7 == 0 {
                std::thread::yield_now();
            }
            i * 2
        });
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(par_map(&items[..1], 4, |&i| i), [0]);
        assert!(par_map(&[] as &[u64], 4, |&i| i).is_empty());
    }
}
