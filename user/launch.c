// SPDX-License-Identifier: MIT
#include "launch.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "diag.h"
#include "pybuild.h"
#include "sysutil.h"

/*
 * Runs in the program before its first line.  Never raises: an import error
 * says one line on stderr and the program runs untraced.  It also runs at
 * the start of each subinterpreter, where the extension refuses to load (its
 * state is the main interpreter's): that is not news, and saying it there
 * would add a line to the program's stderr per subinterpreter.  The directory tag
 * is the Makefile's PY_TAG: version and the crc32 of sys.prefix, since
 * Debian's and pyenv's 3.11 share an ABI tag but not their headers.
 */
static const char sitecustomize[] =
    "import os as _o, sys as _s\n"
    "def _mtp_launch():\n"
    "    import importlib, zlib\n"
    "    here = _o.path.dirname(_o.path.abspath(__file__))\n"
    "    tag = '%d.%d-%08x' % (_s.version_info[0], _s.version_info[1],\n"
    "                          zlib.crc32(_s.prefix.encode()))\n"
    "    ext = _o.path.join(_o.environ.get('MTP_LAUNCH_BUILD', ''), 'py' + tag)\n"
    "    _s.path[:] = [p for p in _s.path if _o.path.abspath(p or '.') != here]\n"
    "    if _o.path.isdir(ext):\n"
    "        _s.path.insert(0, ext)\n"
    "        try:\n"
    "            import mtp  # noqa: F401\n"
    "        except Exception as e:\n"
    "            if 'subinterpreter' not in str(e):\n"
    "                _s.stderr.write('mtp: not loaded: %s\\n' % e)\n"
    "        finally:\n"
    "            _s.path.remove(ext)\n"
    "    else:\n"
    "        _s.stderr.write('mtp: no extension built for this Python (%s): run make '\n"
    "                        'PYTHON=%s, then launch again\\n' % (ext, _s.executable))\n"
    "    me = _s.modules.pop('sitecustomize')\n"
    "    try:\n"
    "        importlib.import_module('sitecustomize')  # the one this shadowed\n"
    "    except ImportError:\n"
    "        _s.modules['sitecustomize'] = me  # none: site's import expects one\n"
    "_mtp_launch()\n"
    "del _mtp_launch, _o, _s\n";

static int write_sitecustomize(struct mtp_launch *l)
{
    char path[PATH_MAX + 32];
    FILE *f;

    snprintf(l->dir, sizeof(l->dir), "/tmp/mtp-launch-XXXXXX");
    if (!mkdtemp(l->dir)) {
        mtp_error("cannot create a directory for the program's sitecustomize: %s", strerror(errno));
        l->dir[0] = '\0';
        return -1;
    }
    chmod(l->dir, 0755); /* the program may run as another user (sudo -u) */
    snprintf(path, sizeof(path), "%s/sitecustomize.py", l->dir);
    f = fopen(path, "w");
    if (!f || fputs(sitecustomize, f) == EOF || fclose(f) == EOF) {
        mtp_error("cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    chmod(path, 0644);
    return 0;
}

/* The child's environment: PYTHONPATH led by dir, MTP_LAUNCH_BUILD. */
static int child_environment(const struct mtp_launch *l, const char *build)
{
    const char *old = getenv("PYTHONPATH");
    char *path;
    int rc;

    if (old && *old)
        rc = asprintf(&path, "%s:%s", l->dir, old);
    else
        rc = asprintf(&path, "%s", l->dir);
    if (rc < 0)
        return -1;
    rc = setenv("PYTHONPATH", path, 1) | setenv("MTP_LAUNCH_BUILD", build, 1);
    free(path);
    return rc;
}

int mtp_launch__start(struct mtp_launch *l, char *const argv[])
{
    char build[PATH_MAX];
    sigset_t none;
    pid_t pid;

    memset(l, 0, sizeof(*l));
    l->pidfd = -1;
    if (mtp_pybuild__dir(build, sizeof(build)) < 0) {
        mtp_error("cannot find mtp-trace's own directory (/proc/self/exe)");
        return -1;
    }
    if (write_sitecustomize(l) < 0)
        return -1;
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        mtp_error("cannot start %s: %s", argv[0], strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* The program starts with no signal blocked, whatever ours are. */
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (child_environment(l, build) < 0)
            _exit(127);
        execvp(argv[0], argv);
        fprintf(stderr, "mtp-trace: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    l->pid = pid;
    l->pidfd = mtp_pidfd_open(pid);
    return 0;
}

void mtp_launch__forward(const struct mtp_launch *l, int sig)
{
    if (l->pid > 0 && !l->reaped)
        kill(l->pid, sig);
}

bool mtp_launch__reap(struct mtp_launch *l)
{
    if (l->pid > 0 && !l->reaped && waitpid(l->pid, &l->status, WNOHANG) == l->pid)
        l->reaped = true;
    return l->reaped;
}

int mtp_launch__exit_code(const struct mtp_launch *l)
{
    if (!l->reaped)
        return 1;
    if (WIFEXITED(l->status))
        return WEXITSTATUS(l->status);
    return WIFSIGNALED(l->status) ? 128 + WTERMSIG(l->status) : 1;
}

void mtp_launch__destroy(struct mtp_launch *l)
{
    char path[PATH_MAX + 32];

    if (l->pid > 0 && !l->reaped && waitpid(l->pid, &l->status, 0) == l->pid)
        l->reaped = true;
    if (l->pidfd >= 0)
        close(l->pidfd);
    l->pidfd = -1;
    if (l->dir[0]) {
        snprintf(path, sizeof(path), "%s/sitecustomize.py", l->dir);
        unlink(path);
        rmdir(l->dir);
        l->dir[0] = '\0';
    }
}
