//! `--tokenizer` names a local `tokenizer.json`, a directory holding one, or a Hugging Face model id
//! (`meta-llama/Llama-2-7b-hf`, optionally `@revision`). An id is looked up in the local Hugging Face cache,
//! in the layout the `huggingface_hub` Python package and `hf download` write:
//!
//! ```text
//! $HF_HUB_CACHE (default $HF_HOME/hub, HF_HOME default ~/.cache/huggingface)
//!   models--{org}--{name}/refs/{revision}            the snapshot the revision names (a commit hash)
//!   models--{org}--{name}/snapshots/{hash}/tokenizer.json
//! ```
//!
//! A snapshot directory named like the revision itself (`snapshots/main/tokenizer.json`) is accepted too, so a
//! file copied by hand needs no `refs/`. When the id is not cached, the network is allowed (`HF_HUB_OFFLINE`
//! unset) and the crate was built with the `hf-download` feature (the default), the file is fetched from the Hub
//! (`HF_ENDPOINT`, token from `HF_TOKEN` or the cache's token file) into that cache with the `hf-hub` crate;
//! otherwise the error says where to put the file and how to pass a local path.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The file looked up in a model repository.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// What `--tokenizer`'s text names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenizerRef {
    /// A local file (or a directory holding `tokenizer.json`).
    Path(PathBuf),
    /// A Hugging Face model id and revision (`main` unless `@rev` was given).
    Hub {
        /// `org/name` or `name`.
        id: String,
        /// Branch, tag or commit.
        revision: String,
    },
}

/// Whether `text` can be a Hub id: one or two `/`-separated parts of letters, digits, `-`, `_`, `.`, not
/// starting with `.` or `-`, with an optional `@revision`.
fn hub_id(text: &str) -> Option<(String, String)> {
    let (id, revision) = match text.split_once('@') {
        Some((id, rev)) if !rev.is_empty() && !rev.contains(['/', '\\', ' ']) => (id, rev),
        Some(_) => return None,
        None => (text, "main"),
    };
    let parts: Vec<&str> = id.split('/').collect();
    let part_ok = |p: &str| {
        !p.is_empty()
            && !p.starts_with(['.', '-'])
            && !p.contains("..")
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    (parts.len() <= 2 && parts.iter().all(|p| part_ok(p)) && !id.ends_with(".json"))
        .then(|| (id.to_string(), revision.to_string()))
}

impl TokenizerRef {
    /// Reads `--tokenizer`'s text: an existing file or directory is a path; text shaped like a Hub id is an id;
    /// anything else is a path (which will be reported missing).
    pub fn parse(text: &str) -> TokenizerRef {
        let p = Path::new(text);
        if p.exists() {
            return TokenizerRef::Path(p.to_path_buf());
        }
        match hub_id(text) {
            Some((id, revision)) => TokenizerRef::Hub { id, revision },
            None => TokenizerRef::Path(p.to_path_buf()),
        }
    }
}

/// The Hugging Face hub cache directory from `env`: `HF_HUB_CACHE`, else `HF_HOME/hub`, else
/// `XDG_CACHE_HOME/huggingface/hub`, else `HOME/.cache/huggingface/hub`.
pub fn hub_cache_dir(env: &HashMap<String, String>) -> Option<PathBuf> {
    let get = |k: &str| {
        env.get(k)
            .filter(|v| !v.trim().is_empty())
            .map(PathBuf::from)
    };
    get("HF_HUB_CACHE")
        .or_else(|| get("HF_HOME").map(|h| h.join("hub")))
        .or_else(|| get("XDG_CACHE_HOME").map(|c| c.join("huggingface").join("hub")))
        .or_else(|| get("HOME").map(|h| h.join(".cache").join("huggingface").join("hub")))
}

/// The repository folder of `id` in the cache: `models--org--name`.
pub fn repo_folder(id: &str) -> String {
    format!("models--{}", id.replace('/', "--"))
}

/// `tokenizer.json` of `id` at `revision` in the cache at `hub`, if it is there.
pub fn cached(hub: &Path, id: &str, revision: &str) -> Option<PathBuf> {
    let repo = hub.join(repo_folder(id));
    let named = std::fs::read_to_string(repo.join("refs").join(revision))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && !s.contains(['/', '\\']));
    [named.as_deref(), Some(revision)]
        .into_iter()
        .flatten()
        .map(|snapshot| repo.join("snapshots").join(snapshot).join(TOKENIZER_FILE))
        .find(|f| f.is_file())
}

/// Why a Hub id could not be resolved: the message names the id, the exact path to put the file at, and how
/// to pass a local path instead.
fn not_found(id: &str, revision: &str, hub: Option<&Path>, why: &str) -> String {
    let at = |base: &Path| {
        base.join(repo_folder(id))
            .join("snapshots")
            .join(revision)
            .join(TOKENIZER_FILE)
            .display()
            .to_string()
    };
    let place = match hub {
        Some(h) => at(h),
        None => at(Path::new("$HF_HOME/hub")),
    };
    format!(
        "tokenizer '{id}' (--tokenizer / `tokenizer`) is not in the Hugging Face cache and {why}. Either put \
         its tokenizer.json at {place} (or run `hf download {id} tokenizer.json` where the Hub is reachable \
         and copy the cache, pointing HF_HOME at it), or pass the file itself: --tokenizer \
         /path/to/tokenizer.json"
    )
}

/// Resolves `--tokenizer`'s text to a local `tokenizer.json`, fetching a Hub id into the cache when allowed.
/// Errors name the flag and the fix.
pub fn resolve(text: &str, env: &HashMap<String, String>) -> Result<PathBuf, String> {
    let (id, revision) = match TokenizerRef::parse(text) {
        TokenizerRef::Path(p) => {
            let file = if p.is_dir() {
                p.join(TOKENIZER_FILE)
            } else {
                p
            };
            return if file.is_file() {
                Ok(file)
            } else {
                Err(format!(
                    "tokenizer file {} (--tokenizer / `tokenizer`) does not exist or is not a file; pass the \
                     path of a Hugging Face tokenizer.json (or a directory holding one), or a model id such \
                     as meta-llama/Llama-2-7b-hf",
                    file.display()
                ))
            };
        }
        TokenizerRef::Hub { id, revision } => (id, revision),
    };
    let hub = hub_cache_dir(env);
    if let Some(found) = hub.as_deref().and_then(|h| cached(h, &id, &revision)) {
        return Ok(found);
    }
    let offline = env.get("HF_HUB_OFFLINE").is_some_and(|v| {
        !matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "" | "0" | "false" | "no" | "off"
        )
    });
    if offline {
        return Err(not_found(
            &id,
            &revision,
            hub.as_deref(),
            "HF_HUB_OFFLINE is set, so it is not fetched",
        ));
    }
    fetch(&id, &revision, hub.as_deref(), env)
}

#[cfg(feature = "hf-download")]
fn fetch(
    id: &str,
    revision: &str,
    hub: Option<&Path>,
    env: &HashMap<String, String>,
) -> Result<PathBuf, String> {
    use hf_hub::api::sync::ApiBuilder;
    let Some(hub_dir) = hub else {
        return Err(not_found(
            id,
            revision,
            None,
            "no cache directory is known (set HF_HOME)",
        ));
    };
    // The cache's own token file (`hf auth login`) is read by the builder; HF_TOKEN replaces it.
    let mut builder =
        ApiBuilder::from_cache(hf_hub::Cache::new(hub_dir.to_path_buf())).with_progress(false);
    if let Some(endpoint) = env.get("HF_ENDPOINT").filter(|e| !e.trim().is_empty()) {
        builder = builder.with_endpoint(endpoint.trim().to_string());
    }
    if let Some(token) = env.get("HF_TOKEN").filter(|t| !t.trim().is_empty()) {
        builder = builder.with_token(Some(token.trim().to_string()));
    }
    log::info!("fetching {TOKENIZER_FILE} of {id}@{revision} from the Hugging Face Hub");
    let api = builder.build().map_err(|e| {
        not_found(
            id,
            revision,
            hub,
            &format!("the Hub client failed to start ({e})"),
        )
    })?;
    let repo = hf_hub::Repo::with_revision(
        id.to_string(),
        hf_hub::RepoType::Model,
        revision.to_string(),
    );
    // The error text of a failed fetch names the URL, never the token.
    api.repo(repo).get(TOKENIZER_FILE).map_err(|e| {
        not_found(
            id,
            revision,
            hub,
            &format!(
                "fetching it from the Hub failed ({e}; a gated model needs HF_TOKEN, or no network: set \
                 HF_HUB_OFFLINE=1 to skip the attempt)"
            ),
        )
    })
}

#[cfg(not(feature = "hf-download"))]
fn fetch(
    id: &str,
    revision: &str,
    hub: Option<&Path>,
    _env: &HashMap<String, String>,
) -> Result<PathBuf, String> {
    Err(not_found(
        id,
        revision,
        hub,
        "this build cannot fetch it (built without the hf-download feature)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_paths_are_told_apart() {
        let hub = |id: &str, rev: &str| TokenizerRef::Hub {
            id: id.into(),
            revision: rev.into(),
        };
        assert_eq!(
            TokenizerRef::parse("meta-llama/Llama-2-7b-hf"),
            hub("meta-llama/Llama-2-7b-hf", "main")
        );
        assert_eq!(TokenizerRef::parse("gpt2"), hub("gpt2", "main"));
        assert_eq!(
            TokenizerRef::parse("org/name@v1.0"),
            hub("org/name", "v1.0")
        );
        for path in [
            "/no/such/tokenizer.json",
            "./tok.json",
            "tok.json",
            "a/b/c",
            "../x",
            "org/name@",
            "~/t",
        ] {
            assert_eq!(
                TokenizerRef::parse(path),
                TokenizerRef::Path(path.into()),
                "{path}"
            );
        }
    }

    #[test]
    fn the_cache_dir_follows_the_hugging_face_variables() {
        let env = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            hub_cache_dir(&env(&[("HOME", "/h")])),
            Some("/h/.cache/huggingface/hub".into())
        );
        assert_eq!(
            hub_cache_dir(&env(&[("HOME", "/h"), ("HF_HOME", "/hf")])),
            Some("/hf/hub".into())
        );
        assert_eq!(
            hub_cache_dir(&env(&[("HF_HOME", "/hf"), ("HF_HUB_CACHE", "/c")])),
            Some("/c".into())
        );
        assert_eq!(hub_cache_dir(&env(&[])), None);
    }

    #[test]
    fn a_cached_snapshot_is_found_by_ref_or_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("models--org--name");
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::create_dir_all(repo.join("snapshots/abc123")).unwrap();
        std::fs::write(repo.join("refs/main"), "abc123\n").unwrap();
        std::fs::write(repo.join("snapshots/abc123/tokenizer.json"), "{}").unwrap();
        assert_eq!(
            cached(dir.path(), "org/name", "main"),
            Some(repo.join("snapshots/abc123/tokenizer.json"))
        );
        assert_eq!(
            cached(dir.path(), "org/name", "abc123"),
            Some(repo.join("snapshots/abc123/tokenizer.json"))
        );
        assert_eq!(cached(dir.path(), "org/name", "v2"), None);
        assert_eq!(cached(dir.path(), "org/other", "main"), None);
    }

    #[test]
    fn offline_and_not_cached_says_where_to_put_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let env: HashMap<String, String> = [
            ("HF_HOME", dir.path().to_str().unwrap()),
            ("HF_HUB_OFFLINE", "1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let e = resolve("org/missing", &env).unwrap_err();
        let place = dir
            .path()
            .join("hub/models--org--missing/snapshots/main/tokenizer.json");
        assert!(e.contains(&place.display().to_string()), "{e}");
        assert!(e.contains("--tokenizer /path/to/tokenizer.json"), "{e}");
        assert!(e.contains("HF_HUB_OFFLINE"), "{e}");
    }
}
