//! Lines from a TCP socket (Flink's `socketTextStream`): one reader, unbounded until the peer
//! closes the connection, which ends the source.

use ferroflink_core::error::{Error, Result};
use ferroflink_core::record::Record;
use ferroflink_runtime::source::{
    Boundedness, FixedSplits, Polled, ReaderStatus, Source, SourceReader, SourceSplit, SplitEnumerator,
};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, ErrorKind};
use std::net::TcpStream;
use std::time::Duration;

/// The one split of a socket: the lines read so far.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketSplit {
    /// Lines read.
    pub lines: u64,
}

impl SourceSplit for SocketSplit {
    fn split_id(&self) -> String {
        "socket".into()
    }
}

/// See the module documentation.
pub struct SocketTextSource {
    host: String,
    port: u16,
}

impl SocketTextSource {
    /// Lines from `host:port`.
    pub fn new(host: &str, port: u16) -> Self {
        SocketTextSource { host: host.to_string(), port }
    }
}

impl Source<String> for SocketTextSource {
    type Split = SocketSplit;

    fn boundedness(&self) -> Boundedness {
        Boundedness::Unbounded
    }

    fn max_parallelism(&self) -> Option<usize> {
        Some(1)
    }

    fn create_enumerator(
        &self,
        parallelism: usize,
        restored: Option<&[u8]>,
    ) -> Result<Box<dyn SplitEnumerator<SocketSplit>>> {
        FixedSplits::restore_or(restored, parallelism, || Ok(vec![SocketSplit { lines: 0 }]))
    }

    fn create_reader(&self) -> Result<Box<dyn SourceReader<String, SocketSplit>>> {
        let address = format!("{}:{}", self.host, self.port);
        let stream = TcpStream::connect(&address).map_err(|e| {
            Error::io(format!("cannot connect to {address} (is something listening, e.g. `nc -lk {}`?)", self.port), e)
        })?;
        stream.set_read_timeout(Some(Duration::from_millis(50))).map_err(|e| Error::io("configuring the socket", e))?;
        Ok(Box::new(SocketReader { reader: BufReader::new(stream), lines: None, partial: Vec::new(), address }))
    }
}

struct SocketReader {
    reader: BufReader<TcpStream>,
    /// Lines read, once the reader has its split.
    lines: Option<u64>,
    partial: Vec<u8>,
    address: String,
}

impl SourceReader<String, SocketSplit> for SocketReader {
    fn add_split(&mut self, split: SocketSplit) -> Result<()> {
        self.lines = Some(split.lines);
        Ok(())
    }

    fn poll_next(&mut self, out: &mut Vec<Record<String>>, max: usize) -> Result<Polled> {
        let id = "socket".to_string();
        let Some(lines) = self.lines.as_mut() else { return Ok(Polled::empty(ReaderStatus::NeedsSplit)) };
        while out.len() < max {
            match self.reader.read_until(b'\n', &mut self.partial) {
                Ok(0) => {
                    // The peer closed the connection: the source ends.
                    self.lines = None;
                    return Ok(Polled::last(id, ReaderStatus::NeedsSplit));
                }
                Ok(_) if self.partial.ends_with(b"\n") => {
                    let line = String::from_utf8_lossy(&self.partial).trim_end_matches(['\n', '\r']).to_string();
                    self.partial.clear();
                    *lines += 1;
                    out.push(Record::untimed(line));
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                    return Ok(Polled::records(id, ReaderStatus::NothingAvailable(Duration::ZERO)));
                }
                Err(e) => return Err(Error::io(format!("reading from {}", self.address), e)),
            }
        }
        Ok(Polled::records(id, ReaderStatus::MoreAvailable))
    }

    fn snapshot_splits(&self) -> Vec<SocketSplit> {
        self.lines.map(|lines| SocketSplit { lines }).into_iter().collect()
    }
}
