"""Validating a bundle manifest against models/manifest.schema.json, the one schema the server
(src/model/manifest.ts, with ajv) also loads bundles by. The exporter calls validate() before it
writes anything, so a bundle the server would refuse is never written. No torch here, so tests and
CI check shipped manifests with a bare python3 (Debian's python3-jsonschema).

    python3 models/training/manifest_schema.py MANIFEST.json...   # "ok" or the first problem, per file
"""
import json
import os
import sys

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "manifest.schema.json")


class ManifestError(ValueError):
    pass


def _validator():
    try:
        import jsonschema
    except ImportError:
        raise ManifestError("validating the manifest needs jsonschema: apt-get install python3-jsonschema") from None
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        schema = json.load(f)
    return jsonschema.Draft7Validator(schema)


def _candidates(errors):
    """For a union (anyOf), the first error of each branch instead of the union's own summary:
    the errors ajv reports (src/model/manifest.ts), so both sides pick from the same ones."""
    for e in errors:
        if not e.context:
            yield e
            continue
        branches = {}
        for c in e.context:
            branches.setdefault(c.relative_schema_path[0], []).append(c)
        for errs in branches.values():
            yield from _candidates(errs[:1])


def _field(e):
    """The JSON pointer of the field: a missing or unknown key is named itself, as the server does."""
    path = "".join(f"/{p}" for p in e.absolute_path)
    if e.validator == "required":
        missing = [k for k in e.validator_value if k not in e.instance]
        return f"{path}/{missing[0]}" if missing else path or "/"
    if e.validator == "additionalProperties":
        known = set(e.schema.get("properties", {}))
        extra = [k for k in e.instance if k not in known]
        return f"{path}/{extra[0]}" if extra else path or "/"
    return path or "/"


def _describe(e, candidates):
    if e.validator == "additionalProperties":
        return "is not a known field"
    if e.validator == "required":
        return "is required"
    if e.validator == "const":
        # A union of constants fails once per constant: name them all, as the server does.
        allowed = [json.dumps(c.validator_value) for c in candidates if c.validator == "const" and c.absolute_path == e.absolute_path]
        return f"must be one of {', '.join(allowed)}" if len(allowed) > 1 else f"must be {allowed[0]}"
    return e.message


def problem(manifest):
    """None when valid; otherwise "at /field: what is wrong", the deepest field first (as the server picks)."""
    try:
        # The server parses the file with JSON.parse: NaN or Infinity would make it unreadable there.
        manifest = json.loads(json.dumps(manifest, allow_nan=False))
    except ValueError as err:
        return f"at /: not writable as JSON ({err})"
    candidates = list(_candidates(_validator().iter_errors(manifest)))
    best = None
    for e in candidates:
        depth = _field(e).count("/")
        if best is None or depth > best[0]:
            best = (depth, e)
    return None if best is None else f"at {_field(best[1])}: {_describe(best[1], candidates)}"


def validate(manifest):
    """Raises ManifestError naming the field when the manifest does not match the schema."""
    p = problem(manifest)
    if p:
        raise ManifestError(f"manifest is invalid {p}")


if __name__ == "__main__":
    bad = 0
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as f:
            p = problem(json.load(f))
        print(f"{path}: {'ok' if p is None else 'invalid ' + p}")
        bad += p is not None
    sys.exit(1 if bad else 0)
