//! Secret masking: the one place that knows how to take every secret steward
//! holds (account secrets, aria2's RPC secret) out of text before it is
//! written or shown. It never keeps text and never prints a secret itself.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, RwLock};

use aho_corasick::AhoCorasick;

/// What a secret is replaced with, whatever its length (the length itself
/// would tell something).
pub const MASK: &str = "***";

/// Shortest secret steward accepts as input. Every secret is masked whatever
/// its length, but a very short one would mask ordinary text too ("a" in
/// every word), and a secret that short is no secret: input refuses it.
pub const MIN_SECRET_LEN: usize = 8;

/// Why a value cannot be taken as a secret, as a line for the operator.
pub fn check_secret(value: &str) -> Result<(), String> {
    let len = value.chars().count();
    if len < MIN_SECRET_LEN {
        return Err(format!(
            "the secret is {len} characters long; steward needs at least {MIN_SECRET_LEN} (a shorter one would be masked in ordinary text too)"
        ));
    }
    if value.chars().any(char::is_control) {
        return Err("the secret holds a control character (newline, tab, ...)".into());
    }
    Ok(())
}

/// An immutable set of secrets and a single-pass matcher over them. Cheap to
/// share behind an `Arc`; rebuilt (not changed) when the secrets change.
#[derive(Default)]
pub struct Redactor {
    /// The distinct non-empty secrets.
    patterns: Vec<String>,
    /// One automaton over all of them; `None` when there is none, or in the
    /// (never seen) case it cannot be built, where a search per secret
    /// stands in: slower, but never a leak.
    matcher: Option<AhoCorasick>,
}

impl Redactor {
    /// A redactor for `secrets`; empty values are ignored (an empty pattern
    /// matches everywhere), duplicates are merged.
    pub fn new<S: AsRef<str>>(secrets: impl IntoIterator<Item = S>) -> Redactor {
        let mut patterns: Vec<String> = secrets
            .into_iter()
            .map(|s| s.as_ref().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        patterns.sort();
        patterns.dedup();
        let matcher = if patterns.is_empty() {
            None
        } else {
            AhoCorasick::new(&patterns).ok()
        };
        Redactor { patterns, matcher }
    }

    /// How many distinct secrets are masked.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The secrets themselves, for the output keeper only (which masks with
    /// them in a process of its own and never prints one).
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().map(String::as_str)
    }

    /// Where secrets occur in `bytes`, overlapping ones included. In UTF-8
    /// text they begin and end on char boundaries (the secrets are UTF-8 too).
    fn spans(&self, bytes: &[u8]) -> Vec<(usize, usize)> {
        match &self.matcher {
            Some(m) => m
                .find_overlapping_iter(bytes)
                .map(|m| (m.start(), m.end()))
                .collect(),
            None => {
                let mut spans = Vec::new();
                for p in &self.patterns {
                    let p = p.as_bytes();
                    let hits = bytes.windows(p.len()).enumerate().filter(|(_, w)| *w == p);
                    spans.extend(hits.map(|(i, _)| (i, i + p.len())));
                }
                spans
            }
        }
    }

    /// Where to cut `bytes`, a line too long to keep whole, at or before
    /// `at`, so that no secret is split between the piece and the rest: the
    /// cut leaves the last (longest secret - 1) bytes to the rest, where a
    /// secret that only begins may end, and moves before any secret it would
    /// fall in. `at` when there is no secret, or no such place (a secret
    /// about as long as the line).
    pub fn safe_cut(&self, bytes: &[u8], at: usize) -> usize {
        let at = at.min(bytes.len());
        let Some(longest) = self.patterns.iter().map(String::len).max() else {
            return at;
        };
        let mut cut = at.min(bytes.len().saturating_sub(longest - 1));
        let spans = self.spans(bytes);
        // Moving left may land in another secret: until none holds the cut.
        while let Some(&(start, _)) = spans.iter().find(|&&(s, e)| s < cut && cut < e) {
            cut = start;
        }
        if cut == 0 { at } else { cut }
    }

    /// `text` with every occurrence of every secret replaced by [`MASK`].
    /// Overlapping occurrences (one secret's end is another's start) are
    /// merged into one mask, so no part of either shows. Borrows when there
    /// is nothing to mask: the common case costs one pass and no allocation.
    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.patterns.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut spans = self.spans(text.as_bytes());
        if spans.is_empty() {
            return Cow::Borrowed(text);
        }
        spans.sort_unstable();
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        // Not empty: checked above.
        let mut cur = spans[0];
        for &(s, e) in &spans[1..] {
            if s <= cur.1 {
                cur.1 = cur.1.max(e);
            } else {
                out.push_str(&text[at..cur.0]);
                out.push_str(MASK);
                at = cur.1;
                cur = (s, e);
            }
        }
        out.push_str(&text[at..cur.0]);
        out.push_str(MASK);
        out.push_str(&text[cur.1..]);
        Cow::Owned(out)
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.patterns.len())
    }
}

/// The redactor in force, shared by every writer of text (worker output, the
/// store's events) and swapped whole when accounts or the aria2 secret
/// change. Cloning shares it.
#[derive(Clone, Default)]
pub struct SecretMask(Arc<RwLock<Arc<Redactor>>>);

impl SecretMask {
    /// Replaces the secrets in force.
    pub fn set<S: AsRef<str>>(&self, secrets: impl IntoIterator<Item = S>) {
        let next = Arc::new(Redactor::new(secrets));
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = next;
    }

    /// The redactor in force now (hold it for a batch of lines).
    pub fn current(&self) -> Arc<Redactor> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// `text` masked with the secrets in force now, as an owned string.
    pub fn mask(&self, text: &str) -> String {
        self.current().mask(text).into_owned()
    }
}

impl fmt::Debug for SecretMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretMask({:?})", self.current())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_secret_is_masked_wherever_it_appears() {
        let r = Redactor::new(["hunter2secret", "0123456789abcdef"]);
        let line = "ARIA2_RPC_SECRET=0123456789abcdef STEWARD_SECRET=hunter2secret x=hunter2secrethunter2secret";
        assert_eq!(
            r.mask(line),
            "ARIA2_RPC_SECRET=*** STEWARD_SECRET=*** x=***"
        );
    }

    #[test]
    fn text_without_a_secret_is_borrowed_unchanged() {
        let r = Redactor::new(["hunter2secret"]);
        assert!(matches!(
            r.mask("nothing here"),
            Cow::Borrowed("nothing here")
        ));
        let empty = Redactor::default();
        assert!(matches!(empty.mask("hunter2secret"), Cow::Borrowed(_)));
    }

    #[test]
    fn overlapping_and_nested_secrets_leave_no_part_visible() {
        // One secret's end is the next one's start; one holds another.
        let r = Redactor::new(["abcd1234", "1234wxyz", "cd12"]);
        assert_eq!(r.mask("<abcd1234wxyz>"), "<***>");
        assert_eq!(r.mask("<zzcd12zz>"), "<zz***zz>");
        let r = Redactor::new(["longsecretvalue", "secret"]);
        assert_eq!(r.mask("a longsecretvalue b secret"), "a *** b ***");
    }

    #[test]
    fn short_secrets_are_masked_too_and_empty_ones_ignored() {
        let r = Redactor::new(["", "ab", "ab"]);
        assert_eq!(r.len(), 1);
        assert_eq!(r.mask("xaby"), "x***y");
        assert_eq!(Redactor::new([""]).mask("abc"), "abc");
    }

    #[test]
    fn the_plain_search_fallback_masks_the_same() {
        let mut r = Redactor::new(["abcd1234", "1234wxyz", "pässwörd!"]);
        r.matcher = None;
        assert_eq!(r.mask("<abcd1234wxyz> ä→pässwörd!←"), "<***> ä→***←");
        assert_eq!(r.mask("plain"), "plain");
    }

    #[test]
    fn a_long_line_is_cut_where_no_secret_is_split() {
        let r = Redactor::new(["SECRETXY", "abc"]);
        // A secret that may only have begun: its bytes go to the rest.
        assert_eq!(r.safe_cut(b"0123456789SECR", 14), 7);
        // A cut inside a whole secret moves before it.
        assert_eq!(r.safe_cut(b"xxSECRETXYyyyyyyyyyyyy", 5), 2);
        assert_eq!(r.safe_cut(b"xxSECRETXYyyyyyyyyyyyy", 12), 12);
        // No secrets, or no room: where asked.
        assert_eq!(Redactor::default().safe_cut(b"0123456789", 4), 4);
        assert_eq!(r.safe_cut(b"SECRETXY", 4), 4);
        let mut fallback = Redactor::new(["SECRETXY", "abc"]);
        fallback.matcher = None;
        assert_eq!(fallback.safe_cut(b"xxSECRETXYyyyyyyyyyyyy", 5), 2);
    }

    #[test]
    fn multibyte_text_around_a_secret_stays_intact() {
        let r = Redactor::new(["pässwörd!"]);
        assert_eq!(r.mask("ä→pässwörd!←ö"), "ä→***←ö");
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let mask = SecretMask::default();
        mask.set(["hunter2secret"]);
        let text = format!("{mask:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("1 secrets"), "{text}");
    }

    #[test]
    fn a_swap_reaches_every_clone() {
        let mask = SecretMask::default();
        let writer = mask.clone();
        assert_eq!(
            writer.mask("old-secret new-secret"),
            "old-secret new-secret"
        );
        mask.set(["old-secret"]);
        assert_eq!(writer.mask("old-secret new-secret"), "*** new-secret");
        mask.set(["new-secret"]);
        assert_eq!(writer.mask("old-secret new-secret"), "old-secret ***");
    }

    #[test]
    fn input_refuses_short_secrets_and_control_characters() {
        assert!(check_secret("1234567").is_err());
        assert!(check_secret("12345678").is_ok());
        assert!(check_secret("abc\ndefghij").is_err());
    }

    #[test]
    fn masking_a_thousand_secrets_is_one_cheap_pass() {
        let secrets: Vec<String> = (0..1000).map(|i| format!("secret-{i:08}")).collect();
        let r = Redactor::new(&secrets);
        let line = "worker 17: fetched 3 pages in 120 ms, nothing to report here ".repeat(2);
        let start = std::time::Instant::now();
        for _ in 0..10_000 {
            assert!(matches!(r.mask(&line), Cow::Borrowed(_)));
        }
        // 10,000 lines of ~120 bytes: about a millisecond or two in release;
        // a generous bound for a debug build on a shared machine.
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }
}
