-- The Lua half of a process: managed coroutines, channels, select, the
-- routing of messages/events/completions into channels, and every call that
-- blocks. Loaded once per VM shard, before the sandbox freezes the globals;
-- its locals are invisible to process code.
--
-- Invariants:
-- * `P` is the state table of the process whose thread is running. A site
--   that yields IDLE restores it from its own local when resumed (a process
--   is resumed only in its own thread); after a preemption, which can yield
--   anywhere, Rust calls `set_current` before resuming.
-- * A waiter `w` is woken at most once (`w.done`); waking pushes its
--   coroutine on `P.ready`. A process's main thread runs the ready
--   coroutines itself while it waits (`block`); when nothing is ready it
--   yields IDLE to Rust, which parks the process until something arrives.
-- * Channels belong to one process: only that process's coroutines touch them.
local rt = ...

local co_create, co_resume, co_yield, co_running, co_status =
    coroutine.create, coroutine.resume, coroutine.yield, coroutine.running, coroutine.status
local setmetatable, type, error, tostring, traceback, select =
    setmetatable, type, error, tostring, debug.traceback, select

local IDLE, UPGRADE, PREEMPT = rt.idle_token, rt.upgrade_token, rt.preempt_token
local rt_error = rt.error -- rt.error(kind, message): an error object
local BLOCKED = {} -- a managed coroutine waits (yielded to its process's main loop)
local NIL = rt.nil_sentinel -- stands for nil inside channel buffers

local P -- the running process's state

-- Bits of `P.f`: one key, always present, that the inbox's fast path reads
-- instead of three that are mostly absent (reading an absent key takes the
-- interpreter's slow path: a full hash lookup and a metatable check).
local F_SIG = 1 -- signal sources exist (events, ops, calls): pump them
local F_LISTEN = 2 -- `P.listeners` is set
local F_COS = 4 -- `P.cos` is set (managed coroutines)
local bor, band, bnot = bit32.bor, bit32.band, bit32.bnot

local M = {}

function M.set_current(p)
    P = p
end

local function wake(w, value, ok, case)
    if w.done then
        return
    end
    w.done = true
    w.value = value
    w.ok = ok
    w.case = case
    local p = P
    local r = p.ready
    if not r then
        r = { h = 1, t = 0 }
        p.ready = r
    end
    local t = r.t + 1
    r.t = t
    r[t] = w.co
end

local pump, pump_signals
local rt_take, rt_recv, rt_event, rt_completion = rt.take, rt.recv, rt.event, rt.completion

local UNMANAGED = "blocking call in a coroutine the runtime does not manage; start it with coroutine.spawn"

-- Whether coroutine `co` of process `p` (not its main one) is managed
-- (started with coroutine.spawn), so that it may block.
local function managed(p, co)
    local cos = p.cos
    return cos ~= nil and cos[co] == true
end

-- Raises (at `level` above the caller) if the running coroutine may not
-- block: for operations that start something before they wait (a timer, a
-- read, a function call), which must not start at all then.
local function must_be_managed(level)
    local p = P
    local me = co_running()
    if me ~= p.main and not managed(p, me) then
        error(UNMANAGED, level + 1)
    end
end

-- Suspends the calling coroutine until `w` is woken. In a coroutine the
-- runtime does not manage it raises instead, and `w` is marked done so that
-- nothing that queued it delivers to it.
local function block(w)
    local p = P
    local me = co_running()
    if me ~= p.main then
        if not managed(p, me) then
            -- Whatever queued `w` gives up: no sender or timer may hand it
            -- a value (which would be lost) or resume this coroutine.
            w.done = true
            error(UNMANAGED, 3)
        end
        co_yield(BLOCKED)
        return
    end
    -- Invariant: before yielding IDLE the process has pumped since it was
    -- last resumed. The runtime parks an IDLE process unless something
    -- arrived *during* the step, so news that arrived before it (while the
    -- process was queued after a preemption) must be picked up here, or it
    -- would sit in the mailbox of a parked process.
    local fresh = true
    while not w.done do
        local r = p.ready
        local c = nil
        if r then
            local h = r.h
            if h <= r.t then
                c = r[h]
                r[h] = nil
                if h == r.t then
                    r.h, r.t = 1, 0 -- drained: reuse the array part from 1
                else
                    r.h = h + 1
                end
            end
        end
        if c == nil then
            if fresh then
                fresh = false
                pump(p)
            else
                co_yield(IDLE)
                P = p
                pump(p)
            end
        elseif c ~= me then
            local ok, err = co_resume(c)
            P = p
            if not ok then
                error(traceback(c, "coroutine failed: " .. tostring(err)), 0)
            elseif co_status(c) == "dead" then
                p.cos[c] = nil
            elseif err ~= BLOCKED then
                -- preempted inside the coroutine: run it again later, and
                -- give the worker up
                local rr = p.ready
                local t = rr.t + 1
                rr.t = t
                rr[t] = c
                co_yield()
                P = p
                fresh = true
            end
        end
    end
end

---------------------------------------------------------------- queues
local function q_push(q, x)
    local t = q.t + 1
    q.t = t
    q[t] = x
end

local function q_pop(q)
    while true do
        local h = q.h
        if h > q.t then
            q.h, q.t = 1, 0
            return nil
        end
        local x = q[h]
        q[h] = nil
        q.h = h + 1
        if not x.w.done then
            return x
        end
    end
end

-- drops the entries of waiter `w` (a finished select) from `q`
local function q_purge(q, w)
    local j = q.h
    for i = q.h, q.t do
        local x = q[i]
        q[i] = nil
        if x.w ~= w and not x.w.done then
            q[j] = x
            j = j + 1
        end
    end
    q.t = j - 1
end

---------------------------------------------------------------- channels
local Chan = {}
Chan.__index = Chan
Chan.__metatable = "channel"
Chan.__wippy = "channel"

local function buf_put(ch, v)
    if v == nil then
        v = NIL
    end
    ch[ch.bh + ch.n] = v
    ch.n = ch.n + 1
end

local function buf_take(ch)
    local h = ch.bh
    local v = ch[h]
    ch[h] = nil
    local n = ch.n - 1
    ch.n = n
    ch.bh = n == 0 and 1 or h + 1
    if v == NIL then
        return nil
    end
    return v
end

local function new_channel(size)
    -- `closed` is present from the start: a missing key on a table with a
    -- metatable takes the interpreter's slow path (four keys still fit the
    -- smallest hash part).
    return setmetatable({ cap = size, n = 0, bh = 1, closed = false }, Chan)
end

-- returns true, value, ok when a receive can complete now
local function try_recv(ch)
    if ch.n > 0 then
        local v = buf_take(ch)
        local sq = ch.sq
        if sq then
            local e = q_pop(sq)
            if e then
                buf_put(ch, e.v)
                wake(e.w, nil, true, e.case)
            end
        end
        return true, v, true
    end
    local sq = ch.sq
    if sq then
        local e = q_pop(sq)
        if e then
            wake(e.w, nil, true, e.case)
            return true, e.v, true
        end
    end
    if ch.closed then
        return true, nil, false
    end
    return false
end

-- true when a send completed now
local function try_send(ch, v)
    local rq = ch.rq
    if rq then
        local e = q_pop(rq)
        if e then
            wake(e.w, v, true, e.case)
            return true
        end
    end
    if ch.n < ch.cap then
        buf_put(ch, v)
        return true
    end
    return false
end

-- delivers `v` into a runtime-fed channel (inbox, events, timers): never blocks
local function feed(ch, v)
    if ch.closed then
        return
    end
    if not try_send(ch, v) then
        buf_put(ch, v)
    end
end

local function check_chan(ch, what)
    if getmetatable(ch) ~= "channel" then
        error(what .. ": expected a channel, got " .. type(ch), 3)
    end
end

function Chan:receive()
    local p = P
    if self == p.inbox then
        if self.n == 0 and p.f < F_LISTEN and not self.closed then
            -- Fast path: nothing is buffered and nothing routes messages,
            -- so the next message in the mailbox is the one to return. Only
            -- the main coroutine waits here (nothing else is managed), so it
            -- waits for news from Rust directly: no waiter, no queues.
            while true do
                -- rt_recv parks the process itself (an IDLE yield) when the
                -- mailbox is empty and nothing else needs pumping; resumed,
                -- it returns nothing and the loop looks again.
                local m = rt_recv(p.f == 0)
                if m then
                    P = p -- it may have parked (and returned resumed)
                    return m, true
                elseif m == false then
                    -- Not parked: the rest of a pump first (see the
                    -- invariant in `block`: pump before yielding IDLE).
                    if band(p.f, F_SIG) ~= 0 then
                        pump_signals(p)
                        local r = p.ready
                        if p.cos ~= nil or (r and r.h <= r.t) then
                            break -- timers/ops woke something: take the general path
                        end
                    end
                    if co_running() ~= p.main then
                        break -- an unmanaged coroutine: `block` reports it
                    end
                    co_yield(IDLE)
                end
                P = p
            end
        end
    else
        check_chan(self, "receive")
    end
    local ready, v, ok = try_recv(self)
    if ready then
        return v, ok
    end
    local w = { co = co_running(), w = false, done = false, value = false, ok = false, case = false }
    w.w = w
    local rq = self.rq
    if not rq then
        rq = { h = 1, t = 0 }
        self.rq = rq
    end
    q_push(rq, w)
    block(w)
    return w.value, w.ok
end

function Chan:send(v)
    check_chan(self, "send")
    if self.closed then
        error("send on closed channel", 2)
    end
    if try_send(self, v) then
        return true
    end
    local w = { co = co_running(), v = v, w = false, done = false, value = false, ok = false, case = false }
    w.w = w
    local sq = self.sq
    if not sq then
        sq = { h = 1, t = 0 }
        self.sq = sq
    end
    q_push(sq, w)
    block(w)
    if w.ok == false then
        -- closed while this sender waited: Wippy's sender resumes with an
        -- error rather than raising
        return nil, rt_error("", "send on closed channel")
    end
    return true
end

-- closing a closed channel does nothing (Wippy's)
function Chan:close()
    check_chan(self, "close")
    if self.closed then
        return
    end
    self.closed = true
    local rq = self.rq
    if rq then
        while true do
            local e = q_pop(rq)
            if not e then
                break
            end
            wake(e.w, nil, false, e.case)
        end
    end
    local sq = self.sq
    if sq then
        while true do
            local e = q_pop(sq)
            if not e then
                break
            end
            wake(e.w, nil, false, e.case)
        end
    end
end

function Chan:case_receive()
    return { ch = self, recv = true }
end

function Chan:case_send(v)
    return { ch = self, recv = false, v = v }
end

local channel = {}

-- channel.new(size?): unbuffered by default; a negative size is 0
function channel.new(size)
    if size == nil then
        size = 0
    end
    if type(size) ~= "number" or size % 1 ~= 0 then
        error("channel.new: size must be an integer", 2)
    end
    if size < 0 then
        size = 0
    end
    return new_channel(size)
end

-- Whether entry `c` of a select's cases is a channel case.
local function is_case(c)
    return type(c) == "table" and getmetatable(c.ch) == "channel"
end

-- channel.select(cases, default?): the first ready case in array order;
-- entries that are not channel cases are ignored; with `cases.default =
-- true` or `default == true` it does not block. A send case on a closed
-- channel is never chosen.
function channel.select(cases, default)
    if type(cases) ~= "table" then
        error("channel.select: expected a table of cases", 2)
    end
    local n = #cases
    local nonblocking = cases.default == true or default == true
    if nonblocking then
        -- about to answer "nothing is ready" without blocking: look at the
        -- mailbox first
        pump(P)
    end
    local waitable = 0
    for i = 1, n do
        local c = cases[i]
        if is_case(c) then
            local ch = c.ch
            if c.recv then
                waitable = waitable + 1
                local ready, v, ok = try_recv(ch)
                if ready then
                    return { channel = ch, value = v, ok = ok }
                end
            elseif not ch.closed then
                waitable = waitable + 1
                if try_send(ch, c.v) then
                    return { channel = ch, value = c.v, ok = true }
                end
            end
        end
    end
    if nonblocking then
        return { default = true, ok = true }
    end
    if waitable == 0 then
        error("channel.select: no cases that can ever be ready, and no default", 2)
    end
    local w = { co = co_running(), done = false, value = false, ok = false, case = false }
    for i = 1, n do
        local c = cases[i]
        if not is_case(c) or (not c.recv and c.ch.closed) then
            continue
        end
        local ch = c.ch
        local key = c.recv and "rq" or "sq"
        local q = ch[key]
        if not q then
            q = { h = 1, t = 0 }
            ch[key] = q
        end
        q_push(q, { w = w, v = c.v, case = i })
    end
    block(w)
    for i = 1, n do
        local c = cases[i]
        if is_case(c) then
            local q = c.ch[c.recv and "rq" or "sq"]
            if q then
                q_purge(q, w)
            end
        end
    end
    local c = cases[w.case]
    if not c.recv then
        if w.ok == false then
            error("send on closed channel", 2)
        end
        return { channel = c.ch, value = c.v, ok = true }
    end
    return { channel = c.ch, value = w.value, ok = w.ok }
end

M.channel_new, M.channel_select = channel.new, channel.select

---------------------------------------------------------------- coroutines
function M.spawn_coroutine(fn)
    if type(fn) ~= "function" then
        error("coroutine.spawn: expected a function, got " .. type(fn), 2)
    end
    local p = P
    local co = co_create(fn)
    local cos = p.cos
    if not cos then
        cos = {}
        p.cos = cos
        p.f = bor(p.f, F_COS)
    end
    cos[co] = true
    local r = p.ready
    if not r then
        r = { h = 1, t = 0 }
        p.ready = r
    end
    q_push(r, co)
    return co
end

-- Preemption of coroutines. The interrupt yields a coroutine that is not
-- a process's main thread with PREEMPT (see ffi/interrupt.rs). Its resumer
-- passes the preemption up: a managed coroutine's resumer is `block`
-- (which requeues it); a manual one's is coroutine.resume/wrap, replaced
-- by these, which yield their own thread the same way and, once resumed,
-- resume the coroutine where it stopped. User code never sees PREEMPT.
local co_isyieldable, t_pack, t_unpack_ = coroutine.isyieldable, table.pack, table.unpack

local function pass_preemption()
    if not co_isyieldable() then
        return -- inside a metamethod or callback: carry on (the hard limit applies)
    end
    local p = P
    if co_running() == p.main then
        co_yield() -- to Rust, as the interrupt would (Rust restores P)
    else
        co_yield(PREEMPT) -- to this coroutine's own resumer
    end
    P = p
end

---------------------------------------------------------------- errors
-- An error raised by a Rust native reaches Lua as mlua's error object
-- (userdata, `typeof` "error"), whose text is "runtime error: <message>"
-- plus a traceback. Where Lua code catches errors (pcall, xpcall's handler,
-- coroutine.resume/wrap) it gets the message as a string instead, as from
-- any Lua function: `"x: " .. err` and `err:match(...)` work.
local s_find, s_sub, typeof = string.find, string.sub, typeof
local RUNTIME = "runtime error: "

local function clean(e)
    if typeof(e) ~= "error" then
        return e
    end
    local text = tostring(e)
    if s_sub(text, 1, #RUNTIME) == RUNTIME then
        text = s_sub(text, #RUNTIME + 1)
    end
    local tb = s_find(text, "\nstack traceback:", 1, true)
    if tb then
        text = s_sub(text, 1, tb - 1)
    end
    return text
end

local b_pcall, b_xpcall = pcall, xpcall

local function caught(ok, ...)
    if ok then
        return true, ...
    end
    return false, clean((...))
end

function M.pcall(f, ...)
    return caught(b_pcall(f, ...))
end

function M.xpcall(f, handler, ...)
    return b_xpcall(f, function(e)
        return handler(clean(e))
    end, ...)
end

local function finish_resume(co, ok, a, ...)
    if ok and a == PREEMPT and select("#", ...) == 0 then
        local r
        repeat
            pass_preemption()
            r = t_pack(co_resume(co))
        until not (r[1] and r.n == 2 and r[2] == PREEMPT)
        if not r[1] then
            return false, clean(r[2])
        end
        return t_unpack_(r, 1, r.n)
    end
    if not ok then
        return false, clean(a)
    end
    return ok, a, ...
end

function M.resume_coroutine(co, ...)
    return finish_resume(co, co_resume(co, ...))
end

local function finish_wrap(ok, ...)
    if ok then
        return ...
    end
    -- as Luau's wrap: a string error gets the caller's position
    error((...), 3)
end

function M.wrap_coroutine(f)
    local co = co_create(f)
    return function(...)
        return finish_wrap(finish_resume(co, co_resume(co, ...)))
    end
end

---------------------------------------------------------------- routing

-- Message objects are userdata made in Rust (ffi/message_object.rs): m:topic(),
-- m:from(), m:payload(), m:data().

pump = function(p)
    local inbox, listeners = p.inbox, p.listeners
    if inbox or listeners then
        while true do
            local m = rt_take()
            if m == nil then
                break
            end
            local l = listeners and listeners[m:topic()]
            if l then
                if l.raw then
                    feed(l.ch, m:data())
                else
                    feed(l.ch, m)
                end
            else
                if not inbox then
                    inbox = new_channel(0)
                    p.inbox = inbox
                end
                feed(inbox, m)
            end
        end
    end
    pump_signals(p)
end

-- the second half of a pump: lifecycle events and op completions
pump_signals = function(p)
    local calls = p.calls
    if p.events or calls then
        while true do
            local ev = rt_event()
            if ev == nil then
                break
            end
            local handler = calls and calls[ev.from]
            if handler and ev.kind == "pid.exit" then
                calls[ev.from] = nil
                handler(ev.result)
            else
                local events = p.events
                if not events then
                    events = new_channel(0)
                    p.events = events
                    p.f = bor(p.f, F_SIG)
                end
                feed(events, ev)
            end
        end
    end
    local ops = p.ops
    if ops then
        while true do
            local tag, v = rt_completion()
            if tag == nil then
                break
            end
            local h = ops[tag]
            if h then
                h(v, tag)
            end
        end
    end
end

function M.inbox()
    local p = P
    local ch = p.inbox
    if not ch then
        -- No pump here: every reader pumps before it concludes that
        -- nothing has arrived (receive's fast path, `block`, a select
        -- with a default), and a blocked process's stack stays within
        -- Luau's initial 45 slots (see `boot`).
        ch = new_channel(0)
        p.inbox = ch
    end
    return ch
end

function M.events()
    local p = P
    local ch = p.events
    if not ch then
        -- No pump here: every reader pumps before it concludes that
        -- nothing has arrived (receive's fast path, `block`, a select
        -- with a default), and a blocked process's stack stays within
        -- Luau's initial 45 slots (see `boot`).
        ch = new_channel(0)
        p.events = ch
        p.f = bor(p.f, F_SIG)
    end
    return ch
end

-- process.listen(topic, opts?): the channel of messages on `topic` (raw
-- values, or message objects with `{message = true}`); listening again to
-- the same topic gives the same channel, in the mode of the last call.
function M.listen(topic, opts)
    if type(topic) ~= "string" then
        error("bad argument #1 to 'listen' (string expected, got " .. type(topic) .. ")", 2)
    end
    if topic == "" then
        return nil, rt_error("Invalid", "topic cannot be empty")
    end
    if string.sub(topic, 1, 1) == "@" then
        return nil, rt_error("Invalid", "cannot listen to @ topics")
    end
    local raw = true
    if opts ~= nil then
        if type(opts) ~= "table" then
            error("bad argument #2 to 'listen' (table expected, got " .. type(opts) .. ")", 2)
        end
        raw = not opts.message
    end
    local p = P
    local ls = p.listeners
    if not ls then
        ls = {}
        p.listeners = ls
        p.f = bor(p.f, F_LISTEN)
    end
    local l = ls[topic]
    if l and not l.dropped then
        l.raw = raw
        return l.ch
    end
    local ch = new_channel(0)
    ls[topic] = { ch = ch, raw = raw }
    pump(p)
    return ch
end

-- Removes the subscription of channel `ch`; false when it had none.
local function drop_listener(p, ch)
    local ls = p.listeners
    local found = false
    if ls then
        for topic, l in pairs(ls) do
            if l.ch == ch and not l.dropped then
                ls[topic] = nil
                found = true
            end
        end
        if next(ls) == nil then
            p.listeners = nil
            p.f = band(p.f, bnot(F_LISTEN))
        end
    end
    return found
end

-- process.unlisten(ch): true, and the channel is closed (its receivers get
-- nil, false); false, err when it listens to nothing. Later messages on
-- its topic are dropped (they do not go to the inbox), until the topic is
-- listened to again.
function M.unlisten(ch)
    check_chan(ch, "unlisten")
    local ls = P.listeners
    local found = false
    if ls then
        for _, l in pairs(ls) do
            if l.ch == ch and not l.dropped then
                l.dropped = true
                found = true
            end
        end
    end
    if not found then
        return false, rt_error("NotFound", "channel not found")
    end
    -- the pump feeds a closed channel nothing: the topic's messages drop
    ch:close()
    return true
end

-- subscribe(topic, ch): messages on `topic` (any topic) go, as raw values,
-- to the caller's channel `ch`; a topic already bound to another channel
-- fails with AlreadyExists.
function M.subscribe(topic, ch)
    if type(topic) ~= "string" then
        error("bad argument #1 to 'subscribe' (string expected, got " .. type(topic) .. ")", 2)
    end
    check_chan(ch, "subscribe")
    local p = P
    local ls = p.listeners
    if ls and ls[topic] and not ls[topic].dropped then
        if ls[topic].ch == ch then
            return true
        end
        return nil, rt_error("AlreadyExists", "topic " .. topic .. " is already subscribed to another channel")
    end
    if not ls then
        ls = {}
        p.listeners = ls
        p.f = bor(p.f, F_LISTEN)
    end
    ls[topic] = { ch = ch, raw = true }
    pump(p)
    return true
end

-- unsubscribe(ch): true, or false, err when `ch` is subscribed to nothing
-- (the channel stays open: it is the caller's).
function M.unsubscribe(ch)
    check_chan(ch, "unsubscribe")
    if not drop_listener(P, ch) then
        return false, rt_error("NotFound", "channel not found")
    end
    return true
end

---------------------------------------------------------------- operations
-- registers `handler` for the completion of a new op and returns its tag
local function new_op(p, handler)
    local tag = (p.seq or 0) + 1
    p.seq = tag
    local ops = p.ops
    if not ops then
        ops = {}
        p.ops = ops
        p.f = bor(p.f, F_SIG)
    end
    ops[tag] = handler
    return tag
end
M.new_op = function(handler)
    return new_op(P, handler)
end

local function drop_op(p, tag)
    if p.ops then
        p.ops[tag] = nil
    end
end
M.drop_op = function(tag)
    drop_op(P, tag)
end

-- waits for an op started by `start(tag)`; returns the completion value
local function await_op(start, ...)
    must_be_managed(3)
    local p = P
    local w = { co = co_running(), w = false, done = false, value = false, ok = false, case = false }
    w.w = w
    local tag = new_op(p, function(v, tag)
        P.ops[tag] = nil
        wake(w, v, true)
    end)
    local ok, err = start(tag, ...)
    if not ok then
        drop_op(p, tag)
        return nil, err
    end
    block(w)
    return w.value, true
end
M.await_op = await_op

---------------------------------------------------------------- cluster calls
local rt_await_call = rt.await_call

-- the results of a native, waiting first when the native answered with a
-- call across the cluster (a pending-call userdata: a remote spawn, a
-- global registration): the coroutine is parked on an op the call's answer
-- completes; the answer is the value, or {error = err}
local function settle(r, err)
    if type(r) ~= "userdata" then
        return r, err
    end
    local v, ok = await_op(rt_await_call, r)
    if ok ~= true then
        return nil, ok
    end
    if type(v) == "table" then
        return nil, v.error
    end
    return v
end

-- process.spawn*(entry, host, ...) are C functions (ffi/spawn.rs) that
-- call `settle` themselves for a spawn on another node (`node@host`)
M.settle = settle

-- process.registry.register / unregister: the cluster's scopes wait
local rt_register_name, rt_unregister_name = rt.register_name, rt.unregister_name
function M.register_name(name, pid, scope)
    return settle(rt_register_name(name, pid, scope))
end
function M.unregister_name(name, scope)
    return settle(rt_unregister_name(name, scope))
end

local rt_timer, rt_cancel_timer, rt_now = rt.timer, rt.cancel_timer, rt.now

local rt_wait_duration = rt.wait_duration

-- Bad durations are `nil, err` (Invalid); d <= 0 returns at once.
function M.sleep(d)
    local ns, err = rt_wait_duration(d, false)
    if not ns then
        return nil, err
    end
    if ns <= 0 then
        return
    end
    await_op(rt_timer, ns)
end

-- a channel that receives the time once, after `d`, and is then closed
function M.after(d)
    local ns, err = rt_wait_duration(d, true)
    if not ns then
        return nil, err
    end
    local p = P
    local ch = new_channel(1)
    local tag = new_op(p, function(_, tag)
        P.ops[tag] = nil
        feed(ch, rt_now())
        if not ch.closed then
            Chan.close(ch)
        end
    end)
    rt_timer(tag, ns)
    return ch
end

-- a ticker (periodic) or timer (one-shot) object
local Timer = {}
Timer.__index = Timer
Timer.__metatable = "timer"
Timer.__wippy = "timer"

-- Wippy's ticker channel holds 16 ticks; a timer's holds its one.
local TICKS_BUFFERED = 16

local function arm(t)
    local p = P
    local tag = new_op(p, function(_, tag)
        if t.tag ~= tag then
            P.ops[tag] = nil
            return
        end
        if t.periodic then
            -- A tick with no room in the buffer is dropped (as Go's and
            -- Wippy's tickers do), so a slow reader gets at most a buffer
            -- of stale ticks and an unread ticker no growing buffer.
            local ch = t.ch
            if not ch.closed then
                try_send(ch, rt_now())
            end
        else
            local ch = t.ch
            feed(ch, rt_now())
            if not ch.closed then
                Chan.close(ch)
            end
            P.ops[tag] = nil
            t.tag = nil
        end
    end)
    t.tag = tag
    rt_timer(tag, t.ns, t.periodic)
end

local function new_timer(d, periodic)
    local ns, err = rt_wait_duration(d, true)
    if not ns then
        return nil, err
    end
    local t = setmetatable({ ns = ns, periodic = periodic, ch = new_channel(periodic and TICKS_BUFFERED or 1) }, Timer)
    arm(t)
    return t
end

function M.ticker(d)
    return new_timer(d, true)
end

function M.timer(d)
    return new_timer(d, false)
end

function Timer:response()
    return self.ch
end
Timer.channel = Timer.response

-- true if the timer was still pending (a ticker: always)
function Timer:stop()
    local tag = self.tag
    if tag then
        self.tag = nil
        drop_op(P, tag)
        rt_cancel_timer(tag)
        return true
    end
    return self.periodic == true
end

-- re-arms a timer for `d`; true if it was still pending. A timer that has
-- fired (its channel closed) gets a fresh channel.
function Timer:reset(d)
    if self.periodic then
        error("reset: tickers cannot be reset; stop and create a new one", 2)
    end
    local ns, err = rt_wait_duration(d, true)
    if not ns then
        error(err, 2)
    end
    local was = self:stop()
    if self.ch.closed then
        self.ch = new_channel(1)
    end
    self.ns = ns
    arm(self)
    return was
end

---------------------------------------------------------------- process life
-- The body of a process's thread: runs the entry's chunk in the process's
-- environment, then its method with the spawn arguments.
local ENV_MT, rt_bind_env = rt.env_mt, rt.bind_env

-- A process's environment reads through to the shared (frozen) globals, and
-- its `_G` is itself. Only reads of names the environment lacks get here:
-- built-ins are load-time imports, and a process's own globals are its
-- environment's keys.
local GLOBALS = rt.globals
ENV_MT.__index = function(env, k)
    if k == "_G" then
        return env
    end
    return GLOBALS[k]
end

local bind -- defined with `require` below

-- Sets up a process (its environment, its chunk run) and returns the
-- entry's method.
local function start(p, chunk, method, bound)
    P = p
    p.main = co_running()
    if p.f == nil then
        p.f = 0 -- kept across an upgrade, like what it describes
    end
    local env = setmetatable({}, ENV_MT)
    p.env = env
    p.mods = nil
    rt_bind_env(chunk, env)
    if bound then
        bind(env, p.binds) -- set by Rust (`Vm::boot_of`)
        p.binds = nil
    end
    local mod = chunk()
    local f
    if method == nil then
        f = mod
    elseif type(mod) == "table" then
        f = mod[method]
    end
    if type(f) ~= "function" then
        error("entry has no function `" .. tostring(method) .. "` (its chunk must return a table with it)", 0)
    end
    return f
end

-- The body of a process's thread (also the start of an upgraded process's
-- new thread): runs the entry's chunk in a fresh environment of its own and
-- calls its method with the spawn arguments. The state, chunk and method
-- come from Rust through `rt.boot_parts()`, not as arguments.
--
-- Kept shallow on purpose: every slot under a parked process's IDLE yield
-- (this frame, the method's, receive's, and the 20 a C call reserves)
-- counts towards its stack, and a stack that outgrows Luau's initial 45
-- slots is doubled to 95 for good (+800 bytes per idle process;
-- tests/scale.rs measures it).
local rt_boot_parts = rt.boot_parts
function M.boot(...)
    local f = start(rt_boot_parts())
    return f(...)
end

-- The boot of an entry with modules or imports to bind as globals.
function M.boot_bound(...)
    local p, chunk, method = rt_boot_parts()
    local f = start(p, chunk, method, true)
    return f(...)
end

-- process.upgrade: forgets the old code's coroutines, waiters and timers
-- (the inbox, events, listeners and their buffered values stay), then asks
-- Rust to start the new code in a fresh thread with the same state table.
function M.upgrade(entry, ...)
    local p = P
    if co_running() ~= p.main then
        error("process.upgrade must be called from the process's main coroutine", 2)
    end
    p.ready = nil
    p.cos = nil
    p.f = band(p.f, bnot(F_COS))
    if p.ops then
        for tag in pairs(p.ops) do
            rt_cancel_timer(tag)
        end
        p.ops = nil
    end
    local function forget(ch)
        if ch then
            ch.rq = false
            ch.sq = false
        end
    end
    forget(p.inbox)
    forget(p.events)
    if p.listeners then
        for _, l in pairs(p.listeners) do
            forget(l.ch)
        end
    end
    co_yield(UPGRADE, entry, ...)
    error("upgrade failed", 0) -- not reached: Rust never resumes the old thread
end

local rt_load = rt.load_text

-- loadstring/load of source text only, in the caller's environment.
function M.loadstring(text, name)
    if type(text) ~= "string" then
        return nil, "load: only source text can be loaded (got " .. type(text) .. ")"
    end
    return rt_load(text, name, P.env)
end

local rt_require, rt_load_library = rt.require, rt.load_library
local LOADING = {} -- a library whose chunk is running (in `p.mods`)
local CHAIN = {} -- key, in `p.mods`, of the ids of the libraries loading, in order
local t_concat = table.concat

-- require(name): a built-in module, or a library the calling chunk's entry
-- imports as `name` (resolved in Rust against that entry's `imports`), run
-- once per process in its environment and kept by its id. A library
-- required again while its chunk runs is a circular require: an error
-- naming the cycle, not a stack overflow.
function M.require(name)
    if type(name) ~= "string" then
        error("require: expected a module name, got " .. type(name), 2)
    end
    local p = P
    local kind, v = rt_require(name)
    if kind == "module" then
        return v
    end
    local id = v
    local mods = p.mods
    if not mods then
        mods = {}
        p.mods = mods
    end
    local m = mods[id]
    if m == LOADING then
        local chain, loading = {}, mods[CHAIN]
        for i = #loading, 1, -1 do
            table.insert(chain, 1, loading[i])
            if loading[i] == id then
                break
            end
        end
        chain[#chain + 1] = id
        error("require(" .. string.format("%q", name) .. "): circular require: " .. t_concat(chain, " -> "), 2)
    elseif m ~= nil then
        return m
    end
    local chunk = rt_load_library(id, p.env)
    local loading = mods[CHAIN]
    if not loading then
        loading = {}
        mods[CHAIN] = loading
    end
    mods[id] = LOADING
    loading[#loading + 1] = id
    local ok, r = b_pcall(chunk)
    loading[#loading] = nil
    if not ok then
        mods[id] = nil
        error(r, 0)
    end
    if r == nil then
        r = true
    end
    mods[id] = r
    return r
end

-- Binds the entry's modules and imports as globals of its environment
-- `env` (`binds` = {modules = {names}, imports = {aliases}}, made once per
-- entry in Rust: the modules listed that the host grants), as Wippy does:
-- each global is what `require` of its name returns. A module a policy
-- denies stays unbound (`require` reports the denial); an import runs its
-- library now, and its failure fails the process.
bind = function(env, binds)
    local mods = binds.modules
    for i = 1, #mods do
        local name = mods[i]
        local ok, m = b_pcall(M.require, name)
        if ok then
            env[name] = m
        end
    end
    local imports = binds.imports
    for i = 1, #imports do
        local alias = imports[i]
        env[alias] = M.require(alias)
    end
end

---------------------------------------------------------------- funcs
-- funcs.call / funcs.async / Executors / Futures (api/funcs.rs). A call
-- runs in a process of its own, monitored: `p.calls[pid]` holds what to do
-- with its EXIT result (the pump calls it, and the EXIT never reaches
-- `process.events()`).
local rt_call_start, rt_call_error, rt_call_allow, rt_call_cancel =
    rt.call_start, rt.call_error, rt.call_allow, rt.call_cancel

-- The value and error a call's EXIT `result` gives, by Wippy's outcome
-- rules: a function.lua's result is the array of its return values, whose
-- first is the value and whose second, an error object or a text, makes
-- it a failure; a process.lua's result is its value.
local function outcome(r, fn)
    local e = r.error
    if e ~= nil then
        return nil, rt_call_error(e)
    end
    local v = r.value
    if not fn or type(v) ~= "table" then
        return v, nil
    end
    local second = v[2]
    if type(second) == "string" or type(second) == "userdata" then
        return nil, rt_call_error(second)
    end
    return v[1], nil
end

local function add_call(p, pid, handler)
    local calls = p.calls
    if not calls then
        calls = {}
        p.calls = calls
        p.f = bor(p.f, F_SIG)
    end
    calls[pid] = handler
end

local function call(exec, what, id, ...)
    must_be_managed(3)
    local p = P
    local pid, fn = rt_call_start(what, id, exec, ...)
    if not pid then
        return nil, fn
    end
    local w = { co = co_running(), w = false, done = false, value = false, ok = false, case = false }
    w.w = w
    add_call(p, pid, function(r)
        wake(w, r, true)
    end)
    pump(p) -- it may have finished already
    block(w)
    if not next(p.calls) then
        p.calls = nil
    end
    return outcome(w.value, fn)
end

-- A payload object of a Future's value: `p:data()`.
local CallPayload = {}
CallPayload.__index = CallPayload
CallPayload.__metatable = "payload"
CallPayload.__wippy = "payload"
CallPayload.__tostring = function()
    return "payload{format=lua/any}"
end
function CallPayload:data()
    return self.v
end
CallPayload.unmarshal = CallPayload.data
function CallPayload:get_format()
    return "lua/any"
end

-- A Future: `ch` (buffer 1) gets the payload object or the error object,
-- then closes.
local Future = {}
Future.__index = Future
Future.__metatable = "future"
Future.__wippy = "future"

local function close_chan(ch)
    if not ch.closed then
        Chan.close(ch)
    end
end

local function call_async(exec, what, id, ...)
    local p = P
    local pid, fn = rt_call_start(what, id, exec, ...)
    if not pid then
        return nil, fn
    end
    local f = setmetatable({ ch = new_channel(1), pid = pid, done = false, canceled = false }, Future)
    add_call(p, pid, function(r)
        if f.canceled then
            return
        end
        local v, err = outcome(r, fn)
        f.done = true
        if err ~= nil then
            f.err = err
            feed(f.ch, err)
        else
            local pl = setmetatable({ v = v }, CallPayload)
            f.value = pl
            feed(f.ch, pl)
        end
        close_chan(f.ch)
    end)
    return f, nil
end

function Future:response()
    return self.ch
end
Future.channel = Future.response

function Future:result()
    if self.canceled then
        return nil, rt_call_error("future canceled", "Canceled")
    end
    if not self.done then
        return nil, nil
    end
    if self.err ~= nil then
        return nil, self.err
    end
    return self.value, nil
end

function Future:error()
    if self.err ~= nil then
        return self.err, true
    end
    return nil, false
end

function Future:is_complete()
    return self.done
end

function Future:is_canceled()
    return self.canceled
end

function Future:cancel()
    if not self.done and not self.canceled then
        self.canceled = true
        rt_call_cancel(self.pid)
        close_chan(self.ch)
    end
    return true, nil
end

-- An Executor: what its calls get besides the caller's own (`context`
-- merged over the caller's, `actor`, `scope`, `options`). Immutable: each
-- `with_*` returns a new one, or `nil, err` when the caller may not.
local Executor = {}
Executor.__index = Executor
Executor.__metatable = "executor"
Executor.__wippy = "executor"

-- with_context / with_options of an Executor or a Spawner: n[key] becomes a
-- copy of it with `value`'s fields over it (the error names the caller of
-- with_<key>, two levels above the derive that calls this)
local function merge_into(n, key, value)
    if type(value) ~= "table" then
        error("with_" .. key .. ": expected a table, got " .. type(value), 4)
    end
    local merged = {}
    for k, v in pairs(n[key] or {}) do
        merged[k] = v
    end
    for k, v in pairs(value) do
        merged[k] = v
    end
    n[key] = merged
end

local function exec_derive(e, key, value, action, resource)
    local ok, err = rt_call_allow(action, resource)
    if not ok then
        return nil, err
    end
    local n = setmetatable({ context = e.context, options = e.options, actor = e.actor, scope = e.scope }, Executor)
    if key == "context" or key == "options" then
        merge_into(n, key, value)
    else
        if value == nil then
            error("with_" .. key .. ": expected a security " .. key .. ", got nil", 3)
        end
        n[key] = value
    end
    return n
end

function Executor:with_context(t)
    return exec_derive(self, "context", t, "funcs.context", "context")
end
function Executor:with_actor(a)
    return exec_derive(self, "actor", a, "funcs.security", "actor")
end
function Executor:with_scope(s)
    return exec_derive(self, "scope", s, "funcs.security", "scope")
end
function Executor:with_options(t)
    if type(t) == "table" and t.network ~= nil then
        return exec_derive(self, "options", t, "network.select", tostring(t.network))
    end
    return exec_derive(self, "options", t, "funcs.context", "options")
end
function Executor:call(id, ...)
    return call(self, "executor:call", id, ...)
end
function Executor:async(id, ...)
    return call_async(self, "executor:async", id, ...)
end

function M.call(id, ...)
    return call(nil, "funcs.call", id, ...)
end
function M.call_async(id, ...)
    return call_async(nil, "funcs.async", id, ...)
end
function M.new_executor()
    return setmetatable({}, Executor)
end

---------------------------------------------------------------- events
-- events.subscribe (api/events.rs): the bus completes op `tag` with each
-- event; its handler stays registered until `close`.
local rt_events_sub, rt_events_close = rt.events_sub, rt.events_close

local Subscription = {}
Subscription.__index = Subscription
Subscription.__metatable = "subscription"
Subscription.__wippy = "subscription"

function M.events_subscribe(system, kind)
    local p = P
    local ch = new_channel(64)
    local tag = new_op(p, function(ev)
        feed(ch, ev)
    end)
    local id, err = rt_events_sub(tag, system, kind)
    if not id then
        drop_op(p, tag)
        return nil, err
    end
    return setmetatable({ ch = ch, tag = tag, id = id }, Subscription), nil
end

function Subscription:channel()
    return self.ch
end

function Subscription:close()
    local id = self.id
    if id then
        self.id = false
        rt_events_close(id)
        drop_op(P, self.tag)
        close_chan(self.ch)
    end
    return true
end

---------------------------------------------------------------- exec
local rt_exec_spawn = rt.exec_spawn

-- process.exec(id, host, ...): runs entry `id` on `host` as a child and
-- waits for it to end: its first return value, nil; or nil, err with the
-- child's error (Internal when it could not start).
function M.exec(id, host, ...)
    must_be_managed(2)
    local p = P
    local pid, err = settle(rt_exec_spawn(id, host, ...))
    if not pid then
        return nil, err
    end
    local w = { co = co_running(), w = false, done = false, value = false, ok = false, case = false }
    w.w = w
    add_call(p, pid, function(r)
        wake(w, r, true)
    end)
    pump(p) -- it may have finished already
    block(w)
    local calls = p.calls
    if calls and not next(calls) then
        p.calls = nil
    end
    local r = w.value
    if r.error ~= nil then
        return nil, r.error
    end
    return r.value, nil
end

---------------------------------------------------------------- spawner
-- A Spawner holds what the next spawns get. `context` (merged across
-- chained `with_context` calls, later values winning) is added by Rust over
-- the caller's own context to form the child's (`ctx` module); `options`
-- become spawn options; `actor` and `scope` (objects of the `security`
-- module) replace the caller's own for the child, if the caller may grant
-- them (checked in Rust).
local Spawner = {}
Spawner.__index = Spawner
Spawner.__metatable = "spawner"
Spawner.__wippy = "spawner"

local function derive(s, key, value)
    local n = setmetatable({
        context = s.context,
        options = s.options,
        actor = s.actor,
        scope = s.scope,
        name = s.name,
        messages = s.messages,
    }, Spawner)
    if key == "context" or key == "options" then
        merge_into(n, key, value)
    else
        n[key] = value
    end
    return n
end

function M.with_context(t)
    return derive(setmetatable({}, Spawner), "context", t)
end
function M.with_options(t)
    return derive(setmetatable({}, Spawner), "options", t)
end
function Spawner:with_context(t)
    return derive(self, "context", t)
end
function Spawner:with_options(t)
    return derive(self, "options", t)
end
function Spawner:with_actor(a)
    return derive(self, "actor", a)
end
function Spawner:with_scope(s)
    return derive(self, "scope", s)
end
-- with_name(n): spawn-or-signal; if a process holds `n`, the spawn starts
-- nothing and returns its pid (and the messages go to it), else the child
-- is registered as `n`.
function Spawner:with_name(name)
    if type(name) ~= "string" or name == "" then
        error("with_name: expected a non-empty name, got " .. (name == "" and "an empty string" or type(name)), 2)
    end
    return derive(self, "name", name)
end
-- with_message(topic, ...): a message delivered right after the start (its
-- sender is seen as "").
function Spawner:with_message(topic, ...)
    if type(topic) ~= "string" then
        error("with_message: expected a string topic, got " .. type(topic), 2)
    end
    if string.sub(topic, 1, 1) == "@" then
        error("with_message: cannot send to @ topics", 2)
    end
    local list = {}
    if self.messages then
        for i, m in ipairs(self.messages) do
            list[i] = m
        end
    end
    list[#list + 1] = table.pack(...)
    list[#list].topic = topic
    return derive(self, "messages", list)
end

local rt_spawn = rt.spawn
for _, name in ipairs({ "spawn", "spawn_monitored", "spawn_linked", "spawn_linked_monitored" }) do
    Spawner[name] = function(self, entry, host, ...)
        return settle(rt_spawn(name, self, entry, host, ...))
    end
end

M.block = block
M.wake = wake
M.feed = feed
M.new_channel = new_channel
M.new_error = rt_error

function M.current()
    return P
end

-- Every table a process can reach from a runtime object is shared by all
-- processes of the shard: freeze them (objects expose metatables through
-- `__index`).
for _, t in ipairs({ Chan, Timer, Spawner, Future, Executor, CallPayload, Subscription, channel, M }) do
    table.freeze(t)
end

return M
