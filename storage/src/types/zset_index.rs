//! The ordered index of a sorted set's elements: (member, score) pairs kept
//! in (score, member bytes) order ([`cmp_elem`]), with ranks. It answers
//! "which element is at rank r", "how many elements come before this one",
//! "where does a monotone predicate flip", and inserts, removes and iterates
//! in O(log n) (O(1) amortized per iterated element).
//!
//! It does not know about the member dictionary, the encodings, limits or
//! commands: the caller guarantees that members are unique (it never inserts
//! an element already present) and that scores are never NaN.
//!
//! The structure is a counted B+tree:
//! - leaves hold a sorted `Vec` of up to [`LEAF_CAP`] elements;
//! - a branch holds up to [`BRANCH_CAP`] children (all leaves or all
//!   branches: every leaf is at the same depth), each child's element count
//!   (for ranks), and for every child but the first a copy of that child's
//!   first element as separator. Scores and members of the separators live in
//!   separate arrays, so a descent mostly compares scores only.
//!
//! Invariants (checked by `check_invariants` in tests):
//! - separators are exactly the first elements of their children (never a
//!   stale copy of a removed element), so `partition_point` evaluates the
//!   caller's predicate only on elements that are present;
//! - every count is the number of elements of its child's subtree;
//! - no node is empty, except the root leaf of an empty index, which then
//!   holds no allocation; a root branch has at least two children;
//! - non-root branches hold at least [`BRANCH_MIN`] children and leaves at
//!   least [`LEAF_MIN`] elements, except the last leaf of the order, which may
//!   hold fewer (at least one): appending past the end splits a full last leaf
//!   into itself and a new leaf with the one new element, so ever-increasing
//!   scores (timestamps) fill leaves completely instead of halfway.

use std::cmp::Ordering;
use std::mem;

use crate::types::zset::cmp_elem;
use crate::SmallBytes;

/// One element: the member and its score.
type Elem = (SmallBytes, f64);

/// A leaf: elements in order.
type Leaf = Vec<Elem>;

/// The most elements a leaf holds.
#[cfg(not(test))]
const LEAF_CAP: usize = 64;
#[cfg(test)]
const LEAF_CAP: usize = 5;
/// The fewest elements a leaf other than the last one holds.
const LEAF_MIN: usize = LEAF_CAP / 2;

/// The most children a branch holds.
#[cfg(not(test))]
const BRANCH_CAP: usize = 64;
#[cfg(test)]
const BRANCH_CAP: usize = 4;
/// The fewest children a non-root branch holds.
const BRANCH_MIN: usize = BRANCH_CAP / 2;

/// Compares an element with (score, member), reading the element's member
/// only when the scores tie.
#[inline]
fn cmp_to(s: f64, m: &SmallBytes, score: f64, member: &[u8]) -> Ordering {
    if s < score {
        Ordering::Less
    } else if s > score {
        Ordering::Greater
    } else {
        cmp_elem(s, m.as_slice(), score, member)
    }
}

/// The number of leading indices of `0..n` for which `before` holds (it
/// holds on a prefix).
#[inline]
fn search(n: usize, mut before: impl FnMut(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if before(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The child holding rank `r` of a branch with these counts, and the rank
/// within that child.
#[inline]
fn child_at(counts: &[usize], mut r: usize) -> (usize, usize) {
    for (i, &c) in counts.iter().enumerate() {
        if r < c {
            return (i, r);
        }
        r -= c;
    }
    unreachable!("a rank below a subtree's count lies in one of its children")
}

/// The child holding rank `r`, and the rank of that child's first element.
fn child_with_offset(counts: &[usize], r: usize) -> (usize, usize) {
    let (i, sub) = child_at(counts, r);
    (i, r - sub)
}

/// Makes room for `extra` more elements in a leaf, growing its allocation
/// geometrically but never past [`LEAF_CAP`].
fn reserve_leaf(leaf: &mut Leaf, extra: usize) {
    let need = leaf.len() + extra;
    if need > leaf.capacity() {
        let target = (leaf.capacity() * 2).max(4).clamp(need, LEAF_CAP.max(need));
        leaf.reserve_exact(target - leaf.len());
    }
}

/// Where the element (score, member) is in a leaf, or where it would go.
#[inline]
fn leaf_search(leaf: &[Elem], score: f64, member: &[u8]) -> Result<usize, usize> {
    let pos = leaf.partition_point(|(m, s)| cmp_to(*s, m, score, member) == Ordering::Less);
    match leaf.get(pos) {
        Some((m, s)) if cmp_to(*s, m, score, member) == Ordering::Equal => Ok(pos),
        _ => Err(pos),
    }
}

/// A vector with room for a branch's children plus the one a split adds.
fn branch_vec<T>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut v = Vec::with_capacity(BRANCH_CAP + 1);
    v.extend(items);
    v
}

// ---------------------------------------------------------------------------
// Separators
// ---------------------------------------------------------------------------

/// A branch's separators: entry `i` is the first element of child `i + 1`.
#[derive(Clone, Debug, Default)]
struct Seps {
    scores: Vec<f64>,
    members: Vec<SmallBytes>,
}

impl Seps {
    fn with_capacity(n: usize) -> Seps {
        Seps {
            scores: Vec::with_capacity(n),
            members: Vec::with_capacity(n),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.scores.len()
    }

    /// The number of separators ordered before (score, member); with
    /// `inclusive`, one equal to it counts too.
    #[inline]
    fn count_before(&self, score: f64, member: &[u8], inclusive: bool) -> usize {
        search(self.scores.len(), |i| {
            match cmp_to(self.scores[i], &self.members[i], score, member) {
                Ordering::Less => true,
                Ordering::Equal => inclusive,
                Ordering::Greater => false,
            }
        })
    }

    /// The number of leading separators for which `before` holds.
    #[inline]
    fn partition(&self, before: &mut impl FnMut(f64, &[u8]) -> bool) -> usize {
        search(self.scores.len(), |i| {
            before(self.scores[i], self.members[i].as_slice())
        })
    }

    fn push(&mut self, score: f64, member: SmallBytes) {
        self.scores.push(score);
        self.members.push(member);
    }

    fn insert(&mut self, i: usize, score: f64, member: SmallBytes) {
        self.scores.insert(i, score);
        self.members.insert(i, member);
    }

    fn remove(&mut self, i: usize) -> (f64, SmallBytes) {
        (self.scores.remove(i), self.members.remove(i))
    }

    /// Moves `other`'s separators from `from` on to the front of these,
    /// followed by `then`.
    fn prepend_tail_of(&mut self, other: &mut Seps, from: usize, then: (f64, SmallBytes)) {
        self.scores.splice(
            0..0,
            other.scores.drain(from..).chain(std::iter::once(then.0)),
        );
        self.members.splice(
            0..0,
            other.members.drain(from..).chain(std::iter::once(then.1)),
        );
    }

    /// Sets separator `i` to a copy of `elem`.
    fn set(&mut self, i: usize, elem: &Elem) {
        self.scores[i] = elem.1;
        if self.members[i].as_slice() != elem.0.as_slice() {
            self.members[i] = elem.0.clone();
        }
    }

    /// Removes separators `range`.
    fn drain(&mut self, range: std::ops::Range<usize>) {
        self.scores.drain(range.clone());
        self.members.drain(range);
    }

    fn heap_bytes(&self) -> usize {
        self.scores.capacity() * size_of::<f64>()
            + self.members.capacity() * size_of::<SmallBytes>()
            + self
                .members
                .iter()
                .map(SmallBytes::heap_size)
                .sum::<usize>()
    }
}

// ---------------------------------------------------------------------------
// Branches
// ---------------------------------------------------------------------------

/// A branch's children: all leaves or all branches.
#[derive(Clone, Debug)]
enum Kids {
    Leaves(Vec<Leaf>),
    Branches(Vec<Branch>),
}

impl Default for Kids {
    fn default() -> Kids {
        Kids::Leaves(Vec::new())
    }
}

const SAME_KIND: &str = "siblings hold children of the same kind";

impl Kids {
    fn len(&self) -> usize {
        match self {
            Kids::Leaves(v) => v.len(),
            Kids::Branches(v) => v.len(),
        }
    }

    /// Moves children `at..` to a new list.
    fn split_off(&mut self, at: usize) -> Kids {
        match self {
            Kids::Leaves(v) => Kids::Leaves(branch_vec(v.drain(at..))),
            Kids::Branches(v) => Kids::Branches(branch_vec(v.drain(at..))),
        }
    }

    /// Moves the first `k` children of `self` to the end of `to`.
    fn move_front_to_back(&mut self, to: &mut Kids, k: usize) {
        match (self, to) {
            (Kids::Leaves(a), Kids::Leaves(b)) => b.extend(a.drain(..k)),
            (Kids::Branches(a), Kids::Branches(b)) => b.extend(a.drain(..k)),
            _ => unreachable!("{SAME_KIND}"),
        }
    }

    /// Moves the last `k` children of `self` to the front of `to`.
    fn move_back_to_front(&mut self, to: &mut Kids, k: usize) {
        match (self, to) {
            (Kids::Leaves(a), Kids::Leaves(b)) => {
                let n = a.len();
                b.splice(0..0, a.drain(n - k..));
            }
            (Kids::Branches(a), Kids::Branches(b)) => {
                let n = a.len();
                b.splice(0..0, a.drain(n - k..));
            }
            _ => unreachable!("{SAME_KIND}"),
        }
    }

    fn append(&mut self, other: Kids) {
        match (self, other) {
            (Kids::Leaves(a), Kids::Leaves(b)) => a.extend(b),
            (Kids::Branches(a), Kids::Branches(b)) => a.extend(b),
            _ => unreachable!("{SAME_KIND}"),
        }
    }

    /// The first element of child `i`'s subtree (`None` for an empty leaf).
    fn first_of(&self, i: usize) -> Option<&Elem> {
        let mut b = match self {
            Kids::Leaves(ls) => return ls[i].first(),
            Kids::Branches(bs) => &bs[i],
        };
        loop {
            match &b.kids {
                Kids::Leaves(ls) => return ls.first()?.first(),
                Kids::Branches(bs) => b = bs.first()?,
            }
        }
    }
}

/// An inner node.
#[derive(Clone, Debug, Default)]
struct Branch {
    /// Elements in each child's subtree.
    counts: Vec<usize>,
    /// The first element of each child but the first.
    seps: Seps,
    kids: Kids,
}

/// Sets the separator of child `i` (if it has one) to the child's first
/// element.
fn refresh_sep(kids: &Kids, seps: &mut Seps, i: usize) {
    if i == 0 || i >= kids.len() {
        return;
    }
    if let Some(first) = kids.first_of(i) {
        seps.set(i - 1, first);
    }
}

impl Branch {
    fn width(&self) -> usize {
        self.counts.len()
    }

    /// A new root over two children.
    fn pair(left_count: usize, right_count: usize, sep: (f64, SmallBytes), kids: Kids) -> Branch {
        let mut seps = Seps::with_capacity(BRANCH_CAP);
        seps.push(sep.0, sep.1);
        Branch {
            counts: branch_vec([left_count, right_count]),
            seps,
            kids,
        }
    }

    /// Moves children `at..` to a new branch. Returns it, its element count
    /// and its first element (the separator the parent needs for it).
    fn split_off(&mut self, at: usize) -> (Branch, usize, f64, SmallBytes) {
        let counts = branch_vec(self.counts.drain(at..));
        let mut seps = Seps::with_capacity(BRANCH_CAP);
        seps.scores.extend(self.seps.scores.drain(at..));
        seps.members.extend(self.seps.members.drain(at..));
        let score = self
            .seps
            .scores
            .pop()
            .expect("a branch split past its first child has a separator there");
        let member = self
            .seps
            .members
            .pop()
            .expect("separator scores and members have the same length");
        let kids = self.kids.split_off(at);
        let moved = counts.iter().sum();
        (Branch { counts, seps, kids }, moved, score, member)
    }

    /// Moves the elements of the subtree, in order, to `out`.
    fn drain_into(self, out: &mut Vec<Elem>) {
        match self.kids {
            Kids::Leaves(ls) => {
                for leaf in ls {
                    out.extend(leaf);
                }
            }
            Kids::Branches(bs) => {
                for b in bs {
                    b.drain_into(out);
                }
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        let own = self.counts.capacity() * size_of::<usize>() + self.seps.heap_bytes();
        own + match &self.kids {
            Kids::Leaves(ls) => {
                ls.capacity() * size_of::<Leaf>()
                    + ls.iter()
                        .map(|l| l.capacity() * size_of::<Elem>())
                        .sum::<usize>()
            }
            Kids::Branches(bs) => {
                bs.capacity() * size_of::<Branch>()
                    + bs.iter().map(Branch::heap_bytes).sum::<usize>()
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Rebalancing, shared by leaves and branches
// ---------------------------------------------------------------------------

/// A parent's separator for a child, borrowed for update.
type SepMut<'a> = (&'a mut f64, &'a mut SmallBytes);

/// What rebalancing needs of a child, leaf or branch.
trait Child: Sized {
    /// The fewest entries (elements or children) a non-root node holds.
    const MIN: usize;
    /// Entries: elements of a leaf, children of a branch.
    fn width(&self) -> usize;
    /// Appends all of `right`, whose first element is `sep`.
    fn absorb(&mut self, right: Self, sep: (f64, SmallBytes));
    /// Moves the first `k` entries of `right` to the end of `left`; `sep`
    /// (right's first element) follows. Returns the elements moved.
    fn shift_left(left: &mut Self, right: &mut Self, k: usize, sep: SepMut<'_>) -> usize;
    /// Moves the last `k` entries of `left` to the front of `right`; `sep`
    /// (right's first element) follows. Returns the elements moved.
    fn shift_right(left: &mut Self, right: &mut Self, k: usize, sep: SepMut<'_>) -> usize;
}

fn set_sep(sep: SepMut<'_>, elem: &Elem) {
    *sep.0 = elem.1;
    if sep.1.as_slice() != elem.0.as_slice() {
        *sep.1 = elem.0.clone();
    }
}

impl Child for Leaf {
    const MIN: usize = LEAF_MIN;

    fn width(&self) -> usize {
        self.len()
    }

    fn absorb(&mut self, right: Leaf, _sep: (f64, SmallBytes)) {
        reserve_leaf(self, right.len());
        self.extend(right);
    }

    fn shift_left(left: &mut Leaf, right: &mut Leaf, k: usize, sep: SepMut<'_>) -> usize {
        reserve_leaf(left, k);
        left.extend(right.drain(..k));
        set_sep(sep, &right[0]);
        k
    }

    fn shift_right(left: &mut Leaf, right: &mut Leaf, k: usize, sep: SepMut<'_>) -> usize {
        reserve_leaf(right, k);
        let n = left.len();
        right.splice(0..0, left.drain(n - k..));
        set_sep(sep, &right[0]);
        k
    }
}

impl Child for Branch {
    const MIN: usize = BRANCH_MIN;

    fn width(&self) -> usize {
        self.counts.len()
    }

    fn absorb(&mut self, right: Branch, sep: (f64, SmallBytes)) {
        self.seps.push(sep.0, sep.1);
        self.seps.scores.extend(right.seps.scores);
        self.seps.members.extend(right.seps.members);
        self.counts.extend(right.counts);
        self.kids.append(right.kids);
    }

    fn shift_left(left: &mut Branch, right: &mut Branch, k: usize, sep: SepMut<'_>) -> usize {
        // Right's first child becomes left's; its first element was `sep`.
        left.seps.push(*sep.0, mem::take(sep.1));
        left.seps.scores.extend(right.seps.scores.drain(..k - 1));
        left.seps.members.extend(right.seps.members.drain(..k - 1));
        let (score, member) = right.seps.remove(0);
        *sep.0 = score;
        *sep.1 = member;
        let moved = right.counts[..k].iter().sum();
        left.counts.extend(right.counts.drain(..k));
        right.kids.move_front_to_back(&mut left.kids, k);
        moved
    }

    fn shift_right(left: &mut Branch, right: &mut Branch, k: usize, sep: SepMut<'_>) -> usize {
        let n = left.width();
        // Left's separators for children n-k+1.. go to the front of right's,
        // followed by the old first element of right; left's separator for
        // child n-k becomes the parent's.
        let old = (*sep.0, mem::take(sep.1));
        right.seps.prepend_tail_of(&mut left.seps, n - k, old);
        let (score, member) = left.seps.remove(n - k - 1);
        *sep.0 = score;
        *sep.1 = member;
        let moved = left.counts[n - k..].iter().sum();
        right.counts.splice(0..0, left.counts.drain(n - k..));
        left.kids.move_back_to_front(&mut right.kids, k);
        moved
    }
}

/// Brings child `i` up to its minimum fill by merging it with a sibling (when
/// the two fit in one node below twice the minimum) or evening the two out.
/// Stops when the branch has a single child left. Returns the index of the
/// child now holding child `i`'s entries.
fn rebalance<C: Child>(
    kids: &mut Vec<C>,
    counts: &mut Vec<usize>,
    seps: &mut Seps,
    mut i: usize,
) -> usize {
    while kids[i].width() < C::MIN && kids.len() > 1 {
        let l = i.saturating_sub(1);
        let r = l + 1;
        let lw = kids[l].width();
        let total = lw + kids[r].width();
        if total >= 2 * C::MIN {
            // Even out: both halves reach the minimum.
            let want = total / 2;
            let (head, tail) = kids.split_at_mut(r);
            let (left, right) = (&mut head[l], &mut tail[0]);
            let sep = (&mut seps.scores[l], &mut seps.members[l]);
            if lw > want {
                let moved = C::shift_right(left, right, lw - want, sep);
                counts[l] -= moved;
                counts[r] += moved;
            } else if lw < want {
                let moved = C::shift_left(left, right, want - lw, sep);
                counts[l] += moved;
                counts[r] -= moved;
            }
            break;
        }
        let right = kids.remove(r);
        let sep = seps.remove(l);
        kids[l].absorb(right, sep);
        let c = counts.remove(r);
        counts[l] += c;
        i = l;
    }
    i
}

// ---------------------------------------------------------------------------
// Insertion
// ---------------------------------------------------------------------------

/// Inserts into a leaf. A full leaf splits: the new right part is returned
/// for the parent to link. `last` says the leaf is the last one of the order:
/// an element appended past its end then starts a new leaf by itself.
fn leaf_insert(leaf: &mut Leaf, member: SmallBytes, score: f64, last: bool) -> Option<Leaf> {
    let pos = match leaf_search(leaf, score, member.as_slice()) {
        Ok(p) | Err(p) => p,
    };
    if leaf.len() < LEAF_CAP {
        reserve_leaf(leaf, 1);
        leaf.insert(pos, (member, score));
        return None;
    }
    let mut right = Vec::with_capacity(LEAF_CAP);
    if last && pos == leaf.len() {
        right.push((member, score));
        return Some(right);
    }
    let mid = LEAF_CAP.div_ceil(2);
    right.extend(leaf.drain(mid..));
    if pos <= mid {
        leaf.insert(pos, (member, score));
    } else {
        right.insert(pos - mid, (member, score));
    }
    Some(right)
}

/// Inserts below a branch. When the branch overflows it splits, returning the
/// new right part, its element count and its first element.
fn branch_insert(
    b: &mut Branch,
    member: SmallBytes,
    score: f64,
    rightmost: bool,
) -> Option<(Branch, usize, f64, SmallBytes)> {
    let i = b.seps.count_before(score, member.as_slice(), true);
    b.counts[i] += 1;
    let last = rightmost && i + 1 == b.width();
    match &mut b.kids {
        Kids::Leaves(ls) => {
            let right = leaf_insert(&mut ls[i], member, score, last)?;
            b.counts[i] = ls[i].len();
            b.counts.insert(i + 1, right.len());
            b.seps.insert(i, right[0].1, right[0].0.clone());
            ls.insert(i + 1, right);
        }
        Kids::Branches(bs) => {
            let (right, moved, s, m) = branch_insert(&mut bs[i], member, score, last)?;
            b.counts[i] -= moved;
            b.counts.insert(i + 1, moved);
            b.seps.insert(i, s, m);
            bs.insert(i + 1, right);
        }
    }
    (b.width() > BRANCH_CAP).then(|| b.split_off(BRANCH_CAP.div_ceil(2)))
}

// ---------------------------------------------------------------------------
// Removal
// ---------------------------------------------------------------------------

/// What to remove: an element, or the element at a rank.
#[derive(Clone, Copy, Debug)]
enum Target<'k> {
    Key(f64, &'k [u8]),
    Rank(usize),
}

/// The position of the target in a leaf, if present.
fn leaf_pos(leaf: &[Elem], target: Target<'_>) -> Option<usize> {
    match target {
        Target::Key(score, member) => leaf_search(leaf, score, member).ok(),
        Target::Rank(r) => (r < leaf.len()).then_some(r),
    }
}

/// Removes the target below a branch, rebalancing on the way back up (the
/// branch itself may be left underfull, for its parent to fix). Returns the
/// element and whether it was the subtree's first; `None` (and no change)
/// when absent.
fn remove_in(b: &mut Branch, target: Target<'_>, rightmost: bool) -> Option<(Elem, bool)> {
    let (i, sub) = match target {
        Target::Key(score, member) => (b.seps.count_before(score, member, true), target),
        Target::Rank(r) => {
            let (i, r) = child_at(&b.counts, r);
            (i, Target::Rank(r))
        }
    };
    let last = rightmost && i + 1 == b.width();
    let (elem, first) = match &mut b.kids {
        Kids::Leaves(ls) => {
            let leaf = &mut ls[i];
            let pos = leaf_pos(leaf, sub)?;
            (leaf.remove(pos), pos == 0)
        }
        Kids::Branches(bs) => remove_in(&mut bs[i], sub, last)?,
    };
    b.counts[i] -= 1;
    if first {
        refresh_sep(&b.kids, &mut b.seps, i);
    }
    match &mut b.kids {
        Kids::Leaves(ls) => {
            if ls[i].is_empty() {
                // Only the last leaf can run empty; it goes with its separator.
                ls.remove(i);
                b.counts.remove(i);
                b.seps.remove(i.saturating_sub(1));
            } else if ls[i].len() < LEAF_MIN && !last {
                rebalance(ls, &mut b.counts, &mut b.seps, i);
            }
        }
        Kids::Branches(bs) => {
            if bs[i].width() < BRANCH_MIN {
                rebalance(bs, &mut b.counts, &mut b.seps, i);
            }
        }
    }
    Some((elem, first && i == 0))
}

/// Removes ranks `start..end` of a branch's subtree (`start < end <=` its
/// count, and not all of it), appending them to `out` in order: whole
/// children are cut out at once, partly covered ones (at most two per
/// level) recursively. Counts and separators stay exact and no node is left
/// empty, but nodes along the cut's two edges may be left underfull:
/// [`repair`] fixes them.
fn cut(b: &mut Branch, start: usize, end: usize, out: &mut Vec<Elem>) {
    let (a, a_off) = child_with_offset(&b.counts, start);
    let (z, z_off) = child_with_offset(&b.counts, end - 1);
    let a_whole = start == a_off && end >= a_off + b.counts[a];
    let z_whole = end == z_off + b.counts[z] && start <= z_off;
    if a == z && !a_whole {
        cut_child(b, a, start - a_off, end - a_off, out);
        refresh_sep(&b.kids, &mut b.seps, a);
        return;
    }
    if !a_whole {
        let a_end = b.counts[a];
        cut_child(b, a, start - a_off, a_end, out);
    }
    let lo = if a_whole { a } else { a + 1 };
    let hi = if z_whole { z + 1 } else { z };
    if lo < hi {
        b.counts.drain(lo..hi);
        // Child j's separator is entry j - 1; the first child has none.
        if lo == 0 {
            b.seps.drain(0..hi);
        } else {
            b.seps.drain(lo - 1..hi - 1);
        }
        match &mut b.kids {
            Kids::Leaves(ls) => {
                for leaf in ls.drain(lo..hi) {
                    out.extend(leaf);
                }
            }
            Kids::Branches(bs) => {
                for c in bs.drain(lo..hi) {
                    c.drain_into(out);
                }
            }
        }
    }
    if !z_whole {
        cut_child(b, lo, 0, end - z_off, out);
    }
    refresh_sep(&b.kids, &mut b.seps, lo);
}

/// Removes ranks `start..end` of child `i` (not all of it).
fn cut_child(b: &mut Branch, i: usize, start: usize, end: usize, out: &mut Vec<Elem>) {
    b.counts[i] -= end - start;
    match &mut b.kids {
        Kids::Leaves(ls) => out.extend(ls[i].drain(start..end)),
        Kids::Branches(bs) => cut(&mut bs[i], start, end, out),
    }
}

/// Brings the nodes below `b` on the path to rank `r` up to their minimum
/// fill, bottom-up. After a [`cut`], every underfull node is on the path to
/// one of the two elements either side of the cut; repairing both paths
/// restores the invariants (up to the root's child count).
fn repair(b: &mut Branch, r: usize) {
    loop {
        let (i, sub) = child_at(&b.counts, r);
        match &mut b.kids {
            Kids::Leaves(ls) => {
                if ls[i].len() < LEAF_MIN {
                    rebalance(ls, &mut b.counts, &mut b.seps, i);
                }
                return;
            }
            Kids::Branches(bs) => {
                repair(&mut bs[i], sub);
                if bs[i].width() >= BRANCH_MIN || bs.len() == 1 {
                    return;
                }
                // Merged or evened out: an underfull grandchild that was an
                // only child now has siblings, so go round again.
                rebalance(bs, &mut b.counts, &mut b.seps, i);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Bulk loading
// ---------------------------------------------------------------------------

/// A built node with its element count and first element.
type Built<C> = (C, usize, (f64, SmallBytes));

/// Groups a level of nodes under branches, as evenly as possible with at
/// most [`BRANCH_CAP`] children each (so at least [`BRANCH_MIN`] when there
/// are several).
fn build_level<C>(nodes: Vec<Built<C>>, wrap: fn(Vec<C>) -> Kids) -> Vec<Built<Branch>> {
    let groups = nodes.len().div_ceil(BRANCH_CAP);
    let (base, extra) = (nodes.len() / groups, nodes.len() % groups);
    let mut it = nodes.into_iter();
    (0..groups)
        .map(|g| {
            let size = base + usize::from(g < extra);
            let mut kids = Vec::with_capacity(BRANCH_CAP + 1);
            let mut counts = Vec::with_capacity(BRANCH_CAP + 1);
            let mut seps = Seps::with_capacity(BRANCH_CAP);
            let mut first = None;
            for (node, count, key) in it.by_ref().take(size) {
                kids.push(node);
                counts.push(count);
                if first.is_none() {
                    first = Some(key);
                } else {
                    seps.push(key.0, key.1);
                }
            }
            let total = counts.iter().sum();
            let first = first.expect("every group gets at least one node");
            (
                Branch {
                    counts,
                    seps,
                    kids: wrap(kids),
                },
                total,
                first,
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The index
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Root {
    Leaf(Leaf),
    Branch(Branch),
}

impl Default for Root {
    fn default() -> Root {
        Root::Leaf(Vec::new())
    }
}

/// The (score, member)-ordered index of a sorted set's elements, with ranks.
#[derive(Clone, Debug, Default)]
pub(crate) struct OrderIndex {
    root: Root,
    len: usize,
    /// The members' heap bytes.
    member_heap: usize,
}

impl OrderIndex {
    /// Builds from elements already sorted by [`cmp_elem`] and unique (bulk
    /// load, O(n)): leaves are filled evenly, as full as the count allows.
    pub(crate) fn from_sorted(mut items: Vec<(SmallBytes, f64)>) -> OrderIndex {
        let len = items.len();
        let member_heap = items.iter().map(|(m, _)| m.heap_size()).sum();
        if len <= LEAF_CAP {
            if items.capacity() > LEAF_CAP {
                items.shrink_to(LEAF_CAP);
            }
            if len == 0 {
                items = Vec::new();
            }
            return OrderIndex {
                root: Root::Leaf(items),
                len,
                member_heap,
            };
        }
        let nleaves = len.div_ceil(LEAF_CAP);
        let (base, extra) = (len / nleaves, len % nleaves);
        let mut it = items.into_iter();
        let leaves: Vec<Built<Leaf>> = (0..nleaves)
            .map(|g| {
                let size = base + usize::from(g < extra);
                let mut leaf = Vec::with_capacity(size);
                leaf.extend(it.by_ref().take(size));
                let key = (leaf[0].1, leaf[0].0.clone());
                (leaf, size, key)
            })
            .collect();
        let mut level = build_level(leaves, Kids::Leaves);
        while level.len() > 1 {
            level = build_level(level, Kids::Branches);
        }
        let root = level
            .pop()
            .map_or_else(Root::default, |(b, _, _)| Root::Branch(b));
        OrderIndex {
            root,
            len,
            member_heap,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// How many leading elements satisfy `before` (true on a prefix of the
    /// order, false after it). O(log n). `before` only ever sees elements
    /// that are in the index.
    pub(crate) fn partition_point(&self, mut before: impl FnMut(f64, &[u8]) -> bool) -> usize {
        let mut count = 0;
        let leaf = match &self.root {
            Root::Leaf(leaf) => leaf,
            Root::Branch(b) => {
                let mut b = b;
                loop {
                    let j = b.seps.partition(&mut before);
                    count += b.counts[..j].iter().sum::<usize>();
                    match &b.kids {
                        Kids::Leaves(ls) => break &ls[j],
                        Kids::Branches(bs) => b = &bs[j],
                    }
                }
            }
        };
        count + leaf.partition_point(|(m, s)| before(*s, m.as_slice()))
    }

    /// Number of elements ordered before (score, member).
    pub(crate) fn rank_of(&self, score: f64, member: &[u8]) -> usize {
        self.partition_point(|s, m| cmp_elem(s, m, score, member) == Ordering::Less)
    }

    /// The leaf holding `rank` (< len) and the rank within it.
    fn leaf_at(&self, mut rank: usize) -> (&Leaf, usize) {
        match &self.root {
            Root::Leaf(leaf) => (leaf, rank),
            Root::Branch(b) => {
                let mut b = b;
                loop {
                    let (i, sub) = child_at(&b.counts, rank);
                    rank = sub;
                    match &b.kids {
                        Kids::Leaves(ls) => return (&ls[i], rank),
                        Kids::Branches(bs) => b = &bs[i],
                    }
                }
            }
        }
    }

    /// Element at 0-based rank.
    pub(crate) fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        if rank >= self.len {
            return None;
        }
        let (leaf, r) = self.leaf_at(rank);
        leaf.get(r).map(|(m, s)| (m.as_slice(), *s))
    }

    /// Inserts an element not present yet.
    pub(crate) fn insert(&mut self, member: SmallBytes, score: f64) {
        self.len += 1;
        self.member_heap += member.heap_size();
        let total = self.len;
        match &mut self.root {
            Root::Leaf(leaf) => {
                if let Some(right) = leaf_insert(leaf, member, score, true) {
                    let left = mem::take(leaf);
                    let sep = (right[0].1, right[0].0.clone());
                    let (lc, rc) = (left.len(), right.len());
                    let kids = Kids::Leaves(branch_vec([left, right]));
                    self.root = Root::Branch(Branch::pair(lc, rc, sep, kids));
                }
            }
            Root::Branch(b) => {
                if let Some((right, moved, s, m)) = branch_insert(b, member, score, true) {
                    let left = mem::take(b);
                    let kids = Kids::Branches(branch_vec([left, right]));
                    self.root = Root::Branch(Branch::pair(total - moved, moved, (s, m), kids));
                }
            }
        }
    }

    /// Replaces a root branch with a single child by that child, repeatedly.
    fn collapse(&mut self) {
        loop {
            let Root::Branch(b) = &mut self.root else {
                return;
            };
            if b.width() > 1 {
                return;
            }
            self.root = match mem::take(&mut b.kids) {
                Kids::Leaves(ls) => ls.into_iter().next().map_or_else(Root::default, Root::Leaf),
                Kids::Branches(bs) => bs
                    .into_iter()
                    .next()
                    .map_or_else(Root::default, Root::Branch),
            };
        }
    }

    fn remove_target(&mut self, target: Target<'_>) -> Option<Elem> {
        let elem = match &mut self.root {
            Root::Leaf(leaf) => {
                let pos = leaf_pos(leaf, target)?;
                let elem = leaf.remove(pos);
                if leaf.is_empty() {
                    *leaf = Vec::new();
                }
                elem
            }
            Root::Branch(b) => remove_in(b, target, true)?.0,
        };
        self.collapse();
        self.len -= 1;
        self.member_heap -= elem.0.heap_size();
        Some(elem)
    }

    /// Removes the element (score, member); false (and no change) if absent.
    pub(crate) fn remove(&mut self, score: f64, member: &[u8]) -> bool {
        self.remove_target(Target::Key(score, member)).is_some()
    }

    /// Removes and returns the first (`last == false`) or the last element.
    pub(crate) fn pop_end(&mut self, last: bool) -> Option<(SmallBytes, f64)> {
        let rank = if last { self.len.checked_sub(1)? } else { 0 };
        self.remove_target(Target::Rank(rank))
    }

    /// Removes the elements at ranks `start..end` (clamped to len) and
    /// returns them in order. O(k + log n) node work for k elements: whole
    /// subtrees are cut out, then the two edges of the cut are repaired.
    pub(crate) fn remove_ranks(&mut self, start: usize, end: usize) -> Vec<(SmallBytes, f64)> {
        let end = end.min(self.len);
        if start >= end {
            return Vec::new();
        }
        if start == 0 && end == self.len {
            return mem::take(self).into_sorted();
        }
        let k = end - start;
        let out = match &mut self.root {
            Root::Leaf(leaf) => leaf.drain(start..end).collect(),
            Root::Branch(b) => {
                let mut out = Vec::with_capacity(k);
                cut(b, start, end, &mut out);
                out
            }
        };
        self.len -= k;
        self.member_heap -= out.iter().map(|(m, _)| m.heap_size()).sum::<usize>();
        self.collapse();
        if start < self.len {
            if let Root::Branch(b) = &mut self.root {
                repair(b, start);
            }
            self.collapse();
        }
        if start > 0 {
            if let Root::Branch(b) = &mut self.root {
                repair(b, start - 1);
            }
            self.collapse();
        }
        out
    }

    /// In-order iteration from `rank` forward (`rev == false`) or from `rank`
    /// backward towards rank 0 (`rev == true`). An out-of-range rank yields
    /// nothing.
    pub(crate) fn iter_from(&self, rank: usize, rev: bool) -> OrderIter<'_> {
        let mut it = OrderIter {
            path: Vec::new(),
            cur: [].iter(),
            rev,
            remaining: 0,
        };
        if rank >= self.len {
            return it;
        }
        it.remaining = if rev { rank + 1 } else { self.len - rank };
        let mut r = rank;
        let leaf = match &self.root {
            Root::Leaf(leaf) => leaf,
            Root::Branch(b) => {
                let mut b = b;
                loop {
                    let (i, sub) = child_at(&b.counts, r);
                    r = sub;
                    it.path.push((b, i));
                    match &b.kids {
                        Kids::Leaves(ls) => break &ls[i],
                        Kids::Branches(bs) => b = &bs[i],
                    }
                }
            }
        };
        it.cur = if rev {
            leaf[..=r].iter()
        } else {
            leaf[r..].iter()
        };
        it
    }

    /// Heap bytes used by the structure itself plus the members' own heap
    /// bytes, an estimate for MEMORY USAGE.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.member_heap
            + match &self.root {
                Root::Leaf(leaf) => leaf.capacity() * size_of::<Elem>(),
                Root::Branch(b) => b.heap_bytes(),
            }
    }

    /// Consumes the index, returning all elements in order.
    pub(crate) fn into_sorted(self) -> Vec<(SmallBytes, f64)> {
        match self.root {
            Root::Leaf(leaf) => leaf,
            Root::Branch(b) => {
                let mut out = Vec::with_capacity(self.len);
                b.drain_into(&mut out);
                out
            }
        }
    }
}

/// In-order (or reverse) iteration from a rank, O(1) amortized per step.
#[derive(Debug)]
pub(crate) struct OrderIter<'a> {
    /// The branches above the current leaf, each with the index of the child
    /// being visited.
    path: Vec<(&'a Branch, usize)>,
    /// What is left of the current leaf (taken from the back when `rev`).
    cur: std::slice::Iter<'a, Elem>,
    rev: bool,
    remaining: usize,
}

impl<'a> OrderIter<'a> {
    /// Moves to the next leaf in the direction of travel; false at the end.
    fn next_leaf(&mut self) -> bool {
        while let Some((b, i)) = self.path.pop() {
            let j = if self.rev {
                match i.checked_sub(1) {
                    Some(j) => j,
                    None => continue,
                }
            } else if i + 1 < b.width() {
                i + 1
            } else {
                continue;
            };
            let (mut b, mut j) = (b, j);
            loop {
                self.path.push((b, j));
                match &b.kids {
                    Kids::Leaves(ls) => {
                        self.cur = ls[j].iter();
                        return true;
                    }
                    Kids::Branches(bs) => {
                        b = &bs[j];
                        j = if self.rev { b.width() - 1 } else { 0 };
                    }
                }
            }
        }
        false
    }
}

impl<'a> Iterator for OrderIter<'a> {
    type Item = (&'a [u8], f64);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        loop {
            let e = if self.rev {
                self.cur.next_back()
            } else {
                self.cur.next()
            };
            if let Some((m, s)) = e {
                self.remaining -= 1;
                return Some((m.as_slice(), *s));
            }
            if !self.next_leaf() {
                self.remaining = 0;
                return None;
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for OrderIter<'_> {}

// ---------------------------------------------------------------------------
// Invariant checks
// ---------------------------------------------------------------------------

#[cfg(test)]
impl OrderIndex {
    /// Panics unless every structural invariant holds.
    fn check_invariants(&self) {
        let mut seen: Vec<&Elem> = Vec::new();
        match &self.root {
            Root::Leaf(leaf) => {
                assert!(leaf.len() <= LEAF_CAP, "root leaf over capacity");
                if leaf.is_empty() {
                    assert_eq!(leaf.capacity(), 0, "an empty index holds no allocation");
                }
                seen.extend(leaf.iter());
            }
            Root::Branch(b) => {
                assert!(b.width() >= 2, "a root branch has at least two children");
                let mut leaves = Vec::new();
                check_branch(b, true, &mut leaves, &mut seen);
                let last = leaves.len() - 1;
                for (i, leaf) in leaves.iter().enumerate() {
                    assert!(!leaf.is_empty(), "empty leaf");
                    assert!(leaf.len() <= LEAF_CAP, "leaf over capacity");
                    assert!(leaf.capacity() <= LEAF_CAP, "leaf allocation over capacity");
                    if i != last {
                        assert!(leaf.len() >= LEAF_MIN, "underfull leaf {i} of {}", last + 1);
                    }
                }
            }
        }
        assert_eq!(seen.len(), self.len, "len");
        for w in seen.windows(2) {
            assert_eq!(
                cmp_elem(w[0].1, &w[0].0, w[1].1, &w[1].0),
                Ordering::Less,
                "elements out of order"
            );
        }
        let heap: usize = seen.iter().map(|(m, _)| m.heap_size()).sum();
        assert_eq!(heap, self.member_heap, "member heap");
    }
}

/// Checks a branch and collects its leaves and elements; returns its height
/// and element count.
#[cfg(test)]
fn check_branch<'a>(
    b: &'a Branch,
    root: bool,
    leaves: &mut Vec<&'a Leaf>,
    seen: &mut Vec<&'a Elem>,
) -> (usize, usize) {
    let w = b.width();
    assert_eq!(b.kids.len(), w, "one count per child");
    assert_eq!(b.seps.len() + 1, w, "one separator per child but the first");
    assert_eq!(b.seps.members.len(), b.seps.scores.len());
    assert!(w <= BRANCH_CAP, "branch over capacity");
    if !root {
        assert!(w >= BRANCH_MIN, "underfull branch");
    }
    for i in 1..w {
        let first = b.kids.first_of(i).expect("children are not empty");
        assert_eq!(
            b.seps.scores[i - 1].to_bits(),
            first.1.to_bits(),
            "separator score"
        );
        assert_eq!(b.seps.members[i - 1], first.0, "separator member");
    }
    let mut height = None;
    let mut total = 0;
    for i in 0..w {
        let (h, count) = match &b.kids {
            Kids::Leaves(ls) => {
                leaves.push(&ls[i]);
                seen.extend(ls[i].iter());
                (0, ls[i].len())
            }
            Kids::Branches(bs) => check_branch(&bs[i], false, leaves, seen),
        };
        assert_eq!(b.counts[i], count, "child count");
        assert!(height.is_none_or(|x| x == h), "leaves at different depths");
        height = Some(h);
        total += count;
    }
    (height.unwrap_or(0) + 1, total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sb(s: &str) -> SmallBytes {
        SmallBytes::from(s)
    }

    fn elems(idx: &OrderIndex) -> Vec<(Vec<u8>, f64)> {
        idx.iter_from(0, false)
            .map(|(m, s)| (m.to_vec(), s))
            .collect()
    }

    fn build(n: usize) -> OrderIndex {
        let items = (0..n)
            .map(|i| (SmallBytes::from(format!("m{i:06}").as_str()), i as f64))
            .collect();
        OrderIndex::from_sorted(items)
    }

    #[test]
    fn empty() {
        let mut idx = OrderIndex::default();
        idx.check_invariants();
        assert_eq!(idx.len(), 0);
        assert_eq!(idx.get(0), None);
        assert_eq!(idx.rank_of(1.0, b"a"), 0);
        assert_eq!(idx.partition_point(|_, _| true), 0);
        assert_eq!(idx.iter_from(0, false).count(), 0);
        assert_eq!(idx.iter_from(0, true).size_hint(), (0, Some(0)));
        assert!(!idx.remove(1.0, b"a"));
        assert_eq!(idx.pop_end(true), None);
        assert_eq!(idx.pop_end(false), None);
        assert!(idx.remove_ranks(0, 10).is_empty());
        assert_eq!(idx.heap_bytes(), 0);
        assert!(idx.clone().into_sorted().is_empty());
        let idx = OrderIndex::from_sorted(Vec::new());
        idx.check_invariants();
        assert_eq!(idx.heap_bytes(), 0);
    }

    #[test]
    fn one_element() {
        let mut idx = OrderIndex::default();
        idx.insert(sb("a"), 1.5);
        idx.check_invariants();
        assert_eq!(idx.len(), 1);
        assert_eq!(idx.get(0), Some((&b"a"[..], 1.5)));
        assert_eq!(idx.get(1), None);
        assert_eq!(idx.rank_of(1.5, b"a"), 0);
        assert_eq!(idx.rank_of(1.5, b"b"), 1);
        assert_eq!(idx.rank_of(1.0, b"z"), 0);
        assert_eq!(
            idx.iter_from(0, false).collect::<Vec<_>>(),
            vec![(&b"a"[..], 1.5)]
        );
        assert_eq!(
            idx.iter_from(0, true).collect::<Vec<_>>(),
            vec![(&b"a"[..], 1.5)]
        );
        assert_eq!(idx.iter_from(1, true).count(), 0);
        assert!(!idx.remove(1.0, b"a"));
        assert!(!idx.remove(1.5, b"b"));
        assert_eq!(idx.len(), 1);
        assert!(idx.remove(1.5, b"a"));
        idx.check_invariants();
        assert_eq!(idx.len(), 0);
        assert_eq!(idx.heap_bytes(), 0);
    }

    #[test]
    fn equal_scores_order_by_member() {
        let mut idx = OrderIndex::default();
        for m in ["d", "b", "a", "c", "e", "ab", ""] {
            idx.insert(sb(m), 2.0);
        }
        idx.insert(sb("z"), 1.0);
        idx.insert(sb("0"), 3.0);
        idx.check_invariants();
        let got: Vec<_> = idx.iter_from(0, false).map(|(m, _)| m.to_vec()).collect();
        let want: Vec<&[u8]> = vec![b"z", b"", b"a", b"ab", b"b", b"c", b"d", b"e", b"0"];
        assert_eq!(got, want);
        assert_eq!(idx.rank_of(2.0, b"b"), 4);
        assert_eq!(idx.rank_of(2.0, b"bb"), 5);
        assert_eq!(idx.partition_point(|s, _| s < 2.0), 1);
        assert_eq!(idx.partition_point(|s, _| s <= 2.0), 8);
    }

    #[test]
    fn signed_zero_and_infinities() {
        let mut idx = OrderIndex::default();
        idx.insert(sb("b"), -0.0);
        idx.insert(sb("a"), 0.0);
        idx.insert(sb("c"), 0.0);
        idx.insert(sb("inf"), f64::INFINITY);
        idx.insert(sb("ninf"), f64::NEG_INFINITY);
        idx.insert(sb("max"), f64::MAX);
        idx.insert(sb("min"), f64::MIN);
        idx.check_invariants();
        let got: Vec<_> = idx.iter_from(0, false).map(|(m, _)| m.to_vec()).collect();
        let want: Vec<&[u8]> = vec![b"ninf", b"min", b"a", b"b", b"c", b"max", b"inf"];
        assert_eq!(got, want);
        // -0 and 0 compare equal: the member decides.
        assert_eq!(idx.rank_of(0.0, b"b"), 3);
        assert_eq!(idx.rank_of(-0.0, b"a"), 2);
        assert_eq!(idx.get(3).map(|(_, s)| s.is_sign_negative()), Some(true));
        assert!(idx.remove(0.0, b"b"));
        assert!(idx.remove(-0.0, b"a"));
        assert!(!idx.remove(0.0, b"a"));
        assert_eq!(idx.partition_point(|s, _| s < f64::INFINITY), 4);
        assert_eq!(idx.partition_point(|s, _| s <= f64::NEG_INFINITY), 1);
        assert_eq!(idx.pop_end(true), Some((sb("inf"), f64::INFINITY)));
        assert_eq!(idx.pop_end(false), Some((sb("ninf"), f64::NEG_INFINITY)));
        idx.check_invariants();
        assert_eq!(idx.len(), 3);
    }

    #[test]
    fn ranks_and_iteration_at_boundaries() {
        for n in [1, LEAF_CAP, LEAF_CAP + 1, 50, 333] {
            let idx = build(n);
            idx.check_invariants();
            assert_eq!(idx.len(), n);
            for r in 0..n {
                let (m, s) = idx.get(r).expect("in range");
                assert_eq!(s, r as f64);
                assert_eq!(idx.rank_of(s, m), r);
                let fwd = idx.iter_from(r, false);
                assert_eq!(fwd.size_hint(), (n - r, Some(n - r)));
                assert_eq!(
                    fwd.map(|(_, s)| s as usize).collect::<Vec<_>>(),
                    (r..n).collect::<Vec<_>>()
                );
                let back = idx.iter_from(r, true);
                assert_eq!(back.size_hint(), (r + 1, Some(r + 1)));
                assert_eq!(
                    back.map(|(_, s)| s as usize).collect::<Vec<_>>(),
                    (0..=r).rev().collect::<Vec<_>>()
                );
            }
            assert_eq!(idx.get(n), None);
            assert_eq!(idx.iter_from(n, false).count(), 0);
            assert_eq!(idx.iter_from(n, true).count(), 0);
            assert_eq!(idx.iter_from(usize::MAX, true).count(), 0);
            assert_eq!(idx.rank_of(-1.0, b""), 0);
            assert_eq!(idx.rank_of(n as f64, b""), n);
            let mut it = idx.iter_from(0, false);
            for left in (0..n).rev() {
                it.next();
                assert_eq!(it.len(), left);
            }
            assert_eq!(it.next(), None);
        }
    }

    #[test]
    fn insert_ascending_descending_and_random() {
        for order in 0..3 {
            let n = 400;
            let mut keys: Vec<usize> = (0..n).collect();
            match order {
                0 => {}
                1 => keys.reverse(),
                _ => fastrand::Rng::with_seed(7).shuffle(&mut keys),
            }
            let mut idx = OrderIndex::default();
            for &k in &keys {
                idx.insert(SmallBytes::from(format!("{k:05}").as_str()), (k / 3) as f64);
                idx.check_invariants();
            }
            let got: Vec<_> = elems(&idx).into_iter().map(|(m, _)| m).collect();
            let want: Vec<_> = (0..n).map(|k| format!("{k:05}").into_bytes()).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn appending_fills_leaves() {
        let mut idx = OrderIndex::default();
        for i in 0..1000 {
            idx.insert(SmallBytes::from(format!("{i}").as_str()), i as f64);
        }
        idx.check_invariants();
        let Root::Branch(b) = &idx.root else {
            panic!("a thousand elements need branches");
        };
        let mut leaves = Vec::new();
        check_branch(b, true, &mut leaves, &mut Vec::new());
        // Every leaf but the last is full.
        assert!(leaves[..leaves.len() - 1]
            .iter()
            .all(|l| l.len() == LEAF_CAP));
    }

    #[test]
    fn remove_absent_changes_nothing() {
        let mut idx = build(100);
        let before = elems(&idx);
        assert!(!idx.remove(5.0, b"m000006"));
        assert!(!idx.remove(5.5, b"m000005"));
        assert!(!idx.remove(1000.0, b"zzz"));
        assert!(!idx.remove(-1.0, b""));
        idx.check_invariants();
        assert_eq!(elems(&idx), before);
        assert!(idx.remove(5.0, b"m000005"));
        assert_eq!(idx.len(), 99);
    }

    #[test]
    fn remove_everything_leaves_nothing_allocated() {
        for mode in 0..4 {
            let mut idx = build(300);
            let mut rng = fastrand::Rng::with_seed(mode);
            while idx.len() > 0 {
                match mode {
                    0 => assert!(idx.pop_end(false).is_some()),
                    1 => assert!(idx.pop_end(true).is_some()),
                    2 => {
                        let r = rng.usize(..idx.len());
                        let (m, s) = idx.get(r).map(|(m, s)| (m.to_vec(), s)).expect("in range");
                        assert!(idx.remove(s, &m));
                    }
                    _ => {
                        let a = rng.usize(..idx.len());
                        let k = rng.usize(1..=7);
                        assert!(!idx.remove_ranks(a, a + k).is_empty());
                    }
                }
                idx.check_invariants();
            }
            assert_eq!(idx.heap_bytes(), 0);
        }
    }

    #[test]
    fn pop_end_order() {
        let mut idx = build(100);
        for i in 0..50 {
            let (m, s) = idx.pop_end(false).expect("not empty");
            assert_eq!(s, i as f64);
            assert_eq!(m.as_slice(), format!("m{i:06}").as_bytes());
            let (_, s) = idx.pop_end(true).expect("not empty");
            assert_eq!(s, (99 - i) as f64);
            idx.check_invariants();
        }
        assert_eq!(idx.pop_end(false), None);
    }

    #[test]
    fn remove_ranks_cases() {
        let n = 500;
        let full: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let ranges = [
            (0, 0),
            (3, 3),
            (7, 2),
            (0, 1),
            (n - 1, n),
            (0, n / 2),
            (n / 2, n),
            (1, n - 1),
            (100, 101),
            (10, 490),
            (250, 10_000),
            (n, n + 5),
            (0, usize::MAX),
        ];
        for (a, b) in ranges {
            let mut idx = build(n);
            let got: Vec<f64> = idx.remove_ranks(a, b).into_iter().map(|(_, s)| s).collect();
            let (lo, hi) = (a.min(n), b.min(n).max(a.min(n)));
            assert_eq!(got, full[lo..hi], "range {a}..{b}");
            idx.check_invariants();
            let rest: Vec<f64> = elems(&idx).into_iter().map(|(_, s)| s).collect();
            let want: Vec<f64> = full[..lo].iter().chain(&full[hi..]).copied().collect();
            assert_eq!(rest, want);
        }
    }

    #[test]
    fn heap_bytes_counts_members_and_nodes() {
        let long = "x".repeat(100);
        let mut idx = OrderIndex::default();
        idx.insert(SmallBytes::from(long.as_str()), 1.0);
        assert!(idx.heap_bytes() >= 100 + size_of::<Elem>());
        let big = build(1000);
        assert!(big.heap_bytes() >= 1000 * size_of::<Elem>());
        assert!(idx.remove(1.0, long.as_bytes()));
        assert_eq!(idx.heap_bytes(), 0);
    }

    #[test]
    fn clone_is_deep_and_valid() {
        let mut idx = build(200);
        let copy = idx.clone();
        idx.remove_ranks(10, 150);
        idx.insert(sb("new"), 0.5);
        copy.check_invariants();
        idx.check_invariants();
        assert_eq!(copy.len(), 200);
        assert_eq!(copy.into_sorted().len(), 200);
        let mut copy = idx.clone();
        for i in 0..100 {
            copy.insert(SmallBytes::from(format!("c{i}").as_str()), i as f64 + 0.25);
        }
        copy.check_invariants();
    }

    // -----------------------------------------------------------------------
    // Model-based property test
    // -----------------------------------------------------------------------

    type Model = Vec<(Vec<u8>, f64)>;

    fn model_cmp(a: &(Vec<u8>, f64), b: &(Vec<u8>, f64)) -> Ordering {
        cmp_elem(a.1, &a.0, b.1, &b.0)
    }

    fn member_name(id: u16) -> Vec<u8> {
        if id.is_multiple_of(7) {
            // Past the inline capacity: exercises heap accounting.
            format!("long-member-name-number-{id:05}").into_bytes()
        } else {
            format!("m{id}").into_bytes()
        }
    }

    fn score_strategy() -> impl Strategy<Value = f64> {
        prop_oneof![
            3 => (-4i32..4).prop_map(f64::from),
            1 => Just(0.0),
            1 => Just(-0.0),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
            2 => -1e6f64..1e6,
        ]
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u16, f64),
        InsertMany(u16, u16, f64),
        Remove(u16),
        RemoveWrongScore(u16, f64),
        Pop(bool),
        RemoveRanks(u16, u16),
        Clone,
    }

    fn op_strategy() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (any::<u16>(), score_strategy()).prop_map(|(m, s)| Op::Insert(m, s)),
            2 => (any::<u16>(), 1u16..400, score_strategy()).prop_map(|(m, n, s)| Op::InsertMany(m, n, s)),
            6 => any::<u16>().prop_map(Op::Remove),
            1 => (any::<u16>(), score_strategy()).prop_map(|(m, s)| Op::RemoveWrongScore(m, s)),
            2 => any::<bool>().prop_map(Op::Pop),
            2 => (any::<u16>(), any::<u16>()).prop_map(|(a, b)| Op::RemoveRanks(a, b)),
            1 => Just(Op::Clone),
        ]
    }

    fn model_insert(model: &mut Model, idx: &mut OrderIndex, id: u16, score: f64) {
        let m = member_name(id);
        if model.iter().any(|(x, _)| *x == m) {
            return;
        }
        let e = (m, score);
        let at = model.partition_point(|x| model_cmp(x, &e) == Ordering::Less);
        idx.insert(SmallBytes::from_slice(&e.0), score);
        model.insert(at, e);
    }

    fn check(idx: &OrderIndex, model: &Model, probe: u64) {
        idx.check_invariants();
        let n = model.len();
        assert_eq!(idx.len(), n);
        for (r, (m, s)) in model.iter().enumerate() {
            let (gm, gs) = idx.get(r).expect("rank in range");
            assert_eq!(gm, &m[..]);
            assert_eq!(gs.to_bits(), s.to_bits());
            assert_eq!(idx.rank_of(*s, m), r);
        }
        assert_eq!(idx.get(n), None);
        // A score threshold and an element-exact probe.
        let mut rng = fastrand::Rng::with_seed(probe);
        for _ in 0..4 {
            let t = match rng.u8(..4) {
                0 => f64::from(rng.i32(-5..5)),
                1 => f64::INFINITY,
                2 => f64::NEG_INFINITY,
                _ => rng.f64() * 2e6 - 1e6,
            };
            let want = model.iter().filter(|(_, s)| *s < t).count();
            assert_eq!(idx.partition_point(|s, _| s < t), want);
            let want = model.iter().filter(|(_, s)| *s <= t).count();
            assert_eq!(idx.partition_point(|s, _| s <= t), want);
            let probe_m = member_name(rng.u16(..));
            let want = model
                .iter()
                .filter(|e| cmp_elem(e.1, &e.0, t, &probe_m) == Ordering::Less)
                .count();
            assert_eq!(idx.rank_of(t, &probe_m), want);
        }
        // Iteration both ways from a few ranks, including out of range.
        for _ in 0..3 {
            let r = rng.usize(..n + 2);
            let fwd: Vec<_> = idx
                .iter_from(r, false)
                .map(|(m, s)| (m.to_vec(), s))
                .collect();
            let want: Model = model.get(r..).map_or_else(Vec::new, <[_]>::to_vec);
            assert_eq!(fwd, want);
            assert_eq!(
                idx.iter_from(r, false).size_hint(),
                (want.len(), Some(want.len()))
            );
            let back: Vec<_> = idx
                .iter_from(r, true)
                .map(|(m, s)| (m.to_vec(), s))
                .collect();
            let want: Model = if r < n {
                model[..=r].iter().rev().cloned().collect()
            } else {
                Vec::new()
            };
            assert_eq!(back, want);
            let mut it = idx.iter_from(r, true);
            assert_eq!(it.size_hint(), (want.len(), Some(want.len())));
            if it.next().is_some() {
                assert_eq!(it.len(), want.len() - 1);
            }
        }
    }

    fn run(initial: Vec<(u16, f64)>, ops: Vec<Op>, probe: u64) {
        let mut model: Model = Vec::new();
        for (id, s) in initial {
            let m = member_name(id);
            if !model.iter().any(|(x, _)| *x == m) {
                model.push((m, s));
            }
        }
        model.sort_by(model_cmp);
        let mut idx = OrderIndex::from_sorted(
            model
                .iter()
                .map(|(m, s)| (SmallBytes::from_slice(m), *s))
                .collect(),
        );
        check(&idx, &model, probe);
        for (step, op) in ops.into_iter().enumerate() {
            let probe = probe.wrapping_add(step as u64);
            match op {
                Op::Insert(id, s) => model_insert(&mut model, &mut idx, id, s),
                Op::InsertMany(id, k, s) => {
                    for j in 0..k {
                        let s = if j.is_multiple_of(3) {
                            s
                        } else {
                            s + f64::from(j)
                        };
                        model_insert(&mut model, &mut idx, id.wrapping_add(j), s);
                    }
                }
                Op::Remove(pick) => {
                    if !model.is_empty() {
                        let i = usize::from(pick) % model.len();
                        let (m, s) = model.remove(i);
                        assert!(idx.remove(s, &m));
                    }
                }
                Op::RemoveWrongScore(id, s) => {
                    let m = member_name(id);
                    let present = model.iter().any(|e| e.0 == m && e.1 == s);
                    assert!(!present || idx.remove(s, &m));
                    if present {
                        model.retain(|e| e.0 != m);
                    } else {
                        let before = idx.len();
                        assert!(!idx.remove(s, &m));
                        assert_eq!(idx.len(), before);
                    }
                }
                Op::Pop(last) => {
                    let want = if model.is_empty() {
                        None
                    } else if last {
                        model.pop()
                    } else {
                        Some(model.remove(0))
                    };
                    let got = idx.pop_end(last).map(|(m, s)| (m.as_slice().to_vec(), s));
                    assert_eq!(got, want);
                }
                Op::RemoveRanks(a, b) => {
                    let span = model.len() + 3;
                    let a = usize::from(a) % span;
                    let b = a + usize::from(b) % span;
                    let got: Model = idx
                        .remove_ranks(a, b)
                        .into_iter()
                        .map(|(m, s)| (m.as_slice().to_vec(), s))
                        .collect();
                    let (lo, hi) = (a.min(model.len()), b.min(model.len()));
                    let want: Model = if lo < hi {
                        model.drain(lo..hi).collect()
                    } else {
                        Vec::new()
                    };
                    assert_eq!(got, want);
                }
                Op::Clone => {
                    let copy = idx.clone();
                    check(&copy, &model, probe);
                    idx = copy;
                }
            }
            check(&idx, &model, probe);
        }
        let all: Model = idx
            .into_sorted()
            .into_iter()
            .map(|(m, s)| (m.as_slice().to_vec(), s))
            .collect();
        assert_eq!(all, model);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn matches_model(
            initial in prop::collection::vec((any::<u16>(), score_strategy()), 0..1500),
            ops in prop::collection::vec(op_strategy(), 1..120),
            probe in any::<u64>(),
        ) {
            run(initial, ops, probe);
        }
    }
}
