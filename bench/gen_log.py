#!/usr/bin/env python3
"""Appends a history of hash-chained deploy.log records to a repository bench/gen.py made (native
layout), deterministically (Python 3 standard library only), for `promote report`'s benchmark.

    bench/gen_log.py REPO --records N [--days 60] [--end 2026-01-02T00:00:00Z]

The records are spread over the DAYS before END, in pipeline order: CI sets a new build of a few
services in dev, dev is promoted to staging, staging to prod; about one prod promotion in 25 is
rolled back, and about one in 50 is followed by a hold and its lift. Each record is the exact line
promote writes (serde_json's compact form, fields in promote's order), with its `id` and the `prev`
hash of the line before it, so `promote log --verify` accepts the logs.
"""

import argparse
import datetime as dt
import hashlib
import json
import os
import random

ENVS = ["dev", "staging", "prod"]


def line(rec):
    return json.dumps(rec, separators=(",", ":"), ensure_ascii=False)


def seal(rec):
    """Fills in the id (the first 12 hex of the SHA-256 of the line with an empty id)."""
    rec["id"] = ""
    rec["id"] = hashlib.sha256(line(rec).encode()).hexdigest()[:12]
    return line(rec)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("repo")
    ap.add_argument("--records", type=int, required=True)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--end", default="2026-01-02T00:00:00Z")
    a = ap.parse_args()
    rnd = random.Random(21)
    end = dt.datetime.fromisoformat(a.end.replace("Z", "+00:00"))
    start = end - dt.timedelta(days=a.days)
    services = sorted(os.listdir(os.path.join(a.repo, "templates")))
    logs = {}
    for env in ENVS:
        path = os.path.join(a.repo, "environments", env, "deploy.log")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        last = text.rstrip("\n").rsplit("\n", 1)[-1] if text.strip() else None
        prev = hashlib.sha256(last.encode()).hexdigest() if last is not None else "0" * 64
        logs[env] = {"path": path, "lines": [], "prev": prev}
    # Every record's `before` is what the environment ran: its metadata's versions to start with.
    metas = {}
    for env in ENVS:
        with open(os.path.join(a.repo, "environments", env, "metadata.json"), encoding="utf-8") as f:
            metas[env] = json.load(f)
    running = {env: {s: m["version"] for s, m in metas[env]["services"].items()} for env in ENVS}
    changed = {env: {} for env in ENVS}
    step = dt.timedelta(seconds=a.days * 86400 / max(a.records, 1))
    actor = {"name": "Bench CI", "email": "ci@bench.example.com"}

    def append(env, t, action, changes, **extra):
        rec = {"id": "", "time": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "env": env, "action": action}
        if "frm" in extra:
            rec["from"] = extra.pop("frm")
        rec["changes"] = changes
        rec["actor"] = dict(actor)
        for k in ("message", "target", "gates_overridden", "commit"):
            if k in extra:
                rec[k] = extra[k]
        rec["prev"] = logs[env]["prev"]
        for c in changes:
            changed[env][c["service"]] = (rec["time"], extra.get("commit"), rec.get("from"))
        out = seal(rec)
        logs[env]["lines"].append(out)
        logs[env]["prev"] = hashlib.sha256(out.encode()).hexdigest()
        return rec["id"]

    ids = {env: [] for env in ENVS}
    t = start
    n = 0
    build = 0
    while n < a.records:
        t += step
        kind = n % 3
        commit = hashlib.sha1(f"commit/{n}".encode()).hexdigest()
        if kind == 0:
            build += 1
            picked = rnd.sample(services, min(len(services), rnd.randint(1, 5)))
            v = hashlib.sha1(f"build/{build}".encode()).hexdigest()[:7]
            changes = []
            for s in sorted(picked):
                changes.append({"service": s, "before": running["dev"].get(s), "after": v})
                running["dev"][s] = v
            ids["dev"].append(append("dev", t, "set-image", changes, commit=commit))
        else:
            env = ENVS[kind]
            src = ENVS[kind - 1]
            changes = []
            for s in sorted(running[src]):
                if running[env].get(s) != running[src][s]:
                    changes.append({"service": s, "before": running[env].get(s), "after": running[src][s]})
                    running[env][s] = running[src][s]
            ids[env].append(append(env, t, "promote", changes, frm=src, message=f"release {n}", commit=commit))
            if env == "prod" and changes and rnd.random() < 0.04 and n + 1 < a.records:
                t += step / 2
                undo = [{"service": c["service"], "before": c["after"], "after": c["before"]} for c in changes]
                for c in undo:
                    running["prod"][c["service"]] = c["after"]
                extra = {"message": "errors after the release", "commit": commit}
                if len(ids["prod"]) >= 2:
                    extra["target"] = ids["prod"][-2]
                ids["prod"].append(append("prod", t, "rollback", undo, **extra))
                n += 1
            elif env == "prod" and rnd.random() < 0.02 and n + 2 < a.records:
                append("prod", t + step / 3, "hold", [], message="investigating", commit=commit)
                append("prod", t + step / 2, "unhold", [], message="resolved", commit=commit)
                n += 2
        n += 1
    for env in ENVS:
        with open(logs[env]["path"], "a", encoding="utf-8") as f:
            f.write("".join(l + "\n" for l in logs[env]["lines"]))
    # The metadata as promote leaves it: what the last record of each service set, and the log's
    # last line named (`audit_head`), so that `promote log --verify` accepts the repository.
    for env in ENVS:
        meta = metas[env]
        for svc, (time, commit, frm) in changed[env].items():
            v = running[env].get(svc)
            state = meta["services"][svc]
            image = state["image"].rsplit(":", 1)[0]
            new = {"version": v, "image": f"{image}:{v}"}
            if frm:
                new["from"] = frm
            if commit:
                new["commit"] = commit
            new["updated"] = time
            meta["services"][svc] = new
        if logs[env]["lines"]:
            meta["audit_head"] = logs[env]["prev"]
        with open(os.path.join(a.repo, "environments", env, "metadata.json"), "w", encoding="utf-8") as f:
            f.write(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    total = sum(len(l["lines"]) for l in logs.values())
    per_env = ", ".join(f"{e} {len(logs[e]['lines'])}" for e in ENVS)
    print(f"{a.repo}: {total} records over {a.days} days ({per_env})")


if __name__ == "__main__":
    main()
