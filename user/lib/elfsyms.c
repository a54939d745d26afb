// SPDX-License-Identifier: MIT
#include "elfsyms.h"

#include <elf.h>
#include <string.h>

#include "errmsg.h"

/* Whether [off, off + n) lies in the image. */
static bool in_image(const struct mtp_elf *e, uint64_t off, uint64_t n)
{
    return off <= e->len && n <= e->len - off;
}

int mtp_elf_open(struct mtp_elf *e, const void *img, size_t len, char *err, size_t errlen)
{
    Elf64_Ehdr eh;

    memset(e, 0, sizeof(*e));
    e->img = img;
    e->len = len;
    if (len < sizeof(eh) || memcmp(img, ELFMAG, SELFMAG)) {
        mtp_set_err(err, errlen, "not an ELF file");
        return -1;
    }
    memcpy(&eh, img, sizeof(eh));
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB) {
        mtp_set_err(err, errlen, "not a 64-bit little-endian ELF file");
        return -1;
    }
    if (eh.e_shentsize != sizeof(Elf64_Shdr) ||
        !in_image(e, eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr))) {
        mtp_set_err(err, errlen, "its section headers are missing or cut short");
        return -1;
    }
    for (unsigned i = 0; i < eh.e_shnum; i++) {
        Elf64_Shdr sh, str;

        memcpy(&sh, e->img + eh.e_shoff + i * sizeof(sh), sizeof(sh));
        if (sh.sh_type != SHT_DYNSYM)
            continue;
        if (sh.sh_link >= eh.e_shnum || sh.sh_entsize != sizeof(Elf64_Sym))
            break;
        memcpy(&str, e->img + eh.e_shoff + sh.sh_link * sizeof(str), sizeof(str));
        if (!in_image(e, sh.sh_offset, sh.sh_size) || !in_image(e, str.sh_offset, str.sh_size))
            break;
        e->sym_off = sh.sh_offset;
        e->sym_count = sh.sh_size / sizeof(Elf64_Sym);
        e->str_off = str.sh_offset;
        e->str_len = str.sh_size;
        return 0;
    }
    mtp_set_err(err, errlen, "it has no readable dynamic symbol table (.dynsym)");
    return -1;
}

bool mtp_elf_defines(const struct mtp_elf *e, const char *name, uint64_t *value)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < e->sym_count; i++) {
        Elf64_Sym s;
        const char *sname;

        memcpy(&s, e->img + e->sym_off + i * sizeof(s), sizeof(s));
        if (s.st_shndx == SHN_UNDEF || s.st_name >= e->str_len || n >= e->str_len - s.st_name)
            continue;
        sname = (const char *)e->img + e->str_off + s.st_name;
        if (memcmp(sname, name, n + 1))
            continue;
        if (value)
            *value = s.st_value;
        return true;
    }
    return false;
}

int mtp_elf_read_u32(const struct mtp_elf *e, uint64_t vaddr, uint32_t *out)
{
    Elf64_Ehdr eh;

    memcpy(&eh, e->img, sizeof(eh));
    if (eh.e_phentsize != sizeof(Elf64_Phdr) ||
        !in_image(e, eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr)))
        return -1;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        uint64_t off;

        memcpy(&ph, e->img + eh.e_phoff + i * sizeof(ph), sizeof(ph));
        if (ph.p_type != PT_LOAD || vaddr < ph.p_vaddr || ph.p_filesz < 4 ||
            vaddr - ph.p_vaddr > ph.p_filesz - 4)
            continue;
        off = ph.p_offset + (vaddr - ph.p_vaddr);
        if (!in_image(e, off, 4))
            return -1;
        memcpy(out, e->img + off, 4);
        return 0;
    }
    return -1;
}
