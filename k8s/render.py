"""A small kustomize renderer for this repository's manifests (no kustomize binary is
installable on our build machines). It implements the subset the overlays use:
``resources`` (files and directories), ``namespace``, ``labels`` (pairs), ``images``
(newTag / newName), strategic-merge ``patches`` (maps merge, lists of named items merge by
name, ``null`` deletes), and ``configMapGenerator`` with ``behavior: merge`` literals.
Anything else in a kustomization is an error, so the renderer never silently ignores intent.

    python k8s/render.py k8s/overlays/prod > prod.yaml
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "patches", "configMapGenerator"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PersistentVolume"}


class RenderError(ValueError):
    pass


def _load_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            if v is None:
                out.pop(k, None)
            elif k in out:
                out[k] = _merge(out[k], v)
            else:
                out[k] = copy.deepcopy(v)
        return out
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(x, dict) and "name" in x for x in base + patch)
    ):
        by_name = {x["name"]: x for x in base}
        order = [x["name"] for x in base]
        for item in patch:
            if item["name"] in by_name:
                by_name[item["name"]] = _merge(by_name[item["name"]], item)
            else:
                by_name[item["name"]] = copy.deepcopy(item)
                order.append(item["name"])
        return [by_name[n] for n in order]
    return copy.deepcopy(patch)


def _key(doc: dict[str, Any]) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


def _walk_images(node: Any, fn: Any) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("containers", "initContainers") and isinstance(v, list):
                for c in v:
                    if isinstance(c, dict) and "image" in c:
                        c["image"] = fn(c["image"])
            else:
                _walk_images(v, fn)
    elif isinstance(node, list):
        for v in node:
            _walk_images(v, fn)


def render(directory: Path) -> list[dict[str, Any]]:
    kfile = directory / "kustomization.yaml"
    if not kfile.is_file():
        raise RenderError(f"{directory} has no kustomization.yaml")
    k = yaml.safe_load(kfile.read_text()) or {}
    unknown = set(k) - SUPPORTED
    if unknown:
        raise RenderError(f"{kfile}: unsupported fields {sorted(unknown)}")
    docs: list[dict[str, Any]] = []
    for res in k.get("resources", []):
        path = (directory / res).resolve()
        docs.extend(render(path) if path.is_dir() else _load_docs(path))
    index = {_key(d): i for i, d in enumerate(docs)}
    if len(index) != len(docs):
        raise RenderError(f"{kfile}: duplicate resources")
    for gen in k.get("configMapGenerator", []):
        literals = dict(item.split("=", 1) for item in gen.get("literals", []))
        key = ("ConfigMap", gen["name"])
        if gen.get("behavior") == "merge":
            if key not in index:
                raise RenderError(f"{kfile}: configMapGenerator merges into missing ConfigMap {gen['name']}")
            docs[index[key]]["data"].update(literals)
        else:
            docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": gen["name"]}, "data": literals})
            index[key] = len(docs) - 1
    for p in k.get("patches", []):
        if set(p) != {"path"}:
            raise RenderError(f"{kfile}: only file patches are supported")
        for patch in _load_docs(directory / p["path"]):
            key = _key(patch)
            if key not in index:
                raise RenderError(f"{kfile}: patch targets missing {key}")
            docs[index[key]] = _merge(docs[index[key]], patch)
    for img in k.get("images", []):

        def swap(ref: str, img: dict[str, str] = img) -> str:
            name, _, tag = ref.partition(":")
            if name != img["name"]:
                return ref
            return f"{img.get('newName', name)}:{img.get('newTag', tag)}"

        for d in docs:
            _walk_images(d, swap)
    for label in k.get("labels", []):
        for d in docs:
            d.setdefault("metadata", {}).setdefault("labels", {}).update(label["pairs"])
            tmpl = d.get("spec", {}).get("template")
            if isinstance(tmpl, dict):
                tmpl.setdefault("metadata", {}).setdefault("labels", {}).update(label["pairs"])
    if "namespace" in k:
        for d in docs:
            if d["kind"] not in CLUSTER_SCOPED:
                d["metadata"]["namespace"] = k["namespace"]
    return docs


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    sys.stdout.write(yaml.safe_dump_all(render(Path(argv[0])), sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
