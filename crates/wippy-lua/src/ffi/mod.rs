//! The raw Luau C API code: the hot natives, message objects and the string
//! caches of the message path.

pub(crate) mod message_object;
pub(crate) mod raw;
pub(crate) mod strings;
