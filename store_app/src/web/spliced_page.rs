//! The store page as sent: one rendering shared by every request, with one
//! browser's own lines (its cart id and socket token) spliced in.
//!
//! The page is rendered once per inventory change and served to everyone
//! (`mod.rs`), but since the cart each page also carries a per-browser
//! `<script>`. So the rendering is kept as the part before the marker and
//! the part after it, and each response is head + the browser's lines +
//! tail. Compressed, the same holds without compressing per request: the
//! head is kept as deflate blocks ending on a byte boundary (a sync flush),
//! the browser's lines go in as one *stored* (uncompressed) deflate block,
//! and the tail follows as the final blocks of the stream; the gzip trailer's
//! CRC-32 continues the head's with the lines and the tail (a few hundred
//! bytes: the marker sits before the page's closing scripts). Any gzip decoder reads the
//! result as one member (RFC 1951 §3.2.4, RFC 1952).

use bytes::{BufMut, Bytes, BytesMut};
use flate2::{Compress, Compression, FlushCompress, Status};

/// Where the template leaves room for a browser's lines.
pub const SHOPPER_MARKER: &str = "<!--shopper-->";

/// The longest insert a stored deflate block carries.
const STORED_BLOCK_MAX: usize = u16::MAX as usize;

/// One rendering of the page, split at [`SHOPPER_MARKER`].
pub struct SplicedPage {
    head: Bytes,
    tail: Bytes,
}

/// A [`SplicedPage`] compressed: made once, used by every request.
pub struct GzipParts {
    /// The gzip header and the head's deflate blocks, sync-flushed.
    head: Bytes,
    /// The tail's deflate blocks, the last one final.
    tail: Bytes,
    head_crc: crc32fast::Hasher,
    /// The tail uncompressed, for the CRC.
    tail_plain: Bytes,
    /// Uncompressed bytes of head and tail.
    plain_len: usize,
}

impl SplicedPage {
    /// Splits `html` at the marker (dropped); without one, every insert goes
    /// at the end.
    pub fn new(html: String) -> Self {
        let marker = html.find(SHOPPER_MARKER);
        let html = Bytes::from(html);
        let Some(at) = marker else {
            return SplicedPage {
                head: html,
                tail: Bytes::new(),
            };
        };
        SplicedPage {
            head: html.slice(..at),
            tail: html.slice(at + SHOPPER_MARKER.len()..),
        }
    }

    /// The page's length without an insert.
    pub fn len_without_insert(&self) -> usize {
        self.head.len() + self.tail.len()
    }

    /// The page with `insert` in place of the marker.
    pub fn body(&self, insert: &str) -> Bytes {
        let mut body = BytesMut::with_capacity(self.len_without_insert() + insert.len());
        body.put_slice(&self.head);
        body.put_slice(insert.as_bytes());
        body.put_slice(&self.tail);
        body.freeze()
    }

    /// The page compressed once, for [`GzipParts::body`].
    pub fn gzip(&self) -> GzipParts {
        // Header: magic, deflate, no flags, no time, no extra flags, unknown OS.
        let mut head = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
        head.extend(deflate(&self.head, FlushCompress::Sync));
        GzipParts {
            head: Bytes::from(head),
            tail: Bytes::from(deflate(&self.tail, FlushCompress::Finish)),
            head_crc: crc_of(&self.head),
            tail_plain: self.tail.clone(),
            plain_len: self.len_without_insert(),
        }
    }
}

impl GzipParts {
    /// The page with `insert` in place of the marker, gzip-encoded. An insert
    /// longer than a stored block holds is cut (the page's lines are ~250 bytes).
    pub fn body(&self, insert: &str) -> Bytes {
        let insert = &insert.as_bytes()[..insert.len().min(STORED_BLOCK_MAX)];
        let mut body =
            BytesMut::with_capacity(self.head.len() + 5 + insert.len() + self.tail.len() + 8);
        body.put_slice(&self.head);
        // A stored block, not final: BFINAL 0, BTYPE 00, padded to the byte,
        // then LEN and its one's complement, little-endian.
        let len = insert.len() as u16;
        body.put_u8(0);
        body.put_u16_le(len);
        body.put_u16_le(!len);
        body.put_slice(insert);
        body.put_slice(&self.tail);
        // The tail is the page's last lines (its scripts): hashing it again
        // is cheaper than combining CRCs.
        let mut crc = self.head_crc.clone();
        crc.update(insert);
        crc.update(&self.tail_plain);
        body.put_u32_le(crc.finalize());
        body.put_u32_le((self.plain_len + insert.len()) as u32);
        body.freeze()
    }
}

fn crc_of(bytes: &[u8]) -> crc32fast::Hasher {
    let mut crc = crc32fast::Hasher::new();
    crc.update(bytes);
    crc
}

/// `data` as raw deflate blocks at the fast level: ending on a byte boundary
/// with more to come (`Sync`), or final (`Finish`).
fn deflate(data: &[u8], flush: FlushCompress) -> Vec<u8> {
    let mut compress = Compress::new(Compression::fast(), false);
    let mut out = Vec::with_capacity(data.len() / 8 + 64);
    loop {
        let consumed = compress.total_in() as usize;
        let status = compress
            .compress_vec(&data[consumed..], &mut out, flush)
            .expect("compressing into memory cannot fail");
        let all_in = compress.total_in() as usize == data.len();
        // A sync flush is complete when it left room in the output; a finish
        // when the stream has ended.
        let done = match flush {
            FlushCompress::Finish => status == Status::StreamEnd,
            _ => all_in && out.len() < out.capacity(),
        };
        if done {
            return out;
        }
        out.reserve(out.capacity().max(64));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(bytes: &[u8]) -> String {
        let mut out = String::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_string(&mut out)
            .expect("a valid gzip stream");
        out
    }

    fn page(body_len: usize) -> String {
        let body: String = (0..body_len)
            .map(|i| format!("<p>line {i}</p>\n"))
            .collect();
        format!(
            "<html><body>{body}{SHOPPER_MARKER}<script src=app.js></script>{body}</body></html>"
        )
    }

    #[test]
    fn the_insert_takes_the_markers_place() {
        let html = page(3);
        let spliced = SplicedPage::new(html.clone());
        let expected = html.replace(SHOPPER_MARKER, "<script>x=1</script>");
        assert_eq!(spliced.body("<script>x=1</script>"), expected.as_bytes());
        assert_eq!(
            spliced.body(""),
            html.replace(SHOPPER_MARKER, "").as_bytes()
        );
    }

    #[test]
    fn the_gzip_body_decodes_to_the_same_page_for_any_insert() {
        for lines in [0, 1, 50, 5_000] {
            let html = page(lines);
            let spliced = SplicedPage::new(html.clone());
            let gzip = spliced.gzip();
            for insert in [
                "",
                "<script>window.cartId = \"abc\";</script>",
                &"é".repeat(300),
            ] {
                let body = gzip.body(insert);
                assert_eq!(
                    gunzip(&body),
                    html.replace(SHOPPER_MARKER, insert),
                    "{lines} lines, insert {insert:?}"
                );
            }
            if lines == 5_000 {
                let body = gzip.body("x");
                assert!(
                    body.len() * 5 < html.len(),
                    "compressed: {} of {}",
                    body.len(),
                    html.len()
                );
            }
        }
    }

    #[test]
    fn a_page_without_the_marker_gets_the_insert_at_the_end() {
        let spliced = SplicedPage::new("<p>hi</p>".into());
        assert_eq!(spliced.body("<b>"), "<p>hi</p><b>".as_bytes());
        assert_eq!(gunzip(&spliced.gzip().body("<b>")), "<p>hi</p><b>");
    }
}
