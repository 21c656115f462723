#!/usr/bin/env python3
"""Builds input.pcap: the packets of the corpus capture pcaps/proto/http-testmyids.pcap as an
appliance sees them behind AWS GWLB -- Ethernet / IPv4 10.0.0.1 -> 10.0.0.2 / UDP -> 6081 / GENEVE
with the three AWS options (endpoint id, attachment id, flow cookie) / the original IP packet.
Usage: make.py CORPUS_DIR > input.pcap"""
import struct, sys

def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff

src = open(sys.argv[1] + '/pcaps/proto/http-testmyids.pcap', 'rb').read()
out = sys.stdout.buffer
out.write(src[:24])  # same global header (Ethernet)
off = 24
while off < len(src):
    ts_s, ts_us, incl, orig = struct.unpack('<IIII', src[off:off + 16])
    frame = src[off + 16: off + 16 + incl]
    off += 16 + incl
    inner = frame[14:]
    opts = (struct.pack('!HBB', 0x0108, 1, 2) + struct.pack('!Q', 0x0123456789abcdef)
            + struct.pack('!HBB', 0x0108, 2, 2) + struct.pack('!Q', 0x00000000feedf00d)
            + struct.pack('!HBB', 0x0108, 3, 1) + struct.pack('!I', 0xc0ffee01))
    geneve = struct.pack('!BBHI', len(opts) // 4, 0, 0x0800, 0) + opts
    udp_len = 8 + len(geneve) + len(inner)
    udp = struct.pack('!HHHH', 55555, 6081, udp_len, 0)
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + udp_len, 0, 0x4000, 64, 17, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    eth = bytes.fromhex('02000000000202000000000108 00'.replace(' ', ''))
    pkt = eth + ip + udp + geneve + inner
    out.write(struct.pack('<IIII', ts_s, ts_us, len(pkt), len(pkt)) + pkt)
