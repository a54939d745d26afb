#!/usr/bin/python3
"""tools/vm/vm.sh boots the guest again, once, when its kernel hit a stale
int3 of its own text patching before the command ran (QEMU 7.2's
multi-threaded TCG: seen at 1.5 s of boot).

The failing first boot is played by a stand-in for QEMU (MTP_VM_QEMU): the
oops cannot be caused on demand.  It writes what the real guest's console
showed into the log the real QEMU would write (-serial file:...) and exits
as QEMU did.  The second boot is the real QEMU and the real guest, so the
retry is shown to work end to end.  Needs root and the guest's kernel
(make vm-fetch); run by tools/run-tests.sh with the other VM suites.
"""
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VM_SH = os.path.join(ROOT, "tools", "vm", "vm.sh")

# The stand-in: it fails the way the guest did (the console's last lines),
# FAILS times, then runs the real QEMU.
STAND_IN = """#!/bin/sh
n=$(cat "{count}" 2>/dev/null || echo 0)
echo $((n + 1)) >"{count}"
if [ "$n" -lt {fails} ]; then
    prev=""
    for a in "$@"; do
        case "$prev:$a" in -serial:file:*) log=${{a#file:}} ;; esac
        prev=$a
    done
    printf '%s\\n' "{marker}" "[    1.630397] Oops: int3: 0000 [#2] PREEMPT SMP NOPTI" \\
        "[    1.630745] Kernel panic - not syncing: Fatal exception in interrupt" >>"$log"
    exit 1
fi
exec qemu-system-x86_64 "$@"
"""


class BootAgainTest(unittest.TestCase):
    def boot(self, fails, marker=""):
        tmp = tempfile.mkdtemp(prefix="mtp-boot-again-")
        self.addCleanup(shutil.rmtree, tmp, True)
        count, qemu = os.path.join(tmp, "count"), os.path.join(tmp, "qemu")
        with open(qemu, "w") as f:
            f.write(STAND_IN.format(count=count, fails=fails, marker=marker))
        os.chmod(qemu, stat.S_IRWXU)
        p = subprocess.run([VM_SH, "run", "--timeout", "300", "--out", os.path.join(tmp, "out"),
                            "--", "echo guest-ran"], env=dict(os.environ, MTP_VM_QEMU=qemu),
                           capture_output=True, text=True, timeout=600)
        with open(count) as f:
            return p, int(f.read())

    def test_a_stale_int3_at_boot_boots_again_once(self):
        p, boots = self.boot(fails=1)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        self.assertEqual(boots, 2)
        self.assertIn("booting again, once", p.stderr)
        self.assertIn("guest-ran", p.stdout)

    def test_a_second_oops_fails(self):
        p, boots = self.boot(fails=2)
        self.assertEqual((p.returncode, boots), (125, 2), p.stderr[-2000:])

    def test_an_oops_after_the_command_started_is_not_retried(self):
        # The command may have done part of its work: running it again
        # could double it.
        p, boots = self.boot(fails=1, marker="MTP-CMD-START")
        self.assertEqual((p.returncode, boots), (125, 1), p.stderr[-2000:])


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=1).result
    failed = len(result.failures) + len(result.errors)
    print("%d passed, %d failed" % (result.testsRun - failed, failed))
    sys.exit(1 if failed else 0)
