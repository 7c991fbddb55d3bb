//! Lines from a TCP socket (Flink's `socketTextStream`): one reader, unbounded until the peer
//! closes the connection, which ends the source.

use ferroflink_core::error::{Error, Result};
use ferroflink_core::record::Record;
use ferroflink_runtime::source::{Boundedness, ReaderStatus, Source, SourceReader};
use std::io::{BufRead, BufReader, ErrorKind};
use std::net::TcpStream;
use std::time::Duration;

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
    /// Lines read so far.
    type Split = u64;

    fn boundedness(&self) -> Boundedness {
        Boundedness::Unbounded
    }

    fn max_parallelism(&self) -> Option<usize> {
        Some(1)
    }

    fn enumerate_splits(&self, _parallelism: usize) -> Result<Vec<u64>> {
        Ok(vec![0])
    }

    fn create_reader(&self) -> Result<Box<dyn SourceReader<String, u64>>> {
        let address = format!("{}:{}", self.host, self.port);
        let stream = TcpStream::connect(&address).map_err(|e| {
            Error::io(format!("cannot connect to {address} (is something listening, e.g. `nc -lk {}`?)", self.port), e)
        })?;
        stream.set_read_timeout(Some(Duration::from_millis(50))).map_err(|e| Error::io("configuring the socket", e))?;
        Ok(Box::new(SocketReader { reader: BufReader::new(stream), lines: 0, partial: Vec::new(), address }))
    }
}

struct SocketReader {
    reader: BufReader<TcpStream>,
    lines: u64,
    partial: Vec<u8>,
    address: String,
}

impl SourceReader<String, u64> for SocketReader {
    fn add_splits(&mut self, splits: Vec<u64>) -> Result<()> {
        self.lines = splits.first().copied().unwrap_or(0);
        Ok(())
    }

    fn poll_next(&mut self, out: &mut Vec<Record<String>>, max: usize) -> Result<ReaderStatus> {
        while out.len() < max {
            match self.reader.read_until(b'\n', &mut self.partial) {
                Ok(0) => return Ok(ReaderStatus::Finished),
                Ok(_) if self.partial.ends_with(b"\n") => {
                    let line = String::from_utf8_lossy(&self.partial).trim_end_matches(['\n', '\r']).to_string();
                    self.partial.clear();
                    self.lines += 1;
                    out.push(Record::untimed(line));
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                    return Ok(ReaderStatus::NothingAvailable(Duration::ZERO));
                }
                Err(e) => return Err(Error::io(format!("reading from {}", self.address), e)),
            }
        }
        Ok(ReaderStatus::MoreAvailable)
    }

    fn snapshot_splits(&self) -> Vec<u64> {
        vec![self.lines]
    }
}
