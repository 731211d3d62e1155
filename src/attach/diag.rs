//! The socket table of a network namespace through NETLINK_SOCK_DIAG (inet_diag), with each
//! socket's `tcp_info`, and SOCK_DESTROY of one socket by its cookie.
//!
//! A netlink socket answers for the namespace it was created in: create the [`Diag`] on a
//! thread that entered the attached process's namespace. Shelling out to `ss` for the same
//! dump costs ten times more.

use std::io;
use std::net::{IpAddr, SocketAddr};

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::{
    ExtensionFlags, InetRequest, SocketId, StateFlags, nlas::Nla,
};
use netlink_packet_sock_diag::message::SockDiagDestroy;
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::{Socket, SocketAddr as NlAddr};

/// TCP states as the kernel numbers them.
pub const TCP_ESTABLISHED: u8 = 1;
/// Listening.
pub const TCP_LISTEN: u8 = 10;

/// One TCP socket of the namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SockInfo {
    /// Socket inode (matches `socket:[inode]` in `/proc/PID/fd`).
    pub inode: u64,
    /// The kernel's cookie: what SOCK_DESTROY names a socket by.
    pub cookie: [u8; 8],
    /// TCP state (1 established, 10 listen, …).
    pub state: u8,
    /// Local address (IPv4-mapped IPv6 addresses of dual-stack sockets made plain IPv4).
    pub local: SocketAddr,
    /// Peer address.
    pub peer: SocketAddr,
    /// Owner uid.
    pub uid: u32,
    /// `tcp_info` fields, read by length (older kernels send a shorter struct).
    pub tcp: TcpFacts,
    /// The family the socket was dumped under (needed to destroy it).
    family: u8,
}

/// The `tcp_info` fields scrapetop shows. Each is `None` when the kernel's struct is too
/// short to hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFacts {
    /// Smoothed round-trip time, µs.
    pub rtt_us: Option<u32>,
    /// Retransmitted segments over the connection's life.
    pub total_retrans: Option<u32>,
    /// Unacknowledged segments now.
    pub unacked: Option<u32>,
    /// Milliseconds since data was last sent.
    pub last_data_sent_ms: Option<u32>,
    /// Milliseconds since data was last received.
    pub last_data_recv_ms: Option<u32>,
    /// Bytes acknowledged by the peer.
    pub bytes_acked: Option<u64>,
    /// Bytes received.
    pub bytes_received: Option<u64>,
    /// Segments sent carrying data. A scrape's GET fits in one segment, so on a scrape
    /// connection this is the number of requests it carried (a request split over two
    /// segments would count twice; none is ever counted zero times).
    pub data_segs_out: Option<u32>,
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

impl TcpFacts {
    /// Read the fields from a raw `struct tcp_info` (offsets of linux/tcp.h).
    pub fn parse(b: &[u8]) -> TcpFacts {
        TcpFacts {
            unacked: u32_at(b, 24),
            last_data_sent_ms: u32_at(b, 44),
            last_data_recv_ms: u32_at(b, 52),
            rtt_us: u32_at(b, 68),
            total_retrans: u32_at(b, 100),
            bytes_acked: u64_at(b, 120),
            bytes_received: u64_at(b, 128),
            data_segs_out: u32_at(b, 156),
        }
    }
}

/// Why a destroy did not happen.
#[derive(Debug, thiserror::Error)]
pub enum DestroyError {
    /// EPERM/EACCES.
    #[error(
        "SOCK_DESTROY refused: scrapetop lacks CAP_NET_ADMIN in Prometheus's network namespace"
    )]
    NoPermission,
    /// EOPNOTSUPP: a kernel built without CONFIG_INET_DIAG_DESTROY.
    #[error(
        "SOCK_DESTROY is not supported by this kernel (built without CONFIG_INET_DIAG_DESTROY)"
    )]
    Unsupported,
    /// ENOENT: already closed.
    #[error("the socket is already gone")]
    Gone,
    /// Anything else.
    #[error("SOCK_DESTROY failed: {0}")]
    Other(io::Error),
}

/// A NETLINK_SOCK_DIAG socket of one network namespace.
pub struct Diag {
    sock: Socket,
    buf: Vec<u8>,
    seq: u32,
}

fn plain(a: SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), a.port()),
            None => a,
        },
        IpAddr::V4(_) => a,
    }
}

impl Diag {
    /// Open one for the calling thread's network namespace.
    pub fn open() -> io::Result<Diag> {
        let mut sock = Socket::new(NETLINK_SOCK_DIAG)?;
        sock.bind_auto()?;
        sock.connect(&NlAddr::new(0, 0))?;
        Ok(Diag {
            sock,
            buf: Vec::with_capacity(1 << 17),
            seq: 0,
        })
    }

    fn send(&mut self, flags: u16, msg: NetlinkPayloadKind) -> io::Result<u32> {
        self.seq = self.seq.wrapping_add(1);
        let mut hdr = NetlinkHeader::default();
        hdr.flags = flags;
        hdr.sequence_number = self.seq;
        let bytes = match msg {
            NetlinkPayloadKind::Dump(req) => {
                let mut p = NetlinkMessage::new(hdr, SockDiagMessage::InetRequest(req).into());
                p.finalize();
                let mut b = vec![0; p.buffer_len()];
                p.serialize(&mut b);
                b
            }
            NetlinkPayloadKind::Destroy(req) => {
                let mut p = NetlinkMessage::new(
                    hdr,
                    SockDiagDestroy::new(SockDiagMessage::InetRequest(req)).into(),
                );
                p.finalize();
                let mut b = vec![0; p.buffer_len()];
                p.serialize(&mut b);
                b
            }
        };
        self.sock.send(&bytes, 0)?;
        Ok(self.seq)
    }

    /// Every TCP socket (IPv4 and IPv6) in the listed states, with `tcp_info`.
    pub fn dump(&mut self, states: StateFlags) -> io::Result<Vec<SockInfo>> {
        let mut out = Vec::new();
        for family in [AF_INET, AF_INET6] {
            let req = InetRequest {
                family,
                protocol: IPPROTO_TCP,
                extensions: ExtensionFlags::INFO,
                states: states.clone(),
                socket_id: if family == AF_INET {
                    SocketId::new_v4()
                } else {
                    SocketId::new_v6()
                },
            };
            let seq = self.send(NLM_F_REQUEST | NLM_F_DUMP, NetlinkPayloadKind::Dump(req))?;
            self.collect(seq, family, &mut out)?;
        }
        Ok(out)
    }

    fn collect(&mut self, seq: u32, family: u8, out: &mut Vec<SockInfo>) -> io::Result<()> {
        // Bounded: a dump of any size ends with NLMSG_DONE; a broken stream ends with an error.
        for _ in 0..1_000_000 {
            self.buf.clear();
            let n = self.sock.recv(&mut self.buf, 0)?;
            if n == 0 {
                return Ok(());
            }
            let mut off = 0;
            while off < self.buf.len() {
                let msg = NetlinkMessage::<SockDiagMessage>::deserialize(&self.buf[off..])
                    .map_err(|e| io::Error::other(format!("sock_diag answer: {e}")))?;
                let len = msg.header.length as usize;
                if msg.header.sequence_number == seq {
                    match msg.payload {
                        NetlinkPayload::Done(_) => return Ok(()),
                        NetlinkPayload::Error(e) if e.code.is_some() => return Err(e.to_io()),
                        NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                            let h = &r.header;
                            let id = &h.socket_id;
                            let mut tcp = TcpFacts::default();
                            for nla in &r.nlas {
                                if let Nla::TcpInfo(raw) = nla {
                                    tcp = TcpFacts::parse(raw);
                                }
                            }
                            out.push(SockInfo {
                                inode: u64::from(h.inode),
                                cookie: id.cookie,
                                state: h.state,
                                local: plain(SocketAddr::new(id.source_address, id.source_port)),
                                peer: plain(SocketAddr::new(
                                    id.destination_address,
                                    id.destination_port,
                                )),
                                uid: h.uid,
                                tcp,
                                family,
                            });
                        }
                        _ => {}
                    }
                }
                if len == 0 {
                    break;
                }
                off += len;
            }
        }
        Err(io::Error::other("sock_diag dump did not end"))
    }

    /// Destroy one socket: the process holding it sees ECONNABORTED on its next use and, for
    /// an idle keep-alive connection, simply dials afresh at its next scrape.
    pub fn destroy(&mut self, s: &SockInfo) -> Result<(), DestroyError> {
        let (local, peer) = if s.family == AF_INET6 {
            (mapped(s.local), mapped(s.peer))
        } else {
            (s.local, s.peer)
        };
        let req = InetRequest {
            family: s.family,
            protocol: IPPROTO_TCP,
            extensions: ExtensionFlags::empty(),
            states: StateFlags::all(),
            socket_id: SocketId {
                source_port: local.port(),
                destination_port: peer.port(),
                source_address: local.ip(),
                destination_address: peer.ip(),
                interface_id: 0,
                cookie: s.cookie,
            },
        };
        let seq = self
            .send(NLM_F_REQUEST | NLM_F_ACK, NetlinkPayloadKind::Destroy(req))
            .map_err(DestroyError::Other)?;
        for _ in 0..64 {
            self.buf.clear();
            self.sock
                .recv(&mut self.buf, 0)
                .map_err(DestroyError::Other)?;
            let msg = NetlinkMessage::<SockDiagMessage>::deserialize(&self.buf[..])
                .map_err(|e| DestroyError::Other(io::Error::other(e.to_string())))?;
            if msg.header.sequence_number != seq {
                continue;
            }
            return match msg.payload {
                NetlinkPayload::Error(e) => match e.code {
                    None => Ok(()),
                    Some(c) => Err(match -c.get() {
                        1 | 13 => DestroyError::NoPermission,
                        95 => DestroyError::Unsupported,
                        2 => DestroyError::Gone,
                        _ => DestroyError::Other(e.to_io()),
                    }),
                },
                _ => Ok(()),
            };
        }
        Err(DestroyError::Other(io::Error::other(
            "no answer to SOCK_DESTROY",
        )))
    }
}

fn mapped(a: SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V4(v4) => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), a.port()),
        IpAddr::V6(_) => a,
    }
}

enum NetlinkPayloadKind {
    Dump(InetRequest),
    Destroy(InetRequest),
}

/// The states the observer needs: established connections and listeners.
pub fn watched_states() -> StateFlags {
    StateFlags::ESTABLISHED | StateFlags::LISTEN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_info_fields_are_read_by_length() {
        let mut raw = vec![0u8; 160];
        raw[68..72].copy_from_slice(&1234u32.to_ne_bytes());
        raw[156..160].copy_from_slice(&7u32.to_ne_bytes());
        let f = TcpFacts::parse(&raw);
        assert_eq!(f.rtt_us, Some(1234));
        assert_eq!(f.data_segs_out, Some(7));
        let short = TcpFacts::parse(&raw[..104]);
        assert_eq!(short.rtt_us, Some(1234));
        assert_eq!(short.data_segs_out, None, "too short: unknown, not zero");
        assert_eq!(short.bytes_acked, None);
    }

    #[test]
    fn dumps_this_namespace_and_finds_a_loopback_connection() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
        let c = std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        let (_s, _) = l.accept().expect("accept");
        let mut d = Diag::open().expect("sock_diag socket");
        let all = d.dump(watched_states()).expect("dump");
        let me = c.local_addr().expect("local");
        let mine = all
            .iter()
            .find(|s| s.local == me && s.state == TCP_ESTABLISHED)
            .unwrap_or_else(|| panic!("own connection {me} not in the dump of {}", all.len()));
        assert_eq!(mine.peer, l.local_addr().expect("addr"));
        assert!(mine.inode > 0);
        assert!(mine.tcp.rtt_us.is_some(), "tcp_info present");
    }
}
