#!/usr/bin/env python3
"""Checks the Kubernetes example (docker/kubernetes/) against the built image.

Usage: check-kubernetes.py DIR IMAGE ENGINE

The YAML must parse; the pcproxy container's probes must hit /healthz and /readyz on
the port its admin listener uses; every file the environment names must be on a
mounted volume, the writable ones on a writable one; the image's volumes, user and
helper script must match what the manifests rely on; resource requests must be set.
Run by scripts/test-container; prints each check and exits 1 on the first failure.
"""
import json
import pathlib
import subprocess
import sys

import yaml


def fail(why):
    print(f"   FAILED: {why}", file=sys.stderr)
    sys.exit(1)


def ok(what):
    print(f"   ok: {what}")


def image_config(engine, image):
    out = subprocess.run([engine, "image", "inspect", image], check=True, capture_output=True, text=True).stdout
    return json.loads(out)[0]["Config"]


def in_image(engine, image, command):
    return subprocess.run([engine, "run", "--rm", "--entrypoint", "sh", image, "-c", command],
                          capture_output=True, text=True).returncode == 0


def mount_for(path, mounts):
    """The volume mount that holds `path`, or None."""
    best = None
    for m in mounts:
        root = m["mountPath"].rstrip("/")
        if (path == root or path.startswith(root + "/")) and (best is None or len(root) > len(best["mountPath"])):
            best = m
    return best


def main():
    directory, image, engine = sys.argv[1:4]
    documents = []
    for f in sorted(pathlib.Path(directory).glob("*.yaml")):
        try:
            documents += [d for d in yaml.safe_load_all(f.read_text()) if d]
        except yaml.YAMLError as e:
            fail(f"{f} does not parse: {e}")
    ok(f"{len(documents)} manifests parse: " + ", ".join(f"{d['kind']}/{d['metadata']['name']}" for d in documents))

    deployments = [d for d in documents if d["kind"] == "Deployment"]
    if len(deployments) != 1:
        fail("expected one Deployment")
    pod = deployments[0]["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod["containers"]}
    if "pcproxy" not in containers or len(containers) < 2:
        fail("expected the tool and a container named pcproxy")
    proxy = containers["pcproxy"]
    env = {e["name"]: e.get("value") for e in proxy.get("env", [])}
    config = image_config(engine, image)
    image_env = dict(e.split("=", 1) for e in config.get("Env") or [])

    # Probes on the admin listener's port.
    admin_port = int((env.get("PCPROXY_ADMIN_LISTEN") or image_env["PCPROXY_ADMIN_LISTEN"]).rsplit(":", 1)[1])
    named_ports = {p["name"]: p["containerPort"] for p in proxy.get("ports", []) if "name" in p}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = proxy.get(probe, {}).get("httpGet")
        if not get:
            fail(f"pcproxy has no {probe} with httpGet")
        port = named_ports.get(get["port"], get["port"])
        if get["path"] != path or port != admin_port:
            fail(f"{probe} asks {get['path']} on port {port}; pcproxy answers {path} on {admin_port}")
    ok(f"liveness /healthz and readiness /readyz on the admin port {admin_port}")

    # The tool reaches the proxy listener inside the pod.
    listen = env.get("PCPROXY_LISTEN") or image_env["PCPROXY_LISTEN"]
    tool_text = json.dumps([c for n, c in containers.items() if n != "pcproxy"])
    if f"127.0.0.1:{listen.rsplit(':', 1)[1]}" not in tool_text:
        fail(f"the tool does not call pcproxy's listener {listen}")
    if not listen.startswith("127.0.0.1:"):
        fail(f"pcproxy listens on {listen}: outside the pod it would be an open proxy")
    ok(f"the tool calls pcproxy on {listen}, reachable only inside the pod")

    # Files named in the environment are on volumes; those pcproxy writes on writable ones.
    mounts = proxy.get("volumeMounts", [])
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    writable = {"PCPROXY_UPSTREAM_AUTH_REFRESH_TOKEN_FILE", "PCPROXY_CACHE_DISK_PATH"}
    for name, value in env.items():
        if not (name.endswith("_FILE") or name == "PCPROXY_CACHE_DISK_PATH") or not value:
            continue
        m = mount_for(value, mounts)
        if m is None:
            fail(f"{name}={value} is on no mounted volume")
        if name in writable and m.get("readOnly"):
            fail(f"{name}={value} must be writable, but {m['mountPath']} is mounted read-only")
        volume = volumes.get(m["name"])
        if volume is None:
            fail(f"volume {m['name']} is mounted but not defined")
        if "secret" in volume:
            key = value[len(m["mountPath"].rstrip("/")) + 1:]
            paths = [i["path"] for i in volume["secret"].get("items", [])]
            if paths and key not in paths:
                fail(f"{name}={value}: the Secret volume {m['name']} has no item {key}")
    ok("every file the environment names is on a mounted volume (written ones on writable volumes)")

    # The image's volumes and /tmp are writable mounts under a read-only root filesystem.
    security = proxy.get("securityContext", {})
    if not security.get("readOnlyRootFilesystem"):
        fail("pcproxy's root filesystem is not read-only")
    for path in list((config.get("Volumes") or {}).keys()) + ["/tmp"]:
        m = mount_for(path, mounts)
        if m is None or m.get("readOnly") or m["mountPath"] != path:
            fail(f"{path} (a volume of the image, or /tmp) needs a writable mount of its own")
    ok("read-only root filesystem with " + ", ".join(sorted(config.get("Volumes") or {})) + " and /tmp mounted")

    # The user the image runs as, and fsGroup so the volumes are its.
    pod_security = pod.get("securityContext", {})
    user = security.get("runAsUser", pod_security.get("runAsUser"))
    if str(user) != config.get("User"):
        fail(f"runAsUser {user} differs from the image's user {config.get('User')}")
    if pod_security.get("fsGroup") is None:
        fail("no fsGroup: the volumes would not be writable by the image's user")
    ok(f"runs as the image's user {user}, volumes group-owned by {pod_security['fsGroup']}")

    # The init container's helper is in the image.
    for c in pod.get("initContainers", []):
        command = c.get("command", [])[0]
        if not in_image(engine, c["image"] if c["image"] != "pcproxy:latest" else image, f"command -v {command}"):
            fail(f"the init container's command {command} is not in the image")
        ok(f"init container {c['name']}: {command} is in the image")

    for c in list(pod["containers"]) + list(pod.get("initContainers", [])):
        requests = c.get("resources", {}).get("requests", {})
        if "cpu" not in requests or "memory" not in requests:
            fail(f"container {c['name']} has no cpu and memory requests")
    ok("every container requests cpu and memory")

    claims = [v["persistentVolumeClaim"]["claimName"] for v in volumes.values() if "persistentVolumeClaim" in v]
    defined = {d["metadata"]["name"] for d in documents if d["kind"] == "PersistentVolumeClaim"}
    if not set(claims) <= defined:
        fail(f"claims {set(claims) - defined} are used but not defined")
    ok("the state volume's claim is defined")


if __name__ == "__main__":
    main()
