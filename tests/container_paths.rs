//! The container's entrypoint and paths, without a container engine: the image's ENTRYPOINT/CMD/ENV/WORKDIR
//! (read from the Dockerfile) and each Job's args, env and mounts (read from k8s/), run locally against the
//! built-in simulator with the shipped settings/config.yml as the ConfigMap, and the container paths
//! (/etc/config, /results) mapped into a temporary directory. Asserts the files land where the manifests expect,
//! that every API's credentials reach the tool from the Secret, that the sharded Job's shard count is its
//! completion count, and that its optional shared start time holds every shard.
#![cfg(feature = "sim")] // starts the built-in simulator

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use llmperf_actors::Settings;
use llmperf_actors::backend::vertex;
use llmperf_actors::cli::Cli;
use yaml_rust2::{Yaml, YamlLoader};

const CONFIG_DIR: &str = "/etc/config";
const RESULTS_DIR: &str = "/results";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// What the Dockerfile's final stage sets up.
struct Image {
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    env: BTreeMap<String, String>,
    workdir: String,
}

fn json_list(line: &str, instruction: &str) -> Vec<String> {
    serde_json::from_str(line.trim_start_matches(instruction).trim())
        .unwrap_or_else(|e| panic!("{instruction} must be a JSON (exec form) list: {line}: {e}"))
}

fn read_image() -> Image {
    let text = std::fs::read_to_string(repo("Dockerfile")).unwrap();
    let last_stage = text.rsplit("\nFROM ").next().unwrap();
    let mut image = Image {
        entrypoint: Vec::new(),
        cmd: Vec::new(),
        env: BTreeMap::new(),
        workdir: "/".into(),
    };
    for line in last_stage.lines().map(str::trim) {
        if line.starts_with("ENTRYPOINT ") {
            image.entrypoint = json_list(line, "ENTRYPOINT");
        } else if line.starts_with("CMD ") {
            image.cmd = json_list(line, "CMD");
        } else if let Some(rest) = line.strip_prefix("ENV ") {
            let (k, v) = rest.split_once('=').expect("ENV KEY=VALUE");
            image.env.insert(k.into(), v.into());
        } else if let Some(dir) = line.strip_prefix("WORKDIR ") {
            image.workdir = dir.into();
        }
    }
    image
}

fn read_manifest(name: &str) -> Yaml {
    let text = std::fs::read_to_string(repo(&format!("k8s/{name}"))).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

fn strings(y: &Yaml) -> Vec<String> {
    y.as_vec()
        .map(|v| v.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// The Secret and ConfigMap keys `valueFrom` entries can read: (object name, key) → value. A key absent here is
/// absent in the cluster (every reference must then be optional, as the pod would not start otherwise).
type Refs = BTreeMap<(&'static str, String), String>;

/// The command line and environment a Job's container gets, with the container paths mapped under `root`.
struct Pod {
    args: Vec<String>,
    env: BTreeMap<String, String>,
    workdir: PathBuf,
    completions: Option<i64>,
}

fn map_path(root: &Path, s: &str) -> String {
    for prefix in [CONFIG_DIR, RESULTS_DIR] {
        if s == prefix || s.starts_with(&format!("{prefix}/")) {
            return format!("{}{s}", root.display());
        }
    }
    s.to_string()
}

fn pod(job: &Yaml, image: &Image, root: &Path, refs: &Refs) -> Pod {
    assert_eq!(job["kind"].as_str(), Some("Job"));
    let spec = &job["spec"]["template"]["spec"];
    let c = &spec["containers"][0];
    assert_eq!(
        spec["securityContext"]["runAsNonRoot"].as_bool(),
        Some(true)
    );
    assert_eq!(
        c["securityContext"]["readOnlyRootFilesystem"].as_bool(),
        Some(true)
    );
    assert_eq!(
        strings(&c["securityContext"]["capabilities"]["drop"]),
        ["ALL"]
    );
    // Mounts: results read-write at /results on the claim; config read-only at /etc/config from the ConfigMap.
    let volumes = spec["volumes"].as_vec().unwrap();
    let volume = |name: &str| {
        volumes
            .iter()
            .find(|v| v["name"].as_str() == Some(name))
            .unwrap()
    };
    for m in c["volumeMounts"].as_vec().unwrap() {
        let v = volume(m["name"].as_str().unwrap());
        match m["mountPath"].as_str().unwrap() {
            CONFIG_DIR => {
                assert_eq!(m["readOnly"].as_bool(), Some(true));
                assert_eq!(v["configMap"]["name"].as_str(), Some("llmperf-config"));
            }
            RESULTS_DIR => {
                assert!(m["readOnly"].as_bool() != Some(true));
                assert_eq!(
                    v["persistentVolumeClaim"]["claimName"].as_str(),
                    Some("llmperf-results")
                );
            }
            other => panic!("unexpected mount {other}"),
        }
    }
    // `args` replace the image's CMD; `command` would replace its ENTRYPOINT (none of ours does).
    assert!(
        c["command"].is_badvalue(),
        "the Jobs use the image's ENTRYPOINT"
    );
    assert_eq!(image.entrypoint, ["llmperf-actors"]);
    let args = match c["args"].as_vec() {
        Some(_) => strings(&c["args"]),
        None => image.cmd.clone(),
    };
    let mut env = image.env.clone();
    for e in c["env"].as_vec().into_iter().flatten() {
        let name = e["name"].as_str().unwrap();
        if let Some(v) = e["value"].as_str() {
            env.insert(name.into(), v.into());
            continue;
        }
        let from = &e["valueFrom"];
        let (source, r) = match (&from["secretKeyRef"], &from["configMapKeyRef"]) {
            (r, _) if !r.is_badvalue() => ("secret", r),
            (_, r) if !r.is_badvalue() => ("configmap", r),
            _ => panic!("{name}: unexpected env source {from:?}"),
        };
        assert_eq!(
            r["optional"].as_bool(),
            Some(true),
            "{name}: the Jobs must also start without that {source}"
        );
        let key = (
            source,
            format!(
                "{}/{}",
                r["name"].as_str().unwrap(),
                r["key"].as_str().unwrap()
            ),
        );
        if let Some(v) = refs.get(&key) {
            env.insert(name.into(), v.clone());
        }
    }
    Pod {
        args: args.iter().map(|a| map_path(root, a)).collect(),
        env: env
            .into_iter()
            .map(|(k, v)| (k, map_path(root, &v)))
            .collect(),
        workdir: PathBuf::from(map_path(root, &image.workdir)),
        completions: job["spec"]["completions"].as_i64(),
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The value of the pod's `--shard-count`.
fn shard_count(p: &Pod) -> String {
    let i = p
        .args
        .iter()
        .position(|a| a == "--shard-count")
        .expect("--shard-count");
    p.args[i + 1].clone()
}

/// Starts the pod's process; `index` is the Indexed Job's completion index.
fn start(p: &Pod, index: Option<i64>) -> std::process::Child {
    let mut c: Command = common::bin();
    c.args(&p.args).envs(&p.env).current_dir(&p.workdir);
    // Faster simulated tokens; everything else as shipped.
    c.env("LLMPERF_SIMULATOR__TTFT_MS", "2")
        .env("LLMPERF_SIMULATOR__ITL_MS", "0.5");
    if let Some(i) = index {
        c.env("JOB_COMPLETION_INDEX", i.to_string());
    }
    c.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// A root with the ConfigMap (settings/config.yml as `config.yml`) and an empty results volume.
fn container_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let config_dir = root.path().join("etc/config");
    std::fs::create_dir_all(&config_dir).unwrap();
    // kubectl create configmap llmperf-config --from-file=config.yml=settings/config.yml
    std::fs::copy(repo("settings/config.yml"), config_dir.join("config.yml")).unwrap();
    std::fs::create_dir(root.path().join("results")).unwrap();
    root
}

/// The base names of the shipped config's runs.
fn shipped_runs() -> Vec<String> {
    let settings = Settings::builder()
        .config_file(repo("settings/config.yml"))
        .build()
        .unwrap();
    settings.runs().into_iter().map(|r| r.base_name).collect()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn expected_files(bases: &[String], suffix: &str) -> Vec<String> {
    let mut want: Vec<String> = bases
        .iter()
        .flat_map(|b| {
            [
                "individual_responses.json",
                "requests.jsonl",
                "run.json",
                "summary.json",
            ]
            .map(|f| format!("{b}{suffix}_{f}"))
        })
        .collect();
    want.sort();
    want
}

#[test]
fn the_image_default_and_job_yml_write_the_shipped_matrix_into_results() {
    let image = read_image();
    assert_eq!(image.cmd, ["--config", "/etc/config/config.yml"]);
    assert_eq!(
        image.env.get("LLMPERF_RESULTS_DIR").map(String::as_str),
        Some(RESULTS_DIR)
    );
    let root = container_root();
    let job = pod(&read_manifest("job.yml"), &image, root.path(), &Refs::new());
    common::check(start(&job, None).wait_with_output().unwrap());
    let results = root.path().join("results");
    assert_eq!(files_in(&results), expected_files(&shipped_runs(), ""));
    for base in shipped_runs() {
        let s = common::read_json(&results.join(format!("{base}_summary.json")));
        assert_eq!(s["results_num_requests_started"], 20);
        assert_eq!(s["results_number_errors"], 0);
    }
}

#[test]
fn the_sharded_job_then_the_merge_job_give_one_summary_per_run() {
    let image = read_image();
    let root = container_root();
    // The optional start time, as `kubectl create configmap llmperf-start --from-literal=start_at=…` sets it:
    // two seconds ahead, in Unix seconds.
    let at = unix_now() + 2.0;
    let refs = Refs::from([(
        ("configmap", "llmperf-start/start_at".into()),
        format!("{at:.3}"),
    )]);
    let sharded = pod(
        &read_manifest("job-sharded.yml"),
        &image,
        root.path(),
        &refs,
    );
    let job = read_manifest("job-sharded.yml");
    assert_eq!(job["spec"]["completionMode"].as_str(), Some("Indexed"));
    let n = sharded.completions.expect("completions");
    assert_eq!(job["spec"]["parallelism"].as_i64(), Some(n));
    assert_eq!(
        shard_count(&sharded),
        n.to_string(),
        "--shard-count = completions"
    );
    // The pods run at the same time, into one volume.
    let pods: Vec<_> = (0..n).map(|i| start(&sharded, Some(i))).collect();
    for p in pods {
        common::check(p.wait_with_output().unwrap());
    }
    let results = root.path().join("results");
    // No shard sent its first request before the shared start time.
    let first = &shipped_runs()[0];
    for i in 0..n {
        let base = results.join(format!("sharded/{first}_shard-{i}-of-{n}"));
        let run = common::read_json(Path::new(&format!("{}_run.json", base.display())));
        let log = common::read_jsonl(Path::new(&format!("{}_requests.jsonl", base.display())));
        let earliest = log
            .iter()
            .map(|r| r["metrics"]["actual_start_s"].as_f64().unwrap())
            .fold(f64::INFINITY, f64::min);
        let sent = run["start_unix_s"].as_f64().unwrap() + earliest;
        assert!(
            sent >= at - 0.001,
            "shard {i} sent at {sent:.4}, start_at {at:.4}"
        );
    }
    let sharded_dir = results.join("sharded");
    let env_dir = &sharded.env["LLMPERF_RESULTS_DIR"];
    assert_eq!(
        Path::new(env_dir),
        sharded_dir,
        "shards write into a directory of their own"
    );
    let bases = shipped_runs();
    let mut want: Vec<String> = (0..n)
        .flat_map(|i| expected_files(&bases, &format!("_shard-{i}-of-{n}")))
        .collect();
    want.sort();
    assert_eq!(files_in(&sharded_dir), want);

    let merge = pod(
        &read_manifest("job-merge.yml"),
        &image,
        root.path(),
        &Refs::new(),
    );
    common::check(start(&merge, None).wait_with_output().unwrap());
    let merged = results.join("merged");
    assert_eq!(files_in(&merged), expected_files(&bases, ""));
    assert_eq!(files_in(&results), ["merged", "sharded"]);
    for base in &bases {
        let s = common::read_json(&merged.join(format!("{base}_summary.json")));
        assert_eq!(s["name"], format!("{base}_summary"));
        assert_eq!(s["results_num_requests_started"], 20);
        assert_eq!(s["num_concurrent_requests"], 10);
    }
}

/// Kubernetes does not tell a pod its Job's completion count (docs/kubernetes.md), so `--shard-count` is written
/// next to `completions` and must agree; `the_sharded_job_then…` checks that they do. Should they drift apart, a
/// pod whose index is not below `--shard-count` (completions raised alone) refuses to start, naming the fix.
#[test]
fn a_pod_beyond_the_shard_count_refuses_to_start() {
    let image = read_image();
    let root = container_root();
    let sharded = pod(
        &read_manifest("job-sharded.yml"),
        &image,
        root.path(),
        &Refs::new(),
    );
    let n: i64 = shard_count(&sharded).parse().unwrap();
    let out = start(&sharded, Some(n)).wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("shard_index {n} must be below shard_count {n}"))
            && stderr.contains("completions"),
        "{stderr}"
    );
    assert!(
        !root.path().join("results/sharded").exists(),
        "nothing written"
    );
}

/// The environment variables through which the tool reads each API's credentials and account.
fn credential_vars() -> Vec<&'static str> {
    vec![
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        vertex::TOKEN_VAR,
        vertex::PROJECT_VAR,
        vertex::REGION_VAR,
    ]
}

/// The settings a Job's pod would run with for `--llm-api api`, its env resolved from `refs`.
fn pod_settings(job: &str, api: &str, refs: &Refs) -> Result<Settings, llmperf_actors::Error> {
    let root = container_root();
    let p = pod(&read_manifest(job), &read_image(), root.path(), refs);
    let argv = ["llmperf-actors".to_string()]
        .into_iter()
        .chain(p.args.iter().cloned())
        .chain(["--llm-api".into(), api.into()]);
    let cli = Cli::try_parse_from(argv).unwrap();
    let env: std::collections::HashMap<String, String> = p.env.into_iter().collect();
    cli.load.settings(&env)
}

#[test]
fn every_api_gets_its_credentials_from_the_secret_in_every_load_job() {
    // The example Secret names exactly the variables the tool reads.
    let secret = read_manifest("secret.example.yml");
    assert_eq!(secret["metadata"]["name"].as_str(), Some("llmperf-api-key"));
    let mut keys: Vec<&str> = secret["stringData"]
        .as_hash()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap())
        .collect();
    let mut want = credential_vars();
    keys.sort();
    want.sort();
    assert_eq!(keys, want);

    let value = |var: &str| format!("value-of-{var}");
    let full: Refs = credential_vars()
        .into_iter()
        .map(|v| (("secret", format!("llmperf-api-key/{v}")), value(v)))
        .collect();
    for job in ["job.yml", "job-sharded.yml"] {
        let key = |api: &str| {
            let s = pod_settings(job, api, &full).unwrap_or_else(|e| panic!("{job} {api}: {e}"));
            (s.api_key.map(|k| k.expose().to_string()), s.endpoint)
        };
        assert_eq!(key("openai").0, Some(value("OPENAI_API_KEY")), "{job}");
        assert_eq!(
            key("anthropic").0,
            Some(value("ANTHROPIC_API_KEY")),
            "{job}"
        );
        let (token, endpoint) = key("vertexai");
        assert_eq!(token, Some(value(vertex::TOKEN_VAR)), "{job}");
        assert_eq!(
            endpoint,
            llmperf_actors::settings::Endpoint::Url(vertex::base_url(
                &value(vertex::PROJECT_VAR),
                &value(vertex::REGION_VAR)
            )),
            "{job}"
        );
        // A Secret without the Anthropic key (the references are optional, so the pod still starts): the
        // tool says which variable is missing.
        let mut partial = full.clone();
        partial.remove(&("secret", "llmperf-api-key/ANTHROPIC_API_KEY".into()));
        let e = pod_settings(job, "anthropic", &partial)
            .unwrap_err()
            .to_string();
        assert!(e.contains("ANTHROPIC_API_KEY"), "{job}: {e}");
    }
}
