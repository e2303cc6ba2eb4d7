package tarball

import "runtime"

func defaultConcurrency() int { return max(2, runtime.GOMAXPROCS(0)) }
