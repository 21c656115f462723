#!/usr/bin/env python3
"""Builds input.pcap: one Ethernet frame per tunnel class, valid and malformed, to compare
Seawall's tunnel decoding with Suricata's (which tunnels are opened, when the carrier's payload is
inspected). Every inner packet is an ICMP echo (or ICMPv6 echo) whose payload is "PAYLOADMARK";
the outer source address 10.9.0.N numbers the case. Usage: make.py > input.pcap"""
import struct, sys

def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff

def ipv4(src, dst, proto, payload, ihl=5):
    h = struct.pack('!BBHHHBBH4s4s', 0x40 | ihl, 0, 20 + len(payload), 1, 0, 64, proto, 0,
                    bytes(src), bytes(dst))
    h = h[:10] + struct.pack('!H', csum(h)) + h[12:]
    return h + payload

def ipv6(src, dst, nh, payload, hlim=64):
    return struct.pack('!IHBB', 0x60000000, len(payload), nh, hlim) + bytes(src) + bytes(dst) + payload

def icmp_echo(data=b'PAYLOADMARK'):
    m = struct.pack('!BBHHH', 8, 0, 0, 7, 1) + data
    return m[:2] + struct.pack('!H', csum(m)) + m[4:]

def icmpv6_echo(data=b'PAYLOADMARK'):
    return struct.pack('!BBHHH', 128, 0, 0, 7, 1) + data  # checksum not checked

def udp(sport, dport, payload):
    return struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload

def eth(ethertype, payload):
    return bytes.fromhex('020000000002020000000001') + struct.pack('!H', ethertype) + payload

def outer(n, proto, payload):
    return eth(0x0800, ipv4([10, 9, 0, n], [10, 9, 1, n], proto, payload))

inner4 = lambda n: ipv4([192, 168, 50, n], [192, 168, 51, n], 1, icmp_echo())
inner6 = lambda n: ipv6([0x20, 1, 0xd, 0xb8] + [0] * 11 + [n], [0x20, 1, 0xd, 0xb8] + [0] * 11 + [0x80 + n],
                        58, icmpv6_echo())
inner_eth = lambda n: eth(0x0800, inner4(n))
arp = eth(0x0806, bytes(28) + b'PAYLOADMARK')

frames = []
# 1 valid VXLAN; 2 VXLAN without the I flag; 3 VXLAN carrying ARP; 4 VXLAN with an invalid inner
# IPv4 header (IHL 4).
frames.append(outer(1, 17, udp(40001, 4789, bytes([8, 0, 0, 0, 0, 0, 1, 0]) + inner_eth(1))))
frames.append(outer(2, 17, udp(40002, 4789, bytes([0, 0, 0, 0, 0, 0, 1, 0]) + inner_eth(2))))
frames.append(outer(3, 17, udp(40003, 4789, bytes([8, 0, 0, 0, 0, 0, 1, 0]) + arp)))
bad = bytearray(inner_eth(4)); bad[14] = 0x44
frames.append(outer(4, 17, udp(40004, 4789, bytes([8, 0, 0, 0, 0, 0, 1, 0]) + bytes(bad))))
# 5 valid GENEVE (IPv4); 6 GENEVE with the reserved byte set; 7 GENEVE with protocol 0x1234;
# 8 GENEVE carrying an Ethernet frame with ARP (the tunnel exists, nothing inside to inspect).
frames.append(outer(5, 17, udp(40005, 6081, bytes([0, 0, 8, 0, 0, 0, 1, 0]) + inner4(5))))
frames.append(outer(6, 17, udp(40006, 6081, bytes([0, 0, 8, 0, 0, 0, 1, 1]) + inner4(6))))
frames.append(outer(7, 17, udp(40007, 6081, bytes([0, 0, 0x12, 0x34, 0, 0, 1, 0]) + inner4(7))))
frames.append(outer(8, 17, udp(40008, 6081, bytes([0, 0, 0x65, 0x58, 0, 0, 1, 0]) + arp)))
# 9 Teredo with an origin indication; 10 Teredo-looking with hop limit 0 (not Teredo).
frames.append(outer(9, 17, udp(3544, 40009, bytes(8) + inner6(9))))
frames.append(outer(10, 17, udp(3544, 40010, ipv6([0x20] * 16, [0x21] * 16, 58, icmpv6_echo(), hlim=0))))
# 11 GRE with key and sequence; 12 GRE with recursion bits; 13 GRE version 2; 14 GRE 0x8300.
frames.append(outer(11, 47, bytes([0x30, 0, 8, 0]) + bytes(8) + inner4(11)))
frames.append(outer(12, 47, bytes([0x03, 0, 8, 0]) + inner4(12)))
frames.append(outer(13, 47, bytes([0, 2, 8, 0]) + inner4(13)))
frames.append(outer(14, 47, bytes([0, 0, 0x83, 0]) + inner4(14)))
# 15 6in4; 16 6in4 whose inner is IPv4 (wrong version: the tunnel is discarded).
frames.append(outer(15, 41, inner6(15)))
frames.append(outer(16, 41, inner4(16) + bytes(20)))
# 17 ERSPAN type II (VLAN 5) carrying an Ethernet frame; 18 ERSPAN type II version 2.
frames.append(outer(17, 47, bytes([0x10, 0, 0x88, 0xbe, 0, 0, 0, 1, 0x10, 5, 0, 0, 0, 0, 0, 0]) + inner_eth(17)))
frames.append(outer(18, 47, bytes([0x10, 0, 0x88, 0xbe, 0, 0, 0, 1, 0x20, 5, 0, 0, 0, 0, 0, 0]) + inner_eth(18)))

out = sys.stdout.buffer
out.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
for i, f in enumerate(frames):
    out.write(struct.pack('<IIII', 1700000000 + i, 0, len(f), len(f)) + f)
