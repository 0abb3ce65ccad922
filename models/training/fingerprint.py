"""The bundle fingerprint, shared by the exporter and the tests (no torch, so it runs anywhere).

The fingerprint names what a bundle's vectors mean: the bytes of its encoder and tokenizer files and
the manifest settings that decide how text becomes a vector. Snapshots record it, and the server
(src/model/bundle.ts, which computes it the same way, byte for byte) never mixes vectors of two.
Name, version, validation metrics and float-valued fields are left out: they do not change the
vectors, and floats have no canonical text that JSON.stringify and json.dumps agree on.

    python3 models/training/fingerprint.py BUNDLE_DIR...   # prints each bundle's fingerprint
"""
import hashlib
import json
import os
import sys

SETTINGS = ("architecture", "dimension", "similarity", "tokenizer", "newsInput", "userInput", "encoders")


def bundle_files(manifest):
    """The hashed files in fingerprint order: news encoder, user encoder (when another file), tokenizer."""
    news, user = manifest["encoders"]["news"]["file"], manifest["encoders"]["user"]["file"]
    return [news] + ([user] if user != news else []) + [manifest["tokenizer"]["file"]]


def _plain(v):
    # JSON.stringify writes 64.0 as 64; refuse any number the two sides could write differently.
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, float):
        if not v.is_integer():
            raise ValueError(f"fingerprinted manifest settings hold only integers, not {v}")
        v = int(v)
    if isinstance(v, int):
        if abs(v) > 2**53 - 1:
            raise ValueError(f"{v} is not a safe integer")
        return v
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    raise ValueError(f"unexpected {type(v).__name__} in manifest settings")


def canonical_settings(manifest):
    """Sorted keys, no spaces, non-ASCII escaped: the text both sides hash."""
    settings = {k: _plain(manifest[k]) for k in SETTINGS}
    return json.dumps(settings, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def fingerprint(file_hashes, manifest):
    """sha256 over each file's sha256 (in bundle_files order) and the canonical settings, one per line."""
    text = "".join(h + "\n" for h in file_hashes) + canonical_settings(manifest) + "\n"
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def bundle_fingerprint(bundle_dir):
    """Recomputed from the files' bytes and the manifest's settings (not from its recorded hashes)."""
    with open(os.path.join(bundle_dir, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    hashes = []
    for name in bundle_files(manifest):
        with open(os.path.join(bundle_dir, name), "rb") as f:
            hashes.append(hashlib.sha256(f.read()).hexdigest())
    return fingerprint(hashes, manifest)


if __name__ == "__main__":
    for d in sys.argv[1:]:
        print(f"{bundle_fingerprint(d)}  {d}")
