#ifndef EVENTO_SYSTEM_H
#define EVENTO_SYSTEM_H
#include <sys/types.h>

/// Linux calls Swift cannot reach without _GNU_SOURCE, wrapped once.

/// pipe2(fds, O_CLOEXEC). Returns 0 or -1 with errno set.
int evento_pipe_cloexec(int fds[2]);

/// fcntl(fd, F_SETPIPE_SZ, size). Returns the new size or -1.
int evento_set_pipe_size(int fd, int size);

/// posix_spawnp with the child's stdin/stdout/stderr taken from the given fds and an optional working
/// directory. Returns 0 or an errno value (ENOENT when the program is not found).
int evento_spawn(pid_t *pid, const char *file, char *const argv[], char *const envp[], int in_fd, int out_fd,
                 int err_fd, const char *cwd);
/// An anonymous temporary file in dir (O_TMPFILE, else a file unlinked at once), close-on-exec. Returns
/// the fd or -1 with errno set.
int evento_tmpfile_cloexec(const char *dir);
#endif
