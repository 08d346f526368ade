//! Small iterator adapters over start-sorted `(start, end)` second intervals:
//! merging two streams and coalescing overlaps, without allocating. Shared by
//! the calendar (merging a day's opening into the next day's) and evaluation
//! (merging pauses).

/// Merges two streams of intervals sorted by start into one sorted stream.
pub(crate) struct MergeSorted<A: Iterator, B: Iterator> {
    a: std::iter::Peekable<A>,
    b: std::iter::Peekable<B>,
}

impl<A, B> MergeSorted<A, B>
where
    A: Iterator<Item = (i64, i64)>,
    B: Iterator<Item = (i64, i64)>,
{
    pub fn new(a: A, b: B) -> Self {
        MergeSorted {
            a: a.peekable(),
            b: b.peekable(),
        }
    }
}

impl<A, B> Iterator for MergeSorted<A, B>
where
    A: Iterator<Item = (i64, i64)>,
    B: Iterator<Item = (i64, i64)>,
{
    type Item = (i64, i64);

    fn next(&mut self) -> Option<(i64, i64)> {
        match (self.a.peek(), self.b.peek()) {
            (Some(x), Some(y)) if y.0 < x.0 => self.b.next(),
            (Some(_), _) => self.a.next(),
            (None, _) => self.b.next(),
        }
    }
}

/// Merges overlapping or touching intervals of a start-sorted stream (and drops
/// empty ones), so no second is counted twice.
pub(crate) struct Coalesce<I: Iterator<Item = (i64, i64)>> {
    inner: I,
    pending: Option<(i64, i64)>,
}

impl<I: Iterator<Item = (i64, i64)>> Coalesce<I> {
    pub fn new(inner: I) -> Self {
        Coalesce {
            inner,
            pending: None,
        }
    }
}

impl<I: Iterator<Item = (i64, i64)>> Iterator for Coalesce<I> {
    type Item = (i64, i64);

    fn next(&mut self) -> Option<(i64, i64)> {
        for (a, b) in self.inner.by_ref() {
            if b <= a {
                continue;
            }
            match self.pending {
                Some((pa, pb)) if a <= pb => self.pending = Some((pa, pb.max(b))),
                Some(p) => {
                    self.pending = Some((a, b));
                    return Some(p);
                }
                None => self.pending = Some((a, b)),
            }
        }
        self.pending.take()
    }
}
