//! `docs/cli.md`'s flag reference is generated from clap's own definitions: this test renders it from
//! `Cli::command()` and fails when the page differs. `UPDATE_DOCS=1 cargo test --test cli_docs` rewrites the
//! generated part; the text around it is written by hand.

use std::path::Path;

use clap::{Arg, ArgAction, Command, CommandFactory};
use llmperf_actors::cli::Cli;

const BEGIN: &str =
    "<!-- generated from the clap definitions by tests/cli_docs.rs; do not edit by hand -->";
const END: &str = "<!-- end of the generated reference -->";

/// The flags of the original LLMPerf's `token_benchmark_ray.py` and `llm_correctness.py`.
const ORIGINAL: [&str; 12] = [
    "model",
    "mean-input-tokens",
    "stddev-input-tokens",
    "mean-output-tokens",
    "stddev-output-tokens",
    "num-concurrent-requests",
    "timeout",
    "max-num-completed-requests",
    "additional-sampling-params",
    "results-dir",
    "llm-api",
    "metadata",
];

/// Text that stays in one table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn usage(arg: &Arg) -> String {
    let values = arg
        .get_value_names()
        .map(|v| {
            v.iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| arg.get_id().to_string().to_uppercase());
    let takes_value = arg.get_action().takes_values();
    match arg.get_long() {
        Some(long) if takes_value => format!("`--{long} {values}`"),
        Some(long) => format!("`--{long}`"),
        None if matches!(arg.get_action(), ArgAction::Append) => format!("`{values}...`"),
        None if arg.is_required_set() => format!("`{values}`"),
        None => format!("`[{values}]`"),
    }
}

/// One command's flags, a table per help heading (the unheaded ones first, as `--help` lists them).
fn render_command(out: &mut String, title: &str, cmd: &Command, original: bool) {
    out.push_str(&format!("\n## {title}\n\n"));
    if let Some(about) = cmd.get_long_about().or(cmd.get_about()) {
        out.push_str(&format!("{about}\n"));
    }
    let mut args: Vec<&Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !["help", "version"].contains(&a.get_id().as_str()))
        .collect();
    // The order `--help` lists them in (`mut_arg` moves an argument to the end of `get_arguments`).
    args.sort_by_key(|a| a.get_display_order());
    let mut headings: Vec<Option<&str>> = Vec::new();
    for a in &args {
        if !headings.contains(&a.get_help_heading()) {
            headings.push(a.get_help_heading());
        }
    }
    headings.sort_by_key(|h| h.is_some());
    for heading in headings {
        if let Some(h) = heading {
            out.push_str(&format!("\n### {h}\n"));
        }
        out.push('\n');
        if original {
            out.push_str("| flag | in LLMPerf | meaning |\n|---|---|---|\n");
        } else {
            out.push_str("| flag | meaning |\n|---|---|\n");
        }
        for a in args.iter().filter(|a| a.get_help_heading() == heading) {
            let help = a
                .get_long_help()
                .or(a.get_help())
                .map(|h| h.to_string())
                .unwrap_or_default();
            let mut help = cell(&help);
            if let Some(d) = a
                .get_default_values()
                .first()
                .filter(|_| a.get_action().takes_values())
            {
                help.push_str(&format!(" [default: {}]", d.to_string_lossy()));
            }
            if original {
                let same = a.get_long().is_some_and(|l| ORIGINAL.contains(&l));
                let mark = if same { "yes" } else { "" };
                out.push_str(&format!("| {} | {mark} | {help} |\n", cell(&usage(a))));
            } else {
                out.push_str(&format!("| {} | {help} |\n", cell(&usage(a))));
            }
        }
    }
}

fn reference() -> String {
    let mut root = Cli::command();
    root.build();
    let mut out = String::new();
    render_command(&mut out, "`llmperf-actors`: the load test", &root, true);
    for sub in root.get_subcommands() {
        let name = sub.get_name();
        if name == "help" {
            continue;
        }
        let original = name == "correctness";
        render_command(&mut out, &format!("`llmperf-actors {name}`"), sub, original);
    }
    out
}

#[test]
fn docs_cli_md_lists_every_flag_as_clap_defines_it() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/cli.md");
    let page = std::fs::read_to_string(&path).unwrap();
    let (Some(begin), Some(end)) = (page.find(BEGIN), page.find(END)) else {
        panic!("docs/cli.md lacks the markers {BEGIN:?} and {END:?}");
    };
    let generated = format!("{BEGIN}\n{}\n", reference());
    if page[begin..end] == generated {
        return;
    }
    if std::env::var_os("UPDATE_DOCS").is_some() {
        let updated = format!("{}{generated}{}", &page[..begin], &page[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    panic!(
        "docs/cli.md's flag reference differs from the clap definitions; run \
         `UPDATE_DOCS=1 cargo test --test cli_docs` and commit docs/cli.md"
    );
}
