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
/// descriptor 3, a clean signal mask and default dispositions.
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

#endif
