#!/usr/bin/env python3
"""Turn a llama.cpp llama-server log into JSON Lines, one line per completion task (= per HTTP request).

llama-server (the llama.cpp in llama-cpp-python 0.3.36) logs per slot and task, e.g.

  slot launch_slot_: id  0 | task 12 | processing task, is_child = 0
  slot update_slots: id  0 | task 12 | new prompt, n_ctx_slot = 4096, n_keep = 0, task.n_tokens = 231   (-lv 4)
  slot print_timing: id  0 | task 12 | prompt eval time =  35.10 ms /  201 tokens (...)
  slot print_timing: id  0 | task 12 |        eval time = 160.88 ms /  100 tokens (...)
  slot print_timing: id  0 | task 12 |       total time = 195.98 ms /  301 tokens
  slot      release: id  0 | task 12 | stop processing: n_tokens = 330, truncated = 0

"new prompt" (the whole prompt's token count) is a trace line: run the server with `-lv 4` (or
`--verbosity 4`) to have it. At the default verbosity the prompt's count is derived as
n_tokens_at_stop - n_predicted + 1 (n_prompt_tokens_source: "derived" instead of "log"). "prompt eval ... tokens" counts the tokens evaluated, i.e. without the prefix reused from the slot's
cache. A task whose client went away is released without timings (completed: false).

Output, one JSON object per task, in order of first appearance:
  task, slot, n_prompt_tokens, n_prompt_processed, n_prompt_cached, n_predicted, t_prompt_ms, t_eval_ms,
  n_tokens_at_stop, truncated, completed, n_prompt_tokens_source

Usage: parse-server-log.py SERVER_LOG [--from-byte N] > tasks.jsonl
  --from-byte N: ignore the first N bytes of the log (what an earlier run wrote).
"""
import argparse
import json
import re
import signal
import sys

LINE = re.compile(r"slot\s+\S+:\s+id\s+(\d+)\s+\|\s+task\s+(-?\d+)\s+\|\s?(.*)$")
NEW_PROMPT = re.compile(r"new prompt, n_ctx_slot = (\d+), n_keep = (-?\d+), task\.n_tokens = (\d+)")
INIT_SAMPLER = re.compile(r"init sampler, took [\d.]+ ms, tokens: text = (\d+), total = (\d+)")
PROMPT_EVAL = re.compile(r"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens")
EVAL = re.compile(r"^\s*eval time =\s*([\d.]+) ms /\s*(\d+) tokens")
STOP = re.compile(r"stop processing: n_tokens = (\d+), truncated = (\d+)")
PROCESSING = re.compile(r"processing task")


def parse(lines):
    tasks = {}

    def get(slot, task):
        t = tasks.get(task)
        if t is None:
            t = tasks[task] = {
                "task": task, "slot": slot, "n_prompt_tokens": None, "n_prompt_processed": None,
                "n_prompt_cached": None, "n_predicted": None, "t_prompt_ms": None, "t_eval_ms": None,
                "n_tokens_at_stop": None, "truncated": None, "completed": False,
            }
        return t

    for line in lines:
        m = LINE.search(line)
        if not m:
            continue
        slot, task, msg = int(m.group(1)), int(m.group(2)), m.group(3)
        if task < 0:
            continue
        if PROCESSING.search(msg):
            get(slot, task)
        elif mm := NEW_PROMPT.search(msg):
            get(slot, task)["n_prompt_tokens"] = int(mm.group(3))
        elif mm := INIT_SAMPLER.search(msg):
            t = get(slot, task)
            if t["n_prompt_tokens"] is None:
                t["n_prompt_tokens"] = int(mm.group(2))
        elif mm := PROMPT_EVAL.search(msg):
            t = get(slot, task)
            t["t_prompt_ms"] = float(mm.group(1))
            t["n_prompt_processed"] = int(mm.group(2))
        elif mm := EVAL.search(msg):
            t = get(slot, task)
            t["t_eval_ms"] = float(mm.group(1))
            t["n_predicted"] = int(mm.group(2))
            t["completed"] = True
        elif mm := STOP.search(msg):
            t = get(slot, task)
            t["n_tokens_at_stop"] = int(mm.group(1))
            t["truncated"] = bool(int(mm.group(2)))
    for t in tasks.values():
        t["n_prompt_tokens_source"] = "log" if t["n_prompt_tokens"] is not None else None
        if t["n_prompt_tokens"] is None and t["n_tokens_at_stop"] is not None and t["n_predicted"]:
            # Without -lv 4: the slot held prompt + generated tokens but the last sampled one at release
            # (checked equal to "task.n_tokens" on every task of a -lv 4 run, without speculative decoding).
            t["n_prompt_tokens"] = t["n_tokens_at_stop"] - t["n_predicted"] + 1
            t["n_prompt_tokens_source"] = "derived"
        if t["n_prompt_tokens"] is not None and t["n_prompt_processed"] is not None:
            t["n_prompt_cached"] = t["n_prompt_tokens"] - t["n_prompt_processed"]
    return list(tasks.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log")
    ap.add_argument("--from-byte", type=int, default=0)
    a = ap.parse_args()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet under `| head`
    with open(a.log, "rb") as f:
        f.seek(a.from_byte)
        text = f.read().decode("utf-8", "replace")
    for t in parse(text.splitlines()):
        sys.stdout.write(json.dumps(t) + "\n")


if __name__ == "__main__":
    main()
