#!/usr/bin/env python3
"""Writes seeds/{http,tls,dns}/ in the input format of fuzz_targets/driver.rs.

HTTP and DNS seeds are written out here; TLS seeds are the first handshake bytes of TCP stream 0
of two corpus captures (needs tshark and $SEAWALL_CORPUS, default ../../../../shared/corpus).
Run from this directory: python3 make_seeds.py
"""
import os
import struct
import subprocess

TS, TC = 0, 4  # direction bit of the op byte


def feed(d, data):
    return bytes([0 | d]) + struct.pack("<H", len(data)) + data


def gap(d):
    return bytes([2 | d])


def close(d):
    return bytes([3 | d])


def write(target, name, cfg, ops, limit_bytes=b""):
    os.makedirs(f"seeds/{target}", exist_ok=True)
    with open(f"seeds/{target}/{name}", "wb") as f:
        f.write(bytes([cfg]) + limit_bytes + b"".join(ops))


def chunks(data, n):
    return [data[i:i + n] for i in range(0, len(data), n)]


# --- HTTP ------------------------------------------------------------------------------------------
req = (b"POST /a%20b/../c?x=1&y=%41 HTTP/1.1\r\nHost: Example.COM:8080\r\nUser-Agent: fz\r\n"
       b"Cookie: a=b\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nAccept: */*\r\n\r\nhello")
import gzip
body = gzip.compress(b"<html>" + b"A" * 200 + b"</html>")
chunked = b"".join(b"%x\r\n" % len(c) + c + b"\r\n" for c in chunks(body, 50)) + b"0\r\n\r\n"
resp = (b"HTTP/1.1 200 OK\r\nServer: x\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"
        b"Set-Cookie: s=1\r\nLocation: /z\r\n\r\n" + chunked)
get2 = b"GET /one HTTP/1.1\r\nHost: h\r\n\r\nGET /two HTTP/1.0\r\n\r\n"
write("http", "post_gzip_chunked", 0, [feed(TS, req), feed(TC, resp), close(TS), close(TC)])
write("http", "pipelined_small_chunks", 0,
      [feed(TS, c) for c in chunks(get2, 7)]
      + [feed(TC, b"HTTP/1.1 304 Not Modified\r\n\r\nHTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc")])
write("http", "gap_resync_close_delimited", 0,
      [feed(TS, req[:40]), gap(TS), feed(TS, get2), feed(TC, b"HTTP/1.0 200 OK\r\n\r\nbody until close"),
       close(TC)])
# Small limits: one byte per limit (index into the driver's lists).
write("http", "small_limits", 1, [feed(TS, req), feed(TC, resp)], bytes([2, 2, 2, 2, 1, 1, 2]))
write("http", "connect_tunnel", 0,
      [feed(TS, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
       feed(TC, b"HTTP/1.1 200 Connection established\r\n\r\n"), feed(TS, b"\x16\x03\x01\x00\x05hello")])

# --- DNS -------------------------------------------------------------------------------------------
def qname(name):
    return b"".join(bytes([len(p)]) + p for p in name.split(b".")) + b"\x00"


query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01" + qname(b"www.Example.com") + b"\x00\x01\x00\x01" \
    + b"\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x00"
answer = (b"\x12\x34\x81\x80\x00\x01\x00\x02\x00\x00\x00\x00" + qname(b"www.Example.com") + b"\x00\x01\x00\x01"
          + b"\xc0\x0c\x00\x05\x00\x01\x00\x00\x00\x3c\x00\x06" + qname(b"a.b")[:-1] + b"\x00"
          + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x0a\x00\x00\x01")
write("dns", "udp_query_answer", 2, [feed(TS, query), feed(TC, answer), feed(TS, query[:7])])
tcpq = struct.pack(">H", len(query)) + query
tcpa = struct.pack(">H", len(answer)) + answer
write("dns", "tcp_two_queries_split", 0,
      [feed(TS, c) for c in chunks(tcpq + tcpq, 5)] + [feed(TC, tcpa), gap(TC), feed(TC, tcpa)])
write("dns", "udp_small_limits", 3, [feed(TS, query), feed(TC, answer)] * 3, bytes([0, 0, 0, 0, 0, 1, 0]))

# --- TLS -------------------------------------------------------------------------------------------
corpus = os.environ.get("SEAWALL_CORPUS", "../../../../shared/corpus")
for pcap, name in [("tls-firefox-browsing.pcap", "firefox_handshake"),
                   ("tls-client-cert.pcap", "client_cert_handshake")]:
    out = subprocess.run(["tshark", "-r", f"{corpus}/pcaps/proto/{pcap}", "-q", "-z", "follow,tcp,raw,0"],
                         capture_output=True, text=True, check=True).stdout
    ops, size = [], 0
    for line in out.splitlines():
        if not line.strip() or not all(c in "0123456789abcdef\t" for c in line):
            continue
        d = TC if line.startswith("\t") else TS
        data = bytes.fromhex(line.strip())
        if size + len(data) > 7000:
            break
        size += len(data)
        ops.append(feed(d, data))
    write("tls", name, 0, ops)
    # The same flight in 100-byte chunks with small limits.
    write("tls", name + "_chunked_small", 1,
          [feed(op[0], c) for op in ops for c in chunks(op[3:], 100)][:60], bytes([0, 0, 0, 0, 0, 0, 3]))
