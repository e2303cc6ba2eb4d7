package safefile

import "golang.org/x/sys/unix"

// openBeneath opens rel below dirfd for reading, non-blocking, in one
// openat2(2) call that refuses every symbolic link and any escape from
// dirfd (Linux 5.6 and later).
func openBeneath(dirfd int, rel string) (int, error) {
	for {
		fd, err := unix.Openat2(dirfd, rel, &unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NONBLOCK,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
		})
		if err != unix.EINTR && err != unix.EAGAIN {
			return fd, err
		}
	}
}
