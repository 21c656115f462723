//! Inspection buffers: sticky buffers (`http.uri;`), their legacy content modifiers (`http_uri`),
//! all mapped to one [`Buffer`] enum, and transforms (`dotprefix`, `to_lowercase`, ...).

use std::fmt;

use super::{KwError, KwResult};

macro_rules! buffers {
    ($( $var:ident => $name:literal, [$($alias:literal),*], $legacy:expr, $proto:expr, $lower:expr; )*) => {
        /// The buffer a content, pcre or byte keyword inspects.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        #[non_exhaustive]
        pub enum Buffer {
            /// The packet payload or reassembled stream (no sticky buffer; `pkt_data` resets to it).
            #[default]
            Payload,
            $( $var, )*
        }

        impl Buffer {
            /// Every buffer.
            pub const ALL: &'static [Buffer] = &[Buffer::Payload, $(Buffer::$var,)*];

            /// Canonical sticky-buffer keyword.
            pub fn name(self) -> &'static str {
                match self {
                    Buffer::Payload => "pkt_data",
                    $( Buffer::$var => $name, )*
                }
            }

            /// The buffer selected by a sticky-buffer keyword (canonical name or alias).
            pub fn from_sticky(name: &str) -> Option<Buffer> {
                match name {
                    "pkt_data" => Some(Buffer::Payload),
                    $( $name $(| $alias)* => Some(Buffer::$var), )*
                    _ => None,
                }
            }

            /// The `&'static` spelling of a sticky keyword that maps to this buffer.
            pub(crate) fn sticky_alias(self, name: &str) -> &'static str {
                match self {
                    $( Buffer::$var => {
                        $( if name == $alias { return $alias; } )*
                        $name
                    } )*
                    Buffer::Payload => "pkt_data",
                }
            }

            /// Legacy content modifier (`content:"x"; http_uri;`) that selects this buffer.
            pub fn legacy_name(self) -> Option<&'static str> {
                match self {
                    Buffer::Payload => None,
                    $( Buffer::$var => $legacy, )*
                }
            }

            /// The buffer selected by a legacy content modifier (`http_uri`, `http_header`, ...).
            pub fn from_legacy(name: &str) -> Option<Buffer> {
                Buffer::ALL.iter().copied().find(|b| b.legacy_name() == Some(name))
            }

            /// Application protocol family this buffer belongs to (`None`: any).
            pub fn app_family(self) -> Option<&'static str> {
                match self {
                    Buffer::Payload => None,
                    $( Buffer::$var => $proto, )*
                }
            }

            /// True for buffers Suricata normalises to lowercase (content must be lowercase).
            pub fn is_lowercase(self) -> bool {
                match self {
                    Buffer::Payload => false,
                    $( Buffer::$var => $lower, )*
                }
            }
        }
    };
}

const HTTP: Option<&str> = Some("http");
const TLS: Option<&str> = Some("tls");

buffers! {
    HttpUri => "http.uri", [], Some("http_uri"), HTTP, false;
    HttpUriRaw => "http.uri.raw", [], Some("http_raw_uri"), HTTP, false;
    HttpMethod => "http.method", [], Some("http_method"), HTTP, false;
    HttpHost => "http.host", [], Some("http_host"), HTTP, true;
    HttpHostRaw => "http.host.raw", [], Some("http_raw_host"), HTTP, false;
    HttpRequestBody => "http.request_body", [], Some("http_client_body"), HTTP, false;
    HttpResponseBody => "http.response_body", [], Some("http_server_body"), HTTP, false;
    HttpUserAgent => "http.user_agent", [], Some("http_user_agent"), HTTP, false;
    HttpStatCode => "http.stat_code", [], Some("http_stat_code"), HTTP, false;
    HttpStatMsg => "http.stat_msg", [], Some("http_stat_msg"), HTTP, false;
    HttpHeader => "http.header", [], Some("http_header"), HTTP, false;
    HttpHeaderRaw => "http.header.raw", [], Some("http_raw_header"), HTTP, false;
    HttpCookie => "http.cookie", [], Some("http_cookie"), HTTP, false;
    HttpHeaderNames => "http.header_names", ["http_header_names"], None, HTTP, false;
    HttpContentType => "http.content_type", ["http_content_type"], None, HTTP, false;
    HttpContentLen => "http.content_len", ["http_content_len"], None, HTTP, false;
    HttpReferer => "http.referer", ["http_referer"], None, HTTP, false;
    HttpLocation => "http.location", [], None, HTTP, false;
    HttpServer => "http.server", [], None, HTTP, false;
    HttpAccept => "http.accept", ["http_accept"], None, HTTP, false;
    HttpAcceptEnc => "http.accept_enc", ["http_accept_enc"], None, HTTP, false;
    HttpAcceptLang => "http.accept_lang", ["http_accept_lang"], None, HTTP, false;
    HttpConnection => "http.connection", ["http_connection"], None, HTTP, false;
    HttpStart => "http.start", ["http_start"], None, HTTP, false;
    HttpProtocol => "http.protocol", ["http_protocol"], None, HTTP, false;
    HttpRequestLine => "http.request_line", ["http_request_line"], None, HTTP, false;
    HttpResponseLine => "http.response_line", ["http_response_line"], None, HTTP, false;
    HttpRequestHeader => "http.request_header", [], None, HTTP, false;
    HttpResponseHeader => "http.response_header", [], None, HTTP, false;
    FileData => "file.data", ["file_data"], None, None, false;
    DnsQuery => "dns.query", ["dns_query"], None, Some("dns"), false;
    TlsSni => "tls.sni", ["tls_sni"], None, TLS, false;
    TlsCerts => "tls.certs", [], None, TLS, false;
    TlsCertSubject => "tls.cert_subject", ["tls_cert_subject"], None, TLS, false;
    TlsCertIssuer => "tls.cert_issuer", ["tls_cert_issuer"], None, TLS, false;
    TlsCertSerial => "tls.cert_serial", ["tls_cert_serial"], None, TLS, false;
    TlsCertFingerprint => "tls.cert_fingerprint", ["tls_cert_fingerprint"], None, TLS, false;
    TlsSubjectAltName => "tls.subjectaltname", [], None, TLS, false;
    Ja3Hash => "ja3.hash", ["ja3_hash"], None, None, false;
    Ja3String => "ja3.string", ["ja3_string"], None, None, false;
    Ja3sHash => "ja3s.hash", ["ja3s_hash"], None, None, false;
    Ja3sString => "ja3s.string", ["ja3s_string"], None, None, false;
    Ja4Hash => "ja4.hash", [], None, None, false;
    SshProto => "ssh.proto", ["ssh_proto"], None, Some("ssh"), false;
    SshSoftware => "ssh.software", ["ssh_software"], None, Some("ssh"), false;
    SmbNamedPipe => "smb.named_pipe", [], None, Some("smb"), false;
    SmbShare => "smb.share", [], None, Some("smb"), false;
    SmtpHelo => "smtp.helo", [], None, Some("smtp"), false;
    SmtpMailFrom => "smtp.mail_from", [], None, Some("smtp"), false;
    SmtpRcptTo => "smtp.rcpt_to", [], None, Some("smtp"), false;
    FtpCommand => "ftp.command", [], None, Some("ftp"), false;
    TcpHdr => "tcp.hdr", [], None, None, false;
    UdpHdr => "udp.hdr", [], None, None, false;
    Ipv4Hdr => "ipv4.hdr", [], None, None, false;
    Ipv6Hdr => "ipv6.hdr", [], None, None, false;
    Base64Data => "base64_data", [], None, None, false;
}

/// A transform applied to the current sticky buffer before matching.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transform {
    Dotprefix,
    ToLowercase,
    ToUppercase,
    StripWhitespace,
    CompressWhitespace,
    ToMd5,
    ToSha1,
    ToSha256,
    UrlDecode,
    HeaderLowercase,
    StripPseudoHeaders,
    /// `pcrexform:"regex"`: the first capture replaces the buffer.
    Pcrexform(String),
    /// `xor:"hexkey"`
    Xor(Vec<u8>),
}

const TRANSFORMS: &[&str] = &[
    "dotprefix",
    "to_lowercase",
    "to_uppercase",
    "strip_whitespace",
    "compress_whitespace",
    "to_md5",
    "to_sha1",
    "to_sha256",
    "url_decode",
    "header_lowercase",
    "strip_pseudo_headers",
    "pcrexform",
    "xor",
];

impl Transform {
    pub(crate) fn static_name(name: &str) -> Option<&'static str> {
        TRANSFORMS.iter().find(|t| **t == name).copied()
    }

    /// Parse a transform keyword; `Ok(None)` when `name` is not a transform.
    pub fn from_name(name: &str, value: Option<&str>) -> KwResult<Option<Transform>> {
        let simple = match name {
            "dotprefix" => Transform::Dotprefix,
            "to_lowercase" => Transform::ToLowercase,
            "to_uppercase" => Transform::ToUppercase,
            "strip_whitespace" => Transform::StripWhitespace,
            "compress_whitespace" => Transform::CompressWhitespace,
            "to_md5" => Transform::ToMd5,
            "to_sha1" => Transform::ToSha1,
            "to_sha256" => Transform::ToSha256,
            "url_decode" => Transform::UrlDecode,
            "header_lowercase" => Transform::HeaderLowercase,
            "strip_pseudo_headers" => Transform::StripPseudoHeaders,
            "pcrexform" => {
                let v = super::meta::strip_quotes(super::require(value)?)?.to_string();
                super::pcre::compile_check(&v, "")?;
                return Ok(Some(Transform::Pcrexform(v)));
            }
            "xor" => {
                let v = super::meta::strip_quotes(super::require(value)?)?;
                let key = hex_key(v)?;
                return Ok(Some(Transform::Xor(key)));
            }
            _ => return Ok(None),
        };
        super::no_arg(value)?;
        Ok(Some(simple))
    }

    /// Keyword name.
    pub fn name(&self) -> &'static str {
        match self {
            Transform::Dotprefix => "dotprefix",
            Transform::ToLowercase => "to_lowercase",
            Transform::ToUppercase => "to_uppercase",
            Transform::StripWhitespace => "strip_whitespace",
            Transform::CompressWhitespace => "compress_whitespace",
            Transform::ToMd5 => "to_md5",
            Transform::ToSha1 => "to_sha1",
            Transform::ToSha256 => "to_sha256",
            Transform::UrlDecode => "url_decode",
            Transform::HeaderLowercase => "header_lowercase",
            Transform::StripPseudoHeaders => "strip_pseudo_headers",
            Transform::Pcrexform(_) => "pcrexform",
            Transform::Xor(_) => "xor",
        }
    }
}

fn hex_key(s: &str) -> KwResult<Vec<u8>> {
    if s.is_empty() || s.len() % 2 != 0 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(KwError::bad(
            "xor key must be an even number of hex digits".to_string(),
        ));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&s[i..i + 2], 16)
                .map_err(|_| KwError::bad("xor key must be hex".to_string()))
        })
        .collect()
}

impl fmt::Display for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transform::Pcrexform(p) => {
                write!(f, "pcrexform:\"{p}\"")
            }
            Transform::Xor(k) => {
                f.write_str("xor:\"")?;
                for b in k {
                    write!(f, "{b:02x}")?;
                }
                f.write_str("\"")
            }
            other => f.write_str(other.name()),
        }
    }
}
