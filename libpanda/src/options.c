/*
 * The command-line options: one table drives parsing, the help text and
 * the unknown-option error.  Options are QEMU's names; each says what it
 * takes and which machine it belongs to.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct panda_option {
    const char *name, *alias;
    const char *arg;              /* what it takes (NULL: a flag) */
    const char *help;
    bool kernel_option;           /* only for a machine that takes_kernel (and disks) */
    panda_err (*apply)(panda_config *c, panda_errbuf *e, const char *opt, const char *arg);
} panda_option;

static panda_err opt_m(panda_config *c, panda_errbuf *e, const char *opt, const char *arg)
{
    (void)opt;
    c->ram_size = parse_size(arg);
    if (!c->ram_size)
        return err_set(e, PANDA_ERR_OPTION,
            "bad memory size '%s' for -m: use a number with an optional K, M or G suffix, e.g. 128M", arg);
    return PANDA_OK;
}

static panda_err opt_machine(panda_config *c, panda_errbuf *e, const char *opt, const char *arg)
{
    (void)opt;
    if (!panda_machine_find(arg)) {
        char names[128] = "";
        for (size_t i = 0; panda_machines[i]; i++)
            snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i ? ", " : "",
                     panda_machines[i]->name);
        return err_set(e, PANDA_ERR_OPTION, "unknown machine '%s' (available: %s)", arg, names);
    }
    snprintf(c->machine, sizeof(c->machine), "%s", arg);
    return PANDA_OK;
}

static panda_err opt_file(panda_config *c, panda_errbuf *e, const char *opt, const char *arg)
{
    char **slot = !strcmp(opt, "-kernel") ? &c->kernel : !strcmp(opt, "-initrd") ? &c->initrd
                : !strcmp(opt, "-bios") ? &c->bios : &c->append;
    char *copy = str_dup(arg);
    if (!copy) return err_nomem(e, opt);
    free(*slot);
    *slot = copy;
    return PANDA_OK;
}

static bool drive_taken(const struct panda_drive *d) { return d->file || d->size || d->cdrom; }

/* file NULL: an empty CD-ROM drive */
static panda_err set_drive(panda_config *c, panda_errbuf *e, unsigned index, const char *file,
                           const char *format, bool cdrom)
{
    if (index >= PANDA_MAX_DRIVES)
        return err_set(e, PANDA_ERR_OPTION, "drive index %u: there are %d IDE drives (index 0-%d)", index,
                       PANDA_MAX_DRIVES, PANDA_MAX_DRIVES - 1);
    if (drive_taken(&c->drive[index]))
        return err_set(e, PANDA_ERR_OPTION, "IDE drive %u is given twice%s", index,
                       index == 2 ? " (-cdrom is drive 2, as -hdc)" : "");
    if (strcmp(format, "auto") && strcmp(format, "raw") && strcmp(format, "qcow2"))
        return err_set(e, PANDA_ERR_OPTION, "disk format '%s': this build reads qcow2 and raw", format);
    if (file && !*file) return err_set(e, PANDA_ERR_OPTION, "a drive needs a file name");
    char *copy = file ? str_dup(file) : NULL;
    if (file && !copy) return err_nomem(e, "a drive's file name");
    c->drive[index].file = copy;
    c->drive[index].cdrom = cdrom;
    snprintf(c->drive[index].format, sizeof(c->drive[index].format), "%s", format);
    return PANDA_OK;
}

/* -cdrom FILE: a CD-ROM drive as the secondary master (QEMU's index 2) */
static panda_err opt_cdrom(panda_config *c, panda_errbuf *e, const char *opt, const char *arg)
{
    (void)opt;
    return set_drive(c, e, 2, arg, "raw", true);
}

/* -hda FILE .. -hdd FILE: IDE drives 0-3 (primary master to secondary slave) */
static panda_err opt_hdx(panda_config *c, panda_errbuf *e, const char *opt, const char *arg)
{
    return set_drive(c, e, (unsigned)(opt[3] - 'a'), arg, "auto", false);
}

/* -drive file=PATH[,if=ide][,format=qcow2|raw][,index=N][,media=disk|cdrom],
 * or size=SIZE instead of file: a drive with no image, for replaying a
 * recording whose disk is gone (its reads are in the recording); a CD-ROM
 * drive without file= is empty */
static panda_err opt_drive(panda_config *c, panda_errbuf *e, const char *opt, const char *arg)
{
    (void)opt;
    char buf[4096];
    if (snprintf(buf, sizeof(buf), "%s", arg) >= (int)sizeof(buf))
        return err_set(e, PANDA_ERR_OPTION, "-drive: the option is too long");
    const char *file = NULL, *format = "auto";
    uint64_t size = 0;
    long index = -1;
    bool cdrom = false;
    for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) return err_set(e, PANDA_ERR_OPTION, "-drive: '%s' is not KEY=VALUE", kv);
        *eq = 0;
        const char *v = eq + 1;
        if (!strcmp(kv, "file")) file = v;
        else if (!strcmp(kv, "size")) {
            if (!(size = parse_size(v)) || size % 512)
                return err_set(e, PANDA_ERR_OPTION, "-drive size=%s: a size in whole 512-byte sectors "
                               "(e.g. 1G; MiB without a suffix)", v);
        }
        else if (!strcmp(kv, "format")) format = v;
        else if (!strcmp(kv, "if")) {
            if (strcmp(v, "ide"))
                return err_set(e, PANDA_ERR_OPTION, "-drive if=%s: this machine has IDE drives only", v);
        } else if (!strcmp(kv, "media")) {
            if (strcmp(v, "disk") && strcmp(v, "cdrom"))
                return err_set(e, PANDA_ERR_OPTION, "-drive media=%s: media is disk or cdrom", v);
            cdrom = !strcmp(v, "cdrom");
        } else if (!strcmp(kv, "index")) {
            char *end;
            index = strtol(v, &end, 10);
            if (*end || index < 0) return err_set(e, PANDA_ERR_OPTION, "-drive index=%s: not a drive number", v);
        } else if (!strcmp(kv, "snapshot") || !strcmp(kv, "cache") || !strcmp(kv, "id")) {
            /* accepted: writes always go to an overlay (see -snapshot) */
        } else {
            return err_set(e, PANDA_ERR_OPTION, "-drive: unknown key '%s' (file, format, if, index, media)", kv);
        }
    }
    if (cdrom && size)
        return err_set(e, PANDA_ERR_OPTION, "-drive media=cdrom takes no size= (a replay takes the disc's size "
                       "from its recording)");
    if (!cdrom && !file == !size)
        return err_set(e, PANDA_ERR_OPTION, "-drive needs file=PATH or (to replay without the disk) size=SIZE");
    if (index < 0)
        for (index = 0; index < PANDA_MAX_DRIVES && drive_taken(&c->drive[index]); index++) {}
    if (size) {
        if (index >= PANDA_MAX_DRIVES || drive_taken(&c->drive[index]))
            return err_set(e, PANDA_ERR_OPTION, "-drive size=: no free IDE drive at index %ld", index);
        c->drive[index].size = size;
        return PANDA_OK;
    }
    if (index >= PANDA_MAX_DRIVES)
        return err_set(e, PANDA_ERR_OPTION, "-drive: no free IDE drive (there are %d)", PANDA_MAX_DRIVES);
    return set_drive(c, e, (unsigned)index, file, format, cdrom);
}

static panda_err opt_cpu(panda_config *c, panda_errbuf *e, const char *opt, const char *arg)
{
    (void)opt;
    c->cpu = arch_cpu_model(arg);
    if (c->cpu) return PANDA_OK;
    char names[256] = "";
    for (uint32_t i = 0; i < panda_arch.ncpu_models; i++)
        snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i ? ", " : "",
                 panda_arch.cpu_models[i].name);
    return err_set(e, PANDA_ERR_OPTION, "unknown CPU model '%s' (available: %s)", arg, names);
}

/* -boot order=DRIVES, or QEMU's old form -boot DRIVES: c the first disk,
 * d the CD-ROM; at most three (what NVRAM holds). */
static panda_err opt_boot(panda_config *c, panda_errbuf *e, const char *opt, const char *arg)
{
    (void)opt;
    const char *order = strncmp(arg, "order=", 6) ? arg : arg + 6;
    size_t n = strlen(order);
    if (n == 0 || n > 3 || strspn(order, "cd") != n)
        return err_set(e, PANDA_ERR_OPTION,
            "-boot %s: give order=DRIVES with c (the first disk) and d (the CD-ROM), e.g. order=dc; "
            "this machine has no floppy (a) or network boot (n)", arg);
    snprintf(c->boot_order, sizeof(c->boot_order), "%s", order);
    return PANDA_OK;
}

static panda_err opt_rtc(panda_config *c, panda_errbuf *e, const char *opt, const char *arg)
{
    (void)opt;
    int64_t t = strncmp(arg, "base=", 5) ? -1 : parse_utc(arg + 5);
    if (t < 0)
        return err_set(e, PANDA_ERR_OPTION,
            "bad -rtc '%s': use base=YYYY-MM-DDTHH:MM:SS (UTC); the clock then follows virtual time", arg);
    c->rtc_base = t;
    return PANDA_OK;
}

static panda_err opt_serial(panda_config *c, panda_errbuf *e, const char *opt, const char *arg)
{
    (void)opt;
    if (!strcmp(arg, "stdio")) c->serial_stdio = true;
    else if (!strcmp(arg, "none") || !strcmp(arg, "null")) c->serial_stdio = false;
    else
        return err_set(e, PANDA_ERR_OPTION,
            "-serial takes stdio or none here, not '%s' (the console is also read through the API)", arg);
    return PANDA_OK;
}

/* -no-reboot, -nodefaults */
static panda_err opt_flag(panda_config *c, panda_errbuf *e, const char *opt, const char *arg)
{
    (void)e;
    (void)arg;
    *(!strcmp(opt, "-nodefaults") ? &c->nodefaults : &c->no_reboot) = true;
    return PANDA_OK;
}

static panda_err opt_nothing(panda_config *c, panda_errbuf *e, const char *opt, const char *arg)
{
    (void)c;
    (void)e;
    (void)opt;
    (void)arg;
    return PANDA_OK; /* no display exists: nothing to turn off */
}

static panda_err opt_display(panda_config *c, panda_errbuf *e, const char *opt, const char *arg)
{
    (void)c;
    (void)opt;
    if (strcmp(arg, "none"))
        return err_set(e, PANDA_ERR_OPTION, "-display takes only 'none': pypanda has no display");
    return PANDA_OK;
}

static const panda_option options[] = {
    {"-m", NULL, "SIZE", "guest RAM, e.g. 128M (MiB without a suffix)", false, opt_m},
    {"-M", "-machine", "NAME", "the machine: pc or configurable", false, opt_machine},
    {"-kernel", NULL, "FILE", "a Linux bzImage to boot directly", true, opt_file},
    {"-initrd", NULL, "FILE", "its initial ramdisk", true, opt_file},
    {"-append", NULL, "CMDLINE", "its command line", true, opt_file},
    {"-bios", NULL, "FILE", "the BIOS ROM to boot (without -kernel), e.g. SeaBIOS's bios-256k.bin", true,
     opt_file},
    {"-boot", NULL, "order=DRIVES", "the BIOS's boot order: c disk, d CD-ROM (default cd)", true, opt_boot},
    {"-cpu", NULL, "MODEL", "the CPU model, e.g. qemu32", false, opt_cpu},
    {"-rtc", NULL, "base=TIME", "the RTC's time at virtual time 0 (UTC)", false, opt_rtc},
    {"-serial", NULL, "stdio|none", "also echo COM1's output to stdout", false, opt_serial},
    {"-hda", NULL, "FILE", "the primary IDE master disk (qcow2 or raw; never written)", true, opt_hdx},
    {"-hdb", NULL, "FILE", "the primary IDE slave disk", true, opt_hdx},
    {"-hdc", NULL, "FILE", "the secondary IDE master disk", true, opt_hdx},
    {"-hdd", NULL, "FILE", "the secondary IDE slave disk", true, opt_hdx},
    {"-drive", NULL, "file=PATH,if=ide,format=qcow2|raw,media=disk|cdrom", "a disk or CD-ROM drive, as QEMU's -drive",
     true, opt_drive},
    {"-cdrom", NULL, "FILE", "a CD-ROM drive holding FILE (a raw image, e.g. an .iso) as IDE drive 2", true,
     opt_cdrom},
    {"-nodefaults", NULL, NULL, "no default devices (without it an empty CD-ROM drive is IDE drive 2, as QEMU's)",
     false, opt_flag},
    {"-snapshot", NULL, NULL, "accepted: guest writes always go to an overlay, never the image", false,
     opt_nothing},
    {"-no-reboot", NULL, NULL, "a guest reset ends the run (without it a firmware boot reboots through the BIOS)",
     false, opt_flag},
    {"-nographic", NULL, NULL, "accepted: there is no display", false, opt_nothing},
    {"-display", NULL, "none", "accepted: there is no display", false, opt_display},
};
#define NOPTIONS (sizeof(options) / sizeof(options[0]))

static const panda_option *find(const char *name)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (!strcmp(options[i].name, name) || (options[i].alias && !strcmp(options[i].alias, name)))
            return &options[i];
    return NULL;
}

PANDA_EXPORT size_t panda_options_help(char *buf, size_t len)
{
    size_t n = 0;
    char line[160];
    for (size_t i = 0; i < NOPTIONS; i++) {
        const panda_option *o = &options[i];
        int w = snprintf(line, sizeof(line), "%s%s%s  %s%s\n", o->name, o->arg ? " " : "",
                         o->arg ? o->arg : "", o->help, o->kernel_option ? " (-M pc)" : "");
        if (w < 0) continue;
        if (buf && n + (size_t)w < len) memcpy(buf + n, line, (size_t)w + 1);
        n += (size_t)w;
    }
    if (buf && len && n >= len) buf[len - 1] = 0;
    return n;
}

panda_err options_parse(panda_config *c, panda_errbuf *e, int argc, const char *const *argv)
{
    bool kernel_given = false;
    const char *kernel_opt = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!a) return err_set(e, PANDA_ERR_ARG, "option %d is NULL", i);
        if (!strcmp(a, "-help") || !strcmp(a, "-h") || !strcmp(a, "--help")) {
            int n = snprintf(e->msg, sizeof(e->msg), "help: the options are\n");
            if (n > 0 && (size_t)n < sizeof(e->msg))
                panda_options_help(e->msg + n, sizeof(e->msg) - (size_t)n);
            return PANDA_ERR_OPTION;
        }
        const panda_option *o = find(a);
        if (!o) {
            char names[256] = "";
            for (size_t k = 0; k < NOPTIONS; k++)
                snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", k ? ", " : "",
                         options[k].name);
            return err_set(e, PANDA_ERR_OPTION, "unknown option '%s' (this build understands %s; -help lists them)",
                           a, names);
        }
        const char *arg = NULL;
        if (o->arg) {
            if (i + 1 >= argc || !argv[i + 1])
                return err_set(e, PANDA_ERR_OPTION, "%s needs %s", a, o->arg);
            arg = argv[++i];
        }
        if (o->kernel_option) {
            kernel_given = true;
            kernel_opt = o->name;
        }
        panda_err err = o->apply(c, e, o->name, arg);
        if (err) return err;
    }
    const panda_machine_ops *m = panda_machine_find(c->machine);
    if (!m) return err_set(e, PANDA_ERR_OPTION, "unknown machine '%s'", c->machine);
    if (kernel_given && !m->takes_kernel)
        return err_set(e, PANDA_ERR_OPTION, "%s needs -M pc: the %s machine boots no kernel and has no "
                       "disks", kernel_opt, m->name);
    return PANDA_OK;
}

void options_free(panda_config *c)
{
    for (int i = 0; i < PANDA_MAX_DRIVES; i++) {
        free(c->drive[i].file);
        c->drive[i].file = NULL;
        c->drive[i].cdrom = false;
    }
    free(c->kernel);
    free(c->initrd);
    free(c->append);
    free(c->bios);
    c->kernel = c->initrd = c->append = c->bios = NULL;
}
