//! Reading and writing fixed-size blocks: padding, batches, and SMP v11+ block encryption.
//!
//! ```text
//! block = len:word16 content padding          ; exactly block-size bytes
//!       / secret-box(padded content)          ; SMP v11+ with block encryption
//! ```
//!
//! A block that arrives whole but does not unpad (or decrypt) is a protocol error the connection
//! survives (`LARGE_MSG`, as the reference's `tGetBlock`); end of stream inside a block is
//! [`Error::Closed`].

use smp_proto::block::{batch_transmissions, decode_content, pad, unpad, Batch, TransportError};
use smp_proto::crypto::{decrypt_block, encrypt_block, SbChainKey};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::Error;

/// A received block: its content, or the protocol error for a block that came whole but is
/// malformed.
pub type BlockContent = Result<Vec<u8>, TransportError>;

/// Reads blocks of a fixed size from a stream.
#[derive(Debug)]
pub struct BlockReader<R> {
    inner: R,
    block_size: usize,
    key: Option<SbChainKey>,
    buf: Vec<u8>,
}

fn eof(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        Error::Closed
    } else {
        Error::Io(e)
    }
}

impl<R> BlockReader<R> {
    /// A reader of `block_size`-byte blocks, without block encryption.
    pub fn new(inner: R, block_size: usize) -> Self {
        Self {
            inner,
            block_size,
            key: None,
            buf: vec![0; block_size],
        }
    }

    /// The block size.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Decrypts every following block with this receive chain key (SMP v11+).
    pub fn set_block_encryption(&mut self, key: SbChainKey) {
        self.key = Some(key);
    }

    /// Whether blocks are decrypted.
    pub fn block_encryption(&self) -> bool {
        self.key.is_some()
    }

    /// The underlying stream.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: AsyncRead + Unpin> BlockReader<R> {
    /// Reads exactly one block and returns its bytes as received.
    ///
    /// # Errors
    /// [`Error::Closed`] at end of stream (also in the middle of a block), [`Error::Io`].
    pub async fn read_raw(&mut self) -> Result<&[u8], Error> {
        self.inner.read_exact(&mut self.buf).await.map_err(eof)?;
        Ok(&self.buf)
    }

    /// Reads one block and returns its content: unpadded, or decrypted and unpadded.
    ///
    /// The inner `Err` is a block that arrived whole but does not unpad or decrypt
    /// (`LARGE_MSG`, as in the reference); the connection can go on.
    ///
    /// # Errors
    /// As [`BlockReader::read_raw`].
    pub async fn read_block(&mut self) -> Result<BlockContent, Error> {
        self.read_raw().await?;
        Ok(match &mut self.key {
            Some(k) => decrypt_block(k, &self.buf).map_err(|_| TransportError::LargeMsg),
            None => unpad(&self.buf)
                .map(<[u8]>::to_vec)
                .map_err(|_| TransportError::LargeMsg),
        })
    }

    /// Reads one block and splits it into transmissions (`tGetParse` before parsing each):
    /// batched or a single one. A malformed block gives one error (`LARGE_MSG` for bad padding,
    /// `BLOCK` for a bad batch).
    ///
    /// # Errors
    /// As [`BlockReader::read_raw`].
    pub async fn read_transmissions(&mut self, batch: bool) -> Result<Vec<BlockContent>, Error> {
        Ok(match self.read_block().await? {
            Err(e) => vec![Err(e)],
            Ok(content) => match decode_content(&content, 2, batch) {
                Ok(ts) => ts.map(|t| Ok(t.to_vec())).collect(),
                Err(_) => vec![Err(TransportError::Block)],
            },
        })
    }
}

/// Writes blocks of a fixed size to a stream.
#[derive(Debug)]
pub struct BlockWriter<W> {
    inner: W,
    block_size: usize,
    key: Option<SbChainKey>,
}

impl<W> BlockWriter<W> {
    /// A writer of `block_size`-byte blocks, without block encryption.
    pub fn new(inner: W, block_size: usize) -> Self {
        Self {
            inner,
            block_size,
            key: None,
        }
    }

    /// The block size.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Encrypts every following block with this send chain key (SMP v11+).
    pub fn set_block_encryption(&mut self, key: SbChainKey) {
        self.key = Some(key);
    }

    /// Whether blocks are encrypted.
    pub fn block_encryption(&self) -> bool {
        self.key.is_some()
    }

    /// The underlying stream.
    pub fn into_inner(self) -> W {
        self.inner
    }

    /// The block carrying `content`: padded with `#`, or padded to `block_size - 16` and
    /// secret-boxed. Advances the send chain when encrypting.
    ///
    /// # Errors
    /// `LARGE_MSG` when the content does not fit.
    pub fn seal(&mut self, content: &[u8]) -> Result<Vec<u8>, TransportError> {
        match &mut self.key {
            Some(k) => {
                encrypt_block(k, content, self.block_size).map_err(|_| TransportError::LargeMsg)
            }
            None => {
                let mut out = Vec::with_capacity(self.block_size);
                pad(content, self.block_size, &mut out)?;
                Ok(out)
            }
        }
    }
}

impl<W: AsyncWrite + Unpin> BlockWriter<W> {
    /// Writes one block with `content` and flushes it.
    ///
    /// # Errors
    /// [`Error::Transport`] `LARGE_MSG` when the content does not fit (nothing is written),
    /// [`Error::Io`].
    pub async fn write_block(&mut self, content: &[u8]) -> Result<(), Error> {
        let block = self.seal(content)?;
        self.inner.write_all(&block).await?;
        self.inner.flush().await?;
        Ok(())
    }

    /// Writes bytes as they are, without padding or encryption (tests send malformed blocks).
    ///
    /// # Errors
    /// [`Error::Io`].
    pub async fn write_raw(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.inner.write_all(bytes).await?;
        self.inner.flush().await?;
        Ok(())
    }

    /// Writes transmissions (each as sent: authorization and the rest), packed into blocks as
    /// the reference does (`batchTransmissions`): several per block when `batch`, else one
    /// per block. Returns the transmissions that were not sent, by index, with their error
    /// (`LARGE_MSG` when one does not fit a block).
    ///
    /// # Errors
    /// [`Error::Io`]; the blocks before the failure may have been written.
    pub async fn write_transmissions(
        &mut self,
        transmissions: &[Vec<u8>],
        batch: bool,
    ) -> Result<Vec<(usize, TransportError)>, Error> {
        let mut failed = Vec::new();
        let batches = batch_transmissions(
            transmissions.iter().map(|t| Ok(t.as_slice())),
            self.block_size,
            batch,
        );
        for b in batches {
            match b {
                Batch::Block { content, items } => match self.seal(&content) {
                    Ok(block) => self.inner.write_all(&block).await?,
                    Err(e) => failed.extend(items.map(|i| (i, e))),
                },
                Batch::Error { error, item } => failed.push((item, error)),
            }
        }
        self.inner.flush().await?;
        Ok(failed)
    }

    /// Shuts the stream down for writing (TLS close_notify).
    ///
    /// # Errors
    /// [`Error::Io`].
    pub async fn shutdown(&mut self) -> Result<(), Error> {
        self.inner.shutdown().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smp_proto::block::NTF_BLOCK_SIZE;
    use smp_proto::crypto::sbc_init;

    #[tokio::test]
    async fn round_trip_and_garbage() {
        let (a, b) = tokio::io::duplex(4096);
        let mut w = BlockWriter::new(a, NTF_BLOCK_SIZE);
        let mut r = BlockReader::new(b, NTF_BLOCK_SIZE);
        w.write_block(b"hello").await.unwrap();
        assert_eq!(r.read_block().await.unwrap(), Ok(b"hello".to_vec()));
        // a length over the block: LARGE_MSG, and the next block still reads
        let mut bad = vec![0xff, 0xff];
        bad.resize(NTF_BLOCK_SIZE, b'#');
        w.inner.write_all(&bad).await.unwrap();
        assert_eq!(r.read_block().await.unwrap(), Err(TransportError::LargeMsg));
        // a well padded block with a bad batch: BLOCK
        w.write_block(b"\x02\x00\x01a").await.unwrap();
        assert_eq!(
            r.read_transmissions(true).await.unwrap(),
            vec![Err(TransportError::Block)]
        );
        let ts = vec![b"one".to_vec(), vec![7; 600], b"two".to_vec()];
        let failed = w.write_transmissions(&ts, true).await.unwrap();
        assert_eq!(failed, vec![(1, TransportError::LargeMsg)]);
        let mut got = Vec::new();
        while got.len() < 2 {
            got.extend(r.read_transmissions(true).await.unwrap());
        }
        assert_eq!(got, vec![Ok(b"one".to_vec()), Ok(b"two".to_vec())]);
        assert!(matches!(
            w.write_block(&[0; 511]).await,
            Err(Error::Transport(TransportError::LargeMsg))
        ));
        // half a block, then end of stream
        w.inner.write_all(&[0; 100]).await.unwrap();
        drop(w);
        assert!(matches!(r.read_block().await, Err(Error::Closed)));
    }

    #[tokio::test]
    async fn encrypted_blocks() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let (k1, k2) = sbc_init(b"session", &[9; 32]);
        let mut w = BlockWriter::new(a, 16384);
        let mut r = BlockReader::new(b, 16384);
        w.set_block_encryption(k1.clone());
        r.set_block_encryption(k1);
        w.write_block(b"secret").await.unwrap();
        w.write_block(b"again").await.unwrap();
        assert_eq!(r.read_block().await.unwrap(), Ok(b"secret".to_vec()));
        assert_eq!(r.read_block().await.unwrap(), Ok(b"again".to_vec()));
        // the wrong chain: LARGE_MSG
        r.set_block_encryption(k2);
        w.write_block(b"x").await.unwrap();
        assert_eq!(r.read_block().await.unwrap(), Err(TransportError::LargeMsg));
    }
}
