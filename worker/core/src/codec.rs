//! The record and state codec: [postcard](https://docs.rs/postcard) (a stable, documented wire format)
//! over serde. Everything that crosses a process boundary or is written to state storage goes through
//! here, prefixed by a format version where it is stored.

use crate::error::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Version of the codec format written in front of stored values.
pub const CODEC_VERSION: u8 = 1;

/// Appends the encoding of `value` to `buf`.
pub fn encode_into<T: Serialize + ?Sized>(value: &T, buf: &mut Vec<u8>) -> Result<()> {
    let taken = std::mem::take(buf);
    *buf = postcard::to_extend(value, taken).map_err(|e| Error::Codec(e.to_string()))?;
    Ok(())
}

/// The encoding of `value`.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    encode_into(value, &mut buf)?;
    Ok(buf)
}

/// Decodes a value encoded by [`encode`]; trailing bytes are an error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let (value, rest) = postcard::take_from_bytes(bytes).map_err(|e| Error::Codec(e.to_string()))?;
    if !rest.is_empty() {
        return Err(Error::Codec(format!("{} trailing bytes after value", rest.len())));
    }
    Ok(value)
}

/// Encodes with the [`CODEC_VERSION`] byte in front, for values that are stored.
pub fn encode_versioned<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let mut buf = vec![CODEC_VERSION];
    encode_into(value, &mut buf)?;
    Ok(buf)
}

/// Decodes a value written by [`encode_versioned`], refusing versions this build cannot read.
pub fn decode_versioned<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    match bytes.split_first() {
        Some((&CODEC_VERSION, rest)) => decode(rest),
        Some((v, _)) => {
            Err(Error::Codec(format!("stored value has codec version {v}, this build reads version {CODEC_VERSION}")))
        }
        None => Err(Error::Codec("empty stored value".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_versions() {
        let v = (7u64, "auction".to_string(), vec![1i64, -2]);
        assert_eq!(decode::<(u64, String, Vec<i64>)>(&encode(&v).unwrap()).unwrap(), v);
        let stored = encode_versioned(&v).unwrap();
        assert_eq!(stored[0], CODEC_VERSION);
        assert_eq!(decode_versioned::<(u64, String, Vec<i64>)>(&stored).unwrap(), v);
        let mut future = stored.clone();
        future[0] = 99;
        assert!(decode_versioned::<(u64, String, Vec<i64>)>(&future).unwrap_err().to_string().contains("version 99"));
        assert!(decode::<u64>(&[1, 2]).is_err());
    }
}
