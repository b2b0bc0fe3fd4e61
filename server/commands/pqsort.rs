//! Redis's partial quicksort (`pqsort`), shared by SORT (BY with a LIMIT
//! that cuts) and the GEO searches (COUNT below the number found): both
//! must leave equal elements in the order Redis leaves them, which a
//! different algorithm would not. Owns no state; sorts what it is given.

use std::cmp::Ordering;

/// Redis's `pqsort`: Bentley and McIlroy's quicksort ("Engineering a Sort
/// Function") that only sorts the parts of `v` overlapping positions
/// `lrange..=rrange`. It is reproduced step for step because the order it
/// leaves equal elements in is visible (ALPHA BY with equal weights). The
/// parts left to sort are kept on a heap stack rather than the call stack;
/// they are disjoint, so the order they are handled in changes nothing.
pub(crate) fn pqsort<T>(
    v: &mut [T],
    lrange: i64,
    rrange: i64,
    cmp: &mut impl FnMut(&T, &T) -> Ordering,
) {
    // A part [lo, lo + n) is skipped when the wanted range lies wholly on one
    // side of it (with C's pointer comparisons, in element units).
    let wanted = |lo: usize, n: usize| {
        let (lo, hi) = (lo as i64, (lo + n) as i64);
        !((lrange < lo && rrange < lo) || (lrange >= hi && rrange >= hi))
    };
    let mut parts = vec![(0usize, v.len())];
    while let Some((a, n)) = parts.pop() {
        if n < 7 {
            for m in a + 1..a + n {
                let mut l = m;
                while l > a && cmp(&v[l - 1], &v[l]) == Ordering::Greater {
                    v.swap(l, l - 1);
                    l -= 1;
                }
            }
            continue;
        }
        let mut pm = a + n / 2;
        if n > 7 {
            let mut pl = a;
            let mut pn = a + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        v.swap(a, pm);
        let (mut pa, mut pb) = (a + 1, a + 1);
        let (mut pc, mut pd) = (a + n - 1, a + n - 1);
        loop {
            while pb <= pc {
                let c = cmp(&v[pb], &v[a]);
                if c == Ordering::Greater {
                    break;
                }
                if c == Ordering::Equal {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let c = cmp(&v[pc], &v[a]);
                if c == Ordering::Less {
                    break;
                }
                if c == Ordering::Equal {
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let pn = a + n;
        let r = (pa - a).min(pb - pa);
        swap_runs(v, a, pb - r, r);
        let r = (pd - pc).min(pn - pd - 1);
        swap_runs(v, pb, pn - r, r);
        // The greater part is pushed first so the smaller one is handled
        // first, as the C code recurses into it before iterating.
        let r = pd - pc;
        if r > 1 && wanted(pn - r, r) {
            parts.push((pn - r, r));
        }
        let r = pb - pa;
        if r > 1 && wanted(a, r) {
            parts.push((a, r));
        }
    }
}

/// The median of three positions, with the comparisons of Redis's `med3`.
fn med3<T>(
    v: &[T],
    a: usize,
    b: usize,
    c: usize,
    cmp: &mut impl FnMut(&T, &T) -> Ordering,
) -> usize {
    if cmp(&v[a], &v[b]) == Ordering::Less {
        if cmp(&v[b], &v[c]) == Ordering::Less {
            b
        } else if cmp(&v[a], &v[c]) == Ordering::Less {
            c
        } else {
            a
        }
    } else if cmp(&v[b], &v[c]) == Ordering::Greater {
        b
    } else if cmp(&v[a], &v[c]) == Ordering::Less {
        a
    } else {
        c
    }
}

/// Swaps the `n` elements from `a` with the `n` from `b`, pairwise in order.
fn swap_runs<T>(v: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        v.swap(a + i, b + i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// pqsort sorts whatever overlaps the wanted range: that window agrees
    /// with a full sort, and nothing is lost.
    #[test]
    fn pqsort_sorts_the_wanted_window() {
        let mut rng = fastrand::Rng::with_seed(7);
        for round in 0..300 {
            let n = rng.usize(0..200);
            let v: Vec<(u8, usize)> = (0..n).map(|i| (rng.u8(0..20), i)).collect();
            let mut full = v.clone();
            full.sort_by_key(|e| e.0);
            let l = if n == 0 { 0 } else { rng.usize(0..n) };
            let r = if n == 0 { 0 } else { rng.usize(l..n) };
            let mut part = v.clone();
            pqsort(&mut part, l as i64, r as i64, &mut |a, b| a.0.cmp(&b.0));
            if n > 0 {
                let keys: Vec<u8> = part[l..=r].iter().map(|e| e.0).collect();
                let want: Vec<u8> = full[l..=r].iter().map(|e| e.0).collect();
                assert_eq!(keys, want, "round {round}");
            }
            let mut back = part.clone();
            back.sort_by_key(|e| e.1);
            assert_eq!(back, v, "round {round}: a permutation");
            // The whole range sorts everything.
            let mut all = v.clone();
            pqsort(&mut all, 0, n as i64 - 1, &mut |a, b| a.0.cmp(&b.0));
            assert!(all.windows(2).all(|w| w[0].0 <= w[1].0));
        }
    }
}
