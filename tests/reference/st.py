"""Reading and writing safetensors files of float32 tensors, with numpy only.

The format: an 8-byte little-endian header length, a JSON header
{"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...}
(offsets relative to the data section), then the data. Order is kept, so a
file written here from one read there has the same layout.
"""
import json
import os
import struct
import tempfile

import numpy as np


def read(path):
    """Returns (names in file order, {name: float32 array}, metadata)."""
    with open(path, "rb") as f:
        blob = f.read()
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + header_len])
    base = 8 + header_len
    names, tensors = [], {}
    metadata = header.pop("__metadata__", {})
    for name, info in header.items():
        if info["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} is {info['dtype']}, only F32 is read here")
        begin, end = info["data_offsets"]
        arr = np.frombuffer(blob[base + begin : base + end], dtype="<f4").reshape(info["shape"])
        names.append(name)
        tensors[name] = arr.astype(np.float32).copy()
    return names, tensors, metadata


def write(path, names, tensors, metadata=None):
    """Writes tensors in the order of `names`, atomically (temp + rename)."""
    header = {"__metadata__": metadata or {}}
    chunks, offset = [], 0
    for name in names:
        arr = np.asarray(tensors[name], dtype="<f4")  # (ascontiguousarray would make a scalar 1-d)
        raw = arr.tobytes(order="C")
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + ".tmp.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for raw in chunks:
                f.write(raw)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
