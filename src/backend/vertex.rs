//! Vertex AI (`--llm-api vertexai`) through its OpenAI-compatible chat-completions endpoint, streaming.
//!
//! The original's variables build the request: `GCLOUD_ACCESS_TOKEN` (sent as `Authorization: Bearer …`;
//! e.g. `gcloud auth print-access-token`), `GCLOUD_PROJECT_ID` and `GCLOUD_REGION`. The API base is
//!
//! `https://{region}-aiplatform.googleapis.com/v1/projects/{project}/locations/{region}/endpoints/openapi`
//!
//! (`https://aiplatform.googleapis.com/…/locations/global/…` for region `global`), and `chat/completions` is
//! appended, as Google documents for its OpenAI-compatible API. `--model` is the Vertex model name, e.g.
//! `google/gemini-2.0-flash-001`. `VERTEXAI_BASE_URL` (config `vertexai_base_url`) replaces the whole base
//! (a proxy, a dedicated endpoint `…/endpoints/{id}`, or a test server); the project and region are then not
//! needed. The stream is read by the OpenAI chat client, without the original's empty system message.

/// The environment variables read, by name.
pub const TOKEN_VAR: &str = "GCLOUD_ACCESS_TOKEN";
/// The Google Cloud project.
pub const PROJECT_VAR: &str = "GCLOUD_PROJECT_ID";
/// The Google Cloud region (`global` for the global endpoint).
pub const REGION_VAR: &str = "GCLOUD_REGION";
/// Replaces the whole base URL (tests, proxies).
pub const BASE_URL_VAR: &str = "VERTEXAI_BASE_URL";

/// The OpenAI-compatible API base for a project and region.
///
/// ```
/// use llmperf_actors::backend::vertex::base_url;
/// assert_eq!(
///     base_url("my-proj", "us-central1"),
///     "https://us-central1-aiplatform.googleapis.com/v1/projects/my-proj/locations/us-central1/endpoints/openapi"
/// );
/// ```
pub fn base_url(project: &str, region: &str) -> String {
    let host = if region == "global" {
        "aiplatform.googleapis.com".to_string()
    } else {
        format!("{region}-aiplatform.googleapis.com")
    };
    format!("https://{host}/v1/projects/{project}/locations/{region}/endpoints/openapi")
}

/// The base from the environment (`get` returns a variable's non-empty value), unless `override_base` is
/// given. The error names the missing variable.
pub fn base_from_env(
    override_base: Option<&str>,
    get: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    if let Some(b) = override_base {
        return Ok(b.to_string());
    }
    let need = |var: &str| {
        get(var).ok_or_else(|| {
            format!(
                "--llm-api vertexai needs {var} (with {PROJECT_VAR} and {REGION_VAR}, they build the URL \
                 https://{{region}}-aiplatform.googleapis.com/v1/projects/{{project}}/locations/{{region}}/endpoints/openapi); \
                 or set {BASE_URL_VAR} / `vertexai_base_url` to the API base"
            )
        })
    };
    let project = need(PROJECT_VAR)?;
    let region = need(REGION_VAR)?;
    Ok(base_url(&project, &region))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_from_env_and_errors_name_the_variable() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let ok = base_from_env(
            None,
            env(&[(PROJECT_VAR, "p"), (REGION_VAR, "europe-west4")]),
        );
        assert_eq!(
            ok.unwrap(),
            "https://europe-west4-aiplatform.googleapis.com/v1/projects/p/locations/europe-west4/endpoints/openapi"
        );
        let global = base_from_env(None, env(&[(PROJECT_VAR, "p"), (REGION_VAR, "global")]));
        assert!(
            global
                .unwrap()
                .starts_with("https://aiplatform.googleapis.com/v1/projects/p/locations/global/")
        );
        let e = base_from_env(None, env(&[(REGION_VAR, "r")])).unwrap_err();
        assert!(e.contains(PROJECT_VAR), "{e}");
        let e = base_from_env(None, env(&[(PROJECT_VAR, "p")])).unwrap_err();
        assert!(e.contains(REGION_VAR), "{e}");
        assert_eq!(
            base_from_env(Some("http://127.0.0.1:1/v1"), env(&[])).unwrap(),
            "http://127.0.0.1:1/v1"
        );
    }
}
