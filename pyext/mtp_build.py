"""A PEP 517 build backend for the mtp extension, with no dependencies.

It compiles the sources listed in SOURCES (the Makefile reads the same list)
with the running interpreter's sysconfig (the same flags `make pyext` uses) and packs the result as a wheel.  Only wheels are
supported: the extension needs ../include and ../user/lib (the sources it
shares with the loader) from a checkout.
"""
import base64
import hashlib
import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile
import zipfile

NAME = "mtp"
VERSION = "0.1.0"
HERE = os.path.dirname(os.path.abspath(__file__))
INCLUDE = os.path.join(os.path.dirname(HERE), "include")
SHARED = os.path.join(os.path.dirname(HERE), "user", "lib")


def get_requires_for_build_wheel(config_settings=None):
    return []


def _tag():
    impl = "cp%d%d" % sys.version_info[:2]
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return "%s-%s-%s" % (impl, impl, plat)


def _metadata():
    return "Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s\n" % (
        NAME, VERSION, "Memory tiering for Python: exposes object temperature to mtp-trace")


def _sources():
    """The extension's C files, from SOURCES (comments and blank lines skipped),
    as paths: SOURCES names them relative to pyext/, some outside it."""
    with open(os.path.join(HERE, "SOURCES")) as f:
        names = [w for line in f if not line.lstrip().startswith("#") for w in line.split()]
    return [os.path.normpath(os.path.join(HERE, name)) for name in names]


def _compile(out_path):
    sources = _sources()
    missing = [p for p in [os.path.join(INCLUDE, "mtp_abi.h")] + sources if not os.path.exists(p)]
    if missing:
        raise RuntimeError("mtp: %s not found next to pyext/: build from a checkout of the "
                           "whole repository" % os.path.relpath(missing[0], os.path.dirname(HERE)))
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")[:1] or ["cc"]
    cmd = cc + ["-std=gnu11", "-O2", "-g", "-fPIC", "-shared", "-fvisibility=hidden",
                "-Wall", "-Wextra", "-D_GNU_SOURCE",
                "-I" + INCLUDE, "-I" + HERE, "-I" + SHARED, "-I" + sysconfig.get_paths()["include"],
                ] + sources + ["-o", out_path]
    print(" ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True)


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (name, digest, len(data))


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    tag = _tag()
    so_name = NAME + sysconfig.get_config_var("EXT_SUFFIX")
    dist_info = "%s-%s.dist-info" % (NAME, VERSION)
    wheel_name = "%s-%s-%s.whl" % (NAME, VERSION, tag)
    with tempfile.TemporaryDirectory() as tmp:
        so_path = os.path.join(tmp, so_name)
        _compile(so_path)
        with open(so_path, "rb") as f:
            so_data = f.read()
        files = [
            (so_name, so_data),
            (dist_info + "/METADATA", _metadata().encode()),
            (dist_info + "/WHEEL", ("Wheel-Version: 1.0\nGenerator: mtp_build\n"
                                    "Root-Is-Purelib: false\nTag: %s\n" % tag).encode()),
        ]
        record = [_record_line(n, d) for n, d in files] + [dist_info + "/RECORD,,"]
        files.append((dist_info + "/RECORD", ("\n".join(record) + "\n").encode()))
        with zipfile.ZipFile(os.path.join(wheel_directory, wheel_name), "w",
                             zipfile.ZIP_DEFLATED) as whl:
            for name, data in files:
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = (0o755 if name.endswith(".so") else 0o644) << 16
                whl.writestr(info, data)
    return wheel_name
