/*
 * pypanda public ABI: the types every callback receives.
 *
 * Guest addresses are 64-bit in this ABI whatever the guest's word size
 * (target_ulong / target_ptr_t are uint64_t): one set of prototypes serves
 * every libpanda_<arch>.so, and a caller that declares a narrower integer
 * still reads the right low bits on the x86-64 and AArch64 host ABIs.
 */
#ifndef PANDA_TYPES_H
#define PANDA_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define PANDA_EXPORT __declspec(dllexport)
#else
#define PANDA_EXPORT __attribute__((visibility("default")))
#endif

typedef uint64_t target_ulong;
typedef uint64_t target_ptr_t;
typedef uint64_t hwaddr;

/* One emulator instance.  Several may live in one process. */
typedef struct panda panda_t;

/* Types that callbacks mention but that have no public layout. */
typedef struct Monitor Monitor;
typedef struct MachineState MachineState;

/*
 * The CPU a callback runs on.  Valid for the instance's lifetime; its
 * fields are read-only for callers.  Registers are read and written
 * through panda_reg_read/panda_reg_write, which act on the live CPU (no
 * copy): a write made in a callback is what the guest sees next.
 */
typedef struct CPUState {
    uint32_t struct_size;  /* sizeof(CPUState) of the library: ABI check */
    uint32_t cpu_index;    /* 0 for the first CPU */
    panda_t *panda;        /* the instance this CPU belongs to */
    void *env_ptr;         /* the engine's architectural state (opaque) */
    uint64_t reserved[4];
} CPUState;

/*
 * A translated block of guest code.  Valid during the callback that
 * received it; copy the fields to keep them.
 */
typedef struct TranslationBlock {
    target_ulong pc;       /* guest virtual address of the first instruction */
    target_ulong cs_base;  /* x86: code segment base (pc already includes it) */
    uint32_t flags;        /* engine translation flags */
    uint32_t size;         /* bytes of guest code */
    uint32_t icount;       /* guest instructions in the block */
    uint32_t reserved;
    const void *engine_tb; /* identity of the engine's block while it is cached */
} TranslationBlock;

/* Status codes; 0 is success.  panda_strerror() names each. */
typedef enum panda_err {
    PANDA_OK = 0,
    PANDA_ERR_ARG,            /* a NULL or out-of-range argument */
    PANDA_ERR_NOMEM,
    PANDA_ERR_OPTION,         /* unknown or malformed command-line option */
    PANDA_ERR_ARCH,           /* the library was built for another guest architecture */
    PANDA_ERR_UNSUPPORTED,    /* a feature this build does not have yet */
    PANDA_ERR_STATE,          /* not allowed now (e.g. while running) */
    PANDA_ERR_UNMAPPED,       /* a host access to guest memory that is not mapped */
    PANDA_ERR_MAP,            /* a mapping overlaps, is misaligned or empty */
    PANDA_ERR_REGISTER,       /* unknown register */
    PANDA_ERR_CALLBACK,       /* unknown callback type, or no such registration */
    PANDA_ERR_GUEST_INSN,     /* the guest executed an invalid instruction */
    PANDA_ERR_GUEST_MEMORY,   /* the guest accessed unmapped or protected memory */
    PANDA_ERR_GUEST_EXCEPTION,/* the guest raised a CPU exception nothing handles */
    PANDA_ERR_ENGINE,         /* any other error from the CPU engine */
    PANDA_ERR_SNAPSHOT,       /* a snapshot is missing, corrupt or does not fit */
    PANDA_ERR_RECORDING,      /* a recording is missing, incomplete, corrupt or of another guest */
    PANDA_ERR_DIVERGED,       /* a replay left the path of its recording */
    PANDA_ERR_IO,             /* a file could not be read or written */
    PANDA_ERR_COUNT
} panda_err;

#ifdef __cplusplus
}
#endif

#endif
