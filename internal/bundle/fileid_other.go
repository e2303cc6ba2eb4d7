//go:build !unix

package bundle

import "io/fs"

type fileID struct{}

func idOf(fs.FileInfo) (fileID, bool) { return fileID{}, false }

func linkCount(fs.FileInfo) uint64 { return 1 }
