#!/usr/bin/env python3
"""Builds input.pcap: two TCP Fast Open sessions (10.0.0.1 -> 10.0.0.2:80) that the client resets
during the handshake, after the server's SYN/ACK and before any server data. The SYN carries an
HTTP request and the TFO option (kind 34, 8-byte cookie). Flow 1: the SYN/ACK acknowledges the
request, the client's RST has no ACK flag. Flow 2: the SYN/ACK acknowledges only the SYN, the RST
carries ACK. Suricata 7.0.10 (SYN_RECV) closes both sessions without reassembly: the request
reaches the app layer and the raw stream at the flow end (pcap_cnt 0).
Usage: make.py > input.pcap"""
import struct, sys
def csum(b):
    if len(b)%2: b+=b'\0'
    s=sum(struct.unpack('!%dH'%(len(b)//2),b)); s=(s>>16)+(s&0xffff); s+=s>>16; return (~s)&0xffff
def pkt(src,dst,sp,dp,seq,ack,flags,payload=b'',opts=b''):
    while len(opts)%4: opts+=b'\x01'
    off=(20+len(opts))//4
    tcp=struct.pack('!HHIIBBHHH',sp,dp,seq,ack,off<<4,flags,65535,0,0)+opts+payload
    ph=bytes(src)+bytes(dst)+struct.pack('!BBH',0,6,len(tcp))
    c=csum(ph+tcp); tcp=tcp[:16]+struct.pack('!H',c)+tcp[18:]
    ip=struct.pack('!BBHHHBBH4s4s',0x45,0,20+len(tcp),1,0x4000,64,6,0,bytes(src),bytes(dst))
    ip=ip[:10]+struct.pack('!H',csum(ip))+ip[12:]
    return b'\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00'+ip+tcp
C,S=[10,0,0,1],[10,0,0,2]
tfo=b'\x22\x0a'+b'\x11'*8
pk=[]
# flow 1: the SYN/ACK acknowledges the SYN's data; the client resets without ACK.
req=b"GET /tfo HTTP/1.1\r\nHost: example\r\n\r\n"
pk+=[pkt(C,S,40000,80,1000,0,0x02,req,tfo), pkt(S,C,80,40000,5000,1001+len(req),0x12),
     pkt(C,S,40000,80,1001+len(req),0,0x04)]
# flow 2: the SYN/ACK acknowledges only the SYN; the client resets with ACK.
req2=b"POST /tfo-two HTTP/1.1\r\nHost: example\r\nContent-Length: 0\r\n\r\n"
pk+=[pkt(C,S,40001,80,7000,0,0x02,req2,tfo), pkt(S,C,80,40001,9000,7001,0x12),
     pkt(C,S,40001,80,7001,9001,0x14)]
f = sys.stdout.buffer
f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
for i, p in enumerate(pk):
    f.write(struct.pack('<IIII', 1700000000 + i, 0, len(p), len(p)) + p)
