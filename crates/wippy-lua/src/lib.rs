//! wippy-lua
