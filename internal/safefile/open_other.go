//go:build !unix

package safefile

import (
	"io/fs"
	"os"
)

// openFile opens path. Without Unix FIFOs there is nothing to block on;
// a symbolic link is refused by looking before opening (the window this
// leaves needs the privilege to create links).
func openFile(path string, noFollow bool) (*os.File, error) {
	if noFollow {
		if st, err := os.Lstat(path); err == nil && st.Mode()&fs.ModeSymlink != 0 {
			return nil, &NotRegularError{Path: path, Kind: "symbolic link"}
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if err := Regular(f, path); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func setBlocking(*os.File) error { return nil }
