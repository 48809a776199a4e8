//! A column of sequence numbers as commits and manifests store them: as numbers, each the
//! difference from the one before, when every one is a decimal number written without leading
//! zeros; front-coded text otherwise. Invariant: decoding gives back every string exactly,
//! whatever the strings hold; a column that does not add up is refused, never misread.
//!
//! Why: the records of a shard count up, so one sequence number is the one before plus a
//! little. Kept whole they cost about 2.4 bytes per record after zstd (BENCHMARKS.md, "Where
//! the ledger's bytes go"); a commit's claims, a sixty-fourth of a batch each, cost a byte
//! more front-coded than as differences. A number's last 38 digits are the difference's part
//! (they fit 128 bits); the digits before them, a Kinesis number's first 18 of 56, are
//! front-coded, so they cost nothing while they stay the same.

use serde::{Deserialize, Serialize};

/// The most bytes a string shares with the one before. Sequence numbers share at most a few
/// dozen; the cap keeps a hostile column from making each of many entries a copy of one long
/// string (a few bytes each on disk, any amount in memory).
const MAX_SHARED_BYTES: usize = 256;

/// Digits of a number kept as a 128-bit integer (10^38 < 2^128).
const LOW_DIGITS: usize = 38;
const LOW_LIMIT: u128 = 10u128.pow(LOW_DIGITS as u32);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum SequenceColumn {
    Decimal {
        /// Each number's digits before its last [`LOW_DIGITS`] (none for shorter numbers).
        heads: FrontCoded,
        /// Each number's last digits as an integer, less the one before's (wrapping).
        low_deltas: Vec<i128>,
    },
    Text(FrontCoded),
}

impl SequenceColumn {
    pub(super) fn encode<'a>(strings: impl ExactSizeIterator<Item = &'a str> + Clone) -> Self {
        if strings.clone().all(is_plain_decimal) {
            let (mut heads, mut low_deltas) = (
                Vec::with_capacity(strings.len()),
                Vec::with_capacity(strings.len()),
            );
            let mut previous = 0u128;
            for text in strings {
                let (head, low) = text.split_at(text.len().saturating_sub(LOW_DIGITS));
                let low: u128 = low.parse().expect("38 decimal digits fit 128 bits");
                heads.push(head);
                low_deltas.push(low.wrapping_sub(previous) as i128);
                previous = low;
            }
            SequenceColumn::Decimal {
                heads: FrontCoded::encode(heads.into_iter()),
                low_deltas,
            }
        } else {
            SequenceColumn::Text(FrontCoded::encode(strings))
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            SequenceColumn::Decimal { low_deltas, .. } => low_deltas.len(),
            SequenceColumn::Text(text) => text.len(),
        }
    }

    /// The strings, in order; `Err` says what does not add up.
    pub(super) fn decode(&self) -> Result<Vec<String>, String> {
        let (heads, low_deltas) = match self {
            SequenceColumn::Text(text) => return text.decode(),
            SequenceColumn::Decimal { heads, low_deltas } => (heads.decode()?, low_deltas),
        };
        if heads.len() != low_deltas.len() {
            return Err(format!(
                "{} heads of sequence numbers and {} differences",
                heads.len(),
                low_deltas.len()
            ));
        }
        let mut low = 0u128;
        let mut strings = Vec::with_capacity(heads.len());
        for (mut head, &delta) in heads.into_iter().zip(low_deltas) {
            low = low.wrapping_add(delta as u128);
            if head.is_empty() {
                strings.push(low.to_string());
            } else if low < LOW_LIMIT {
                use std::fmt::Write as _;
                write!(head, "{low:0width$}", width = LOW_DIGITS).expect("a String takes any text");
                strings.push(head);
            } else {
                return Err(format!("{low} has more than {LOW_DIGITS} digits after its head"));
            }
        }
        Ok(strings)
    }
}

/// Digits only, no leading zero but in `0` itself: the text `u128`'s formatting gives back.
fn is_plain_decimal(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty() && bytes.iter().all(u8::is_ascii_digit) && (bytes[0] != b'0' || bytes.len() == 1)
}

/// Strings front-coded: each as the number of bytes it shares with the one before, and the
/// rest of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct FrontCoded {
    /// Bytes each string shares with the one before (always on a character boundary).
    shared: Vec<u32>,
    tail_lengths: Vec<u32>,
    /// Every string's tail, one after the other.
    tails: String,
}

impl FrontCoded {
    fn encode<'a>(strings: impl ExactSizeIterator<Item = &'a str>) -> Self {
        let mut column = FrontCoded {
            shared: Vec::with_capacity(strings.len()),
            tail_lengths: Vec::with_capacity(strings.len()),
            tails: String::new(),
        };
        let mut previous = "";
        for text in strings {
            let shared = shared_prefix(previous, text);
            column.shared.push(shared as u32);
            column.tail_lengths.push((text.len() - shared) as u32);
            column.tails.push_str(&text[shared..]);
            previous = text;
        }
        column
    }

    fn len(&self) -> usize {
        self.shared.len()
    }

    fn decode(&self) -> Result<Vec<String>, String> {
        if self.tail_lengths.len() != self.shared.len() {
            return Err(format!(
                "front-coded column of {} shared lengths and {} tails",
                self.shared.len(),
                self.tail_lengths.len()
            ));
        }
        let mut strings: Vec<String> = Vec::with_capacity(self.len());
        let mut at = 0usize;
        for (&shared, &length) in self.shared.iter().zip(&self.tail_lengths) {
            let previous = strings.last().map_or("", String::as_str);
            let head = previous
                .get(..shared as usize)
                .filter(|head| head.len() <= MAX_SHARED_BYTES)
                .ok_or_else(|| format!("{shared} bytes shared with a string of {}", previous.len()))?;
            let tail = at
                .checked_add(length as usize)
                .and_then(|end| self.tails.get(at..end))
                .ok_or("a tail runs past the tails, or splits a character")?;
            at += tail.len();
            let mut text = String::with_capacity(head.len() + tail.len());
            text.push_str(head);
            text.push_str(tail);
            strings.push(text);
        }
        if at != self.tails.len() {
            return Err(format!("{} bytes of tails left over", self.tails.len() - at));
        }
        Ok(strings)
    }
}

/// The bytes `a` and `b` start with alike, up to [`MAX_SHARED_BYTES`], cut back to a
/// character boundary.
fn shared_prefix(a: &str, b: &str) -> usize {
    let mut shared = a
        .bytes()
        .zip(b.bytes())
        .take(MAX_SHARED_BYTES)
        .take_while(|(x, y)| x == y)
        .count();
    while !b.is_char_boundary(shared) {
        shared -= 1;
    }
    shared
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(strings: &[&str]) -> SequenceColumn {
        let column = SequenceColumn::encode(strings.iter().copied());
        assert_eq!(column.decode().expect("decode"), strings);
        assert_eq!(column.len(), strings.len());
        column
    }

    const KINESIS: [&str; 4] = [
        "49590338271490256608559692538361571095921575989136588898",
        "49590338271490256608559692540461571095921575989136588898",
        "49590338271490256608559692540461571095921575989136588899",
        "49590338271490256708559692540461571095921575989136588899",
    ];

    #[test]
    fn decimal_numbers_are_stored_as_differences() {
        round_trip(&[]);
        let SequenceColumn::Decimal { heads, low_deltas } = round_trip(&["0", "7", "6", "1000", "9", "0"])
        else {
            panic!("plain decimals stay numbers");
        };
        assert_eq!(low_deltas, [0, 7, -1, 994, -991, -9]);
        assert!(heads.tails.is_empty());
        // 38 digits, 39 (the largest u128 has 39), a head and 38 low digits with leading zeros,
        // the largest 38-digit number
        let max = "9".repeat(38);
        let wide = format!("1{}", "0".repeat(38));
        let padded = format!("5{}7", "0".repeat(37));
        let SequenceColumn::Decimal { low_deltas, .. } = round_trip(&[&max, &wide, &padded, "1", &max])
        else {
            panic!("plain decimals stay numbers");
        };
        assert_eq!(&low_deltas[2..4], [7, -6]);
        let SequenceColumn::Decimal { heads, low_deltas } = round_trip(&KINESIS) else {
            panic!("Kinesis sequence numbers are numbers");
        };
        // the first 18 digits front-coded, the last 38 as differences
        assert_eq!(heads.shared, [0, 18, 18, 17]);
        assert_eq!(low_deltas[2], 1);
    }

    #[test]
    fn anything_else_is_front_coded_text() {
        for strings in [
            &["1", "01"][..],
            &["1", ""],
            &["1", "1 "],
            &["-1"],
            &["", "", "a", "", "a"],
            &["xé", "xè", "x€", "x€a", "€", "€€", "é"],
        ] {
            assert!(
                matches!(round_trip(strings), SequenceColumn::Text(_)),
                "{strings:?}"
            );
        }
        let SequenceColumn::Text(column) = round_trip(&["a", KINESIS[0], KINESIS[1]]) else {
            panic!("one string that is not a number makes the column text");
        };
        assert_eq!(column.shared, [0, 0, 27]);
    }

    #[test]
    fn columns_that_do_not_add_up_are_refused() {
        let good = FrontCoded::encode(["ab", "ac", "é"].into_iter());
        let mut shared_too_far = good.clone();
        shared_too_far.shared[1] = 3;
        let mut splits_a_char = good.clone();
        splits_a_char.tail_lengths[2] = 1;
        splits_a_char.tail_lengths[1] = 2;
        let mut left_over = good.clone();
        left_over.tails.push('x');
        let mut unequal = good.clone();
        unequal.tail_lengths.pop();
        let mut runs_past = good;
        runs_past.tail_lengths[2] = u32::MAX;
        // One long string, then many entries sharing all of it: refused past the cap.
        let long = "7".repeat(MAX_SHARED_BYTES + 1);
        let mut amplified = FrontCoded::encode([long.as_str(), &long].into_iter());
        assert_eq!(amplified.shared, [0, MAX_SHARED_BYTES as u32]);
        assert_eq!(
            amplified.decode().expect("within the cap"),
            [&long, &long].map(String::as_str)
        );
        amplified.shared[1] += 1;
        amplified.tail_lengths[1] -= 1;
        for bad in [
            shared_too_far,
            splits_a_char,
            left_over,
            unequal,
            runs_past,
            amplified,
        ] {
            assert!(SequenceColumn::Text(bad.clone()).decode().is_err(), "{bad:?}");
        }
        let SequenceColumn::Decimal {
            heads,
            mut low_deltas,
        } = SequenceColumn::encode(KINESIS.into_iter())
        else {
            panic!("numbers");
        };
        low_deltas[1] = LOW_LIMIT as i128;
        let too_many_digits = SequenceColumn::Decimal {
            heads: heads.clone(),
            low_deltas: low_deltas.clone(),
        };
        low_deltas.pop();
        let unequal = SequenceColumn::Decimal { heads, low_deltas };
        for bad in [too_many_digits, unequal] {
            assert!(bad.decode().is_err(), "{bad:?}");
        }
    }
}
