//! Prints how fast plain Luau runs a numeric loop through mlua, as a
//! reference for the interpreter speed inside wippy's shards.
fn main() -> mlua::Result<()> {
    let lua = mlua::Lua::new();
    let f: mlua::Function = lua
        .load(
            "return function() local t=os.clock() local x=0 for i=1,1e7 do x = x + i % 7 end return (os.clock()-t)/1e7*1e9 end",
        )
        .eval()?;
    println!("plain: {:.1} ns/iter", f.call::<f64>(())?);
    lua.sandbox(true)?;
    let g: mlua::Function = lua
        .load(
            "return function() local t=os.clock() local x=0 for i=1,1e7 do x = x + i % 7 end return (os.clock()-t)/1e7*1e9 end",
        )
        .eval()?;
    println!("sandboxed: {:.1} ns/iter", g.call::<f64>(())?);
    Ok(())
}
