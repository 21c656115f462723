//! seawall-applayer: protocol detection and HTTP/1.x, TLS and DNS parsers that produce inspection buffers.
#![forbid(unsafe_code)]
