//! A chain's sequence numbers in memory, each behind a 32-bit reference that the claim keeps.
//! Invariants: only canonical digits ([`SequenceNumber::canonical`]) go in; every reference
//! gives back exactly the digits pushed for it; an entry's offset stays below 2^31, since the
//! arena refuses pushes whose upper bounds ([`SequenceArena::bound`]), summed over every
//! push so far, would reach it. The sum, not the bytes, is checked because an entry's size
//! depends on which heads came before it: a state read back from a checkpoint pushes a subset
//! of the same numbers in another order, and must fit wherever the original did.
//!
//! Three forms, smallest first:
//! - a number below 2^31 (a line number, a small counter) is the reference itself;
//! - a number of at most 38 digits is its value, as two halves of at most 19 digits (each a
//!   `u64`, so no 128-bit division reads it back): the high half in as few bytes as it needs,
//!   then the low half in 8 bytes, or the low half alone in as few bytes as it needs;
//! - a longer one (Kinesis' are 56 digits) is its leading digits (the head), then its last
//!   38 digits as above. The first [`MAX_HEADS`] distinct heads of a chain are interned and
//!   named by index; later new ones are packed into the entry, two digits to a byte. So
//!   heads that repeat (a Kinesis shard's first 18 digits, if they change rarely) cost an
//!   index, and heads that do not cost at most what the old layout did, never a table entry
//!   per number.
//!
//! So a Kinesis sequence number takes 18 bytes here with an interned head and 27 with a
//! packed one, against 29 packed two digits to a byte, and a line number none.

use super::interner::Interner;
use crate::source::SequenceNumber;

/// The most digits a sequence number has ([`SequenceNumber::parse`]).
pub(super) const MAX_SEQUENCE_DIGITS: usize = 129;

/// A reference with this bit set holds its number in the other 31 bits; without it, it is
/// the offset of an entry in the arena.
const INLINE: u32 = 1 << 31;

/// Digits in each of the two halves of a value: 10^19 < 2^64.
const HALF_DIGITS: usize = 19;

/// The digits after a long number's head.
const TAIL_DIGITS: usize = 2 * HALF_DIGITS;

/// Heads interned per chain; past these, a new head is packed into its entry.
const MAX_HEADS: usize = 4096;

/// An entry's tag byte holds, in its low four bits, the bytes stored of the value's first
/// half (the high half with [`HAS_HIGH`], else the low half), and these flags.
const HAS_HIGH: u8 = 0x10;
/// An interned head's index (LEB128) comes first.
const INTERNED_HEAD: u8 = 0x20;
/// A packed head comes first: its digit count, then its digits two to a byte.
const PACKED_HEAD: u8 = 0x40;

/// The least the arena grows by, in bytes.
const MIN_GROWTH: usize = 4096;

#[derive(Debug, Default, Clone)]
pub(super) struct SequenceArena {
    bytes: Vec<u8>,
    heads: Interner,
    /// The sum of [`SequenceArena::bound`] over every push: at least `bytes.len()`.
    bounds: usize,
}

impl SequenceArena {
    /// At most the bytes that pushing `digits` adds, whatever was pushed before.
    pub(super) fn bound(digits: &str) -> usize {
        if inline_reference(digits).is_some() {
            return 0;
        }
        let head = match digits.len().checked_sub(TAIL_DIGITS) {
            Some(head_digits) if head_digits > 0 => 1 + head_digits.div_ceil(2),
            _ => 0,
        };
        1 + head + 16
    }

    /// About the bytes that pushing `digits` adds, when its head is interned (a reservation).
    pub(super) fn estimate(digits: &str) -> usize {
        match digits.len() {
            _ if inline_reference(digits).is_some() => 0,
            len if len > TAIL_DIGITS => 18,
            len if len > HALF_DIGITS => 17,
            _ => 9,
        }
    }

    /// Whether pushes bounded by `extra` more bytes in all keep every offset below
    /// [`INLINE`] (about 79 million Kinesis sequence numbers in one chain).
    pub(super) fn has_room(&self, extra: usize) -> bool {
        self.bounds.saturating_add(extra) < INLINE as usize
    }

    /// Stores a validated sequence number and returns its reference; the caller checked
    /// [`SequenceArena::has_room`].
    pub(super) fn push(&mut self, sequence: &SequenceNumber) -> u32 {
        self.push_digits(sequence.as_str())
    }

    /// [`SequenceArena::push`] of canonical digits.
    pub(super) fn push_digits(&mut self, digits: &str) -> u32 {
        if let Some(reference) = inline_reference(digits) {
            return reference;
        }
        debug_assert!(self.has_room(0), "the caller checks the room first");
        self.bounds += Self::bound(digits);
        let offset = self.bytes.len() as u32;
        let mut entry = [0u8; 1 + 1 + MAX_SEQUENCE_DIGITS.div_ceil(2) + 16];
        let mut len = 1;
        let tail = match digits.len().checked_sub(TAIL_DIGITS) {
            Some(head_len) if head_len > 0 => {
                let (head, tail) = digits.split_at(head_len);
                let (form, used) = self.write_head(head, &mut entry[len..]);
                entry[0] = form;
                len += used;
                tail
            }
            _ => digits,
        };
        let (form, used) = write_value(tail, &mut entry[len..]);
        entry[0] |= form;
        len += used;
        self.append(&entry[..len]);
        offset
    }

    /// A head into `out`, interned if it is known or there is room for it; returns its form
    /// (the tag's flag) and the bytes written.
    fn write_head(&mut self, head: &str, out: &mut [u8]) -> (u8, usize) {
        let index = match self.heads.find_recent(head) {
            Some(index) => Some(index),
            None if self.heads.len() < MAX_HEADS => Some(self.heads.intern(head)),
            None => None,
        };
        match index {
            Some(index) => (INTERNED_HEAD, write_varint(index, out)),
            None => (PACKED_HEAD, write_packed(head.as_bytes(), out)),
        }
    }

    fn append(&mut self, entry: &[u8]) {
        // Grown by an eighth at a time, not doubled: the arena can be a third of a chain's
        // memory, and doubling would leave up to half of it unused.
        if self.bytes.capacity() - self.bytes.len() < entry.len() {
            self.bytes
                .reserve_exact(entry.len().max(self.bytes.capacity() / 8).max(MIN_GROWTH));
        }
        self.bytes.extend_from_slice(entry);
    }

    /// Room for `bytes` more at once (a checkpoint knows about how many it will push), at
    /// most what offsets can address.
    pub(super) fn reserve(&mut self, bytes: usize) {
        self.bytes.reserve_exact(bytes.min(INLINE as usize));
    }

    /// Gives back what a reservation left unused.
    pub(super) fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
    }

    pub(super) fn get(&self, reference: u32) -> SequenceNumber {
        let mut buffer = [0u8; MAX_SEQUENCE_DIGITS];
        // Only parsed (so canonical, all-digit) numbers are pushed.
        SequenceNumber::parse(self.digits(reference, &mut buffer))
            .unwrap_or_else(|| SequenceNumber::from_u64(0))
    }

    /// The digits behind `reference`, written into `buffer`.
    pub(super) fn digits<'b>(&self, reference: u32, buffer: &'b mut [u8; MAX_SEQUENCE_DIGITS]) -> &'b str {
        let len = if reference & INLINE != 0 {
            write_plain(u64::from(reference & !INLINE), buffer)
        } else {
            self.entry_digits(reference as usize, buffer)
        };
        std::str::from_utf8(&buffer[..len]).unwrap_or("0")
    }

    fn entry_digits(&self, offset: usize, buffer: &mut [u8; MAX_SEQUENCE_DIGITS]) -> usize {
        let tag = self.bytes[offset];
        let mut at = offset + 1;
        let mut head_len = 0;
        if tag & INTERNED_HEAD != 0 {
            let (index, used) = read_varint(&self.bytes[at..]);
            at += used;
            let head = self.heads.get(index).as_bytes();
            head_len = head.len();
            buffer[..head_len].copy_from_slice(head);
        } else if tag & PACKED_HEAD != 0 {
            let (digits, used) = read_packed(&self.bytes[at..], buffer);
            at += used;
            head_len = digits;
        }
        let (high, low) = read_value(tag, &self.bytes[at..]);
        head_len + write_tail(high, low, head_len > 0, &mut buffer[head_len..])
    }

    /// Heap bytes held.
    pub(super) fn approx_bytes(&self) -> usize {
        self.bytes.capacity() + self.heads.approx_bytes()
    }
}

/// The reference that is the number itself, for one below 2^31. Any other text has none
/// (a checkpoint's reader sizes its arena before it checks each number).
fn inline_reference(digits: &str) -> Option<u32> {
    if digits.len() > 10 || !digits.bytes().all(|d| d.is_ascii_digit()) {
        return None;
    }
    let value = parse_u64(digits.as_bytes());
    (value < u64::from(INLINE)).then_some(INLINE | value as u32)
}

/// `value` as LEB128 into `out`; returns the bytes written (at most 5).
fn write_varint(mut value: u32, out: &mut [u8]) -> usize {
    let mut len = 0;
    loop {
        let more = value >= 0x80;
        out[len] = (value & 0x7f) as u8 | if more { 0x80 } else { 0 };
        len += 1;
        value >>= 7;
        if !more {
            return len;
        }
    }
}

/// A LEB128 value at the start of `bytes`, and the bytes it took.
fn read_varint(bytes: &[u8]) -> (u32, usize) {
    let mut value = 0u32;
    // At most five bytes: a u32's 32 bits in sevens.
    for (i, &byte) in bytes.iter().take(5).enumerate() {
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return (value, i + 1);
        }
    }
    (value, bytes.len().min(5))
}

/// The (high, low) halves that [`write_value`] stored under `tag` at the start of `bytes`.
fn read_value(tag: u8, bytes: &[u8]) -> (u64, u64) {
    let width = usize::from(tag & 0x0f);
    let half = |bytes: &[u8]| {
        let mut le = [0u8; 8];
        le[..bytes.len()].copy_from_slice(bytes);
        u64::from_le_bytes(le)
    };
    let first = half(&bytes[..width]);
    if tag & HAS_HIGH == 0 {
        (0, first)
    } else {
        (first, half(&bytes[width..width + 8]))
    }
}

/// At most 38 digits as their halves into `out`; returns their form (the tag's bits) and
/// the bytes written.
fn write_value(digits: &str, out: &mut [u8]) -> (u8, usize) {
    let (high, low) = digits.split_at(digits.len().saturating_sub(HALF_DIGITS));
    let (high, low) = (parse_u64(high.as_bytes()), parse_u64(low.as_bytes()));
    let first = if high == 0 { low } else { high };
    let width = (8 - first.leading_zeros() as usize / 8).max(1);
    out[..width].copy_from_slice(&first.to_le_bytes()[..width]);
    if high == 0 {
        return (width as u8, width);
    }
    out[width..width + 8].copy_from_slice(&low.to_le_bytes());
    (width as u8 | HAS_HIGH, width + 8)
}

/// Digits into `out`: their count, then two to a byte; returns the bytes written.
fn write_packed(digits: &[u8], out: &mut [u8]) -> usize {
    out[0] = digits.len() as u8;
    for (slot, pair) in out[1..].iter_mut().zip(digits.chunks(2)) {
        let high = pair[0] - b'0';
        let low = pair.get(1).map_or(0, |d| d - b'0');
        *slot = high << 4 | low;
    }
    1 + digits.len().div_ceil(2)
}

/// The digits [`write_packed`] stored at the start of `bytes`, into `out`; returns the
/// digits and the bytes read.
fn read_packed(bytes: &[u8], out: &mut [u8]) -> (usize, usize) {
    let digits = usize::from(bytes[0]);
    for (i, byte) in bytes[1..1 + digits.div_ceil(2)].iter().enumerate() {
        out[2 * i] = b'0' + (byte >> 4);
        if 2 * i + 1 < digits {
            out[2 * i + 1] = b'0' + (byte & 0x0f);
        }
    }
    (digits, 1 + digits.div_ceil(2))
}

/// A value's (high, low) halves into `out`: exactly 38 digits after a head, else without
/// leading zeros; returns the digits written.
fn write_tail(high: u64, low: u64, after_head: bool, out: &mut [u8]) -> usize {
    if after_head {
        write_padded(high, &mut out[..HALF_DIGITS]);
        write_padded(low, &mut out[HALF_DIGITS..TAIL_DIGITS]);
        return TAIL_DIGITS;
    }
    if high == 0 {
        return write_plain(low, out);
    }
    let len = write_plain(high, out);
    write_padded(low, &mut out[len..len + HALF_DIGITS]);
    len + HALF_DIGITS
}

/// The value of at most 19 digits (none is zero).
fn parse_u64(digits: &[u8]) -> u64 {
    debug_assert!(
        digits.len() <= HALF_DIGITS && digits.iter().all(u8::is_ascii_digit),
        "not up to {HALF_DIGITS} decimal digits: {digits:?}"
    );
    // The leading digits one at a time, then eight at a time: a cold container's checkpoint
    // loads push a million numbers of 38 digits and more.
    let (lead, eights) = digits.split_at(digits.len() % 8);
    let value = lead
        .iter()
        .fold(0u64, |value, d| value * 10 + u64::from(d - b'0'));
    eights.chunks_exact(8).fold(value, |value, eight| {
        value * 100_000_000 + parse_eight(eight.try_into().expect("eight digits"))
    })
}

/// Eight ASCII digits as a number, in a few word operations: each step joins neighbouring
/// lanes (digits into pairs in 16 bits, pairs into fours in 32, fours into eight), the more
/// significant digit in the lower byte as the bytes are read little-endian. No step
/// overflows its lane: 9·10 + 9, 99·100 + 99 and 9999·10⁴ + 9999 all fit.
fn parse_eight(eight: &[u8; 8]) -> u64 {
    let digits = u64::from_le_bytes(*eight) - 0x3030_3030_3030_3030;
    let pairs = (digits * 10 + (digits >> 8)) & 0x00ff_00ff_00ff_00ff;
    let fours = (pairs * 100 + (pairs >> 16)) & 0x0000_ffff_0000_ffff;
    (fours * 10_000 + (fours >> 32)) & 0xffff_ffff
}

/// `value` in decimal without leading zeros; returns the digits written.
fn write_plain(value: u64, out: &mut [u8]) -> usize {
    let len = value.checked_ilog10().map_or(1, |log| log as usize + 1);
    write_padded(value, &mut out[..len]);
    len
}

/// `value` in exactly `out.len()` digits, zero-padded on the left.
fn write_padded(mut value: u64, out: &mut [u8]) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(arena: &mut SequenceArena, digits: &str) -> u32 {
        let reference = arena.push_digits(digits);
        let mut buffer = [0u8; MAX_SEQUENCE_DIGITS];
        assert_eq!(arena.digits(reference, &mut buffer), digits);
        assert_eq!(arena.get(reference).as_str(), digits);
        reference
    }

    #[test]
    fn every_form_gives_its_digits_back() {
        let mut arena = SequenceArena::default();
        let long = "9".repeat(MAX_SEQUENCE_DIGITS);
        let kinesis = "49590338271490256608559692538361571095921575989136588898";
        let cases = [
            "0",
            "7",
            "10",
            "2147483647",
            "2147483648",
            "9999999999",
            "10000000000000000000",
            "18446744073709551616",
            "99999999999999999999999999999999999999",
            "100000000000000000000000000000000000000",
            "100000000000000000000000000000000000001",
            "1000000000000000000000000000000000000000000000000000000000",
            kinesis,
            long.as_str(),
        ];
        let references: Vec<u32> = cases.iter().map(|d| round_trip(&mut arena, d)).collect();
        for (digits, reference) in cases.iter().zip(&references) {
            let mut buffer = [0u8; MAX_SEQUENCE_DIGITS];
            assert_eq!(arena.digits(*reference, &mut buffer), *digits, "after every push");
        }
        let inline = references.iter().filter(|&&r| r & INLINE != 0).count();
        assert_eq!(inline, 4, "up to 2^31 - 1 the number is the reference");
    }

    #[test]
    fn a_kinesis_number_takes_eighteen_bytes_and_its_head_is_stored_once() {
        let mut arena = SequenceArena::default();
        let head = "495903382714902566";
        for i in 0..1_000u64 {
            let digits = format!(
                "{head}{:038}",
                8_559_692_538_361_571_095_921_575_989_136_588_898u128 + u128::from(i)
            );
            round_trip(&mut arena, &digits);
        }
        assert_eq!(arena.bytes.len(), 1_000 * 18);
        assert_eq!(arena.heads.len(), 1);
        let reference = round_trip(&mut arena, "1234");
        assert_ne!(reference & INLINE, 0);
        assert_eq!(arena.bytes.len(), 1_000 * 18, "a small number adds no bytes");
    }

    #[test]
    fn heads_past_the_interned_ones_are_packed_into_their_entries() {
        let mut arena = SequenceArena::default();
        let numbers: Vec<String> = (0..MAX_HEADS as u64 + 500)
            .map(|i| format!("{}{:038}", 495_903_382_714_902_566 + i, i * 7))
            .collect();
        let references: Vec<u32> = numbers.iter().map(|d| arena.push_digits(d)).collect();
        assert_eq!(arena.heads.len(), MAX_HEADS, "the table stops growing");
        for (digits, reference) in numbers.iter().zip(&references) {
            let mut buffer = [0u8; MAX_SEQUENCE_DIGITS];
            assert_eq!(arena.digits(*reference, &mut buffer), digits);
        }
        // A known head is still named by its index once the table is full.
        let before = arena.bytes.len();
        round_trip(&mut arena, &numbers[3]);
        assert!(
            arena.bytes.len() - before <= 1 + 2 + 8,
            "an interned head, a zero high half"
        );
        // Past the table, an entry of a Kinesis number costs at most its 27-byte bound.
        let before = arena.bytes.len();
        round_trip(
            &mut arena,
            "9959033827149025660855969253836157109592157598913658889",
        );
        assert_eq!(arena.bytes.len() - before, 1 + 1 + 9 + 16);
    }

    #[test]
    fn bounds_cover_every_entry_in_any_order() {
        let kinesis = "49590338271490256608559692538361571095921575989136588898";
        let long = "7".repeat(MAX_SEQUENCE_DIGITS);
        let cases = [
            "1",
            "999999999",
            "2147483648",
            "4294967296",
            kinesis,
            long.as_str(),
        ];
        for digits in cases {
            let mut arena = SequenceArena::default();
            arena.push_digits(digits);
            assert!(arena.bytes.len() <= SequenceArena::bound(digits), "{digits}");
            assert_eq!(arena.bounds, SequenceArena::bound(digits));
        }
        // The same numbers in two orders, with the head table full in one of them: each
        // arena's bytes stay within the same sum of bounds.
        let numbers: Vec<String> = (0..MAX_HEADS as u64 + 100)
            .map(|i| format!("{}{:038}", 10_000 + i % (MAX_HEADS as u64 + 50), i))
            .collect();
        let total: usize = numbers.iter().map(|d| SequenceArena::bound(d)).sum();
        for order in [numbers.clone(), numbers.iter().rev().cloned().collect()] {
            let mut arena = SequenceArena::default();
            for digits in &order {
                assert!(arena.has_room(SequenceArena::bound(digits)));
                arena.push_digits(digits);
            }
            assert_eq!(arena.bounds, total);
            assert!(arena.bytes.len() <= total);
        }
    }

    #[test]
    fn the_room_ends_before_an_offset_could_reach_the_inline_bit() {
        let arena = SequenceArena {
            bounds: INLINE as usize - 27,
            ..SequenceArena::default()
        };
        let kinesis = "49590338271490256608559692538361571095921575989136588898";
        assert!(!arena.has_room(SequenceArena::bound(kinesis)));
        assert!(
            arena.has_room(SequenceArena::bound("12")),
            "an inline number takes no room"
        );
    }

    #[test]
    fn bounds_and_estimates_of_unchecked_text_do_not_panic() {
        for text in ["&0", "/", "a", "1a", ":9", "", "12345678901", "١٢"] {
            assert_eq!(SequenceArena::estimate(text) > 0, !text.is_empty(), "{text}");
            assert!(
                SequenceArena::bound(text) >= SequenceArena::estimate(text),
                "{text}"
            );
        }
    }

    #[test]
    fn digits_parse_as_the_standard_library_parses_them() {
        for digits in [
            "",
            "0",
            "7",
            "00000000",
            "12345678",
            "99999999",
            "123456789",
            "0000000000000000001",
            "9999999999999999999",
            "1844674407370955161",
        ] {
            let expected = if digits.is_empty() {
                0
            } else {
                digits.parse::<u64>().expect("digits")
            };
            assert_eq!(parse_u64(digits.as_bytes()), expected, "{digits}");
        }
    }

    proptest! {
        #[test]
        fn any_digits_parse_as_the_standard_library_parses_them(digits in "[0-9]{1,19}") {
            prop_assert_eq!(parse_u64(digits.as_bytes()), digits.parse::<u64>().expect("digits"));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any canonical number of 1 to 129 digits reads back, whatever was pushed before.
        #[test]
        fn any_canonical_number_reads_back(
            numbers in proptest::collection::vec(proptest::collection::vec(0u8..10, 1..=129), 1..40),
            heads in proptest::collection::vec(0..3usize, 40),
        ) {
            let mut arena = SequenceArena::default();
            // Half of the long numbers take one of three heads, alternating as a checkpoint's
            // shards do, so that a head is found again after another.
            let shared = ["1", "49590338271490256", "49590338271490257"];
            let texts: Vec<String> = numbers
                .iter()
                .zip(&heads)
                .enumerate()
                .map(|(i, (n, &head))| {
                    let number: String = n.iter().map(|d| char::from(b'0' + d)).collect();
                    if i % 2 == 0 && number.len() > TAIL_DIGITS {
                        format!("{}{}", shared[head], &number[number.len() - TAIL_DIGITS..])
                    } else {
                        number
                    }
                })
                .collect();
            let canonical: Vec<&str> = texts
                .iter()
                .map(|n| SequenceNumber::canonical(n).expect("digits"))
                .collect();
            let references: Vec<u32> = canonical.iter().map(|d| arena.push_digits(d)).collect();
            for (digits, reference) in canonical.iter().zip(references) {
                let mut buffer = [0u8; MAX_SEQUENCE_DIGITS];
                prop_assert_eq!(arena.digits(reference, &mut buffer), *digits);
            }
        }
    }
}
