//! The `channel` global: Go-style channels between the coroutines of one
//! process, and `select` over them (written in Lua, in the prelude).

use super::Exports;

/// Lists `channel.*` and the sentinel the prelude's channel buffers use.
pub(crate) fn register(m: &mut Exports<'_>) -> mlua::Result<()> {
    m.prelude_as("new", "channel_new");
    m.prelude_as("select", "channel_select");
    // Stands for nil inside channel buffers: a frozen table no process can
    // make or send.
    let nil = m.lua().create_table()?;
    nil.set_readonly(true);
    m.for_prelude("nil_sentinel", nil)
}
