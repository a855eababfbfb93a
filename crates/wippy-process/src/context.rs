//! What a process sees while it runs a step.

use std::sync::Arc;

use crate::cell::ProcessCell;
use crate::error::Error;
use crate::message::{Event, Message, Topic};
use crate::node::Node;
use crate::payload::Payload;
use crate::pid::Pid;
use crate::process::Completion;

/// The process's view of the kernel during one step: its pid, its mailbox,
/// and the node to send, spawn, link and monitor through.
pub struct Context<'a> {
    node: &'a Node,
    cell: &'a Arc<ProcessCell>,
}

impl<'a> Context<'a> {
    /// The context of `cell` on `node`. Only runners (the native host, VM
    /// shards) create contexts, for the process they are running.
    pub fn new(node: &'a Node, cell: &'a Arc<ProcessCell>) -> Context<'a> {
        Context { node, cell }
    }

    /// The running process's pid.
    pub fn pid(&self) -> Pid {
        self.cell.pid()
    }

    /// The node (kernel) the process runs on.
    pub fn node(&self) -> &'a Node {
        self.node
    }

    /// The running process's cell.
    pub fn cell(&self) -> &'a Arc<ProcessCell> {
        self.cell
    }

    /// Takes the oldest message from the mailbox.
    pub fn recv(&mut self) -> Option<Message> {
        self.cell.try_recv()
    }

    /// Takes the oldest lifecycle event.
    pub fn next_event(&mut self) -> Option<Event> {
        self.cell.try_event()
    }

    /// Takes the oldest op completion. Completions not taken stay queued and
    /// make the next `WaitMode::Any` wait resume at once.
    pub fn take_completion(&mut self) -> Option<Completion> {
        self.cell.try_completion()
    }

    /// Sends a message from this process (see [`Node::send`]).
    pub fn send(&self, to: Pid, topic: impl Into<Topic>, payload: Payload) -> Result<(), Error> {
        self.node.send(Some(self.cell.pid()), to, topic, payload)
    }

    /// Whether this process traps links (gets LINK_DOWN instead of dying).
    pub fn trap_links(&self) -> bool {
        self.cell.trap_links()
    }

    /// Sets whether this process traps links.
    pub fn set_trap_links(&self, trap: bool) {
        self.cell.set_trap_links(trap);
    }
}
