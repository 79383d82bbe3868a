#!/usr/bin/env python3
"""Compare one llmperf-actors run against llama-server's own per-request log.

Reads our results directory (*_individual_responses.json, and *_requests.jsonl when there) and the
server's tasks as JSON Lines (from parse-server-log.py), and prints a compact table:
  - our records, our errors (grouped by message) and error kinds;
  - requests the server saw (completion tasks), completed and released early;
  - output tokens: ours (number_output_tokens; server_completion_tokens where our records carry it) against
    the server's n_predicted;
  - prompt tokens: ours (the requested budget, our tokenizer's count of the prompt, server_prompt_tokens
    where present) against the server's n_prompt_tokens (and how many it took from its prefix cache);
  - timings: our TTFT and end-to-end latency against the server's prompt-eval and eval times;
  - connection fields (new_connection, connect_s) and the newer count fields (generated_tokens,
    prompt_tokens, tokenizer_generated_tokens, token_counts_source) when our records have them.

Exit status: 1 if we recorded any error, or if the number of requests the server saw differs from the
number of our records (each request must reach the server exactly once); else 0.

With --server-url (the server still running), our successful prompts are recounted by the server's own
tokenizer (/tokenize) and chat template (/apply-template).

Usage: compare.py --results DIR --server-tasks tasks.jsonl [--label TEXT] [--server-url URL]
"""
import argparse
import collections
import glob
import json
import os
import signal
import statistics
import sys


def load_records(results: str) -> tuple[list[dict], list[dict]]:
    files = sorted(glob.glob(os.path.join(results, "*_individual_responses.json")))
    if not files:
        sys.exit(f"no *_individual_responses.json in {results}")
    records = []
    for f in files:
        with open(f) as fh:
            records.extend(json.load(fh))
    # The per-request log may carry fields the llmperf file leaves out: merge them in by position.
    logs = sorted(glob.glob(os.path.join(results, "*_requests.jsonl")))
    log_metrics = []
    for f in logs:
        with open(f) as fh:
            for line in fh:
                line = line.strip()
                if line:
                    try:
                        log_metrics.append(json.loads(line))
                    except ValueError:
                        pass  # a crashed run's last line
    return records, log_metrics


def num(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def total(values):
    vals = [v for v in values if num(v) is not None]
    return sum(vals) if vals else None, len(vals)


def pct(values, q):
    vals = sorted(v for v in values if num(v) is not None)
    if not vals:
        return None
    k = min(len(vals) - 1, max(0, round(q / 100 * (len(vals) - 1))))
    return vals[k]


def retokenize(url: str, lines: list[dict]):
    """Ask the server to count the prompts of our successful requests: the user prompt alone (with BOS),
    against our number_input_tokens_actual, and the chat as our tool sends it (an empty system message,
    then the user prompt) through the server's chat template, against the server's log."""
    import urllib.request

    def post(path, body):
        req = urllib.request.Request(url.rstrip("/") + path, json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.load(resp)

    n = same = raw_sum = chat_sum = 0
    for ln in lines:
        prompt = (ln.get("request_config") or {}).get("prompt")
        if not isinstance(prompt, list) or not prompt or not isinstance(prompt[0], str):
            continue
        text = prompt[0]
        raw = len(post("/tokenize", {"content": text, "add_special": True})["tokens"])
        chat = post("/apply-template", {"messages": [{"role": "system", "content": ""},
                                                      {"role": "user", "content": text}]})["prompt"]
        chat_sum += len(post("/tokenize", {"content": chat, "add_special": True})["tokens"])
        raw_sum += raw
        n += 1
        same += raw == ln["metrics"].get("number_input_tokens_actual")
    return (n, same, raw_sum, chat_sum) if n else None


def fmt(v, digits=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", required=True)
    ap.add_argument("--server-tasks", required=True)
    ap.add_argument("--label", default="")
    ap.add_argument("--server-url", help="llama-server base URL (e.g. http://127.0.0.1:PORT): recount our "
                    "prompts with its /tokenize and /apply-template")
    a = ap.parse_args()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet under `| head`

    records, log_lines = load_records(a.results)
    log_metrics = [ln.get("metrics", ln) for ln in log_lines]
    with open(a.server_tasks) as fh:
        tasks = [json.loads(line) for line in fh if line.strip()]

    def is_error(r):
        return r.get("error_code") is not None or bool(r.get("error_msg"))

    errors = [r for r in records if is_error(r)]
    ok = [r for r in records if not is_error(r)]
    completed = [t for t in tasks if t.get("completed")]
    released_early = [t for t in tasks if not t.get("completed")]

    rows = []

    def row(name, ours, server, note=""):
        rows.append((name, fmt(ours) if not isinstance(ours, str) else ours,
                     fmt(server) if not isinstance(server, str) else server, note))

    row("requests (records / tasks)", len(records), len(tasks),
        "OK" if len(records) == len(tasks) else "MISMATCH")
    row("  successful / completed", len(ok), len(completed))
    row("  errors / released early", len(errors), len(released_early))

    # output tokens: our successful records against the server's completed tasks (an errored request of
    # ours that never reached the server has no task)
    ours_out_ok, _ = total(r.get("number_output_tokens") for r in ok)
    ours_out_err, _ = total(r.get("number_output_tokens") for r in errors)
    srv_out, _ = total(t.get("n_predicted") for t in completed)
    row("output tokens: ours (ok) / n_predicted", ours_out_ok, srv_out,
        f"ours/server {ours_out_ok / srv_out:.4f}" if ours_out_ok and srv_out else "")
    asked = [ln.get("request_config", {}).get("sampling_params", {}).get("max_tokens")
             for ln in log_lines if isinstance(ln.get("metrics"), dict) and not is_error(ln["metrics"])]
    asked_sum, n_asked = total(asked)
    if n_asked:
        row("  max_tokens we asked (ok)", asked_sum, srv_out,
            "equal" if asked_sum == srv_out else f"server {srv_out - asked_sum:+,}")
    src = collections.Counter(r.get("output_tokens_source") for r in ok if "output_tokens_source" in r)
    if src:
        row("  our output_tokens_source (ok)", ", ".join(f"{k}:{v}" for k, v in src.items()), "")
    usage_out, n_usage_out = total(r.get("server_completion_tokens") for r in ok)
    if n_usage_out:
        row(f"  server usage completion ({n_usage_out} ok)", usage_out, srv_out,
            "equal" if usage_out == srv_out else f"diff {usage_out - srv_out:+,}")
        same = sum(1 for r in ok if num(r.get("server_completion_tokens")) is not None
                   and r.get("server_completion_tokens") == r.get("number_output_tokens"))
        row("  records: number_output_tokens == usage", same, "", f"of {n_usage_out}")
    # fields of the newer per-request records (absent from older binaries)
    if any("generated_tokens" in r for r in ok):
        gen, _ = total(r.get("generated_tokens") for r in ok)
        row("  our generated_tokens (ok)", gen, srv_out,
            "equal" if gen == srv_out else f"diff {(gen or 0) - (srv_out or 0):+,}")
    if any("tokenizer_generated_tokens" in r for r in ok):
        tg, n_tg = total(r.get("tokenizer_generated_tokens") for r in ok)
        row(f"  our tokenizer_generated_tokens ({n_tg} ok)", tg, srv_out,
            f"ours/server {tg / srv_out:.4f}" if tg and srv_out else "")
    tcs = collections.Counter(r.get("token_counts_source") for r in ok if "token_counts_source" in r)
    if tcs:
        row("  our token_counts_source (ok)", ", ".join(f"{k}:{v}" for k, v in tcs.items()), "")
    if errors:
        row("  output tokens of our errored records", ours_out_err, "")

    # prompt tokens, same populations
    srv_prompt, n_srv_prompt = total(t.get("n_prompt_tokens") for t in completed)
    srv_proc, _ = total(t.get("n_prompt_processed") for t in completed)
    srv_cached, _ = total(t.get("n_prompt_cached") for t in completed)

    def per_req(ours_sum, n_ours):
        if srv_prompt is None or ours_sum is None or not n_ours or not n_srv_prompt:
            return "server's total needs -lv 4" if not n_srv_prompt else ""
        return f"server - ours = {srv_prompt / n_srv_prompt - ours_sum / n_ours:+.1f}/request"

    budget, n_budget = total(r.get("number_input_tokens") for r in ok)
    row("prompt tokens: our budget (ok)", budget, srv_prompt, per_req(budget, n_budget))
    actual, n_actual = total(r.get("number_input_tokens_actual") for r in ok)
    if n_actual:
        row("prompt tokens: our tokenizer (ok)", actual, srv_prompt, per_req(actual, n_actual))
    if any("prompt_tokens" in r for r in ok):
        pt, n_pt = total(r.get("prompt_tokens") for r in ok)
        row("  our prompt_tokens (ok)", pt, srv_prompt,
            "equal" if pt == srv_prompt else per_req(pt, n_pt))
    usage_in, n_usage_in = total(r.get("server_prompt_tokens") for r in ok)
    if n_usage_in:
        row(f"  server usage prompt ({n_usage_in} ok)", usage_in, srv_prompt,
            "equal" if usage_in == srv_prompt else f"diff {usage_in - (srv_prompt or 0):+,}")
    row("  server: evaluated / from cache", "", f"{fmt(srv_proc)} / {fmt(srv_cached)}")
    if a.server_url:
        retok = retokenize(a.server_url, [ln for ln in log_lines if isinstance(ln.get("metrics"), dict)
                                          and not is_error(ln["metrics"])])
        if retok:
            n, same, raw_sum, chat_sum = retok
            row("  server /tokenize of our prompts (+BOS)", actual, raw_sum,
                f"{same} of {n} records equal")
            row("  server /apply-template + /tokenize", "", chat_sum,
                "equal to its log" if chat_sum == srv_prompt else f"log {fmt(srv_prompt)}")

    # timings (successful requests; ms)
    def ms(vals):
        return [v * 1000 for v in vals if num(v) is not None]

    ttft = ms(r.get("ttft_s") for r in ok)
    e2e = ms(r.get("end_to_end_latency_s") for r in ok)
    tp = [t["t_prompt_ms"] for t in completed if num(t.get("t_prompt_ms")) is not None]
    tt = [t["t_prompt_ms"] + t["t_eval_ms"] for t in completed
          if num(t.get("t_prompt_ms")) is not None and num(t.get("t_eval_ms")) is not None]
    if ttft or tp:
        row("mean ms: our TTFT / server prompt eval", statistics.fmean(ttft) if ttft else None,
            statistics.fmean(tp) if tp else None, "ours includes queueing for a slot")
        row("p50 ms:  our TTFT / server prompt eval", pct(ttft, 50), pct(tp, 50))
        row("mean ms: our E2E / server prompt+eval", statistics.fmean(e2e) if e2e else None,
            statistics.fmean(tt) if tt else None)
        row("p50 ms:  our E2E / server prompt+eval", pct(e2e, 50), pct(tt, 50))
        row("p99 ms:  our E2E / server prompt+eval", pct(e2e, 99), pct(tt, 99))
        row("sum s:   our E2E / server prompt+eval", sum(e2e) / 1000 if e2e else None,
            sum(tt) / 1000 if tt else None)
        dec = [r["number_output_tokens"] / (r["end_to_end_latency_s"] - r["ttft_s"]) for r in ok
               if num(r.get("number_output_tokens")) and num(r.get("end_to_end_latency_s"))
               and num(r.get("ttft_s")) and r["end_to_end_latency_s"] > r["ttft_s"]]
        sdec = [t["n_predicted"] / t["t_eval_ms"] * 1000 for t in completed
                if num(t.get("n_predicted")) and num(t.get("t_eval_ms"))]
        row("mean decode tok/s: ours / server", statistics.fmean(dec) if dec else None,
            statistics.fmean(sdec) if sdec else None)

    # connection fields, when our tool writes them
    def field(name):
        vals = [r.get(name) for r in records if name in r]
        if not vals:
            vals = [m.get(name) for m in log_metrics if isinstance(m, dict) and name in m]
        return vals

    nc = field("new_connection")
    if nc:
        row("new_connection: true / false / null", f"{sum(1 for v in nc if v is True)} / "
            f"{sum(1 for v in nc if v is False)} / {sum(1 for v in nc if v is None)}", "")
    else:
        row("new_connection", "absent", "")
    cs = [v * 1000 for v in field("connect_s") if num(v) is not None]
    if cs:
        row("connect ms: n / mean / p50 / max", f"{len(cs)} / {statistics.fmean(cs):.2f} / "
            f"{pct(cs, 50):.2f} / {max(cs):.2f}", "")
    else:
        row("connect_s", "absent" if not field("connect_s") else "all null", "")

    title = f"== {a.label} ==" if a.label else "=="
    print(title)
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len("ours"), max(len(r[1]) for r in rows))
    w2 = max(len("server"), max(len(r[2]) for r in rows))
    print(f"{'':<{w0}}  {'ours':>{w1}}  {'server':>{w2}}  note")
    for name, o, s, note in rows:
        print(f"{name:<{w0}}  {o:>{w1}}  {s:>{w2}}  {note}")

    if errors:
        print(f"our errors: {len(errors)} of {len(records)} ({100 * len(errors) / len(records):.1f} %)")
        kinds = collections.Counter(r.get("error_kind") for r in errors)
        print("  by error_kind: " + ", ".join(f"{k}: {v}" for k, v in kinds.most_common()))
        msgs = collections.Counter((r.get("error_code"), r.get("error_msg")) for r in errors)
        for (code, msg), n in msgs.most_common(8):
            print(f"  {n:>5} x code={code} msg={msg!r}"[:300])
    fail = []
    if errors:
        fail.append(f"{len(errors)} errors")
    if len(tasks) != len(records):
        fail.append(f"server saw {len(tasks)} requests, we recorded {len(records)}")
    print("RESULT: " + ("FAIL (" + "; ".join(fail) + ")" if fail else "OK"))
    sys.exit(1 if fail else 0)


if __name__ == "__main__":
    main()
