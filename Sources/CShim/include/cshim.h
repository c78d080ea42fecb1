// The few system calls whose C macros or GNU extensions Swift cannot reach:
// SCM_RIGHTS ancillary data (CMSG_*), accept4, epoll's packed event struct,
// signalfd and posix_spawn with an inherited channel descriptor.
#ifndef CSHIM_H
#define CSHIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

/// Sends `len` bytes (len >= 1) plus, if fd >= 0, one descriptor as SCM_RIGHTS in a single
/// sendmsg. Returns bytes sent or -1 with errno set. Never raises SIGPIPE.
ssize_t cshim_send_fd(int sock, int fd, const void *data, size_t len);

/// Receives one message into buf. *fd is set to the passed descriptor (close-on-exec) or -1.
/// Extra descriptors are closed. *truncated is 1 if data or control data was cut.
/// Returns bytes received (0 = peer closed) or -1 with errno set.
ssize_t cshim_recv_fd(int sock, int *fd, void *buf, size_t cap, int *truncated);

/// accept4 with SOCK_CLOEXEC | SOCK_NONBLOCK.
int cshim_accept(int listen_fd);
/* accept4 (non-blocking, close-on-exec) that also returns the peer's address. */
int cshim_accept_peer(int listen_fd, struct sockaddr *address, socklen_t *length);
/* Raises RLIMIT_NOFILE's soft limit to its hard limit (at most `ceiling`); returns the soft limit now in force. */
long cshim_raise_nofile(long ceiling);

/// epoll helpers: events are EPOLLIN=1, EPOLLOUT=4, EPOLLERR=8, EPOLLHUP=16, EPOLLRDHUP=0x2000.
int cshim_epoll_create(void);
int cshim_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token);
/// Waits; fills tokens[i]/events[i]; returns count, or -1 with errno.
int cshim_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int max, int timeout_ms);
int cshim_epoll_op_add(void);
int cshim_epoll_op_mod(void);
int cshim_epoll_op_del(void);

/// Blocks SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGPIPE... (all given) in the calling thread and
/// returns a non-blocking, close-on-exec signalfd for them (SIGPIPE is ignored instead).
int cshim_signalfd_for_supervisor(void);
/// Reads one pending signal from the signalfd: returns its number, 0 if none, -1 on error.
int cshim_signalfd_read(int sfd);

/// posix_spawn `path` with argv and envp (both NULL terminated), `channel_fd` duplicated to
/// descriptor 3 (and no other descriptor inherited), a clean signal mask and default
/// dispositions, in a process group of its own.
/// Returns 0 and sets *pid, or an errno value.
int cshim_spawn_with_channel(const char *path, char *const argv[], char *const envp[], int channel_fd, pid_t *pid);

/// Sets or clears O_NONBLOCK. Returns 0 or -1.
int cshim_set_nonblocking(int fd, int on);

/// A non-blocking, close-on-exec eventfd (wake-ups between threads and the epoll loop).
int cshim_eventfd(void);

/// Returns free heap pages to the kernel (glibc malloc_trim) when at least `min_free` bytes are
/// free in the heap, so that the common case (little free) costs no page faults later.
/// Returns 1 if it trimmed. A no-op elsewhere.
int cshim_release_free_heap(size_t min_free);

/// Limits glibc malloc to `max_arenas` arenas (a no-op elsewhere). With one arena, malloc_trim
/// can also shrink the heap's top, which it never does for the extra arenas of other threads.
void cshim_limit_arenas(int max_arenas);

/// errno as an int (Swift can read errno, but this keeps call sites uniform).
int cshim_errno(void);

// ---- Extended attributes (the media checksum cache) ----
// glibc's <sys/xattr.h> is not in Swift's Glibc module; these forward to it directly.

/// fgetxattr: returns the value's length, or -1 with errno set (ENODATA, ENOTSUP, ERANGE...).
ssize_t cshim_fgetxattr(int fd, const char *name, void *value, size_t size);
/// fsetxattr with flags 0 (create or replace). Returns 0 or -1 with errno set.
int cshim_fsetxattr(int fd, const char *name, const void *value, size_t size);
/// syncfs: writes out everything dirty on the file system that holds `fd` and waits for it.
/// Returns 0 or -1 with errno set (write-back errors included, Linux 5.8 and later).
int cshim_syncfs(int fd);

/* ---- Worker sandbox: no_new_privs, Landlock, seccomp, resource limits (sandbox.c) ---- */

/// The Landlock ABI version the kernel offers: >= 1, or 0 when Landlock is missing or disabled.
int cshim_landlock_abi(void);

/// Restricts the calling thread (and threads it creates later) with Landlock at `abi` (>= 1):
/// read/write beneath each of `folders` and no other file-system access; with ABI >= 4 no TCP
/// bind or connect; with ABI >= 6 no signals or abstract unix sockets outside the domain.
/// Returns 0, or an errno value (*step names the failing step).
int cshim_landlock_restrict(const char *const *folders, int count, int abi, const char **step);

/// Sets PR_SET_NO_NEW_PRIVS. Returns 0 or an errno value.
int cshim_set_no_new_privs(void);

/// 1 if PR_GET_NO_NEW_PRIVS says it is set for the calling thread.
int cshim_no_new_privs(void);

/// 1 if the kernel supports seccomp filters that kill the process (SECCOMP_RET_KILL_PROCESS).
int cshim_seccomp_available(void);

/// Installs the worker's seccomp allow-list on every thread of the process (TSYNC). Signals may
/// go only to `self_pid`; anything not listed kills the process (SIGSYS), or, with `log_only`,
/// is allowed and logged by the kernel (used to find the syscalls the worker needs).
/// Returns 0 or an errno value.
int cshim_seccomp_install(pid_t self_pid, int log_only);

/// Sets both soft and hard limits of RLIMIT_NOFILE, RLIMIT_FSIZE and RLIMIT_CORE (never raising
/// a hard limit). Returns 0 or an errno value.
int cshim_set_worker_rlimits(uint64_t max_files, uint64_t max_file_bytes);

/// The signal number that a seccomp violation kills with (SIGSYS).
int cshim_sigsys(void);

#endif
