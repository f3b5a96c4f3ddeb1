//! Fixed-size transport blocks: padding, batches of transmissions, and the transport error.
//!
//! ```text
//! block         = len:word16 content padding      ; exactly block-size bytes
//! padding       = *("#")                          ; any bytes are accepted when decoding
//! content       = batch / transmission            ; batch when the version batches
//! batch         = count:1 byte (1-255) count * large-bytes(transmission)
//! ```
//!
//! Block sizes: [`NTF_BLOCK_SIZE`] (512) for the notification server, [`SMP_BLOCK_SIZE`]
//! (16384) for SMP relays. NTF batches from v2, SMP always (v4+). Handshake messages are sent
//! as a single unbatched content. SMP v11+ may encrypt blocks instead of padding them
//! ([`crate::crypto::encrypt_block`]).
//!
//! Decoding borrows: [`Transmissions`] yields slices of the block. Encoding follows the
//! reference's batching exactly ([`batch_transmissions`]).

use alloc::vec::Vec;
use core::ops::Range;

use crate::coding::{put_u16, Reader};
use crate::error::{DecodeError, DecodeErrorKind, DecodeResult};
pub use crate::error_type::{HandshakeError, TransportError};

/// Block size of the notification server protocol.
pub const NTF_BLOCK_SIZE: usize = 512;
/// Block size of SMP relays.
pub const SMP_BLOCK_SIZE: usize = 16384;
/// Bytes a batch keeps free: 2 for the padding length, 1 for the count, 16 for the tag of
/// block encryption.
pub const BATCH_RESERVED: usize = 19;
/// Most transmissions in one batch.
pub const MAX_BATCH: usize = 255;
/// Longest content the padding scheme can carry (`maxMsgLen`).
pub const MAX_PADDED_CONTENT: usize = 65533;

/// Pads `content` to `padded_len` bytes and appends the result to `out` (`pad`).
///
/// ```text
/// padded = len:word16 content *("#")   ; padded_len bytes in all
/// ```
///
/// # Errors
/// [`TransportError::LargeMsg`] when `content` is longer than `padded_len - 2` (or than
/// [`MAX_PADDED_CONTENT`]); nothing is appended then.
pub fn pad(content: &[u8], padded_len: usize, out: &mut Vec<u8>) -> Result<(), TransportError> {
    let len = content.len();
    if len > MAX_PADDED_CONTENT || len + 2 > padded_len {
        return Err(TransportError::LargeMsg);
    }
    out.reserve(padded_len);
    put_u16(out, len as u16);
    out.extend_from_slice(content);
    out.resize(out.len() + (padded_len - len - 2), b'#');
    Ok(())
}

/// The content of a padded block (`unPad`); the padding bytes are not checked.
///
/// # Errors
/// `Truncated` when the block is shorter than 2 bytes, `BadLength` when the length exceeds
/// the rest of the block. The reference reports both as `LARGE_MSG`.
pub fn unpad(block: &[u8]) -> DecodeResult<&[u8]> {
    let mut r = Reader::new(block);
    let len = r.u16("block content length")? as usize;
    if len > r.remaining() {
        return Err(DecodeError::new(
            DecodeErrorKind::BadLength,
            0,
            "block content length within the block",
        ));
    }
    r.take(len, "block content")
}

/// The transmissions of one block, borrowed from it; validated on construction.
#[derive(Clone, Debug)]
pub struct Transmissions<'a> {
    /// unread batch items, or the single transmission
    rest: &'a [u8],
    remaining: usize,
    batched: bool,
}

impl<'a> Iterator for Transmissions<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        if !self.batched {
            return Some(core::mem::take(&mut self.rest));
        }
        // lengths were checked when the block was decoded
        let mut r = Reader::new(self.rest);
        let t = r.large_bytes("transmission").ok()?;
        self.rest = r.peek_rest();
        Some(t)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Transmissions<'_> {}

/// Splits a block's content (after unpadding) into transmissions (`tParse`).
///
/// Batched: a non-empty list of large byte strings that must span the content exactly.
/// Unbatched: the whole content is one transmission. `base` is the content's offset in the
/// block, for error offsets.
///
/// # Errors
/// `Truncated`, `EmptyList` or `TrailingBytes` for a malformed batch; the reference reports
/// them as `BLOCK`.
pub fn decode_content(content: &[u8], base: usize, batch: bool) -> DecodeResult<Transmissions<'_>> {
    if !batch {
        return Ok(Transmissions {
            rest: content,
            remaining: 1,
            batched: false,
        });
    }
    let mut r = Reader::with_offset(content, base);
    if r.peek() == Some(0) {
        return Err(r.error(DecodeErrorKind::EmptyList, "transmission count"));
    }
    let n = r.u8("transmission count")? as usize;
    let items = r.peek_rest();
    for _ in 0..n {
        r.large_bytes("transmission")?;
    }
    r.finish()?;
    Ok(Transmissions {
        rest: items,
        remaining: n,
        batched: true,
    })
}

/// Decodes a whole received block: checks its size, unpads it and splits the content.
///
/// # Errors
/// `BadLength` when the block is not `block_size` bytes or its content length overruns it;
/// otherwise as [`decode_content`].
pub fn decode_block(
    block: &[u8],
    block_size: usize,
    batch: bool,
) -> DecodeResult<Transmissions<'_>> {
    if block.len() != block_size {
        return Err(DecodeError::new(
            DecodeErrorKind::BadLength,
            0,
            "block of the block size",
        ));
    }
    decode_content(unpad(block)?, 2, batch)
}

/// Encodes the content of a block holding `transmissions`, without the size checks of
/// [`batch_transmissions`]: a batch (count and large byte strings) or the single transmission.
///
/// # Errors
/// [`TransportError::LargeMsg`] when unbatched and there is not exactly one transmission,
/// when batched with 0 or more than 255, or a transmission is longer than 65535 bytes.
pub fn encode_content(
    transmissions: &[&[u8]],
    batch: bool,
    out: &mut Vec<u8>,
) -> Result<(), TransportError> {
    if !batch {
        return match transmissions {
            [t] => {
                out.extend_from_slice(t);
                Ok(())
            }
            _ => Err(TransportError::LargeMsg),
        };
    }
    if transmissions.is_empty()
        || transmissions.len() > MAX_BATCH
        || transmissions.iter().any(|t| t.len() > 0xffff)
    {
        return Err(TransportError::LargeMsg);
    }
    out.push(transmissions.len() as u8);
    for t in transmissions {
        crate::coding::put_large(out, t);
    }
    Ok(())
}

/// One block (or a failure) produced by [`batch_transmissions`] (the reference's `TransportBatch`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Batch {
    /// The unpadded content of one block and the indices of the transmissions it carries.
    Block {
        /// Block content, to be padded ([`pad`]) or encrypted to the block size.
        content: Vec<u8>,
        /// Indices into the input.
        items: Range<usize>,
    },
    /// A transmission that is not sent.
    Error {
        /// The input's error, or [`TransportError::LargeMsg`] when it does not fit a block.
        error: TransportError,
        /// Index into the input.
        item: usize,
    },
}

/// Packs encoded transmissions into blocks as the reference does (`batchTransmissions'`).
///
/// Each input is a transmission as sent (authorization and the rest), or an error to pass
/// through. Batched: a block holds up to 255 transmissions whose large-bytes encodings take at
/// most `block_size - 19` bytes; packing is greedy from the END of the list (the reference folds
/// from the right), so the first block may be the partial one; a transmission that cannot fit
/// any block is [`TransportError::LargeMsg`]. Unbatched: one transmission per block, at most
/// `block_size - 2` bytes. Outputs are in input order.
pub fn batch_transmissions<'t>(
    transmissions: impl IntoIterator<Item = Result<&'t [u8], TransportError>>,
    block_size: usize,
    batch: bool,
) -> Vec<Batch> {
    let items: Vec<Result<&[u8], TransportError>> = transmissions.into_iter().collect();
    if !batch {
        return items
            .iter()
            .enumerate()
            .map(|(i, t)| match t {
                Err(e) => Batch::Error { error: *e, item: i },
                Ok(t) if t.len() + 2 <= block_size => Batch::Block {
                    content: t.to_vec(),
                    items: i..i + 1,
                },
                Ok(_) => Batch::Error {
                    error: TransportError::LargeMsg,
                    item: i,
                },
            })
            .collect();
    }
    let limit = block_size.saturating_sub(BATCH_RESERVED);
    let mut out: Vec<Batch> = Vec::new(); // built back to front
                                          // current batch: indices lo..hi (exclusive), total encoded length
    let mut cur: Option<(usize, usize)> = None;
    let mut len = 0usize;
    let flush = |out: &mut Vec<Batch>, cur: &mut Option<(usize, usize)>| {
        if let Some((lo, hi)) = cur.take() {
            let mut content = Vec::new();
            let ts: Vec<&[u8]> = items[lo..hi].iter().filter_map(|t| t.ok()).collect();
            let _ = encode_content(&ts, true, &mut content);
            out.push(Batch::Block {
                content,
                items: lo..hi,
            });
        }
    };
    for i in (0..items.len()).rev() {
        match items[i] {
            Err(e) => {
                flush(&mut out, &mut cur);
                len = 0;
                out.push(Batch::Error { error: e, item: i });
            }
            Ok(t) => {
                let s_len = t.len() + 2;
                let n = cur.map_or(0, |(lo, hi)| hi - lo);
                if len + s_len <= limit && n < MAX_BATCH {
                    cur = Some(match cur {
                        Some((_, hi)) => (i, hi),
                        None => (i, i + 1),
                    });
                    len += s_len;
                } else if s_len <= limit {
                    flush(&mut out, &mut cur);
                    cur = Some((i, i + 1));
                    len = s_len;
                } else {
                    flush(&mut out, &mut cur);
                    len = 0;
                    out.push(Batch::Error {
                        error: TransportError::LargeMsg,
                        item: i,
                    });
                }
            }
        }
    }
    flush(&mut out, &mut cur);
    out.reverse();
    out
}

/// The decoded form of one block: its transmissions, owned (the JSON form of the `block` vectors).
///
/// ```text
/// JSON: {"transmissions": [HEX, ...]}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Block {
    /// The transmissions, each as sent (authorization and the rest).
    #[cfg_attr(feature = "serde", serde(with = "hex_list"))]
    pub transmissions: Vec<Vec<u8>>,
}

impl Block {
    /// Decodes a padded block of `block_size` bytes.
    ///
    /// # Errors
    /// As [`decode_block`].
    pub fn decode(block: &[u8], block_size: usize, batch: bool) -> DecodeResult<Self> {
        Ok(Self {
            transmissions: decode_block(block, block_size, batch)?
                .map(<[u8]>::to_vec)
                .collect(),
        })
    }

    /// Encodes the transmissions into one block padded with `#` to `block_size` bytes.
    ///
    /// # Errors
    /// As [`encode_content`] and [`pad`].
    pub fn encode(&self, block_size: usize, batch: bool) -> Result<Vec<u8>, TransportError> {
        let ts: Vec<&[u8]> = self.transmissions.iter().map(Vec::as_slice).collect();
        let mut content = Vec::new();
        encode_content(&ts, batch, &mut content)?;
        let mut out = Vec::with_capacity(block_size);
        pad(&content, block_size, &mut out)?;
        Ok(out)
    }
}

#[cfg(feature = "serde")]
mod hex_list {
    use crate::json::{hex_decode, hex_encode};
    use alloc::string::String;
    use alloc::vec::Vec;
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|b| hex_encode(b)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let v = Vec::<String>::deserialize(d)?;
        v.iter()
            .map(|s| hex_decode(s).map_err(D::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::vec;
    use proptest::prelude::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn padded(hex_content: &str, size: usize, fill: u8) -> Vec<u8> {
        let mut b = h(hex_content);
        b.resize(size, fill);
        b
    }

    const PING: &str = "001863a8463072e00567e5b4dcb46dbbb4a576d3438b0303eef90050494e47";

    #[test]
    fn decode_ntf_unbatched_block() {
        // block/ntf512/single_unbatched/1
        let t = "0020aa79a4e0899ca8c05f7de1c5f727f2bae1dca5688b53de5fdd31133b5964e81b18db6590c87db1c4d466e9e69b232f56137d455515ba3245c10050494e47";
        let block = padded(&format!("0040{t}"), 512, b'#');
        let b = Block::decode(&block, NTF_BLOCK_SIZE, false).unwrap();
        assert_eq!(b.transmissions, vec![h(t)]);
        assert_eq!(b.encode(512, false).unwrap(), block);
    }

    #[test]
    fn decode_ntf_batch_of_one() {
        // block/ntf512/batch1/2
        let t = "50f9e041055475acabd42fe6868046e83e11086aa66399ec96d245e527e9f19378eaa833ac5d4d79547cb6416efee2cbed9c940d0720f949d6e5ea15eab54a91662e293cb6c114096e8f59c3de01331a8b181dd22c98f5a9b08ef8aad9c3304d1dcc68cf923b21c2a3a318377acc3261f8e4ec465a00b59f59fc30ed2c4375a9d75d3d5443484b";
        let block = padded(&format!("008a010087{t}"), 512, b'#');
        let mut it = decode_block(&block, 512, true).unwrap();
        assert_eq!(it.len(), 1);
        assert_eq!(it.next().unwrap(), &h(t)[..]);
        assert_eq!(it.next(), None);
        assert_eq!(
            Block {
                transmissions: vec![h(t)]
            }
            .encode(512, true)
            .unwrap(),
            block
        );
    }

    #[test]
    fn zero_padding_decodes_and_reencodes_with_hashes() {
        // block/ntf512/zero_padding
        let content = format!("01001f{PING}");
        let block = padded(&format!("0022{content}"), 512, 0);
        let b = Block::decode(&block, 512, true).unwrap();
        assert_eq!(b.transmissions, vec![h(PING)]);
        assert_eq!(
            b.encode(512, true).unwrap(),
            padded(&format!("0022{content}"), 512, b'#')
        );
    }

    #[test]
    fn unbatched_fills_block_exactly() {
        let t = vec![0x5a; 510];
        let b = Block {
            transmissions: vec![t.clone()],
        };
        let enc = b.encode(512, false).unwrap();
        assert_eq!(&enc[..2], &[0x01, 0xfe]);
        assert_eq!(Block::decode(&enc, 512, false).unwrap(), b);
        let too_big = Block {
            transmissions: vec![vec![0; 511]],
        };
        assert_eq!(too_big.encode(512, false), Err(TransportError::LargeMsg));
    }

    #[test]
    fn rejects_pad_len_over_block() {
        // block/invalid/pad_len_over_block and unbatched_pad_len_over
        let block = padded(&format!("ffff01001f{PING}"), 512, b'#');
        assert_eq!(
            decode_block(&block, 512, true).unwrap_err().kind,
            DecodeErrorKind::BadLength
        );
        let block = padded("0258", 512, b'#');
        assert_eq!(
            decode_block(&block, 512, false).unwrap_err().kind,
            DecodeErrorKind::BadLength
        );
    }

    #[test]
    fn rejects_malformed_batches() {
        let e = |content: &[u8]| decode_content(content, 2, true).unwrap_err();
        assert_eq!(e(b"").kind, DecodeErrorKind::Truncated);
        assert_eq!(e(b"\x00").kind, DecodeErrorKind::EmptyList);
        assert_eq!(e(b"\x02\x00\x01a").kind, DecodeErrorKind::Truncated);
        let err = e(b"\x01\x00\x01ab");
        assert_eq!((err.kind, err.offset), (DecodeErrorKind::TrailingBytes, 6));
        assert_eq!(
            decode_block(&[0; 10], 512, true).unwrap_err().kind,
            DecodeErrorKind::BadLength
        );
    }

    #[test]
    fn pad_and_unpad() {
        let mut v = Vec::new();
        pad(b"abc", 8, &mut v).unwrap();
        assert_eq!(v, b"\x00\x03abc###");
        assert_eq!(unpad(&v).unwrap(), b"abc");
        assert_eq!(unpad(b"\x00").unwrap_err().kind, DecodeErrorKind::Truncated);
        assert_eq!(
            pad(b"abcdefg", 8, &mut Vec::new()),
            Err(TransportError::LargeMsg)
        );
        assert_eq!(unpad(b"\x00\x00").unwrap(), b"");
    }

    #[test]
    fn batching_packs_from_the_end() {
        // limit = 64 - 19 = 45; each item of 20 bytes takes 22
        let a = [1u8; 20];
        let ts: Vec<Result<&[u8], TransportError>> = vec![Ok(&a), Ok(&a), Ok(&a)];
        let out = batch_transmissions(ts, 64, true);
        assert_eq!(out.len(), 2);
        assert!(matches!(&out[0], Batch::Block { items, .. } if *items == (0..1)));
        assert!(
            matches!(&out[1], Batch::Block { items, content } if *items == (1..3) && content.len() == 45)
        );
    }

    #[test]
    fn batching_errors_and_large() {
        let small = [1u8; 5];
        let big = [2u8; 100];
        let ts: Vec<Result<&[u8], TransportError>> = vec![
            Ok(&small),
            Err(TransportError::NoAuth),
            Ok(&small),
            Ok(&big),
            Ok(&small),
        ];
        let out = batch_transmissions(ts, 64, true);
        assert_eq!(
            out,
            vec![
                Batch::Block {
                    content: vec![1, 0, 5, 1, 1, 1, 1, 1],
                    items: 0..1
                },
                Batch::Error {
                    error: TransportError::NoAuth,
                    item: 1
                },
                Batch::Block {
                    content: vec![1, 0, 5, 1, 1, 1, 1, 1],
                    items: 2..3
                },
                Batch::Error {
                    error: TransportError::LargeMsg,
                    item: 3
                },
                Batch::Block {
                    content: vec![1, 0, 5, 1, 1, 1, 1, 1],
                    items: 4..5
                },
            ]
        );
        let unbatched = batch_transmissions([Ok(&big[..62]), Ok(&big[..63])], 64, false);
        assert!(matches!(unbatched[0], Batch::Block { .. }));
        assert_eq!(
            unbatched[1],
            Batch::Error {
                error: TransportError::LargeMsg,
                item: 1
            }
        );
    }

    #[test]
    fn batching_caps_at_255() {
        let t = [0u8; 1];
        let out = batch_transmissions((0..300).map(|_| Ok(&t[..])), SMP_BLOCK_SIZE, true);
        assert_eq!(out.len(), 2);
        assert!(matches!(&out[0], Batch::Block { items, .. } if *items == (0..45)));
        assert!(matches!(&out[1], Batch::Block { items, .. } if *items == (45..300)));
    }

    proptest! {
        #[test]
        fn block_round_trip(ts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..60), 1..8), batch: bool) {
            let ts = if batch { ts } else { ts[..1].to_vec() };
            let b = Block { transmissions: ts };
            let enc = b.encode(NTF_BLOCK_SIZE, batch).unwrap();
            prop_assert_eq!(enc.len(), NTF_BLOCK_SIZE);
            prop_assert_eq!(Block::decode(&enc, NTF_BLOCK_SIZE, batch).unwrap(), b);
        }

        #[test]
        fn batches_decode_back(lens in proptest::collection::vec(0usize..300, 0..40)) {
            let data: Vec<Vec<u8>> = lens.iter().enumerate().map(|(i, &n)| vec![i as u8; n]).collect();
            let out = batch_transmissions(data.iter().map(|t| Ok(t.as_slice())), NTF_BLOCK_SIZE, true);
            let mut seen = 0;
            for b in out {
                match b {
                    Batch::Block { content, items } => {
                        prop_assert_eq!(items.start, seen);
                        let mut block = Vec::new();
                        pad(&content, NTF_BLOCK_SIZE, &mut block).unwrap();
                        let got: Vec<&[u8]> = decode_block(&block, NTF_BLOCK_SIZE, true).unwrap().collect();
                        let want: Vec<&[u8]> = data[items.clone()].iter().map(Vec::as_slice).collect();
                        prop_assert_eq!(got, want);
                        seen = items.end;
                    }
                    Batch::Error { error, item } => {
                        prop_assert_eq!(error, TransportError::LargeMsg);
                        prop_assert_eq!(item, seen);
                        prop_assert!(data[item].len() + 2 > NTF_BLOCK_SIZE - BATCH_RESERVED);
                        seen += 1;
                    }
                }
            }
            prop_assert_eq!(seen, data.len());
        }

        #[test]
        fn unpad_never_panics(b in proptest::collection::vec(any::<u8>(), 0..600), batch: bool) {
            let _ = decode_block(&b, b.len(), batch).map(|t| t.count());
        }
    }
}
