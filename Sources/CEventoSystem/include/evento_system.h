#ifndef EVENTO_SYSTEM_H
#define EVENTO_SYSTEM_H
#include <sys/types.h>

/// Linux calls Swift cannot reach without _GNU_SOURCE, wrapped once.

/// pipe2(fds, O_CLOEXEC). Returns 0 or -1 with errno set.
int evento_pipe_cloexec(int fds[2]);

/// fcntl(fd, F_SETPIPE_SZ, size). Returns the new size or -1.
int evento_set_pipe_size(int fd, int size);

/// Sets O_NONBLOCK on fd. Returns 0 or -1 with errno set.
int evento_set_nonblocking(int fd);

/// eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK): a descriptor another thread writes to wake a poll(). Returns the
/// fd or -1 with errno set.
int evento_eventfd(void);

/// Blocks SIGPIPE in the calling thread, so that a write to a pipe whose reader is gone fails with EPIPE
/// instead of ending the process. Returns 0 or an errno value.
int evento_block_sigpipe(void);

/// Whether child pid has exited, without reaping it (waitid with WNOWAIT): 1 exited, 0 not yet (only
/// when block is 0), -1 with errno set (ECHILD: not a child, or already reaped).
int evento_child_exited(pid_t pid, int block);

/// posix_spawnp with the child's stdin/stdout/stderr taken from the given fds and an optional working
/// directory. Returns 0 or an errno value (ENOENT when the program is not found).
int evento_spawn(pid_t *pid, const char *file, char *const argv[], char *const envp[], int in_fd, int out_fd,
                 int err_fd, const char *cwd);
/// An anonymous temporary file in dir (O_TMPFILE, else a file unlinked at once), close-on-exec. Returns
/// the fd or -1 with errno set.
int evento_tmpfile_cloexec(const char *dir);
#endif
