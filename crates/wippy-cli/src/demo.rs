//! The demo app compiled into the binary (`wippy` with no arguments).

use std::path::{Path, PathBuf};

use wippy_host::registry::{Registry, Source};

const FILES: [(&str, &str); 3] = [
    ("main.lua", include_str!("../demo/main.lua")),
    ("greeter.lua", include_str!("../demo/greeter.lua")),
    ("_index.yaml", include_str!("../demo/_index.yaml")),
];

/// The demo's registry.
pub fn registry() -> Result<Registry, String> {
    let index = Source {
        path: PathBuf::from("demo/_index.yaml"),
        text: FILES[2].1.to_owned(),
    };
    Registry::load_sources(&[index], &|path: &Path| {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        FILES
            .iter()
            .find(|(f, _)| *f == name)
            .map(|(_, text)| text.to_string())
            .ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, path.display().to_string())
            })
    })
    .map_err(|e| e.to_string())
}
