//! Loading `_index.yaml` files into entries. (Being written.)

use std::path::{Path, PathBuf};

use super::{LoadErrors, Registry};

/// An index file given as text.
#[derive(Debug, Clone)]
pub struct Source {
    /// Its path (sources are resolved relative to its folder).
    pub path: PathBuf,
    /// Its YAML text.
    pub text: String,
}

pub(crate) fn load_dir(_dir: &Path) -> Result<Registry, LoadErrors> {
    todo!("registry loader")
}

pub(crate) fn load_sources(
    _sources: &[Source],
    _read: &dyn Fn(&Path) -> std::io::Result<String>,
) -> Result<Registry, LoadErrors> {
    todo!("registry loader")
}
