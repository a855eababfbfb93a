//! The `env` module over the app's `env.*` entries: lookups by name,
//! caller namespace and id, defaults, writes, read-only variables and
//! storages, `get_all`, and the `env.get` / `env.set` checks.

use crate::apps::{ScriptApp, expect};

const INDEX: &str = r#"
version: "1.0"
namespace: app
entries:
  - { name: workers, kind: process.host }
  - { name: mem, kind: env.storage.memory }
  - { name: fixed, kind: env.storage.static, values: { REGION: eu, EMPTY: "" } }
  - { name: both, kind: env.storage.router, storages: [app:mem, app:fixed] }
  - { name: region, kind: env.variable, variable: REGION, storage: app:both }
  - { name: empty, kind: env.variable, variable: EMPTY, storage: app:fixed, default: fallback }
  - { name: token, kind: env.variable, storage: app:mem }
  - { name: locked, kind: env.variable, variable: LOCKED, storage: app:mem, readonly: true }
  - { name: frozen, kind: env.variable, variable: FROZEN, storage: app:fixed }
  - { name: main, kind: process.lua, source: file://main.lua, method: main, modules: [env, funcs, security] }
  - { name: guest, kind: function.lua, source: file://guest.lua, method: main, modules: [env] }
  - name: region_only
    kind: security.policy
    policy: { actions: env.get, resources: REGION, effect: allow }
"#;

const MAIN: &str = r#"
local function r(v, err)
    if err then return err:kind() .. "|" .. tostring(err) end
    return tostring(v)
end
return { main = function()
    local out = {}
    out.region = r(env.get("REGION"))
    out.by_entry = r(env.get("region"))
    out.by_id = r(env.get("app:region"))
    out.default = r(env.get("EMPTY"))
    out.missing = r(env.get("NOPE"))
    out.empty_key = r(env.get(""))
    out.unset = r(env.get("token"))
    out.set = r(env.set("token", "abc"))
    out.after_set = r(env.get("token"))
    out.number = r(env.set("token", 42)) .. "|" .. r(env.get("token"))
    out.override = r(env.set("REGION", "us")) .. "|" .. r(env.get("REGION"))
    out.locked = r(env.set("LOCKED", "x"))
    out.frozen = r(env.set("FROZEN", "x"))
    local all = env.get_all()
    out.all = tostring(all.REGION) .. "|" .. tostring(all["app:token"])
    out.raises = tostring((pcall(env.get, {})))
    local g = funcs.new()
        :with_actor(security.new_actor("guest-1"))
        :with_scope(security.new_scope({ security.policy("app:region_only") }))
        :call("app:guest")
    for k, v in pairs(g) do out["guest_" .. k] = v end
    return out
end }
"#;

const GUEST: &str = r#"
return { main = function()
    local _, err = env.get("EMPTY")
    local all = env.get_all()
    local keys = {}
    for k in pairs(all) do keys[#keys + 1] = k end
    table.sort(keys)
    return {
        region = tostring(env.get("REGION")),
        denied = err:kind(),
        set = select(2, env.set("REGION", "x")):kind(),
        all = table.concat(keys, ","),
    }
end }
"#;

#[test]
fn env_reads_and_writes_the_apps_variables() {
    let app = ScriptApp::new(INDEX, &[("main.lua", MAIN), ("guest.lua", GUEST)]);
    let out = app.table("app:main");
    expect(
        &out,
        &[
            ("region", "eu"),
            ("by_entry", "eu"),
            ("by_id", "eu"),
            ("default", "fallback"),
            ("missing", "NotFound|environment variable not found: NOPE"),
            ("empty_key", "Invalid|empty key"),
            ("unset", "NotFound|environment variable not found: token"),
            ("set", "true"),
            ("after_set", "abc"),
            ("number", "true|42"),
            // a router writes its first storage and reads it first
            ("override", "true|us"),
            (
                "locked",
                "PermissionDenied|environment variable is read-only: LOCKED",
            ),
            ("frozen", "PermissionDenied|storage is read-only: app:fixed"),
            ("all", "us|42"),
            ("raises", "false"),
            ("guest_region", "us"),
            ("guest_denied", "PermissionDenied"),
            ("guest_set", "PermissionDenied"),
            ("guest_all", "REGION"),
        ],
    );
}
