//! The WebSocket wire written by hand (RFC 6455 §5.2), so that the fuzzer can
//! send frames no WebSocket library sends: reserved bits set, unknown opcodes,
//! unmasked client frames, fragmented or oversized control frames, lengths
//! that lie, and text that is not UTF-8. Also the upgrade request, and a
//! reader of the server's (unmasked) frames that finds its close code.

/// WebSocket opcodes.
pub mod opcode {
    /// Continues a fragmented message.
    pub const CONTINUATION: u8 = 0x0;
    /// A text frame.
    pub const TEXT: u8 = 0x1;
    /// A binary frame.
    pub const BINARY: u8 = 0x2;
    /// Close.
    pub const CLOSE: u8 = 0x8;
    /// Ping.
    pub const PING: u8 = 0x9;
    /// Pong.
    pub const PONG: u8 = 0xA;
}

/// One client frame, every bit chosen by the caller.
#[derive(Debug, Clone)]
pub struct RawFrame {
    /// The FIN bit.
    pub fin: bool,
    /// RSV1–RSV3 (the low three bits).
    pub rsv: u8,
    /// The opcode (the low four bits).
    pub opcode: u8,
    /// The masking key; `None` sends the frame unmasked (a protocol error
    /// from a client).
    pub mask: Option<[u8; 4]>,
    /// The payload.
    pub payload: Vec<u8>,
    /// A length to declare instead of the payload's own (a lie).
    pub declared_len: Option<u64>,
    /// Encode the length in the 8-byte form even when it is small
    /// (non-minimal, which RFC 6455 forbids but parsers may accept).
    pub long_length_form: bool,
}

impl RawFrame {
    /// A complete, masked frame of `opcode` carrying `payload`.
    pub fn new(opcode: u8, payload: Vec<u8>, mask: [u8; 4]) -> Self {
        RawFrame {
            fin: true,
            rsv: 0,
            opcode,
            mask: Some(mask),
            payload,
            declared_len: None,
            long_length_form: false,
        }
    }

    /// A close frame with `code` and `reason` bytes.
    pub fn close(code: u16, reason: &[u8], mask: [u8; 4]) -> Self {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason);
        RawFrame::new(opcode::CLOSE, payload, mask)
    }

    /// The frame's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.payload.len() + 14);
        out.push(((self.fin as u8) << 7) | ((self.rsv & 0x7) << 4) | (self.opcode & 0xF));
        let masked = (self.mask.is_some() as u8) << 7;
        let len = self.declared_len.unwrap_or(self.payload.len() as u64);
        if len < 126 && !self.long_length_form {
            out.push(masked | len as u8);
        } else if len <= u64::from(u16::MAX) && !self.long_length_form {
            out.push(masked | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(masked | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
        match self.mask {
            Some(key) => {
                out.extend_from_slice(&key);
                out.extend(
                    self.payload
                        .iter()
                        .enumerate()
                        .map(|(i, byte)| byte ^ key[i % 4]),
                );
            }
            None => out.extend_from_slice(&self.payload),
        }
        out
    }
}

/// An upgrade request for `target` (path and query) on `host`, with `extra`
/// header lines (each ending in `\r\n`) and the key `key`.
pub fn upgrade_request(host: &str, target: &str, key: &str, extra: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// What the server sent on a WebSocket, as far as it has been read.
#[derive(Debug, Default)]
pub struct ServerFrames {
    buffer: Vec<u8>,
    /// Data frames (text, binary, continuation) read.
    pub data_frames: u64,
    /// The close frame's code (`Some(None)`: a close without a code).
    pub close: Option<Option<u16>>,
    /// The server sent something that is not a server frame (masked, or
    /// after its close).
    pub malformed: bool,
}

impl ServerFrames {
    /// Feeds bytes read from the server; parses every complete frame.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
        while let Some(used) = self.parse_one() {
            self.buffer.drain(..used);
        }
        // A frame far larger than the server sends: stop buffering it.
        if self.buffer.len() > 64 << 20 {
            self.malformed = true;
            self.buffer.clear();
        }
    }

    /// Parses the frame at the front of the buffer; the bytes it took.
    fn parse_one(&mut self) -> Option<usize> {
        let b = &self.buffer;
        if b.len() < 2 {
            return None;
        }
        let op = b[0] & 0xF;
        if b[1] & 0x80 != 0 || self.close.is_some() {
            self.malformed = true;
        }
        let (len, mut at): (u64, usize) = match b[1] & 0x7F {
            126 if b.len() >= 4 => (u64::from(u16::from_be_bytes([b[2], b[3]])), 4),
            127 if b.len() >= 10 => (u64::from_be_bytes(b[2..10].try_into().ok()?), 10),
            126 | 127 => return None,
            n => (u64::from(n), 2),
        };
        if b[1] & 0x80 != 0 {
            at += 4;
        }
        let end = at.checked_add(usize::try_from(len).ok()?)?;
        if b.len() < end {
            return None;
        }
        match op {
            opcode::CLOSE => {
                let code = (len >= 2).then(|| u16::from_be_bytes([b[at], b[at + 1]]));
                self.close = Some(code);
            }
            opcode::TEXT | opcode::BINARY | opcode::CONTINUATION => self.data_frames += 1,
            _ => {}
        }
        Some(end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_masked_frame_is_encoded_as_rfc_6455_shows() {
        // RFC 6455 §5.7: a masked "Hello".
        let frame = RawFrame::new(opcode::TEXT, b"Hello".to_vec(), [0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(
            frame.encode(),
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
    }

    #[test]
    fn lengths_take_the_form_they_need_or_the_one_forced() {
        let mut frame = RawFrame::new(opcode::BINARY, vec![0; 200], [0; 4]);
        assert_eq!(&frame.encode()[1..4], &[0x80 | 126, 0, 200]);
        frame.long_length_form = true;
        assert_eq!(
            &frame.encode()[1..10],
            &[0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 200]
        );
        frame.declared_len = Some(1 << 40);
        frame.mask = None;
        let bytes = frame.encode();
        assert_eq!(&bytes[1..10], &[127, 0, 0, 1, 0, 0, 0, 0, 0]);
        assert_eq!(bytes.len(), 10 + 200);
    }

    #[test]
    fn the_servers_close_code_is_found_across_reads() {
        let mut frames = ServerFrames::default();
        frames.feed(&[0x81, 0x02, b'h']);
        assert_eq!(frames.data_frames, 0);
        frames.feed(&[b'i', 0x88, 0x04, 0x03, 0xEF]);
        assert_eq!(frames.data_frames, 1);
        assert_eq!(frames.close, None);
        frames.feed(b"ok");
        assert_eq!(frames.close, Some(Some(1007)));
        assert!(!frames.malformed);
    }
}
