//! Kernel receive timestamps for the fan-out subscribers' sockets.
//!
//! loadgen stamps a delivery when its subscriber task reads the frame. With
//! 1,000 subscribers read by loadgen on the same two cores as the server, that
//! stamp includes loadgen's own queueing: the last socket of a broadcast is
//! read after loadgen has read and decoded the 999 before it, while the server
//! also wants the cores. With `SO_TIMESTAMPNS` the kernel also stamps each
//! segment when it reaches the client's socket (on loopback: inside the
//! server's `send`), on the same wall clock, and `recvmsg` hands the stamp
//! over. The summary reports both; the difference is loadgen's own delay.
//!
//! A read that takes several segments gets the last one's stamp, so a frame
//! that arrived earlier in the same read is stamped late, never early.

use std::io::{self, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A TCP stream that remembers the kernel's receive stamp of its last read.
pub struct Stamped {
    fd: AsyncFd<std::net::TcpStream>,
    last_rx_ns: Option<u64>,
}

impl Stamped {
    /// Turns on `SO_TIMESTAMPNS` and takes the stream over from tokio.
    pub fn new(stream: tokio::net::TcpStream) -> io::Result<Stamped> {
        let stream = stream.into_std()?;
        let on: libc::c_int = 1;
        // SAFETY: a valid socket and a c_int option value of the given length.
        let rc = unsafe {
            libc::setsockopt(
                stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the std stream owns its descriptor for as long as the
        // AsyncFd holds it, and always reports that same descriptor.
        let fd = unsafe { AsyncFd::register(stream) }
            .map_err(|err| io::Error::other(err.to_string()))?;
        Ok(Stamped {
            fd,
            last_rx_ns: None,
        })
    }

    /// When the data of the last read reached the socket, in ns since the Unix
    /// epoch (the clock of `stats::wall_ns`).
    pub fn last_rx_ns(&self) -> Option<u64> {
        self.last_rx_ns
    }
}

/// One non-blocking `recvmsg`; records the segment's receive stamp.
fn recv_stamped(fd: RawFd, buf: &mut [u8], stamp: &mut Option<u64>) -> io::Result<usize> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // Room for a few control messages; u64 for cmsghdr's alignment.
    let mut control = [0u64; 16];
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: msg points at live buffers of the lengths it states.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: walking the control messages the kernel wrote into `control`.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
            {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                *stamp = Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok(n as usize)
}

impl AsyncRead for Stamped {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let Stamped { fd, last_rx_ns } = self.get_mut();
        loop {
            let mut guard = ready!(fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            let len = unfilled.len();
            match guard.try_io(|fd| recv_stamped(fd.as_raw_fd(), unfilled, last_rx_ns)) {
                Ok(Ok(n)) => {
                    // As tokio's TcpStream does: a short read drained the
                    // socket, so skip the read that would only say so.
                    if n > 0 && n < len {
                        guard.clear_ready();
                    }
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(err)) => return Poll::Ready(Err(err)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for Stamped {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let fd = &self.get_mut().fd;
        loop {
            let mut guard = ready!(fd.poll_write_ready(cx))?;
            match guard.try_io(|fd| fd.get_ref().write(data)) {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.fd.get_ref().shutdown(std::net::Shutdown::Write))
    }
}
