//! A module written as Wippy apps are (go-lua's dialect throughout) runs on Luau after
//! translation and computes what go-lua computes; a runtime error in it names the user's
//! line.

const MODULE: &str = r#"-- A registry of tasks, in go-lua's dialect.
type Priority = "low" | "high"

type Task = {
    id: string,
    flags: integer @min(0),
    tags?: string[],
    priority?: Priority,
    on_done?: fun(task: Task): boolean,
}

interface Named
    function name(self): string
end

local FLAG_URGENT = 1 << 0
local FLAG_BLOCKED = 1 << 1
local FLAG_DONE = 1 << 2

local function has(flags: integer, flag: integer): boolean
    return flags & flag ~= 0
end

local function ready(tasks: Task[]): Task[], integer
    local out: Task[] = {}
    local skipped = 0
    for _, task in ipairs(tasks) do
        if has(task.flags, FLAG_BLOCKED | FLAG_DONE) then
            skipped = skipped + 1
            goto continue
        end
        table.insert(out, task as Task)
        ::continue::
    end
    return out, skipped
end

local function first_urgent<T: Task>(tasks: T[]): T?
    local found: T? = nil
    for _, task in ipairs(tasks) do
        if task.flags & FLAG_URGENT ~= 0 then
            found = task
            goto done
        end
    end
    ::done::
    return found
end

local tasks: Task[] = {
    { id = "a", flags = FLAG_URGENT },
    { id = "b", flags = FLAG_BLOCKED },
    { id = "c", flags = FLAG_URGENT | FLAG_DONE },
    { id = "d", flags = 0, tags = { "x" } },
}
local open, skipped = ready(tasks)
local urgent = first_urgent(open)!
local mask = ~FLAG_DONE & 0xFF
local shifted = 0xF0 >> 4 ~ 0x3
return #open, skipped, urgent.id, mask, shifted, 7 // 2
"#;

#[test]
fn a_typed_module_runs_on_luau_as_on_go_lua() {
    let luau = wippy_dialect::translate(MODULE).expect("translates");
    assert_eq!(luau.lines().count(), MODULE.lines().count());
    let lua = mlua::Lua::new();
    let (open, skipped, urgent, mask, shifted, half): (i64, i64, String, i64, i64, i64) = lua
        .load(luau.as_ref())
        .eval()
        .unwrap_or_else(|e| panic!("{luau}\n{e}"));
    // a and d are open; b is blocked and c done.
    assert_eq!((open, skipped), (2, 2));
    assert_eq!(urgent, "a");
    // ~4 & 0xFF = 0xFB on both; 0xF0 >> 4 ~ 3: shifts bind tighter than xor.
    assert_eq!((mask, shifted, half), (0xFB, 0x0C, 3));
}

#[test]
fn runtime_errors_in_translated_code_name_the_users_line() {
    let source = "local t: {x?: number} = {}\nlocal n = t.x! & 1\n";
    let luau = wippy_dialect::translate(source).expect("translates");
    let lua = mlua::Lua::new();
    let err = lua
        .load(luau.as_ref())
        .set_name("@app.lua")
        .exec()
        .expect_err("nil & 1 fails");
    assert!(err.to_string().contains("app.lua:2:"), "{err}");
}
