#!/usr/bin/env python3
"""Writes a one-layer OCI image archive, for `ctr images import`, with no registry and no
image builder: the layer is a directory's tree, the entrypoint is given.

    oci-image.py ROOTFS_DIR NAME ENTRYPOINT OUT.tar
"""
import hashlib
import io
import json
import platform
import sys
import tarfile

rootfs, name, entrypoint, out = sys.argv[1:5]
architecture = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def layer_bytes():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as layer:
        # Owned by root and dated at the epoch, so the same tree gives the same digest.
        def normalise(info):
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            return info
        layer.add(rootfs, arcname=".", filter=normalise)
    return buffer.getvalue()


blobs = {}


def blob(data, media_type):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


layer = layer_bytes()
layer_descriptor = blob(layer, "application/vnd.oci.image.layer.v1.tar")
config = {
    "architecture": architecture,
    "os": "linux",
    "config": {"Entrypoint": [entrypoint]},
    "rootfs": {"type": "layers", "diff_ids": [layer_descriptor["digest"]]},
}
config_descriptor = blob(canonical(config), "application/vnd.oci.image.config.v1+json")
manifest = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": config_descriptor,
    "layers": [layer_descriptor],
}
manifest_descriptor = blob(canonical(manifest), "application/vnd.oci.image.manifest.v1+json")
manifest_descriptor["annotations"] = {
    "io.containerd.image.name": name,
    "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1],
}
manifest_descriptor["platform"] = {"architecture": architecture, "os": "linux"}
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [manifest_descriptor]}

with tarfile.open(out, mode="w") as archive:
    def add(path, data):
        info = tarfile.TarInfo(path)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    add("oci-layout", canonical({"imageLayoutVersion": "1.0.0"}))
    add("index.json", canonical(index))
    for digest, data in blobs.items():
        add("blobs/sha256/" + digest.split(":", 1)[1], data)
