#!/bin/sh
# Regenerates the pinned tshark views of the corpus captures that tests/pcap_corpus.rs compares
# against. Run from this directory with the corpus at ../../../../shared/corpus (or CORPUS=...).
# Output columns are tab-separated; the first is the capture's file name.
set -eu
CORPUS=${CORPUS:-../../../../shared/corpus/pcaps/proto}
out=$(dirname "$0")
: > "$out/http_requests.tsv"; : > "$out/http_responses.tsv"; : > "$out/tls_client.tsv"
: > "$out/tls_server.tsv"; : > "$out/dns_queries.tsv"; : > "$out/tls_certs.tsv"
for p in "$CORPUS"/http-*.pcap; do
  f=$(basename "$p")
  tshark -r "$p" -Y http.request -T fields -E separator=/t -e tcp.stream -e http.request.method \
    -e http.request.uri -e http.host -e http.user_agent 2>/dev/null | sed "s|^|$f\t|" >> "$out/http_requests.tsv"
  tshark -r "$p" -Y http.response -T fields -E separator=/t -e tcp.stream -e http.response.code \
    2>/dev/null | sed "s|^|$f\t|" >> "$out/http_responses.tsv"
done
for p in "$CORPUS"/tls-*.pcap; do
  f=$(basename "$p")
  case "$f" in tls-smtp-starttls.pcap) continue;; esac
  tshark -r "$p" -Y 'tls.handshake.type==1' -T fields -E separator=/t -e tcp.stream \
    -e tls.handshake.extensions_server_name -e tls.handshake.ja3_full -e tls.handshake.ja3 \
    2>/dev/null | sed "s|^|$f\t|" >> "$out/tls_client.tsv"
  tshark -r "$p" -Y 'tls.handshake.type==2' -T fields -E separator=/t -e tcp.stream \
    -e tls.handshake.ja3s_full -e tls.handshake.ja3s 2>/dev/null | sed "s|^|$f\t|" >> "$out/tls_server.tsv"
  # First Certificate message per stream (the server's): stream, serials of the chain.
  tshark -r "$p" -Y 'tls.handshake.type==11' -T fields -E separator=/t -e tcp.stream \
    -e x509af.serialNumber 2>/dev/null | awk -F'\t' '!seen[$1]++' | sed "s|^|$f\t|" >> "$out/tls_certs.tsv"
done
for p in "$CORPUS"/dns-*.pcap; do
  f=$(basename "$p")
  tshark -r "$p" -Y 'dns.flags.response==0 && (udp.port==53 || tcp.port==53)' -T fields -E separator=/t \
    -E occurrence=f -e frame.number -e dns.qry.name 2>/dev/null | sed "s|^|$f\t|" >> "$out/dns_queries.tsv"
done
wc -l "$out"/*.tsv
