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

/*
 * Status codes, once, in value order (PANDA_OK = 0, then 1, 2, ...):
 *   X(ENUMERATOR, "message", PythonException)
 * panda_err (PANDA_<ENUMERATOR>), panda_strerror()'s messages and pypanda's
 * table (scripts/gen_abi.py -> pypanda/_abi.py) are made from this list;
 * the third column names the pypanda.errors class that pypanda raises for
 * the code (None: success raises nothing).  Values are ABI: append new
 * codes at the end.
 */
#define PANDA_ERRORS(X) \
    X(OK, "success", None) \
    /* a NULL or out-of-range argument */ \
    X(ERR_ARG, "invalid argument", ArgumentError) \
    X(ERR_NOMEM, "out of memory", PandaMemoryError) \
    /* unknown or malformed command-line option */ \
    X(ERR_OPTION, "invalid option", OptionError) \
    /* the library was built for another guest architecture */ \
    X(ERR_ARCH, "wrong guest architecture", ArchError) \
    /* a feature this build does not have yet */ \
    X(ERR_UNSUPPORTED, "not supported by this build", UnsupportedError) \
    /* not allowed now (e.g. while running) */ \
    X(ERR_STATE, "not allowed in the current state", StateError) \
    /* a host access to guest memory that is not mapped */ \
    X(ERR_UNMAPPED, "guest memory not mapped", MemoryAccessError) \
    /* a mapping overlaps, is misaligned or empty */ \
    X(ERR_MAP, "invalid memory mapping", MappingError) \
    /* unknown register */ \
    X(ERR_REGISTER, "unknown register", RegisterError) \
    /* unknown callback type, or no such registration */ \
    X(ERR_CALLBACK, "invalid callback", CallbackError) \
    /* the guest executed an invalid instruction */ \
    X(ERR_GUEST_INSN, "guest executed an invalid instruction", InvalidInstructionError) \
    /* the guest accessed unmapped or protected memory */ \
    X(ERR_GUEST_MEMORY, "guest accessed unmapped or protected memory", GuestMemoryError) \
    /* the guest raised a CPU exception nothing handles */ \
    X(ERR_GUEST_EXCEPTION, "unhandled guest CPU exception", GuestExceptionError) \
    /* any other error from the CPU engine */ \
    X(ERR_ENGINE, "CPU engine error", EngineError) \
    /* a snapshot is missing, corrupt or does not fit */ \
    X(ERR_SNAPSHOT, "bad snapshot", SnapshotError) \
    /* a recording is missing, incomplete, corrupt or of another guest */ \
    X(ERR_RECORDING, "bad recording", RecordingError) \
    /* a replay left the path of its recording */ \
    X(ERR_DIVERGED, "replay diverged", ReplayDivergedError) \
    /* a file could not be read or written */ \
    X(ERR_IO, "file error", PandaIOError) \
    /* the guest's firmware found nothing to boot */ \
    X(ERR_GUEST_BOOT, "the guest could not boot", GuestBootError)

#define PANDA_ERR_ENUMERATOR(ENUMERATOR, message, exception) PANDA_##ENUMERATOR,
typedef enum panda_err {
    PANDA_ERRORS(PANDA_ERR_ENUMERATOR)
    PANDA_ERR_COUNT
} panda_err;
#undef PANDA_ERR_ENUMERATOR

#ifdef __cplusplus
}
#endif

#endif
