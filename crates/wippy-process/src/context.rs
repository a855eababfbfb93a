//! What a process sees while it runs a step.

use std::sync::Arc;

use crate::cell::{Cell, Signal};
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
    cell: &'a Arc<Cell>,
}

impl<'a> Context<'a> {
    /// The context of `cell` on `node`. Only runners (the native host, VM
    /// shards) create contexts, for the process they are running.
    pub fn new(node: &'a Node, cell: &'a Arc<Cell>) -> Context<'a> {
        Context { node, cell }
    }

    /// The running process's pid.
    pub fn pid(&self) -> Pid {
        self.cell.pid
    }

    /// The node (kernel) the process runs on.
    pub fn node(&self) -> &'a Node {
        self.node
    }

    /// The running process's cell.
    pub fn cell(&self) -> &'a Arc<Cell> {
        self.cell
    }

    /// Takes the oldest message from the mailbox.
    pub fn recv(&mut self) -> Option<Message> {
        self.cell.lock().messages.pop_front()
    }

    /// Takes the oldest lifecycle event.
    pub fn next_event(&mut self) -> Option<Event> {
        take_event(self.cell)
    }

    /// Takes the oldest op completion. Completions not taken stay queued and
    /// make the next `WaitMode::Any` wait resume at once.
    pub fn take_completion(&mut self) -> Option<Completion> {
        let mut inner = self.cell.lock();
        let ix = inner
            .signals
            .iter()
            .position(|s| matches!(s, Signal::Completion(_)))?;
        match inner.signals.remove(ix) {
            Some(Signal::Completion(c)) => Some(c),
            _ => unreachable!("position found a completion"),
        }
    }

    /// Sends a message from this process (see [`Node::send`]).
    pub fn send(&self, to: Pid, topic: impl Into<Topic>, payload: Payload) -> Result<(), Error> {
        self.node.send(Some(self.cell.pid), to, topic, payload)
    }

    /// Whether this process traps links (gets LINK_DOWN instead of dying).
    pub fn trap_links(&self) -> bool {
        self.cell.lock().trap_links
    }

    /// Sets whether this process traps links.
    pub fn set_trap_links(&self, trap: bool) {
        self.cell.lock().trap_links = trap;
    }
}

pub(crate) fn take_event(cell: &Cell) -> Option<Event> {
    match cell.lock().take_signal(|s| matches!(s, Signal::Event(_)))? {
        Signal::Event(e) => Some(e),
        Signal::Completion(_) => unreachable!("take_signal found an event"),
    }
}
