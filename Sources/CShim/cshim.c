#define _GNU_SOURCE
#include "cshim.h"

#include <errno.h>
#include <fcntl.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

ssize_t cshim_send_fd(int sock, int fd, const void *data, size_t len) {
    struct msghdr msg;
    struct iovec iov;
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    memset(&msg, 0, sizeof msg);
    memset(&control, 0, sizeof control);
    iov.iov_base = (void *)data;
    iov.iov_len = len;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (fd >= 0) {
        msg.msg_control = control.buf;
        msg.msg_controllen = sizeof control.buf;
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
    }
    ssize_t n;
    do {
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
}

ssize_t cshim_recv_fd(int sock, int *fd, void *buf, size_t cap, int *truncated) {
    struct msghdr msg;
    struct iovec iov;
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * 4)];
    } control;
    memset(&msg, 0, sizeof msg);
    iov.iov_base = buf;
    iov.iov_len = cap;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    *fd = -1;
    *truncated = 0;
    ssize_t n;
    do {
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return n;
    if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) *truncated = 1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int got;
            memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (*fd < 0) {
                *fd = got;
            } else {
                close(got); /* only one descriptor per message is expected */
                *truncated = 1;
            }
        }
    }
    return n;
}

int cshim_accept(int listen_fd) {
    int fd;
    do {
        fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

int cshim_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }
int cshim_epoll_op_add(void) { return EPOLL_CTL_ADD; }
int cshim_epoll_op_mod(void) { return EPOLL_CTL_MOD; }
int cshim_epoll_op_del(void) { return EPOLL_CTL_DEL; }

int cshim_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = token;
    return epoll_ctl(epfd, op, fd, &ev);
}

int cshim_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int max, int timeout_ms) {
    struct epoll_event evs[128];
    if (max > 128) max = 128;
    int n = epoll_wait(epfd, evs, max, timeout_ms);
    if (n < 0) return (errno == EINTR) ? 0 : -1;
    for (int i = 0; i < n; i++) {
        tokens[i] = evs[i].data.u64;
        events[i] = evs[i].events;
    }
    return n;
}

int cshim_signalfd_for_supervisor(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int cshim_signalfd_read(int sfd) {
    struct signalfd_siginfo info;
    ssize_t n = read(sfd, &info, sizeof info);
    if (n == (ssize_t)sizeof info) return (int)info.ssi_signo;
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    return n < 0 ? -1 : 0;
}

int cshim_spawn_with_channel(const char *path, char *const argv[], char *const envp[], int channel_fd, pid_t *pid) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) return rc;
    rc = posix_spawnattr_init(&attr);
    if (rc != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return rc;
    }
    /* dup2(x, x) would keep close-on-exec set, so route through a spare number first. */
    int src = channel_fd;
    int spare = -1;
    if (src == 3) {
        spare = fcntl(src, F_DUPFD_CLOEXEC, 10);
        if (spare < 0) rc = errno;
        src = spare;
    }
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, src, 3);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    /* Nothing but the channel reaches the worker, even a descriptor someone forgot to mark
     * close-on-exec (or one inherited from whoever started the supervisor). */
    if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, 4);
#endif
    sigset_t empty, defaults;
    sigemptyset(&empty);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGCHLD);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGHUP);
    sigaddset(&defaults, SIGPIPE);
    if (rc == 0) rc = posix_spawnattr_setsigmask(&attr, &empty);
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr, &defaults);
    /* Its own process group: a terminal's Ctrl-C reaches only the supervisor, which then stops
     * the workers cleanly. */
    if (rc == 0) rc = posix_spawnattr_setpgroup(&attr, 0);
    if (rc == 0) rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    if (rc == 0) rc = posix_spawn(pid, path, &actions, &attr, argv, envp);
    if (spare >= 0) close(spare);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    return rc;
}

int cshim_set_nonblocking(int fd, int on) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, flags);
}

int cshim_errno(void) { return errno; }

int cshim_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

int cshim_release_free_heap(size_t min_free) {
#if defined(__GLIBC__)
    struct mallinfo2 info = mallinfo2();
    if (info.fordblks < min_free) return 0;
    return malloc_trim(0);
#else
    (void)min_free;
    return 0;
#endif
}

void cshim_limit_arenas(int max_arenas) {
#if defined(__GLIBC__)
    mallopt(M_ARENA_MAX, max_arenas);
#else
    (void)max_arenas;
#endif
}

/* ---- Worker sandbox: no_new_privs, Landlock, seccomp, resource limits ----
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
    SYS_faccessat2, SYS_fcntl, SYS_flock, SYS_fsync, SYS_fdatasync, SYS_ftruncate, SYS_fallocate,
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
    static const int own_pid_first[] = { SYS_kill, SYS_tgkill };
    for (size_t i = 0; i < sizeof own_pid_first / sizeof own_pid_first[0]; i++) {
        JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)own_pid_first[i], 0, 4);
        STMT(BPF_LD | BPF_W | BPF_ABS, CSHIM_ARG_LO(0));
        JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)self_pid, 0, 1);
        STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
        STMT(BPF_RET | BPF_K, eperm);
    }
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
    JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ioctl, 0, 4);
    STMT(BPF_LD | BPF_W | BPF_ABS, CSHIM_ARG_LO(1));
    JUMP(BPF_JMP | BPF_JEQ | BPF_K, TCGETS, 0, 1);
    STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOTTY & SECCOMP_RET_DATA));
    STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
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

int cshim_open_nofollow(const char *path) { return open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC); }
