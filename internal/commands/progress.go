package commands

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/stella-ops/stella-export/internal/bundle"
	"golang.org/x/term"
)

// barProgress shows a progress bar on stderr; it implements
// bundle.Progress. It is only created when stderr is a terminal and neither
// --quiet nor --json is set.
type barProgress struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func newProgress(e *env) *barProgress {
	if e.global.quiet || e.global.json {
		return nil
	}
	f, ok := e.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return &barProgress{w: f}
}

func (p *barProgress) Phase(name string, total int64) {
	p.finish()
	p.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(name),
		progressbar.OptionShowBytes(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetPredictTime(true),
	)
}

func (p *barProgress) Add(n int64) {
	if p.bar != nil {
		p.bar.Add64(n)
	}
}

// finish clears the bar; it is safe on a nil *barProgress.
func (p *barProgress) finish() {
	if p != nil && p.bar != nil {
		p.bar.Finish()
		p.bar = nil
	}
}

// asProgress returns p as a bundle.Progress, or nil when there is no bar.
func (p *barProgress) asProgress() bundle.Progress {
	if p == nil {
		return nil
	}
	return p
}
