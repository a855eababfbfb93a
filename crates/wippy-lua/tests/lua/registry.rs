//! The read-only `registry` module: entries as `{id, kind, meta, data}`,
//! `find` with Wippy's filter syntax, `parse_id`, and the `registry.get`
//! check that hides entries.

use crate::apps::{ScriptApp, expect};

const INDEX: &str = r#"
version: "1.0"
namespace: app
entries:
  - { name: workers, kind: process.host }
  - name: alpha
    kind: registry.entry
    meta: { type: plugin, tags: [fast, small], version: 2, label: "alpha one" }
    title: Alpha
  - name: beta
    kind: registry.entry
    meta: { type: plugin, tags: [slow], version: 3, label: "beta two" }
    data: { title: Beta }
  - { name: gamma, kind: registry.entry, meta: { type: other } }
  - { name: main, kind: process.lua, source: file://main.lua, method: main, modules: [registry, funcs, security] }
  - { name: guest, kind: function.lua, source: file://guest.lua, method: main, modules: [registry] }
  - name: alpha_only
    kind: security.policy
    policy: { actions: registry.get, resources: "app:alpha", effect: allow }
"#;

const MAIN: &str = r#"
local function ids(list)
    local out = {}
    for i, e in ipairs(list) do out[i] = e.id end
    return table.concat(out, ",")
end
return { main = function()
    local out = {}
    local a = registry.get("app:alpha")
    out.alpha = a.id .. "|" .. a.kind .. "|" .. a.meta.type .. "|" .. a.data.title
    out.beta_data = registry.get("app:beta").data.title
    local main = registry.get("app:main")
    out.main = main.kind .. "|" .. main.data.method .. "|" .. type(main.meta)
    local none, err = registry.get("app:nope")
    out.missing = tostring(none) .. "|" .. err:kind() .. "|" .. tostring(err)
    out.kind = ids(registry.find({ [".kind"] = "registry.entry" }))
    out.meta = ids(registry.find({ ["meta.type"] = "plugin" }))
    out.number = ids(registry.find({ ["meta.version"] = 3 }))
    out.regex = ids(registry.find({ ["~meta.label"] = "^b.*two$" }))
    out.contains = ids(registry.find({ ["*meta.tags"] = "fa", [".kind"] = "registry.*" }))
    out.prefix = ids(registry.find({ ["^meta.label"] = "alp" }))
    out.suffix = ids(registry.find({ ["$meta.label"] = "two" }))
    out.name = ids(registry.find({ [".name"] = "*a", [".ns"] = "app" }))
    out.id = ids(registry.find({ [".id"] = "app:ga*" }))
    out.ignored = tostring(#registry.find({ kind = "nothing" }) == #registry.find({}))
    local _, bad = registry.find({ ["~meta.label"] = "(" })
    out.bad_regex = bad:kind()
    out.raises = tostring((pcall(registry.find, "x")))
    local p = registry.parse_id("a:b:c")
    out.parse = p.ns .. "|" .. p.name
    local q = registry.parse_id("plain")
    out.parse_plain = "[" .. q.ns .. "]|" .. q.name
    local g = funcs.new()
        :with_actor(security.new_actor("guest-1"))
        :with_scope(security.new_scope({ security.policy("app:alpha_only") }))
        :call("app:guest")
    for k, v in pairs(g) do out["guest_" .. k] = v end
    return out
end }
"#;

const GUEST: &str = r#"
return { main = function()
    local found = {}
    for i, e in ipairs(registry.find({ [".kind"] = "registry.entry" })) do found[i] = e.id end
    local _, err = registry.get("app:beta")
    return { found = table.concat(found, ","), beta = err:kind() }
end }
"#;

#[test]
fn registry_reads_entries_and_finds_them_by_filter() {
    let app = ScriptApp::new(INDEX, &[("main.lua", MAIN), ("guest.lua", GUEST)]);
    let out = app.table("app:main");
    expect(
        &out,
        &[
            ("alpha", "app:alpha|registry.entry|plugin|Alpha"),
            ("beta_data", "Beta"),
            ("main", "process.lua|main|table"),
            ("missing", "nil|NotFound|entry not found: app:nope"),
            ("kind", "app:alpha,app:beta,app:gamma"),
            ("meta", "app:alpha,app:beta"),
            ("number", "app:beta"),
            ("regex", "app:beta"),
            ("contains", "app:alpha"),
            ("prefix", "app:alpha"),
            ("suffix", "app:beta"),
            ("name", "app:alpha,app:beta,app:gamma"),
            ("id", "app:gamma"),
            ("ignored", "true"),
            ("bad_regex", "Invalid"),
            ("raises", "false"),
            ("parse", "a|b:c"),
            ("parse_plain", "[]|plain"),
            ("guest_found", "app:alpha"),
            ("guest_beta", "PermissionDenied"),
        ],
    );
}
