//! The table of codecs, one per vector type.

use crate::codecs::Codec;

pub(crate) static CODECS: &[&dyn Codec] = &[];
