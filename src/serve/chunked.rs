//! Makes a signed S3 request an anonymous one for `s3s`.
//!
//! `s3s` checks a request's signature whenever it carries one, which needs the client's
//! secret key; `stepwise serve` accepts any credentials (it listens on loopback only), so the
//! signature goes. A streaming upload (`x-amz-content-sha256: STREAMING-…`, what the SDKs
//! send for PutObject and UploadPart) wraps its bytes in `aws-chunked` framing that `s3s`
//! only unwraps while checking the signature, so it is unwrapped here. No crate decodes that
//! framing on its own (s3s keeps its decoder private and tied to signature checking), hence
//! the small decoder below; chunk signatures and trailing checksums are not checked.

use bytes::{Buf, Bytes, BytesMut};
use http_body_util::{BodyExt, StreamBody};
use hyper::Request;
use hyper::body::{Frame, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, HeaderValue};

/// Query parameters of a presigned URL (signature versions 4 and 2).
const PRESIGN_PARAMS: &[&str] = &[
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
    "AWSAccessKeyId",
    "Signature",
];

/// The longest chunk header line read (`<hex size>;chunk-signature=<64 hex>`).
const MAX_HEADER_LINE: usize = 4096;

pub fn prepare(req: Request<Incoming>) -> Request<s3s::Body> {
    let (mut parts, body) = req.into_parts();
    parts.headers.remove(AUTHORIZATION);
    if let Some(query) = parts.uri.query()
        && (query.contains("X-Amz-Signature=") || query.contains("Signature="))
    {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| !PRESIGN_PARAMS.iter().any(|name| p.split('=').next().is_some_and(|k| k.eq_ignore_ascii_case(name))))
            .collect();
        let path_and_query = if kept.is_empty() { parts.uri.path().to_owned() } else { format!("{}?{}", parts.uri.path(), kept.join("&")) };
        let mut uri = parts.uri.clone().into_parts();
        if let Ok(pq) = path_and_query.parse() {
            uri.path_and_query = Some(pq);
            if let Ok(u) = hyper::Uri::from_parts(uri) {
                parts.uri = u;
            }
        }
    }
    let streaming = parts
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("STREAMING-"));
    let body = if streaming {
        if let Some(len) = parts.headers.remove("x-amz-decoded-content-length") {
            parts.headers.insert(CONTENT_LENGTH, len);
        }
        for name in ["x-amz-content-sha256", "x-amz-trailer"] {
            parts.headers.remove(name);
        }
        let encodings: Vec<String> = parts
            .headers
            .get_all(CONTENT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(',').map(|e| e.trim().to_owned()))
            .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("aws-chunked"))
            .collect();
        parts.headers.remove(CONTENT_ENCODING);
        if let Ok(v) = HeaderValue::from_str(&encodings.join(", "))
            && !encodings.is_empty()
        {
            parts.headers.insert(CONTENT_ENCODING, v);
        }
        decode(body)
    } else {
        s3s::Body::from(body)
    };
    Request::from_parts(parts, body)
}

/// The payload of an `aws-chunked` body, as it arrives.
fn decode(mut body: Incoming) -> s3s::Body {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
    tokio::spawn(async move {
        let mut decoder = Decoder::default();
        loop {
            let mut out = Vec::new();
            let step = decoder.drain(&mut out);
            for data in out {
                if tx.send(Ok(Frame::data(data))).await.is_err() {
                    return;
                }
            }
            match step {
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e))).await;
                    return;
                }
                Ok(true) => return,
                Ok(false) => {}
            }
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        decoder.buf.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => {
                    let _ = tx.send(Err(std::io::Error::other(e))).await;
                    return;
                }
                None => {
                    let _ = tx.send(Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the aws-chunked body ended before its last chunk"))).await;
                    return;
                }
            }
        }
    });
    s3s::Body::http_body(StreamBody::new(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))))
}

#[derive(Default)]
struct Decoder {
    buf: BytesMut,
    /// Bytes of the current chunk not yet handed on.
    left: usize,
    /// The CRLF after a chunk's data is due.
    crlf_due: bool,
}

impl Decoder {
    /// Hands on what the buffer holds; `Ok(true)` once the last (empty) chunk is seen.
    fn drain(&mut self, out: &mut Vec<Bytes>) -> Result<bool, String> {
        loop {
            if self.left > 0 {
                if self.buf.is_empty() {
                    return Ok(false);
                }
                let n = self.left.min(self.buf.len());
                out.push(self.buf.split_to(n).freeze());
                self.left -= n;
                self.crlf_due = self.left == 0;
                continue;
            }
            if self.crlf_due {
                if self.buf.len() < 2 {
                    return Ok(false);
                }
                if &self.buf[..2] != b"\r\n" {
                    return Err("an aws-chunked chunk does not end with CRLF".into());
                }
                self.buf.advance(2);
                self.crlf_due = false;
            }
            let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") else {
                if self.buf.len() > MAX_HEADER_LINE {
                    return Err("an aws-chunked chunk header is too long".into());
                }
                return Ok(false);
            };
            let line = self.buf.split_to(end);
            self.buf.advance(2);
            let size_text = std::str::from_utf8(&line).ok().and_then(|l| l.split(';').next()).unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16).map_err(|_| format!("'{size_text}' is not an aws-chunked chunk size"))?;
            if size == 0 {
                // Trailing checksums may follow; they are not checked.
                return Ok(true);
            }
            self.left = size;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8], split: usize) -> Result<(Vec<u8>, bool), String> {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        let mut done = false;
        for piece in input.chunks(split) {
            d.buf.extend_from_slice(piece);
            done = d.drain(&mut out)?;
            if done {
                break;
            }
        }
        Ok((out.concat(), done))
    }

    #[test]
    fn decodes_signed_and_unsigned_framing_in_any_split() {
        let signed = b"5;chunk-signature=abc\r\nhello\r\n6;chunk-signature=def\r\n world\r\n0;chunk-signature=0\r\n\r\n";
        let unsigned = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n";
        for input in [&signed[..], &unsigned[..]] {
            for split in [1, 2, 3, 7, 100] {
                assert_eq!(run(input, split).unwrap(), (b"hello world".to_vec(), true), "split {split}");
            }
        }
        assert!(run(b"zz\r\n", 4).is_err());
        assert!(run(b"2\r\nabXY", 8).is_err());
        assert_eq!(run(b"5\r\nhel", 8).unwrap(), (b"hel".to_vec(), false));
    }
}
