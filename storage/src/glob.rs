//! Redis's glob-style pattern matching, as used by `KEYS`, `SCAN MATCH`,
//! `CONFIG GET`, `PSUBSCRIBE` and friends.
//!
//! Supported syntax (the same as Redis 7.0's `stringmatchlen`):
//! - `*` any run of bytes, `?` exactly one byte;
//! - `[abc]` one byte of the set, `[^abc]` one byte not in the set, `[a-z]` a
//!   range (a reversed range such as `[z-a]` is the same as `[a-z]`), `\x`
//!   inside brackets is a literal `x`; an unterminated `[...` runs to the end
//!   of the pattern;
//! - `\x` outside brackets matches `x` literally; a trailing lone `\` matches
//!   a `\`.
//!
//! Invariants:
//! - Every token other than `*` consumes exactly one byte of text, so the
//!   matcher only has to remember the most recent `*` and backtrack to it: the
//!   running time is O(pattern × text) in the worst case and no recursion is
//!   involved, so patterns like `a*a*a*a*…b` cannot blow the stack or take
//!   exponential time.
//! - Results are byte-for-byte those of Redis, quirks included: an empty text
//!   is matched only by an empty pattern (Redis's loop never runs for an empty
//!   string, so even `*` does not match `""`; callers that special-case a lone
//!   `*`, as `KEYS` and `SCAN` do, should keep doing so), and range bounds are
//!   compared as C's signed `char`.

/// Returns whether `text` matches the glob `pattern`, with Redis's
/// `stringmatchlen` semantics. With `nocase`, ASCII letters compare without
/// regard to case (escaped bytes inside brackets still compare exactly, as in
/// Redis).
pub fn glob_match(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    if text.is_empty() {
        return pattern.is_empty();
    }
    let mut p = 0usize;
    let mut t = 0usize;
    // Pattern index just past the most recent `*`, and the text index that
    // `*` is currently assumed to stop at.
    let mut star: Option<(usize, usize)> = None;
    loop {
        if t == text.len() {
            while p < pattern.len() && pattern[p] == b'*' {
                p += 1;
            }
            return p == pattern.len();
        }
        if p < pattern.len() && pattern[p] == b'*' {
            while p < pattern.len() && pattern[p] == b'*' {
                p += 1;
            }
            if p == pattern.len() {
                return true;
            }
            star = Some((p, t));
            continue;
        }
        if p < pattern.len() {
            let (matched, next) = match_token(pattern, p, text[t], nocase);
            if matched {
                p = next;
                t += 1;
                continue;
            }
        }
        // Mismatch, or pattern exhausted while text remains: let the last
        // star swallow one more byte.
        match star {
            Some((after_star, star_t)) => {
                let star_t = star_t + 1;
                star = Some((after_star, star_t));
                p = after_star;
                t = star_t;
            }
            None => return false,
        }
    }
}

/// Matches the single non-`*` token starting at `pattern[p]` against the byte
/// `c`. Returns whether it matched and the index of the next token.
fn match_token(pattern: &[u8], p: usize, c: u8, nocase: bool) -> (bool, usize) {
    match pattern[p] {
        b'?' => (true, p + 1),
        b'[' => match_class(pattern, p + 1, c, nocase),
        b'\\' if p + 1 < pattern.len() => (eq(pattern[p + 1], c, nocase), p + 2),
        lit => (eq(lit, c, nocase), p + 1),
    }
}

/// Matches a bracket class whose body starts at `pattern[p]` (just after the
/// `[`). Returns whether `c` is accepted and the index just past the class.
fn match_class(pattern: &[u8], mut p: usize, c: u8, nocase: bool) -> (bool, usize) {
    let negate = p < pattern.len() && pattern[p] == b'^';
    if negate {
        p += 1;
    }
    let mut matched = false;
    loop {
        if p >= pattern.len() {
            // Unterminated class: it ends with the pattern.
            break;
        }
        let rest = pattern.len() - p;
        let b = pattern[p];
        if b == b'\\' && rest >= 2 {
            if pattern[p + 1] == c {
                matched = true;
            }
            p += 2;
        } else if b == b']' {
            p += 1;
            break;
        } else if rest >= 3 && pattern[p + 1] == b'-' {
            // C compares these as (signed) `char` promoted to int.
            let mut start = i32::from(b as i8);
            let mut end = i32::from(pattern[p + 2] as i8);
            let mut ch = i32::from(c as i8);
            if start > end {
                std::mem::swap(&mut start, &mut end);
            }
            if nocase {
                start = lower_i32(start);
                end = lower_i32(end);
                ch = lower_i32(ch);
            }
            if ch >= start && ch <= end {
                matched = true;
            }
            p += 3;
        } else {
            if eq(b, c, nocase) {
                matched = true;
            }
            p += 1;
        }
    }
    (matched != negate, p)
}

#[inline]
fn eq(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

#[inline]
fn lower_i32(c: i32) -> i32 {
    if (i32::from(b'A')..=i32::from(b'Z')).contains(&c) {
        c + 32
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;
    use proptest::prelude::*;

    fn m(p: &str, t: &str) -> bool {
        glob_match(p.as_bytes(), t.as_bytes(), false)
    }

    fn mi(p: &str, t: &str) -> bool {
        glob_match(p.as_bytes(), t.as_bytes(), true)
    }

    #[test]
    fn literals_and_wildcards() {
        assert!(m("hello", "hello"));
        assert!(!m("hello", "hell"));
        assert!(!m("hell", "hello"));
        assert!(m("h?llo", "hallo"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("*", "anything"));
        assert!(m("**", "anything"));
        assert!(m("a*", "a"));
        assert!(m("a**", "a"));
        assert!(m("*a", "a"));
        assert!(m("*a*", "bab"));
        assert!(!m("*a*", "bbb"));
        assert!(m("*b*c", "abxbc"));
        assert!(!m("a*b", "acbd"));
        assert!(m("a*b*c", "aXbYc"));
        assert!(!m("?", "ab"));
    }

    #[test]
    fn empty_text_quirk() {
        assert!(m("", ""));
        assert!(!m("*", ""));
        assert!(!m("?", ""));
        assert!(!m("", "a"));
    }

    #[test]
    fn classes() {
        assert!(m("h[ae]llo", "hello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("h[b-a]llo", "hallo"), "reversed range");
        assert!(m("[\\]]", "]"));
        assert!(m("[\\-]", "-"));
        assert!(m("[a-]", "]"), "Redis reads `a-]` as a range up to ']'");
        assert!(m("[abc", "b"), "unterminated class runs to the end");
        assert!(!m("[abc", "d"));
        assert!(!m("[", "a"));
        assert!(m("[^", "a"));
        assert!(
            !m("x[]y", "x]y"),
            "`[]` is an empty class, not a literal ']'"
        );
        assert!(!m("[]", "a"));
    }

    #[test]
    fn escapes() {
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("a\\?b", "a?b"));
        assert!(!m("a\\?b", "axb"));
        assert!(m("\\", "\\"));
        assert!(m("a\\", "a\\"));
    }

    #[test]
    fn nocase() {
        assert!(mi("HeLLo", "hello"));
        assert!(!m("HeLLo", "hello"));
        assert!(mi("h[A-C]llo", "hbllo"));
        assert!(mi("h[a-c]llo", "HBLLO"));
        assert!(mi("[X]", "x"));
        assert!(mi("\\X", "x"));
        assert!(
            !mi("[\\X]", "x"),
            "escaped bytes in a class compare exactly"
        );
    }

    #[test]
    fn high_bytes_compare_as_signed_char() {
        // [a-\xff]: 'a' is 97, 0xff is -1 as a C char, so the range swaps to
        // [-1, 97] and includes 0x00..=0x61 and 0xff.
        assert!(glob_match(b"[a-\xff]", b"\xff", false));
        assert!(glob_match(b"[a-\xff]", b"0", false));
        assert!(!glob_match(b"[a-\xff]", b"b", false));
        assert!(!glob_match(b"[a-\xff]", b"\x80", false));
        assert!(glob_match(b"\xe9*", b"\xe9t\xe9", false));
    }

    #[test]
    fn pathological_pattern_is_fast() {
        let pattern = "a*".repeat(5000) + "b";
        let text = "a".repeat(10_000);
        let start = std::time::Instant::now();
        assert!(!m(&pattern, &text));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        let pattern = "*".repeat(100_000) + "x";
        assert!(m(&pattern, "yyyx"));
    }

    /// A straightforward recursive matcher for patterns without brackets,
    /// with the same empty-text rule.
    fn reference(p: &[u8], t: &[u8], nocase: bool) -> bool {
        fn go(p: &[u8], t: &[u8], nocase: bool) -> bool {
            match p.first() {
                None => t.is_empty(),
                Some(b'*') => (0..=t.len()).any(|i| go(&p[1..], &t[i..], nocase)),
                Some(b'?') => !t.is_empty() && go(&p[1..], &t[1..], nocase),
                Some(b'\\') if p.len() >= 2 => {
                    !t.is_empty() && super::eq(p[1], t[0], nocase) && go(&p[2..], &t[1..], nocase)
                }
                Some(&c) => {
                    !t.is_empty() && super::eq(c, t[0], nocase) && go(&p[1..], &t[1..], nocase)
                }
            }
        }
        if t.is_empty() {
            return p.is_empty();
        }
        go(p, t, nocase)
    }

    proptest! {
        #[test]
        fn agrees_with_reference(
            pattern in proptest::collection::vec(
                prop_oneof![Just(b'*'), Just(b'?'), Just(b'\\'), Just(b'a'), Just(b'b'), Just(b'A')],
                0..10,
            ),
            text in proptest::collection::vec(
                prop_oneof![Just(b'a'), Just(b'b'), Just(b'A'), Just(b'*'), Just(b'\\')],
                0..12,
            ),
            nocase in any::<bool>(),
        ) {
            prop_assert_eq!(glob_match(&pattern, &text, nocase), reference(&pattern, &text, nocase));
        }

        #[test]
        fn star_suffix_and_prefix(text in "[a-c]{1,12}") {
            let bytes = text.as_bytes();
            let mut pat = b"*".to_vec();
            pat.push(bytes[bytes.len() - 1]);
            prop_assert!(glob_match(&pat, bytes, false));
            let mut pat = vec![bytes[0]];
            pat.push(b'*');
            prop_assert!(glob_match(&pat, bytes, false));
        }
    }
}
