//! The `base64` and `hash` modules: known vectors, raw output, and
//! Invalid errors for arguments that are not strings.

use crate::apps::{ScriptApp, expect};

const INDEX: &str = r##"
version: "1.0"
namespace: app
entries:
  - { name: workers, kind: process.host }
  - { name: main, kind: process.lua, source: file://main.lua, method: main, modules: [base64, hash] }
"##;

const MAIN: &str = r##"
local base64 = require("base64")
local hash = require("hash")
local function r(v, err)
    if err then return err:kind() .. "|" .. tostring(err) end
    return v
end
return { main = function()
    local out = {}
    out.b64 = base64.encode("hello")
    out.b64_empty = base64.encode("")
    out.b64_back = base64.decode("aGVsbG8=")
    out.b64_bad = r(base64.decode("aGVs*G8="))
    out.b64_number = r(base64.encode(42))
    out.b64_count = select("#", base64.encode("x"))
    out.md5 = hash.md5("hello")
    out.sha1 = hash.sha1("abc")
    out.sha256 = hash.sha256("abc")
    out.sha512 = hash.sha512("abc"):sub(1, 16)
    out.raw_len = #hash.sha256("abc", true)
    out.hmac = hash.hmac_sha256("The quick brown fox jumps over the lazy dog", "key")
    out.hmac_md5 = hash.hmac_md5("The quick brown fox jumps over the lazy dog", "key")
    out.fnv32 = string.format("%d", hash.fnv32("hello"))
    out.fnv64_a = string.format("%x", hash.fnv64("a") // 65536)
    out.hash_count = select("#", hash.md5("x"))
    out.hash_bad = r(hash.md5({}))
    out.hmac_bad = r(hash.hmac_sha1("x", 1))
    return out
end }
"##;

#[test]
fn codecs_give_known_vectors_and_invalid_errors() {
    let app = ScriptApp::new(INDEX, &[("main.lua", MAIN)]);
    let out = app.table("app:main");
    expect(
        &out,
        &[
            ("b64", "aGVsbG8="),
            ("b64_empty", ""),
            ("b64_back", "hello"),
            ("b64_bad", "Invalid|illegal base64 data at input byte 4"),
            ("b64_number", "Invalid|string expected"),
            ("b64_count", "Int(1)"),
            ("md5", "5d41402abc4b2a76b9719d911017c592"),
            ("sha1", "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (
                "sha256",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            ("sha512", "ddaf35a193617aba"),
            ("raw_len", "Int(32)"),
            (
                "hmac",
                "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8",
            ),
            ("hmac_md5", "80070713463e7749b90c2dc24911e275"),
            ("fnv32", "3069866343"),
            // FNV-1 of "a" is 0xaf63bd4c8601b7be; a double keeps its top 53
            // bits, so compare above the low 16.
            ("fnv64_a", "af63bd4c8601"),
            ("hash_count", "Int(2)"),
            ("hash_bad", "Invalid|data must be a string, got table"),
            ("hmac_bad", "Invalid|secret must be a string, got number"),
        ],
    );
}
