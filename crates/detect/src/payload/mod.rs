//! Payload programs: the content/pcre/byte_* options of one rule for one buffer.
