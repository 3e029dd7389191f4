"""The three PATCH flavours Kubernetes accepts.

- JSON merge patch (RFC 7386, `application/merge-patch+json`): maps merge, null deletes, lists replace.
- JSON patch (RFC 6902, `application/json-patch+json`): a list of add/remove/replace/move/copy/test ops.
- Strategic merge patch (`application/strategic-merge-patch+json`, kubectl's default): like merge
  patch, but some lists merge element-wise by a key (containers by name, ports by containerPort...)
  and `$patch`, `$setElementOrder/<list>`, `$deleteFromPrimitiveList/<list>` directives steer it.
"""

from __future__ import annotations

import copy
from typing import Any


class PatchError(ValueError):
    pass


# ---------------------------------------------------------------- JSON merge patch
def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# ---------------------------------------------------------------- JSON patch
def json_patch(doc: Any, ops: Any) -> Any:
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for n, op in enumerate(ops):
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"operation {n}: needs 'op' and 'path'")
        kind, path = op["op"], op["path"]
        if kind == "add":
            doc = _add(doc, _pointer(path), copy.deepcopy(_need(op, "value", n)))
        elif kind == "remove":
            doc, _ = _remove(doc, _pointer(path))
        elif kind == "replace":
            doc, _ = _remove(doc, _pointer(path))
            doc = _add(doc, _pointer(path), copy.deepcopy(_need(op, "value", n)))
        elif kind == "move":
            doc, value = _remove(doc, _pointer(_need(op, "from", n)))
            doc = _add(doc, _pointer(path), value)
        elif kind == "copy":
            doc = _add(doc, _pointer(path), copy.deepcopy(_get(doc, _pointer(_need(op, "from", n)))))
        elif kind == "test":
            if _get(doc, _pointer(path)) != op.get("value"):
                raise PatchError(f"test operation failed at {path}")
        else:
            raise PatchError(f"operation {n}: unknown op {kind!r}")
    return doc


def _need(op: dict, field: str, n: int) -> Any:
    if field not in op:
        raise PatchError(f"operation {n}: missing {field!r}")
    return op[field]


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list, part: str, allow_end: bool) -> int:
    if part == "-" and allow_end:
        return len(container)
    if not part.isdigit():
        raise PatchError(f"invalid list index {part!r}")
    i = int(part)
    if i > len(container) or (i == len(container) and not allow_end):
        raise PatchError(f"list index {i} out of range")
    return i


def _parent(doc: Any, parts: list[str]) -> Any:
    cur = doc
    for part in parts[:-1]:
        if isinstance(cur, dict):
            if part not in cur:
                raise PatchError(f"path /{'/'.join(parts)}: {part!r} does not exist")
            cur = cur[part]
        elif isinstance(cur, list):
            cur = cur[_index(cur, part, False)]
        else:
            raise PatchError(f"path /{'/'.join(parts)} goes through a scalar")
    return cur


def _get(doc: Any, parts: list[str]) -> Any:
    if not parts:
        return doc
    parent = _parent(doc, parts)
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path /{'/'.join(parts)} does not exist")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, False)]
    raise PatchError(f"path /{'/'.join(parts)} goes through a scalar")


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _parent(doc, parts)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, True), value)
    else:
        raise PatchError(f"cannot add at /{'/'.join(parts)}")
    return doc


def _remove(doc: Any, parts: list[str]) -> tuple[Any, Any]:
    if not parts:
        return None, doc
    parent = _parent(doc, parts)
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path /{'/'.join(parts)} does not exist")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, False))
    raise PatchError(f"cannot remove at /{'/'.join(parts)}")


# ---------------------------------------------------------------- strategic merge patch
# list field name -> merge key, from the `patchMergeKey` tags of k8s.io/api types.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "conditions": "type",
    "ownerReferences": "uid",
    "readinessGates": "conditionType",
    "topologySpreadConstraints": "topologyKey",
    "addresses": "type",
    "taints": "key",
    "ports": "containerPort",
    "resourceClaims": "name",
    "podIPs": "ip",
    "hostIPs": "ip",
    "schedulingGates": "name",
}
# primitive lists with patchStrategy=merge (set-like union)
MERGED_PRIMITIVE_LISTS = {"finalizers"}


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be a JSON object")
    return _smp_map(target if isinstance(target, dict) else {}, patch, "")


def _smp_map(target: dict, patch: dict, path: str) -> dict:
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return {}
    result = dict(target)
    orders = {k[len("$setElementOrder/") :]: v for k, v in patch.items() if k.startswith("$setElementOrder/")}
    for key, value in patch.items():
        if key.startswith("$"):
            if key.startswith("$deleteFromPrimitiveList/"):
                field = key.split("/", 1)[1]
                result[field] = [x for x in result.get(field) or [] if x not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            cur = result.get(key)
            result[key] = _smp_map(cur if isinstance(cur, dict) else {}, value, f"{path}.{key}")
        elif isinstance(value, list):
            result[key] = _smp_list(key, result.get(key), value, orders.get(key), path)
        else:
            result[key] = copy.deepcopy(value)
    for field, order in orders.items():
        if field not in patch and isinstance(result.get(field), list):
            result[field] = _apply_order(field, result[field], order, path)
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        # kubectl sends this when a union's discriminator changes (strategy RollingUpdate -> Recreate).
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_key(field: str, items: list, path: str) -> str | None:
    if field == "ports":
        # Service ports merge by `port`, container ports by `containerPort`.
        sample = next((i for i in items if isinstance(i, dict)), {})
        return (
            "containerPort"
            if "containerPort" in sample
            or path.endswith(("containers", "Containers"))
            or ".containers" in path
            else "port"
        )
    return MERGE_KEYS.get(field)


def _smp_list(field: str, current: Any, patch: list, order: list | None, path: str) -> list:
    current = current if isinstance(current, list) else []
    if field in MERGED_PRIMITIVE_LISTS:
        out = list(current)
        for x in patch:
            if x not in out:
                out.append(copy.deepcopy(x))
        return out
    key = _merge_key(field, current + patch, f"{path}.{field}")
    if key is None or not all(isinstance(x, dict) for x in patch):
        # No merge key: the list is atomic and the patch replaces it.
        if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
            return [
                {k: v for k, v in x.items() if k != "$patch"} for x in patch if x.get("$patch") != "replace"
            ]
        return copy.deepcopy(patch)
    if any(x.get("$patch") == "replace" for x in patch):
        return [
            copy.deepcopy({k: v for k, v in x.items() if k != "$patch"})
            for x in patch
            if x.get("$patch") != "replace"
        ]
    out = [copy.deepcopy(x) for x in current]
    for item in patch:
        if key not in item:
            raise PatchError(f"{path}.{field}: list item has no merge key {key!r}")
        idx = next((i for i, x in enumerate(out) if isinstance(x, dict) and x.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append(_smp_map({}, item, f"{path}.{field}"))
        else:
            out[idx] = _smp_map(out[idx], item, f"{path}.{field}")
    if order is not None:
        out = _apply_order(field, out, order, path, key)
    return out


def _apply_order(field: str, items: list, order: list, path: str, key: str | None = None) -> list:
    key = key or _merge_key(field, items, f"{path}.{field}")
    if key is None:
        return items

    def ident(x: Any) -> Any:
        return x.get(key) if isinstance(x, dict) else x

    wanted = [ident(o) for o in order]
    ranked = [x for w in wanted for x in items if ident(x) == w]
    rest = [x for x in items if ident(x) not in wanted]
    return ranked + rest
