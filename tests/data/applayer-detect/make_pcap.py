#!/usr/bin/env python3
"""Writes input.pcap: TCP sessions of the protocols Seawall detects without parsing them (SSH, FTP,
SMTP, SMB over NetBIOS on 445 and another port) plus a port-445 session that is not SMB.
Every session has a full handshake, acknowledged data and a FIN exchange. Stdlib only."""
import struct

pkts = []
ts = [1_700_000_000, 0]


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b)//2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip4(a):
    return bytes(int(x) for x in a.split("."))


def tcp_pkt(src, dst, sport, dport, seq, ack, flags, payload=b""):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    c = csum(pseudo + tcp)
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, ip4(src), ip4(dst))
    iph = iph[:10] + struct.pack("!H", csum(iph)) + iph[12:]
    eth = b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00"
    ts[1] += 1000
    pkts.append((ts[0], ts[1], eth + iph + tcp))


SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01


def session(cli, srv, sport, dport, msgs):
    """msgs: list of ("c"|"s", bytes): client or server data, each acknowledged by the peer."""
    cseq, sseq = 1000, 5000
    tcp_pkt(cli, srv, sport, dport, cseq, 0, SYN)
    tcp_pkt(srv, cli, dport, sport, sseq, cseq + 1, SYN | ACK)
    cseq += 1
    sseq += 1
    tcp_pkt(cli, srv, sport, dport, cseq, sseq, ACK)
    for who, data in msgs:
        if who == "c":
            tcp_pkt(cli, srv, sport, dport, cseq, sseq, PSH | ACK, data)
            cseq += len(data)
            tcp_pkt(srv, cli, dport, sport, sseq, cseq, ACK)
        else:
            tcp_pkt(srv, cli, dport, sport, sseq, cseq, PSH | ACK, data)
            sseq += len(data)
            tcp_pkt(cli, srv, sport, dport, cseq, sseq, ACK)
    tcp_pkt(cli, srv, sport, dport, cseq, sseq, FIN | ACK)
    tcp_pkt(srv, cli, dport, sport, sseq, cseq + 1, FIN | ACK)
    tcp_pkt(cli, srv, sport, dport, cseq + 1, sseq + 1, ACK)
    ts[0] += 1


def smb1_negotiate():
    # SMB1 header: magic, command 0x72 NEGOTIATE, status 0, flags 0x18, flags2 0xc853,
    # pid/tid/uid/mid, then word count 0 and a dialect list.
    body = b"\x00" + struct.pack("<H", 12) + b"\x02NT LM 0.12\x00"
    hdr = b"\xffSMB\x72" + b"\x00" * 4 + b"\x18" + struct.pack("<H", 0xC853) + b"\x00" * 12
    hdr += struct.pack("<HHHH", 0xFFFF, 0xFEFF, 0, 0x0001)
    smb = hdr + body
    return struct.pack("!I", len(smb)) + smb


def smb2_negotiate():
    hdr = b"\xfeSMB" + struct.pack("<HHIHHII", 64, 0, 0, 0, 1, 0, 0) + struct.pack("<Q", 1)
    hdr += struct.pack("<II", 0xFEFF, 0) + struct.pack("<Q", 0) + b"\x00" * 16
    body = struct.pack("<HHHHI", 36, 1, 1, 0, 0) + b"\x00" * 16 + struct.pack("<IHH", 0, 0, 0) + struct.pack("<H", 0x0202)
    smb = hdr + body
    return struct.pack("!I", len(smb)) + smb


names = b"\x20" + b"CKFDENECFDEFFCFGEFFCCACACACACACA" + b"\x00"
session_request = b"\x81\x00\x00\x44" + names + names

session("10.1.0.1", "10.1.0.2", 40001, 22, [
    ("s", b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3\r\n"),
    ("c", b"SSH-2.0-PuTTY_Release_0.78\r\n"),
    ("c", b"\x00\x00\x01\x2c\x06\x14" + b"\x11" * 16 + b"USER kex"),
])
session("10.1.0.1", "10.1.0.3", 40002, 21, [
    ("s", b"220 (vsFTPd 3.0.3)\r\n"),
    ("c", b"USER anonymous\r\n"),
    ("s", b"331 Please specify the password.\r\n"),
    ("c", b"PASS guest@\r\n"),
])
session("10.1.0.1", "10.1.0.4", 40003, 2121, [
    ("s", b"220 Welcome to the FTP service\r\n"),
    ("c", b"user bob\r\n"),
    ("s", b"331 Password required\r\n"),
])
session("10.1.0.1", "10.1.0.5", 40004, 25, [
    ("s", b"220 mx.example.com ESMTP Postfix\r\n"),
    ("c", b"EHLO client.example.com\r\n"),
    ("s", b"250-mx.example.com\r\n250 8BITMIME\r\n"),
    ("c", b"MAIL FROM:<alice@example.com>\r\n"),
    ("s", b"250 2.1.0 Ok\r\n"),
])
session("10.1.0.1", "10.1.0.6", 40005, 445, [
    ("c", session_request),
    ("s", b"\x82\x00\x00\x00"),
    ("c", smb1_negotiate()),
])
session("10.1.0.1", "10.1.0.7", 40006, 8445, [
    ("c", smb2_negotiate()),
])
session("10.1.0.1", "10.1.0.8", 40007, 445, [
    ("c", b"JUNK" + b"\x42" * 60),
])

# SMTP with a message (DATA): raw rules see the body in the stream.
body = (
    b"From: a@example.com\r\nTo: b@example.com\r\nSubject: invoice\r\n"
    b"Content-Type: text/plain\r\n\r\nplease pay the invoice attached EVILMARKER now\r\n.\r\n"
)
session("10.1.0.1", "10.1.0.9", 40008, 25, [
    ("s", b"220 mx.example.com ESMTP Postfix\r\n"),
    ("c", b"HELO client.example.com\r\n"),
    ("s", b"250 mx.example.com\r\n"),
    ("c", b"MAIL FROM:<alice@example.com>\r\n"),
    ("s", b"250 2.1.0 Ok\r\n"),
    ("c", b"RCPT TO:<bob@example.com>\r\n"),
    ("s", b"250 2.1.5 Ok\r\n"),
    ("c", b"DATA\r\n"),
    ("s", b"354 End data with <CR><LF>.<CR><LF>\r\n"),
    ("c", body[:60]),
    ("c", body[60:]),
    ("s", b"250 2.0.0 Ok: queued\r\n"),
    ("c", b"QUIT\r\n"),
    ("s", b"221 2.0.0 Bye\r\n"),
])

with open("input.pcap", "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for s, us, data in pkts:
        f.write(struct.pack("<IIII", s, us, len(data), len(data)) + data)
