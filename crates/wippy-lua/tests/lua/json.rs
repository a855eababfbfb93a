//! The `json` module as Wippy has it: encoding by the keys a table has,
//! integers written as integers, error objects with Wippy's kinds and
//! messages, `null` holes, and schema validation.

use crate::apps::{ScriptApp, expect};

const INDEX: &str = r#"
version: "1.0"
namespace: app
entries:
  - { name: workers, kind: process.host }
  - { name: main, kind: process.lua, source: file://main.lua, method: main, modules: [json] }
"#;

const MAIN: &str = r#"
local json = require("json")
local function e(v)
    local s, err = json.encode(v)
    if s then return s end
    return err:kind() .. "|" .. tostring(err:retryable()) .. "|" .. tostring(err)
end
local function d(s)
    local v, err = json.decode(s)
    if err then return err:kind() .. "|" .. tostring(err:retryable()) .. "|" .. tostring(err) end
    return v
end
local function v(ok, err)
    if ok then return tostring(ok) end
    return tostring(ok) .. "|" .. err:kind() .. "|" .. tostring(err)
end
return { main = function()
    local out = {}
    out.empty = e({})
    out.ints = e({1, 2.0, 3.5, -0})
    out.object = e({b = {x = true}, a = "s"})
    out.html = e({"a<b", "a<b\n"})
    out.null = e(nil)
    out.nan = e({0/0})
    out.sparse = e({[1] = "a", [3] = "c"})
    out.mixed = e({1, x = 2})
    local cyc = {} cyc.me = cyc
    out.cycle = e(cyc)
    local deep = {} for _ = 1, 200 do deep = {deep} end
    out.deep = e(deep)
    out.fn = e({f = print})
    out.err = e({e = errors.new("boom")})
    out.empty_text = d("")
    out.not_text = d(42)
    out.malformed = d("{")
    local holes = d("[1, null, 3]")
    out.holes = tostring(holes[1]) .. "," .. tostring(holes[2]) .. "," .. tostring(holes[3])
    out.omitted = tostring(d('{"a": null, "b": 1}').a)
    out.number = tostring(d("42")) .. "|" .. tostring(d("2.5"))
    local schema = { type = "object", properties = { name = { type = "string" } }, required = { "name" } }
    out.valid = v(json.validate(schema, { name = "x" }))
    out.missing = v(json.validate(schema, { age = 1 }))
    out.no_data = v(json.validate(schema, nil))
    out.no_schema = v(json.validate(nil, { name = "x" }))
    out.text_schema = v(json.validate('{"type": "string"}', "x"))
    out.vs_ok = v(json.validate_string(schema, '{"name": "y"}'))
    out.vs_bad = v(json.validate_string(schema, '{"name": 1}'))
    out.vs_not_text = v(json.validate_string(schema, { name = "y" }))
    return out
end }
"#;

#[test]
fn json_follows_wippys_rules() {
    let app = ScriptApp::new(INDEX, &[("main.lua", MAIN)]);
    let out = app.table("app:main");
    expect(
        &out,
        &[
            ("empty", "[]"),
            ("ints", "[1,2,3.5,0]"),
            ("object", r#"{"a":"s","b":{"x":true}}"#),
            ("html", r#"["a<b","a\u003cb\n"]"#),
            ("null", "null"),
            ("nan", "[null]"),
            (
                "sparse",
                "Internal|false|cannot encode sparse array: non-contiguous numeric keys found",
            ),
            (
                "mixed",
                "Internal|false|cannot encode mixed-key table: table has both numeric and non-numeric keys",
            ),
            (
                "cycle",
                "Internal|false|cannot encode recursively nested tables to JSON",
            ),
            (
                "deep",
                "Internal|false|exceeded maximum nesting depth for JSON encoding",
            ),
            ("fn", r#"{"f":null}"#),
            ("err", r#"{"e":"boom"}"#),
            ("empty_text", "Invalid|false|empty string is not valid JSON"),
            ("not_text", "Invalid|false|string expected"),
            ("holes", "1,nil,3"),
            ("omitted", "nil"),
            ("number", "42|2.5"),
            ("valid", "true"),
            ("no_data", "false|Invalid|data is required"),
            ("no_schema", "false|Invalid|schema is required"),
            ("text_schema", "true"),
            ("vs_ok", "true"),
            ("vs_not_text", "false|Invalid|data must be a JSON string"),
        ],
    );
    let text = |k: &str| crate::apps::text(&out, k);
    assert!(text("malformed").starts_with("Internal|false|"), "{out:?}");
    let missing = text("missing");
    assert!(
        missing.starts_with("false|Invalid|validation failed: ") && missing.contains("name"),
        "{missing}"
    );
    let vs_bad = text("vs_bad");
    assert!(
        vs_bad.starts_with("false|Invalid|validation failed: /name: "),
        "{vs_bad}"
    );
}
