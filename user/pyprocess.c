// SPDX-License-Identifier: MIT
#include "pyprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "elfsyms.h"
#include "procmaps.h"
#include "sysutil.h"

/* What injection calls in the interpreter (user/lib/inject_script.c). */
static const char *const needed[] = {"Py_AddPendingCall", "PyRun_SimpleString"};

static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}

/* The seam: the file at path, mapped read-only.  The address, or NULL. */
static void *map_file(const char *path, size_t *len)
{
    struct stat st;
    void *img;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) < 0 || st.st_size <= 0) {
        close(fd);
        return NULL;
    }
    img = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    *len = (size_t)st.st_size;
    return img == MAP_FAILED ? NULL : img;
}

/* The interpreter's ELF: checks its exports, and takes the version from
 * Py_Version (3.11+) when the file names gave none. */
static int check_elf(struct mtp_pyprocess *p, pid_t pid, const char *open_path, bool have_version)
{
    struct mtp_elf elf;
    uint64_t addr;
    uint32_t hex;
    size_t len = 0;
    char err[160];
    void *img = map_file(open_path, &len);
    int rc = -1;

    if (!img) {
        mtp_error("cannot read pid %d's interpreter %s: %s", (int)pid, p->interp, strerror(errno));
        return -1;
    }
    if (mtp_elf_open(&elf, img, len, err, sizeof(err)) < 0) {
        mtp_error("cannot read the symbols of pid %d's interpreter %s: %s", (int)pid, p->interp,
                  err);
        goto out;
    }
    for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
        if (!mtp_elf_defines(&elf, needed[i], NULL)) {
            mtp_error("pid %d's interpreter %s does not export %s, which --inject calls: add "
                      "'import mtp' to the program instead",
                      (int)pid, p->interp, needed[i]);
            goto out;
        }
    }
    if (!have_version && mtp_elf_defines(&elf, "Py_Version", &addr) &&
        mtp_elf_read_u32(&elf, addr, &hex) == 0) {
        mtp_pyversion_from_hex(hex, &p->version);
        have_version = true;
    }
    if (!have_version && mtp_pyversion_from_exename(base_of(p->exe), &p->version) == 0)
        have_version = true;
    if (!have_version)
        mtp_error("cannot tell which Python pid %d runs (%s has no libpython, no Py_Version and "
                  "no version in its name): add 'import mtp' to the program instead",
                  (int)pid, p->exe);
    rc = have_version ? 0 : -1;
out:
    munmap(img, len);
    return rc;
}

/* path (as the kernel prints it to this process) as pid sees it. */
static int in_target_root(pid_t pid, char *path, size_t len)
{
    char link[64], root[PATH_MAX], seen[PATH_MAX];
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/%d/root", (int)pid);
    n = readlink(link, root, sizeof(root) - 1);
    if (n <= 0) {
        mtp_error("cannot read %s: %s (has pid %d exited?)", link, strerror(errno), (int)pid);
        return -1;
    }
    root[n] = '\0';
    if (mtp_path_in_root(root, path, seen, sizeof(seen)) < 0)
        return -1;
    snprintf(path, len, "%s", seen);
    return 0;
}

/* The libpython mapped in pid, if any: its path and a path that opens it. */
static bool find_libpython(pid_t pid, struct mtp_pyprocess *p, char *open_path, size_t len)
{
    struct mtp_maps maps = {0};
    char path[64], err[160], *text = NULL;
    bool found = false;

    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    if (mtp_read_file(path, &text) < 0 || mtp_maps_parse(&maps, text, err, sizeof(err)) < 0)
        goto out;
    for (size_t i = 0; i < maps.len && !found; i++) {
        const struct mtp_mapping *m = &maps.v[i];

        if (m->path[0] != '/' || strncmp(base_of(m->path), "libpython", 9))
            continue;
        snprintf(p->interp, sizeof(p->interp), "%s", m->path);
        in_target_root(pid, p->interp, sizeof(p->interp));
        snprintf(open_path, len, "/proc/%d/map_files/%llx-%llx", (int)pid,
                 (unsigned long long)m->start, (unsigned long long)m->end);
        found = true;
    }
out:
    free(text);
    mtp_maps_free(&maps);
    return found;
}

static int build_tag(struct mtp_pyprocess *p, pid_t pid, bool from_lib)
{
    char prefix[PATH_MAX];
    bool exe_named = !strncmp(base_of(p->exe), "python", 6);

    /* An embedding program (uwsgi) says nothing of the prefix; its
     * libpython does. */
    if (mtp_pyprefix_of(exe_named || !from_lib ? p->exe : p->interp, exe_named || !from_lib, prefix,
                        sizeof(prefix)) < 0 ||
        mtp_pytag_format(&p->version, prefix, p->tag, sizeof(p->tag)) < 0) {
        mtp_error("cannot tell pid %d's sys.prefix from %s: add 'import mtp' to the program "
                  "instead",
                  (int)pid, p->exe);
        return -1;
    }
    return 0;
}

int mtp_pyprocess__inspect(struct mtp_pyprocess *p, pid_t pid)
{
    char link[64], open_path[96], err[320];
    bool from_lib, have_version;
    ssize_t n;

    memset(p, 0, sizeof(*p));
    snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
    n = readlink(link, p->exe, sizeof(p->exe) - 1);
    if (n <= 0) {
        mtp_error("cannot read %s: %s (has pid %d exited?)", link, strerror(errno), (int)pid);
        return -1;
    }
    p->exe[n] = '\0';
    if (in_target_root(pid, p->exe, sizeof(p->exe)) < 0)
        return -1;
    from_lib = find_libpython(pid, p, open_path, sizeof(open_path));
    if (!from_lib) {
        snprintf(p->interp, sizeof(p->interp), "%s", p->exe);
        snprintf(open_path, sizeof(open_path), "%s", link);
    }
    have_version = from_lib && mtp_pyversion_from_libname(base_of(p->interp), &p->version) == 0;
    if (check_elf(p, pid, open_path, have_version) < 0)
        return -1;
    if (mtp_pyversion_supported(&p->version, err, sizeof(err)) < 0) {
        mtp_error("pid %d (%s): %s", (int)pid, p->interp, err);
        return -1;
    }
    return build_tag(p, pid, from_lib);
}
