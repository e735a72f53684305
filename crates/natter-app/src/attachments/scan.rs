//! Virus scanning: the [`Scanner`] interface and [`Clamd`], a client of ClamAV's daemon
//! speaking its `INSTREAM` protocol over TCP or a Unix socket.
//!
//! The protocol: send `zINSTREAM\0`, then the file as chunks, each prefixed with its length
//! as a 4-byte big-endian integer, then a zero length; clamd answers one NUL-terminated
//! line: `stream: OK`, `stream: <signature> FOUND`, or `<reason> ERROR` (for example when
//! the file is larger than clamd's `StreamMaxLength`).

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest chunk sent in one INSTREAM frame.
const FRAME: usize = 64 * 1024;

/// What a scan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing.
    Clean,
    /// Malware, with the scanner's name for it.
    Infected(String),
}

/// A scan that could not finish (the file stays `pending` and is scanned again later).
#[derive(Debug, thiserror::Error)]
#[error("scan failed: {0}")]
pub struct ScanError(pub String);

/// Something that scans a file's bytes.
#[async_trait]
pub trait Scanner: Send + Sync + 'static {
    /// Scans the bytes the stream yields.
    async fn scan(
        &self,
        content: BoxStream<'static, std::io::Result<Bytes>>,
    ) -> Result<Verdict, ScanError>;
}

/// Where clamd listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdAddress {
    /// `host:port`.
    Tcp(String),
    /// Path of a Unix socket.
    Unix(PathBuf),
}

impl ClamdAddress {
    /// `tcp://host:port`, `host:port`, `unix:///path` or `/path`.
    pub fn parse(raw: &str) -> Option<Self> {
        if let Some(path) = raw.strip_prefix("unix://") {
            return (!path.is_empty()).then(|| Self::Unix(PathBuf::from(path)));
        }
        if raw.starts_with('/') {
            return Some(Self::Unix(PathBuf::from(raw)));
        }
        let address = raw.strip_prefix("tcp://").unwrap_or(raw);
        let (host, port) = address.rsplit_once(':')?;
        (!host.is_empty() && port.parse::<u16>().is_ok()).then(|| Self::Tcp(address.to_owned()))
    }
}

/// A clamd client: one connection per scan.
#[derive(Debug, Clone)]
pub struct Clamd {
    address: ClamdAddress,
    timeout: Duration,
}

impl Clamd {
    /// A client of clamd at `address`; each scan must finish within `timeout`.
    pub fn new(address: ClamdAddress, timeout: Duration) -> Self {
        Self { address, timeout }
    }
}

#[async_trait]
impl Scanner for Clamd {
    async fn scan(
        &self,
        content: BoxStream<'static, std::io::Result<Bytes>>,
    ) -> Result<Verdict, ScanError> {
        let scan = async {
            match &self.address {
                ClamdAddress::Tcp(address) => {
                    let socket = tokio::net::TcpStream::connect(address)
                        .await
                        .map_err(|err| {
                            ScanError(format!("connecting to clamd at {address}: {err}"))
                        })?;
                    instream(socket, content).await
                }
                #[cfg(unix)]
                ClamdAddress::Unix(path) => {
                    let socket = tokio::net::UnixStream::connect(path).await.map_err(|err| {
                        ScanError(format!("connecting to clamd at {}: {err}", path.display()))
                    })?;
                    instream(socket, content).await
                }
                #[cfg(not(unix))]
                ClamdAddress::Unix(_) => Err(ScanError("Unix sockets need a Unix system".into())),
            }
        };
        tokio::time::timeout(self.timeout, scan)
            .await
            .map_err(|_| ScanError(format!("clamd did not answer within {:?}", self.timeout)))?
    }
}

async fn instream<S>(
    mut socket: S,
    mut content: BoxStream<'static, std::io::Result<Bytes>>,
) -> Result<Verdict, ScanError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let sent = async {
        socket.write_all(b"zINSTREAM\0").await?;
        while let Some(chunk) = content.next().await {
            let chunk = chunk?;
            for frame in chunk.chunks(FRAME) {
                let length = u32::try_from(frame.len()).unwrap_or(u32::MAX);
                socket.write_all(&length.to_be_bytes()).await?;
                socket.write_all(frame).await?;
            }
        }
        socket.write_all(&0u32.to_be_bytes()).await?;
        socket.flush().await
    }
    .await;
    // clamd may stop reading and answer early (size limit): read its answer either way.
    let mut answer = Vec::new();
    let read = async {
        let mut buffer = [0u8; 512];
        loop {
            let n = socket.read(&mut buffer).await?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buffer[..n]);
            if answer.contains(&0) || answer.len() > 4096 {
                break;
            }
        }
        Ok::<_, std::io::Error>(())
    }
    .await;
    let line = String::from_utf8_lossy(&answer)
        .trim_end_matches(['\0', '\n', '\r'])
        .to_owned();
    if line.is_empty() {
        let why = match (sent, read) {
            (Err(err), _) | (_, Err(err)) => err.to_string(),
            _ => "no answer".into(),
        };
        return Err(ScanError(format!("clamd: {why}")));
    }
    parse_answer(&line)
}

/// Reads clamd's answer line.
pub(crate) fn parse_answer(line: &str) -> Result<Verdict, ScanError> {
    let result = line.strip_prefix("stream: ").unwrap_or(line);
    if result == "OK" {
        Ok(Verdict::Clean)
    } else if let Some(signature) = result.strip_suffix(" FOUND") {
        Ok(Verdict::Infected(signature.to_owned()))
    } else {
        Err(ScanError(format!("clamd answered {line:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_addresses_parse() {
        assert_eq!(parse_answer("stream: OK").ok(), Some(Verdict::Clean));
        assert_eq!(
            parse_answer("stream: Eicar-Signature FOUND").ok(),
            Some(Verdict::Infected("Eicar-Signature".into()))
        );
        assert!(parse_answer("INSTREAM size limit exceeded. ERROR").is_err());
        assert_eq!(
            ClamdAddress::parse("tcp://127.0.0.1:3310"),
            Some(ClamdAddress::Tcp("127.0.0.1:3310".into()))
        );
        assert_eq!(
            ClamdAddress::parse("clamav:3310"),
            Some(ClamdAddress::Tcp("clamav:3310".into()))
        );
        assert_eq!(
            ClamdAddress::parse("unix:///run/clamav/clamd.ctl"),
            Some(ClamdAddress::Unix("/run/clamav/clamd.ctl".into()))
        );
        assert_eq!(ClamdAddress::parse("nonsense"), None);
    }
}
