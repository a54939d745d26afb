"""Reads mtp's pinned page map cheaply, for sampling it every interval.

`bpftool -j map dump` prints every entry twice (raw bytes and BTF-formatted)
as JSON: for tens of thousands of pages that costs the harness a second of
CPU per dump, which would steal from the workload on a 2-core machine.  This
reads the map with the bpf(2) syscall (BPF_OBJ_GET of the pin, then
BPF_MAP_LOOKUP_BATCH) into numpy arrays, taking the value's field offsets from
the map's own BTF (`bpftool -j btf dump map pinned PATH value`), so a change
to struct mtp_page does not silently misread it.  check_against_bpftool()
compares one read with bpftool's formatted dump.
"""
import ctypes
import errno
import json
import os
import platform
import subprocess

import numpy as np

_NR_BPF = {"x86_64": 321, "aarch64": 280}.get(platform.machine())
BPF_MAP_LOOKUP_ELEM = 1
BPF_MAP_LOOKUP_BATCH = 24
BPF_OBJ_GET = 7
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_F_RDONLY = 1 << 3

_libc = ctypes.CDLL(None, use_errno=True)


class _ObjGet(ctypes.Structure):
    _fields_ = [("pathname", ctypes.c_uint64), ("bpf_fd", ctypes.c_uint32),
                ("file_flags", ctypes.c_uint32), ("path_fd", ctypes.c_int32),
                ("pad", ctypes.c_uint32)]


class _InfoAttr(ctypes.Structure):
    _fields_ = [("bpf_fd", ctypes.c_uint32), ("info_len", ctypes.c_uint32),
                ("info", ctypes.c_uint64)]


class _MapInfo(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("id", ctypes.c_uint32),
                ("key_size", ctypes.c_uint32), ("value_size", ctypes.c_uint32),
                ("max_entries", ctypes.c_uint32), ("map_flags", ctypes.c_uint32),
                ("name", ctypes.c_char * 16)]


class _Elem(ctypes.Structure):
    _fields_ = [("map_fd", ctypes.c_uint32), ("pad", ctypes.c_uint32),
                ("key", ctypes.c_uint64), ("value", ctypes.c_uint64), ("flags", ctypes.c_uint64)]


class _Batch(ctypes.Structure):
    _fields_ = [("in_batch", ctypes.c_uint64), ("out_batch", ctypes.c_uint64),
                ("keys", ctypes.c_uint64), ("values", ctypes.c_uint64),
                ("count", ctypes.c_uint32), ("map_fd", ctypes.c_uint32),
                ("elem_flags", ctypes.c_uint64), ("flags", ctypes.c_uint64)]


class MapError(Exception):
    pass


def _bpf(cmd, attr):
    if _NR_BPF is None:
        raise MapError("bpf(2) syscall number unknown for %s" % platform.machine())
    r = _libc.syscall(ctypes.c_long(_NR_BPF), ctypes.c_int(cmd), ctypes.byref(attr),
                      ctypes.c_uint(ctypes.sizeof(attr)))
    return r, (ctypes.get_errno() if r < 0 else 0)


_CTYPES = {1: "u1", 2: "<u2", 4: "<u4", 8: "<u8"}


def btf_value_fields(pin, need=("heat", "last_epoch")):
    """{field: (offset, size)} of the map's value struct, from its BTF."""

    def dump(what):
        out = subprocess.run(["bpftool", "-j", "btf", "dump", "map", "pinned", pin, what],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise MapError("bpftool btf dump of %s failed: %s" % (pin, out.stderr.strip()))
        return json.loads(out.stdout)["types"]

    struct = next((t for t in dump("value") if t.get("kind") == "STRUCT"), None)
    if struct is None:
        raise MapError("no struct in the BTF of %s's value" % pin)
    by_id = {t["id"]: t for t in dump("all")}

    def size_of(tid):
        t = by_id.get(tid)
        while t is not None and t.get("kind") in ("TYPEDEF", "VOLATILE", "CONST"):
            t = by_id.get(t["type_id"])
        return t.get("size") if t else None

    fields = {}
    for m in struct["members"]:
        size = size_of(m["type_id"])
        if m["bits_offset"] % 8 == 0 and size in _CTYPES:
            fields[m["name"]] = (m["bits_offset"] // 8, size)
    if any(n not in fields for n in need):
        raise MapError("%s's value has no %s fields: %s" % (pin, "/".join(need), sorted(fields)))
    return struct["name"], struct["size"], fields


class PinnedMap:
    """A pinned BPF hash map of u64 keys, read in batches."""

    def __init__(self, pin, batch=65536):
        self.pin = pin
        self.fd = None
        path = ctypes.create_string_buffer(pin.encode())
        attr = _ObjGet(pathname=ctypes.addressof(path), file_flags=BPF_F_RDONLY)
        fd, err = _bpf(BPF_OBJ_GET, attr)
        if fd < 0:
            raise MapError("cannot open pinned map %s: %s" % (pin, os.strerror(err)))
        self.fd = fd
        info = _MapInfo()
        ia = _InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(info), info=ctypes.addressof(info))
        r, err = _bpf(BPF_OBJ_GET_INFO_BY_FD, ia)
        if r < 0:
            self.close()
            raise MapError("cannot query map %s: %s" % (pin, os.strerror(err)))
        self.key_size, self.value_size = info.key_size, info.value_size
        if self.key_size != 8:
            self.close()
            raise MapError("%s: key size %d, expected 8" % (pin, self.key_size))
        self.struct, size, fields = btf_value_fields(pin)
        if size != self.value_size:
            self.close()
            raise MapError("%s: BTF says %d-byte values, the map %d" % (pin, size,
                                                                        self.value_size))
        self.fields = fields
        self.dtype = np.dtype({"names": list(fields),
                               "formats": [_CTYPES[s] for _, s in fields.values()],
                               "offsets": [o for o, _ in fields.values()],
                               "itemsize": self.value_size})
        self._alloc(batch)

    def _alloc(self, n):
        self.cap = n
        self._keys = ctypes.create_string_buffer(n * self.key_size)
        self._vals = ctypes.create_string_buffer(n * self.value_size)

    def read(self):
        """(keys uint64[], values structured[]) of every entry."""
        keys, vals = [], []
        in_b, out_b = ctypes.c_uint64(0), ctypes.c_uint64(0)
        first = True
        while True:
            attr = _Batch(in_batch=0 if first else ctypes.addressof(in_b),
                          out_batch=ctypes.addressof(out_b),
                          keys=ctypes.addressof(self._keys), values=ctypes.addressof(self._vals),
                          count=self.cap, map_fd=self.fd)
            r, err = _bpf(BPF_MAP_LOOKUP_BATCH, attr)
            if r < 0 and err == errno.ENOSPC:  # one bucket holds more than cap
                self._alloc(self.cap * 2)
                continue
            n = attr.count
            if n and (r == 0 or err == errno.ENOENT):
                keys.append(np.frombuffer(self._keys.raw[:n * 8], dtype="<u8"))
                vals.append(np.frombuffer(self._vals.raw[:n * self.value_size],
                                          dtype=self.dtype))
            if r < 0:
                if err == errno.ENOENT:
                    break
                raise MapError("BPF_MAP_LOOKUP_BATCH on %s: %s" % (self.pin, os.strerror(err)))
            in_b.value = out_b.value
            first = False
        if not keys:
            return np.zeros(0, "<u8"), np.zeros(0, self.dtype)
        return np.concatenate(keys), np.concatenate(vals)

    def close(self):
        if self.fd is not None and self.fd >= 0:
            os.close(self.fd)
        self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class PinnedStats:
    """mtp's pinned one-entry "stats" array, read with one BPF_MAP_LOOKUP_ELEM:
    cheap enough to poll many times a second."""

    def __init__(self, pin, need=("events", "observe_ns")):
        self.pin = pin
        path = ctypes.create_string_buffer(pin.encode())
        fd, err = _bpf(BPF_OBJ_GET, _ObjGet(pathname=ctypes.addressof(path),
                                            file_flags=BPF_F_RDONLY))
        if fd < 0:
            raise MapError("cannot open pinned map %s: %s" % (pin, os.strerror(err)))
        self.fd = fd
        try:
            _, size, self.fields = btf_value_fields(pin, need)
        except MapError:
            self.close()
            raise
        self._key = ctypes.c_uint32(0)
        self._val = ctypes.create_string_buffer(size)

    def read(self):
        """{field: int} of entry 0."""
        r, err = _bpf(BPF_MAP_LOOKUP_ELEM, _Elem(map_fd=self.fd, key=ctypes.addressof(self._key),
                                                 value=ctypes.addressof(self._val)))
        if r < 0:
            raise MapError("BPF_MAP_LOOKUP_ELEM on %s: %s" % (self.pin, os.strerror(err)))
        raw = self._val.raw
        return {name: int.from_bytes(raw[off:off + size], "little", signed=name == "wp_state")
                for name, (off, size) in self.fields.items()}

    def close(self):
        if self.fd is not None and self.fd >= 0:
            os.close(self.fd)
        self.fd = None


def bpftool_dump(pin):
    out = subprocess.run(["bpftool", "-j", "map", "dump", "pinned", pin], capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise MapError("bpftool map dump %s failed: %s" % (pin, out.stderr.strip()))
    entries = json.loads(out.stdout)
    if entries and "formatted" not in entries[0]:
        raise MapError("bpftool printed no BTF-formatted values for %s" % pin)
    return [e["formatted"] for e in entries]


def check_against_bpftool(pmap):
    """Reads the map both ways back to back; returns a short verdict and counts."""
    keys, vals = pmap.read()
    dump = bpftool_dump(pmap.pin)
    mine = {int(k): (int(v["heat"]), int(v["last_epoch"])) for k, v in zip(keys, vals)}
    theirs = {e["key"]: (e["value"]["heat"], e["value"]["last_epoch"]) for e in dump}
    differ = sum(1 for k in mine.keys() & theirs.keys() if mine[k] != theirs[k])
    only = len(mine.keys() ^ theirs.keys())
    ok = differ == 0 and only == 0
    return {"ok": ok, "entries": len(mine), "bpftool_entries": len(theirs),
            "values_differ": differ, "keys_in_one_only": only}
