#define _GNU_SOURCE
#include "cshim.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* ---- Worker sandbox: no_new_privs, Landlock, seccomp, resource limits (declared in cshim.h) ----
 * Built from the kernel's own headers. The system headers may predate the running kernel, so
 * the Landlock constants and attribute layout of later ABIs are spelled out here (their values
 * are part of the kernel's stable user-space ABI). */

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#define CSHIM_LL_NET_BIND_TCP (1ULL << 0)
#define CSHIM_LL_NET_CONNECT_TCP (1ULL << 1)
#define CSHIM_LL_SCOPE_ABSTRACT_UNIX (1ULL << 0)
#define CSHIM_LL_SCOPE_SIGNAL (1ULL << 1)

/* The ruleset attribute as of ABI 6; the kernel accepts the shorter prefix of older ABIs. */
struct cshim_landlock_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

int cshim_landlock_abi(void) {
#ifdef SYS_landlock_create_ruleset
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return abi < 0 ? 0 : (int)abi;
#else
    return 0;
#endif
}

int cshim_landlock_restrict(const char *const *folders, int count, int abi, const char **step) {
#ifdef SYS_landlock_create_ruleset
    uint64_t fs = (1ULL << 13) - 1; /* ABI 1: EXECUTE .. MAKE_SYM */
    if (abi >= 2) fs |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3) fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if (abi >= 5) fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    struct cshim_landlock_ruleset_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.handled_access_fs = fs;
    size_t size = offsetof(struct cshim_landlock_ruleset_attr, handled_access_net);
    if (abi >= 4) {
        attr.handled_access_net = CSHIM_LL_NET_BIND_TCP | CSHIM_LL_NET_CONNECT_TCP;
        size = offsetof(struct cshim_landlock_ruleset_attr, scoped);
    }
    if (abi >= 6) {
        attr.scoped = CSHIM_LL_SCOPE_ABSTRACT_UNIX | CSHIM_LL_SCOPE_SIGNAL;
        size = sizeof attr;
    }
    *step = "landlock_create_ruleset";
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (ruleset < 0) return errno;
    /* Beneath each folder: files and folders may be read, written, created, renamed and removed;
     * nothing is executed, and no device, socket, fifo or symlink is made. */
    uint64_t allowed = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_DIR
        | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR
        | LANDLOCK_ACCESS_FS_MAKE_REG;
    if (abi >= 2) allowed |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3) allowed |= LANDLOCK_ACCESS_FS_TRUNCATE;
    int rc = 0;
    for (int i = 0; i < count && rc == 0; i++) {
        *step = "open a folder for its rule";
        int dir = open(folders[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0) {
            rc = errno;
            break;
        }
        struct landlock_path_beneath_attr beneath;
        memset(&beneath, 0, sizeof beneath);
        beneath.allowed_access = allowed;
        beneath.parent_fd = dir;
        *step = "landlock_add_rule";
        if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &beneath, 0) != 0) rc = errno;
        close(dir);
    }
    if (rc == 0) {
        *step = "landlock_restrict_self";
        if (syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) rc = errno;
    }
    close(ruleset);
    return rc;
#else
    (void)folders;
    (void)count;
    (void)abi;
    *step = "landlock";
    return ENOSYS;
#endif
}

int cshim_set_no_new_privs(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? 0 : errno; }

int cshim_no_new_privs(void) { return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1; }

int cshim_seccomp_available(void) {
    uint32_t action = SECCOMP_RET_KILL_PROCESS;
    return syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
}

int cshim_sigsys(void) { return SIGSYS; }

#if defined(__x86_64__)
#define CSHIM_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define CSHIM_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef CSHIM_AUDIT_ARCH
/* Every system call the worker makes once it serves requests (glibc, the Swift runtime, SQLite,
 * zstd, zlib), found by running the whole end-to-end suite with the filter in logging mode.
 * Calls that exist on only some architectures are guarded. Not here on purpose: execve, fork,
 * ptrace, mount, socket, socketpair, bind, connect, listen, accept, unshare, setns, chroot,
 * symlink, mknod, the path-based xattr calls, bpf, perf_event_open, keyctl, reboot, module loading. */
static const int cshim_worker_syscalls[] = {
    SYS_read, SYS_write, SYS_readv, SYS_writev, SYS_pread64, SYS_pwrite64, SYS_preadv, SYS_pwritev,
    SYS_lseek, SYS_close, SYS_openat, SYS_fstat, SYS_newfstatat, SYS_statx, SYS_faccessat,
    SYS_faccessat2, SYS_fcntl, SYS_flock, SYS_fsync, SYS_fdatasync, SYS_syncfs, SYS_ftruncate, SYS_fallocate,
    SYS_renameat, SYS_renameat2, SYS_linkat, SYS_unlinkat, SYS_mkdirat, SYS_getdents64, SYS_getcwd,
    SYS_readlinkat, SYS_fchmod, SYS_fchmodat, SYS_fchown, SYS_fstatfs, SYS_statfs, SYS_fadvise64, SYS_copy_file_range,
    SYS_sendfile, SYS_fgetxattr, SYS_fsetxattr, SYS_flistxattr, SYS_utimensat, SYS_dup, SYS_dup3,
    SYS_mmap, SYS_munmap, SYS_mremap, SYS_mprotect, SYS_madvise, SYS_brk, SYS_membarrier,
    SYS_futex, SYS_set_robust_list, SYS_get_robust_list, SYS_rseq, SYS_set_tid_address, SYS_exit,
    SYS_exit_group, SYS_sched_yield, SYS_sched_getaffinity, SYS_sched_getparam, SYS_sched_getscheduler,
    SYS_rt_sigaction, SYS_rt_sigprocmask, SYS_rt_sigreturn, SYS_sigaltstack, SYS_restart_syscall,
    SYS_getpid, SYS_gettid, SYS_getppid, SYS_getuid, SYS_geteuid, SYS_getgid, SYS_getegid,
    SYS_clock_gettime, SYS_clock_getres, SYS_clock_nanosleep, SYS_nanosleep, SYS_gettimeofday,
    SYS_ppoll, SYS_pselect6, SYS_sendmsg, SYS_recvmsg, SYS_sendto, SYS_recvfrom, SYS_shutdown,
    SYS_setsockopt, SYS_getsockopt, SYS_getsockname, SYS_getpeername, SYS_getrandom, SYS_uname,
    SYS_sysinfo, SYS_prctl,
#ifdef SYS_open
    SYS_open, SYS_stat, SYS_lstat, SYS_access, SYS_rename, SYS_link, SYS_unlink, SYS_mkdir,
    SYS_rmdir, SYS_readlink, SYS_chmod, SYS_poll, SYS_select, SYS_dup2, SYS_time, SYS_arch_prctl,
#endif
#ifdef SYS_close_range
    SYS_close_range,
#endif
#ifdef SYS_landlock_create_ruleset
    /* Only ever narrows access: maintenance threads restrict themselves after the filter is on. */
    SYS_landlock_create_ruleset, SYS_landlock_add_rule, SYS_landlock_restrict_self,
#endif
#ifdef SYS_preadv2
    SYS_preadv2, SYS_pwritev2,
#endif
};

#define CSHIM_NS_FLAGS (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET)
#define CSHIM_ARG_LO(i) (offsetof(struct seccomp_data, args) + (i) * sizeof(uint64_t))
#define CSHIM_ARG_HI(i) (CSHIM_ARG_LO(i) + sizeof(uint32_t))

/* Appends: for system call `nr`, allow if the 32-bit word at `offset` equals `value`, else
 * return `otherwise`. Other calls fall through with the call number still loaded. */
static int cshim_bpf_allow_if_arg(struct sock_filter *f, int n, uint32_t nr, uint32_t offset, uint32_t value, uint32_t otherwise) {
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 4);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offset);
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, value, 0, 1);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, otherwise);
    return n;
}

int cshim_seccomp_install(pid_t self_pid, int log_only) {
    enum { cap = 320 };
    struct sock_filter f[cap];
    int n = 0;
    const uint32_t deny = log_only ? SECCOMP_RET_LOG : SECCOMP_RET_KILL_PROCESS;
    const uint32_t eperm = SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA);
#define STMT(code, k) f[n++] = (struct sock_filter)BPF_STMT((code), (k))
#define JUMP(code, k, jt, jf) f[n++] = (struct sock_filter)BPF_JUMP((code), (k), (jt), (jf))
    /* A call made through another architecture's table would be misread: kill it. */
    STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    JUMP(BPF_JMP | BPF_JEQ | BPF_K, CSHIM_AUDIT_ARCH, 1, 0);
    STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
    JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1); /* x32 calls */
    STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
#endif
    /* Signals only to this process: kill(self, ...) and tgkill(self, ...); refused otherwise. */
    n = cshim_bpf_allow_if_arg(f, n, SYS_kill, CSHIM_ARG_LO(0), (uint32_t)self_pid, eperm);
    n = cshim_bpf_allow_if_arg(f, n, SYS_tgkill, CSHIM_ARG_LO(0), (uint32_t)self_pid, eperm);
    /* Threads, but no new namespaces. clone3 hides its flags in memory, so it reports ENOSYS
     * and glibc falls back to clone, whose flags are checked. */
    JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 4);
    STMT(BPF_LD | BPF_W | BPF_ABS, CSHIM_ARG_LO(0));
    JUMP(BPF_JMP | BPF_JSET | BPF_K, CSHIM_NS_FLAGS, 0, 1);
    STMT(BPF_RET | BPF_K, eperm);
    STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
#ifdef SYS_clone3
    JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1);
    STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA));
#endif
    /* Resource limits may be read, not changed (prlimit64 with a NULL new limit). */
    JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_prlimit64, 0, 6);
    STMT(BPF_LD | BPF_W | BPF_ABS, CSHIM_ARG_LO(2));
    JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 3);
    STMT(BPF_LD | BPF_W | BPF_ABS, CSHIM_ARG_HI(2));
    JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1);
    STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    STMT(BPF_RET | BPF_K, eperm);
    /* ioctl: only the harmless terminal query isatty makes; others fail with ENOTTY. */
    n = cshim_bpf_allow_if_arg(f, n, SYS_ioctl, CSHIM_ARG_LO(1), TCGETS, SECCOMP_RET_ERRNO | (ENOTTY & SECCOMP_RET_DATA));
    /* One comparison per listed call, each jumping over the rest and the final deny to ALLOW. */
    const size_t listed = sizeof cshim_worker_syscalls / sizeof cshim_worker_syscalls[0];
    if (listed > 254 || n + listed + 2 > cap) return E2BIG;
    for (size_t i = 0; i < listed; i++) {
        JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)cshim_worker_syscalls[i], (uint8_t)(listed - i), 0);
    }
    STMT(BPF_RET | BPF_K, deny);
    STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
#undef STMT
#undef JUMP
    struct sock_fprog prog = { .len = (unsigned short)n, .filter = f };
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0) return errno;
    return 0;
}
#else
int cshim_seccomp_install(pid_t self_pid, int log_only) {
    (void)self_pid;
    (void)log_only;
    return ENOSYS;
}
#endif

int cshim_set_worker_rlimits(uint64_t max_files, uint64_t max_file_bytes) {
    struct { int resource; uint64_t value; } wanted[] = {
        { RLIMIT_NOFILE, max_files }, { RLIMIT_FSIZE, max_file_bytes }, { RLIMIT_CORE, 0 },
    };
    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
        struct rlimit now;
        if (getrlimit(wanted[i].resource, &now) != 0) return errno;
        rlim_t value = (rlim_t)wanted[i].value;
        if (now.rlim_max != RLIM_INFINITY && now.rlim_max < value) value = now.rlim_max;
        struct rlimit next = { value, value };
        if (setrlimit(wanted[i].resource, &next) != 0) return errno;
    }
    return 0;
}
