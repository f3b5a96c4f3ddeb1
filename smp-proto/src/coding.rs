//! The binary encoding core shared by SMP and NTF (the reference's `Encoding` class).
//!
//! Grammar of the primitives (all integers big-endian):
//!
//! ```text
//! char        = 1 byte
//! bool        = "T" / "F"
//! word16      = 2 bytes
//! word32      = 4 bytes
//! int64       = 8 bytes, two's complement
//! timestamp   = int64 ; seconds since the Unix epoch
//! short-bytes = len:1 byte, len bytes          ; at most 255 bytes
//! large-bytes = len:word16, len bytes          ; at most 65535 bytes
//! maybe(x)    = "0" / "1" x
//! list(x)     = count:1 byte, count * x
//! nonempty(x) = count:1 byte (not 0), count * x
//! tail        = all remaining bytes
//! ```
//!
//! Decoding is done with a [`Reader`] that borrows the input and tracks the absolute byte
//! offset for error reporting. Encoding appends to a `Vec<u8>` and never fails: values are
//! valid by construction. Where a byte string longer than its length prefix allows is encoded
//! anyway, the length is truncated modulo the prefix size exactly as the reference does; the
//! constructors of the protocol types prevent that.

use alloc::vec::Vec;

use crate::error::{DecodeError, DecodeErrorKind, DecodeResult};

/// A cursor over input bytes.
///
/// All reads are bounds-checked and return [`DecodeError`] with the absolute offset of the
/// failure. Sub-readers created with [`Reader::sub`] keep absolute offsets.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over the whole of `buf`, offsets starting at 0.
    pub const fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0, base: 0 }
    }

    /// A reader over `buf` whose offsets start at `base` (for input that is part of a larger message).
    pub const fn with_offset(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    /// Absolute offset of the next byte.
    #[inline]
    pub const fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Number of unread bytes.
    #[inline]
    pub const fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when all input was read.
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unread bytes, without consuming them.
    #[inline]
    pub fn peek_rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// The next byte, without consuming it.
    #[inline]
    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// An error of `kind` at the current offset.
    #[inline]
    pub const fn error(&self, kind: DecodeErrorKind, expected: &'static str) -> DecodeError {
        DecodeError::new(kind, self.offset(), expected)
    }

    /// Saves the position, to [`Reader::restore`] it when an optional parse fails.
    pub const fn checkpoint(&self) -> usize {
        self.pos
    }

    /// Goes back to a position saved with [`Reader::checkpoint`].
    pub fn restore(&mut self, checkpoint: usize) {
        debug_assert!(checkpoint <= self.buf.len());
        self.pos = checkpoint.min(self.buf.len());
    }

    /// Takes exactly `n` bytes.
    ///
    /// # Errors
    /// [`DecodeErrorKind::Truncated`] when fewer than `n` bytes remain.
    #[inline]
    pub fn take(&mut self, n: usize, expected: &'static str) -> DecodeResult<&'a [u8]> {
        if self.remaining() < n {
            return Err(self.error(DecodeErrorKind::Truncated, expected));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Takes exactly `N` bytes as an array.
    ///
    /// # Errors
    /// [`DecodeErrorKind::Truncated`] when fewer than `N` bytes remain.
    #[inline]
    pub fn array<const N: usize>(&mut self, expected: &'static str) -> DecodeResult<[u8; N]> {
        let s = self.take(N, expected)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Takes all remaining bytes (the reference's `Tail`).
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    /// Takes bytes up to (not including) the first byte for which `stop` is true, or to the end.
    pub fn take_till(&mut self, stop: impl Fn(u8) -> bool) -> &'a [u8] {
        let rest = &self.buf[self.pos..];
        let n = rest.iter().position(|&b| stop(b)).unwrap_or(rest.len());
        self.pos += n;
        &rest[..n]
    }

    /// Takes bytes while `keep` is true (possibly none).
    pub fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a [u8] {
        self.take_till(|b| !keep(b))
    }

    /// Takes one or more bytes while `keep` is true.
    ///
    /// # Errors
    /// [`DecodeErrorKind::BadValue`] (or `Truncated` at the end) when the first byte does not match.
    pub fn take_while1(&mut self, keep: impl Fn(u8) -> bool, expected: &'static str) -> DecodeResult<&'a [u8]> {
        let s = self.take_while(keep);
        if s.is_empty() {
            let kind = if self.is_empty() { DecodeErrorKind::Truncated } else { DecodeErrorKind::BadValue };
            return Err(self.error(kind, expected));
        }
        Ok(s)
    }

    /// Consumes `byte` if it is next.
    #[inline]
    pub fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Consumes `prefix` if the input starts with it.
    pub fn eat_slice(&mut self, prefix: &[u8]) -> bool {
        if self.peek_rest().starts_with(prefix) {
            self.pos += prefix.len();
            true
        } else {
            false
        }
    }

    /// Requires the next byte to be `byte`.
    ///
    /// # Errors
    /// `Truncated` at the end of input, `BadValue` for another byte.
    #[inline]
    pub fn expect(&mut self, byte: u8, expected: &'static str) -> DecodeResult<()> {
        match self.peek() {
            Some(b) if b == byte => {
                self.pos += 1;
                Ok(())
            }
            Some(_) => Err(self.error(DecodeErrorKind::BadValue, expected)),
            None => Err(self.error(DecodeErrorKind::Truncated, expected)),
        }
    }

    /// Requires a single space (the separator between a tag and its fields).
    ///
    /// # Errors
    /// As [`Reader::expect`].
    #[inline]
    pub fn space(&mut self) -> DecodeResult<()> {
        self.expect(b' ', "space")
    }

    /// One byte.
    ///
    /// # Errors
    /// `Truncated` at the end of input.
    #[inline]
    pub fn u8(&mut self, expected: &'static str) -> DecodeResult<u8> {
        Ok(self.take(1, expected)?[0])
    }

    /// Big-endian 16-bit word.
    ///
    /// # Errors
    /// `Truncated`.
    #[inline]
    pub fn u16(&mut self, expected: &'static str) -> DecodeResult<u16> {
        Ok(u16::from_be_bytes(self.array(expected)?))
    }

    /// Big-endian 32-bit word.
    ///
    /// # Errors
    /// `Truncated`.
    pub fn u32(&mut self, expected: &'static str) -> DecodeResult<u32> {
        Ok(u32::from_be_bytes(self.array(expected)?))
    }

    /// Big-endian signed 64-bit integer.
    ///
    /// # Errors
    /// `Truncated`.
    pub fn i64(&mut self, expected: &'static str) -> DecodeResult<i64> {
        Ok(i64::from_be_bytes(self.array(expected)?))
    }

    /// `"T"` or `"F"`.
    ///
    /// # Errors
    /// `Truncated`, or `BadValue` for any other byte.
    pub fn bool(&mut self, expected: &'static str) -> DecodeResult<bool> {
        let at = self.offset();
        match self.u8(expected)? {
            b'T' => Ok(true),
            b'F' => Ok(false),
            _ => Err(DecodeError::new(DecodeErrorKind::BadValue, at, expected)),
        }
    }

    /// A byte string with a 1-byte length prefix, borrowed.
    ///
    /// # Errors
    /// `Truncated` when the prefix or the bytes are missing.
    #[inline]
    pub fn short_bytes(&mut self, expected: &'static str) -> DecodeResult<&'a [u8]> {
        let n = self.u8(expected)? as usize;
        self.take(n, expected)
    }

    /// A byte string with a 2-byte length prefix, borrowed.
    ///
    /// # Errors
    /// `Truncated` when the prefix or the bytes are missing.
    pub fn large_bytes(&mut self, expected: &'static str) -> DecodeResult<&'a [u8]> {
        let n = self.u16(expected)? as usize;
        self.take(n, expected)
    }

    /// A sub-reader over the next `n` bytes (with absolute offsets), consuming them here.
    ///
    /// # Errors
    /// `Truncated` when fewer than `n` bytes remain.
    pub fn sub(&mut self, n: usize, expected: &'static str) -> DecodeResult<Reader<'a>> {
        let base = self.offset();
        let s = self.take(n, expected)?;
        Ok(Reader::with_offset(s, base))
    }

    /// `"0"` for absent or `"1"` followed by the value.
    ///
    /// # Errors
    /// `Truncated`, `BadValue` for another tag byte, or the value's error.
    pub fn maybe<T>(
        &mut self,
        expected: &'static str,
        value: impl FnOnce(&mut Self) -> DecodeResult<T>,
    ) -> DecodeResult<Option<T>> {
        let at = self.offset();
        match self.u8(expected)? {
            b'0' => Ok(None),
            b'1' => value(self).map(Some),
            _ => Err(DecodeError::new(DecodeErrorKind::BadValue, at, expected)),
        }
    }

    /// A list with a 1-byte count. The count caps the allocation at 255 items.
    ///
    /// # Errors
    /// `Truncated` or the item's error.
    pub fn list<T>(
        &mut self,
        expected: &'static str,
        mut item: impl FnMut(&mut Self) -> DecodeResult<T>,
    ) -> DecodeResult<Vec<T>> {
        let n = self.u8(expected)? as usize;
        // each item is at least one byte, so a count beyond the input is truncated input
        let mut v = Vec::with_capacity(n.min(self.remaining()));
        for _ in 0..n {
            v.push(item(self)?);
        }
        Ok(v)
    }

    /// A list with a 1-byte count that must not be 0.
    ///
    /// # Errors
    /// `EmptyList` for a zero count, otherwise as [`Reader::list`].
    pub fn non_empty_list<T>(
        &mut self,
        expected: &'static str,
        item: impl FnMut(&mut Self) -> DecodeResult<T>,
    ) -> DecodeResult<Vec<T>> {
        if self.peek() == Some(0) {
            return Err(self.error(DecodeErrorKind::EmptyList, expected));
        }
        self.list(expected, item)
    }

    /// Succeeds only when all input was consumed.
    ///
    /// # Errors
    /// `TrailingBytes` otherwise.
    #[inline]
    pub fn finish(&self) -> DecodeResult<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.error(DecodeErrorKind::TrailingBytes, "end of input"))
        }
    }
}

/// A value with a binary encoding.
pub trait Encode {
    /// Appends the encoding to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// The encoding as a new vector.
    fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }
}

/// A value that decodes from the front of a [`Reader`].
pub trait Decode<'a>: Sized {
    /// Decodes one value, leaving the reader after it.
    ///
    /// # Errors
    /// Any [`DecodeError`] describing the first byte that does not fit the grammar.
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self>;

    /// Decodes a value that must span the whole input (the reference's `parseAll`).
    ///
    /// # Errors
    /// As [`Decode::decode`], or `TrailingBytes`.
    fn decode_exact(buf: &'a [u8]) -> DecodeResult<Self> {
        let mut r = Reader::new(buf);
        let v = Self::decode(&mut r)?;
        r.finish()?;
        Ok(v)
    }
}

/// Appends a big-endian word16.
pub fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends a big-endian word32.
pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends a big-endian int64.
pub fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends `"T"` or `"F"`.
pub fn put_bool(out: &mut Vec<u8>, v: bool) {
    out.push(if v { b'T' } else { b'F' });
}

/// Appends a short byte string (1-byte length; the length wraps modulo 256 as in the reference).
pub fn put_short(out: &mut Vec<u8>, s: &[u8]) {
    out.push(s.len() as u8);
    out.extend_from_slice(s);
}

/// Appends a short byte string written in place by `write`, then fills in its length byte
/// (no temporary buffer; the length wraps modulo 256 as in [`put_short`]).
pub fn put_short_with(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.push(0);
    write(out);
    out[at] = (out.len() - at - 1) as u8;
}

/// Appends a large byte string (2-byte length; wraps modulo 65536 as in the reference).
pub fn put_large(out: &mut Vec<u8>, s: &[u8]) {
    put_u16(out, s.len() as u16);
    out.extend_from_slice(s);
}

/// Appends `"0"` or `"1"` and the value.
pub fn put_maybe<T>(out: &mut Vec<u8>, v: Option<&T>, put: impl FnOnce(&mut Vec<u8>, &T)) {
    match v {
        None => out.push(b'0'),
        Some(x) => {
            out.push(b'1');
            put(out, x);
        }
    }
}

/// Appends a list with a 1-byte count (wraps modulo 256 as in the reference).
pub fn put_list<T>(out: &mut Vec<u8>, items: &[T], mut put: impl FnMut(&mut Vec<u8>, &T)) {
    out.push(items.len() as u8);
    for x in items {
        put(out, x);
    }
}

impl Encode for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        put_bool(out, *self);
    }
}

impl<'a> Decode<'a> for bool {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        r.bool("bool")
    }
}

impl Encode for u16 {
    fn encode(&self, out: &mut Vec<u8>) {
        put_u16(out, *self);
    }
}

impl<'a> Decode<'a> for u16 {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        r.u16("word16")
    }
}

impl Encode for u32 {
    fn encode(&self, out: &mut Vec<u8>) {
        put_u32(out, *self);
    }
}

impl<'a> Decode<'a> for u32 {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        r.u32("word32")
    }
}

impl Encode for i64 {
    fn encode(&self, out: &mut Vec<u8>) {
        put_i64(out, *self);
    }
}

impl<'a> Decode<'a> for i64 {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        r.i64("int64")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn primitives_encode_big_endian() {
        let mut v = Vec::new();
        put_u16(&mut v, 0x0102);
        put_u32(&mut v, 0x03040506);
        put_i64(&mut v, -2);
        put_bool(&mut v, true);
        put_bool(&mut v, false);
        assert_eq!(v, [1, 2, 3, 4, 5, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, b'T', b'F']);
        let mut r = Reader::new(&v);
        assert_eq!(r.u16("a").unwrap(), 0x0102);
        assert_eq!(r.u32("b").unwrap(), 0x03040506);
        assert_eq!(r.i64("c").unwrap(), -2);
        assert!(r.bool("d").unwrap());
        assert!(!r.bool("e").unwrap());
        r.finish().unwrap();
    }

    #[test]
    fn rejects_bad_bool_with_offset() {
        let mut r = Reader::new(b"\x00\x01X");
        r.u16("w").unwrap();
        let e = r.bool("flag").unwrap_err();
        assert_eq!(e, DecodeError::new(DecodeErrorKind::BadValue, 2, "flag"));
    }

    #[test]
    fn short_and_large_bytes() {
        let mut v = Vec::new();
        put_short(&mut v, b"abc");
        put_large(&mut v, b"de");
        assert_eq!(v, b"\x03abc\x00\x02de");
        let mut r = Reader::new(&v);
        assert_eq!(r.short_bytes("s").unwrap(), b"abc");
        assert_eq!(r.large_bytes("l").unwrap(), b"de");
        assert!(r.is_empty());
    }

    #[test]
    fn rejects_truncated_short_bytes() {
        let e = Reader::new(b"\x05ab").short_bytes("id").unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::Truncated);
        assert_eq!(e.offset, 1);
    }

    #[test]
    fn maybe_tags() {
        let mut r = Reader::new(b"01T2");
        assert_eq!(r.maybe("m", |r| r.bool("b")).unwrap(), None);
        assert_eq!(r.maybe("m", |r| r.bool("b")).unwrap(), Some(true));
        assert_eq!(r.maybe("m", |r| r.bool("b")).unwrap_err().kind, DecodeErrorKind::BadValue);
    }

    #[test]
    fn lists_and_non_empty_lists() {
        let mut r = Reader::new(b"\x02TF");
        assert_eq!(r.list("l", |r| r.bool("b")).unwrap(), vec![true, false]);
        let e = Reader::new(b"\x00").non_empty_list("l", |r| r.bool("b")).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::EmptyList);
        // a huge count with little input is truncated input, not a huge allocation
        let e = Reader::new(b"\xffT").list("l", |r| r.bool("b")).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::Truncated);
    }

    #[test]
    fn sub_reader_keeps_absolute_offsets() {
        let mut r = Reader::new(b"xxabc");
        r.take(2, "x").unwrap();
        let mut s = r.sub(2, "sub").unwrap();
        s.take(2, "ab").unwrap();
        assert_eq!(s.take(1, "c").unwrap_err().offset, 4);
        assert_eq!(r.offset(), 4);
    }

    #[test]
    fn decode_exact_rejects_trailing() {
        assert_eq!(u16::decode_exact(b"\x00\x01").unwrap(), 1);
        assert_eq!(u16::decode_exact(b"\x00\x01\x02").unwrap_err().kind, DecodeErrorKind::TrailingBytes);
    }
}
