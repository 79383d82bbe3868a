#!/usr/bin/env python3
"""Builds the Dockerfile's build stage without a container engine, from exactly the files that stage sees.

CI has no container engine and cannot pull base images, so `docker build` cannot run there. What can break the
image without breaking `cargo test` is the build context: a file the build needs that .dockerignore leaves out
or no COPY line copies (the image once failed on a manifest that declares examples the Dockerfile never copied).
This script finds that before anyone runs `docker build`:

1. the context: every file under the context directory that .dockerignore lets through (Docker's rules: the
   last matching pattern wins, `!` re-includes, a pattern matching a directory matches everything under it,
   `*` and `?` stop at `/`, `**` spans directories);
2. the stage (`--stage`, else the one the final stage copies from): its WORKDIR, ENV, ARG and COPY lines are
   replayed into a scratch root in which the stage's container paths live (`/src` becomes `<work>/root/src`);
   a COPY source that is missing or excluded fails as Docker fails ("not found in build context");
3. its RUN lines run there, in order, with the host's toolchain (cargo on PATH) and an environment reduced to
   the toolchain's variables plus the stage's ENV, so nothing of the caller's (CARGO_TARGET_DIR, RUSTFLAGS)
   leaks in; absolute paths in RUN lines are mapped into the scratch root (only the stage's WORKDIR and COPY
   destinations are known; any other absolute path is an error, not a write to the host);
4. every `COPY --from=<stage> SRC` of the later stages must then exist in the scratch root.

Anything the script does not model (ADD, COPY --from inside the stage, heredocs, USER, ...) is an error naming
the instruction, never silently skipped.

Cost (2 shared cores; CI also runs `cargo test`, debug profile). The dependency layer is a cold release build
of ~300 crates, several minutes. What keeps it reasonable:
- the registry is shared: CARGO_HOME is the caller's, so nothing is downloaded twice;
- the scratch root's `target/` is a link to `<work>/target`, kept between runs like Docker's layer cache, so a
  rerun rebuilds only the crate itself. That cannot hide a missing file: the crate is rebuilt every time (the
  stage's dummy-crate layer replaces its artifacts, then the real sources are touched), and cargo's own
  freshness check reads every source file it used;
- `--unoptimized` (what CI passes) runs the same `cargo build --release` with the release profile's
  optimisation turned off through CARGO_PROFILE_RELEASE_* variables: the same manifest parse, lock check,
  files read and output paths, a fraction of the compile time. What it gives up is code generation at
  opt-level 3, which is not what this check is for. Measured on the 2-core machine, shared with other builds
  (load 5-9): cold, 430 s (3.1 CPU-minutes) against 693 s for the dependency layer alone as written plus 225 s
  for the crate; warm (dependencies cached), 20-30 s against 226 s.
- Sharing compiled dependencies with `cargo test` is not done, on purpose: the two profiles live in different
  directories (target/debug, target/release), and building the copied crate in the debug profile of the
  repository's target directory would overwrite the artifacts `cargo test` uses (cargo names a path
  package's artifacts by its path relative to the workspace root, so the copy and the original collide, and
  a failed check would leave the stage's dummy `fn main() {}` crate behind as if it were fresh).

Exit status: 0 when the stage builds, 1 when it does not (the message says which step), 2 for bad usage or a
Dockerfile the script cannot model.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

REPO = Path(__file__).resolve().parent.parent

# Variables the toolchain needs; everything else of the caller's environment is dropped.
KEPT_ENV = ("PATH", "HOME", "CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN", "TMPDIR", "LANG", "LC_ALL", "USER")

# --unoptimized: the same `cargo build --release`, without the expensive code generation.
UNOPTIMIZED_ENV = {
    "CARGO_PROFILE_RELEASE_OPT_LEVEL": "0",
    "CARGO_PROFILE_RELEASE_DEBUG": "false",
    "CARGO_PROFILE_RELEASE_CODEGEN_UNITS": "256",
    "CARGO_PROFILE_RELEASE_LTO": "false",
    "CARGO_PROFILE_RELEASE_INCREMENTAL": "false",
}

# Instructions that cannot change what the stage's RUN lines see.
INERT = {"LABEL", "EXPOSE", "STOPSIGNAL", "HEALTHCHECK", "CMD", "ENTRYPOINT", "VOLUME", "MAINTAINER"}

# Absolute paths a RUN line may name without mapping (they exist on every host and are not written to).
HOST_PATHS = ("/dev/null", "/dev/stdout", "/dev/stderr")


class Unsupported(Exception):
    """The Dockerfile uses something this script does not model (exit 2)."""


class BuildFailed(Exception):
    """The stage does not build from its context (exit 1)."""


# ---- .dockerignore ------------------------------------------------------------------------------------------


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's pattern syntax (moby/patternmatcher) as a regular expression over a `/`-separated path."""
    out = "^"
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            if pattern[i + 1 : i + 2] == "*":
                i += 1
                if pattern[i + 1 : i + 2] == "/":
                    i += 1
                out += ".*" if i + 1 >= len(pattern) else "(.*/)?"
            else:
                out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise Unsupported(f".dockerignore pattern {pattern!r}: unclosed '['")
            body = pattern[i + 1 : end]
            out += "[" + ("^" + body[1:] if body.startswith(("^", "!")) else body) + "]"
            i = end
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + "$")


@dataclass
class IgnoreRule:
    text: str
    negated: bool
    regex: re.Pattern[str]


def read_dockerignore(path: Path) -> list[IgnoreRule]:
    """The rules of a .dockerignore file, cleaned as Docker cleans them."""
    rules = []
    if not path.is_file():
        return rules
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            continue
        text = line.strip()
        if not text:
            continue
        negated = text.startswith("!")
        if negated:
            text = text[1:].strip()
        text = os.path.normpath(text).replace(os.sep, "/")
        if len(text) > 1 and text.startswith("/"):
            text = text[1:]
        rules.append(IgnoreRule(text, negated, pattern_regex(text)))
    return rules


def excluded(rel: str, rules: list[IgnoreRule]) -> bool:
    """Whether .dockerignore leaves `rel` out of the context (patternmatcher.MatchesOrParentMatches)."""
    parts = rel.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    matched = False
    for rule in rules:
        if rule.negated != matched:
            continue
        if any(rule.regex.match(c) for c in candidates):
            matched = not rule.negated
    return matched


def may_reinclude(rel_dir: str, rules: list[IgnoreRule]) -> bool:
    """Whether a `!` rule could bring back something under the excluded directory `rel_dir`."""
    dir_parts = rel_dir.split("/")
    for rule in rules:
        if not rule.negated:
            continue
        pat_parts = rule.text.split("/")
        for i, d in enumerate(dir_parts):
            if i >= len(pat_parts) or "**" in pat_parts[i]:
                return True
            if not pattern_regex(pat_parts[i]).match(d):
                break
        else:
            return True
    return False


def context_files(context: Path, rules: list[IgnoreRule]) -> set[str]:
    """Every file (and symlink) of the build context, as `/`-separated paths relative to `context`."""
    files: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(context):
        rel_dir = os.path.relpath(dirpath, context).replace(os.sep, "/")
        prefix = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not (excluded(prefix + d, rules) and not may_reinclude(prefix + d, rules))
        )
        for name in filenames:
            rel = prefix + name
            if not excluded(rel, rules):
                files.add(rel)
    return files


# ---- Dockerfile -----------------------------------------------------------------------------------------------


@dataclass
class Instruction:
    line: int
    keyword: str
    rest: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.keyword} {self.rest}"


@dataclass
class Stage:
    index: int
    name: str | None
    base: str
    body: list[Instruction] = field(default_factory=list)


def read_dockerfile(path: Path) -> list[Stage]:
    """The stages of a Dockerfile: continuation lines joined, comments dropped (default escape character)."""
    lines = path.read_text().splitlines()
    if lines and re.match(r"#\s*escape\s*=", lines[0], re.I):
        raise Unsupported(f"{path}: the `# escape=` parser directive is not modelled")
    stages: list[Stage] = []
    i = 0
    while i < len(lines):
        start = i + 1
        text = lines[i].strip()
        i += 1
        if not text or text.startswith("#"):
            continue
        while text.endswith("\\"):
            text = text[:-1]
            while i < len(lines) and (not lines[i].strip() or lines[i].strip().startswith("#")):
                i += 1
            if i >= len(lines):
                break
            text += lines[i].strip()
            i += 1
        keyword, _, rest = text.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if "<<" in rest and keyword in ("RUN", "COPY"):
            raise Unsupported(f"{path}:{start}: heredocs are not modelled: {text}")
        if keyword == "FROM":
            m = re.match(r"(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$", rest, re.I)
            if not m:
                raise Unsupported(f"{path}:{start}: cannot read FROM {rest}")
            stages.append(Stage(len(stages), m.group(2), m.group(1)))
        elif not stages:
            if keyword != "ARG":
                raise Unsupported(f"{path}:{start}: {keyword} before the first FROM")
        else:
            stages[-1].body.append(Instruction(start, keyword, rest))
    if not stages:
        raise Unsupported(f"{path}: no FROM line")
    return stages


def split_flags(rest: str) -> tuple[dict[str, str], str]:
    """`--flag=value` options at the start of an instruction's arguments, and the remainder."""
    flags = {}
    while rest.startswith("--"):
        word, _, rest = rest.partition(" ")
        name, _, value = word[2:].partition("=")
        flags[name] = value
        rest = rest.strip()
    return flags, rest


def json_or_words(rest: str) -> tuple[list[str], bool]:
    """An instruction's arguments in exec form (a JSON list) or as shell words; and whether it was JSON."""
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value, True
    return shlex.split(rest), False


def substitute(text: str, env: dict[str, str]) -> str:
    """`$VAR` and `${VAR}` from the stage's ENV and ARG values (Docker substitutes them in COPY, WORKDIR, ENV)."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in env:
            raise Unsupported(f"${name} is not set by an ENV or ARG of the stage")
        return env[name]

    if re.search(r"\$\{[^}]*[:+-]", text):
        raise Unsupported(f"variable modifiers (${{VAR:-x}}) are not modelled: {text}")
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, text)


def key_values(rest: str) -> list[tuple[str, str]]:
    """ENV/ARG arguments: `K=V K2="V 2"`, or the legacy `K V`."""
    words = shlex.split(rest)
    if len(words) >= 2 and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]))]
    pairs = []
    for w in words:
        k, sep, v = w.partition("=")
        pairs.append((k, v) if sep else (k, None))
    return pairs


# ---- Replaying the stage ------------------------------------------------------------------------------------


class StageRoot:
    """The stage's file system: container path `/x` is `root/x`."""

    def __init__(self, root: Path):
        self.root = root
        self.workdir = PurePosixPath("/")
        self.known = []  # container directories the stage created: WORKDIRs and COPY destinations

    def host(self, container_path: PurePosixPath) -> Path:
        return self.root / str(container_path).lstrip("/")

    def resolve(self, path: str) -> PurePosixPath:
        p = PurePosixPath(path)
        return PurePosixPath(os.path.normpath(str(p if p.is_absolute() else self.workdir / p)))

    def remember(self, container_path: PurePosixPath) -> None:
        top = PurePosixPath("/", *container_path.parts[1:2])
        if str(top) != "/" and top not in self.known:
            self.known.append(top)

    def map_run_paths(self, command: str, where: Instruction) -> str:
        """Maps the absolute paths of a RUN line into the root; refuses paths it cannot map."""

        def one(m: re.Match[str]) -> str:
            path = m.group(1)
            if path in HOST_PATHS:
                return path
            for top in self.known:
                if path == str(top) or path.startswith(f"{top}/"):
                    return str(self.root) + path
            raise Unsupported(
                f"{where}: the absolute path {path} is outside the stage's WORKDIR and COPY destinations "
                f"({', '.join(map(str, self.known)) or 'none'}); this check runs RUN lines on the host, so it "
                "maps only those. Write the file under WORKDIR (and COPY --from it from there)."
            )

        return re.sub(r"(?<![\w.:/~$-])(/[\w.+@%/-]*)", one, command)


def copy_sources(srcs: list[str], files: set[str], where: Instruction) -> list[tuple[str, bool]]:
    """The context entries each COPY source names: (relative path, is a directory). Missing ones fail."""
    dirs = {"/".join(f.split("/")[:i]) for f in files for i in range(1, f.count("/") + 1)}
    found = []
    for src in srcs:
        clean = os.path.normpath(src.lstrip("/")).replace(os.sep, "/")
        if clean == ".." or clean.startswith("../"):
            raise BuildFailed(f"{where}: {src} is outside the build context")
        if clean == ".":
            found.append(("", True))
            continue
        if any(ch in clean for ch in "*?["):
            regex = pattern_regex(clean)
            hits = sorted(p for p in files | dirs if regex.match(p))
        else:
            hits = [clean] if clean in files or clean in dirs else []
        if not hits:
            raise BuildFailed(
                f"{where}: {src} not found in the build context or excluded by .dockerignore "
                "(docker build fails the same way)"
            )
        found.extend((h, h in dirs) for h in hits)
    return found


def do_copy(root: StageRoot, context: Path, files: set[str], ins: Instruction, env: dict[str, str]) -> int:
    flags, rest = split_flags(ins.rest)
    for name in flags:
        if name == "from":
            raise Unsupported(f"{ins}: COPY --from inside the checked stage is not modelled")
        if name not in ("chown", "chmod", "link"):
            raise Unsupported(f"{ins}: COPY --{name} is not modelled")
    words, _ = json_or_words(rest)
    words = [substitute(w, env) for w in words]
    if len(words) < 2:
        raise Unsupported(f"{ins}: COPY needs a source and a destination")
    srcs, dest = words[:-1], words[-1]
    entries = copy_sources(srcs, files, ins)
    dest_path = root.resolve(dest)
    into_dir = dest.endswith("/") or len(entries) > 1 or root.host(dest_path).is_dir()
    root.remember(dest_path)
    copied = 0
    for rel, is_dir in entries:
        if is_dir:
            prefix = f"{rel}/" if rel else ""
            for f in sorted(f for f in files if f.startswith(prefix)):
                copied += copy_file(context / f, root.host(dest_path / f[len(prefix) :]))
        else:
            target = dest_path / PurePosixPath(rel).name if into_dir else dest_path
            copied += copy_file(context / rel, root.host(target))
    return copied


def copy_file(src: Path, dst: Path) -> int:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    # copy2 keeps the modification time, as COPY does (the Dockerfile's `touch` lines depend on it).
    shutil.copy2(src, dst, follow_symlinks=False)
    return 1


def pick_stage(stages: list[Stage], wanted: str | None) -> Stage:
    if wanted is not None:
        for s in stages:
            if s.name == wanted or str(s.index) == wanted:
                return s
        raise Unsupported(f"no stage named {wanted}; the stages are {[s.name or s.index for s in stages]}")
    sources = {
        split_flags(i.rest)[0]["from"]
        for i in stages[-1].body
        if i.keyword == "COPY" and "from" in split_flags(i.rest)[0]
    }
    chosen = [s for s in stages if s.name in sources or str(s.index) in sources]
    if len(chosen) != 1:
        raise Unsupported(f"pass --stage: the final stage copies from {sorted(sources) or 'no stage'}")
    return chosen[0]


def toolchain_env(unoptimized: bool) -> dict[str, str]:
    env = {k: os.environ[k] for k in KEPT_ENV if k in os.environ}
    env["CARGO_TERM_COLOR"] = "never"
    if unoptimized:
        env.update(UNOPTIMIZED_ENV)
    return env


def run_stage(args: argparse.Namespace) -> None:
    context = args.context.resolve()
    dockerfile = (args.dockerfile or context / "Dockerfile").resolve()
    ignore_file = args.dockerignore or context / ".dockerignore"
    stages = read_dockerfile(dockerfile)
    stage = pick_stage(stages, args.stage)
    rules = read_dockerignore(ignore_file)
    files = context_files(context, rules)
    print(f"context: {context} with {ignore_file.name} applied: {len(files)} files")

    work = args.work.resolve()
    root = StageRoot(work / "root")
    if root.root.exists():
        shutil.rmtree(root.root)
    root.root.mkdir(parents=True)
    cached_target = work / "target"
    cached_target.mkdir(parents=True, exist_ok=True)

    env: dict[str, str] = {}
    shell = ["/bin/sh", "-c"]
    base_env = toolchain_env(args.unoptimized)
    print(f"stage {stage.name or stage.index} (FROM {stage.base}) in {root.root}")
    if args.unoptimized:
        print("--unoptimized: " + " ".join(f"{k}={v}" for k, v in UNOPTIMIZED_ENV.items()))
    for ins in stage.body:
        k = ins.keyword
        if k == "WORKDIR":
            root.workdir = root.resolve(substitute(ins.rest, env))
            root.remember(root.workdir)
            host = root.host(root.workdir)
            host.mkdir(parents=True, exist_ok=True)
            # The build's target directory persists between runs (see the module comment on cost).
            link = host / "target"
            if not link.exists() and not link.is_symlink():
                link.symlink_to(cached_target, target_is_directory=True)
            print(f"{ins}")
        elif k in ("ENV", "ARG"):
            for key, value in key_values(ins.rest):
                if value is None:
                    if k == "ENV":
                        raise Unsupported(f"{ins}: ENV without a value")
                    continue  # an ARG without a default (no --build-arg here): unset
                env[key] = substitute(value, env)
            print(f"{ins}")
        elif k == "COPY":
            n = do_copy(root, context, files, ins, env)
            print(f"{ins}  ({n} files)")
        elif k == "SHELL":
            shell, is_json = json_or_words(ins.rest)
            if not is_json:
                raise Unsupported(f"{ins}: SHELL takes a JSON list")
        elif k == "RUN":
            flags, rest = split_flags(ins.rest)
            for name, value in flags.items():
                if name == "mount" and "type=cache" in value:
                    continue  # a cache mount changes only how fast the line runs
                if name != "network":
                    raise Unsupported(f"{ins}: RUN --{name}={value} is not modelled")
            words, is_json = json_or_words(rest)
            argv = [root.map_run_paths(w, ins) for w in words] if is_json else [
                *shell,
                root.map_run_paths(rest, ins),
            ]
            print(f"{ins}", flush=True)
            started = time.monotonic()
            done = subprocess.run(argv, cwd=root.host(root.workdir), env={**base_env, **env}, check=False)
            took = time.monotonic() - started
            if done.returncode != 0:
                raise BuildFailed(f"{ins}\n  failed with exit code {done.returncode} after {took:.1f} s")
            print(f"  ok in {took:.1f} s", flush=True)
        elif k in INERT:
            print(f"{ins}  (no effect on the build)")
        else:
            raise Unsupported(f"{ins}: {k} is not modelled by {Path(__file__).name}; teach it or use --stage")

    # What the later stages take from this one must be there.
    for later in stages[stage.index + 1 :]:
        for ins in later.body:
            if ins.keyword != "COPY":
                continue
            flags, rest = split_flags(ins.rest)
            if flags.get("from") not in (stage.name, str(stage.index)):
                continue
            words, _ = json_or_words(rest)
            for src in words[:-1]:
                # COPY --from paths are relative to the source stage's root, not its WORKDIR.
                path = PurePosixPath("/", src.lstrip("/"))
                if not root.host(path).exists():
                    raise BuildFailed(f"{ins}: {src} was not produced by stage {stage.name or stage.index}")
                print(f"{ins}: {src} present")
    if not args.keep:
        shutil.rmtree(root.root)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--context", type=Path, default=REPO, help="the build context directory [the repository]")
    p.add_argument("--dockerfile", type=Path, help="the Dockerfile [CONTEXT/Dockerfile]")
    p.add_argument("--dockerignore", type=Path, help="the ignore file [CONTEXT/.dockerignore]")
    p.add_argument("--stage", help="the stage to build [the one the final stage copies from]")
    p.add_argument(
        "--work",
        type=Path,
        default=REPO / "target" / "docker-context",
        help="scratch root and cached target directory [target/docker-context]",
    )
    p.add_argument("--unoptimized", action="store_true", help="release builds at opt-level 0 (see the comment)")
    p.add_argument("--keep", action="store_true", help="keep the scratch root for inspection")
    args = p.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # in order with the RUN lines' own output
    started = time.monotonic()
    try:
        run_stage(args)
    except Unsupported as e:
        print(f"docker context check: cannot model the Dockerfile: {e}", file=sys.stderr)
        return 2
    except BuildFailed as e:
        print(f"docker context check: FAILED: {e}", file=sys.stderr)
        return 1
    print(f"docker context check: the build stage builds from its context ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
