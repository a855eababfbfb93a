//! Tables as close to Wippy's as Luau can hold them
//! (`docs/differences-from-wippy.md`): a store under a nil key is accepted
//! and the value dropped (Wippy's Lua keeps it under the nil key; a Luau
//! table cannot hold one), reading `t[nil]` gives nil, NaN keys still
//! raise, and every other key stores as before. The change is in the
//! vendored Luau VM (`vendor/luau0-src/WIPPY-PATCH.md`).

use crate::common::*;

#[test]
fn a_store_under_a_nil_key_is_accepted_and_dropped() {
    let r = run(r#"
        local out = {}
        local t = { a = 1 }
        t[nil] = 1
        out.read = tostring(t[nil]) .. "|" .. tostring(rawget(t, nil))
        -- the shape of Wippy's funcs suite: an undefined global as index
        local results = {}
        for _, v in ipairs({ "x", "y" }) do
            results[undefined_index] = v
        end
        out.results_next = tostring(next(results))
        -- in a constructor, too
        local c = { [nil] = 5, b = 2 }
        out.constructor = tostring(c[nil]) .. "|" .. tostring(c.b)
        -- a collectable value (the GC barrier path) and an empty table
        -- whose first store is the nil key
        local e = {}
        e[nil] = { big = string.rep("x", 100) }
        out.empty_next = tostring(next(e))
        local n = 0
        for _ in pairs(t) do n = n + 1 end
        out.t_keys = n
        out.t_a = t.a
        return out
    "#);
    assert_eq!(text(&r, "read"), "nil|nil", "{r:?}");
    assert_eq!(text(&r, "results_next"), "nil", "{r:?}");
    assert_eq!(text(&r, "constructor"), "nil|2", "{r:?}");
    assert_eq!(text(&r, "empty_next"), "nil", "{r:?}");
    assert_eq!(int(&r, "t_keys"), 1, "only `a` is in t: {r:?}");
    assert_eq!(int(&r, "t_a"), 1, "{r:?}");
}

#[test]
fn rawset_with_a_nil_key_is_accepted_and_returns_the_table() {
    // Wippy's rawset stores under the nil key; here the value is dropped.
    let r = run(r#"
        local t = {}
        local ok, back = pcall(rawset, t, nil, 1)
        -- the call in a statement (Luau's fast path for rawset)
        rawset(t, nil, 2)
        return { ok = tostring(ok), same = tostring(back == t),
                 read = tostring(t[nil]), next = tostring(next(t)) }
    "#);
    assert_eq!(text(&r, "ok"), "true", "{r:?}");
    assert_eq!(text(&r, "same"), "true", "{r:?}");
    assert_eq!(text(&r, "read"), "nil", "{r:?}");
    assert_eq!(text(&r, "next"), "nil", "{r:?}");
}

#[test]
fn a_nan_key_still_raises() {
    let r = run(r#"
        local t = {}
        local nan = 0 / 0
        local ok, err = pcall(function() t[nan] = 1 end)
        local raw_ok, raw_err = pcall(rawset, t, nan, 1)
        return { set = tostring(ok) .. "|" .. tostring(err),
                 raw = tostring(raw_ok) .. "|" .. tostring(raw_err),
                 next = tostring(next(t)) }
    "#);
    let set = text(&r, "set");
    assert!(
        set.starts_with("false|") && set.ends_with("table index is NaN"),
        "{r:?}"
    );
    let raw = text(&r, "raw");
    assert!(
        raw.starts_with("false|") && raw.ends_with("table index is NaN"),
        "{r:?}"
    );
    assert_eq!(text(&r, "next"), "nil", "{r:?}");
}

#[test]
fn every_other_key_stores_as_before() {
    // Enough keys of each kind to grow (rehash) the array and the hash part
    // with nil-key stores in between.
    let r = run(r#"
        local t = {}
        local key_table, key_fn = {}, function() end
        for i = 1, 200 do
            t[i] = i
            t["k" .. i] = i
            t[i + 0.5] = i
            t[nil] = i
        end
        t[true] = "yes"
        t[key_table] = "table"
        t[key_fn] = "function"
        local n = 0
        for _ in pairs(t) do n = n + 1 end
        local len = #t
        t[1] = nil
        return { len = len, keys = n, s = t.k200, f = t[3.5],
                 b = t[true], kt = t[key_table], kf = t[key_fn],
                 removed = tostring(t[1]) }
    "#);
    assert_eq!(int(&r, "len"), 200, "{r:?}");
    assert_eq!(int(&r, "keys"), 603, "{r:?}");
    assert_eq!(int(&r, "s"), 200, "{r:?}");
    assert_eq!(int(&r, "f"), 3, "{r:?}");
    assert_eq!(text(&r, "b"), "yes", "{r:?}");
    assert_eq!(text(&r, "kt"), "table", "{r:?}");
    assert_eq!(text(&r, "kf"), "function", "{r:?}");
    assert_eq!(text(&r, "removed"), "nil", "{r:?}");
}
