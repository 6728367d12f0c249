#!/usr/bin/env python3
"""Generates a synthetic promote config repository, deterministically (Python 3 standard library only).

    bench/gen.py OUT --services N [--layout legacy|native] [--history COMMITS]

N services (svc-0001 ...) x 3 environments (dev; staging takes from dev; prod from staging). Every
service has a Deployment, a Service, an Ingress and a ServiceMonitor in every environment.

  legacy  <env>/<svc>-<kind>.yaml.tpl with sed placeholders (COMMIT_SHA, NAMESPACE_PLACEHOLDER,
          DOMAIN_PREFIX; replicas and the environment name written literally, as per-environment
          copies have them), the rendered <env>/<svc>-<kind>.yaml beside them,
          <env>/metadata.json.noargo and <env>/deploy.log.
  native  templates/<svc>/<kind>.yaml (minijinja), environments/<env>/manifests/<svc>-<kind>.yaml,
          environments/<env>/metadata.json and environments/<env>/deploy.log.

Both layouts render to the same bytes. The repository is committed and rendered up to date (`promote
render --check` passes): dev runs newer versions than staging, and prod runs what staging runs, so
`promote to staging` changes every service and `promote to prod` is a no-op.

--history K makes K commits (default 1) with one `git fast-import` stream: the first commit holds the
final tree, commits 2..K-1 each change one dev Deployment (a set-image of one service), and the last
one restores the final tree, so the tree at HEAD is the same for every K. Every file in the work tree
gets the same old mtime and the index is refreshed afterwards, so git has no racily clean entries
(which it would re-hash on every status) and runs measured in the repository start from a settled
state.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys

REGISTRY = "registry.example.com/bench"
DOMAIN = "bench.example.com"
ENVS = ["dev", "staging", "prod"]
SOURCE = {"staging": "dev", "prod": "staging"}
NAMESPACE = {e: f"bench-{e}" for e in ENVS}
HOST_PREFIX = {"dev": "dev.", "staging": "staging.", "prod": ""}
REPLICAS = {"dev": 1, "staging": 2, "prod": 3}
KINDS = ["deployment", "service", "ingress", "servicemonitor"]
# Fixed times: the commits (and so the repository) are the same on every machine and every run.
EPOCH = 1767225600  # 2026-01-01T00:00:00Z
MTIME = 1704067200  # 2024-01-01T00:00:00Z: the mtime of every generated file
STAMP = "2026-01-01T00:00:00Z"


def service_names(n):
    width = max(4, len(str(n)))
    return [f"svc-{i:0{width}d}" for i in range(1, n + 1)]


def sha(*parts):
    """A short git-like SHA (7 hex), derived from the parts."""
    return hashlib.sha1("/".join(parts).encode()).hexdigest()[:7]


def versions(services, env):
    # dev runs generation 2; staging and prod both run generation 1.
    gen = "2" if env == "dev" else "1"
    return {s: sha(s, gen) for s in services}


# ------------------------------------------------------------------------------------------------
# One skeleton per kind, filled either with template syntax (legacy sed placeholders or minijinja)
# or with the values themselves (the rendered manifest). That is what keeps both layouts and the
# rendered files byte-identical to what the tools produce.


def deployment(v, i):
    cpu = 50 + (i % 8) * 25
    mem = 128 + (i % 4) * 64
    port = 8080 + (i % 10)
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {v['service']}
  namespace: {v['ns']}
  labels:
    app.kubernetes.io/name: {v['service']}
    app.kubernetes.io/version: "{v['tag']}"
    app.kubernetes.io/part-of: bench
    app.kubernetes.io/managed-by: promote
spec:
  replicas: {v['replicas']}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      app.kubernetes.io/name: {v['service']}
  strategy:
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {v['service']}
        app.kubernetes.io/version: "{v['tag']}"
        app.kubernetes.io/part-of: bench
    spec:
      terminationGracePeriodSeconds: 30
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: app
          image: {v['image']}
          ports:
            - name: http
              containerPort: {port}
            - name: metrics
              containerPort: 9090
          env:
            - name: ENVIRONMENT
              value: {v['env']}
            - name: PUBLIC_URL
              value: https://{v['prefix']}{v['service']}.{v['domain']}
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
            periodSeconds: 5
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
            initialDelaySeconds: 10
            periodSeconds: 10
          resources:
            requests:
              cpu: {cpu}m
              memory: {mem}Mi
            limits:
              cpu: {cpu * 4}m
              memory: {mem * 2}Mi
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop:
                - ALL
"""


def service(v, i):
    port = 8080 + (i % 10)
    return f"""apiVersion: v1
kind: Service
metadata:
  name: {v['service']}
  namespace: {v['ns']}
  labels:
    app.kubernetes.io/name: {v['service']}
    app.kubernetes.io/part-of: bench
spec:
  type: ClusterIP
  selector:
    app.kubernetes.io/name: {v['service']}
  ports:
    - name: http
      port: 80
      targetPort: {port}
    - name: metrics
      port: 9090
      targetPort: metrics
"""


def ingress(v, i):
    return f"""apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {v['service']}
  namespace: {v['ns']}
  labels:
    app.kubernetes.io/name: {v['service']}
  annotations:
    cert-manager.io/cluster-issuer: letsencrypt
    nginx.ingress.kubernetes.io/proxy-body-size: 8m
spec:
  ingressClassName: nginx
  tls:
    - hosts:
        - {v['prefix']}{v['service']}.{v['domain']}
      secretName: {v['service']}-tls
  rules:
    - host: {v['prefix']}{v['service']}.{v['domain']}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: {v['service']}
                port:
                  name: http
"""


def servicemonitor(v, i):
    return f"""apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {v['service']}
  namespace: {v['ns']}
  labels:
    app.kubernetes.io/name: {v['service']}
    release: prometheus
spec:
  selector:
    matchLabels:
      app.kubernetes.io/name: {v['service']}
  namespaceSelector:
    matchNames:
      - {v['ns']}
  endpoints:
    - port: metrics
      interval: 30s
      path: /metrics
"""


SKELETONS = {
    "deployment": deployment,
    "service": service,
    "ingress": ingress,
    "servicemonitor": servicemonitor,
}


def rendered_values(svc, env, version):
    return {
        "service": svc,
        "ns": NAMESPACE[env],
        "tag": version,
        "image": f"{REGISTRY}/{svc}:{version}",
        "replicas": REPLICAS[env],
        "env": env,
        "prefix": HOST_PREFIX[env],
        "domain": DOMAIN,
    }


def legacy_values(svc, env):
    # What a per-environment sed template holds: placeholders for what changes, literals for the rest.
    return {
        "service": svc,
        "ns": "NAMESPACE_PLACEHOLDER",
        "tag": "COMMIT_SHA",
        "image": f"{REGISTRY}/{svc}:COMMIT_SHA",
        "replicas": REPLICAS[env],
        "env": env,
        "prefix": "DOMAIN_PREFIX",
        "domain": DOMAIN,
    }


NATIVE_VALUES = {
    "service": "{{ service }}",
    "ns": "{{ values.namespace }}",
    "tag": "{{ tag }}",
    "image": "{{ image }}",
    "replicas": "{{ values.replicas }}",
    "env": "{{ env }}",
    "prefix": "{{ values.host_prefix }}",
    "domain": "{{ values.domain }}",
}


def metadata(env, vers):
    services = {
        s: {"version": v, "image": f"{REGISTRY}/{s}:{v}", "updated": STAMP}
        for s, v in sorted(vers.items())
    }
    doc = {"environment": env, "services": services, "updated": STAMP}
    return json.dumps(doc, indent=2) + "\n"


def deploy_log(env):
    # Free-text lines, as the sed script wrote them.
    src = SOURCE.get(env)
    what = f"promote {src} -> {env}" if src else f"set-image {env}"
    return "".join(f"2025-12-{d:02d}T09:00:00Z bench {what}\n" for d in (1, 8, 15))


def config(layout, services):
    out = [
        "# A synthetic config repository made by bench/gen.py.",
        f"registry: {REGISTRY}",
    ]
    if layout == "legacy":
        out += [
            "layout: legacy",
            "placeholders:",
            "  COMMIT_SHA: version",
            "  NAMESPACE_PLACEHOLDER: namespace",
            "  DOMAIN_PREFIX: host_prefix",
        ]
    out += ["values:", f"  domain: {DOMAIN}", "services:"]
    out += [f"  {s}:" for s in services]
    out.append("environments:")
    for env in ENVS:
        out.append(f"  {env}:")
        if env in SOURCE:
            out.append(f"    from: {SOURCE[env]}")
        out.append("    values:")
        out.append(f"      namespace: {NAMESPACE[env]}")
        out.append(f'      host_prefix: "{HOST_PREFIX[env]}"')
        if layout == "native":
            out.append(f"      replicas: {REPLICAS[env]}")
    return "\n".join(out) + "\n"


def tree(layout, services):
    """Every file of the repository: {path: bytes}, in a stable order."""
    files = {"promote.yaml": config(layout, services)}
    for env in ENVS:
        vers = versions(services, env)
        d = env if layout == "legacy" else f"environments/{env}"
        out = d if layout == "legacy" else f"{d}/manifests"
        for i, svc in enumerate(services):
            rv = rendered_values(svc, env, vers[svc])
            for kind in KINDS:
                skel = SKELETONS[kind]
                files[f"{out}/{svc}-{kind}.yaml"] = skel(rv, i)
                if layout == "legacy":
                    files[f"{d}/{svc}-{kind}.yaml.tpl"] = skel(legacy_values(svc, env), i)
        meta = "metadata.json.noargo" if layout == "legacy" else "metadata.json"
        files[f"{d}/{meta}"] = metadata(env, vers)
        files[f"{d}/deploy.log"] = deploy_log(env)
    if layout == "native":
        for i, svc in enumerate(services):
            for kind in KINDS:
                files[f"templates/{svc}/{kind}.yaml"] = SKELETONS[kind](NATIVE_VALUES, i)
    return {p: b.encode() for p, b in sorted(files.items())}


# ------------------------------------------------------------------------------------------------
# The git history, as one fast-import stream.


def ident(t):
    return f"Bench <bench@example.com> {t} +0000"


def data(b):
    return b"data %d\n" % len(b) + b + b"\n"


def fast_import_stream(files, layout, services, history):
    """Yields the stream in chunks (blobs first, marked, then the commits that use them)."""
    marks = {}
    chunk = []
    for n, (path, body) in enumerate(files.items(), start=1):
        marks[path] = n
        chunk.append(b"blob\nmark :%d\n" % n + data(body))
        if len(chunk) >= 512:
            yield b"".join(chunk)
            chunk = []
    yield b"".join(chunk)

    def commit(i, msg, body):
        head = (
            f"commit refs/heads/main\ncommitter {ident(EPOCH + i * 60)}\n".encode()
            + data(msg.encode())
        )
        return head + body

    full = b"deleteall\n" + b"".join(
        b"M 100644 :%d %s\n" % (marks[p], p.encode()) for p in files
    )
    first = "config repository" if history == 1 else "config repository, as it started"
    yield commit(0, first, full)
    if history == 1:
        return

    # Commits 2..K-1: set-image of one dev service each, cycling through the services.
    dev_out = "dev" if layout == "legacy" else "environments/dev/manifests"
    touched = set()
    chunk = []
    for i in range(1, history - 1):
        k = (i - 1) % len(services)
        svc = services[k]
        v = sha("history", str(i))
        path = f"{dev_out}/{svc}-deployment.yaml"
        touched.add(path)
        body = deployment(rendered_values(svc, "dev", v), k).encode()
        chunk.append(
            commit(i, f"set-image dev: {svc} {v}", b"M 100644 inline %s\n" % path.encode() + data(body))
        )
        if len(chunk) >= 256:
            yield b"".join(chunk)
            chunk = []
    yield b"".join(chunk)
    # The last commit puts the final tree back.
    restore = b"".join(b"M 100644 :%d %s\n" % (marks[p], p.encode()) for p in sorted(touched))
    yield commit(history - 1, "set-image dev: every service", restore)


def git(repo, *args, **kw):
    env = dict(os.environ)
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_AUTHOR_NAME="Bench",
        GIT_AUTHOR_EMAIL="bench@example.com",
        GIT_COMMITTER_NAME="Bench",
        GIT_COMMITTER_EMAIL="bench@example.com",
    )
    return subprocess.run(["git", "-C", repo, *args], check=True, env=env, **kw)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="the directory to create (must not exist, unless --force)")
    ap.add_argument("--services", "-n", type=int, required=True, help="number of services")
    ap.add_argument("--layout", choices=["legacy", "native"], default="legacy")
    ap.add_argument("--history", type=int, default=1, help="number of commits (default 1)")
    ap.add_argument("--force", action="store_true", help="replace OUT if it exists")
    a = ap.parse_args()
    if a.services < 1 or a.history < 1:
        sys.exit("gen.py: --services and --history must be at least 1")
    if os.path.exists(a.out):
        if not a.force:
            sys.exit(f"gen.py: `{a.out}` exists (use --force to replace it)")
        shutil.rmtree(a.out)

    services = service_names(a.services)
    files = tree(a.layout, services)

    # The work tree.
    os.makedirs(a.out)
    made = set()
    for path, body in files.items():
        full = os.path.join(a.out, path)
        d = os.path.dirname(full)
        if d not in made:
            os.makedirs(d, exist_ok=True)
            made.add(d)
        with open(full, "wb") as f:
            f.write(body)
        os.utime(full, (MTIME, MTIME))

    # The history.
    git(a.out, "init", "-q", "-b", "main")
    for k, v in [
        ("user.name", "Bench"),
        ("user.email", "bench@example.com"),
        # No automatic gc or maintenance in the middle of a measured commit.
        ("gc.auto", "0"),
        ("maintenance.auto", "false"),
    ]:
        git(a.out, "config", k, v)
    p = subprocess.Popen(
        ["git", "-C", a.out, "fast-import", "--quiet", "--done"],
        stdin=subprocess.PIPE,
        env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull},
    )
    for chunk in fast_import_stream(files, a.layout, services, a.history):
        p.stdin.write(chunk)
    p.stdin.write(b"done\n")
    p.stdin.close()
    if p.wait() != 0:
        sys.exit("gen.py: git fast-import failed")
    # The index from HEAD, then stat information for every file (they match HEAD byte for byte).
    git(a.out, "read-tree", "HEAD")
    git(a.out, "update-index", "-q", "--refresh")
    status = git(a.out, "status", "--porcelain", capture_output=True, text=True).stdout
    if status.strip():
        sys.exit(f"gen.py: the work tree does not match HEAD:\n{status}")
    print(
        f"{a.out}: {a.layout} layout, {a.services} services x {len(ENVS)} environments, "
        f"{len(files)} files, {a.history} commit{'s' if a.history != 1 else ''}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
