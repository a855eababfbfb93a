//! The `payload` global (reference §4, addendum §5): `payload.new`, the
//! format names, a payload object's `data` / `unmarshal` / `get_format` /
//! `transcode` / `tostring`, and a message acting as its own payload
//! object.

use wippy_process::Payload;

use crate::common::*;

#[test]
fn payload_objects_hold_a_value_and_transcode_along_wippys_routes() {
    let r = run(r#"
        local f = payload.format
        local p = payload.new({ n = 1, list = { 1, 2 } })
        local json = p:transcode(f.JSON)
        local back = json:transcode(f.LUA)
        local text = payload.new(42):transcode(f.STRING)
        local e = payload.new(errors.new({ message = "x", kind = errors.CONFLICT }))
        local none, why = e:transcode(f.JSON)
        process.send(process.pid(), "t", { k = "v" })
        local m = process.inbox():receive()
        local via_message = m:payload():transcode(f.JSON)
        return {
            type = type(p), tostring = tostring(p), format = p:get_format(),
            n = p:data().n, list2 = p:unmarshal().list[2],
            -- a JSON payload's data is the decoded value (transcoded to Lua)
            json_format = json:get_format(), json_n = json:data().n,
            back = back:data().list[1], text = text:data(),
            err_format = e:get_format(), err_kind = e:data():kind(),
            none = tostring(none), why = why:kind() .. "|" .. tostring(why),
            formats = f.JSON .. "," .. f.YAML .. "," .. f.STRING .. "," .. f.GOLANG .. ","
                .. f.LUA .. "," .. f.BYTES .. "," .. f.MSGPACK .. "," .. f.ERROR,
            nil_payload = payload.new(nil):data() == nil,
            msg_format = m:payload():get_format(), msg_json = via_message:data().k,
            msg_unmarshal = m:payload():unmarshal().k,
        }
    "#);
    assert_eq!(text(&r, "type"), "userdata");
    assert_eq!(text(&r, "tostring"), "payload{format=lua/any}");
    assert_eq!(text(&r, "format"), "lua/any");
    assert_eq!(r.get("n"), Some(&Payload::Int(1)));
    assert_eq!(r.get("list2"), Some(&Payload::Int(2)));
    assert_eq!(text(&r, "json_format"), "json/plain");
    assert_eq!(r.get("json_n"), Some(&Payload::Int(1)));
    assert_eq!(r.get("back"), Some(&Payload::Int(1)));
    assert_eq!(text(&r, "text"), "42");
    assert_eq!(text(&r, "err_format"), "golang/error");
    assert_eq!(text(&r, "err_kind"), "Conflict");
    assert_eq!(text(&r, "none"), "nil");
    assert_eq!(
        text(&r, "why"),
        "Internal|no transcoding route from golang/error to json/plain"
    );
    assert_eq!(
        text(&r, "formats"),
        "json/plain,yaml/plain,text/plain,golang/any,lua/any,application/octet-stream,application/msgpack,golang/error"
    );
    assert_eq!(r.get("nil_payload"), Some(&Payload::Bool(true)));
    assert_eq!(text(&r, "msg_format"), "lua/any");
    assert_eq!(text(&r, "msg_json"), "v");
    assert_eq!(text(&r, "msg_unmarshal"), "v");
}
