//! The demo app compiled into the binary (`wippy` with no arguments).

use wippy_host::registry::{LoadErrors, Registry};

/// The demo's files, as they lie in `crates/wippy-cli/demo/`.
const FILES: [(&str, &str); 3] = [
    ("demo/_index.yaml", include_str!("../demo/_index.yaml")),
    ("demo/main.lua", include_str!("../demo/main.lua")),
    ("demo/greeter.lua", include_str!("../demo/greeter.lua")),
];

/// The demo's registry.
pub fn registry() -> Result<Registry, LoadErrors> {
    Registry::load_files(FILES)
}
